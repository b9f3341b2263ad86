package httpapi

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/httperr"
	"github.com/gatehouse-auth/gatehouse/internal/mfa"
	"github.com/gatehouse-auth/gatehouse/internal/session"
	"github.com/gatehouse-auth/gatehouse/internal/user"
)

// credentialJSON is a WebAuthn credential as the API shows it.
type credentialJSON struct {
	ID         string  `json:"id"`
	Name       string  `json:"name"`
	Kind       string  `json:"kind"`
	CreatedAt  string  `json:"created_at"`
	LastUsedAt *string `json:"last_used_at"`
}

func toCredentialJSON(c mfa.Credential) credentialJSON {
	out := credentialJSON{ID: mfa.CredentialID(c.ID), Name: c.Name, Kind: c.Kind, CreatedAt: rfc3339(c.CreatedAt)}
	if !c.LastUsedAt.IsZero() {
		v := rfc3339(c.LastUsedAt)
		out.LastUsedAt = &v
	}
	return out
}

// handleWebAuthnRegisterBegin is POST /auth/webauthn/register/begin: the
// options for navigator.credentials.create. Changing factors needs a
// fresh login or a second factor, as for TOTP; a pending login that must
// enrol (login.require_mfa_roles) may register too.
func (s *server) handleWebAuthnRegisterBegin() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sub, err := s.factorChanger(r, true)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		opts, err := s.Passkeys.BeginRegistration(r.Context(), w, sub.user)
		if err != nil {
			s.writeError(w, r, describePasskeyCap(err))
			return
		}
		writeJSON(w, http.StatusOK, opts)
	})
}

// describePasskeyCap gives a registration refused at mfa.MaxPasskeys its
// error_description (409), so the caller knows to remove a passkey.
func describePasskeyCap(err error) error {
	if errors.Is(err, mfa.ErrTooManyPasskeys) {
		return httperr.Describe(err, mfa.TooManyPasskeysDescription)
	}
	return err
}

// handleWebAuthnRegisterFinish is POST /auth/webauthn/register/finish
// {"name","credential"}: 201 with the stored credential. A pending login
// that had to enrol gets its session now (amr pwd + hwk|swk + mfa), as
// after a TOTP confirmation.
func (s *server) handleWebAuthnRegisterFinish() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Name       string          `json:"name"`
			Credential json.RawMessage `json:"credential"`
		}
		if err := decodeJSON(r, &in); err != nil {
			s.writeError(w, r, err)
			return
		}
		sub, err := s.factorChanger(r, true)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		c, err := s.Passkeys.FinishRegistration(r.Context(), w, r, sub.user, in.Name, in.Credential)
		if err != nil {
			s.writeError(w, r, describePasskeyCap(err))
			return
		}
		s.Audit.Record(r.Context(), audit.Event{Type: audit.MFAEnrolled, UserID: sub.user.ID, Username: sub.user.Username,
			Details: map[string]string{"method": mfa.MethodWebAuthn, "credential": mfa.CredentialID(c.ID), "kind": c.Kind}})
		if sub.pending != nil {
			// The registration was the second step of this login.
			rec, err := s.startLogin(w, r, sub, mfa.MethodWebAuthn, mfa.Combine(sub.amr, []string{c.Kind}))
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			s.Pending.Clear(w)
			s.loginOK(r, sub.user, mfa.MethodWebAuthn, rec, map[string]string{"enrolment": "true", "credential": mfa.CredentialID(c.ID)})
		}
		writeJSON(w, http.StatusCreated, toCredentialJSON(c))
	})
}

// handleWebAuthnList is GET /auth/webauthn: the session user's
// credentials.
func (s *server) handleWebAuthnList() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _, err := s.currentSession(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		cs, err := s.Passkeys.Credentials(r.Context(), p.Subject)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		out := make([]credentialJSON, 0, len(cs))
		for _, c := range cs {
			out = append(out, toCredentialJSON(c))
		}
		writeJSON(w, http.StatusOK, map[string]any{"credentials": out})
	})
}

// handleWebAuthnDelete is DELETE /auth/webauthn/{id} (and POST
// /auth/webauthn/{id}/delete from /account): the user's own credentials
// only; another user's ID is 404, as an unknown one.
func (s *server) handleWebAuthnDelete() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sub, err := s.factorChanger(r, false)
		if err != nil {
			s.accountError(w, r, err)
			return
		}
		id := r.PathValue("id")
		if err := s.Passkeys.Delete(r.Context(), sub.user.ID, id); err != nil {
			s.writeError(w, r, err)
			return
		}
		s.Audit.Record(r.Context(), audit.Event{Type: audit.MFARemoved, UserID: sub.user.ID, Username: sub.user.Username,
			Details: map[string]string{"method": mfa.MethodWebAuthn, "credential": id}})
		doneOnAccount(w, r)
	})
}

