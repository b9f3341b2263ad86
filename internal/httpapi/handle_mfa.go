package httpapi

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/httperr"
	"github.com/gatehouse-auth/gatehouse/internal/mfa"
	"github.com/gatehouse-auth/gatehouse/internal/oidc"
	"github.com/gatehouse-auth/gatehouse/internal/session"
	"github.com/gatehouse-auth/gatehouse/internal/user"
)

// SecondFactorThrottle counts wrong second-factor codes and passkeys in
// the login throttle (throttle.Limiter with throttle.ForSecondFactor), so
// guessing a TOTP code is as slow as guessing a password, and a right
// password does not clear the wrong codes.
type SecondFactorThrottle interface {
	Check(ctx context.Context, userKey, ip string) error
	Failure(ctx context.Context, userKey, ip string) error
	Success(ctx context.Context, userKey, ip string) error
	// Attempt counts an attempt as a failure before its code is checked
	// and returns settle, which ends it with the check's outcome;
	// *auth.ThrottledError when the throttle refuses it (see
	// throttle.Limiter.Attempt).
	Attempt(ctx context.Context, userKey, ip string) (settle func(ctx context.Context, checked error) error, err error)
}

// codeAttempt counts a second-factor code of key from ip in the login
// throttle before the code is checked, and returns settle, to be called
// with the check's error. Counting first makes the check and the count
// one step: with a check before the code and a failure recorded after it,
// codes sent at once all passed the check before any was counted, and
// max_failures did not bound the guesses (contract §9: wrong codes count
// in the login throttle of §3). The throttle settles it as it does a
// password: a wrong code stays counted, a right one is taken back. A right
// password does not clear wrong codes (throttle.ForSecondFactor).
func (s *server) codeAttempt(ctx context.Context, key, ip string) (settle func(error), err error) {
	if s.Throttle == nil {
		return func(error) {}, nil
	}
	end, err := s.Throttle.Attempt(ctx, key, ip)
	if err != nil {
		return nil, err
	}
	return func(checked error) {
		// A client that hung up must not leave its attempt counted.
		_ = end(context.WithoutCancel(ctx), checked)
	}, nil
}

// amrPassword is the amr of a password login without a second factor.
var amrPassword = []string{mfa.AMRPassword}

// secondStep runs after a correct password. For a user with a second
// factor (or one who must enrol, login.require_mfa_roles) it answers with
// the pending cookie instead of a session and returns true; otherwise it
// returns false and the caller starts the session.
func (s *server) secondStep(w http.ResponseWriter, r *http.Request, u auth.User, step mfa.Step, form bool, next string) (bool, error) {
	if !step.Required {
		return false, nil
	}
	if err := s.Pending.Set(w, u, amrPassword, next, step.Enrol); err != nil {
		return false, err
	}
	if form {
		http.Redirect(w, r, "/login/mfa?next="+url.QueryEscape(next), http.StatusSeeOther)
		return true, nil
	}
	body := map[string]any{"mfa_required": true, "methods": nonNil(step.Methods)}
	if step.Enrol {
		body["enrolment_required"] = true
	}
	writeJSON(w, http.StatusOK, body)
	return true, nil
}

// loginStep is the user.Attempt.SecondStep of a password login: it asks
// what the login needs after the password (mfa.Service.LoginStep) and
// keeps the answer in step for the caller. nil without MFA.
func (s *server) loginStep(step *mfa.Step) func(context.Context, auth.User) (bool, error) {
	if s.MFA == nil {
		return nil
	}
	return func(ctx context.Context, u auth.User) (bool, error) {
		var err error
		*step, err = s.MFA.LoginStep(ctx, u, s.Settings.RequireMFARoles)
		return step.Required, err
	}
}

// stepSubject is who a second step or an enrolment is for: the user of a
// pending login (after the password step), or of the current session
// (step-up, factor changes).
type stepSubject struct {
	user    auth.User
	amr     []string // methods already passed
	pending *mfa.Pending
	session *session.Record
}

