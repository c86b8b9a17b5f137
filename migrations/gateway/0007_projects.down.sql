DROP FUNCTION IF EXISTS gateway.viewing_tz(text, uuid);
DROP FUNCTION IF EXISTS gateway.known_tz(text);
ALTER TABLE gateway.issues DROP COLUMN project_version, DROP COLUMN project_id;
DROP FUNCTION IF EXISTS gateway.project_json(gateway.projects);
DROP TABLE gateway.projects;
