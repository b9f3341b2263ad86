-- +goose Up
-- A family whose refresh token is never handed out (`gatehouse token
-- issue`, a grant without the refresh_token grant) ends with its access
-- token, which may live longer than tokens.access_ttl: revoking it denies
-- its sid until the family's end (token.Family.NoRefresh).
ALTER TABLE refresh_families ADD COLUMN no_refresh BOOLEAN NOT NULL DEFAULT false;
-- The sid of a stored client's own access tokens (client_credentials). A
-- new secret gets a new one; deleting the client or changing its secret
-- denies the old one. Clients stored before get one here.
ALTER TABLE oauth_clients ADD COLUMN token_sid TEXT NOT NULL DEFAULT '';
UPDATE oauth_clients SET token_sid = 'cc-' || replace(gen_random_uuid()::text, '-', '');

-- +goose Down
ALTER TABLE oauth_clients DROP COLUMN token_sid;
ALTER TABLE refresh_families DROP COLUMN no_refresh;
