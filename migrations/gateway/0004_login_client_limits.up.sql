-- Login codes: sends are limited per client as well as per address (one client must not send
-- codes to a thousand addresses), and a guess is judged and counted in one locked step by
-- gateway.verify_code (functions/verify_code.sql), so concurrent guesses cannot outrun the
-- attempt cap.
CREATE TABLE gateway.code_send_clients (
    client          text        PRIMARY KEY,
    window_start    timestamptz NOT NULL DEFAULT now(),
    sends_in_window integer     NOT NULL DEFAULT 1
);
COMMENT ON TABLE gateway.code_send_clients IS
    'Login codes sent per client (its address) in the current hour, for VERIFICATION_SENDS_PER_CLIENT_PER_HOUR.';
COMMENT ON COLUMN gateway.code_send_clients.client IS 'The client''s address (the peer, or CLIENT_IP_HEADER''s first entry).';
COMMENT ON COLUMN gateway.code_send_clients.window_start IS 'Start of the client''s current one-hour window.';
COMMENT ON COLUMN gateway.code_send_clients.sends_in_window IS 'Codes this client had sent in the window.';
