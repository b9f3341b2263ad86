package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/credential"
	"github.com/gatehouse-auth/gatehouse/internal/revocation"
)

// DefaultTouchEvery is how often a session's last-seen time is written:
// once a minute, not on every request, so reads stay reads (every half
// idle timeout when that is shorter).
const DefaultTouchEvery = time.Minute

// Publisher broadcasts revocations to every instance (revocation.Watcher).
type Publisher interface {
	Publish(ctx context.Context, ev revocation.Event) error
}

// Cookie is the session cookie's shape (contract section 3).
type Cookie struct {
	Name     string
	Secure   bool
	SameSite http.SameSite
	Domain   string
}

// Manager creates, finds, expires and revokes sessions over a Store.
type Manager struct {
	store      Store
	cookie     Cookie
	idle       time.Duration
	absolute   time.Duration
	touchEvery time.Duration
	now        func() time.Time
	random     io.Reader
	publisher  Publisher
	announce   time.Duration
	local      bool
}

// Option configures a Manager.
type Option func(*Manager)

// WithTimeouts sets the idle and absolute lifetimes.
func WithTimeouts(idle, absolute time.Duration) Option {
	return func(m *Manager) { m.idle, m.absolute = idle, absolute }
}

// WithCookie sets the cookie's name and attributes.
func WithCookie(c Cookie) Option { return func(m *Manager) { m.cookie = c } }

// WithClock sets the clock (tests move time instead of sleeping).
func WithClock(now func() time.Time) Option { return func(m *Manager) { m.now = now } }

// WithPublisher broadcasts revocations so other instances drop their caches.
func WithPublisher(p Publisher) Option { return func(m *Manager) { m.publisher = p } }

// WithLocalStore says that the store lives in this process
// (sessions.store: memory): another process sharing the main store and
// the revocation feed (a `gatehouse user …` command beside serve) cannot
// end its sessions itself. RevokeUser then also announces
// revocation.KindUserSessions, and every process ends, in its own store,
// the user's sessions that began before (EndRevokedSessions).
func WithLocalStore() Option { return func(m *Manager) { m.local = true } }

// WithCachedFor tells the manager how long an instance may cache a
// session (sessions.cache_ttl). A revocation event then lives at least that
// long (and at least an hour): an instance cut off from the feed for longer
// than the event lives never reads it, and must by then hold no cached copy
// of the session that the event would have dropped.
func WithCachedFor(d time.Duration) Option {
	return func(m *Manager) { m.announce = max(m.announce, d) }
}

// WithTouchEvery sets how often last-seen is written (default
// DefaultTouchEvery; never less often than every half idle timeout).
func WithTouchEvery(d time.Duration) Option { return func(m *Manager) { m.touchEvery = d } }

// NewManager returns a Manager over store. Defaults: 30m idle, 24h absolute,
// cookie "gatehouse" (Lax, not Secure).
func NewManager(store Store, opts ...Option) *Manager {
	m := &Manager{
		store: store, idle: 30 * time.Minute, absolute: 24 * time.Hour, touchEvery: DefaultTouchEvery, announce: time.Hour,
		now: time.Now, random: rand.Reader, cookie: Cookie{Name: "gatehouse", SameSite: http.SameSiteLaxMode},
	}
	for _, o := range opts {
		o(m)
	}
	// Activity is recorded at most every touchEvery, and a request that
	// records none does not push the idle expiry: with an idle timeout
	// under two of those, a session used more often than its idle timeout
	// still idled out. Recording at least every half idle timeout keeps
	// alive every session used at least that often.
	if m.idle > 0 {
		m.touchEvery = min(m.touchEvery, m.idle/2)
	}
	return m
}

// CookieName is the session cookie's name.
func (m *Manager) CookieName() string { return m.cookie.Name }

// IDFromCookie is the public session ID of a cookie value: base64url
// SHA-256. Only this is stored, so a leaked store holds no usable cookie.
func IDFromCookie(value string) string {
	// value is hashed in place: []byte(value) of a 43-byte cookie is a heap
	// copy on every session request (Sum256 only reads it; issue 15).
	sum := sha256.Sum256(unsafe.Slice(unsafe.StringData(value), len(value)))
	var id [43]byte // base64url of 32 bytes, built on the stack: one allocation, the string
	return string(base64.RawURLEncoding.AppendEncode(id[:0], sum[:]))
}

