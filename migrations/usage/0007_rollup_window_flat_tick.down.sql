-- Nothing to undo: 0007 changed only a function, and functions follow the binary
-- (migrations/usage/functions/, re-applied after the numbered migrations).
SELECT 1;
