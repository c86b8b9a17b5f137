-- The time zone a usage read cuts its days in, as Multica resolves it (resolveViewingTZ): the
-- request's ?tz when it is a known zone, else the user's stored zone when it is one, else UTC.
-- An unknown zone falls through instead of failing the read: time zones are a display concern.
CREATE OR REPLACE FUNCTION gateway.viewing_tz(p_tz text, p_user uuid)
RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    stored text;
BEGIN
    IF gateway.known_tz(p_tz) THEN
        RETURN btrim(p_tz);
    END IF;
    SELECT time_zone INTO stored FROM gateway.users WHERE id = p_user;
    IF gateway.known_tz(stored) THEN
        RETURN btrim(stored);
    END IF;
    RETURN 'UTC';
END
$$;
COMMENT ON FUNCTION gateway.viewing_tz(text, uuid) IS
    'The zone of a usage read: ?tz if known, else the user''s stored zone if known, else UTC.';
