package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/authserver"
	"github.com/gatehouse-auth/gatehouse/internal/client"
)

var (
	_ client.Store     = (*Store)(nil)
	_ authserver.Store = (*Store)(nil)
)

const clientColumns = `id, name, type, secret_hash, redirect_uris, post_logout_redirect_uris, grant_types, scopes,
	first_party, backchannel_logout_uri, audience, roles, created_at, updated_at, token_sid, registration`

// CreateClient stores c; auth.ErrConflict when the ID is taken.
func (db *Store) CreateClient(ctx context.Context, c client.Client) error {
	lists, err := encodeLists(c.RedirectURIs, c.PostLogoutRedirectURIs, c.GrantTypes, c.Scopes, c.Audience, c.Roles)
	if err != nil {
		return fmt.Errorf("create client: %w", err)
	}
	_, err = db.exec(ctx, "create client",
		`INSERT INTO oauth_clients (`+clientColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.Name, c.Type, c.SecretHash, lists[0], lists[1], lists[2], lists[3],
		c.FirstParty, c.BackchannelLogoutURI, lists[4], lists[5], micros(c.CreatedAt), micros(c.UpdatedAt), c.TokenSID, c.Registration)
	return err
}

// Client returns client id or auth.ErrNotFound.
func (db *Store) Client(ctx context.Context, id string) (client.Client, error) {
	c, err := scanClient(db.queryRow(ctx, "load client", `SELECT `+clientColumns+` FROM oauth_clients WHERE id = ?`, id))
	return c, db.wrap("load client", err)
}

// ListClients returns every stored client by ID.
func (db *Store) ListClients(ctx context.Context) ([]client.Client, error) {
	return queryAll(ctx, db, "list clients", scanClient, `SELECT `+clientColumns+` FROM oauth_clients ORDER BY id`)
}

// DeleteClient removes client id, the consents given to it, its
// authorization codes, its session grants and its queued back-channel
// logouts; auth.ErrNotFound when there is none. A client registered again
// under the same ID thereby inherits nothing: no consent, no code, no
// session it would be listed in on /account or sent a logout token for
// (the deleted client's families are revoked by its caller,
// token.Grants.RevokeClient, are another registration's in any case, and
// a deleted client gets no logout). It deletes the client row first: that
// waits for the AddConsent and CreateRefresh transactions that found the
// client (LockClient) to commit, so that the consents they saved are
// deleted too and the families they stored are there for RevokeClient,
// and makes those that come later refuse the client.
func (db *Store) DeleteClient(ctx context.Context, id string) error {
	return db.tx(ctx, "delete client", func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, db.Rebind(`DELETE FROM oauth_clients WHERE id = ?`), id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(err, sql.ErrNoRows)
		}
		for _, q := range []string{`DELETE FROM consents WHERE client_id = ?`, `DELETE FROM authorization_codes WHERE client_id = ?`,
			`DELETE FROM session_grants WHERE client_id = ?`, `DELETE FROM logout_outbox WHERE client_id = ?`} {
			if _, err := tx.ExecContext(ctx, db.Rebind(q), id); err != nil {
				return err
			}
		}
		return nil
	})
}

// SetClientSecret replaces a client's secret hash and token sid, if its
// token sid is still oldSID; auth.ErrNotFound when there is no such client
// or its token sid is another.
func (db *Store) SetClientSecret(ctx context.Context, id, hash, oldSID, newSID string, at time.Time) error {
	return db.execOne(ctx, "set client secret",
		`UPDATE oauth_clients SET secret_hash = ?, token_sid = ?, updated_at = ? WHERE id = ? AND token_sid = ?`,
		hash, newSID, micros(at), id, oldSID)
}

func scanClient(row scanner) (client.Client, error) {
	var (
		c                client.Client
		lists            [6]string
		created, updated int64
	)
	if err := row.Scan(&c.ID, &c.Name, &c.Type, &c.SecretHash, &lists[0], &lists[1], &lists[2], &lists[3],
		&c.FirstParty, &c.BackchannelLogoutURI, &lists[4], &lists[5], &created, &updated, &c.TokenSID, &c.Registration); err != nil {
		return client.Client{}, err
	}
	for i, dst := range []*[]string{&c.RedirectURIs, &c.PostLogoutRedirectURIs, &c.GrantTypes, &c.Scopes, &c.Audience, &c.Roles} {
		if err := decodeJSON(lists[i], dst); err != nil {
			return client.Client{}, err
		}
	}
	c.CreatedAt, c.UpdatedAt = fromMicros(created), fromMicros(updated)
	return c, nil
}

func encodeLists(lists ...[]string) ([]string, error) {
	out := make([]string, len(lists))
	for i, l := range lists {
		s, err := encodeJSON(l, "[]")
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}

const codeColumns = `hash, client_id, user_id, session_id, redirect_uri, code_challenge, nonce, scope, family_id,
	auth_time, amr, issued_at, expires_at, used_at`

// CreateCode stores an authorization code; auth.ErrNotFound when the user
// does not exist, auth.ErrConflict when the hash is taken.
func (db *Store) CreateCode(ctx context.Context, c authserver.Code) error {
	amr, err := encodeJSON(c.AMR, "[]")
	if err != nil {
		return fmt.Errorf("create code: %w", err)
	}
	_, err = db.exec(ctx, "create code",
		`INSERT INTO authorization_codes (`+codeColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.Hash, c.ClientID, c.UserID, c.SessionID, c.RedirectURI, c.Challenge, c.Nonce, c.Scope, c.FamilyID,
		micros(c.AuthTime), amr, micros(c.IssuedAt), micros(c.ExpiresAt), nullMicros(c.UsedAt))
	return err
}

// RedeemCode marks the code used with one conditional UPDATE, so that of
// concurrent redemptions exactly one wins; the losers and later replays
// get auth.ErrReused and the record.
func (db *Store) RedeemCode(ctx context.Context, hash string, now time.Time) (authserver.Code, error) {
	var c authserver.Code
	err := db.tx(ctx, "redeem code", func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, db.Rebind(
			`UPDATE authorization_codes SET used_at = ? WHERE hash = ? AND used_at IS NULL AND expires_at > ?`),
			micros(now), hash, micros(now))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		c, err = scanCode(tx.QueryRowContext(ctx, db.Rebind(`SELECT `+codeColumns+` FROM authorization_codes WHERE hash = ?`), hash))
		switch {
		case err != nil:
			return err
		case n == 1:
			return nil
		case !c.UsedAt.IsZero():
			return auth.ErrReused
		default:
			return auth.ErrExpired
		}
	})
	return c, err
}

