-- Cost, projects and missing usage in the usage slice.
-- 1. model_prices: the price catalogue (a default for every workspace, per-workspace
--    overrides), seeded with list prices an operator changes with PUT /api/pricing.
-- 2. issue_projects: the project each issue belongs to, projected from IssueProjectChanged.
-- 3. The hourly key gains project_id (nullable, compared NULL-safely as Multica does), and
--    buckets carry cost: what daemons reported, the tokens they did not price (Multica's
--    uncosted_*), the catalogue's estimate for those, and the tokens nothing could price.
-- 4. task_attribution learns when a task completed and whether it did so without any usage.

CREATE TABLE usage.model_prices (
    workspace_id               uuid,
    provider                   text        NOT NULL CHECK (provider = lower(provider) AND provider <> ''),
    model                      text        NOT NULL CHECK (model = lower(model) AND model <> ''),
    effective_from             timestamptz NOT NULL,
    input_ticks_per_mtok       bigint      NOT NULL CHECK (input_ticks_per_mtok BETWEEN 0 AND 100000000000000),
    output_ticks_per_mtok      bigint      NOT NULL CHECK (output_ticks_per_mtok BETWEEN 0 AND 100000000000000),
    cache_read_ticks_per_mtok  bigint      NOT NULL CHECK (cache_read_ticks_per_mtok BETWEEN 0 AND 100000000000000),
    cache_write_ticks_per_mtok bigint      NOT NULL CHECK (cache_write_ticks_per_mtok BETWEEN 0 AND 100000000000000),
    updated_by                 uuid,
    updated_at                 timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT model_prices_key UNIQUE NULLS NOT DISTINCT (model, provider, workspace_id, effective_from)
);
COMMENT ON TABLE usage.model_prices IS
    'The price catalogue: rates per million tokens of each kind, in force from effective_from until the next entry of the same (workspace, provider, model). A usage row without a reported cost is priced by the entry in force at its created_at: its workspace''s override first, then the default (workspace_id NULL); an exact provider before ''*''.';
COMMENT ON COLUMN usage.model_prices.workspace_id IS 'The workspace this override is for; NULL for the default catalogue.';
COMMENT ON COLUMN usage.model_prices.provider IS 'Provider as usage rows carry it (lowercase), or * for any provider.';
COMMENT ON COLUMN usage.model_prices.model IS 'Model key: lowercase, without a provider prefix, date snapshot or [..] tag (usage.model_key).';
COMMENT ON COLUMN usage.model_prices.effective_from IS 'From when these rates apply (to usage created at or after it).';
COMMENT ON COLUMN usage.model_prices.input_ticks_per_mtok IS 'Ticks (1 USD = 10^10) per million input tokens.';
COMMENT ON COLUMN usage.model_prices.output_ticks_per_mtok IS 'Ticks per million output tokens.';
COMMENT ON COLUMN usage.model_prices.cache_read_ticks_per_mtok IS 'Ticks per million cache-read tokens.';
COMMENT ON COLUMN usage.model_prices.cache_write_ticks_per_mtok IS 'Ticks per million cache-write tokens.';
COMMENT ON COLUMN usage.model_prices.updated_by IS 'User who last set the entry (NULL for the shipped default).';
COMMENT ON COLUMN usage.model_prices.updated_at IS 'When the entry was last set.';

-- The default catalogue: list prices per million tokens (USD, prompts up to 200k tokens) of
-- the main Anthropic, OpenAI and Google models, for any provider name a daemon reports them
-- under. Cache writes are priced as Anthropic's 5-minute writes; OpenAI and Google bill no
-- separate write, so their write rate is the input rate. A default, in force since 2000 so
-- that every row is priced: operators change it with PUT /api/pricing.
INSERT INTO usage.model_prices (workspace_id, provider, model, effective_from,
                                input_ticks_per_mtok, output_ticks_per_mtok,
                                cache_read_ticks_per_mtok, cache_write_ticks_per_mtok)
