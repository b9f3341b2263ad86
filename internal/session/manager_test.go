package session_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/revocation"
	"github.com/gatehouse-auth/gatehouse/internal/session"
	"github.com/gatehouse-auth/gatehouse/internal/store/sqlite"
	"github.com/gatehouse-auth/gatehouse/internal/store/sqlite/sqlitetest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil/clocktest"
)

const (
	idle     = 30 * time.Minute
	absolute = 24 * time.Hour
	cacheTTL = time.Minute // cache behaviour itself: cache_test.go
)

// env is a Manager and an Authenticator over a real SQLite store (sessions
// and users) with a test clock.
type env struct {
	t       *testing.T
	store   *sqlite.Store
	clock   *clocktest.Clock
	manager *session.Manager
	user    auth.User
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	st := sqlitetest.New(t)
	e := &env{t: t, store: st, clock: clocktest.New(time.Now())}
	e.manager = session.NewManager(st, session.WithTimeouts(idle, absolute), session.WithClock(e.clock.Now),
		session.WithCookie(session.Cookie{Name: "gh", SameSite: http.SameSiteLaxMode}))
	now := e.clock.Now().UTC()
	e.user = auth.User{ID: "u1", Username: "alice", Roles: []string{"user"}, CreatedAt: now, UpdatedAt: now}
	if err := st.CreateUser(ctx, e.user); err != nil {
		t.Fatal(err)
	}
	return e
}

// service is a session.Service whose Authenticator caches for cacheTTL.
func (e *env) service() *session.Service {
	return session.NewService(session.NewAuthenticator(e.manager, e.store, cacheTTL, nil))
}

// login starts a session on a request that carries cookie (if not empty)
// and returns the new cookie value and record.
func (e *env) login(cookie string) (string, session.Record) {
	e.t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/auth/login", nil)
	if cookie != "" {
		r.AddCookie(&http.Cookie{Name: "gh", Value: cookie})
	}
	w := httptest.NewRecorder()
	rec, err := e.manager.StartSession(w, r, e.user.ID, "password")
	if err != nil {
		e.t.Fatalf("StartSession: %v", err)
	}
	for _, c := range w.Result().Cookies() {
		if c.Name == "gh" {
			if !c.HttpOnly || c.Path != "/" {
				e.t.Errorf("session cookie %+v is not HttpOnly with Path=/", c)
			}
			return c.Value, rec
		}
	}
	e.t.Fatal("StartSession set no session cookie")
	return "", session.Record{}
}

func request(cookie string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/auth/session", nil)
	r.AddCookie(&http.Cookie{Name: "gh", Value: cookie})
	return r
}

func TestStartSessionNeverAdoptsACookie(t *testing.T) {
	e := newEnv(t)
	svc := e.service()
	first, _ := e.login("")
	planted := "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" // well-formed, chosen by an attacker
	for _, tc := range []struct{ name, cookie string }{
		{"a live session of the browser", first},
		{"a cookie planted by an attacker", planted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			value, rec := e.login(tc.cookie)
			if value == tc.cookie || rec.ID == session.IDFromCookie(tc.cookie) {
				t.Fatalf("login kept the cookie the request came with")
			}
			if _, _, err := svc.Authenticate(request(tc.cookie)); !errors.Is(err, auth.ErrUnauthenticated) {
				t.Errorf("old cookie after login: %v, want ErrUnauthenticated", err)
			}
			if _, _, err := svc.Authenticate(request(value)); err != nil {
				t.Errorf("new cookie: %v", err)
			}
		})
	}
}

func TestLastSeenIsWrittenAtMostOncePerMinute(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, rec := e.login("")
	stored := func() session.Record {
		t.Helper()
		r, err := e.store.Session(ctx, rec.ID)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	e.clock.Advance(30 * time.Second)
	if _, err := e.manager.LookupID(ctx, rec.ID); err != nil {
		t.Fatal(err)
	}
	// Stores keep microseconds.
	if got := stored().LastSeenAt; !got.Equal(rec.LastSeenAt.Truncate(time.Microsecond)) {
		t.Errorf("last seen written after 30s (%v -> %v), want only after %v", rec.LastSeenAt, got, session.DefaultTouchEvery)
	}
	e.clock.Advance(31 * time.Second)
	if _, err := e.manager.LookupID(ctx, rec.ID); err != nil {
		t.Fatal(err)
	}
	now := e.clock.Now().UTC()
	if got := stored(); !got.LastSeenAt.Equal(now.Truncate(time.Microsecond)) || !got.IdleExpiresAt.Equal(now.Add(idle).Truncate(time.Microsecond)) {
		t.Errorf("after 61s: last seen %v, idle expiry %v; want %v and %v", got.LastSeenAt, got.IdleExpiresAt, now, now.Add(idle))
	}
}

func TestSessionsExpire(t *testing.T) {
	tests := []struct {
		name string
		// steps of inactivity, each followed by one request
		steps []time.Duration
		alive bool
	}{
		{"active within the idle timeout", []time.Duration{20 * time.Minute, 20 * time.Minute}, true},
		{"idle past the idle timeout", []time.Duration{idle}, false},
		{"active but past the absolute timeout", repeat(20*time.Minute, int(absolute/(20*time.Minute))), false},
		{"active until just before the absolute timeout", repeat(20*time.Minute, int(absolute/(20*time.Minute))-1), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			_, rec := e.login("")
			var err error
			for _, d := range tt.steps {
				e.clock.Advance(d)
				if _, err = e.manager.LookupID(ctx, rec.ID); err != nil {
					break
				}
			}
			if tt.alive {
				if err != nil {
					t.Fatalf("LookupID = %v, want a live session", err)
				}
				return
			}
			if !errors.Is(err, auth.ErrUnauthenticated) || !errors.Is(err, auth.ErrExpired) {
				t.Fatalf("LookupID = %v, want ErrUnauthenticated and ErrExpired", err)
			}
			if _, err := e.store.Session(ctx, rec.ID); !errors.Is(err, auth.ErrNotFound) {
				t.Errorf("expired session still stored: %v", err)
			}
		})
	}
}

