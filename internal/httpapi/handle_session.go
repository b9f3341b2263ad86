package httpapi

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/httperr"
	"github.com/gatehouse-auth/gatehouse/internal/mfa"
	"github.com/gatehouse-auth/gatehouse/internal/oidc"
	"github.com/gatehouse-auth/gatehouse/internal/session"
	"github.com/gatehouse-auth/gatehouse/internal/user"
)

type sessionJSON struct {
	ID         string   `json:"id"`
	CreatedAt  string   `json:"created_at"`
	LastSeenAt string   `json:"last_seen_at"`
	ExpiresAt  string   `json:"expires_at"`
	IP         string   `json:"ip"`
	UserAgent  string   `json:"user_agent"`
	Method     string   `json:"method,omitempty"`
	AMR        []string `json:"amr"`
	Current    bool     `json:"current"`
	// Apps are the clients that got tokens in this session; ending the
	// session revokes them (contract §8).
	Apps []string `json:"apps"`
}

// expiresAt is when the session ends if nothing happens: the earlier of
// its idle and absolute expiry.
func expiresAt(r session.Record) time.Time {
	if r.IdleExpiresAt.Before(r.ExpiresAt) {
		return r.IdleExpiresAt
	}
	return r.ExpiresAt
}

func toSessionJSON(r session.Record, current string) sessionJSON {
	return sessionJSON{
		ID: r.ID, CreatedAt: rfc3339(r.CreatedAt), LastSeenAt: rfc3339(r.LastSeenAt),
		ExpiresAt: rfc3339(expiresAt(r)), IP: r.IP, UserAgent: r.UserAgent, Method: r.Method, AMR: sessionAMR(r),
		Current: r.ID == current, Apps: []string{},
	}
}

// handleLogin: form (303 to next / back to /login?error=1) or JSON (200 /
// 401). A new session ID at every login; a session the browser already had
// is ended, so no cookie is ever adopted (fixation).
func (s *server) handleLogin() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var creds struct {
			Username string `json:"username"`
			Password string `json:"password"`
		}
		next := "/"
		// Shed before reading the body (passwords.max_per_client, a full
		// hashing queue): a refused form gets its page back with next.
		release, err := s.Users.AdmitLogin(r.Context(), clientIP(r))
		if err != nil {
			form := !isJSON(r)
			if form && r.ParseForm() == nil {
				next = oidc.SafeNextOn(r.PostForm.Get("next"), s.ServesHost)
			}
			s.loginFailed(w, r, err, form, next)
			return
		}
		defer release()
		form, err := readBody(r, &creds, func(f url.Values) {
			creds.Username, creds.Password = f.Get("username"), f.Get("password")
			next = oidc.SafeNextOn(f.Get("next"), s.ServesHost)
		})
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		via := "json"
		if form {
			via = "form"
		}
		var step mfa.Step
		u, err := s.Users.Login(r.Context(), user.Attempt{
			Username: creds.Username, Password: creds.Password, IP: clientIP(r), Via: via,
			SecondStep: s.loginStep(&step),
		})
		if err != nil {
			s.loginFailed(w, r, err, form, next)
			return
		}
		if pending, err := s.secondStep(w, r, u, step, form, next); pending || err != nil {
			if err != nil {
				s.writeError(w, r, err)
			}
			return
		}
		rec, err := s.startSession(w, r, u, via, "password", mfa.AMRPassword)
		if err != nil {
			s.loginFailed(w, r, err, form, next)
			return
		}
		if s.Pending != nil {
			s.Pending.ClearSent(w, r)
		}
		if form {
			http.Redirect(w, r, next, http.StatusSeeOther)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"user":    toUserJSON(u),
			"session": map[string]string{"expires_at": rfc3339(expiresAt(rec))},
		})
	})
}

// confirmLogin ends a login once it wrote its session or refresh family
// (written is the write's error): user.Service.ConfirmLogin, with u the
// user as the login's step read it. When a disable, delete or logout
// everywhere landed since, end has ended what was written and the login
// fails as a disabled user's does.
func (s *server) confirmLogin(r *http.Request, u auth.User, via string, written error, end func(context.Context) error) error {
	return s.Users.ConfirmLogin(r.Context(), u, clientIP(r), via, written, end)
}

