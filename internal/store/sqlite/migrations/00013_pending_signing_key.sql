-- +goose Up
-- The next signing key of a scheduled rotation (keys.rotate_every): published
-- in the JWKS before it signs (docs/tokens.md, "Signing keys and rotation").
-- At most one row. It counts only while after_id, the active key it was
-- announced after, is still key_state.active_id. A table of its own rather
-- than a row of signing_keys, so that instances of an earlier version still
-- running during a rolling upgrade never take it for the active key.
CREATE TABLE pending_signing_key (
    slot         INTEGER PRIMARY KEY CHECK (slot = 1),
    id           TEXT    NOT NULL,
    after_id     TEXT    NOT NULL,
    algorithm    TEXT    NOT NULL,
    private      BLOB    NOT NULL,
    public       BLOB    NOT NULL,
    encrypted    INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    activates_at INTEGER NOT NULL
) STRICT;

-- +goose Down
DROP TABLE pending_signing_key;
