DROP FUNCTION IF EXISTS gateway.viewing_tz(text, uuid);
DROP FUNCTION IF EXISTS gateway.known_tz(text);
ALTER TABLE gateway.issues DROP COLUMN project_version, DROP COLUMN project_id;
DROP TABLE gateway.projects;
