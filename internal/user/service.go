package user

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/password"
)

// Limiter throttles login failures (throttle.Limiter implements it).
type Limiter interface {
	// Attempt counts a login attempt before its password is checked and
	// returns settle, which ends it with the check's outcome
	// (throttle.Limiter.Attempt).
	Attempt(ctx context.Context, userKey, ip string) (settle func(ctx context.Context, checked error) error, err error)
}

// Revoker ends every credential of a user (sessions, refresh families). The
// session manager and the token grants implement it.
type Revoker interface {
	RevokeUser(ctx context.Context, userID string) error
}

// SessionRevoker is a Revoker that can spare one session of the user:
// the one a password change replaces (ChangePassword). session.Manager
// implements it.
type SessionRevoker interface {
	Revoker
	RevokeUserExcept(ctx context.Context, userID, keepID string) error
}

// Forgetter is a Revoker that can also make every instance drop its
// cached copies of a user's credentials without ending them, so that they
// are judged by the account as it is now (its roles after SetRoles).
// session.Manager implements it.
type Forgetter interface {
	ForgetUser(ctx context.Context, userID string) error
}

// Service manages accounts and checks passwords.
type Service struct {
	store      Store
	hasher     *password.Hasher
	limiter    Limiter
	audit      *audit.Logger
	revokers   []Revoker
	identities IdentityStore
	factors    FactorResetter
	providers  []Provider
	now        func() time.Time
}

// Option configures a Service.
type Option func(*Service)

// WithLimiter enables login throttling.
func WithLimiter(l Limiter) Option { return func(s *Service) { s.limiter = l } }

// WithAudit records account events.
func WithAudit(a *audit.Logger) Option { return func(s *Service) { s.audit = a } }

// WithRevokers are called when a user is disabled, deleted or logged out.
func WithRevokers(r ...Revoker) Option {
	return func(s *Service) { s.revokers = append(s.revokers, r...) }
}

// WithClock sets the clock.
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// NewService returns a Service over store.
func NewService(store Store, hasher *password.Hasher, opts ...Option) *Service {
	s := &Service{store: store, hasher: hasher, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	return s
}

// NewID returns a random 128-bit user ID (hex), so IDs reveal neither order
// nor count of accounts.
func NewID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
	return hex.EncodeToString(b)
}

// MaxNameLen is the most characters a username has after CleanName.
const MaxNameLen = 64

// CheckName validates a username: UTF-8, 1..MaxNameLen characters after
// CleanName, no control, invisible or whitespace characters inside, not
// "." or "..": those are dot segments, which browsers and ServeMux
// resolve away (even percent-encoded), so the admin API and console could
// never address such an account; and not 32 hexadecimal digits, the form
// of every user ID: the audit filters read such a value as an ID (IDOf),
// so the account's events could never be found by its name. Only new names
// are checked (Create, CreateExternal): an account named so earlier still
// loads, logs in and is managed by name.
func CheckName(name string) error {
	if !utf8.ValidString(name) {
		return fmt.Errorf("%w: username must be UTF-8", auth.ErrInvalidInput)
	}
	name = CleanName(name)
	if name == "" || !fitsName(name) {
		return fmt.Errorf("%w: username must be 1 to %d characters", auth.ErrInvalidInput, MaxNameLen)
	}
	if name == "." || name == ".." {
		return fmt.Errorf("%w: username must not be %q", auth.ErrInvalidInput, name)
	}
	if isIDForm(name) {
		return fmt.Errorf("%w: username must not look like a user ID (32 hex digits)", auth.ErrInvalidInput)
	}
	for _, r := range name {
		if unicode.IsControl(r) || unicode.IsSpace(r) || unicode.IsOneOf(auth.Invisible, r) {
			return fmt.Errorf("%w: username must not contain spaces, control or invisible characters", auth.ErrInvalidInput)
		}
	}
	return nil
}

// Create adds a user with a strong password. An empty password creates an
// account that can log in only through an external identity provider.
// Errors: auth.ErrInvalidInput for a bad name, role or weak password,
// auth.ErrConflict when the name is taken.
func (s *Service) Create(ctx context.Context, name, pw string, roles []string) (auth.User, error) {
	return s.create(ctx, name, pw, roles, nil)
}

