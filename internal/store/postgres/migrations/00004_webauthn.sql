-- +goose Up
-- WebAuthn credentials (passkeys and security keys, contract section 9).
-- credential_id is the authenticator's credential ID; data is the
-- go-webauthn credential record (public key, flags, AAGUID, transports) as
-- JSON; sign_count and last_used_at move forward at every use. A used
-- ceremony challenge is remembered until it expires, so each ceremony
-- finishes at most once.

CREATE TABLE webauthn_credentials (
    credential_id BYTEA   PRIMARY KEY,
    user_id       TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          TEXT    NOT NULL,
    kind          TEXT    NOT NULL,
    data          BYTEA   NOT NULL,
    sign_count    BIGINT  NOT NULL,
    created_at    BIGINT  NOT NULL,
    last_used_at  BIGINT
);

CREATE INDEX webauthn_credentials_user ON webauthn_credentials (user_id);

CREATE TABLE webauthn_challenges (
    digest     TEXT    PRIMARY KEY,
    expires_at BIGINT  NOT NULL
);

CREATE INDEX webauthn_challenges_expiry ON webauthn_challenges (expires_at);

-- +goose Down
DROP TABLE webauthn_challenges;
DROP TABLE webauthn_credentials;