// subject finds the user of the request's pending login, else of its
// session. A pending cookie is only honoured while it belongs to the
// user's current password and no revocation of the user (a sign-out
// everywhere, a disable) was counted since its first factor (mfa.Pending.
// Bound); it never authenticates anything else.
func (s *server) subject(r *http.Request) (stepSubject, error) {
	if sub, ok, err := s.pendingSubject(r); ok {
		return sub, err
	}
	return s.sessionSubject(r)
}

// pendingSubject is the user of the request's pending login; ok is false
// when the request carries no readable pending cookie.
func (s *server) pendingSubject(r *http.Request) (sub stepSubject, ok bool, err error) {
	p, err := s.Pending.FromRequest(r)
	if err != nil {
		return stepSubject{}, false, nil
	}
	u, err := s.Users.ByID(r.Context(), p.UserID)
	switch {
	case errors.Is(err, auth.ErrNotFound):
		return stepSubject{}, true, auth.ErrUnauthenticated
	case err != nil:
		return stepSubject{}, true, err
	case u.Disabled || !p.Bound(u):
		return stepSubject{}, true, auth.ErrUnauthenticated
	}
	return stepSubject{user: u, amr: p.AMR, pending: &p}, true, nil
}

// sessionSubject is the user of the request's session, whatever pending
// cookie the request carries.
func (s *server) sessionSubject(r *http.Request) (stepSubject, error) {
	p, rec, err := s.currentSession(r)
	if err != nil {
		return stepSubject{}, err
	}
	u, err := s.Users.ByID(r.Context(), p.Subject)
	if err != nil {
		if errors.Is(err, auth.ErrNotFound) {
			return stepSubject{}, auth.ErrUnauthenticated
		}
		return stepSubject{}, err
	}
	return stepSubject{user: u, amr: firstFactorAMR(rec), session: &rec}, nil
}

// firstFactorAMR is what a session's login passed, for a step-up: its amr,
// or for sessions that recorded none, ext (OIDC) or pwd.
func firstFactorAMR(rec session.Record) []string {
	if len(rec.AMR) > 0 {
		return rec.AMR
	}
	if strings.HasPrefix(rec.Method, "oidc:") {
		return []string{mfa.AMRExternal}
	}
	return amrPassword
}

// method is the session method the new session keeps: the pending login's
// first factor (a password, "oidc:<provider>") or the stepped-up session's.
func (sub stepSubject) method() string {
	switch {
	case sub.pending != nil && sub.pending.Method != "":
		return sub.pending.Method
	case sub.session != nil && sub.session.Method != "":
		return sub.session.Method
	}
	return "password"
}

// startLogin starts the session a second step (via: its method) earns
// sub with amr. sub.user is the user as the step read it (subject), so a
// disable, delete or logout everywhere since then fails the step and
// leaves no session (one since the first factor already failed subject).
// A pending login (sub.pending: the password or the OIDC login just
// before) is a new login through startSession, which ends any session
// the browser had, with its apps' grants; when it finishes a pending OIDC
// login, the session is linked to the provider's session through
// oidc.Handler.LinkSession, as a login without a second step is, so the
// provider's back-channel logout ends it. A link that cannot be stored
// ends the session (fail closed). A pending login earns one session: it
// is ended (mfa.Service.EndPending) before the session is written, so a
// copy of its cookie, or a second step sent beside this one, gets
// mfa.ErrPendingEnded (401, audited login.failed), whatever factor it
// passed. A step-up of the request's session (sub.session) is stepUp.
// Every second step goes through here: TOTP, recovery code, passkey, and
// the enrolment a login required.
func (s *server) startLogin(w http.ResponseWriter, r *http.Request, sub stepSubject, via string, amr []string) (session.Record, error) {
	if sub.pending == nil && sub.session != nil {
		return s.stepUp(w, r, sub, via, amr)
	}
	if err := s.MFA.EndPending(r.Context(), *sub.pending); err != nil {
		if errors.Is(err, mfa.ErrPendingEnded) {
			s.Pending.Clear(w)
			s.Audit.Record(r.Context(), audit.Event{Type: audit.LoginFailed, UserID: sub.user.ID, Username: sub.user.Username,
				Details: map[string]string{"method": via, "reason": "pending_login_ended"}})
		}
		return session.Record{}, err
	}
	rec, err := s.startSession(w, r, sub.user, via, sub.method(), amr...)
	if err != nil {
		return session.Record{}, err
	}
	if s.OIDC == nil || sub.pending == nil || sub.pending.Provider == "" {
		return rec, nil
	}
	p := sub.pending
	ps := oidc.ProviderSession{Provider: p.Provider, SID: p.ProviderSID, Subject: p.ProviderSubject}
	if err := s.OIDC.LinkSession(r.Context(), ps, sub.user.ID, oidc.StartedSession{ID: rec.ID, ExpiresAt: rec.ExpiresAt}); err != nil {
		s.Sessions.ClearCookie(w)
		return session.Record{}, err
	}
	return rec, nil
}