// create is Create with extra audit details: every account, local or
// external, passes the same name and role rules and leaves the same event.
func (s *Service) create(ctx context.Context, name, pw string, roles []string, details map[string]string) (auth.User, error) {
	if err := CheckName(name); err != nil {
		return auth.User{}, err
	}
	if err := auth.CheckRoles(roles); err != nil {
		return auth.User{}, err
	}
	u := auth.User{ID: NewID(), Username: CleanName(name), Roles: normRoles(roles), CreatedAt: s.now().UTC()}
	u.UpdatedAt = u.CreatedAt
	if pw != "" {
		if err := password.CheckStrength(pw, u.Username); err != nil {
			return auth.User{}, fmt.Errorf("%w: %w", auth.ErrInvalidInput, err)
		}
		h, err := s.hasher.Hash(ctx, pw)
		if err != nil {
			return auth.User{}, err
		}
		u.PasswordHash = h
	}
	if err := s.store.CreateUser(ctx, u); err != nil {
		return auth.User{}, fmt.Errorf("create user %q: %w", u.Username, err)
	}
	d := map[string]string{"roles": strings.Join(u.Roles, ",")}
	maps.Copy(d, details)
	s.record(ctx, audit.Event{Type: audit.UserCreated, UserID: u.ID, Username: u.Username, Details: d})
	return u, nil
}

func normRoles(roles []string) []string {
	out := slices.Clone(roles)
	slices.Sort(out)
	out = slices.Compact(out)
	if out == nil {
		out = []string{}
	}
	return out
}

// Get returns the user called name.
func (s *Service) Get(ctx context.Context, name string) (auth.User, error) {
	u, err := s.store.UserByName(ctx, name)
	if err != nil {
		return auth.User{}, fmt.Errorf("user %q: %w", CleanName(name), err)
	}
	return u, nil
}

// IDOf returns the user ID that ref names in a filter over records that
// outlive their user, such as the audit trail: ref itself, lower-cased,
// when it has the form of NewID's IDs (32 hexadecimal digits), else the ID
// of the user called ref; auth.ErrNotFound (wrapped) when there is no such
// user. An ID-form ref is never read as a username: anyone may be called
// after another user's ID, or a deleted user's, and must not thereby have
// that user's records show theirs.
func (s *Service) IDOf(ctx context.Context, ref string) (string, error) {
	if isIDForm(ref) {
		return strings.ToLower(ref), nil
	}
	u, err := s.store.UserByName(ctx, ref)
	if err != nil {
		return "", fmt.Errorf("user %q: %w", CleanName(ref), err)
	}
	return u.ID, nil
}