SELECT NULL, '*', m, '2000-01-01T00:00:00Z',
       round(i * 1e10), round(o * 1e10), round(cr * 1e10), round(cw * 1e10)
  FROM (VALUES
        ('claude-opus-4-6',       5.00, 25.00, 0.50,  6.25),
        ('claude-opus-4-5',       5.00, 25.00, 0.50,  6.25),
        ('claude-opus-4-1',      15.00, 75.00, 1.50, 18.75),
        ('claude-opus-4',        15.00, 75.00, 1.50, 18.75),
        ('claude-sonnet-4-6',     3.00, 15.00, 0.30,  3.75),
        ('claude-sonnet-4-5',     3.00, 15.00, 0.30,  3.75),
        ('claude-sonnet-4',       3.00, 15.00, 0.30,  3.75),
        ('claude-3-7-sonnet',     3.00, 15.00, 0.30,  3.75),
        ('claude-haiku-4-5',      1.00,  5.00, 0.10,  1.25),
        ('claude-3-5-haiku',      0.80,  4.00, 0.08,  1.00),
        ('gpt-5',                 1.25, 10.00, 0.125, 1.25),
        ('gpt-5-codex',           1.25, 10.00, 0.125, 1.25),
        ('gpt-5-mini',            0.25,  2.00, 0.025, 0.25),
        ('gpt-5-nano',            0.05,  0.40, 0.005, 0.05),
        ('gpt-4.1',               2.00,  8.00, 0.50,  2.00),
        ('gpt-4.1-mini',          0.40,  1.60, 0.10,  0.40),
        ('gpt-4.1-nano',          0.10,  0.40, 0.025, 0.10),
        ('gpt-4o',                2.50, 10.00, 1.25,  2.50),
        ('gpt-4o-mini',           0.15,  0.60, 0.075, 0.15),
        ('o3',                    2.00,  8.00, 0.50,  2.00),
        ('o3-mini',               1.10,  4.40, 0.55,  1.10),
        ('o4-mini',               1.10,  4.40, 0.275, 1.10),
        ('gemini-2.5-pro',        1.25, 10.00, 0.125, 1.25),
        ('gemini-2.5-flash',      0.30,  2.50, 0.03,  0.30),
        ('gemini-2.5-flash-lite', 0.10,  0.40, 0.01,  0.10),
        ('gemini-2.0-flash',      0.10,  0.40, 0.025, 0.10)
       ) AS p(m, i, o, cr, cw);

