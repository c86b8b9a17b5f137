DROP FUNCTION scheduler.finish(bigint, uuid, text, jsonb, text, text, text);
DROP FUNCTION scheduler.heartbeat(bigint, uuid, interval);
DROP FUNCTION scheduler.claim_plan(text, text, text, interval, text, interval, interval[], integer);
DROP TABLE scheduler.sys_cron_executions;