// stepUp gives the request's session, whose user just passed a second
// factor in it, a successor: a new ID (fixation), the combined amr, a new
// login time (session.Manager.StepUpSession). The same person proved
// more, so what belongs to the signed-in browser rather than to the
// session ID goes along before the old session ends: an OIDC session's
// provider link (oidc.Handler.CarrySession: the provider's back-channel
// logout still ends it) and the grants of the apps authorised in it
// (authserver.Server.SessionSucceeded: they keep their refresh tokens and
// get no back-channel logout). A session end racing the step-up signs the
// caller out and ends what was carried with the successor.
func (s *server) stepUp(w http.ResponseWriter, r *http.Request, sub stepSubject, via string, amr []string) (session.Record, error) {
	old := *sub.session
	old.Method = sub.method()
	rec, err := s.Sessions.StepUpSession(w, r, old, amr, func(ctx context.Context, next session.Record) error {
		if s.OIDC != nil && strings.HasPrefix(old.Method, "oidc:") {
			if err := s.OIDC.CarrySession(ctx, old.ID, oidc.StartedSession{ID: next.ID, ExpiresAt: next.ExpiresAt}); err != nil {
				return err
			}
		}
		if s.Apps != nil {
			return s.Apps.SessionSucceeded(ctx, sub.user.ID, old.ID, next.ID)
		}
		return nil
	})
	written := err == nil
	err = s.confirmLogin(r, sub.user, via, err, func(ctx context.Context) error { return s.Sessions.RevokeOwned(ctx, sub.user.ID, rec.ID) })
	if err != nil {
		// Without a successor no cookie was set: old is ended, or (the
		// successor could not be written) still the browser's.
		if written {
			s.Sessions.ClearCookie(w) // after the successor's Set-Cookie
		}
		return session.Record{}, err
	}
	return rec, nil
}

// safeNext is a next URL the MFA flow may send the browser to: a path, or
// an absolute URL on a host a gateway route names (oidc.SafeNextOn).
func (s *server) safeNext(next string) string { return oidc.SafeNextOn(next, s.ServesHost) }

