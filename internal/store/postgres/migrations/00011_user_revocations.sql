-- +goose Up
-- How many times every credential of a user was ended (disable, delete,
-- password change, logout everywhere): counted before they are ended, and
-- read again by a login once it wrote its session or refresh family, so that
-- a login under way when they were ended does not leave one behind
-- (docs/sessions.md, "A login racing a revocation").
ALTER TABLE users ADD COLUMN revocations BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE users DROP COLUMN revocations;
