DROP FUNCTION IF EXISTS gateway.request_code(text, text, bigint, integer, text, integer);
DROP FUNCTION IF EXISTS gateway.verify_code(text, text, integer);
DROP TABLE gateway.code_send_clients;