// handleLoginMFA is POST /auth/login/mfa: the second step of a login
// (pending cookie) or a step-up (session). Success starts a new session,
// as a password login does, with the combined amr.
func (s *server) handleLoginMFA() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The same admission as a password (passwords.max_per_client, a
		// full hashing queue): one client cannot have more second steps
		// in flight than password steps.
		release, err := s.Users.AdmitLogin(r.Context(), clientIP(r))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		defer release()
		var in struct {
			Method string `json:"method"`
			Code   string `json:"code"`
		}
		next := "/"
		form, err := readBody(r, &in, func(f url.Values) {
			in.Method, in.Code = f.Get("method"), f.Get("code")
			next = s.safeNext(f.Get("next"))
		})
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if in.Method == "" {
			in.Method = mfa.MethodTOTP
		}
		sub, err := s.subject(r)
		if err != nil {
			if form && !httperr.Unavailable(err) {
				toLogin(w, r, next, http.StatusSeeOther)
				return
			}
			s.writeError(w, r, err)
			return
		}
		if sub.pending != nil && form && r.PostForm.Get("next") == "" {
			next = s.safeNext(sub.pending.Next)
		}
		settle, err := s.codeAttempt(r.Context(), user.NameKey(sub.user.Username), clientIP(r))
		if err != nil {
			if errors.Is(err, auth.ErrThrottled) {
				s.loginThrottled(r, sub.user, in.Method, err, false)
			}
			s.mfaFailed(w, r, err, form, next)
			return
		}
		amr, err := s.MFA.Verify(r.Context(), sub.user.ID, in.Method, in.Code)
		settle(err)
		if errors.Is(err, auth.ErrInvalidInput) && in.Method != mfa.MethodTOTP && in.Method != mfa.MethodRecovery {
			err = s.methodRefusal(r.Context(), sub.user.ID)
		}
		if err != nil {
			if errors.Is(err, auth.ErrInvalidCredentials) {
				// The same reason as at the confirmation. A replayed TOTP
				// code is wrong_code too: mfa.ErrInvalidCode does not tell
				// them apart, so that the answer does not either.
				s.metrics.SecondFactor(in.Method, "failure")
				s.wrongCode(r, sub.user, in.Method, false)
			}
			s.mfaFailed(w, r, err, form, next)
			return
		}
		s.metrics.SecondFactor(in.Method, "success")
		rec, err := s.startLogin(w, r, sub, in.Method, mfa.Combine(sub.amr, amr))
		if err != nil {
			if form && errors.Is(err, mfa.ErrPendingEnded) {
				// As with an expired pending cookie: sign in again.
				toLogin(w, r, next, http.StatusSeeOther)
				return
			}
			s.mfaFailed(w, r, err, form, next)
			return
		}
		s.Pending.Clear(w)
		s.loginOK(r, sub.user, in.Method, rec, nil)
		if form {
			http.Redirect(w, r, next, http.StatusSeeOther)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"user":    toUserJSON(sub.user),
			"session": map[string]any{"expires_at": rfc3339(expiresAt(rec)), "amr": rec.AMR},
		})
	})
}

// methodRefusal is the 400 invalid_request of a second step whose method
// POST /auth/login/mfa does not take. Its error_description names the
// methods of the login's "methods" (mfa.Factors.Methods) that are codes
// sent here, and sends a passkey to the WebAuthn ceremony, which has
// endpoints of its own; it never repeats the method sent, the client's
// text. A store that does not answer is 503.
func (s *server) methodRefusal(ctx context.Context, userID string) error {
	f, err := s.MFA.Factors(ctx, userID)
	if err != nil {
		return fmt.Errorf("second step: list factors: %w", err)
	}
	var codes []string
	passkey := false
	for _, m := range f.Methods() {
		switch m {
		case mfa.MethodTOTP, mfa.MethodRecovery:
			codes = append(codes, strconv.Quote(m))
		case mfa.MethodWebAuthn:
			passkey = s.Passkeys != nil
		}
	}
	const viaPasskey = `a passkey ("webauthn") signs in with POST /auth/webauthn/login/begin and /auth/webauthn/login/finish`
	switch {
	case len(codes) > 0 && passkey:
		return errBody("method must be " + strings.Join(codes, " or ") + "; " + viaPasskey)
	case len(codes) > 0:
		return errBody("method must be " + strings.Join(codes, " or "))
	case passkey:
		return errBody("this login takes no code: " + viaPasskey)
	}
	return errBody(fmt.Sprintf("method must be %q or %q, and the account has no second factor yet: enrol one first", mfa.MethodTOTP, mfa.MethodRecovery))
}

