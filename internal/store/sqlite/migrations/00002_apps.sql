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

-- The apps that got tokens in a browser session: ending the session
-- revokes their families and queues their back-channel logouts.
CREATE TABLE session_grants (
    family_id  TEXT    PRIMARY KEY,
    session_id TEXT    NOT NULL,
    client_id  TEXT    NOT NULL,
    user_id    TEXT    NOT NULL, -- no cascade: a deleted user's apps still get their logout
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX session_grants_session_id ON session_grants (session_id);

-- Back-channel logout deliveries. id = hash of session and client, so
-- that every instance may enqueue the same logout and one row results; a
-- sender claims rows by setting a lease with a conditional UPDATE.
CREATE TABLE logout_outbox (
    id              TEXT    PRIMARY KEY,
    client_id       TEXT    NOT NULL,
    user_id         TEXT    NOT NULL,
    session_id      TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    deadline        INTEGER NOT NULL,
    lease_owner     TEXT    NOT NULL DEFAULT '',
    lease_until     INTEGER NOT NULL DEFAULT 0,
    delivered_at    INTEGER,
    failed_at       INTEGER,
    created_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX logout_outbox_next ON logout_outbox (next_attempt_at);

-- +goose Down
DROP TABLE logout_outbox;
DROP TABLE session_grants;
DROP TABLE consents;
DROP TABLE authorization_codes;
DROP TABLE oauth_clients;