// A session used more often than its idle timeout never idles out, and
// one left alone for idle_timeout does, whatever idle_timeout is: with an
// idle timeout of a minute or two, activity recorded only once a minute
// (DefaultTouchEvery) ended a session that was used every 30 seconds.
func TestShortIdleTimeoutKeepsAnActiveSessionAlive(t *testing.T) {
	for _, idle := range []time.Duration{20 * time.Second, time.Minute, 90 * time.Second, 2 * time.Minute} {
		t.Run(idle.String(), func(t *testing.T) {
			st := sqlitetest.New(t)
			clock := clocktest.New(time.Now())
			m := session.NewManager(st, session.WithTimeouts(idle, absolute), session.WithClock(clock.Now))
			ctx := context.Background()
			u := auth.User{ID: "u1", Username: "alice", CreatedAt: clock.Now().UTC(), UpdatedAt: clock.Now().UTC()}
			if err := st.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			_, rec, err := m.Create(ctx, u.ID, session.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			// Used every half idle timeout for ten idle timeouts.
			for i := 1; i <= 20; i++ {
				clock.Advance(idle / 2)
				if _, err := m.LookupID(ctx, rec.ID); err != nil {
					t.Fatalf("request %d, %v after the last: %v, want a live session", i, idle/2, err)
				}
			}
			clock.Advance(idle)
			if _, err := m.LookupID(ctx, rec.ID); !errors.Is(err, auth.ErrExpired) {
				t.Fatalf("after %v without a request: %v, want ErrExpired", idle, err)
			}
		})
	}
}

func repeat(d time.Duration, n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = d
	}
	return out
}

func TestRevokeOwnedRefusesOtherUsersSessions(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, rec := e.login("")
	if err := e.manager.RevokeOwned(ctx, "someone-else", rec.ID); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("RevokeOwned by another user = %v, want ErrNotFound", err)
	}
	if err := e.manager.RevokeOwned(ctx, e.user.ID, "no-such-session"); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("RevokeOwned of an unknown ID = %v, want ErrNotFound", err)
	}
	if _, err := e.store.Session(ctx, rec.ID); err != nil {
		t.Fatalf("session gone after refused revocations: %v", err)
	}
	if err := e.manager.RevokeOwned(ctx, e.user.ID, rec.ID); err != nil {
		t.Fatalf("RevokeOwned by its user: %v", err)
	}
	if _, err := e.store.Session(ctx, rec.ID); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("session still stored after RevokeOwned: %v", err)
	}
}

func TestRevokeOthersKeepsTheCurrentSession(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, a := e.login("")
	_, b := e.login("")
	_, cur := e.login("")
	n, err := e.manager.RevokeOthers(ctx, e.user.ID, cur.ID)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("RevokeOthers ended %d sessions, want 2", n)
	}
	live, err := e.manager.List(ctx, e.user.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(live) != 1 || live[0].ID != cur.ID {
		t.Errorf("live sessions = %+v, want only %s (not %s, %s)", live, cur.ID, a.ID, b.ID)
	}
}

// TestIDFromCookie: the stored ID is base64url(SHA-256(cookie value)), so a
// leaked store holds no usable cookie; computing it on every session
// request allocates only the ID string.
func TestIDFromCookie(t *testing.T) {
	value := "q7Jx2mR9vL0cYpW4nT8sKfH3dB6gZ1aE5uO-iN_PvXw" // 43 bytes, as Create makes them
	sum := sha256.Sum256([]byte(value))
	if got, want := session.IDFromCookie(value), base64.RawURLEncoding.EncodeToString(sum[:]); got != want {
		t.Errorf("IDFromCookie = %q, want %q", got, want)
	}
	if n := testing.AllocsPerRun(100, func() { _ = session.IDFromCookie(value) }); n != 1 {
		t.Errorf("IDFromCookie allocates %v times, want 1 (the ID)", n)
	}
}