// startSession is the session write of every login on this server (a
// password, a second step, a passkey): StartSession for u, the user as the
// login's step read it, then confirmLogin. On an error the browser keeps
// no session cookie.
func (s *server) startSession(w http.ResponseWriter, r *http.Request, u auth.User, via, method string, amr ...string) (session.Record, error) {
	rec, err := s.Sessions.StartSession(w, r, u.ID, method, amr...)
	err = s.confirmLogin(r, u, via, err, func(ctx context.Context) error { return s.Sessions.RevokeOwned(ctx, u.ID, rec.ID) })
	if err != nil {
		s.Sessions.ClearCookie(w) // after the new session's Set-Cookie
		return session.Record{}, err
	}
	return rec, nil
}

func (s *server) loginFailed(w http.ResponseWriter, r *http.Request, err error, form bool, next string) {
	switch {
	case errors.Is(err, auth.ErrInvalidCredentials):
		s.countLoginFailure("invalid_credentials")
		if form {
			http.Redirect(w, r, "/login?error=1&next="+url.QueryEscape(next), http.StatusSeeOther)
			return
		}
	case errors.Is(err, auth.ErrThrottled):
		s.countLoginFailure("throttled")
		if form {
			httperr.SetRetryAfter(w.Header(), err)
			p := s.loginPage(r, next)
			p.Throttled = true
			s.pages.render(w, httperr.Of(err).Status, "login", p) // 429: httperr maps the sentinel
			return
		}
	case errors.Is(err, auth.ErrOverloaded):
		// Shed before any password check (passwords.max_wait): the form
		// gets its page back, 503, with a message to retry.
		s.countLoginFailure("overloaded")
		if form {
			httperr.SetRetryAfter(w.Header(), err)
			p := s.loginPage(r, next)
			p.Busy = true
			s.pages.render(w, httperr.Of(err).Status, "login", p) // 503
			return
		}
	}
	s.writeError(w, r, describeInput(err))
}

func (s *server) countLoginFailure(reason string) {
	if s.metrics != nil {
		s.metrics.LoginFailures.WithLabelValues(reason).Inc()
	}
}

// sessionAMR is the session's amr for the JSON answers; sessions from
// before amr was recorded were password or OIDC logins.
func sessionAMR(r session.Record) []string {
	if len(r.AMR) > 0 {
		return r.AMR
	}
	return []string{}
}

// currentSession authenticates the request's cookie.
func (s *server) currentSession(r *http.Request) (auth.Principal, session.Record, error) {
	return s.Sessions.Authenticate(r)
}