CREATE TABLE usage.issue_projects (
    issue_id     uuid        PRIMARY KEY,
    workspace_id uuid        NOT NULL,
    project_id   uuid,
    version      bigint      NOT NULL CHECK (version >= 1),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE usage.issue_projects IS
    'The project of each issue that has (or had) one, projected from IssueProjectChanged by per-issue version. Usage of a task goes to the project of its issue; an issue without a row has none.';
COMMENT ON COLUMN usage.issue_projects.issue_id IS 'The issue.';
COMMENT ON COLUMN usage.issue_projects.workspace_id IS 'Workspace of the issue.';
COMMENT ON COLUMN usage.issue_projects.project_id IS 'Its project; NULL when it has none (any more).';
COMMENT ON COLUMN usage.issue_projects.version IS 'Version of the newest change applied; older events change nothing.';
COMMENT ON COLUMN usage.issue_projects.updated_at IS 'Database time of the last change.';

-- The hourly key with a nullable project (UNIQUE NULLS NOT DISTINCT, as Multica keys it; the
-- project comes last so the six columns that are never NULL find a bucket by equality), and
-- the cost of each bucket. No bucket held a reported cost before, so its tokens are all
-- uncosted; every bucket is queued, so the next run adds the catalogue's estimate.
ALTER TABLE usage.task_usage_hourly
    DROP CONSTRAINT task_usage_hourly_pkey,
    ADD COLUMN project_id uuid,
    ADD COLUMN cost_usd_ticks bigint NOT NULL DEFAULT 0,
    ADD COLUMN uncosted_input_tokens bigint NOT NULL DEFAULT 0,
    ADD COLUMN uncosted_output_tokens bigint NOT NULL DEFAULT 0,
    ADD COLUMN uncosted_cache_read_tokens bigint NOT NULL DEFAULT 0,
    ADD COLUMN uncosted_cache_write_tokens bigint NOT NULL DEFAULT 0,
    ADD COLUMN estimated_cost_usd_ticks bigint NOT NULL DEFAULT 0,
    ADD COLUMN unpriced_tokens bigint NOT NULL DEFAULT 0;
UPDATE usage.task_usage_hourly
   SET uncosted_input_tokens = input_tokens, uncosted_output_tokens = output_tokens,
       uncosted_cache_read_tokens = cache_read_tokens, uncosted_cache_write_tokens = cache_write_tokens;
ALTER TABLE usage.task_usage_hourly
    ADD CONSTRAINT task_usage_hourly_key UNIQUE NULLS NOT DISTINCT
        (workspace_id, runtime_id, agent_id, provider, model, bucket_hour, project_id);
COMMENT ON COLUMN usage.task_usage_hourly.project_id IS 'Project of the tasks'' issue; NULL for usage without a project (part of the key, compared NULL-safely).';
COMMENT ON COLUMN usage.task_usage_hourly.cost_usd_ticks IS 'Sum of the costs daemons reported for the rows that had one (ticks; 1 USD = 10^10), as Multica''s cost_usd_ticks.';
COMMENT ON COLUMN usage.task_usage_hourly.uncosted_input_tokens IS 'Input tokens of rows without a reported cost (Multica''s uncosted_input_tokens).';
COMMENT ON COLUMN usage.task_usage_hourly.uncosted_output_tokens IS 'Output tokens of rows without a reported cost.';
COMMENT ON COLUMN usage.task_usage_hourly.uncosted_cache_read_tokens IS 'Cache-read tokens of rows without a reported cost.';
COMMENT ON COLUMN usage.task_usage_hourly.uncosted_cache_write_tokens IS 'Cache-write tokens of rows without a reported cost.';
COMMENT ON COLUMN usage.task_usage_hourly.estimated_cost_usd_ticks IS 'The price catalogue''s cost of the uncosted tokens, at the rates in force when each row was created (ticks).';
COMMENT ON COLUMN usage.task_usage_hourly.unpriced_tokens IS 'Tokens of rows with neither a reported cost nor a catalogue price (counted in no cost).';

ALTER TABLE usage.task_usage_dirty
    DROP CONSTRAINT task_usage_dirty_pkey,
    ADD COLUMN project_id uuid,
    ADD CONSTRAINT task_usage_dirty_key UNIQUE NULLS NOT DISTINCT
        (workspace_id, runtime_id, agent_id, provider, model, bucket_hour, project_id);
COMMENT ON COLUMN usage.task_usage_dirty.project_id IS 'Bucket key: project (NULL for none).';
INSERT INTO usage.task_usage_dirty AS d
       (workspace_id, runtime_id, agent_id, provider, model, bucket_hour, project_id, enqueued_at)
SELECT workspace_id, runtime_id, agent_id, provider, model, bucket_hour, project_id, clock_timestamp()
  FROM usage.task_usage_hourly
ON CONFLICT ON CONSTRAINT task_usage_dirty_key
DO UPDATE SET enqueued_at = GREATEST(d.enqueued_at, EXCLUDED.enqueued_at);

ALTER TABLE usage.rollup_quarantine
    DROP CONSTRAINT rollup_quarantine_pkey,
    ADD COLUMN project_id uuid,
    ADD COLUMN cost_usd_ticks numeric NOT NULL DEFAULT 0,
    ADD COLUMN estimated_cost_usd_ticks numeric NOT NULL DEFAULT 0,
    ADD CONSTRAINT rollup_quarantine_key UNIQUE NULLS NOT DISTINCT
        (workspace_id, runtime_id, agent_id, provider, model, bucket_hour, project_id);
COMMENT ON COLUMN usage.rollup_quarantine.project_id IS 'Bucket key: project (NULL for none).';
COMMENT ON COLUMN usage.rollup_quarantine.cost_usd_ticks IS 'Sum of reported costs.';
COMMENT ON COLUMN usage.rollup_quarantine.estimated_cost_usd_ticks IS 'Sum of the catalogue''s estimates.';

ALTER TABLE usage.hourly_outbox
    ADD COLUMN project_id uuid,
    ADD COLUMN cost_usd_ticks bigint NOT NULL DEFAULT 0,
    ADD COLUMN uncosted_input_tokens bigint NOT NULL DEFAULT 0,
    ADD COLUMN uncosted_output_tokens bigint NOT NULL DEFAULT 0,
    ADD COLUMN uncosted_cache_read_tokens bigint NOT NULL DEFAULT 0,
    ADD COLUMN uncosted_cache_write_tokens bigint NOT NULL DEFAULT 0,
    ADD COLUMN estimated_cost_usd_ticks bigint NOT NULL DEFAULT 0,
    ADD COLUMN unpriced_tokens bigint NOT NULL DEFAULT 0;
COMMENT ON COLUMN usage.hourly_outbox.project_id IS 'Bucket key: project (NULL for none).';
COMMENT ON COLUMN usage.hourly_outbox.cost_usd_ticks IS 'New value (0 when deleted).';
COMMENT ON COLUMN usage.hourly_outbox.uncosted_input_tokens IS 'New value (0 when deleted).';
COMMENT ON COLUMN usage.hourly_outbox.uncosted_output_tokens IS 'New value (0 when deleted).';
COMMENT ON COLUMN usage.hourly_outbox.uncosted_cache_read_tokens IS 'New value (0 when deleted).';
COMMENT ON COLUMN usage.hourly_outbox.uncosted_cache_write_tokens IS 'New value (0 when deleted).';
COMMENT ON COLUMN usage.hourly_outbox.estimated_cost_usd_ticks IS 'New value (0 when deleted).';
COMMENT ON COLUMN usage.hourly_outbox.unpriced_tokens IS 'New value (0 when deleted).';

ALTER TABLE usage.task_attribution
    ADD COLUMN completed_at timestamptz,
    ADD COLUMN usage_missing boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN usage.task_attribution.completed_at IS 'When a TaskCompleted event for the task was applied; NULL while it has not completed.';
COMMENT ON COLUMN usage.task_attribution.usage_missing IS 'The task completed and no usage report for it has arrived (cleared when one does, or when the task is deleted).';

GRANT SELECT ON usage.model_prices, usage.issue_projects TO multica_gateway;
