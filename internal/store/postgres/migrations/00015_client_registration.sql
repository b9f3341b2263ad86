-- +goose Up
-- Each registration of a client_id is its own client: a stored client gets
-- a random registration when it is registered, and a refresh family records
-- the registration it was granted to, so that a client registered again
-- under a deleted client's ID (or a config client and a stored one that
-- take the ID one after the other) never refreshes the other's families.
-- '' is a config or built-in client's. A client stored before gets a random
-- registration; a family of a stored client gets that client's if it began
-- after the client was registered, and 'superseded' (no registration's) if
-- it began before: it was granted to an earlier registration of the ID.
ALTER TABLE oauth_clients ADD COLUMN registration TEXT NOT NULL DEFAULT '';
UPDATE oauth_clients SET registration = md5(random()::text || clock_timestamp()::text || id);
ALTER TABLE refresh_families ADD COLUMN client_registration TEXT NOT NULL DEFAULT '';
UPDATE refresh_families f
    SET client_registration = CASE WHEN c.created_at <= f.created_at THEN c.registration ELSE 'superseded' END
    FROM oauth_clients c WHERE c.id = f.client_id;

-- +goose Down
ALTER TABLE refresh_families DROP COLUMN client_registration;
ALTER TABLE oauth_clients DROP COLUMN registration;