// Meta describes the client creating a session.
type Meta struct {
	IP        string
	UserAgent string
	Method    string // "password" or "oidc:<provider>"
	AMR       []string
	// LoginAt is when the user logged in: the session's CreatedAt (the
	// login time that auth_time, max_age and the window for changing
	// factors read) and the start of its absolute lifetime. Zero (or a
	// time after now) means now; only a session that replaces another
	// without a new login (ReplaceSession) sets it.
	LoginAt time.Time
}

// Create starts a new session for userID and returns the cookie value (256
// random bits, base64url) and the stored record. A login always calls
// Create: an existing cookie is never adopted (no fixation).
func (m *Manager) Create(ctx context.Context, userID string, meta Meta) (string, Record, error) {
	buf := make([]byte, 32)
	if _, err := io.ReadFull(m.random, buf); err != nil {
		return "", Record{}, fmt.Errorf("session id: %w", err)
	}
	value := base64.RawURLEncoding.EncodeToString(buf)
	now := m.now().UTC()
	loginAt := now
	if !meta.LoginAt.IsZero() && meta.LoginAt.Before(now) {
		loginAt = meta.LoginAt.UTC()
	}
	// The User-Agent is stored as the login's audit event carries it
	// (audit.UserAgent): the session list and the audit trail agree,
	// neither shows a control character, and it is valid UTF-8, which
	// PostgreSQL requires (a Latin-1 byte would fail every login of that
	// browser).
	rec := Record{
		ID: IDFromCookie(value), UserID: userID, CreatedAt: loginAt, LastSeenAt: now,
		IdleExpiresAt: now.Add(m.idle), ExpiresAt: loginAt.Add(m.absolute),
		IP: meta.IP, UserAgent: audit.UserAgent(meta.UserAgent), Method: meta.Method, AMR: meta.AMR,
	}
	if err := m.store.CreateSession(ctx, rec); err != nil {
		return "", Record{}, fmt.Errorf("create session: %w", err)
	}
	return value, rec, nil
}

// LookupID returns the live session with public ID id, recording activity
// at most every DefaultTouchEvery. An unknown, idle or expired session, or
// one deleted between the read and the activity write (revoked meanwhile),
// is auth.ErrUnauthenticated (expired ones are deleted); a store failure is
// a wrapped auth.ErrUnavailable.
func (m *Manager) LookupID(ctx context.Context, id string) (Record, error) {
	rec, err := m.store.Session(ctx, id)
	if errors.Is(err, auth.ErrNotFound) {
		return Record{}, auth.ErrUnauthenticated
	}
	if err != nil {
		return Record{}, fmt.Errorf("load session: %w", err)
	}
	now := m.now()
	if m.Expired(rec, now) {
		_ = m.store.DeleteSession(ctx, id)
		return Record{}, fmt.Errorf("%w: session %w", auth.ErrUnauthenticated, auth.ErrExpired)
	}
	if now.Sub(rec.LastSeenAt) >= m.touchEvery {
		rec.LastSeenAt = now.UTC()
		rec.IdleExpiresAt = rec.LastSeenAt.Add(m.idle)
		err := m.store.TouchSession(ctx, id, rec.LastSeenAt, rec.IdleExpiresAt)
		if errors.Is(err, auth.ErrNotFound) {
			// Deleted since the read (revoked, logged out): it is gone.
			return Record{}, fmt.Errorf("%w: session ended during the lookup", auth.ErrUnauthenticated)
		}
		if err != nil {
			return Record{}, fmt.Errorf("touch session: %w", err)
		}
	}
	return rec, nil
}

// Expired reports whether rec is past its idle or absolute expiry at now.
func (m *Manager) Expired(rec Record, now time.Time) bool {
	return !now.Before(rec.ExpiresAt) || !now.Before(rec.IdleExpiresAt)
}

