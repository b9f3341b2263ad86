package oidc

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/httperr"
	"github.com/gatehouse-auth/gatehouse/internal/user"
)

// maxProviderErrorLen bounds the provider's error code shown and audited.
const maxProviderErrorLen = 64

// maxLoggedErrorLen bounds the cause a failed login or back-channel
// logout logs: a provider's error can carry its answer (go-oidc puts the
// body of a failed discovery or key fetch into its error).
const maxLoggedErrorLen = 1024

// maxAuditNameLen bounds a provider name from the URL as audited and
// logged: configured names have at most 64 characters (config check).
const maxAuditNameLen = 64

// printable returns s, which came from the URL, as it may be audited,
// logged and shown: audit.Printable (invalid UTF-8, control, format and
// separator characters as U+FFFD, at most limit bytes at a character
// boundary), "…" marking a cut.
func printable(s string, limit int) string {
	s, cut := audit.Printable(s, limit)
	if cut {
		s += "…"
	}
	return s
}

// failure is why a login stopped. reason is a stable identifier for audit
// and logs; message is for the user; err is the internal cause, logged and
// never shown.
type failure struct {
	status  int
	reason  string
	title   string
	message string
	code    string // the provider's error parameter, shown escaped
	// account is the subject of an account no local user has, shown
	// (escaped, never audited) so that the person can give it to an
	// administrator, who can link it (`gatehouse user link`).
	account string
	err     error
	user    auth.User
}

func badRequest(reason, msg string) *failure {
	return &failure{status: http.StatusBadRequest, reason: reason, title: "Sign-in failed", message: msg}
}

func forbidden(reason, msg string) *failure {
	return &failure{status: http.StatusForbidden, reason: reason, title: "Sign-in not allowed", message: msg}
}

func notFound() *failure {
	return &failure{status: http.StatusNotFound, reason: "unknown_provider", title: "Unknown sign-in provider",
		message: "This sign-in provider is not configured."}
}

func disabledFailure(u auth.User) *failure {
	f := forbidden("user_disabled", "Your account is disabled.")
	f.user = u
	return f
}

// revokedFailure: the user was disabled, deleted or signed out everywhere
// while the callback ran (Deps.StartSession); refused as a disabled user
// is, without saying which.
func revokedFailure(err error) *failure {
	f := forbidden("user_revoked", "Your account was disabled or signed out everywhere while you were signing in.")
	f.err = err
	return f
}

// providerError is the provider's own refusal: access_denied (the user or
// the provider said no) is 403, anything else 400.
func providerError(code string) *failure {
	code = printable(code, maxProviderErrorLen)
	f := badRequest("provider_error", "The sign-in provider reported an error.")
	if code == "access_denied" {
		f = forbidden("provider_error", "The sign-in provider denied access.")
	}
	f.code = code
	return f
}

// badGateway: the provider answered, but not usefully.
func badGateway(reason string, err error) *failure {
	return &failure{status: http.StatusBadGateway, reason: reason, title: "Sign-in provider error",
		message: "The sign-in provider gave an unusable answer. Please try again later.", err: err}
}

// sessionTooLarge: the provider's sid and sub are too long to carry to the
// second step (Deps.SecondStep, ErrSessionTooLarge).
func sessionTooLarge(err error) *failure {
	f := badGateway("provider_session_too_large", err)
	f.message = "The sign-in provider's session identifiers are too long to continue with your second factor. Please tell your administrator."
	return f
}

// identifierInvalid: the provider sent a sub or sid gatehouse cannot store
// (checkIdentifiers); trying again does not help.
func identifierInvalid(reason string, err error) *failure {
	f := badGateway(reason, err)
	f.message = "The sign-in provider sent an identifier that gatehouse cannot accept. Please tell your administrator."
	return f
}

// unavailable: the provider could not be reached (discovery failed).
func unavailable(err error) *failure {
	return unreachable("provider_unavailable", err)
}

// unreachable: a provider endpoint gave no answer at all (the connection
// refused, no answer in time): the page says it cannot be reached, not
// that its answer was unusable.
func unreachable(reason string, err error) *failure {
	f := badGateway(reason, err)
	f.message = "The sign-in provider cannot be reached right now. Please try again later."
	return f
}