// loginOK records the login.ok of a second step by method that started
// rec for u, with rec's amr (and details): after a code, a passkey, or
// the enrolment that a pending login had to make (details "enrolment"),
// so that every session a second step starts is in the audit trail, not
// only the first factor before it.
func (s *server) loginOK(r *http.Request, u auth.User, method string, rec session.Record, details map[string]string) {
	d := map[string]string{"method": method, "amr": fmt.Sprint(rec.AMR)}
	maps.Copy(d, details)
	s.Audit.Record(r.Context(), audit.Event{Type: audit.LoginOK, UserID: u.ID, Username: u.Username, Details: d})
}

// loginThrottled records a second-factor step of u (method) that the login
// throttle refused (err): the password step records its own (user.Login),
// and the trail shows the refused steps of a login (contract §6), one
// event per throttle key and minute with the count of the refusals in
// between (audit.RecordCoalesced); each refusal counts in
// gatehouse_login_failures_total{reason="throttled"}. method is the
// client's until checked, so only a known one is kept; enrolment marks
// the TOTP confirmation (stepDetails).
func (s *server) loginThrottled(r *http.Request, u auth.User, method string, err error, enrolment bool) {
	switch method {
	case mfa.MethodTOTP, mfa.MethodRecovery, mfa.MethodWebAuthn:
	default:
		method = "unknown"
	}
	s.countLoginFailure("throttled")
	s.Audit.RecordCoalesced(r.Context(), auth.ThrottleKey(err), audit.Event{Type: audit.LoginThrottled, UserID: u.ID, Username: u.Username,
		Details: stepDetails(method, enrolment)})
}

// wrongCode records mfa.failed for a wrong TOTP or recovery code of u
// (reason wrong_code; never the code), at the login's second step or, with
// enrolment, at the TOTP confirmation.
func (s *server) wrongCode(r *http.Request, u auth.User, method string, enrolment bool) {
	d := stepDetails(method, enrolment)
	d["reason"] = "wrong_code"
	s.Audit.Record(r.Context(), audit.Event{Type: audit.MFAFailed, UserID: u.ID, Username: u.Username, Details: d})
}

// stepDetails are the audit details of a second-factor step: its method
// and, at the TOTP confirmation, enrolment=true, which tells it apart
// from the login's second step.
func stepDetails(method string, enrolment bool) map[string]string {
	d := map[string]string{"method": method}
	if enrolment {
		d["enrolment"] = "true"
	}
	return d
}

func (s *server) mfaFailed(w http.ResponseWriter, r *http.Request, err error, form bool, next string) {
	if form && (errors.Is(err, auth.ErrInvalidCredentials) || errors.Is(err, auth.ErrThrottled)) {
		q := "error=1"
		if errors.Is(err, auth.ErrThrottled) {
			q = "throttled=1"
		}
		http.Redirect(w, r, "/login/mfa?"+q+"&next="+url.QueryEscape(next), http.StatusSeeOther)
		return
	}
	s.writeError(w, r, err)
}

// factorChanger authenticates a request that changes factors: a session
// whose login is recent or used a second factor (403 with
// reauthDescription otherwise), or (enrolment only, allowEnrol) a pending
// login that must enrol, which takes precedence over the session.
func (s *server) factorChanger(r *http.Request, allowEnrol bool) (stepSubject, error) {
	// A pending cookie authenticates only its second step and the
	// enrolment its login must make: removing a factor or new recovery
	// codes are always the session's, and so is an enrolment beside a
	// pending login that has a factor to pass (another login begun in a
	// signed-in browser and left at its second step).
	var sub stepSubject
	if allowEnrol {
		p, ok, err := s.pendingSubject(r)
		switch {
		case ok && err == nil && p.pending.Enrol:
			sub = p
		case httperr.Unavailable(err):
			return stepSubject{}, err
		}
	}
	if sub.pending == nil {
		var err error
		if sub, err = s.sessionSubject(r); err != nil {
			return stepSubject{}, err
		}
	}
	switch {
	case sub.pending != nil:
		// The cookie's Enrol was decided at the password step. A factor
		// enrolled since (in another browser) makes this login a second
		// step: the first enrolment is the trusted one, and an older
		// cookie must not add another factor and earn a session with it.
		step, err := s.MFA.LoginStep(r.Context(), sub.user, s.Settings.RequireMFARoles)
		if err != nil {
			return stepSubject{}, err
		}
		if !step.Enrol {
			return stepSubject{}, fmt.Errorf("%w: a second factor was enrolled since this login began; sign in again", auth.ErrUnauthenticated)
		}
	case !mfa.MayChangeFactors(sub.session.AMR, sub.session.CreatedAt, s.now()):
		return stepSubject{}, httperr.Describe(fmt.Errorf("%w: %w", auth.ErrForbidden, mfa.ErrReauthRequired), reauthDescription)
	}
	return sub, nil
}