// passkeyThrottle is the throttle, and the key in it, of a passkey attempt
// from ip. A second factor of u counts against u's account (Throttle), as
// a wrong code does. A passwordless attempt (u zero), whose user is
// unknown until it succeeds, counts per client (auth.ClientKey, an IPv6
// client per /64) in PasswordlessThrottle, which has no account-wide key:
// failures of strangers cannot lock anyone's account, rotating addresses
// inside one /64 does not reset the count, and wrong passwords from other
// addresses for the name "webauthn@<ip>" (anyone may try any name) cannot
// lock passwordless logins out of that client. A nil Limiter counts nothing.
func (s *server) passkeyThrottle(u auth.User, ip string) (Limiter, string) {
	if u.ID == "" {
		return s.PasswordlessThrottle, "webauthn@" + auth.ClientKey(ip)
	}
	return s.Throttle, user.NameKey(u.Username)
}

// handleWebAuthnLoginBegin is POST /auth/webauthn/login/begin: with a
// pending login (gatehouse_mfa) the second factor of that user (their
// credentials allowed); with a session and {"step_up":true} the second
// factor of the session's user; otherwise (or with {"passwordless":true},
// the login page's) a passwordless login with any discoverable credential.
func (s *server) handleWebAuthnLoginBegin() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			StepUp       bool `json:"step_up"`
			Passwordless bool `json:"passwordless"`
		}
		if r.ContentLength != 0 && isJSON(r) {
			if err := decodeJSON(r, &in); err != nil {
				s.writeError(w, r, err)
				return
			}
		}
		who := auth.User{} // none: passwordless
		if _, err := s.Pending.FromRequest(r); (err == nil || in.StepUp) && !in.Passwordless {
			sub, err := s.subject(r)
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			who = sub.user
		}
		if l, key := s.passkeyThrottle(who, clientIP(r)); l != nil {
			if err := l.Check(r.Context(), key, clientIP(r)); err != nil {
				if errors.Is(err, auth.ErrThrottled) {
					s.loginThrottled(r, who, mfa.MethodWebAuthn, err, false)
				}
				s.writeError(w, r, err)
				return
			}
		}
		opts, err := s.Passkeys.BeginLogin(r.Context(), w, who.ID)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, opts)
	})
}

// handleWebAuthnLoginFinish is POST /auth/webauthn/login/finish
// {"credential"}: the assertion. A second-factor ceremony must still
// belong to the pending login (or session) it began for; success starts a
// new session as the TOTP second step does (amr pwd + hwk|swk + mfa). A
// passwordless ceremony starts a session with amr [hwk|swk, user].
func (s *server) handleWebAuthnLoginFinish() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Credential json.RawMessage `json:"credential"`
		}
		if err := decodeJSON(r, &in); err != nil {
			s.writeError(w, r, err)
			return
		}
		ip := clientIP(r)
		who := auth.User{}
		if sub, err := s.subject(r); err == nil {
			who = sub.user
		}
		if l, key := s.passkeyThrottle(who, ip); l != nil {
			if err := l.Check(r.Context(), key, ip); err != nil {
				if errors.Is(err, auth.ErrThrottled) {
					s.loginThrottled(r, who, mfa.MethodWebAuthn, err, false)
				}
				s.writeError(w, r, err)
				return
			}
		}
		a, err := s.Passkeys.FinishLogin(r.Context(), w, r, in.Credential)
		if err != nil {
			s.webauthnFailed(w, r, a, err)
			return
		}
		var (
			u   auth.User
			amr = a.AMR
			sub stepSubject // the pending login or session a second factor finishes
		)
		if a.Passwordless {
			u, err = s.Users.ByID(r.Context(), a.UserID)
			if errors.Is(err, auth.ErrNotFound) || (err == nil && u.Disabled) {
				err = mfa.ErrInvalidAssertion
			}
		} else {
			// The pending login (or session) must still be the user the
			// ceremony began for: a pending cookie of A does not finish
			// with a ceremony (and passkey) of B.
			sub, err = s.subject(r)
			switch {
			case err == nil && sub.user.ID != a.ForUser:
				err = fmt.Errorf("%w: the ceremony began for another login", mfa.ErrInvalidAssertion)
			case err == nil:
				u, amr = sub.user, mfa.Combine(sub.amr, a.AMR)
			}
		}
		if err != nil {
			s.webauthnFailed(w, r, a, err)
			return
		}
		s.metrics.SecondFactor(mfa.MethodWebAuthn, "success")
		counted := u
		if a.Passwordless {
			counted = auth.User{}
		}
		if l, key := s.passkeyThrottle(counted, ip); l != nil {
			_ = l.Success(r.Context(), key, ip)
		}
		var rec session.Record
		if a.Passwordless {
			rec, err = s.startSession(w, r, u, mfa.MethodWebAuthn, mfa.MethodWebAuthn, amr...)
		} else {
			rec, err = s.startLogin(w, r, sub, mfa.MethodWebAuthn, amr)
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.Pending.Clear(w)
		s.loginOK(r, u, mfa.MethodWebAuthn, rec, map[string]string{"credential": mfa.CredentialID(a.Credential.ID)})
		writeJSON(w, http.StatusOK, map[string]any{
			"user":    toUserJSON(u),
			"session": map[string]any{"expires_at": rfc3339(expiresAt(rec)), "amr": rec.AMR},
		})
	})
}