// DeleteExpiredCodes removes codes that expired before now, PurgeBatch at a
// time.
func (db *Store) DeleteExpiredCodes(ctx context.Context, now time.Time) (int, error) {
	return db.purge(ctx, "delete expired codes", "authorization_codes", "hash", `expires_at <= ?`, micros(now))
}

func scanCode(row scanner) (authserver.Code, error) {
	var (
		c                         authserver.Code
		amr                       string
		authTime, issued, expires int64
		used                      sql.NullInt64
	)
	if err := row.Scan(&c.Hash, &c.ClientID, &c.UserID, &c.SessionID, &c.RedirectURI, &c.Challenge, &c.Nonce, &c.Scope,
		&c.FamilyID, &authTime, &amr, &issued, &expires, &used); err != nil {
		return authserver.Code{}, err
	}
	if err := decodeJSON(amr, &c.AMR); err != nil {
		return authserver.Code{}, err
	}
	c.AuthTime, c.IssuedAt, c.ExpiresAt, c.UsedAt = fromMicros(authTime), fromMicros(issued), fromMicros(expires), fromNullMicros(used)
	return c, nil
}

// Consent returns what user userID allowed client clientID, or
// auth.ErrNotFound.
func (db *Store) Consent(ctx context.Context, userID, clientID string) (authserver.Consent, error) {
	c, err := scanConsent(db.queryRow(ctx, "load consent",
		`SELECT user_id, client_id, scopes, granted_at FROM consents WHERE user_id = ? AND client_id = ?`, userID, clientID))
	return c, db.wrap("load consent", err)
}

// AddConsent adds c.Scopes to the user's consent to c.ClientID (the new
// scopes first, then those allowed before), creating it; auth.ErrNotFound
// when the user does not exist, or when c.StoredClient and the client is
// not (or no longer) stored. It reads and writes under the user's lock, as
// DeleteConsent deletes, so that concurrent adds keep every scope and an
// add racing a withdrawal never writes the withdrawn scopes back; and, for
// a stored client, under the client's lock (LockClient), so that an add
// racing DeleteClient is either deleted with the client or refused.
func (db *Store) AddConsent(ctx context.Context, c authserver.Consent) error {
	return db.tx(ctx, "save consent", func(ctx context.Context, tx *sql.Tx) error {
		if err := db.lockUser(ctx, tx, c.UserID); err != nil {
			return err
		}
		if c.StoredClient {
			if _, err := db.lockClient(ctx, tx, c.ClientID); err != nil {
				return err
			}
		}
		scopes := slices.Clone(c.Scopes)
		old, err := scanConsent(tx.QueryRowContext(ctx, db.Rebind(
			`SELECT user_id, client_id, scopes, granted_at FROM consents WHERE user_id = ? AND client_id = ?`), c.UserID, c.ClientID))
		switch {
		case err == nil:
			for _, sc := range old.Scopes {
				if !slices.Contains(scopes, sc) {
					scopes = append(scopes, sc)
				}
			}
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		encoded, err := encodeJSON(scopes, "[]")
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, db.Rebind(
			`INSERT INTO consents (user_id, client_id, scopes, granted_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (user_id, client_id) DO UPDATE SET scopes = excluded.scopes, granted_at = excluded.granted_at`),
			c.UserID, c.ClientID, encoded, micros(c.GrantedAt))
		return err
	})
}

// UserConsents lists a user's consents by client.
func (db *Store) UserConsents(ctx context.Context, userID string) ([]authserver.Consent, error) {
	return queryAll(ctx, db, "list consents", scanConsent,
		`SELECT user_id, client_id, scopes, granted_at FROM consents WHERE user_id = ? ORDER BY client_id`, userID)
}

// DeleteConsent withdraws a consent; auth.ErrNotFound when there is none.
// It takes the user's lock first, as AddConsent does.
func (db *Store) DeleteConsent(ctx context.Context, userID, clientID string) error {
	return db.tx(ctx, "delete consent", func(ctx context.Context, tx *sql.Tx) error {
		if err := db.lockUser(ctx, tx, userID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, db.Rebind(`DELETE FROM consents WHERE user_id = ? AND client_id = ?`), userID, clientID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(err, sql.ErrNoRows)
		}
		return nil
	})
}

func scanConsent(row scanner) (authserver.Consent, error) {
	var (
		c       authserver.Consent
		scopes  string
		granted int64
	)
	if err := row.Scan(&c.UserID, &c.ClientID, &scopes, &granted); err != nil {
		return authserver.Consent{}, err
	}
	if err := decodeJSON(scopes, &c.Scopes); err != nil {
		return authserver.Consent{}, err
	}
	c.GrantedAt = fromMicros(granted)
	return c, nil
}
