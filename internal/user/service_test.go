package user_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/mfa"
	"github.com/gatehouse-auth/gatehouse/internal/password"
	"github.com/gatehouse-auth/gatehouse/internal/seal"
	"github.com/gatehouse-auth/gatehouse/internal/session"
	"github.com/gatehouse-auth/gatehouse/internal/store/memory"
	"github.com/gatehouse-auth/gatehouse/internal/store/sqlite"
	"github.com/gatehouse-auth/gatehouse/internal/store/sqlite/sqlitetest"
	"github.com/gatehouse-auth/gatehouse/internal/throttle"
	"github.com/gatehouse-auth/gatehouse/internal/user"
)

const goodPassword = "correct horse battery staple"

// cheap keeps argon2id fast in tests; the cost itself is password's concern.
var cheap = password.Params{MemoryKiB: 1024, Iterations: 1, Parallelism: 1}

// stronger is cheap with twice the memory: a login under it rehashes a
// password hashed with cheap.
var stronger = password.Params{MemoryKiB: 2 * cheap.MemoryKiB, Iterations: cheap.Iterations, Parallelism: cheap.Parallelism}

// newPassword is a password the races change alice's to.
const newPassword = "another correct horse battery"

func newStore(t *testing.T) *sqlite.Store { return sqlitetest.New(t) }

func newService(t *testing.T, st *sqlite.Store, p password.Params, opts ...user.Option) *user.Service {
	t.Helper()
	return serviceOn(t, st, p, append([]user.Option{user.WithIdentities(st)}, opts...)...)
}

// auditTo records a Service's audit events in st (and no log).
func auditTo(st *sqlite.Store) user.Option {
	return user.WithAudit(audit.New(st, slog.New(slog.DiscardHandler), time.Now))
}

// serviceOn is a Service over users (a store, or a wrapper around one
// that injects a change at a chosen moment) hashing with p.
func serviceOn(t *testing.T, users user.Store, p password.Params, opts ...user.Option) *user.Service {
	t.Helper()
	h, err := password.NewHasher(p, 1)
	if err != nil {
		t.Fatal(err)
	}
	return user.NewService(users, h, opts...)
}

// withAlice returns a fresh store holding the admin alice (goodPassword)
// and a Service over it, for the changes a test races with.
func withAlice(t *testing.T) (*sqlite.Store, *user.Service) {
	t.Helper()
	st := newStore(t)
	other := newService(t, st, cheap)
	if _, err := other.Create(context.Background(), "alice", goodPassword, []string{"admin"}); err != nil {
		t.Fatal(err)
	}
	return st, other
}

