REVOKE USAGE ON SCHEMA usage FROM multica_gateway, multica_scheduler;
COMMENT ON SCHEMA usage IS NULL;