// isIDForm reports whether s has the form of NewID's IDs, in either case.
func isIDForm(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// ByID returns the user with id; auth.ErrNotFound when there is none.
func (s *Service) ByID(ctx context.Context, id string) (auth.User, error) {
	u, err := s.store.UserByID(ctx, id)
	if err != nil {
		return auth.User{}, fmt.Errorf("user %s: %w", id, err)
	}
	return u, nil
}

// List returns every user.
func (s *Service) List(ctx context.Context) ([]auth.User, error) { return s.store.ListUsers(ctx) }

// Search returns one page of users matching q, ordered by NameKey.
func (s *Service) Search(ctx context.Context, q Query) ([]auth.User, error) {
	q.Limit = PageLimit(q.Limit)
	return s.store.SearchUsers(ctx, q)
}

// PageLimit is the page size a Query.Limit asks for: 0 (or less) means 50,
// and no page is larger than 1000.
func PageLimit(n int) int {
	if n <= 0 {
		return 50
	}
	return min(n, 1000)
}

// SetPassword replaces name's password after a strength check, and ends the
// user's sessions and refresh tokens (a password change is how users evict
// an intruder).
func (s *Service) SetPassword(ctx context.Context, name, pw string) error {
	_, err := s.setPassword(ctx, name, pw, "")
	return err
}

// ChangePassword is SetPassword for a user changing their own password
// from session keep: it ends every credential of the user but that
// session (a SessionRevoker spares it), which the caller then replaces
// (session.Manager.ReplaceSession; the replacement fails when keep was
// ended meanwhile by another revocation). It returns the user as the
// change left it, its revocation counted: the caller confirms the
// replacement against it (ConfirmLogin). When ending the credentials
// fails, keep is ended too (fail closed).
func (s *Service) ChangePassword(ctx context.Context, name, pw, keep string) (auth.User, error) {
	return s.setPassword(ctx, name, pw, keep)
}

func (s *Service) setPassword(ctx context.Context, name, pw, keep string) (auth.User, error) {
	u, err := s.Get(ctx, name)
	if err != nil {
		return auth.User{}, err
	}
	if err := password.CheckStrength(pw, u.Username); err != nil {
		return auth.User{}, fmt.Errorf("%w: %w", auth.ErrInvalidInput, err)
	}
	hash, err := s.hasher.Hash(ctx, pw)
	if err != nil {
		return auth.User{}, err
	}
	if u, err = s.modify(ctx, u, func(u *auth.User) { u.PasswordHash = hash }); err != nil {
		return auth.User{}, err
	}
	s.record(ctx, audit.Event{Type: audit.UserChanged, UserID: u.ID, Username: u.Username, Details: map[string]string{"change": "password"}})
	return s.revokeAll(ctx, u, keep)
}

// SetRoles replaces name's roles. Sessions are judged by the new roles on
// every instance once the Forgetters have announced the change (a session
// is server-side state: a cached copy must not keep a role taken away for
// sessions.cache_ttl); access tokens keep the roles they carry until they
// are refreshed. When an announcement fails, the roles are changed all the
// same and the error says that cached sessions may keep the old ones.
func (s *Service) SetRoles(ctx context.Context, name string, roles []string) (auth.User, error) {
	if err := auth.CheckRoles(roles); err != nil {
		return auth.User{}, err
	}
	u, err := s.Get(ctx, name)
	if err != nil {
		return auth.User{}, err
	}
	roles = normRoles(roles)
	if u, err = s.modify(ctx, u, func(u *auth.User) { u.Roles = roles }); err != nil {
		return auth.User{}, err
	}
	s.record(ctx, audit.Event{Type: audit.UserChanged, UserID: u.ID, Username: u.Username, Details: map[string]string{"roles": strings.Join(u.Roles, ",")}})
	var errs []error
	for _, r := range s.revokers {
		if f, ok := r.(Forgetter); ok {
			errs = append(errs, f.ForgetUser(ctx, u.ID))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return u, fmt.Errorf("set roles of %q: %w", u.Username, err)
	}
	return u, nil
}

// SetDisabled disables or enables name. Disabling ends every session and
// refresh family of the user at once.
func (s *Service) SetDisabled(ctx context.Context, name string, disabled bool) (auth.User, error) {
	u, err := s.Get(ctx, name)
	if err != nil {
		return auth.User{}, err
	}
	if u, err = s.modify(ctx, u, func(u *auth.User) { u.Disabled = disabled }); err != nil {
		return auth.User{}, err
	}
	typ := audit.UserEnabled
	if disabled {
		typ = audit.UserDisabled
	}
	s.record(ctx, audit.Event{Type: typ, UserID: u.ID, Username: u.Username})
	if disabled {
		return u, s.RevokeAll(ctx, u)
	}
	return u, nil
}

// Delete removes name and every credential of it.
func (s *Service) Delete(ctx context.Context, name string) error {
	u, err := s.Get(ctx, name)
	if err != nil {
		return err
	}
	if err := s.RevokeAll(ctx, u); err != nil {
		return err
	}
	if err := s.store.DeleteUser(ctx, u.ID); err != nil {
		return fmt.Errorf("delete user %q: %w", u.Username, err)
	}
	s.record(ctx, audit.Event{Type: audit.UserDeleted, UserID: u.ID, Username: u.Username})
	return nil
}

// LogoutEverywhere ends every session and refresh family of name, on
// every instance, and records session.revoked with sessions=all and via
// (cli | admin): an operator's sign-out of the user, one event whichever
// asked (a user's own sign-out is a logout event).
func (s *Service) LogoutEverywhere(ctx context.Context, name, via string) (auth.User, error) {
	u, err := s.Get(ctx, name)
	if err != nil {
		return auth.User{}, err
	}
	if err := s.RevokeAll(ctx, u); err != nil {
		return auth.User{}, err
	}
	s.record(ctx, audit.Event{Type: audit.SessionRevoked, UserID: u.ID, Username: u.Username,
		Details: map[string]string{"via": via, "sessions": "all"}})
	return u, nil
}

// RevokeAll ends every session and refresh family of u. It first counts
// the revocation on the user (auth.User.Revocations), then ends them: a
// login that read the user before the count and writes its credential
// after they were ended finds the count changed when it reads the user
// again (ConfirmLogin), and ends what it wrote. A failed count does not
// stop the revocation; both errors are returned.
func (s *Service) RevokeAll(ctx context.Context, u auth.User) error {
	_, err := s.revokeAll(ctx, u, "")
	return err
}

// CountRevocation counts a revocation on user id (auth.User.Revocations),
// as RevokeAll does before it ends anything, for a caller that then ends
// only some of the user's credentials itself: a user's sign-out of their
// other sessions (session.Manager.RevokeOthers). The count ends the user's
// pending logins, whose cookie is bound to it (mfa.BindOf), and the logins
// in flight that read the user before it (ConfirmLogin); it ends no session
// or refresh family by itself.
func (s *Service) CountRevocation(ctx context.Context, id string) error {
	u, err := s.store.UserByID(ctx, id)
	if err != nil {
		return fmt.Errorf("count revocation: %w", err)
	}
	if _, err := s.countRevocation(ctx, u); err != nil {
		return fmt.Errorf("count revocation: %w", err)
	}
	return nil
}

// countRevocation adds one to u's Revocations in the store and returns the
// user as it left it.
func (s *Service) countRevocation(ctx context.Context, u auth.User) (auth.User, error) {
	return s.modify(ctx, u, func(u *auth.User) { u.Revocations++ })
}

// revokeAll is RevokeAll sparing session keep ("" spares none), and
// returns the user as the count left it. When it fails, keep is ended
// too.
func (s *Service) revokeAll(ctx context.Context, u auth.User, keep string) (auth.User, error) {
	ctx = audit.WithUser(ctx, u.ID, u.Username) // the revokers' events name the user
	var errs []error
	counted, err := s.countRevocation(ctx, u)
	if err != nil {
		errs = append(errs, err)
	}
	for _, r := range s.revokers {
		sr, ok := r.(SessionRevoker)
		if keep != "" && ok {
			err = sr.RevokeUserExcept(ctx, u.ID, keep)
		} else {
			err = r.RevokeUser(ctx, u.ID)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if keep != "" && len(errs) > 0 {
		for _, r := range s.revokers {
			if _, ok := r.(SessionRevoker); ok {
				errs = append(errs, r.RevokeUser(ctx, u.ID))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return auth.User{}, fmt.Errorf("revoke credentials of %q: %w", u.Username, err)
	}
	return counted, nil
}

// modifyTries bounds how often modify reads a user again after another
// writer changed it in between.
const modifyTries = 5

// modify applies change to u (as read) and stores it. When another writer
// changed the user since it was read (user.ErrStale), it reads the user
// again and reapplies change: concurrent changes of different fields (a
// disable and a password change) all land, none undoes another.
func (s *Service) modify(ctx context.Context, u auth.User, change func(*auth.User)) (auth.User, error) {
	for try := 1; ; try++ {
		change(&u)
		err := s.update(ctx, &u)
		if !errors.Is(err, ErrStale) || try == modifyTries {
			return u, err
		}
		name := u.Username
		if u, err = s.store.UserByID(ctx, u.ID); err != nil {
			return auth.User{}, fmt.Errorf("update user %q: %w", name, err)
		}
	}
}

// update stores u if it did not change since it was read (UpdatedAt is
// the time read), and moves u.UpdatedAt forward, by at least the stored
// microsecond, so that every write changes what the next compares.
func (s *Service) update(ctx context.Context, u *auth.User) error {
	prev := u.UpdatedAt
	u.UpdatedAt = s.now().UTC().Truncate(time.Microsecond)
	if !u.UpdatedAt.After(prev) {
		u.UpdatedAt = prev.Add(time.Microsecond)
	}
	if err := s.store.UpdateUser(ctx, *u, prev); err != nil {
		u.UpdatedAt = prev
		return fmt.Errorf("update user %q: %w", u.Username, err)
	}
	return nil
}

func (s *Service) record(ctx context.Context, e audit.Event) {
	if s.audit != nil {
		s.audit.Record(ctx, e)
	}
}