func TestCreateAppliesTheNameRule(t *testing.T) {
	limit := user.MaxNameLen
	lengthRule := fmt.Sprintf("1 to %d characters", limit)
	tests := []struct {
		name, username, stored string
		ok                     bool
		msg                    string // in the refusal's message, when set
	}{
		{"plain", "alice", "alice", true, ""},
		{"trimmed and NFKC-normalised", "  ａｌｉｃｅ２ ", "alice2", true, ""},
		{"the limit", strings.Repeat("a", limit), strings.Repeat("a", limit), true, ""},
		{"the limit in two-byte characters", strings.Repeat("\u00e9", limit), strings.Repeat("\u00e9", limit), true, ""},
		{"the limit plus one", strings.Repeat("a", limit+1), "", false, lengthRule},
		{"the limit plus one after NFKC", strings.Repeat("a", limit-1) + "\ufb00", "", false, lengthRule}, // U+FB00 ﬀ is "ff"
		{"empty", "  ", "", false, lengthRule},
		{"space inside", "alice smith", "", false, ""},
		{"control character", "alice\x00", "", false, ""},
		{"not UTF-8", "al\xffice", "", false, ""},
		{"zero-width space", "ad\u200bmin", "", false, ""},
		{"zero-width joiner", "admin\u200d", "", false, ""},
		{"right-to-left override", "\u202eadmin", "", false, ""},
		{"byte order mark", "\ufeffadmin", "", false, ""},
		{"soft hyphen", "ad\u00admin", "", false, ""},
		{"Hangul filler", "admin\u3164", "", false, ""},
		{"variation selector", "admin\ufe0f", "", false, ""},
		{"non-Latin letters and marks", "José-Łukasz_日本", "José-Łukasz_日本", true, ""},
		// The audit filters read 32 hex digits as a user ID (IDOf): an
		// account named so could never be found there by its name.
		{"32 lowercase hex digits", "0123456789abcdef0123456789abcdef", "", false, "must not look like a user ID"},
		{"32 uppercase hex digits", "0123456789ABCDEF0123456789ABCDEF", "", false, "must not look like a user ID"},
		{"32 mixed-case hex digits", "0123456789abcDEF0123456789ABCdef", "", false, "must not look like a user ID"},
		{"32 hex digits after NFKC", "０123456789abcdef0123456789abcdef", "", false, "must not look like a user ID"}, // U+FF10 fullwidth 0
		{"32 hex digits after trimming", " 0123456789abcdef0123456789abcdef ", "", false, "must not look like a user ID"},
		{"31 hex digits", "0123456789abcdef0123456789abcde", "0123456789abcdef0123456789abcde", true, ""},
		{"33 hex digits", "0123456789abcdef0123456789abcdef0", "0123456789abcdef0123456789abcdef0", true, ""},
		{"32 characters, one not hex", "0123456789abcdef0123456789abcdeg", "0123456789abcdef0123456789abcdeg", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := newService(t, newStore(t), cheap)
			u, err := svc.Create(context.Background(), tt.username, "", nil)
			if !tt.ok {
				if !errors.Is(err, auth.ErrInvalidInput) {
					t.Fatalf("Create(%q) = %v, want ErrInvalidInput", tt.username, err)
				}
				if !strings.Contains(err.Error(), tt.msg) {
					t.Errorf("Create(%q) = %v, want a message with %q", tt.username, err, tt.msg)
				}
				return
			}
			if err != nil {
				t.Fatalf("Create(%q): %v", tt.username, err)
			}
			if u.Username != tt.stored {
				t.Errorf("stored name = %q, want %q", u.Username, tt.stored)
			}
		})
	}
}

