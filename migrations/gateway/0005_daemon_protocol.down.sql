DROP TABLE gateway.task_messages;
DROP INDEX gateway.tasks_claimable_idx;
ALTER TABLE gateway.tasks DROP COLUMN claimed_at, DROP COLUMN claim_until, DROP COLUMN claimed_by,
    DROP COLUMN session_id, DROP COLUMN work_dir, DROP COLUMN reported, DROP COLUMN reported_at;
ALTER TABLE gateway.agents DROP COLUMN description, DROP COLUMN instructions;
DELETE FROM gateway.comments WHERE author_type = 'agent';
ALTER TABLE gateway.comments DROP COLUMN author_type, DROP COLUMN parent_id,
    DROP COLUMN source_task_id,
    ADD CONSTRAINT comments_author_id_fkey FOREIGN KEY (author_id) REFERENCES gateway.users (id);
UPDATE gateway.issues SET status = 'todo' WHERE status = 'blocked';
ALTER TABLE gateway.issues DROP CONSTRAINT issues_status_check,
    ADD CONSTRAINT issues_status_check
        CHECK (status IN ('backlog', 'todo', 'in_progress', 'in_review', 'done', 'cancelled'));
ALTER TABLE gateway.issues DROP COLUMN number, DROP COLUMN priority, DROP COLUMN creator_type,
    DROP COLUMN creator_agent_id;
ALTER TABLE gateway.workspaces DROP COLUMN slug, DROP COLUMN issue_prefix,
    DROP COLUMN issue_counter;
DROP INDEX gateway.runtimes_daemon_idx;
ALTER TABLE gateway.runtimes DROP COLUMN daemon_id, DROP COLUMN provider, DROP COLUMN owner_id,
    DROP COLUMN device_name, DROP COLUMN version, DROP COLUMN cli_version, DROP COLUMN offline_at;
-- Runtimes registered by daemons had no token of their own: they get one nobody knows.
ALTER TABLE gateway.runtimes ADD COLUMN token_hash text;
UPDATE gateway.runtimes
   SET token_hash = encode(sha256(convert_to(id::text || clock_timestamp()::text || random()::text, 'UTF8')), 'hex');
ALTER TABLE gateway.runtimes ALTER COLUMN token_hash SET NOT NULL,
    ADD CONSTRAINT runtimes_token_hash_key UNIQUE (token_hash),
    ADD CONSTRAINT runtimes_token_hash_check CHECK (token_hash ~ '^[0-9a-f]{64}$');
COMMENT ON COLUMN gateway.runtimes.token_hash IS 'SHA-256 (hex) of the runtime token; the token itself is never stored.';
CREATE TABLE gateway.runtime_registration_tokens (
    token_hash   text        PRIMARY KEY,
    workspace_id uuid        NOT NULL REFERENCES gateway.workspaces (id) ON DELETE CASCADE,
    created_by   uuid        NOT NULL REFERENCES gateway.users (id),
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE gateway.runtime_registration_tokens IS 'One-time tokens a daemon exchanges for a runtime token.';
COMMENT ON COLUMN gateway.runtime_registration_tokens.token_hash IS 'SHA-256 (hex) of the token.';
COMMENT ON COLUMN gateway.runtime_registration_tokens.workspace_id IS 'Workspace the runtime will serve.';
COMMENT ON COLUMN gateway.runtime_registration_tokens.created_by IS 'Member who made the token.';
COMMENT ON COLUMN gateway.runtime_registration_tokens.expires_at IS 'Refused after this time.';
COMMENT ON COLUMN gateway.runtime_registration_tokens.used_at IS 'When it was exchanged (it cannot be used twice).';
COMMENT ON COLUMN gateway.runtime_registration_tokens.created_at IS 'Creation time.';
DROP TABLE gateway.task_tokens;
DROP TABLE gateway.personal_access_tokens;
DROP FUNCTION IF EXISTS gateway.claim_tasks(uuid, text, uuid[], interval, text[], interval);
DROP FUNCTION IF EXISTS gateway.record_task_messages(uuid, jsonb);