// A revocation event lives as long as any instance may cache the session
// it names, and at least an hour: an instance cut off from the feed for
// longer than the event lives never reads it, so its cached copy must be
// gone by then (sessions.cache_ttl above an hour).
func TestRevocationEventOutlivesTheSessionCache(t *testing.T) {
	tests := []struct {
		name      string
		cachedFor time.Duration
		want      time.Duration
	}{
		{"Default", 0, time.Hour},
		{"ShortCache", 5 * time.Second, time.Hour},
		{"CacheLongerThanAnHour", 3 * time.Hour, 3 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t)
			opts := []session.Option{session.WithClock(e.clock.Now), session.WithPublisher(revocation.NewWatcher(e.store)),
				session.WithCookie(session.Cookie{Name: "gh", SameSite: http.SameSiteLaxMode})}
			if tt.cachedFor > 0 {
				opts = append(opts, session.WithCachedFor(tt.cachedFor))
			}
			e.manager = session.NewManager(e.store, opts...)
			_, rec := e.login("")
			if err := e.manager.Revoke(ctx, rec.ID); err != nil {
				t.Fatal(err)
			}
			evs, _, err := e.store.Revocations(ctx, "", e.clock.Now(), 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range evs {
				if ev.Kind == revocation.KindSession && ev.Key == rec.ID {
					if got := ev.Until.Sub(e.clock.Now()); got < tt.want-time.Second || got > tt.want+time.Second {
						t.Errorf("event lives %v, want %v", got, tt.want)
					}
					return
				}
			}
			t.Fatalf("no revocation event for the session in %+v", evs)
		})
	}
}

// A session keeps at most 256 bytes of the User-Agent, always as valid
// UTF-8: PostgreSQL refuses anything else, which failed the logins of
// browsers whose header carries a Latin-1 byte or is cut inside a
// character. Control, format and separator characters become U+FFFD, as
// in the audit event's user_agent.
func TestSessionUserAgentIsClippedValidUTF8(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name, ua, want string
	}{
		{"Short", "curl/8.0", "curl/8.0"},
		{"CutInsideACharacter", strings.Repeat("a", 255) + "é", strings.Repeat("a", 255)},
		{"CutAfterACharacter", strings.Repeat("a", 254) + "é" + "b", strings.Repeat("a", 254) + "é"},
		{"Latin1Byte", "Mozilla/5.0 (T\xe9l\xe9phone)", "Mozilla/5.0 (T\uFFFDl\uFFFDphone)"},
		// Cleaned as the audit event's user_agent is (audit.Printable).
		{"ControlAndFormat", "curl/8\x1b[2J\r\t\u202eb\u2028", "curl/8\uFFFD[2J\uFFFD\uFFFD\uFFFDb\uFFFD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/auth/login", nil)
			r.Header.Set("User-Agent", tt.ua)
			rec, err := e.manager.StartSession(httptest.NewRecorder(), r, e.user.ID, "password")
			if err != nil {
				t.Fatalf("StartSession: %v", err)
			}
			stored, err := e.store.Session(context.Background(), rec.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got := stored.UserAgent; got != tt.want || !utf8.ValidString(got) || len(got) > 256 {
				t.Errorf("stored User-Agent = %q, want %q", got, tt.want)
			}
		})
	}
}

// revokedAfterRead is a real store whose session reads are followed by the
// deletion of that session: a revocation landing between a lookup's read
// and its activity write (fault injection).
type revokedAfterRead struct{ *sqlite.Store }

func (s revokedAfterRead) Session(ctx context.Context, id string) (session.Record, error) {
	rec, err := s.Store.Session(ctx, id)
	if err == nil {
		if err := s.Store.DeleteSession(ctx, id); err != nil {
			return session.Record{}, err
		}
	}
	return rec, err
}

// A session revoked while it is being looked up is gone: the activity
// write finds no session, and the request it came with is not
// authenticated (nor is the session cached).
func TestSessionRevokedDuringLookupIsUnauthenticated(t *testing.T) {
	e := newEnv(t)
	cookie, _ := e.login("")
	m := session.NewManager(revokedAfterRead{e.store}, session.WithTimeouts(idle, absolute), session.WithClock(e.clock.Now),
		session.WithCookie(session.Cookie{Name: "gh", SameSite: http.SameSiteLaxMode}))
	a := session.NewAuthenticator(m, e.store, cacheTTL, nil)
	e.clock.Advance(session.DefaultTouchEvery) // the lookup writes activity
	if p, _, err := a.Authenticate(context.Background(), cookie); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("Authenticate = %+v, %v; want ErrUnauthenticated", p, err)
	}
	if p, _, err := a.Authenticate(context.Background(), cookie); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("Authenticate again = %+v, %v; want ErrUnauthenticated", p, err)
	}
}
