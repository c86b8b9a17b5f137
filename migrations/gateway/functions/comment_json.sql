-- A comment as the API answers it (Multica's shape). Comments are not edited, reacted to or
-- given attachments here: updated_at is created_at, reactions and attachments are empty.
CREATE OR REPLACE FUNCTION gateway.comment_json(c gateway.comments)
RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', c.id, 'issue_id', c.issue_id, 'author_type', c.author_type,
                             'author_id', c.author_id, 'content', c.body, 'type', 'comment',
                             'parent_id', c.parent_id, 'source_task_id', c.source_task_id,
                             'created_at', c.created_at, 'updated_at', c.created_at,
                             'reactions', '[]'::json, 'attachments', '[]'::json)
$$;
COMMENT ON FUNCTION gateway.comment_json(gateway.comments) IS 'A comment as JSON, in Multica''s shape.';
