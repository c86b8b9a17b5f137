-- Judges one guess of a login code and counts it, in one step under the code's row lock, so
-- that concurrent guesses are judged one after the other: at most p_max wrong guesses are
-- ever judged against a live code, and once the cap is reached even the right code is
-- refused until a new one is sent. Returns ok (the code is consumed), wrong, exhausted (the
-- cap is reached: this guess or an earlier one) or none (no unexpired code for the address).
CREATE OR REPLACE FUNCTION gateway.verify_code(p_email text, p_hash text, p_max integer)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v gateway.verification_codes;
BEGIN
    SELECT * INTO v FROM gateway.verification_codes WHERE email = p_email FOR UPDATE;
    IF NOT FOUND OR v.expires_at <= now() THEN
        RETURN 'none';
    END IF;
    IF v.failed_attempts >= p_max THEN
        RETURN 'exhausted';
    END IF;
    IF v.code_hash = p_hash THEN
        UPDATE gateway.verification_codes SET expires_at = now() WHERE email = p_email;
        RETURN 'ok';
    END IF;
    UPDATE gateway.verification_codes SET failed_attempts = failed_attempts + 1
     WHERE email = p_email;
    RETURN CASE WHEN v.failed_attempts + 1 >= p_max THEN 'exhausted' ELSE 'wrong' END;
END
$$;
COMMENT ON FUNCTION gateway.verify_code(text, text, integer) IS
    'Judges and counts one login-code guess atomically: ok, wrong, exhausted or none.';