// reauthDescription is the error_description of a factor change that the
// session is too old for (mfa.MayChangeFactors).
var reauthDescription = fmt.Sprintf("changing second factors needs a login at most %d minutes old or one that used a second factor: sign in again", int(mfa.ReauthWindow/time.Minute))

// handleTOTPEnrol is POST /auth/mfa/totp: a new secret, its otpauth URI
// and QR code; active only after /auth/mfa/totp/confirm.
func (s *server) handleTOTPEnrol() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sub, err := s.factorChanger(r, true)
		if err != nil {
			s.accountError(w, r, err)
			return
		}
		e, err := s.MFA.EnrolTOTP(r.Context(), sub.user)
		switch {
		case errors.Is(err, mfa.ErrNoEncryptionKey):
			// The operator's fix is a config key: say which one in the
			// JSON too, as the form's error page does (docs/mfa.md).
			err = httperr.Describe(err, httperr.InputDetail(err))
		case errors.Is(err, mfa.ErrTOTPActive):
			err = httperr.Describe(err, mfa.TOTPActiveDescription)
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if isForm(r) || httperr.WantsHTML(r) {
			next := s.formNext(r, sub)
			s.pages.render(w, http.StatusOK, "mfa_enrol", mfaEnrolPage{Enrolment: e, Next: next,
				StepUp: sub.session != nil && r.FormValue("next") != "", FormOrigin: s.nextFormTarget(r.Context(), next)})
			return
		}
		writeJSON(w, http.StatusOK, e)
	})
}

