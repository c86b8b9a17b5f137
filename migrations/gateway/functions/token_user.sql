-- The user a daemon route's caller is, verified in the route's own SQL call (one round trip
-- per report, not a token lookup and then the report): p_hash is the SHA-256 of a personal
-- access token (mul_), NULL when the gateway verified a session JWT itself and passes its
-- user as p_user. NULL when the token is unknown, revoked or expired. Records the token's
-- last use at most once a minute, as the lookup of every other route does (gw_pat_auth).
CREATE OR REPLACE FUNCTION gateway.token_user(p_hash text, p_user uuid)
RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE
    k record;
BEGIN
    IF p_hash IS NULL THEN
        RETURN p_user;
    END IF;
    SELECT p.id, p.user_id, p.last_used_at INTO k
      FROM gateway.personal_access_tokens p
     WHERE p.token_hash = p_hash AND p.revoked_at IS NULL
       AND (p.expires_at IS NULL OR p.expires_at > now());
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF k.last_used_at IS NULL OR k.last_used_at < now() - interval '1 minute' THEN
        UPDATE gateway.personal_access_tokens SET last_used_at = now() WHERE id = k.id;
    END IF;
    RETURN k.user_id;
END $$;
COMMENT ON FUNCTION gateway.token_user(text, uuid) IS
    'The user of a personal access token by hash (its last use recorded once a minute), or p_user when no hash is given; NULL when unknown, revoked or expired.';
