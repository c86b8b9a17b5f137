-- The agent CLI's own price of the usage, when it reports one (Multica's daemon sends it as
-- cost_usd_ticks, 1e-10 USD): stored with the tokens so cost reads can prefer it to a
-- price table. NULL when the report carried none.
ALTER TABLE usage.task_usage ADD COLUMN cost_usd_ticks bigint CHECK (cost_usd_ticks >= 0);
COMMENT ON COLUMN usage.task_usage.cost_usd_ticks IS
    'Cost the agent CLI reported for these totals, in 1e-10 USD (ticks); NULL when it reported none.';
