-- +goose Up
-- Deleting a client removes its session grants and queued back-channel
-- logouts by client_id; without an index each deletion read both whole
-- tables while it held the client's row.
CREATE INDEX IF NOT EXISTS session_grants_client_id ON session_grants (client_id);
CREATE INDEX IF NOT EXISTS logout_outbox_client_id ON logout_outbox (client_id);

-- +goose Down
DROP INDEX IF EXISTS logout_outbox_client_id;
DROP INDEX IF EXISTS session_grants_client_id;
