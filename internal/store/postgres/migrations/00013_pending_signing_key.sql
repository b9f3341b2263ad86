-- +goose Up
-- The next signing key of a scheduled rotation (keys.rotate_every): published
-- in the JWKS before it signs (docs/tokens.md, "Signing keys and rotation").
-- At most one row. It counts only while after_id, the active key it was
-- announced after, is still key_state.active_id. A table of its own rather
-- than a row of signing_keys, so that instances of an earlier version still
-- running during a rolling upgrade never take it for the active key.
CREATE TABLE pending_signing_key (
    slot         SMALLINT PRIMARY KEY CHECK (slot = 1),
    id           TEXT    NOT NULL,
    after_id     TEXT    NOT NULL,
    algorithm    TEXT    NOT NULL,
    private      BYTEA   NOT NULL,
    public       BYTEA   NOT NULL,
    encrypted    BOOLEAN NOT NULL DEFAULT false,
    created_at   BIGINT  NOT NULL,
    activates_at BIGINT  NOT NULL
);

-- +goose Down
DROP TABLE pending_signing_key;