// storeFailure: gatehouse's own store failed; 503 when it did not answer
// (fail closed), 500 otherwise.
func storeFailure(err error) *failure {
	if httperr.Unavailable(err) {
		return &failure{status: httperr.Of(err).Status, reason: "store_unavailable", title: "Temporarily unavailable",
			message: "Sign-in is temporarily unavailable. Please try again shortly.", err: err}
	}
	return internal("internal_error", err)
}

func internal(reason string, err error) *failure {
	return &failure{status: http.StatusInternalServerError, reason: reason, title: "Sign-in failed",
		message: "Something went wrong on our side. Please try again.", err: err}
}

// fail audits f, logs it and renders the error page. No session exists at
// this point; the page holds no token, code or internal error.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, providerName string, f *failure) {
	_, known := h.providers[providerName]
	// An unknown provider's name is whatever the URL held.
	providerName = printable(providerName, maxAuditNameLen)
	details := map[string]string{"provider": providerName, "reason": f.reason}
	if f.code != "" {
		details["error"] = f.code
	}
	h.auditFailure(r.Context(), known, f.user, details)
	attrs := []any{"request_id", requestID(r.Context()), "provider", providerName, "reason", f.reason, "status", f.status}
	if f.err != nil {
		attrs = append(attrs, "error", printable(f.err.Error(), maxLoggedErrorLen))
	}
	level := slog.LevelWarn
	if f.status >= 500 {
		level = slog.LevelError
	}
	h.log.Log(r.Context(), level, "oidc login failed", attrs...)
	renderError(w, f)
}

// requestID is the ID of ctx's request (audit.Request, set by httpapi's
// middleware), which the log lines of failures carry as their audit
// events do; "" outside it.
func requestID(ctx context.Context) string {
	req, _ := audit.RequestFrom(ctx)
	return req.ID
}

// auditFailure records an oidc.failed event with details (provider,
// reason, …). One about a user (u) is recorded every time: it is that
// account's trail. One about no user is what any client can cause at no
// cost — a start at a provider that does not exist, a forged callback, a
// garbage logout token — so it is coalesced (audit.RecordCoalesced: the
// first per key and audit.CoalescePeriod recorded, the others counted into
// the key's next) per reason, provider and client (auth.ClientKey: an IPv6
// client per /64); otherwise a client grew the audit table without bound.
// The provider is part of the key only when it is configured (known): an
// unknown one is whatever the URL held, a fresh key per request.
func (h *Handler) auditFailure(ctx context.Context, known bool, u auth.User, details map[string]string) {
	e := audit.Event{Type: audit.OIDCLoginFailed, UserID: u.ID, Username: u.Username, Details: details}
	if u.ID != "" {
		h.deps.Audit.Record(ctx, e)
		return
	}
	provider := ""
	if known {
		provider = details["provider"]
	}
	req, _ := audit.RequestFrom(ctx)
	h.deps.Audit.RecordCoalesced(ctx, details["reason"]+"\x00"+provider+"\x00"+auth.ClientKey(req.IP), e)
}

// renderError shows f on gatehouse's one HTML error page, with the same
// security headers (and Content-Security-Policy) as every other page.
func renderError(w http.ResponseWriter, f *failure) {
	p := httperr.Page{Status: f.status, Title: f.title, Message: f.message, CodeLabel: "Provider error", Code: f.code}
	if f.code == "" && f.account != "" {
		p.CodeLabel, p.Code = "Your account's subject at this provider", f.account
	}
	httperr.RenderPage(w, p)
}

// unlinkedAccount refuses a login of ext, an account that no local user
// has and none could be made for (reason, msg), naming its subject for an
// administrator's link. The sub passed checkIdentifiers (at most 255 bytes,
// no control character); printable keeps format characters off the page.
func unlinkedAccount(reason, msg string, ext external) *failure {
	f := forbidden(reason, msg)
	f.account = printable(ext.Subject, user.MaxIdentifierLen)
	return f
}