// An account named like a user ID before CheckName refused such names
// (stored directly here, as an older version stored it) still loads, logs
// in and is managed: only new names are refused.
func TestExistingIDFormNameStaysUsable(t *testing.T) {
	st := newStore(t)
	svc := newService(t, st, cheap)
	ctx := context.Background()
	const name = "0123456789abcdef0123456789abcdef"
	h, err := password.NewHasher(cheap, 1)
	if err != nil {
		t.Fatal(err)
	}
	hash, err := h.Hash(ctx, goodPassword)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	if err := st.CreateUser(ctx, auth.User{ID: user.NewID(), Username: name, PasswordHash: hash, Roles: []string{}, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Get(ctx, name); err != nil {
		t.Errorf("Get: %v", err)
	}
	if _, err := svc.Login(ctx, user.Attempt{Username: name, Password: goodPassword, IP: "192.0.2.1", Via: "form"}); err != nil {
		t.Errorf("Login: %v", err)
	}
	if _, err := svc.SetRoles(ctx, name, []string{"user"}); err != nil {
		t.Errorf("SetRoles: %v", err)
	}
	if err := svc.SetPassword(ctx, name, newPassword); err != nil {
		t.Errorf("SetPassword: %v", err)
	}
	if _, err := svc.SetDisabled(ctx, name, true); err != nil {
		t.Errorf("SetDisabled: %v", err)
	}
	if err := svc.Delete(ctx, name); err != nil {
		t.Errorf("Delete: %v", err)
	}
}

func TestNamesDifferingInCaseOrWidthAreOneAccount(t *testing.T) {
	svc := newService(t, newStore(t), cheap)
	ctx := context.Background()
	if _, err := svc.Create(ctx, "Alice", "", nil); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"alice", "ALICE", "ＡＬＩＣＥ"} {
		if _, err := svc.Create(ctx, name, "", nil); !errors.Is(err, auth.ErrConflict) {
			t.Errorf("Create(%q) after Alice = %v, want ErrConflict", name, err)
		}
	}
}

func TestRolesAreCheckedAndNormalised(t *testing.T) {
	svc := newService(t, newStore(t), cheap)
	ctx := context.Background()
	u, err := svc.Create(ctx, "alice", "", []string{"b", "a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a", "b"}; !slices.Equal(u.Roles, want) {
		t.Errorf("roles = %v, want %v", u.Roles, want)
	}
	for _, roles := range [][]string{
		{"user,admin"}, {"power user"}, {""},
		// X-Auth-Roles could not carry them (net/http refuses the header) or
		// they would show as another role: controls (C0, DEL, C1), bytes
		// that are not UTF-8, Unicode spaces, invisible format characters.
		{"a\x00b"}, {"a\x01b"}, {"a\x7fb"}, {"a\u0080b"}, {"a\u0085b"}, {"a\xffb"},
		{"admin\u00a0"}, {"ad\u200bmin"}, {"admin\u202e"}, {"admin\ufeff"},
	} {
		if _, err := svc.Create(ctx, "bob", "", roles); !errors.Is(err, auth.ErrInvalidInput) {
			t.Errorf("Create with roles %q = %v, want ErrInvalidInput", roles, err)
		}
		if _, err := svc.SetRoles(ctx, "alice", roles); !errors.Is(err, auth.ErrInvalidInput) {
			t.Errorf("SetRoles(%q) = %v, want ErrInvalidInput", roles, err)
		}
	}
}

func TestCreateExternalTakesFirstValidFreeName(t *testing.T) {
	svc := newService(t, newStore(t), cheap)
	ctx := context.Background()
	if _, err := svc.Create(ctx, "alice@corp.example", "", nil); err != nil {
		t.Fatal(err)
	}
	// "alice\u200b@corp.example" shows as the taken name: no candidate either.
	names := []string{"Alice Smith", strings.Repeat("a", 100), "alice@corp.example", "alice\u200b@corp.example", "corp-a1b2c3d4"}
	ident := func(sub string) user.Identity {
		return user.Identity{Issuer: "https://idp.example", Subject: sub, Provider: "corp"}
	}
	u, err := svc.CreateExternal(ctx, names, []string{"user"}, "oidc:corp", ident("a1b2c3d4e5"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := u.Username, "corp-a1b2c3d4"; got != want {
		t.Errorf("username = %q, want %q (the first valid and free candidate)", got, want)
	}
	if u.PasswordHash != "" {
		t.Error("external account has a password")
	}
	if _, err := svc.CreateExternal(ctx, names, []string{"user"}, "oidc:corp", ident("s2")); !errors.Is(err, auth.ErrConflict) || errors.Is(err, user.ErrIdentityLinked) {
		t.Errorf("every candidate taken or invalid: %v, want ErrConflict", err)
	}
	if _, err := svc.CreateExternal(ctx, []string{"carol"}, []string{"a,b"}, "oidc:corp", ident("s3")); !errors.Is(err, auth.ErrInvalidInput) {
		t.Errorf("role with a comma: %v, want ErrInvalidInput", err)
	}
}

func TestDisableRefusesLoginAndEndsSessions(t *testing.T) {
	st := newStore(t)
	sessions := session.NewManager(st)
	svc := newService(t, st, cheap, user.WithRevokers(sessions))
	ctx := context.Background()
	u, err := svc.Create(ctx, "alice", goodPassword, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sessions.StartSession(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/auth/login", nil), u.ID, "password"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SetDisabled(ctx, "alice", true); err != nil {
		t.Fatal(err)
	}
	if live, err := sessions.List(ctx, u.ID); err != nil || len(live) != 0 {
		t.Errorf("sessions after disable = %d, %v; want none", len(live), err)
	}
	if _, err := svc.Login(ctx, user.Attempt{Username: "alice", Password: goodPassword}); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Errorf("login while disabled = %v, want ErrInvalidCredentials", err)
	}
	if _, err := svc.SetDisabled(ctx, "alice", false); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Login(ctx, user.Attempt{Username: "alice", Password: goodPassword}); err != nil {
		t.Errorf("login after enable = %v", err)
	}
}

func TestLoginUpgradesAnOutdatedHash(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	old, err := newService(t, st, cheap).Create(ctx, "alice", goodPassword, nil)
	if err != nil {
		t.Fatal(err)
	}
	svc := newService(t, st, stronger)
	if _, err := svc.Login(ctx, user.Attempt{Username: "alice", Password: goodPassword}); err != nil {
		t.Fatalf("login: %v", err)
	}
	u, err := svc.Get(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if u.PasswordHash == old.PasswordHash || !strings.Contains(u.PasswordHash, "m=2048") {
		t.Errorf("hash after login = %q, want one with the new parameters (m=2048)", u.PasswordHash)
	}
	if _, err := svc.Login(ctx, user.Attempt{Username: "alice", Password: goodPassword}); err != nil {
		t.Errorf("login with the upgraded hash: %v", err)
	}
}

func TestLinkedIdentitiesBelongToTheirUser(t *testing.T) {
	svc := newService(t, newStore(t), cheap)
	ctx := context.Background()
	id := user.Identity{Issuer: "https://idp.example", Subject: "s1", Provider: "corp", Email: "alice@corp.example"}
	u, err := svc.CreateExternal(ctx, []string{"alice"}, nil, "oidc:corp", id)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Link(ctx, id, u); !errors.Is(err, user.ErrIdentityLinked) || !errors.Is(err, auth.ErrConflict) {
		t.Errorf("second link of the same subject = %v, want ErrIdentityLinked (an ErrConflict)", err)
	}
	// A parallel login's account for the same subject does not stay.
	if _, err := svc.CreateExternal(ctx, []string{"bob"}, nil, "oidc:corp", id); !errors.Is(err, user.ErrIdentityLinked) {
		t.Errorf("create for a linked subject = %v, want ErrIdentityLinked", err)
	}
	if _, err := svc.Get(ctx, "bob"); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("account created for a linked subject: Get = %v, want ErrNotFound", err)
	}
	got, err := svc.Identity(ctx, id.Issuer, id.Subject)
	if err != nil || got.UserID != u.ID {
		t.Errorf("Identity = %+v, %v; want one linked to %s", got, err, u.ID)
	}
	if _, err := svc.Identity(ctx, id.Issuer, "s2"); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("unknown subject = %v, want ErrNotFound", err)
	}
}

// Unlink removes a link of the user it names only: another user's link, or
// an unknown one, is ErrNotFound and stays, and nobody is signed out; a
// removed link is audited oidc.unlinked, ends every session of its user
// (whoever logged in through a wrongly linked account must not stay signed
// in) and none of another user's, and can be linked again.
func TestUnlinkRemovesOnlyTheUsersOwnLink(t *testing.T) {
	st := newStore(t)
	sessions := session.NewManager(st)
	svc := newService(t, st, cheap, user.WithRevokers(sessions), auditTo(st))
	ctx := context.Background()
	const issuer = "https://idp.example"
	idA := user.Identity{Issuer: issuer, Subject: "s-alice", Provider: "corp", Email: "alice@corp.example"}
	idB := user.Identity{Issuer: issuer, Subject: "s-bob", Provider: "corp"}
	alice, err := svc.CreateExternal(ctx, []string{"alice"}, nil, "oidc:corp", idA)
	if err != nil {
		t.Fatal(err)
	}
	bob, err := svc.CreateExternal(ctx, []string{"bob"}, nil, "oidc:corp", idB)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []auth.User{alice, bob} {
		if _, err := sessions.StartSession(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/auth/oidc/corp/callback", nil), u.ID, "oidc:corp"); err != nil {
			t.Fatal(err)
		}
	}
	live := func(u auth.User) int {
		t.Helper()
		recs, err := sessions.List(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		return len(recs)
	}
	refusals := []struct {
		name                  string
		user, issuer, subject string
	}{
		{"another user's link", "alice", issuer, idB.Subject},
		{"unknown subject", "alice", issuer, "s-nobody"},
		{"the subject at another issuer", "alice", "https://other.example", idA.Subject},
		{"unknown user", "no-such-user", issuer, idA.Subject},
		{"not UTF-8", "alice", issuer, "s-\xff"},
		{"NUL", "alice", issuer + "\x00", idA.Subject},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := svc.Unlink(ctx, tt.user, tt.issuer, tt.subject, "cli"); !errors.Is(err, auth.ErrNotFound) {
				t.Errorf("Unlink = %v, want ErrNotFound", err)
			}
		})
	}
	if live(alice) != 1 || live(bob) != 1 {
		t.Errorf("sessions after the refused unlinks: alice %d, bob %d; want 1 each", live(alice), live(bob))
	}
	for _, id := range []user.Identity{idA, idB} {
		if _, err := svc.Identity(ctx, id.Issuer, id.Subject); err != nil {
			t.Errorf("%s after the refused unlinks: %v, want it still linked", id.Subject, err)
		}
	}
	if evs, _ := st.ListAudit(ctx, audit.Filter{Type: audit.IdentityUnlinked}); len(evs) != 0 {
		t.Errorf("oidc.unlinked events after refusals = %+v, want none", evs)
	}

	if _, err := svc.Unlink(ctx, "ALICE", issuer, idA.Subject, "cli"); err != nil {
		t.Fatalf("Unlink of alice's own link: %v", err)
	}
	if live(alice) != 0 || live(bob) != 1 {
		t.Errorf("sessions after alice's unlink: alice %d (want 0), bob %d (want 1)", live(alice), live(bob))
	}
	if _, err := svc.Identity(ctx, issuer, idA.Subject); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("alice's link after the unlink: %v, want ErrNotFound", err)
	}
	evs, err := st.ListAudit(ctx, audit.Filter{Type: audit.IdentityUnlinked})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].UserID != alice.ID || evs[0].Username != "alice" || evs[0].Details["provider"] != "corp" ||
		evs[0].Details["issuer"] != issuer || evs[0].Details["subject"] != idA.Subject ||
		evs[0].Details["via"] != "cli" || evs[0].Details["actor"] != "cli" || evs[0].Details["sessions"] != "all" {
		t.Errorf("oidc.unlinked events = %+v, want one for alice naming corp, %s and %s, via and actor cli, sessions all", evs, issuer, idA.Subject)
	}
	if _, err := svc.Unlink(ctx, "alice", issuer, idA.Subject, "cli"); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("second Unlink = %v, want ErrNotFound", err)
	}
	// bob has an account of the issuer already (one per issuer and user).
	if err := svc.Link(ctx, idA, bob); !errors.Is(err, user.ErrIssuerLinked) {
		t.Errorf("linking the unlinked account to bob = %v, want user.ErrIssuerLinked", err)
	}
	carol, err := svc.Create(ctx, "carol", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Link(ctx, idA, carol); err != nil {
		t.Errorf("linking the unlinked account again: %v", err)
	}
}

