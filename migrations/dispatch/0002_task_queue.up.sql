-- The task queue, its transitions log, runtime capacity and liveness, agents, the state
-- machine's table of legal moves, and the transactional outbox of task events.

CREATE TABLE dispatch.runtimes (
    runtime_id      uuid        PRIMARY KEY,
    workspace_id    uuid        NOT NULL,
    max_concurrency integer     NOT NULL DEFAULT 1 CHECK (max_concurrency BETWEEN 1 AND 10000),
    last_seen_at    timestamptz NOT NULL,
    offline_at      timestamptz,
    last_event_at   timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE dispatch.runtimes IS
    'Runtimes (daemons) as multica.runtime.events describe them: capacity and liveness. A runtime is online while offline_at is NULL and last_seen_at is within RUNTIME_ONLINE_WINDOW.';
COMMENT ON COLUMN dispatch.runtimes.runtime_id IS 'Runtime id (minted by the gateway).';
COMMENT ON COLUMN dispatch.runtimes.workspace_id IS 'Workspace the runtime serves.';
COMMENT ON COLUMN dispatch.runtimes.max_concurrency IS 'Most tasks the runtime holds at once (dispatched plus running).';
COMMENT ON COLUMN dispatch.runtimes.last_seen_at IS 'Time of the newest registration or heartbeat (the event''s time, never later than the database clock).';
COMMENT ON COLUMN dispatch.runtimes.offline_at IS 'Set when the runtime went offline (RuntimeOffline, or silent past the online window); cleared by the next registration or heartbeat.';
COMMENT ON COLUMN dispatch.runtimes.last_event_at IS 'Time of the newest runtime event applied; older events (replays) change nothing.';
COMMENT ON COLUMN dispatch.runtimes.created_at IS 'When the dispatcher first heard of the runtime.';
COMMENT ON COLUMN dispatch.runtimes.updated_at IS 'Database time of the last change.';
CREATE INDEX runtimes_online_idx ON dispatch.runtimes (last_seen_at) WHERE offline_at IS NULL;

CREATE TABLE dispatch.agents (
    agent_id             uuid        PRIMARY KEY,
    workspace_id         uuid        NOT NULL,
    runtime_id           uuid        NOT NULL,
    max_concurrent_tasks integer     NOT NULL DEFAULT 1 CHECK (max_concurrent_tasks BETWEEN 1 AND 1000),
    described_at         timestamptz NOT NULL,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE dispatch.agents IS
    'Agents as TaskRequested and AgentRuntimeChanged describe them: the runtime their tasks run on and how many they may run at once.';
COMMENT ON COLUMN dispatch.agents.agent_id IS 'Agent id (minted by the gateway).';
COMMENT ON COLUMN dispatch.agents.workspace_id IS 'Workspace of the agent; every task event carries it.';
COMMENT ON COLUMN dispatch.agents.runtime_id IS 'Runtime the agent''s unfinished tasks belong to.';
COMMENT ON COLUMN dispatch.agents.max_concurrent_tasks IS 'Most tasks of this agent dispatched or running at once (1 unless a TaskRequested says otherwise).';
COMMENT ON COLUMN dispatch.agents.described_at IS 'Time of the newest command (TaskRequested or AgentRuntimeChanged) that changed the agent; an older command changes neither runtime nor concurrency, since commands about one agent travel on several partitions.';
COMMENT ON COLUMN dispatch.agents.created_at IS 'When the dispatcher first heard of the agent.';
COMMENT ON COLUMN dispatch.agents.updated_at IS 'Database time of the last change.';

CREATE TABLE dispatch.agent_task_queue (
    task_id           uuid        PRIMARY KEY,
    workspace_id      uuid        NOT NULL,
    agent_id          uuid        NOT NULL,
    runtime_id        uuid        NOT NULL,
    issue_id          uuid,
    status            text        NOT NULL CHECK (status IN ('queued', 'dispatched', 'running',
                                                             'completed', 'failed', 'cancelled')),
    version           bigint      NOT NULL CHECK (version >= 1),
    attempt           integer     NOT NULL DEFAULT 1 CHECK (attempt >= 1),
    priority          smallint    NOT NULL DEFAULT 0 CHECK (priority BETWEEN 0 AND 4),
    title             text        CHECK (length(title) <= 512),
    queued_at         timestamptz NOT NULL,
    dispatched_at     timestamptz,
    lease_until       timestamptz,
    started_at        timestamptz,
    last_progress_at  timestamptz,
    last_progress_seq bigint      CHECK (last_progress_seq >= 0),
    completed_at      timestamptz,
    deleted_at        timestamptz,
    result            text,
    failure_reason    text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT agent_task_queue_terminal_has_completed_at
        CHECK ((status IN ('completed', 'failed', 'cancelled')) = (completed_at IS NOT NULL)),
    CONSTRAINT agent_task_queue_dispatched_has_lease
        CHECK (status <> 'dispatched' OR lease_until IS NOT NULL),
    CONSTRAINT agent_task_queue_running_has_progress_time
        CHECK (status <> 'running' OR last_progress_at IS NOT NULL),
    CONSTRAINT agent_task_queue_deleted_is_terminal
        CHECK (deleted_at IS NULL OR completed_at IS NOT NULL)
);
COMMENT ON TABLE dispatch.agent_task_queue IS
    'One row per task: its state in the machine queued -> dispatched -> running -> completed | failed, cancelled from any unfinished state, requeued on lease expiry, silence or reassignment. Changed only by the dispatch.* functions, which bump version and log every change in task_transitions.';
COMMENT ON COLUMN dispatch.agent_task_queue.task_id IS 'Task id (UUIDv7 minted by the gateway); the key of every task command and event.';
COMMENT ON COLUMN dispatch.agent_task_queue.workspace_id IS 'Workspace of the task''s agent.';
COMMENT ON COLUMN dispatch.agent_task_queue.agent_id IS 'Agent the task is assigned to.';
COMMENT ON COLUMN dispatch.agent_task_queue.runtime_id IS 'Runtime that holds or will hold the task: the agent''s runtime; only this runtime''s reports are accepted.';
COMMENT ON COLUMN dispatch.agent_task_queue.issue_id IS 'Issue the task works on, if any; an agent never has two active tasks for one issue.';
COMMENT ON COLUMN dispatch.agent_task_queue.status IS 'queued, dispatched, running, completed, failed or cancelled.';
COMMENT ON COLUMN dispatch.agent_task_queue.version IS 'Per-task event version: 1 for TaskQueued, one more for every applied change; consumers keep the highest.';
COMMENT ON COLUMN dispatch.agent_task_queue.attempt IS 'Delivery attempt, from 1; a requeue (lease expiry, running timeout, runtime offline) adds one. A running timeout fails the task once attempt reaches MAX_ATTEMPTS.';
COMMENT ON COLUMN dispatch.agent_task_queue.priority IS 'Priority from TaskRequested (0..4), carried for readers; dispatch order is oldest first.';
COMMENT ON COLUMN dispatch.agent_task_queue.title IS 'Title from TaskRequested, for operators.';
COMMENT ON COLUMN dispatch.agent_task_queue.queued_at IS 'When the task last entered queued (request or requeue): QUEUED_TTL and the dispatch latency count from here.';
COMMENT ON COLUMN dispatch.agent_task_queue.dispatched_at IS 'When the task was last dispatched.';
COMMENT ON COLUMN dispatch.agent_task_queue.lease_until IS 'While dispatched: the runtime must report the start before this, or the task is requeued.';
COMMENT ON COLUMN dispatch.agent_task_queue.started_at IS 'When the holding runtime reported the start of the current attempt.';
COMMENT ON COLUMN dispatch.agent_task_queue.last_progress_at IS 'Start or newest progress of the current attempt; RUNNING_TIMEOUT counts from the later of this and the runtime''s last heartbeat.';
COMMENT ON COLUMN dispatch.agent_task_queue.last_progress_seq IS 'Highest progress sequence number applied in the current attempt; a report at or below it is a duplicate.';
COMMENT ON COLUMN dispatch.agent_task_queue.completed_at IS 'When the task reached a terminal status (completed, failed or cancelled); set by every terminal status.';
COMMENT ON COLUMN dispatch.agent_task_queue.deleted_at IS 'When the task was deleted (TaskCancelRequested with delete=true); a deleted task accepts no command.';
COMMENT ON COLUMN dispatch.agent_task_queue.result IS 'Result summary of a completed task.';
COMMENT ON COLUMN dispatch.agent_task_queue.failure_reason IS 'Why the task failed or was cancelled (the reported reason, running_timeout, expired, ...).';
COMMENT ON COLUMN dispatch.agent_task_queue.created_at IS 'When the dispatcher accepted the TaskRequested; ties in dispatch order break on it.';
COMMENT ON COLUMN dispatch.agent_task_queue.updated_at IS 'Database time of the last change.';
-- The dispatch query: oldest queued tasks of one runtime.
CREATE INDEX agent_task_queue_queued_idx ON dispatch.agent_task_queue (runtime_id, created_at, task_id)
    WHERE status = 'queued';
-- Capacity: active tasks per runtime, per agent and per (agent, issue).
CREATE INDEX agent_task_queue_active_runtime_idx ON dispatch.agent_task_queue (runtime_id)
    WHERE status IN ('dispatched', 'running');
CREATE INDEX agent_task_queue_active_agent_idx ON dispatch.agent_task_queue (agent_id, issue_id)
    WHERE status IN ('dispatched', 'running');
-- Reassignment: an agent's unfinished tasks.
CREATE INDEX agent_task_queue_open_agent_idx ON dispatch.agent_task_queue (agent_id)
    WHERE status IN ('queued', 'dispatched', 'running');
-- Timers: lease expiry, running timeout, queued TTL.
CREATE INDEX agent_task_queue_lease_idx ON dispatch.agent_task_queue (lease_until)
    WHERE status = 'dispatched';
CREATE INDEX agent_task_queue_running_idx ON dispatch.agent_task_queue (last_progress_at)
    WHERE status = 'running';
CREATE INDEX agent_task_queue_ttl_idx ON dispatch.agent_task_queue (queued_at)
    WHERE status = 'queued';

CREATE TABLE dispatch.task_transitions (
    id          bigserial   PRIMARY KEY,
    task_id     uuid        NOT NULL REFERENCES dispatch.agent_task_queue (task_id) ON DELETE CASCADE,
    from_status text        CHECK (from_status IN ('queued', 'dispatched', 'running', 'completed',
                                                   'failed', 'cancelled')),
    to_status   text        NOT NULL CHECK (to_status IN ('queued', 'dispatched', 'running',
                                                          'completed', 'failed', 'cancelled',
                                                          'deleted')),
    event       text        NOT NULL,
    version     bigint      NOT NULL CHECK (version >= 1),
    runtime_id  uuid        NOT NULL,
    old_runtime_id uuid,
    reason      text,
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (task_id, version)
);
COMMENT ON TABLE dispatch.task_transitions IS
    'Every applied change of a task, in version order: the audit trail of the state machine (progress, reassignment and deletion included). Refused transitions are logged by the service, never stored here.';
COMMENT ON COLUMN dispatch.task_transitions.id IS 'Insertion order.';
COMMENT ON COLUMN dispatch.task_transitions.task_id IS 'The task.';
COMMENT ON COLUMN dispatch.task_transitions.from_status IS 'Status before the change (NULL when the task was created).';
COMMENT ON COLUMN dispatch.task_transitions.to_status IS 'Status after the change; deleted for a deletion.';
COMMENT ON COLUMN dispatch.task_transitions.event IS 'Task event emitted for the change: queued, dispatched, started, progress, completed, failed, cancelled, requeued, reassigned or deleted.';
COMMENT ON COLUMN dispatch.task_transitions.version IS 'Task version after the change (the emitted event''s version).';
COMMENT ON COLUMN dispatch.task_transitions.runtime_id IS 'Runtime holding the task after the change.';
COMMENT ON COLUMN dispatch.task_transitions.old_runtime_id IS 'Runtime the task left when the change moved it (reassignment); NULL otherwise. Replaying the log per runtime counts a move against this one.';
COMMENT ON COLUMN dispatch.task_transitions.reason IS 'Why (lease_expired, running_timeout, runtime_offline, runtime_silent, expired, agent_runtime_changed, a reported failure or cancellation reason).';
COMMENT ON COLUMN dispatch.task_transitions.at IS 'Database clock when the change was made (clock_timestamp, so changes in one transaction keep their order).';
CREATE INDEX task_transitions_at_idx ON dispatch.task_transitions (at);

CREATE TABLE dispatch.state_machine (
    from_status text NOT NULL,
    event       text NOT NULL,
    to_status   text NOT NULL,
    PRIMARY KEY (from_status, event)
);
COMMENT ON TABLE dispatch.state_machine IS
    'The legal moves of a task: an event the table does not list for the task''s status is refused. Deletion is not a move (it marks a terminal task deleted).';
COMMENT ON COLUMN dispatch.state_machine.from_status IS 'Status before.';
COMMENT ON COLUMN dispatch.state_machine.event IS 'The event the move emits.';
COMMENT ON COLUMN dispatch.state_machine.to_status IS 'Status after.';
INSERT INTO dispatch.state_machine (from_status, event, to_status) VALUES
    ('queued', 'dispatched', 'dispatched'),
    ('queued', 'cancelled', 'cancelled'),
    ('queued', 'reassigned', 'queued'),
    ('dispatched', 'started', 'running'),
    ('dispatched', 'requeued', 'queued'),
    ('dispatched', 'reassigned', 'queued'),
    ('dispatched', 'cancelled', 'cancelled'),
    ('running', 'progress', 'running'),
    ('running', 'completed', 'completed'),
    ('running', 'failed', 'failed'),
    ('running', 'requeued', 'queued'),
    ('running', 'reassigned', 'queued'),
    ('running', 'cancelled', 'cancelled');

CREATE TABLE dispatch.outbox (
    seq        bigserial   PRIMARY KEY,
    key        text        NOT NULL,
    payload    text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE dispatch.outbox IS
    'Task events written in the transaction that made the change, waiting to be produced to multica.task.events. The relay produces them in seq order and deletes them once the broker acknowledged.';
COMMENT ON COLUMN dispatch.outbox.seq IS 'Production order; per task it follows the version order because each change holds the task''s row lock until it commits.';
COMMENT ON COLUMN dispatch.outbox.key IS 'Kafka key: the task id.';
COMMENT ON COLUMN dispatch.outbox.payload IS 'The CloudEvents message (task_event.schema.json), encoded and validated by the service.';
COMMENT ON COLUMN dispatch.outbox.created_at IS 'When the event was written; the age of the oldest row is the relay''s lag.';

-- What every state-machine function returns, one row per task it looked at.
CREATE TYPE dispatch.task_change AS (
    outcome        text,
    event          text,
    task_id        uuid,
    workspace_id   uuid,
    agent_id       uuid,
    runtime_id     uuid,
    issue_id       uuid,
    version        bigint,
    status         text,
    from_status    text,
    attempt        integer,
    lease_until    text,
    seq            bigint,
    text           text,
    result         text,
    reason         text,
    old_runtime_id uuid,
    at             text,
    waited_ms      double precision
);
COMMENT ON TYPE dispatch.task_change IS
    'One row per task a state-machine function looked at: an applied change (the service turns it into a task event in the same transaction), a refused one (logged), or a no-op (a duplicate).';
COMMENT ON COLUMN dispatch.task_change.outcome IS 'applied, refused or noop.';
COMMENT ON COLUMN dispatch.task_change.event IS 'Applied: the event to emit (queued, dispatched, ...). Refused or noop: the event that was asked for.';
COMMENT ON COLUMN dispatch.task_change.task_id IS 'The task.';
COMMENT ON COLUMN dispatch.task_change.workspace_id IS 'Workspace of the task''s agent.';
COMMENT ON COLUMN dispatch.task_change.agent_id IS 'The task''s agent.';
COMMENT ON COLUMN dispatch.task_change.runtime_id IS 'Runtime holding the task after the change.';
COMMENT ON COLUMN dispatch.task_change.issue_id IS 'The task''s issue, if any.';
COMMENT ON COLUMN dispatch.task_change.version IS 'Version after the change.';
COMMENT ON COLUMN dispatch.task_change.status IS 'Status after the change (deleted for a deletion); for a refusal, the status that was asked for.';
COMMENT ON COLUMN dispatch.task_change.from_status IS 'Status before.';
COMMENT ON COLUMN dispatch.task_change.attempt IS 'Attempt after the change.';
COMMENT ON COLUMN dispatch.task_change.lease_until IS 'TaskDispatched: the lease deadline (RFC 3339, UTC).';
COMMENT ON COLUMN dispatch.task_change.seq IS 'TaskProgress: the sequence number.';
COMMENT ON COLUMN dispatch.task_change.text IS 'TaskProgress: the text.';
COMMENT ON COLUMN dispatch.task_change.result IS 'TaskCompleted: the result summary.';
COMMENT ON COLUMN dispatch.task_change.reason IS 'Why: for a change its reason, for a refusal or no-op the explanation (illegal_transition, runtime_mismatch, unknown_task, deleted, duplicate).';
COMMENT ON COLUMN dispatch.task_change.old_runtime_id IS 'TaskReassigned: the runtime the task left.';
COMMENT ON COLUMN dispatch.task_change.at IS 'When the change was made (RFC 3339, UTC).';
COMMENT ON COLUMN dispatch.task_change.waited_ms IS 'TaskDispatched: milliseconds the task waited in the queue.';
