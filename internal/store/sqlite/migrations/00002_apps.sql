-- +goose Up
-- Apps (contract §8): registered OAuth clients, authorization codes and
-- consents. List columns hold JSON arrays.

CREATE TABLE oauth_clients (
    id                        TEXT    PRIMARY KEY,
    name                      TEXT    NOT NULL DEFAULT '',
    type                      TEXT    NOT NULL,
    secret_hash               TEXT    NOT NULL DEFAULT '',
    redirect_uris             TEXT    NOT NULL DEFAULT '[]',
    post_logout_redirect_uris TEXT    NOT NULL DEFAULT '[]',
    grant_types               TEXT    NOT NULL DEFAULT '[]',
    scopes                    TEXT    NOT NULL DEFAULT '[]',
    first_party               INTEGER NOT NULL DEFAULT 0,
    backchannel_logout_uri    TEXT    NOT NULL DEFAULT '',
    audience                  TEXT    NOT NULL DEFAULT '[]',
    roles                     TEXT    NOT NULL DEFAULT '[]',
    created_at                INTEGER NOT NULL,
    updated_at                INTEGER NOT NULL
) STRICT;

CREATE TABLE authorization_codes (
    hash           TEXT    PRIMARY KEY,
    client_id      TEXT    NOT NULL,
    user_id        TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_id     TEXT    NOT NULL DEFAULT '',
    redirect_uri   TEXT    NOT NULL,
    code_challenge TEXT    NOT NULL,
    nonce          TEXT    NOT NULL DEFAULT '',
    scope          TEXT    NOT NULL DEFAULT '',
    family_id      TEXT    NOT NULL,
    auth_time      INTEGER NOT NULL,
    amr            TEXT    NOT NULL DEFAULT '[]',
    issued_at      INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    used_at        INTEGER
) STRICT;
CREATE INDEX authorization_codes_expires_at ON authorization_codes (expires_at);

CREATE TABLE consents (
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT    NOT NULL,
    scopes     TEXT    NOT NULL DEFAULT '[]',
    granted_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, client_id)
) STRICT;

-- +goose Down
DROP TABLE consents;
DROP TABLE authorization_codes;
DROP TABLE oauth_clients;