// plausibleCookie rejects values that cannot be ours before hashing them.
// A session ID (IDFromCookie) has the same shape.
func plausibleCookie(v string) bool {
	if len(v) != 43 {
		return false
	}
	// Every character in the base64url alphabet is what decoding would
	// check (unpadded, non-strict), without decoding into a new slice.
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// List returns userID's live sessions.
func (m *Manager) List(ctx context.Context, userID string) ([]Record, error) {
	recs, err := m.store.UserSessions(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	now := m.now()
	live := recs[:0]
	for _, r := range recs {
		if !m.Expired(r, now) {
			live = append(live, r)
		}
	}
	return live, nil
}

// Revoke ends one session everywhere: deleted from the store and announced
// so every instance drops its cached copy. A deletion that fails otherwise
// than auth.ErrNotFound may have happened anyway (a write that reached the
// primary but not its replicas), and a retry would find nothing to delete
// and announce: it is announced all the same.
func (m *Manager) Revoke(ctx context.Context, id string) error {
	if err := m.store.DeleteSession(ctx, id); err != nil {
		if errors.Is(err, auth.ErrNotFound) {
			return fmt.Errorf("revoke session: %w", err)
		}
		return errors.Join(fmt.Errorf("revoke session: %w", err), m.publish(ctx, revocation.KindSession, id))
	}
	return m.publish(ctx, revocation.KindSession, id)
}

// RevokeOwned ends session id if it belongs to userID. Another user's
// session is auth.ErrNotFound, exactly like an unknown one, so IDs cannot be
// probed.
func (m *Manager) RevokeOwned(ctx context.Context, userID, id string) error {
	// An ID no session can have (IDs are 43 base64url characters) is not
	// found without asking the store: PostgreSQL refuses text with NUL or
	// bytes that are not UTF-8, which answered 400 instead of 404.
	if !plausibleCookie(id) {
		return fmt.Errorf("revoke session: %w", auth.ErrNotFound)
	}
	rec, err := m.store.Session(ctx, id)
	if err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	if rec.UserID != userID {
		return fmt.Errorf("revoke session: %w", auth.ErrNotFound)
	}
	return m.Revoke(ctx, id)
}

// RevokeOthers ends every session of userID but keepID ("" = all) and
// returns how many it ended. Every ended session is announced even when an
// announcement fails. When the store fails, some sessions may be gone
// already without their IDs (a retry would not find them again), so a user
// event drops every cached session of the user on every instance; the
// sessions kept are read from the store again.
func (m *Manager) RevokeOthers(ctx context.Context, userID, keepID string) (int, error) {
	ids, err := m.store.DeleteUserSessions(ctx, userID, keepID)
	if err != nil {
		return 0, errors.Join(fmt.Errorf("revoke sessions: %w", err), m.publish(ctx, revocation.KindUser, userID))
	}
	var errs []error
	for _, id := range ids {
		errs = append(errs, m.publish(ctx, revocation.KindSession, id))
	}
	return len(ids), errors.Join(errs...)
}

// RevokeUser ends every session of userID (user.Revoker). The user event
// is announced even when ending the sessions failed part-way; with a
// process-local store (WithLocalStore) so is a KindUserSessions event, for
// the process that holds the sessions.
func (m *Manager) RevokeUser(ctx context.Context, userID string) error {
	at := m.now()
	_, err := m.RevokeOthers(ctx, userID, "")
	err = errors.Join(err, m.publish(ctx, revocation.KindUser, userID))
	if m.local {
		err = errors.Join(err, m.publish(ctx, revocation.KindUserSessions, userSessionsKey(userID, at)))
	}
	return err
}

// userSessionsKey is the Key of a KindUserSessions event: the user ID and
// the time of the revocation in Unix microseconds.
func userSessionsKey(userID string, at time.Time) string {
	return userID + "/" + strconv.FormatInt(at.UnixMicro(), 10)
}

// EndRevokedSessions applies ev, when it is a KindUserSessions event and
// the store is this process's (WithLocalStore): it ends every session of
// the user whose login (CreatedAt; a successor keeps its login's) was at
// or before the revocation, announces each end as every other way a
// session ends does (caches drop it, its apps are logged out), and returns
// their IDs. A
// session begun after the revocation is kept, so an event applied late or
// twice (the feed may repeat one) ends no later login. Other events, and
// a shared store, whose sessions the revoker ended itself, end nothing.
func (m *Manager) EndRevokedSessions(ctx context.Context, ev revocation.Event) ([]string, error) {
	if !m.local || ev.Kind != revocation.KindUserSessions {
		return nil, nil
	}
	i := strings.LastIndexByte(ev.Key, '/')
	micros, err := strconv.ParseInt(ev.Key[i+1:], 10, 64)
	if i < 0 || err != nil {
		return nil, fmt.Errorf("end revoked sessions: malformed event key %q", ev.Key)
	}
	userID, at := ev.Key[:i], time.UnixMicro(micros)
	recs, err := m.store.UserSessions(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("end revoked sessions: %w", err)
	}
	var ended []string
	var errs []error
	for _, rec := range recs {
		if rec.CreatedAt.After(at) {
			continue
		}
		switch err := m.store.DeleteSession(ctx, rec.ID); {
		case err == nil:
			ended = append(ended, rec.ID)
			errs = append(errs, m.publish(ctx, revocation.KindSession, rec.ID))
		case !errors.Is(err, auth.ErrNotFound):
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return ended, fmt.Errorf("end revoked sessions: %w", err)
	}
	return ended, nil
}

// PurgeExpired deletes expired sessions from the store and returns how many
// it deleted. The serve command calls it periodically.
func (m *Manager) PurgeExpired(ctx context.Context) (int, error) {
	n, err := m.store.DeleteExpiredSessions(ctx, m.now())
	if err != nil {
		return 0, fmt.Errorf("purge expired sessions: %w", err)
	}
	return n, nil
}

func (m *Manager) publish(ctx context.Context, kind, key string) error {
	if m.publisher == nil {
		return nil
	}
	// Other instances only need the event while they may still hold a
	// cached copy (WithCachedFor); the store no longer has the session.
	until := m.now().Add(m.announce)
	if err := m.publisher.Publish(ctx, revocation.Event{Kind: kind, Key: key, Until: until}); err != nil {
		return fmt.Errorf("announce revocation: %w", err)
	}
	return nil
}

// SetCookie writes the session cookie: HttpOnly, Path=/, SameSite, Secure
// and no Domain for __Host- names; a browser-session cookie (no Max-Age),
// the server enforces the lifetimes.
func (m *Manager) SetCookie(w http.ResponseWriter, value string) {
	m.clearHostOnly(w)
	http.SetCookie(w, m.newCookie(value, 0))
}

// ClearCookie expires the session cookie in the browser.
func (m *Manager) ClearCookie(w http.ResponseWriter) {
	m.clearHostOnly(w)
	http.SetCookie(w, m.newCookie("", -1))
}

// clearHostOnly expires, when the cookie has a Domain, a host-only cookie
// of the same name: one set before sessions.cookie.domain was. A browser
// keeps both (they differ in domain), every request then carries two, which
// count as none, and expiring only the Domain cookie would lose each new
// login at the next request until the browser closed.
func (m *Manager) clearHostOnly(w http.ResponseWriter) {
	if m.cookie.Domain == "" {
		return
	}
	c := m.newCookie("", -1)
	c.Domain = ""
	http.SetCookie(w, c)
}

func (m *Manager) newCookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: m.cookie.Name, Value: value, Path: "/", Domain: m.cookie.Domain,
		HttpOnly: true, Secure: m.cookie.Secure, SameSite: m.cookie.SameSite, MaxAge: maxAge,
	}
}

// CookieValue returns the request's session cookie value, or "" when there
// is none or more than one (cookie tossing: two cookies of the session's
// name count as no session, never "first wins"; see package credential).
func (m *Manager) CookieValue(r *http.Request) string {
	c := credential.FromRequest(r, m.cookie.Name, credential.Cookie)
	if c.Err != nil {
		return ""
	}
	return c.Value
}

// StartSession starts a session for userID on the response: the session
// the request came with (if any) is ended first, a new ID is created and its
// cookie set. method ("password", "oidc:<provider>") is recorded on the
// session; the client IP comes from the request's audit.Request (trusted
// proxies applied by the HTTP layer). Every login — password, OIDC, and
// later a second factor — goes through here, so an ID is never adopted
// (fixation) and the old one dies server-side. amr lists the RFC 8176
// methods the login used ("pwd", "otp", "mfa", …).
func (m *Manager) StartSession(w http.ResponseWriter, r *http.Request, userID, method string, amr ...string) (Record, error) {
	return m.start(w, r, userID, Meta{Method: method, AMR: amr})
}

// ReplaceSession gives the request's session a new ID without a new
// login: the session the request came with is ended, and its successor
// keeps old's user, method, amr and login time (CreatedAt, hence its
// absolute expiry too), with this request's client. old is the request's
// session as it was. A password change uses it: typing the password again
// proves nothing that the session's login had not, so the successor must
// not count as a fresh login (contract §9: changing factors needs a login
// at most 5 minutes old or a second factor; OIDC max_age reads the login
// time as well).
//
// The successor is written first, then old is ended: when old is no
// longer in the store (another request, a logout everywhere or a revocation
// ended it meanwhile), the successor is ended again and the error wraps
// auth.ErrUnauthenticated: the caller is signed out. A revocation that ends
// every session of the user either ends old before that check, or runs
// after the successor was written and ends it too. A store failure ends
// both (fail closed); the cookie is set only on success.
func (m *Manager) ReplaceSession(w http.ResponseWriter, r *http.Request, old Record) (Record, error) {
	ctx := r.Context()
	req, _ := audit.RequestFrom(ctx)
	value, rec, err := m.Create(ctx, old.UserID, Meta{Method: old.Method, AMR: old.AMR, LoginAt: old.CreatedAt,
		IP: req.IP, UserAgent: r.UserAgent()})
	ended := m.endReplaced(ctx, old.ID)
	if err != nil {
		if ended != nil && !errors.Is(ended, auth.ErrNotFound) {
			err = errors.Join(err, fmt.Errorf("end replaced session: %w", ended))
		}
		return Record{}, err
	}
	if ended != nil {
		rerr := m.Revoke(context.WithoutCancel(ctx), rec.ID)
		if errors.Is(rerr, auth.ErrNotFound) {
			rerr = nil // a revocation ended it already
		}
		if errors.Is(ended, auth.ErrNotFound) {
			ended = fmt.Errorf("the session was ended meanwhile: %w", auth.ErrUnauthenticated)
		}
		return Record{}, errors.Join(fmt.Errorf("replace session: %w", ended), rerr)
	}
	m.SetCookie(w, value)
	return rec, nil
}

// StepUpSession gives the request's session old, whose user just passed a
// second factor in it (a step-up), a successor with a new ID (fixation)
// that is a new login with amr: old's user and method, this request's
// client, a fresh login time. carry (nil: nothing) hands what belongs to
// the signed-in browser rather than to one session ID — the apps' grants,
// an upstream provider's session link — from old to the successor; it
// runs after the successor is written and before old is ended, so that
// old's end, which follows, finds nothing of it. The request must carry
// old's cookie alone (Authenticate found it).
//
// A session end racing the step-up cannot leave what carry moved on a
// session nobody holds: when old is no longer in the store as it is
// ended (a logout, a revocation of the user ended it meanwhile), or the
// successor is gone after it (revoked as soon as written), the successor
// is ended and its end announced whether or not the store still had it,
// so that everything carried ends with it (the announcement comes after
// carry); the error then wraps auth.ErrUnauthenticated: the caller is
// signed out. When the successor cannot be written, old stays as it was;
// when carry fails, part of what it moves may be on either session, and
// both are ended (fail closed). The cookie is set only on success.
func (m *Manager) StepUpSession(w http.ResponseWriter, r *http.Request, old Record, amr []string, carry func(ctx context.Context, successor Record) error) (Record, error) {
	ctx := r.Context()
	req, _ := audit.RequestFrom(ctx)
	value, rec, err := m.Create(ctx, old.UserID, Meta{Method: old.Method, AMR: amr, IP: req.IP, UserAgent: r.UserAgent()})
	if err != nil {
		return Record{}, err
	}
	var carried error
	if carry != nil {
		carried = carry(ctx, rec)
	}
	ended := m.endReplaced(ctx, old.ID)
	if carried != nil {
		// Part of it may be on either session: both end (fail closed).
		return Record{}, errors.Join(fmt.Errorf("step up session: %w", carried), m.endSuccessor(ctx, rec.ID))
	}
	if ended == nil {
		_, ended = m.store.Session(context.WithoutCancel(ctx), rec.ID)
	}
	if ended != nil {
		if errors.Is(ended, auth.ErrNotFound) {
			ended = fmt.Errorf("the session was ended meanwhile: %w", auth.ErrUnauthenticated)
		}
		return Record{}, errors.Join(fmt.Errorf("step up session: %w", ended), m.endSuccessor(ctx, rec.ID))
	}
	m.SetCookie(w, value)
	return rec, nil
}

// endReplaced ends session id, which a successor written before the call
// replaces, and announces its end. It answers as DeleteSession: nil when
// id was still stored, an error wrapping auth.ErrNotFound when something
// else (a logout, a revocation) had ended it, in which case the successor
// must end too. id is read before it is deleted, because a store's
// DeleteSession may answer nil for a session already gone (the SQL stores
// once the DELETE ran again after a dead connection: the lost run may have
// deleted it), which alone would let the successor outlive a revocation of
// the user that ended id before the successor was written. A revocation of
// the user after the read ends the successor as well. A failed read fails
// closed: its error is returned, after the DELETE.
func (m *Manager) endReplaced(ctx context.Context, id string) error {
	store := context.WithoutCancel(ctx)
	_, seen := m.store.Session(store, id)
	if errors.Is(seen, auth.ErrNotFound) {
		return fmt.Errorf("end replaced session: %w", seen)
	}
	ended := m.store.DeleteSession(store, id)
	if ended == nil {
		_ = m.publish(ctx, revocation.KindSession, id)
	}
	if seen != nil {
		return errors.Join(fmt.Errorf("end replaced session: %w", seen), ended)
	}
	return ended
}

// endSuccessor ends session id, which a step-up wrote and is not handing
// out, and announces its end even when the store no longer has it: what
// the step-up carried to it must end with it, and a revocation that
// deleted it before carry ran found nothing to end yet.
func (m *Manager) endSuccessor(ctx context.Context, id string) error {
	ctx = context.WithoutCancel(ctx)
	err := m.store.DeleteSession(ctx, id)
	if errors.Is(err, auth.ErrNotFound) {
		err = nil
	}
	if err != nil {
		err = fmt.Errorf("end successor session: %w", err)
	}
	return errors.Join(err, m.publish(ctx, revocation.KindSession, id))
}

// ForgetUser makes every instance drop its cached sessions of userID
// without ending them (user.Forgetter): the next request reads the account
// again, with the roles it has now.
func (m *Manager) ForgetUser(ctx context.Context, userID string) error {
	return m.publish(ctx, revocation.KindUser, userID)
}

// RevokeUserExcept is RevokeUser sparing session keepID, which a password
// change then replaces (user.SessionRevoker).
func (m *Manager) RevokeUserExcept(ctx context.Context, userID, keepID string) error {
	_, err := m.RevokeOthers(ctx, userID, keepID)
	return errors.Join(err, m.publish(ctx, revocation.KindUser, userID))
}

// start ends the request's sessions, creates one for userID with meta
// (IP and User-Agent from the request) and sets its cookie. Every session
// cookie the request carries is ended, not only a lone one: a browser
// holding the cookie under two paths or domains must not keep the older
// session alive behind the new login.
func (m *Manager) start(w http.ResponseWriter, r *http.Request, userID string, meta Meta) (Record, error) {
	ctx := r.Context()
	for _, old := range credential.SessionCookies(r.Header, m.cookie.Name) {
		if !plausibleCookie(old) {
			continue
		}
		if err := m.store.DeleteSession(ctx, IDFromCookie(old)); err == nil {
			_ = m.publish(ctx, revocation.KindSession, IDFromCookie(old))
		}
	}
	req, _ := audit.RequestFrom(ctx)
	meta.IP, meta.UserAgent = req.IP, r.UserAgent()
	value, rec, err := m.Create(ctx, userID, meta)
	if err != nil {
		return Record{}, err
	}
	m.SetCookie(w, value)
	return rec, nil
}
