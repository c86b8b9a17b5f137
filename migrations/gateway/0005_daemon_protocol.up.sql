-- Multica's daemon and CLI protocol: personal access tokens (mul_), task tokens (mat_) minted
-- at claim, runtimes registered by a daemon (one per workspace, daemon and provider) instead
-- of runtime tokens, the hand-out of dispatched tasks to daemons (claims), the messages a
-- running agent streams, issue keys (ABC-12) and priorities, and comments written by agents.

CREATE TABLE gateway.personal_access_tokens (
    id           uuid        PRIMARY KEY,
    user_id      uuid        NOT NULL REFERENCES gateway.users (id) ON DELETE CASCADE,
    name         text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    token_hash   text        NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    token_prefix text        NOT NULL,
    expires_at   timestamptz,
    last_used_at timestamptz,
    revoked_at   timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE gateway.personal_access_tokens IS
    'Personal access tokens (mul_ + 40 hex): the long-lived credential of the multica CLI and daemon. Only their SHA-256 is stored.';
COMMENT ON COLUMN gateway.personal_access_tokens.id IS 'Token id (UUIDv7), what DELETE /api/tokens/{id} names.';
COMMENT ON COLUMN gateway.personal_access_tokens.user_id IS 'The user the token acts as.';
COMMENT ON COLUMN gateway.personal_access_tokens.name IS 'Label given at creation ("CLI (laptop)").';
COMMENT ON COLUMN gateway.personal_access_tokens.token_hash IS 'SHA-256 (hex) of the token; the token itself is shown once, at creation.';
COMMENT ON COLUMN gateway.personal_access_tokens.token_prefix IS 'The first characters of the token, to recognise it in a list.';
COMMENT ON COLUMN gateway.personal_access_tokens.expires_at IS 'Refused after this time; NULL never expires.';
COMMENT ON COLUMN gateway.personal_access_tokens.last_used_at IS 'Last authenticated request (written at most once a minute).';
COMMENT ON COLUMN gateway.personal_access_tokens.revoked_at IS 'Set by DELETE /api/tokens/{id}: refused from then on.';
COMMENT ON COLUMN gateway.personal_access_tokens.created_at IS 'Creation time.';
CREATE INDEX personal_access_tokens_user_idx ON gateway.personal_access_tokens (user_id);

CREATE TABLE gateway.task_tokens (
    token_hash   text        PRIMARY KEY CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    task_id      uuid        NOT NULL,
    workspace_id uuid        NOT NULL,
    issue_id     uuid,
    agent_id     uuid        NOT NULL,
    user_id      uuid        NOT NULL REFERENCES gateway.users (id) ON DELETE CASCADE,
    expires_at   timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE gateway.task_tokens IS
    'Task tokens (mat_ + 40 hex) minted when a daemon claims a task, handed to the agent as MULTICA_TOKEN. Valid while the task is dispatched or running, within its workspace; deleted when the task ends.';
COMMENT ON COLUMN gateway.task_tokens.token_hash IS 'SHA-256 (hex) of the token.';
COMMENT ON COLUMN gateway.task_tokens.task_id IS 'The task the token was minted for.';
COMMENT ON COLUMN gateway.task_tokens.workspace_id IS 'The only workspace the token may act in.';
COMMENT ON COLUMN gateway.task_tokens.issue_id IS 'The task''s issue.';
COMMENT ON COLUMN gateway.task_tokens.agent_id IS 'The agent its writes are attributed to.';
COMMENT ON COLUMN gateway.task_tokens.user_id IS 'The user whose daemon claimed the task (whose membership the token borrows).';
COMMENT ON COLUMN gateway.task_tokens.expires_at IS 'Hard expiry, whatever the task does.';
COMMENT ON COLUMN gateway.task_tokens.created_at IS 'When the claim minted it.';
CREATE INDEX task_tokens_task_idx ON gateway.task_tokens (task_id);

-- Runtimes are registered by a daemon with its user's token, not with a token of their own.
DROP TABLE gateway.runtime_registration_tokens;
ALTER TABLE gateway.runtimes DROP COLUMN token_hash;
ALTER TABLE gateway.runtimes
    ADD COLUMN daemon_id   text CHECK (length(daemon_id) BETWEEN 1 AND 200),
    ADD COLUMN provider    text NOT NULL DEFAULT '' CHECK (length(provider) <= 64),
    ADD COLUMN owner_id    uuid REFERENCES gateway.users (id) ON DELETE SET NULL,
    ADD COLUMN device_name text NOT NULL DEFAULT '' CHECK (length(device_name) <= 200),
    ADD COLUMN version     text NOT NULL DEFAULT '' CHECK (length(version) <= 200),
    ADD COLUMN cli_version text NOT NULL DEFAULT '' CHECK (length(cli_version) <= 100),
    ADD COLUMN offline_at  timestamptz;
COMMENT ON COLUMN gateway.runtimes.daemon_id IS 'The registering daemon''s persistent id (daemon.id); with the workspace and provider it names the runtime.';
COMMENT ON COLUMN gateway.runtimes.provider IS 'The agent CLI the runtime runs (claude, codex, ...): echoed to the daemon, which picks the backend by it.';
COMMENT ON COLUMN gateway.runtimes.owner_id IS 'The user whose token registered the runtime.';
COMMENT ON COLUMN gateway.runtimes.device_name IS 'Host name the daemon reported.';
COMMENT ON COLUMN gateway.runtimes.version IS 'Version of the agent CLI the daemon found.';
COMMENT ON COLUMN gateway.runtimes.cli_version IS 'Version of the multica CLI running the daemon.';
COMMENT ON COLUMN gateway.runtimes.offline_at IS 'Set by deregister (the daemon stopped); cleared by the next registration or heartbeat.';
CREATE UNIQUE INDEX runtimes_daemon_idx ON gateway.runtimes (workspace_id, daemon_id, provider)
    WHERE daemon_id IS NOT NULL;

-- Workspaces get a slug and the prefix of their issue keys.
ALTER TABLE gateway.workspaces
    ADD COLUMN slug          text,
    ADD COLUMN issue_prefix  text NOT NULL DEFAULT 'ISS' CHECK (issue_prefix ~ '^[A-Z][A-Z0-9]{0,9}$'),
    ADD COLUMN issue_counter integer NOT NULL DEFAULT 0 CHECK (issue_counter >= 0);
UPDATE gateway.workspaces
   SET slug = coalesce(nullif(trim(BOTH '-' FROM lower(regexp_replace(name, '[^A-Za-z0-9]+', '-', 'g'))), ''), 'workspace')
              || '-' || substr(replace(id::text, '-', ''), 25, 8);
-- Rows written without one (operators' SQL, old tools) still get a unique slug.
ALTER TABLE gateway.workspaces ALTER COLUMN slug SET NOT NULL,
    ALTER COLUMN slug SET DEFAULT 'workspace-' || substr(md5(random()::text || clock_timestamp()::text), 1, 12),
    ADD CONSTRAINT workspaces_slug_check CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,79}$'),
    ADD CONSTRAINT workspaces_slug_key UNIQUE (slug);
COMMENT ON COLUMN gateway.workspaces.slug IS 'URL name (multica workspace switch <slug>), unique.';
COMMENT ON COLUMN gateway.workspaces.issue_prefix IS 'Prefix of the workspace''s issue keys (ABC in ABC-12).';
COMMENT ON COLUMN gateway.workspaces.issue_counter IS 'Number of the newest issue; the next one gets this plus one.';

ALTER TABLE gateway.issues
    ADD COLUMN number           integer,
    ADD COLUMN priority         text NOT NULL DEFAULT 'none'
                                CHECK (priority IN ('urgent', 'high', 'medium', 'low', 'none')),
    ADD COLUMN creator_type     text NOT NULL DEFAULT 'member' CHECK (creator_type IN ('member', 'agent')),
    ADD COLUMN creator_agent_id uuid;
ALTER TABLE gateway.issues DROP CONSTRAINT issues_status_check,
    ADD CONSTRAINT issues_status_check
        CHECK (status IN ('backlog', 'todo', 'in_progress', 'in_review', 'done', 'blocked', 'cancelled'));
UPDATE gateway.issues i SET number = n.number
  FROM (SELECT id, row_number() OVER (PARTITION BY workspace_id ORDER BY created_at, id) AS number
          FROM gateway.issues) n
 WHERE n.id = i.id;
UPDATE gateway.workspaces w SET issue_counter = m.top
  FROM (SELECT workspace_id, max(number) AS top FROM gateway.issues GROUP BY workspace_id) m
 WHERE m.workspace_id = w.id;
ALTER TABLE gateway.issues ALTER COLUMN number SET NOT NULL,
    ADD CONSTRAINT issues_number_check CHECK (number >= 1),
    ADD CONSTRAINT issues_workspace_number_key UNIQUE (workspace_id, number);
COMMENT ON COLUMN gateway.issues.number IS 'Number within the workspace: the issue key is the workspace''s issue_prefix, a dash and this.';
COMMENT ON COLUMN gateway.issues.priority IS 'urgent, high, medium, low or none.';
COMMENT ON COLUMN gateway.issues.creator_type IS 'member, or agent when an agent run created it with its task token.';
COMMENT ON COLUMN gateway.issues.creator_agent_id IS 'The creating agent (creator_type agent); created_by is then the user whose daemon ran it.';

-- Agents comment too: the author is a member (a user) or an agent, so no foreign key to users.
ALTER TABLE gateway.comments DROP CONSTRAINT comments_author_id_fkey,
    ADD COLUMN author_type    text NOT NULL DEFAULT 'member' CHECK (author_type IN ('member', 'agent')),
    ADD COLUMN parent_id      uuid REFERENCES gateway.comments (id) ON DELETE CASCADE,
    ADD COLUMN source_task_id uuid;
COMMENT ON COLUMN gateway.comments.author_id IS 'Author: a user (author_type member) or an agent (author_type agent).';
COMMENT ON COLUMN gateway.comments.author_type IS 'member or agent.';
COMMENT ON COLUMN gateway.comments.parent_id IS 'The comment this one replies to, if any.';
COMMENT ON COLUMN gateway.comments.source_task_id IS 'The task whose agent wrote it (task token), if any.';

ALTER TABLE gateway.agents
    ADD COLUMN description  text NOT NULL DEFAULT '' CHECK (length(description) <= 10000),
    ADD COLUMN instructions text NOT NULL DEFAULT '' CHECK (length(instructions) <= 100000);
COMMENT ON COLUMN gateway.agents.description IS 'What the agent is for.';
COMMENT ON COLUMN gateway.agents.instructions IS 'Standing instructions handed to the agent CLI with every task (agent.instructions of a claim).';

-- The hand-out of a dispatched task to a daemon, and what the daemon reported about it.
ALTER TABLE gateway.tasks
    ADD COLUMN claimed_at  timestamptz,
    ADD COLUMN claim_until timestamptz,
    ADD COLUMN claimed_by  text,
    ADD COLUMN session_id  text,
    ADD COLUMN work_dir    text,
    ADD COLUMN reported    text CHECK (reported IN ('completed', 'failed', 'cancel_ack')),
    ADD COLUMN reported_at timestamptz;
COMMENT ON COLUMN gateway.tasks.claimed_at IS 'When a daemon claimed the current dispatch.';
COMMENT ON COLUMN gateway.tasks.claim_until IS 'The claim''s lease: past it, a task still dispatched is offered again (a lost claim answer strands nothing). Cleared by every new dispatch.';
COMMENT ON COLUMN gateway.tasks.claimed_by IS 'daemon_id of the daemon that claimed it.';
COMMENT ON COLUMN gateway.tasks.session_id IS 'The agent''s session id (resumed by the next task of the agent on the issue).';
COMMENT ON COLUMN gateway.tasks.work_dir IS 'The daemon''s working directory for the task.';
COMMENT ON COLUMN gateway.tasks.reported IS 'The daemon''s terminal report already turned into a command (completed, failed, cancel_ack): a repeated report answers 2xx and sends nothing.';
COMMENT ON COLUMN gateway.tasks.reported_at IS 'When that report arrived.';
CREATE INDEX tasks_claimable_idx ON gateway.tasks (runtime_id, dispatched_at) WHERE status = 'dispatched';

CREATE TABLE gateway.task_messages (
    task_id    uuid        NOT NULL,
    seq        integer     NOT NULL CHECK (seq >= 0),
    type       text        NOT NULL CHECK (length(type) BETWEEN 1 AND 32),
    tool       text,
    content    text,
    input      jsonb,
    output     text,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (task_id, seq)
);
COMMENT ON TABLE gateway.task_messages IS 'What a running agent streamed (text, thinking, tool calls and results), by the daemon''s sequence number.';
COMMENT ON COLUMN gateway.task_messages.task_id IS 'Task.';
COMMENT ON COLUMN gateway.task_messages.seq IS 'The daemon''s sequence number, monotonic per task; a repeated seq is kept once.';
COMMENT ON COLUMN gateway.task_messages.type IS 'text, thinking, tool_use, tool_result, error, ...';
COMMENT ON COLUMN gateway.task_messages.tool IS 'Tool name of a tool_use or tool_result.';
COMMENT ON COLUMN gateway.task_messages.content IS 'Text of a text, thinking or error message.';
COMMENT ON COLUMN gateway.task_messages.input IS 'Input of a tool_use.';
COMMENT ON COLUMN gateway.task_messages.output IS 'Output of a tool_result (the daemon cuts it at 8 KiB).';
COMMENT ON COLUMN gateway.task_messages.created_at IS 'When it arrived.';
