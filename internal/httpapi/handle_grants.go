package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/session"
	"github.com/gatehouse-auth/gatehouse/internal/token"
)

// grantJSON is a refresh-token family (an app's or API login's grant) that
// no live browser session holds, in GET /auth/sessions "grants".
type grantJSON struct {
	ID         string   `json:"id"`
	ClientID   string   `json:"client_id"`
	CreatedAt  string   `json:"created_at"`
	LastUsedAt string   `json:"last_used_at"`
	ExpiresAt  string   `json:"expires_at"`
	IP         string   `json:"ip"`
	AMR        []string `json:"amr"`
}

func toGrantJSON(f token.Family) grantJSON {
	return grantJSON{ID: f.ID, ClientID: f.ClientID, CreatedAt: rfc3339(f.CreatedAt), LastUsedAt: rfc3339(lastUsed(f)),
		ExpiresAt: rfc3339(f.ExpiresAt), IP: f.IP, AMR: nonNil(f.AMR)}
}

// lastUsed is when the family last got tokens: its last refresh, or its
// start.
func lastUsed(f token.Family) time.Time {
	if f.RotatedAt.IsZero() {
		return f.CreatedAt
	}
	return f.RotatedAt
}

// grantRow is one such family on /account.
type grantRow struct {
	ID                    string
	ClientID              string
	Started, LastUsed     string
	StartedAt, LastUsedAt stamp
	IP                    string
}

func grantRowOf(f token.Family, now time.Time) grantRow {
	return grantRow{ID: f.ID, ClientID: f.ClientID, Started: relativeTime(f.CreatedAt, now), StartedAt: exactTime(f.CreatedAt),
		LastUsed: relativeTime(lastUsed(f), now), LastUsedAt: exactTime(lastUsed(f)), IP: f.IP}
}

// standaloneGrants lists the user's grants that none of recs (the live
// sessions) holds. A failure is an error: the caller must not show an
// incomplete list of who can act for the user as if it were complete.
func (s *server) standaloneGrants(r *http.Request, userID string, recs []session.Record) ([]token.Family, error) {
	if s.Apps == nil {
		return nil, nil
	}
	live := make([]string, 0, len(recs))
	for _, rec := range recs {
		live = append(live, rec.ID)
	}
	return s.Apps.StandaloneGrants(r.Context(), userID, live)
}

// handleRevokeGrant ends one of the caller's grants (refresh family): its
// refresh tokens stop at once and its access tokens on every instance (the
// revocation feed). Another user's grant is 404, exactly like an unknown one.
// token.Grants audits the revocation.
func (s *server) handleRevokeGrant() http.Handler {
	return s.ownAppAction("id", func(ctx context.Context, userID, id string) error {
		return s.Apps.RevokeUserGrant(ctx, userID, id)
	})
}

// ownAppAction runs act for the session's user on one of their apps or
// grants, named by the path value key (404 when no apps are configured),
// and ends as the /account forms do.
func (s *server) ownAppAction(key string, act func(ctx context.Context, userID, id string) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _, err := s.currentSession(r)
		if err != nil {
			s.accountError(w, r, err)
			return
		}
		if s.Apps == nil {
			s.writeError(w, r, auth.ErrNotFound)
			return
		}
		// No client ID or grant is named with NUL or bytes that are not
		// UTF-8, and PostgreSQL refuses such text (400): not found, as on
		// every store.
		id := r.PathValue(key)
		if !auth.StorableText(id) {
			s.writeError(w, r, auth.ErrNotFound)
			return
		}
		// The events of act (token.revoked) name the user, not only its ID.
		if err := act(audit.WithUser(r.Context(), p.Subject, p.Username), p.Subject, id); err != nil {
			s.writeError(w, r, err)
			return
		}
		doneOnAccount(w, r)
	})
}