// handleTOTPConfirm is POST /auth/mfa/totp/confirm {"code"}: 204 once the
// code is right. A pending login that had to enrol gets its session now.
func (s *server) handleTOTPConfirm() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Code string `json:"code"`
		}
		form, err := readBody(r, &in, func(f url.Values) { in.Code = f.Get("code") })
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		sub, err := s.factorChanger(r, true)
		if err != nil {
			s.accountError(w, r, err)
			return
		}
		settle, err := s.codeAttempt(r.Context(), user.NameKey(sub.user.Username), clientIP(r))
		if err != nil {
			if errors.Is(err, auth.ErrThrottled) {
				// The same login throttle refused it as a second step's
				// code: the same event, coalesced per throttle key.
				s.loginThrottled(r, sub.user, mfa.MethodTOTP, err, true)
			}
			s.confirmFailed(w, r, sub, form, err)
			return
		}
		err = s.MFA.ConfirmTOTP(r.Context(), sub.user.ID, in.Code)
		settle(err)
		if err != nil {
			if errors.Is(err, auth.ErrInvalidCredentials) {
				// A wrong code here is a guess at a code as much as one at
				// /auth/login/mfa: audited alike (not the code, the same
				// reason), with enrolment=true to tell the two apart.
				s.wrongCode(r, sub.user, mfa.MethodTOTP, true)
			}
			s.confirmFailed(w, r, sub, form, err)
			return
		}
		s.Audit.Record(r.Context(), audit.Event{Type: audit.MFAEnrolled, UserID: sub.user.ID, Username: sub.user.Username,
			Details: map[string]string{"method": mfa.MethodTOTP}})
		next := s.formNext(r, sub)
		if form && stepUpEnrolment(r, sub) {
			// The step-up enrolment of /login/mfa: the confirmation proves
			// the new authenticator, not that the account owner (rather
			// than a password thief) added it, so the session stays as it
			// is and the step-up still asks for a code, which must be the
			// app's next one (the confirmation spent this one).
			s.enrolled(w, r, sub.user, "/login/mfa?enrolled=1&next="+url.QueryEscape(next))
			return
		}
		if sub.pending != nil {
			// The enrolment was the second step of this login.
			rec, err := s.startLogin(w, r, sub, mfa.MethodTOTP, mfa.Combine(sub.amr, []string{mfa.AMROTP}))
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			s.Pending.Clear(w)
			s.loginOK(r, sub.user, mfa.MethodTOTP, rec, map[string]string{"enrolment": "true"})
		}
		if form {
			s.enrolled(w, r, sub.user, next)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// enrolled answers a form's TOTP confirmation, whichever page began it
// (/account, the step-up offer of /login/mfa, a login that had to enrol):
// a user without recovery codes gets a set now, shown once on the codes
// page with a link on to next; a TOTP without them is lost with the phone
// (docs/mfa.md). A user who has codes left (beside a passkey) keeps them
// and goes to next. The JSON confirmation stays 204 (contract §9): an API
// client takes its codes with POST /auth/mfa/recovery-codes.
func (s *server) enrolled(w http.ResponseWriter, r *http.Request, u auth.User, next string) {
	f, err := s.MFA.Factors(r.Context(), u.ID)
	if err == nil && f.RecoveryLeft > 0 {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	var codes []string
	if err == nil {
		codes, err = s.newRecoveryCodes(r.Context(), u, map[string]string{"enrolment": "true"})
	}
	if err != nil {
		s.writeError(w, r, fmt.Errorf("recovery codes after enrolment: %w", err))
		return
	}
	s.pages.render(w, http.StatusOK, "mfa_codes", mfaCodesPage{Codes: codes, Next: next})
}

// confirmFailed answers a refused confirmation code. The enrolment form
// gets its page again (401, or 429 when throttled) with the same key,
// which the app has already scanned, and the error, as the code form of
// /login/mfa does; without it the browser was left with a JSON error and
// no key. Only the form of that page gets it (its hidden "enrolment"
// field, mfa.Enrolment.Proof): another login of the user does not read
// the key by sending a wrong code. The API gets its JSON error.
func (s *server) confirmFailed(w http.ResponseWriter, r *http.Request, sub stepSubject, form bool, err error) {
	if errors.Is(err, mfa.ErrNotEnrolled) {
		// Nothing to confirm (none begun, or already on): say so.
		err = httperr.Describe(err, httperr.InputDetail(err))
	}
	wrong, throttled := errors.Is(err, auth.ErrInvalidCredentials), errors.Is(err, auth.ErrThrottled)
	if form && (wrong || throttled) {
		if e, perr := s.MFA.PendingTOTP(r.Context(), sub.user, r.PostFormValue("enrolment")); perr == nil {
			httperr.SetRetryAfter(w.Header(), err)
			next := s.formNext(r, sub)
			s.pages.render(w, httperr.Of(err).Status, "mfa_enrol", mfaEnrolPage{Enrolment: e, Next: next,
				StepUp: stepUpEnrolment(r, sub), Error: wrong, Throttled: throttled, FormOrigin: s.nextFormTarget(r.Context(), next)})
			return
		}
	}
	s.writeError(w, r, err)
}

// stepUpEnrolment says the confirmation comes from an enrolment that the
// step-up offer of /login/mfa started (its form has a next; the page marks
// it step_up), not from /account or the enrolment step of a pending login.
func stepUpEnrolment(r *http.Request, sub stepSubject) bool {
	return sub.session != nil && r.FormValue("step_up") != ""
}

// formNext is where a form goes after enrolment: the pending login's next,
// the form's next, else /account.
func (s *server) formNext(r *http.Request, sub stepSubject) string {
	if v := r.FormValue("next"); v != "" {
		return s.safeNext(v)
	}
	if sub.pending != nil && sub.pending.Next != "" {
		return s.safeNext(sub.pending.Next)
	}
	return "/account"
}

// handleTOTPDelete is DELETE /auth/mfa/totp (and POST
// /auth/mfa/totp/delete from /account).
func (s *server) handleTOTPDelete() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sub, err := s.factorChanger(r, false)
		if err != nil {
			s.accountError(w, r, err)
			return
		}
		if err := s.MFA.DeleteTOTP(r.Context(), sub.user.ID); err != nil {
			s.writeError(w, r, err)
			return
		}
		s.Audit.Record(r.Context(), audit.Event{Type: audit.MFARemoved, UserID: sub.user.ID, Username: sub.user.Username,
			Details: map[string]string{"method": mfa.MethodTOTP}})
		doneOnAccount(w, r)
	})
}

