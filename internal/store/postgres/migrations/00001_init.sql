-- +goose Up
-- Timestamps are unix microseconds UTC; NULL in a nullable one means "not
-- yet" (unused, unrevoked, active). Same schema as the SQLite one.

CREATE TABLE users (
    id            TEXT    PRIMARY KEY,
    username      TEXT    NOT NULL,
    username_key  TEXT    COLLATE "C" NOT NULL UNIQUE,
    roles         TEXT    NOT NULL DEFAULT '[]',
    disabled      BOOLEAN NOT NULL DEFAULT false,
    password_hash TEXT    NOT NULL DEFAULT '',
    created_at    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL
);

CREATE TABLE sessions (
    id              TEXT    PRIMARY KEY,
    user_id         TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at      BIGINT  NOT NULL,
    last_seen_at    BIGINT  NOT NULL,
    idle_expires_at BIGINT  NOT NULL,
    expires_at      BIGINT  NOT NULL,
    ip              TEXT    NOT NULL DEFAULT '',
    user_agent      TEXT    NOT NULL DEFAULT '',
    method          TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user_id ON sessions (user_id);

CREATE TABLE refresh_families (
    id         TEXT    PRIMARY KEY,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT    NOT NULL DEFAULT '',
    created_at BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL,
    rotated_at BIGINT ,
    revoked_at BIGINT 
);
CREATE INDEX refresh_families_user_id ON refresh_families (user_id);
CREATE INDEX refresh_families_expires_at ON refresh_families (expires_at);

CREATE TABLE refresh_tokens (
    hash       TEXT    PRIMARY KEY,
    family_id  TEXT    NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
    user_id    TEXT    NOT NULL,
    client_id  TEXT    NOT NULL DEFAULT '',
    scope      TEXT    NOT NULL DEFAULT '',
    issued_at  BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL,
    used_at    BIGINT 
);
CREATE INDEX refresh_tokens_family_id ON refresh_tokens (family_id);

CREATE TABLE signing_keys (
    id           TEXT    PRIMARY KEY,
    algorithm    TEXT    NOT NULL,
    private      BYTEA   NOT NULL,
    public       BYTEA   NOT NULL,
    encrypted    BOOLEAN NOT NULL DEFAULT false,
    created_at   BIGINT  NOT NULL,
    activated_at BIGINT  NOT NULL,
    retires_at   BIGINT 
);

-- One row: the active key ID, compare-and-swapped by RotateKey.
CREATE TABLE key_state (
    id        SMALLINT PRIMARY KEY CHECK (id = 1),
    active_id TEXT    NOT NULL
);
INSERT INTO key_state (id, active_id) VALUES (1, '');

CREATE TABLE audit_events (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    time       BIGINT  NOT NULL,
    type       TEXT    NOT NULL,
    user_id    TEXT    NOT NULL DEFAULT '',
    username   TEXT    NOT NULL DEFAULT '',
    ip         TEXT    NOT NULL DEFAULT '',
    request_id TEXT    NOT NULL DEFAULT '',
    details    TEXT    NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_time ON audit_events (time);
CREATE INDEX audit_events_user_time ON audit_events (user_id, time);

-- Identity: sequence numbers are revocation cursors and must never be
-- reused, even after every row was purged.
CREATE TABLE revocations (
    seq   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind  TEXT    NOT NULL,
    key   TEXT    NOT NULL,
    until BIGINT  NOT NULL
);
CREATE INDEX revocations_kind_key ON revocations (kind, key);

CREATE TABLE identities (
    issuer     TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider   TEXT    NOT NULL DEFAULT '',
    email      TEXT    NOT NULL DEFAULT '',
    created_at BIGINT  NOT NULL,
    last_login BIGINT  NOT NULL DEFAULT 0,
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX identities_user_id ON identities (user_id);

-- +goose Down
DROP TABLE identities;
DROP TABLE revocations;
DROP TABLE audit_events;
DROP TABLE key_state;
DROP TABLE signing_keys;
DROP TABLE refresh_tokens;
DROP TABLE refresh_families;
DROP TABLE sessions;
DROP TABLE users;
