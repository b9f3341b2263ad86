-- +goose Up
-- One linked account per issuer and user (docs/oidc.md, "One account per
-- issuer and user"): before this index two link_by_email logins of two
-- accounts of one issuer, at the same moment, could both link. A database
-- that holds such duplicates keeps the oldest link of each (user, issuer)
-- (by created_at, then subject) and removes the others, each recorded in the
-- audit trail as oidc.unlinked with reason=duplicate_issuer and
-- via=migration: an administrator checks them there (gatehouse audit --type
-- oidc.unlinked), and a removed account's next login is a first login again.
INSERT INTO audit_events (time, type, user_id, username, details)
SELECT CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER), 'oidc.unlinked', i.user_id, COALESCE(u.username, ''),
       json_object('provider', i.provider, 'issuer', i.issuer, 'subject', i.subject,
                   'reason', 'duplicate_issuer', 'via', 'migration', 'actor', 'migration')
FROM identities i LEFT JOIN users u ON u.id = i.user_id
WHERE EXISTS (SELECT 1 FROM identities o WHERE o.user_id = i.user_id AND o.issuer = i.issuer
              AND (o.created_at, o.subject) < (i.created_at, i.subject))
ORDER BY i.user_id, i.issuer, i.created_at, i.subject;
DELETE FROM identities
WHERE EXISTS (SELECT 1 FROM identities o WHERE o.user_id = identities.user_id AND o.issuer = identities.issuer
              AND (o.created_at, o.subject) < (identities.created_at, identities.subject));
-- It also serves the lookups by user the index it replaces served.
CREATE UNIQUE INDEX identities_user_issuer ON identities (user_id, issuer);
DROP INDEX identities_user_id;

-- +goose Down
CREATE INDEX identities_user_id ON identities (user_id);
DROP INDEX identities_user_issuer;
