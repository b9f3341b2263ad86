-- +goose Up
-- Lookups of one client's or one user's rows that read whole tables:
-- deleting a client (its consents and authorization codes) and deleting it
-- or changing its secret (revoking its refresh families); the grants of a
-- user's sessions (the sessions view, RP-initiated logout); and the
-- ON DELETE CASCADE of a deleted user into authorization_codes and
-- oidc_login_sessions. consents' primary key (user_id, client_id) does not
-- serve a search by client_id alone.
CREATE INDEX IF NOT EXISTS refresh_families_client_id ON refresh_families (client_id);
CREATE INDEX IF NOT EXISTS consents_client_id ON consents (client_id);
CREATE INDEX IF NOT EXISTS authorization_codes_client_id ON authorization_codes (client_id);
CREATE INDEX IF NOT EXISTS authorization_codes_user_id ON authorization_codes (user_id);
CREATE INDEX IF NOT EXISTS session_grants_user_id ON session_grants (user_id);
CREATE INDEX IF NOT EXISTS oidc_login_sessions_user_id ON oidc_login_sessions (user_id);

-- +goose Down
DROP INDEX IF EXISTS oidc_login_sessions_user_id;
DROP INDEX IF EXISTS session_grants_user_id;
DROP INDEX IF EXISTS authorization_codes_user_id;
DROP INDEX IF EXISTS authorization_codes_client_id;
DROP INDEX IF EXISTS consents_client_id;
DROP INDEX IF EXISTS refresh_families_client_id;
