-- +goose Up
-- Inbound back-channel logout (contract §7/§8) and the refresh families'
-- own login context.
--
-- oidc_login_sessions: which gatehouse session (public ID) an OIDC login
-- made, with the provider's sid and sub, so that a provider's logout token
-- can end it. Kept in the main store whatever the session store is.
CREATE TABLE oidc_login_sessions (
    session_id   TEXT    PRIMARY KEY,
    provider     TEXT    NOT NULL,
    provider_sid TEXT    NOT NULL DEFAULT '',
    subject      TEXT    NOT NULL,
    user_id      TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX oidc_login_sessions_sid ON oidc_login_sessions (provider, provider_sid);
CREATE INDEX oidc_login_sessions_sub ON oidc_login_sessions (provider, subject);
CREATE INDEX oidc_login_sessions_expires_at ON oidc_login_sessions (expires_at);

-- Logout token jti values already accepted (each is good once).
CREATE TABLE oidc_logout_jtis (
    provider   TEXT    NOT NULL,
    jti        TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (provider, jti)
) STRICT;

-- A family keeps the amr of the login it came from (refreshed access
-- tokens carry it) and the client IP it started from (the sessions view).
ALTER TABLE refresh_families ADD COLUMN amr TEXT NOT NULL DEFAULT '[]';
ALTER TABLE refresh_families ADD COLUMN ip TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE refresh_families DROP COLUMN ip;
ALTER TABLE refresh_families DROP COLUMN amr;
DROP TABLE oidc_logout_jtis;
DROP TABLE oidc_login_sessions;
