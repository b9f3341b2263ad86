package sqldb

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/authserver"
)

var _ authserver.LogoutStore = (*Store)(nil)

// AddSessionGrant records that a client got tokens in a session.
func (db *Store) AddSessionGrant(ctx context.Context, g authserver.SessionGrant) error {
	sid := g.SID
	if sid == "" {
		sid = g.SessionID
	}
	_, err := db.exec(ctx, "add session grant",
		`INSERT INTO session_grants (family_id, session_id, sid, client_id, user_id, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		g.FamilyID, g.SessionID, sid, g.ClientID, g.UserID, micros(g.CreatedAt))
	return err
}

// MoveSessionGrants hands the grants of userID's session from to its
// successor to in one UPDATE, keeping the sid their clients were told (a
// row from before the sid column has an empty one: its session_id is
// that sid). A concurrent EndSession of from either took the rows first or
// finds none.
func (db *Store) MoveSessionGrants(ctx context.Context, userID, from, to string) (int, error) {
	n, err := db.exec(ctx, "move session grants",
		`UPDATE session_grants SET sid = CASE WHEN sid = '' THEN session_id ELSE sid END, session_id = ?
		WHERE session_id = ? AND user_id = ?`, to, from, userID)
	return int(n), err
}

// UserSessionGrants lists a user's session grants, oldest first.
func (db *Store) UserSessionGrants(ctx context.Context, userID string) ([]authserver.SessionGrant, error) {
	return queryAll(ctx, db, "list session grants", scanSessionGrant,
		`SELECT family_id, session_id, sid, client_id, user_id, created_at FROM session_grants WHERE user_id = ? ORDER BY created_at, family_id`, userID)
}

func scanSessionGrant(row scanner) (authserver.SessionGrant, error) {
	var (
		g       authserver.SessionGrant
		created int64
	)
	err := row.Scan(&g.FamilyID, &g.SessionID, &g.SID, &g.ClientID, &g.UserID, &created)
	g.CreatedAt = fromMicros(created)
	if g.SID == "" { // a row from before the sid column
		g.SID = g.SessionID
	}
	return g, err
}

// EndSession takes the session's grants, revokes their families and
// queues one delivery per client and sid, in one transaction: a grant a
// step-up moved here is logged out under the sid its client knows.
func (db *Store) EndSession(ctx context.Context, sessionID string, now, deadline time.Time) ([]authserver.SessionGrant, error) {
	var grants []authserver.SessionGrant
	err := db.tx(ctx, "end session", func(ctx context.Context, tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, db.Rebind(
			`DELETE FROM session_grants WHERE session_id = ? RETURNING family_id, session_id, sid, client_id, user_id, created_at`), sessionID)
		if err != nil {
			return err
		}
		for rows.Next() {
			g, err := scanSessionGrant(rows)
			if err != nil {
				rows.Close()
				return err
			}
			grants = append(grants, g)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		queued := map[string]bool{}
		for _, g := range grants {
			if _, err := tx.ExecContext(ctx, db.Rebind(
				`UPDATE refresh_families SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`), micros(now), g.FamilyID); err != nil {
				return err
			}
			id := deliveryID(g.SID, g.ClientID)
			if queued[id] {
				continue
			}
			queued[id] = true
			if _, err := tx.ExecContext(ctx, db.Rebind(
				`INSERT INTO logout_outbox (id, client_id, user_id, session_id, next_attempt_at, deadline, created_at)
				VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`),
				id, g.ClientID, g.UserID, g.SID, micros(now), micros(deadline), micros(now)); err != nil {
				return err
			}
		}
		return nil
	})
	return grants, err
}

// deliveryID makes the logout of one sid at one client a single row.
func deliveryID(sessionID, clientID string) string {
	sum := sha256.Sum256([]byte(sessionID + "\x00" + clientID))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// ClaimLogouts leases due deliveries to owner. The lease conditions are
// repeated in the outer WHERE so that PostgreSQL re-checks them on a row
// another instance leased concurrently: each row goes to one owner.
func (db *Store) ClaimLogouts(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]authserver.Delivery, error) {
	var out []authserver.Delivery
	err := db.tx(ctx, "claim logouts", func(ctx context.Context, tx *sql.Tx) error {
		const due = `delivered_at IS NULL AND failed_at IS NULL AND next_attempt_at <= ? AND lease_until <= ?`
		rows, err := tx.QueryContext(ctx, db.Rebind(
			`UPDATE logout_outbox SET lease_owner = ?, lease_until = ?
			WHERE id IN (SELECT id FROM logout_outbox WHERE `+due+` ORDER BY next_attempt_at LIMIT ?) AND `+due+`
			RETURNING id, client_id, user_id, session_id, attempts, deadline`),
			owner, micros(now.Add(lease)), micros(now), micros(now), limit, micros(now), micros(now))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				d        authserver.Delivery
				deadline int64
			)
			if err := rows.Scan(&d.ID, &d.ClientID, &d.UserID, &d.SessionID, &d.Attempts, &deadline); err != nil {
				return err
			}
			d.Deadline = fromMicros(deadline)
			out = append(out, d)
		}
		return rows.Err()
	})
	return out, err
}

// FinishLogout records an attempt of the lease holder; auth.ErrNotFound
// when owner no longer holds the lease.
func (db *Store) FinishLogout(ctx context.Context, id, owner string, now time.Time, delivered bool, next time.Time) error {
	switch {
	case delivered:
		return db.execOne(ctx, "finish logout",
			`UPDATE logout_outbox SET delivered_at = ?, attempts = attempts + 1, lease_until = 0 WHERE id = ? AND lease_owner = ?`,
			micros(now), id, owner)
	case next.IsZero():
		return db.execOne(ctx, "finish logout",
			`UPDATE logout_outbox SET failed_at = ?, attempts = attempts + 1, lease_until = 0 WHERE id = ? AND lease_owner = ?`,
			micros(now), id, owner)
	default:
		return db.execOne(ctx, "finish logout",
			`UPDATE logout_outbox SET next_attempt_at = ?, attempts = attempts + 1, lease_until = 0 WHERE id = ? AND lease_owner = ?`,
			micros(next), id, owner)
	}
}

// ReleaseLogouts ends owner's unfinished leases: every FinishLogout outcome
// sets lease_until to 0, so a lease still set is one not finished.
func (db *Store) ReleaseLogouts(ctx context.Context, owner string) error {
	_, err := db.exec(ctx, "release logouts",
		`UPDATE logout_outbox SET lease_until = 0 WHERE lease_owner = ? AND lease_until > 0`, owner)
	return err
}

// DeleteExpiredLogouts purges deliveries past their deadline, PurgeBatch
// at a time.
func (db *Store) DeleteExpiredLogouts(ctx context.Context, before time.Time) (int, error) {
	return db.purge(ctx, "purge logouts", "logout_outbox", "id", `deadline < ?`, micros(before))
}

// DeleteSessionGrants purges the grants made before before, PurgeBatch at a
// time.
func (db *Store) DeleteSessionGrants(ctx context.Context, before time.Time) (int, error) {
	return db.purge(ctx, "purge session grants", "session_grants", "family_id", `created_at < ?`, micros(before))
}
