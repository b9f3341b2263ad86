-- +goose Up
-- Second factors (contract section 9). The TOTP secret is sealed with a key
-- derived from keys.encryption_key; recovery codes are SHA-256 hashes;
-- last_step is the last accepted TOTP time step (each code works once).
-- Sessions remember the RFC 8176 amr values of their login.

CREATE TABLE mfa_totp (
    user_id      TEXT    PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret       BLOB    NOT NULL,
    created_at   INTEGER NOT NULL,
    confirmed_at INTEGER
) STRICT;

CREATE TABLE mfa_totp_steps (
    user_id   TEXT    PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    last_step INTEGER NOT NULL
) STRICT;

CREATE TABLE mfa_recovery_codes (
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    used_at    INTEGER,
    PRIMARY KEY (user_id, code_hash)
) STRICT;

ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT '[]';

-- +goose Down
ALTER TABLE sessions DROP COLUMN amr;
DROP TABLE mfa_recovery_codes;
DROP TABLE mfa_totp_steps;
DROP TABLE mfa_totp;
