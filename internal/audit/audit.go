package audit

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Event types (contract section 6).
const (
	LoginOK         = "login.ok"
	LoginFailed     = "login.failed"
	LoginThrottled  = "login.throttled"
	Logout          = "logout"
	SessionRevoked  = "session.revoked"
	TokenIssued     = "token.issued"
	TokenRefreshed  = "token.refreshed"
	TokenRevoked    = "token.revoked"
	RefreshReuse    = "token.refresh_reuse"
	KeyRotated      = "key.rotated"
	UserCreated     = "user.created"
	UserChanged     = "user.changed"
	UserDisabled    = "user.disabled"
	UserEnabled     = "user.enabled"
	UserDeleted     = "user.deleted"
	OIDCLoginFailed = "oidc.failed"
	IdentityLinked  = "oidc.linked"
	MFAEnrolled     = "mfa.enrolled"
	MFARemoved      = "mfa.removed"
	MFAReset        = "mfa.reset"
	MFAFailed       = "mfa.failed"
	RecoveryCodes   = "mfa.recovery_codes"
	ClientCreated   = "client.created"
	ClientDeleted   = "client.deleted"
	ClientSecret    = "client.secret_rotated"
)

// OIDCBackchannelLogout: a login provider's logout token ended sessions.
const OIDCBackchannelLogout = "oidc.backchannel_logout"

// IdentityUnlinked: an administrator removed the link of an external
// account (OIDC, OAuth 2.0) to a user and signed the user out everywhere
// (user.Service.Unlink), or migration 9 removed a second link of one
// issuer and user (reason=duplicate_issuer, via=migration).
const IdentityUnlinked = "oidc.unlinked"

// WebAuthnCloneWarning: a passkey assertion was refused because its
// signature counter did not move forward (a possibly cloned authenticator).
const WebAuthnCloneWarning = "webauthn.clone_warning"

// types is every event type above: the closed set that is recorded, and
// that a filter by type (gatehouse audit --type) may name.
var types = []string{
	LoginOK, LoginFailed, LoginThrottled, Logout, SessionRevoked,
	TokenIssued, TokenRefreshed, TokenRevoked, RefreshReuse, KeyRotated,
	UserCreated, UserChanged, UserDisabled, UserEnabled, UserDeleted,
	OIDCLoginFailed, IdentityLinked, IdentityUnlinked, OIDCBackchannelLogout,
	MFAEnrolled, MFARemoved, MFAReset, MFAFailed, RecoveryCodes, WebAuthnCloneWarning,
	ClientCreated, ClientDeleted, ClientSecret,
}

// Types returns every event type, sorted.
func Types() []string {
	t := slices.Clone(types)
	slices.Sort(t)
	return t
}

// KnownType reports whether typ is an event type (one of Types).
func KnownType(typ string) bool { return slices.Contains(types, typ) }

// Logger stores and logs audit events. A nil Store only logs.
type Logger struct {
	store Store
	log   *slog.Logger
	now   func() time.Time
	// coalesce is RecordCoalesced's state.
	coalesce coalescer
}

// New returns a Logger writing to store (may be nil) and log.
func New(store Store, log *slog.Logger, now func() time.Time) *Logger {
	if now == nil {
		now = time.Now
	}
	return &Logger{store: store, log: log, now: now}
}