func TestLogoutEverywhereEndsSessionsAndIsAudited(t *testing.T) {
	st := newStore(t)
	sessions := session.NewManager(st)
	svc := newService(t, st, cheap, user.WithRevokers(sessions), auditTo(st))
	ctx := context.Background()
	u, err := svc.Create(ctx, "alice", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := sessions.StartSession(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/auth/login", nil), u.ID, "password"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := svc.LogoutEverywhere(ctx, "ALICE", "cli"); err != nil {
		t.Fatal(err)
	}
	if live, err := sessions.List(ctx, u.ID); err != nil || len(live) != 0 {
		t.Errorf("sessions after LogoutEverywhere = %d, %v; want none", len(live), err)
	}
	evs, err := st.ListAudit(ctx, audit.Filter{Type: audit.SessionRevoked})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].UserID != u.ID || evs[0].Details["via"] != "cli" || evs[0].Details["sessions"] != "all" {
		t.Errorf("session.revoked events = %+v, want one for %s with via=cli sessions=all", evs, u.ID)
	}
}

// The operator reset removes every factor, signs the user out everywhere
// (the account may be compromised) and audits mfa.reset with the actor.
func TestResetSecondFactorsRemovesFactorsAndSignsOut(t *testing.T) {
	st := newStore(t)
	sessions := session.NewManager(st)
	sl, err := seal.New(make([]byte, 32), nil)
	if err != nil {
		t.Fatal(err)
	}
	factors := mfa.NewService(st, st, mfa.WithSealer(sl))
	svc := newService(t, st, cheap, user.WithRevokers(sessions), user.WithFactorReset(factors), auditTo(st))
	ctx := context.Background()
	u, err := svc.Create(ctx, "alice", goodPassword, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := factors.EnrolTOTP(ctx, u); err != nil {
		t.Fatal(err)
	}
	if _, err := factors.NewRecoveryCodes(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := sessions.StartSession(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/auth/login", nil), u.ID, "password"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.ResetSecondFactors(ctx, "alice", "cli"); err != nil {
		t.Fatal(err)
	}
	f, err := factors.Factors(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if f.TOTP || f.TOTPPending || f.RecoveryLeft != 0 {
		t.Errorf("factors after reset = %+v, want none", f)
	}
	if live, err := sessions.List(ctx, u.ID); err != nil || len(live) != 0 {
		t.Errorf("sessions after reset = %d, %v; want none", len(live), err)
	}
	evs, err := st.ListAudit(ctx, audit.Filter{Type: audit.MFAReset})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].UserID != u.ID || evs[0].Details["actor"] != "cli" {
		t.Errorf("mfa.reset events = %+v, want one for %s with actor=cli", evs, u.ID)
	}
	if _, err := svc.ResetSecondFactors(ctx, "nobody", "cli"); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("reset of an unknown user = %v, want ErrNotFound", err)
	}
}

// Wrong passwords sent at once count in the login throttle as if sent one
// after another: at most max_failures of them are checked, the rest are
// throttled (contract §3). Checked first and counted after, all of them
// passed the check before any was counted.
func TestParallelWrongPasswordsStopAtMaxFailures(t *testing.T) {
	const maxFailures, attempts = 3, 20
	st := newStore(t)
	limiter := throttle.NewLimiter(memory.New(), maxFailures, time.Hour)
	s := newService(t, st, cheap, user.WithLimiter(limiter))
	if _, err := s.Create(t.Context(), "alice", goodPassword, nil); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, attempts)
	for i := range attempts {
		wg.Go(func() {
			_, errs[i] = s.Login(t.Context(), user.Attempt{Username: "alice", Password: "wrong-" + goodPassword, IP: "192.0.2.1", Via: "json"})
		})
	}
	wg.Wait()
	checked := 0
	for _, err := range errs {
		switch {
		case errors.Is(err, auth.ErrInvalidCredentials):
			checked++
		case errors.Is(err, auth.ErrThrottled), errors.Is(err, auth.ErrOverloaded):
		default:
			t.Errorf("login: %v, want invalid credentials, throttled or overloaded", err)
		}
	}
	if checked > maxFailures {
		t.Errorf("%d of %d wrong passwords sent at once were checked, want at most max_failures (%d)", checked, attempts, maxFailures)
	}
	// The right password is throttled too now, and a right password that
	// does get checked takes its own count back: see TestLoginSuccessTakesItsAttemptBack.
	if _, err := s.Login(t.Context(), user.Attempt{Username: "alice", Password: goodPassword, IP: "192.0.2.1", Via: "json"}); !errors.Is(err, auth.ErrThrottled) {
		t.Errorf("right password after the burst: %v, want throttled", err)
	}
}

// A right password does not count as a failure, so successful logins
// never lock an account out.
func TestLoginSuccessTakesItsAttemptBack(t *testing.T) {
	st := newStore(t)
	limiter := throttle.NewLimiter(memory.New(), 2, time.Hour)
	s := newService(t, st, cheap, user.WithLimiter(limiter))
	if _, err := s.Create(t.Context(), "alice", goodPassword, nil); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := s.Login(t.Context(), user.Attempt{Username: "alice", Password: goodPassword, IP: "192.0.2.1", Via: "json"}); err != nil {
			t.Fatalf("login %d with the right password: %v", i+1, err)
		}
	}
	if err := limiter.Check(t.Context(), user.NameKey("alice"), "192.0.2.9"); err != nil {
		t.Errorf("the account-wide count after 5 right passwords: %v, want no throttle", err)
	}
}
