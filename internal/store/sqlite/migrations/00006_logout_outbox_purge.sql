-- +goose Up
-- Back-channel logout deliveries are purged a day after their deadline
-- (authserver.Server.PurgeExpired); this index serves that purge.
CREATE INDEX logout_outbox_deadline ON logout_outbox (deadline);

-- +goose Down
DROP INDEX logout_outbox_deadline;
