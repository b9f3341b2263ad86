-- +goose Up
-- The sid a grant's client was told (its ID token's, and the one its
-- back-channel logout names): the session the grant was made in. A step-up
-- moves the grant to its successor session (session_id) and keeps this; ''
-- (rows from before) means session_id.
ALTER TABLE session_grants ADD COLUMN sid TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE session_grants DROP COLUMN sid;
