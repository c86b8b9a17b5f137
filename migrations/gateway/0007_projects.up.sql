-- Projects: a workspace's groups of issues, as Multica has them. An issue belongs to at most
-- one; every change of an issue's project takes the next project_version and announces it as
-- IssueProjectChanged (through the outbox, in the same transaction), which is how the usage
-- slice learns where the issue's usage belongs. A project is deleted only through
-- http_projects.c, which first takes its issues out of it with their events, so no issue
-- leaves a project silently (hence no ON DELETE SET NULL).

CREATE TABLE gateway.projects (
    id           uuid        PRIMARY KEY,
    workspace_id uuid        NOT NULL REFERENCES gateway.workspaces (id) ON DELETE CASCADE,
    title        text        NOT NULL CHECK (length(title) BETWEEN 1 AND 500),
    description  text        CHECK (length(description) <= 100000),
    icon         text        CHECK (length(icon) <= 64),
    status       text        NOT NULL DEFAULT 'planned'
                             CHECK (status IN ('planned', 'in_progress', 'paused', 'completed', 'cancelled')),
    priority     text        NOT NULL DEFAULT 'none'
                             CHECK (priority IN ('urgent', 'high', 'medium', 'low', 'none')),
    lead_type    text        CHECK (lead_type IN ('member', 'agent')),
    lead_id      uuid,
    start_date   date,
    due_date     date,
    created_by   uuid        REFERENCES gateway.users (id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CHECK ((lead_type IS NULL) = (lead_id IS NULL))
);
COMMENT ON TABLE gateway.projects IS 'Projects of a workspace: groups of issues (and of their usage).';
COMMENT ON COLUMN gateway.projects.id IS 'Project id (UUIDv7).';
COMMENT ON COLUMN gateway.projects.workspace_id IS 'Workspace.';
COMMENT ON COLUMN gateway.projects.title IS 'Title.';
COMMENT ON COLUMN gateway.projects.description IS 'Description (markdown), or NULL.';
COMMENT ON COLUMN gateway.projects.icon IS 'Icon (an emoji), or NULL.';
COMMENT ON COLUMN gateway.projects.status IS 'planned, in_progress, paused, completed or cancelled.';
COMMENT ON COLUMN gateway.projects.priority IS 'urgent, high, medium, low or none.';
COMMENT ON COLUMN gateway.projects.lead_type IS 'member or agent, NULL without a lead.';
COMMENT ON COLUMN gateway.projects.lead_id IS 'The lead (a member or an agent of the workspace).';
COMMENT ON COLUMN gateway.projects.start_date IS 'Calendar start day, or NULL.';
COMMENT ON COLUMN gateway.projects.due_date IS 'Calendar due day, or NULL.';
COMMENT ON COLUMN gateway.projects.created_by IS 'Who created it.';
COMMENT ON COLUMN gateway.projects.created_at IS 'Creation time.';
COMMENT ON COLUMN gateway.projects.updated_at IS 'Last change.';
CREATE INDEX projects_workspace_idx ON gateway.projects (workspace_id, created_at);

ALTER TABLE gateway.issues
    ADD COLUMN project_id uuid REFERENCES gateway.projects (id),
    ADD COLUMN project_version bigint NOT NULL DEFAULT 0 CHECK (project_version >= 0);
COMMENT ON COLUMN gateway.issues.project_id IS 'The project the issue belongs to, or NULL.';
COMMENT ON COLUMN gateway.issues.project_version IS 'Changes of project_id so far: the version of the last IssueProjectChanged.';
CREATE INDEX issues_project_idx ON gateway.issues (project_id) WHERE project_id IS NOT NULL;
