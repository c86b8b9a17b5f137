-- Workspaces and runtimes (daemons). A runtime authenticates with a token whose SHA-256 is
-- stored here; the token itself is shown once, at registration.

CREATE TABLE gateway.workspaces (
    id         uuid        PRIMARY KEY,
    name       text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE gateway.workspaces IS 'A team''s space: its members, agents, runtimes and issues.';
COMMENT ON COLUMN gateway.workspaces.id IS 'Workspace id (UUIDv7).';
COMMENT ON COLUMN gateway.workspaces.name IS 'Display name.';
COMMENT ON COLUMN gateway.workspaces.created_at IS 'Creation time.';

CREATE TABLE gateway.runtimes (
    id              uuid        PRIMARY KEY,
    workspace_id    uuid        NOT NULL REFERENCES gateway.workspaces (id) ON DELETE CASCADE,
    name            text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    max_concurrency integer     NOT NULL DEFAULT 1 CHECK (max_concurrency BETWEEN 1 AND 10000),
    token_hash      text        NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    last_seen_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE gateway.runtimes IS 'Runtimes (daemons on someone''s machine) that run agent tasks.';
COMMENT ON COLUMN gateway.runtimes.id IS 'Runtime id (UUIDv7).';
COMMENT ON COLUMN gateway.runtimes.workspace_id IS 'Workspace the runtime serves.';
COMMENT ON COLUMN gateway.runtimes.name IS 'Display name (usually the host name).';
COMMENT ON COLUMN gateway.runtimes.max_concurrency IS 'Most tasks the runtime runs at once.';
COMMENT ON COLUMN gateway.runtimes.token_hash IS 'SHA-256 (hex) of the runtime token; the token itself is never stored.';
COMMENT ON COLUMN gateway.runtimes.last_seen_at IS 'Last heartbeat or authenticated call.';
COMMENT ON COLUMN gateway.runtimes.created_at IS 'Registration time.';
CREATE INDEX runtimes_workspace_idx ON gateway.runtimes (workspace_id);