// handleRecoveryCodes is POST /auth/mfa/recovery-codes: a new set of 10,
// shown once, replacing the old set; 409 (mfa.ErrNoFactor) for a user
// without TOTP or passkey.
func (s *server) handleRecoveryCodes() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sub, err := s.factorChanger(r, false)
		if err != nil {
			s.accountError(w, r, err)
			return
		}
		// Recovery codes back up a factor; minted without one they would
		// be a second "factor" that a password alone can create.
		f, err := s.MFA.Factors(r.Context(), sub.user.ID)
		if err == nil && !f.Enrolled() {
			err = httperr.Describe(mfa.ErrNoFactor, mfa.NoFactorDescription)
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		codes, err := s.newRecoveryCodes(r.Context(), sub.user, nil)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if isForm(r) || httperr.WantsHTML(r) {
			s.pages.render(w, http.StatusOK, "mfa_codes", mfaCodesPage{Codes: codes})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"codes": codes})
	})
}

// newRecoveryCodes replaces u's recovery codes with a new set and audits
// it (mfa.recovery_codes, with details: why, e.g. an enrolment).
func (s *server) newRecoveryCodes(ctx context.Context, u auth.User, details map[string]string) ([]string, error) {
	codes, err := s.MFA.NewRecoveryCodes(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	s.Audit.Record(ctx, audit.Event{Type: audit.RecoveryCodes, UserID: u.ID, Username: u.Username, Details: details})
	return codes, nil
}

// handleLoginMFAPage is GET /login/mfa: the second-step form for a pending
// login or a step-up, or the enrolment offer for a user without a factor.
func (s *server) handleLoginMFAPage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		next := s.safeNext(q.Get("next"))
		sub, err := s.subject(r)
		if err != nil {
			if httperr.Unavailable(err) {
				s.writeError(w, r, err)
				return
			}
			toLogin(w, r, next, http.StatusFound)
			return
		}
		if q.Get("next") == "" && sub.pending != nil {
			next = s.safeNext(sub.pending.Next)
		}
		f, err := s.MFA.Factors(r.Context(), sub.user.ID)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		data := mfaLoginPage{Next: next, Error: q.Get("error") != "", Throttled: q.Get("throttled") != "", Enrolled: q.Get("enrolled") != "",
			Methods: f.Methods(), Recovery: slices.Contains(f.Methods(), mfa.MethodRecovery),
			TOTP: f.TOTP, Passkey: len(f.Passkeys) > 0 && s.Passkeys != nil, StepUp: sub.pending == nil,
			FormOrigin: s.nextFormTarget(r.Context(), next)}
		if !f.Enrolled() {
			data.Enrol = sub.pending == nil || sub.pending.Enrol
			data.Reauth = sub.session != nil && !mfa.MayChangeFactors(sub.session.AMR, sub.session.CreatedAt, s.now())
			data.PasskeyEnrol = data.Enrol && !data.Reauth && s.Passkeys != nil
		}
		s.pages.render(w, http.StatusOK, "mfa_login", data)
	})
}