func (s *server) handleSession() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, rec, err := s.currentSession(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"user":    userJSON{ID: p.Subject, Username: p.Username, Roles: nonNil(p.Roles)},
			"session": toSessionJSON(rec, rec.ID),
		})
	})
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// handleLogout ends the session server-side and clears the cookie; 204 for
// API clients, 303 to /login for forms. It answers the same when there was
// no session. A request carrying the session cookie more than once ends
// every live session those cookies name (session.Service.AuthenticateAll):
// it authenticates as none, yet its user must not be told they signed out
// while a session of theirs lives on. A login the browser left at its
// second step ends too (endPendingLogin).
func (s *server) handleLogout() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		live, err := s.Sessions.AuthenticateAll(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		for _, l := range live {
			if err := s.Sessions.RevokeOwned(r.Context(), l.Principal.Subject, l.Record.ID); err != nil && !errors.Is(err, auth.ErrNotFound) {
				s.writeError(w, r, err)
				return
			}
			s.record(r, audit.Logout, l.Principal)
		}
		if err := s.endPendingLogin(w, r); err != nil {
			s.writeError(w, r, err)
			return
		}
		s.Sessions.ClearCookie(w)
		// The browser also drops every cookie of this origin, including
		// ones planted under another path or name (W3C Clear Site Data).
		w.Header().Set("Clear-Site-Data", `"cookies"`)
		if isForm(r) || httperr.WantsHTML(r) {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// endPendingLogin ends the login that r's browser left at its second step
// (the gatehouse_mfa cookie), as a sign-out in that browser must: the
// cookie is cleared, and ended on every instance (mfa.Service.EndPending),
// so neither the browser nor a copy of the cookie finishes that login
// after the sign-out. Browsers that honour the response's Clear-Site-Data
// drop the cookie anyway; other clients, and copies, did not.
func (s *server) endPendingLogin(w http.ResponseWriter, r *http.Request) error {
	if s.Pending == nil || s.MFA == nil {
		return nil
	}
	if p, err := s.Pending.FromRequest(r); err == nil {
		if err := s.MFA.EndPending(r.Context(), p); err != nil && !errors.Is(err, mfa.ErrPendingEnded) {
			return err
		}
	}
	s.Pending.ClearSent(w, r)
	return nil
}

func (s *server) handleListSessions() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, cur, err := s.currentSession(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		recs, err := s.Sessions.List(r.Context(), p.Subject)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		apps := s.sessionApps(r, p.Subject)
		out := make([]sessionJSON, 0, len(recs))
		for _, rec := range recs {
			sj := toSessionJSON(rec, cur.ID)
			sj.Apps = nonNil(apps[rec.ID])
			out = append(out, sj)
		}
		fams, err := s.standaloneGrants(r, p.Subject, recs)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		grants := make([]grantJSON, 0, len(fams))
		for _, f := range fams {
			grants = append(grants, toGrantJSON(f))
		}
		writeJSON(w, http.StatusOK, map[string]any{"sessions": out, "grants": grants})
	})
}

// handleRevokeSession ends one of the caller's sessions; another user's
// session ID is 404, exactly like an unknown one.
func (s *server) handleRevokeSession() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, cur, err := s.currentSession(r)
		if err != nil {
			s.accountError(w, r, err)
			return
		}
		id := r.PathValue("id")
		if err := s.Sessions.RevokeOwned(r.Context(), p.Subject, id); err != nil {
			s.writeError(w, r, err)
			return
		}
		// Which session, as the admin API records it: the trail of an
		// intruder's eviction names the session it ended.
		s.record(r, audit.SessionRevoked, p, "session", id)
		if id == cur.ID {
			s.Sessions.ClearCookie(w)
		}
		doneOnAccount(w, r)
	})
}

func (s *server) handleRevokeOtherSessions() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, cur, err := s.currentSession(r)
		if err != nil {
			s.accountError(w, r, err)
			return
		}
		// Counted first, as user.Service.RevokeAll counts: the user's
		// pending logins end with the sessions, and so does a login that
		// read the user before and writes its session after them.
		counted := s.Users.CountRevocation(r.Context(), p.Subject)
		n, err := s.Sessions.RevokeOthers(r.Context(), p.Subject, cur.ID)
		if err := errors.Join(counted, err); err != nil {
			s.writeError(w, r, err)
			return
		}
		s.record(r, audit.SessionRevoked, p, "sessions", "others", "count", strconv.Itoa(n))
		doneOnAccount(w, r)
	})
}

// sessionApps maps the user's sessions to the apps holding tokens from
// them; decoration, so a failure leaves the lists empty.
func (s *server) sessionApps(r *http.Request, userID string) map[string][]string {
	if s.Apps == nil {
		return nil
	}
	apps, err := s.Apps.SessionApps(r.Context(), userID)
	if err != nil {
		s.log.WarnContext(r.Context(), "list session apps", "request_id", requestID(r.Context()), "error", err.Error())
	}
	return apps
}

// handleWithdrawConsent forgets the caller's consent to one app and
// revokes that app's tokens (the "apps with access" form on /account).
func (s *server) handleWithdrawConsent() http.Handler {
	return s.ownAppAction("client", func(ctx context.Context, userID, clientID string) error {
		return s.Apps.WithdrawConsent(ctx, userID, clientID)
	})
}
