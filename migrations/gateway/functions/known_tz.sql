-- Whether Postgres knows a time zone name (an IANA zone such as Europe/Berlin, or UTC). An
-- unknown name is an answer (false), never an error; a database outage stays an error, so the
-- caller answers 503 and not "unknown time zone".
CREATE OR REPLACE FUNCTION gateway.known_tz(p_tz text)
RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF p_tz IS NULL OR btrim(p_tz) = '' OR length(p_tz) > 64 THEN
        RETURN false;
    END IF;
    PERFORM now() AT TIME ZONE btrim(p_tz);
    RETURN true;
EXCEPTION WHEN invalid_parameter_value THEN
    RETURN false;
END
$$;
COMMENT ON FUNCTION gateway.known_tz(text) IS 'True when the name is a time zone Postgres knows.';
