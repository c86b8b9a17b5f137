-- The key a usage row's model is priced by, as Multica's web app resolves a model to its rate:
-- lowercase, without a routing prefix ("anthropic/claude-opus-4.5" from OpenCode), a trailing
-- context tag ("claude-opus-4-6[1m]"), a Vertex "@" version or a date snapshot
-- ("claude-sonnet-4-5-20250929", "gpt-5-2025-08-07", "-latest"); Claude ids with dots (GitHub
-- Copilot's "claude-opus-4.5") take Anthropic's dashes. For OpenAI the dot is part of the SKU
-- ("gpt-4.1" is not "gpt-4-1"), so only claude-* ids are rewritten.
CREATE OR REPLACE FUNCTION usage.model_key(p_model text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN k LIKE 'claude-%' THEN replace(k, '.', '-') ELSE k END
      FROM (SELECT regexp_replace(
                       regexp_replace(
                           regexp_replace(lower(btrim(p_model)), '^.*/', ''),
                           '(\[[^]]*\]|@.*)$', ''),
                       '-([0-9]{8}|[0-9]{4}-[0-9]{2}-[0-9]{2}|latest)$', '') AS k) s
$$;
COMMENT ON FUNCTION usage.model_key(text) IS
    'The price-catalogue key of a reported model name (lowercase, no provider prefix, context tag, @version or date snapshot; claude-* with dashes).';