// Record writes e: first its log line, then the store. A failure to store
// is logged (an ERROR line naming the event), not returned: auditing must
// not turn a successful logout into an error, and the event's log line
// remains. The store's own deadline (5 s on SQL stores) bounds the wait.
func (l *Logger) Record(ctx context.Context, e Event) {
	if l == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = l.now()
	}
	if e.Username == "" && e.UserID != "" {
		if u, ok := ctx.Value(userKey{}).(namedUser); ok && u.id == e.UserID {
			e.Username = u.name
		}
	}
	if req, ok := RequestFrom(ctx); ok {
		if e.IP == "" {
			e.IP = req.IP
		}
		if e.RequestID == "" {
			e.RequestID = req.ID
		}
		if req.ActorID != "" || req.UserAgent != "" {
			// The acting administrator (admin API): who did it, next to
			// whom it was done to; and the client that sent the request.
			// A copy: callers may share Details.
			d := make(map[string]string, len(e.Details)+3)
			for k, v := range e.Details {
				d[k] = v
			}
			if req.ActorID != "" {
				d["actor_id"], d["actor"] = req.ActorID, req.Actor
			}
			if req.UserAgent != "" {
				d["user_agent"] = UserAgent(req.UserAgent)
			}
			e.Details = d
		}
	}
	attrs := []slog.Attr{slog.String("event", e.Type)}
	for k, v := range map[string]string{"user_id": e.UserID, "username": e.Username, "ip": e.IP, "request_id": e.RequestID} {
		if v != "" {
			attrs = append(attrs, slog.String(k, v))
		}
	}
	for k, v := range e.Details {
		attrs = append(attrs, slog.String(k, v))
	}
	l.log.LogAttrs(ctx, slog.LevelInfo, "audit", attrs...)
	if l.store == nil {
		return
	}
	if err := l.store.AppendAudit(context.WithoutCancel(ctx), e); err != nil {
		// The event's own line above holds it whole; this one names it
		// (type, user, request) so the missing trail entry can be found
		// among concurrent requests' lines.
		l.log.LogAttrs(ctx, slog.LevelError, "audit store failed", slog.String("event", e.Type),
			slog.String("user_id", e.UserID), slog.String("request_id", e.RequestID), slog.String("error", err.Error()))
	}
}

// Purge deletes the stored events older than retention (by the Logger's
// clock) and returns how many it deleted; with a retention of 0 or less,
// or no store, it deletes nothing. A purge that deletes events says so in
// one log line, so the trail never shrinks without a word.
func (l *Logger) Purge(ctx context.Context, retention time.Duration) (int, error) {
	if l == nil || l.store == nil || retention <= 0 {
		return 0, nil
	}
	before := l.now().Add(-retention)
	n, err := l.store.PurgeAudit(ctx, before)
	if n > 0 {
		l.log.LogAttrs(ctx, slog.LevelInfo, "audit: purged events past their retention",
			slog.Int("events", n), slog.Time("before", before.UTC()))
	}
	if err != nil {
		return n, fmt.Errorf("purge audit events: %w", err)
	}
	return n, nil
}

// Request identifies the HTTP request an event happens in: the client's IP
// (trusted proxies applied), the request ID and the User-Agent. httpapi
// stores it in every request's context, so services deep below (token
// grants, OIDC) need not pass them along for the audit trail.
type Request struct {
	IP string
	ID string
	// Route is the gateway route that served the request, set by the
	// gateway once it matched one (metrics and the request log use it).
	Route string
	// ActorID and Actor are the administrator acting through the admin API
	// (user ID and username); every event recorded in the request names
	// them in Details["actor_id"] and Details["actor"].
	ActorID, Actor string
	// UserAgent is the request's User-Agent header as the client sent it:
	// the header's own string, not a copy, so that recording it costs the
	// proxied path no allocation (issue 15). Every event recorded in the
	// request carries it in Details["user_agent"] as Printable returns
	// it, cut to MaxUserAgent bytes (the work is done only when an event
	// is recorded); "" adds nothing.
	UserAgent string
	// gateway is the gateway's per-request state (opaque here), kept in the
	// same context value so that a proxied request needs no second one.
	gateway any
}

type requestKey struct{}

// WithRequest returns ctx carrying r.
func WithRequest(ctx context.Context, r *Request) context.Context {
	return context.WithValue(ctx, requestKey{}, r)
}

// Context is a context carrying a Request, like WithRequest's, for a
// caller that allocates per-request state anyway: embedded there, it costs
// no allocation of its own (httpapi's middleware, on every request).
type Context struct {
	context.Context
	Req *Request
}

// Value answers the Request for WithRequest's key and asks the parent
// context for any other.
func (c *Context) Value(key any) any {
	if _, ok := key.(requestKey); ok {
		return c.Req
	}
	return c.Context.Value(key)
}