// webauthnFailed answers a refused assertion: counted in the metrics and
// the login throttle, audited (a clone warning under its own event).
func (s *server) webauthnFailed(w http.ResponseWriter, r *http.Request, a mfa.Assertion, err error) {
	if !errors.Is(err, auth.ErrInvalidCredentials) {
		s.writeError(w, r, err)
		return
	}
	ip := clientIP(r)
	s.metrics.SecondFactor(mfa.MethodWebAuthn, "failure")
	// reason as a code's wrong_code: the assertion, whatever in it failed
	// (signature, challenge, credential), which the answer does not say.
	ev := audit.Event{Type: audit.MFAFailed, UserID: a.UserID, Details: map[string]string{"method": mfa.MethodWebAuthn, "reason": "invalid_assertion"}}
	if errors.Is(err, mfa.ErrCloneWarning) {
		ev.Type = audit.WebAuthnCloneWarning
		delete(ev.Details, "reason")
		ev.Details["credential"] = mfa.CredentialID(a.Credential.ID)
		ev.Details["sign_count_stored"] = fmt.Sprint(a.Credential.SignCount)
	}
	// A second factor counts against the account it is for, as a wrong
	// TOTP code does; a passwordless attempt against the client.
	counted, who := auth.User{}, a.UserID
	if !a.Passwordless {
		who = a.ForUser
	}
	if who != "" {
		ev.UserID = who
		if u, uerr := s.Users.ByID(r.Context(), who); uerr == nil {
			ev.Username = u.Username
			if !a.Passwordless {
				counted = u
			}
		}
	}
	s.Audit.Record(r.Context(), ev)
	if l, key := s.passkeyThrottle(counted, ip); l != nil {
		if terr := l.Failure(r.Context(), key, ip); terr != nil {
			err = terr
		}
	}
	s.writeError(w, r, err)
}

//go:embed static/webauthn.js
var staticFS embed.FS

// webauthnScript is the pages' one script and the URL they load it by:
// the path plus a version taken from its content, which the script's
// handler lets browsers cache for good. A page served after an upgrade
// names the new version, so a browser never runs a cached old script
// against the new page.
var webauthnScript = sync.OnceValue(func() staticFile {
	return readStatic("webauthn.js", "text/javascript; charset=utf-8")
})

// staticFile is an embedded file with what its handler answers.
type staticFile struct {
	name, contentType string
	body              []byte
	version           string // hex of the first 8 bytes of its SHA-256
}

func readStatic(name, contentType string) staticFile {
	body, err := staticFS.ReadFile("static/" + name)
	if err != nil {
		panic(err) // embedded at build time: a missing file is a build bug
	}
	sum := sha256.Sum256(body)
	return staticFile{name: name, contentType: contentType, body: body, version: hex.EncodeToString(sum[:8])}
}

// URL is the path the pages load the file by, its version in the query.
func (f staticFile) URL() string { return "/static/" + f.name + "?v=" + f.version }

// handleStatic serves an embedded static file with its type and an ETag.
// Asked for by its current versioned URL it may be cached for a year
// (immutable); by its bare path or another version, for 5 minutes and
// revalidated by ETag after that.
func handleStatic(f staticFile) http.Handler {
	etag := `"` + f.version + `"`
	versioned := "v=" + f.version
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", f.contentType)
		if r.URL.RawQuery == versioned {
			h.Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			h.Set("Cache-Control", "public, max-age=300")
		}
		h.Set("ETag", etag)
		h.Set("X-Content-Type-Options", "nosniff")
		http.ServeContent(w, r, f.name, time.Time{}, bytes.NewReader(f.body))
	})
}
