-- +goose Up
-- Revocations of refresh families not stored yet. An authorization code
-- replayed while its first redemption runs revokes the family (the code's
-- sid) that the redemption is about to store: RevokeFamily keeps the
-- revocation here and CreateRefresh stores that family revoked.
-- DeleteExpiredRefresh forgets a row a day after it was written; codes
-- live 60 s.
CREATE TABLE refresh_family_revocations (
    family_id  TEXT    PRIMARY KEY,
    revoked_at BIGINT  NOT NULL
);
CREATE INDEX refresh_family_revocations_revoked_at ON refresh_family_revocations (revoked_at);

-- +goose Down
DROP TABLE refresh_family_revocations;
