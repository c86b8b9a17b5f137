-- The key a usage row's model is priced by, as Multica's web app resolves a model to its rate:
-- lowercase, without a routing prefix ("anthropic/claude-opus-4.5" from OpenCode), a trailing
-- context tag ("claude-opus-4-6[1m]"), a Vertex "@" version or a date snapshot
-- ("claude-sonnet-4-5-20250929", "gpt-5-2025-08-07", "-latest"); Claude ids with dots (GitHub
-- Copilot's "claude-opus-4.5") take Anthropic's dashes. For OpenAI the dot is part of the SKU
-- ("gpt-4.1" is not "gpt-4-1"), so only claude-* ids are rewritten.
-- One expression, no FROM, so that Postgres inlines it into the query that calls it (as a
-- subquery it was called as a function, about 0.25 ms a pricing query: docs/PERFORMANCE.md,
-- read10). Whether it is a claude-* id is asked of the name without its routing prefix,
-- before the suffixes go: the suffixes only shorten it from the end, and the one way they can
-- cut into "claude-" ("claude-latest", "claude-20250929") leaves "claude", which has no dot, so
-- the answer is the same as asking the finished key.
CREATE OR REPLACE FUNCTION usage.model_key(p_model text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN regexp_replace(lower(btrim(p_model)), '^.*/', '') LIKE 'claude-%'
                THEN replace(regexp_replace(
                                 regexp_replace(
                                     regexp_replace(lower(btrim(p_model)), '^.*/', ''),
                                     '(\[[^]]*\]|@.*)$', ''),
                                 '-([0-9]{8}|[0-9]{4}-[0-9]{2}-[0-9]{2}|latest)$', ''),
                             '.', '-')
                ELSE regexp_replace(
                         regexp_replace(
                             regexp_replace(lower(btrim(p_model)), '^.*/', ''),
                             '(\[[^]]*\]|@.*)$', ''),
                         '-([0-9]{8}|[0-9]{4}-[0-9]{2}-[0-9]{2}|latest)$', '')
           END
$$;
COMMENT ON FUNCTION usage.model_key(text) IS
    'The price-catalogue key of a reported model name (lowercase, no provider prefix, context tag, @version or date snapshot; claude-* with dashes).';
