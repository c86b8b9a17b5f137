-- The schema itself stays: it holds schema_migrations, which records this revert.
COMMENT ON SCHEMA gateway IS NULL;
