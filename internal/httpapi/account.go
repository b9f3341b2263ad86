package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	useragent "github.com/medama-io/go-useragent"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/mfa"
	"github.com/gatehouse-auth/gatehouse/internal/oidc"
	"github.com/gatehouse-auth/gatehouse/internal/session"
	"github.com/gatehouse-auth/gatehouse/internal/user"
)

// sessionRow is one session on /account, for people: relative times (the
// exact UTC time in the title) and a device name instead of the raw
// User-Agent (kept in the title).
type sessionRow struct {
	ID                    string
	Started, LastSeen     string // relative
	StartedAt, LastSeenAt stamp  // exact
	IP                    string
	Device, UserAgent     string
	Method                string
	AMR                   []string
	Current               bool
	Apps                  []string // clients that got tokens in the session
}

func (s *server) sessionRow(r session.Record, current string, now time.Time) sessionRow {
	return sessionRow{
		ID: r.ID, Started: relativeTime(r.CreatedAt, now), StartedAt: exactTime(r.CreatedAt),
		LastSeen: relativeTime(r.LastSeenAt, now), LastSeenAt: exactTime(r.LastSeenAt),
		IP: r.IP, Device: s.devices.name(r.UserAgent), UserAgent: r.UserAgent,
		Method: r.Method, AMR: r.AMR, Current: r.ID == current,
	}
}

// deviceName turns a User-Agent into "Chrome on Linux".
func deviceName(p *useragent.Parser, ua string) string {
	if ua == "" || p == nil {
		return "Unknown device"
	}
	u := p.Parse(ua)
	browser, os := u.GetBrowser(), u.GetOS()
	switch {
	case browser != "" && os != "":
		return browser + " on " + os
	case browser != "":
		return browser
	case os != "":
		return "A browser on " + os
	}
	return "Unknown device"
}

// stamp is an exact time on a page: its String is for people (the title
// and text, "2006-01-02 15:04:05 UTC"), Attr the RFC 3339 form that a
// <time datetime> attribute needs.
type stamp struct{ t time.Time }

func exactTime(t time.Time) stamp { return stamp{t.UTC()} }

func (s stamp) String() string {
	if s.t.IsZero() {
		return ""
	}
	return s.t.Format("2006-01-02 15:04:05 MST")
}

// Attr is the valid HTML datetime: RFC 3339 in UTC, whole seconds.
func (s stamp) Attr() string {
	if s.t.IsZero() {
		return ""
	}
	return s.t.Format(time.RFC3339)
}

// IsZero says the time is unknown (a passkey never used).
func (s stamp) IsZero() bool { return s.t.IsZero() }

// relativeTime says how long ago t was, in the largest whole unit.
func relativeTime(t, now time.Time) string {
	d := now.Sub(t)
	if d < 0 {
		d = 0
	}
	unit := func(n int, one string) string {
		if n == 1 {
			return "1 " + one + " ago"
		}
		return fmt.Sprintf("%d %ss ago", n, one)
	}
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return unit(int(d/time.Minute), "minute")
	case d < 24*time.Hour:
		return unit(int(d/time.Hour), "hour")
	default:
		return unit(int(d/(24*time.Hour)), "day")
	}
}

// accountError answers a refused request from a form of /account (or of
// the enrolment pages): a browser whose session ended while the page was
// open (signed out elsewhere, revoked, expired), or is too old to change
// factors, is sent to sign in again and come back to /account, as
// /account itself does, instead of reading the API's JSON error. JSON
// callers keep their 401 and 403.
func (s *server) accountError(w http.ResponseWriter, r *http.Request, err error) {
	if isForm(r) && (errors.Is(err, auth.ErrUnauthenticated) || errors.Is(err, mfa.ErrReauthRequired)) {
		toLogin(w, r, "/account", http.StatusSeeOther)
		return
	}
	s.writeError(w, r, err)
}

// handleChangePassword is POST /auth/password (form from /account, or
// JSON {"current_password","new_password"}): the current password is
// required (and counts in the login throttle), every session and refresh
// token of the user ends, and the caller gets a new session.
func (s *server) handleChangePassword() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Current string `json:"current_password"`
			New     string `json:"new_password"`
		}
		form, err := readBody(r, &in, func(f url.Values) {
			in.Current, in.New = f.Get("current_password"), f.Get("new_password")
		})
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		p, cur, err := s.currentSession(r)
		if err != nil {
			s.accountError(w, r, err)
			return
		}
		if _, err := s.Users.Login(r.Context(), user.Attempt{Username: p.Username, Password: in.Current, IP: clientIP(r), Via: "password_change"}); err != nil {
			if form && errors.Is(err, auth.ErrInvalidCredentials) {
				http.Redirect(w, r, "/account?password=wrong", http.StatusSeeOther)
				return
			}
			s.writeError(w, r, describeInput(err))
			return
		}
		changed, err := s.Users.ChangePassword(r.Context(), p.Username, in.New, cur.ID)
		if err != nil {
			if form && errors.Is(err, auth.ErrInvalidInput) {
				http.Redirect(w, r, "/account?password=weak", http.StatusSeeOther)
				return
			}
			// Say why a new password is refused (too short, easy to
			// guess), as the admin API does; the text never holds it.
			s.writeError(w, r, describeInput(err))
			return
		}
		// ChangePassword ended every session but this one, which the
		// caller keeps working in under a new ID with the same login: its
		// methods and its login time. The password typed again is no new
		// login, or a password-only session past the five minutes would
		// become fresh enough to change factors without the second factor
		// (contract §9), and an OIDC app's max_age would count from the
		// change. A logout everywhere, disable or delete that landed
		// meanwhile ended this session (ReplaceSession then refuses) or is
		// counted on the user after the change's own count (confirmLogin
		// ends the successor): either way the caller is signed out.
		rec, err := s.Sessions.ReplaceSession(w, r, cur)
		err = s.confirmLogin(r, changed, "password_change", err, func(ctx context.Context) error {
			return s.Sessions.RevokeOwned(ctx, changed.ID, rec.ID)
		})
		if errors.Is(err, auth.ErrInvalidCredentials) || errors.Is(err, auth.ErrUnauthenticated) {
			s.Sessions.ClearCookie(w)
			s.accountError(w, r, fmt.Errorf("password changed, but the session was ended meanwhile: %w", auth.ErrUnauthenticated))
			return
		}
		if err == nil && s.OIDC != nil && strings.HasPrefix(cur.Method, "oidc:") {
			// The provider's logout must still end the replacement.
			err = s.OIDC.CarrySession(r.Context(), cur.ID, oidc.StartedSession{ID: rec.ID, ExpiresAt: rec.ExpiresAt})
		}
		if err != nil {
			// The old session is ended; the successor is not to be used.
			s.Sessions.ClearCookie(w)
			s.writeError(w, r, err)
			return
		}
		if form {
			http.Redirect(w, r, "/account?password=changed", http.StatusSeeOther)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}
