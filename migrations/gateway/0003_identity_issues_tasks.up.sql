-- mc:replaces-checksum e64ba88bba5bd719
-- (This file once held the slice's SQL functions too; they moved to functions/, one file
-- each, re-applied after the numbered migrations. The checksum above is the old file's,
-- so that a database that applied it records the new text instead of warning.)
-- Identities, membership, agents, runtime registration, issues, comments, the task read model
-- projected from multica.task.events, and the gateway's event outbox.

CREATE TABLE gateway.users (
    id         uuid        PRIMARY KEY,
    email      text        NOT NULL UNIQUE CHECK (email = lower(email) AND email LIKE '%_@_%'),
    name       text        NOT NULL DEFAULT '',
    time_zone  text        NOT NULL DEFAULT 'UTC',
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE gateway.users IS 'People who log in by email code.';
COMMENT ON COLUMN gateway.users.id IS 'User id (UUIDv7).';
COMMENT ON COLUMN gateway.users.email IS 'Login email, lowercase.';
COMMENT ON COLUMN gateway.users.name IS 'Display name.';
COMMENT ON COLUMN gateway.users.time_zone IS 'IANA time zone used when a usage read gives no ?tz.';
COMMENT ON COLUMN gateway.users.created_at IS 'Sign-up time.';

CREATE TABLE gateway.verification_codes (
    email          text        PRIMARY KEY,
    code_hash      text        NOT NULL,
    expires_at     timestamptz NOT NULL,
    failed_attempts integer    NOT NULL DEFAULT 0,
    window_start   timestamptz NOT NULL DEFAULT now(),
    sends_in_window integer    NOT NULL DEFAULT 1,
    created_at     timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE gateway.verification_codes IS 'The current login code of an email (hashed), its expiry, failed attempts and send rate.';
COMMENT ON COLUMN gateway.verification_codes.email IS 'Email the code was sent to.';
COMMENT ON COLUMN gateway.verification_codes.code_hash IS 'HMAC-SHA-256 of the code keyed by JWT_SECRET; the code itself is never stored.';
COMMENT ON COLUMN gateway.verification_codes.expires_at IS 'The code is refused after this time.';
COMMENT ON COLUMN gateway.verification_codes.failed_attempts IS 'Wrong codes tried; at the cap the code is dead.';
COMMENT ON COLUMN gateway.verification_codes.window_start IS 'Start of the current rate-limit window for sends.';
COMMENT ON COLUMN gateway.verification_codes.sends_in_window IS 'Codes sent in the current window.';
COMMENT ON COLUMN gateway.verification_codes.created_at IS 'When the current code was made.';

ALTER TABLE gateway.workspaces ADD COLUMN created_by uuid REFERENCES gateway.users (id);
COMMENT ON COLUMN gateway.workspaces.created_by IS 'User who created the workspace.';

CREATE TABLE gateway.members (
    workspace_id uuid        NOT NULL REFERENCES gateway.workspaces (id) ON DELETE CASCADE,
    user_id      uuid        NOT NULL REFERENCES gateway.users (id) ON DELETE CASCADE,
    role         text        NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, user_id)
);
COMMENT ON TABLE gateway.members IS 'Who belongs to a workspace, and with which role.';
COMMENT ON COLUMN gateway.members.workspace_id IS 'Workspace.';
COMMENT ON COLUMN gateway.members.user_id IS 'Member.';
COMMENT ON COLUMN gateway.members.role IS 'owner, admin or member.';
COMMENT ON COLUMN gateway.members.created_at IS 'When the user joined.';
CREATE INDEX members_user_idx ON gateway.members (user_id);

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

CREATE TABLE gateway.agents (
    id                   uuid        PRIMARY KEY,
    workspace_id         uuid        NOT NULL REFERENCES gateway.workspaces (id) ON DELETE CASCADE,
    name                 text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    provider             text        NOT NULL CHECK (length(provider) BETWEEN 1 AND 64),
    runtime_id           uuid        NOT NULL REFERENCES gateway.runtimes (id),
    max_concurrent_tasks integer     NOT NULL DEFAULT 1 CHECK (max_concurrent_tasks BETWEEN 1 AND 1000),
    created_at           timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE gateway.agents IS 'Agents: teammates that run on a runtime with an agent CLI.';
COMMENT ON COLUMN gateway.agents.id IS 'Agent id (UUIDv7).';
COMMENT ON COLUMN gateway.agents.workspace_id IS 'Workspace the agent belongs to (the workspace of its tasks'' usage).';
COMMENT ON COLUMN gateway.agents.name IS 'Display name.';
COMMENT ON COLUMN gateway.agents.provider IS 'Agent CLI (claude, codex, ...).';
COMMENT ON COLUMN gateway.agents.runtime_id IS 'Runtime the agent''s tasks run on.';
COMMENT ON COLUMN gateway.agents.max_concurrent_tasks IS 'Most tasks the agent runs at once.';
COMMENT ON COLUMN gateway.agents.created_at IS 'Creation time.';
CREATE INDEX agents_workspace_idx ON gateway.agents (workspace_id);

CREATE TABLE gateway.issues (
    id            uuid        PRIMARY KEY,
    workspace_id  uuid        NOT NULL REFERENCES gateway.workspaces (id) ON DELETE CASCADE,
    title         text        NOT NULL CHECK (length(title) BETWEEN 1 AND 500),
    description   text        NOT NULL DEFAULT '' CHECK (length(description) <= 100000),
    status        text        NOT NULL DEFAULT 'todo'
                              CHECK (status IN ('backlog', 'todo', 'in_progress', 'in_review', 'done', 'cancelled')),
    assignee_type text        CHECK (assignee_type IN ('agent', 'member')),
    assignee_id   uuid,
    created_by    uuid        NOT NULL REFERENCES gateway.users (id),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((assignee_type IS NULL) = (assignee_id IS NULL))
);
COMMENT ON TABLE gateway.issues IS 'Work items; assigning one to an agent starts a task.';
COMMENT ON COLUMN gateway.issues.id IS 'Issue id (UUIDv7, so ids sort by creation).';
COMMENT ON COLUMN gateway.issues.workspace_id IS 'Workspace.';
COMMENT ON COLUMN gateway.issues.title IS 'Title.';
COMMENT ON COLUMN gateway.issues.description IS 'Description (markdown).';
COMMENT ON COLUMN gateway.issues.status IS 'backlog, todo, in_progress, in_review, done or cancelled.';
COMMENT ON COLUMN gateway.issues.assignee_type IS 'agent or member, NULL when unassigned.';
COMMENT ON COLUMN gateway.issues.assignee_id IS 'The assigned agent or member.';
COMMENT ON COLUMN gateway.issues.created_by IS 'Author.';
COMMENT ON COLUMN gateway.issues.created_at IS 'Creation time.';
COMMENT ON COLUMN gateway.issues.updated_at IS 'Last change.';
CREATE INDEX issues_workspace_idx ON gateway.issues (workspace_id, id DESC);

CREATE TABLE gateway.comments (
    id         uuid        PRIMARY KEY,
    issue_id   uuid        NOT NULL REFERENCES gateway.issues (id) ON DELETE CASCADE,
    author_id  uuid        NOT NULL REFERENCES gateway.users (id),
    body       text        NOT NULL CHECK (length(body) BETWEEN 1 AND 100000),
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE gateway.comments IS 'Comments on issues.';
COMMENT ON COLUMN gateway.comments.id IS 'Comment id (UUIDv7).';
COMMENT ON COLUMN gateway.comments.issue_id IS 'Issue.';
COMMENT ON COLUMN gateway.comments.author_id IS 'Author.';
COMMENT ON COLUMN gateway.comments.body IS 'Text (markdown).';
COMMENT ON COLUMN gateway.comments.created_at IS 'Creation time.';
CREATE INDEX comments_issue_idx ON gateway.comments (issue_id, id);

CREATE TABLE gateway.tasks (
    task_id        uuid        PRIMARY KEY,
    workspace_id   uuid        NOT NULL,
    issue_id       uuid,
    agent_id       uuid        NOT NULL,
    runtime_id     uuid        NOT NULL,
    status         text        NOT NULL,
    version        bigint      NOT NULL DEFAULT 0,
    attempt        integer     NOT NULL DEFAULT 0,
    lease_until    timestamptz,
    result         text,
    failure_reason text,
    requested_at   timestamptz NOT NULL DEFAULT now(),
    dispatched_at  timestamptz,
    started_at     timestamptz,
    completed_at   timestamptz,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE gateway.tasks IS
    'Read model of tasks: written as requested when an issue is assigned, then projected from multica.task.events by version.';
COMMENT ON COLUMN gateway.tasks.task_id IS 'Task id (minted by the gateway, UUIDv7).';
COMMENT ON COLUMN gateway.tasks.workspace_id IS 'Workspace of the agent.';
COMMENT ON COLUMN gateway.tasks.issue_id IS 'Issue the task works on.';
COMMENT ON COLUMN gateway.tasks.agent_id IS 'Agent.';
COMMENT ON COLUMN gateway.tasks.runtime_id IS 'Runtime holding (or to hold) the task.';
COMMENT ON COLUMN gateway.tasks.status IS 'requested, queued, dispatched, running, completed, failed, cancelled or deleted.';
COMMENT ON COLUMN gateway.tasks.version IS 'Version of the newest task event applied (0 before the first).';
COMMENT ON COLUMN gateway.tasks.attempt IS 'Dispatch attempt.';
COMMENT ON COLUMN gateway.tasks.lease_until IS 'The runtime must start the task before this time.';
COMMENT ON COLUMN gateway.tasks.result IS 'Result summary of a completed task.';
COMMENT ON COLUMN gateway.tasks.failure_reason IS 'Why it failed or was cancelled.';
COMMENT ON COLUMN gateway.tasks.requested_at IS 'When the assignment was made.';
COMMENT ON COLUMN gateway.tasks.dispatched_at IS 'Last dispatch.';
COMMENT ON COLUMN gateway.tasks.started_at IS 'Start reported by the runtime.';
COMMENT ON COLUMN gateway.tasks.completed_at IS 'Terminal status time.';
COMMENT ON COLUMN gateway.tasks.updated_at IS 'Last change.';
CREATE INDEX tasks_issue_idx ON gateway.tasks (issue_id);
CREATE INDEX tasks_runtime_idx ON gateway.tasks (runtime_id, status);

CREATE TABLE gateway.task_event_log (
    seq          bigserial   PRIMARY KEY,
    task_id      uuid        NOT NULL,
    version      bigint      NOT NULL,
    workspace_id uuid        NOT NULL,
    issue_id     uuid,
    runtime_id   uuid        NOT NULL,
    old_runtime_id uuid,
    type         text        NOT NULL,
    event        jsonb       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (task_id, version)
);
COMMENT ON TABLE gateway.task_event_log IS
    'Task events in the order this gateway learned them (seq): what WebSocket clients receive and replay from after a reconnect.';
COMMENT ON COLUMN gateway.task_event_log.seq IS 'Delivery order; clients resume with the last seq they saw.';
COMMENT ON COLUMN gateway.task_event_log.task_id IS 'Task.';
COMMENT ON COLUMN gateway.task_event_log.version IS 'The task''s version carried by the event.';
COMMENT ON COLUMN gateway.task_event_log.workspace_id IS 'Workspace (for subscriptions).';
COMMENT ON COLUMN gateway.task_event_log.issue_id IS 'Issue (for subscriptions).';
COMMENT ON COLUMN gateway.task_event_log.runtime_id IS 'Runtime (a runtime''s connection receives its tasks).';
COMMENT ON COLUMN gateway.task_event_log.old_runtime_id IS 'Previous runtime of a reassignment.';
COMMENT ON COLUMN gateway.task_event_log.type IS 'CloudEvents type.';
COMMENT ON COLUMN gateway.task_event_log.event IS 'The whole CloudEvent.';
COMMENT ON COLUMN gateway.task_event_log.created_at IS 'When it was logged (pruned after TASK_EVENT_LOG_RETENTION).';
CREATE INDEX task_event_log_workspace_idx ON gateway.task_event_log (workspace_id, seq);

CREATE TABLE gateway.task_progress (
    task_id    uuid        NOT NULL,
    seq        bigint      NOT NULL,
    text       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (task_id, seq)
);
COMMENT ON TABLE gateway.task_progress IS 'Progress text chunks of tasks, by the runtime''s sequence number.';
COMMENT ON COLUMN gateway.task_progress.task_id IS 'Task.';
COMMENT ON COLUMN gateway.task_progress.seq IS 'The runtime''s sequence number of the chunk.';
COMMENT ON COLUMN gateway.task_progress.text IS 'Text.';
COMMENT ON COLUMN gateway.task_progress.created_at IS 'When it arrived.';

CREATE TABLE gateway.outbox (
    seq        bigserial   PRIMARY KEY,
    topic      text        NOT NULL,
    key        text        NOT NULL,
    payload    text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE gateway.outbox IS
    'Events written in the same transaction as the change they announce, then produced to Kafka and deleted by the relay.';
COMMENT ON COLUMN gateway.outbox.seq IS 'Production order.';
COMMENT ON COLUMN gateway.outbox.topic IS 'Kafka topic.';
COMMENT ON COLUMN gateway.outbox.key IS 'Kafka key.';
COMMENT ON COLUMN gateway.outbox.payload IS 'The CloudEvent (JSON).';
COMMENT ON COLUMN gateway.outbox.created_at IS 'When it was written.';