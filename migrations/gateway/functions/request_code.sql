-- Stores a new login code for an address (replacing the old one, attempts reset) unless the
-- address has had p_email_limit codes in its current hour or the client p_client_limit; both
-- windows are counted in the same transaction. Returns ok, email_limited or client_limited.
CREATE OR REPLACE FUNCTION gateway.request_code(p_email text, p_hash text, p_ttl_ms bigint,
                                                p_email_limit integer, p_client text,
                                                p_client_limit integer)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    INSERT INTO gateway.code_send_clients AS c (client) VALUES (p_client)
    ON CONFLICT (client) DO UPDATE
       SET window_start = CASE WHEN c.window_start < now() - interval '1 hour' THEN now()
                               ELSE c.window_start END,
           sends_in_window = CASE WHEN c.window_start < now() - interval '1 hour' THEN 1
                                  ELSE c.sends_in_window + 1 END
    RETURNING sends_in_window INTO n;
    IF n > p_client_limit THEN
        RETURN 'client_limited';
    END IF;
    INSERT INTO gateway.verification_codes AS v (email, code_hash, expires_at)
    VALUES (p_email, p_hash, now() + p_ttl_ms * interval '1 millisecond')
    ON CONFLICT (email) DO UPDATE
       SET code_hash = EXCLUDED.code_hash, expires_at = EXCLUDED.expires_at, failed_attempts = 0,
           created_at = now(),
           window_start = CASE WHEN v.window_start < now() - interval '1 hour' THEN now()
                               ELSE v.window_start END,
           sends_in_window = CASE WHEN v.window_start < now() - interval '1 hour' THEN 1
                                  ELSE v.sends_in_window + 1 END
     WHERE v.window_start < now() - interval '1 hour' OR v.sends_in_window < p_email_limit;
    IF NOT FOUND THEN
        -- The address's limit refused it: the client's count stays (it asked).
        RETURN 'email_limited';
    END IF;
    RETURN 'ok';
END
$$;
COMMENT ON FUNCTION gateway.request_code(text, text, bigint, integer, text, integer) IS
    'Stores a new login code within the per-address and per-client hourly limits: ok, email_limited or client_limited.';