// SetRoute records the gateway route serving the request in ctx, if the
// context carries a Request.
func SetRoute(ctx context.Context, route string) {
	if r, ok := ctx.Value(requestKey{}).(*Request); ok && r != nil {
		r.Route = route
	}
}

type userKey struct{}

type namedUser struct{ id, name string }

// WithUser returns ctx naming the user (id, username) that the operations
// run with it act on. Record gives an event about that user ID without a
// Username the name: a service that knows only the user ID (token.Grants
// revoking refresh families) then records the name that its caller
// (user.Service, the admin API, /auth/grants) knows.
func WithUser(ctx context.Context, id, username string) context.Context {
	return context.WithValue(ctx, userKey{}, namedUser{id: id, name: username})
}

// SetActor records the administrator acting in ctx's request, if the
// context carries a Request.
func SetActor(ctx context.Context, id, username string) {
	if r, ok := ctx.Value(requestKey{}).(*Request); ok && r != nil {
		r.ActorID, r.Actor = id, username
	}
}

// SetGatewayState stores the gateway's per-request state v in ctx's
// Request and reports whether ctx carries one (if not, the gateway keeps
// v in a context value of its own).
func SetGatewayState(ctx context.Context, v any) bool {
	r, ok := ctx.Value(requestKey{}).(*Request)
	if ok && r != nil {
		r.gateway = v
	}
	return ok && r != nil
}

// GatewayState returns what SetGatewayState stored in ctx, or nil.
func GatewayState(ctx context.Context) any {
	if r, ok := ctx.Value(requestKey{}).(*Request); ok && r != nil {
		return r.gateway
	}
	return nil
}

// RequestFrom returns the request stored by WithRequest, if any.
func RequestFrom(ctx context.Context) (Request, bool) {
	r, ok := ctx.Value(requestKey{}).(*Request)
	if !ok || r == nil {
		return Request{}, false
	}
	return *r, true
}

// MaxUserAgent is how many bytes of a User-Agent an event and a session
// keep.
const MaxUserAgent = 256

// UserAgent returns a client's User-Agent as an event carries it and a
// session stores it (so the session list and the audit trail agree):
// Printable, cut to MaxUserAgent bytes.
func UserAgent(ua string) string {
	ua, _ = Printable(ua, MaxUserAgent)
	return ua
}

// Printable returns s, text a client chose (a User-Agent, a name or an
// error code from a URL), as it may be stored, logged and shown: valid
// UTF-8 (a run of invalid bytes becomes one U+FFFD: strings.ToValidUTF8),
// every control character (NUL, tab, CR, LF, ESC, DEL, C1), format
// character (bidirectional overrides, zero-width spaces) and line or
// paragraph separator replaced by U+FFFD — such text must not forge a log
// line, drive an operator's terminal or reorder what a page or console
// shows — and cut to at most limit bytes before a whole character; cut
// reports that something was dropped (a caller may mark it). It is the
// one rule for such text: an event's user_agent, a session's stored
// User-Agent (so the two agree) and the OIDC handler's names and codes
// from the URL all come from here. A printable ASCII value that fits is
// returned as it is, without an allocation: every audited request pays
// for its User-Agent here.
func Printable(s string, limit int) (clean string, cut bool) {
	if len(s) <= limit && printableASCII(s) {
		return s, false
	}
	s = strings.Map(func(r rune) rune {
		if unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp) {
			return utf8.RuneError
		}
		return r
	}, strings.ToValidUTF8(s, string(utf8.RuneError)))
	if len(s) <= limit {
		return s, false
	}
	n := limit
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n], true
}

// Field is a value as a list of space-separated key=value fields shows
// it (`gatehouse audit`'s table, the console's audit details): in Go
// quotes when it holds a space, '=', '"' or anything not graphic, else as
// it is. Clients choose some such values (every event's user_agent, the
// name of a refused login); bare, "x actor=root" would read as a second
// field naming an administrator who did nothing, and a line break or a
// terminal escape would forge a row or drive the operator's terminal.
func Field(s string) string {
	for _, r := range s {
		if r == ' ' || r == '=' || r == '"' || !unicode.IsGraphic(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}
