-- +goose Up
-- The purges that run every 5 minutes search these columns; without an
-- index each pass read the whole table (revocation feed, session grants,
-- accepted logout token IDs).
CREATE INDEX revocations_until ON revocations (until);
CREATE INDEX session_grants_created_at ON session_grants (created_at);
CREATE INDEX oidc_logout_jtis_expires_at ON oidc_logout_jtis (expires_at);

-- +goose Down
DROP INDEX oidc_logout_jtis_expires_at;
DROP INDEX session_grants_created_at;
DROP INDEX revocations_until;
