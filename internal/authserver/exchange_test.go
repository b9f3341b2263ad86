package authserver_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/authserver"
	"github.com/gatehouse-auth/gatehouse/internal/client"
	"github.com/gatehouse-auth/gatehouse/internal/keys"
	"github.com/gatehouse-auth/gatehouse/internal/revocation"
	"github.com/gatehouse-auth/gatehouse/internal/session"
	"github.com/gatehouse-auth/gatehouse/internal/store/sqlite"
	"github.com/gatehouse-auth/gatehouse/internal/store/sqlite/sqlitetest"
	"github.com/gatehouse-auth/gatehouse/internal/token"
)

const (
	callback = "https://rp.example/cb"
	// verifier is a valid PKCE verifier (43–128 unreserved characters).
	verifier = "a-pkce-verifier-of-more-than-43-characters-0123456789"
)

var (
	// thirdParty needs the user's consent; firstParty does not. Both are
	// config clients: the store does not hold them.
	thirdParty = client.Client{ID: "web", Type: client.Confidential, RedirectURIs: []string{callback},
		GrantTypes: []string{client.GrantAuthorizationCode, client.GrantRefreshToken},
		Scopes:     []string{client.ScopeOpenID, client.ScopeOfflineAccess}, FromConfig: true}
	firstParty = client.Client{ID: "spa", Type: client.Public, RedirectURIs: []string{callback}, FirstParty: true,
		GrantTypes: []string{client.GrantAuthorizationCode, client.GrantRefreshToken},
		Scopes:     []string{client.ScopeOpenID, client.ScopeOfflineAccess}, FromConfig: true}
)

// holdable is a real SQLite store whose first CreateRefresh or
// AddSessionGrant (the one named by at) stops half way: it signals entered
// and waits for release before doing its work, so that a test can run
// something else at exactly that point of an exchange.
type holdable struct {
	*sqlite.Store
	at      string
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (h *holdable) hold(step string) {
	if step != h.at {
		return
	}
	h.once.Do(func() {
		h.entered <- struct{}{}
		<-h.release
	})
}

func (h *holdable) CreateRefresh(ctx context.Context, r token.Refresh) error {
	h.hold("CreateRefresh")
	return h.Store.CreateRefresh(ctx, r)
}

func (h *holdable) AddSessionGrant(ctx context.Context, g authserver.SessionGrant) error {
	h.hold("AddSessionGrant")
	return h.Store.AddSessionGrant(ctx, g)
}

// fixture is an authorization server as app wires it, on real SQLite
// stores: codes, consents, refresh families, session grants and the
// revocation feed in one, browser sessions in another (so that a test can
// take the session store down alone).
type fixture struct {
	store    *holdable
	sessDB   *sqlite.Store
	sessions *session.Manager
	grants   *token.Grants
	server   *authserver.Server
	user     auth.User
}

// newFixture builds the server; holdAt names the store call to hold ("" for
// none).
func newFixture(t *testing.T, holdAt string) *fixture {
	t.Helper()
	ctx := context.Background()
	st := &holdable{Store: sqlitetest.New(t), at: holdAt, entered: make(chan struct{}), release: make(chan struct{})}
	now := time.Now()
	u := auth.User{ID: "u1", Username: "alice", CreatedAt: now, UpdatedAt: now}
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	ks, err := keys.NewSet(ctx, nil, keys.HS256, keys.WithHMACSecret([]byte("a-test-hmac-secret-of-at-least-32-bytes")))
	if err != nil {
		t.Fatal(err)
	}
	iss := token.NewIssuer(ks)
	grants := token.NewGrants(iss, st, st, revocation.NewWatcher(st))
	sessDB := sqlitetest.New(t)
	if err := sessDB.CreateUser(ctx, u); err != nil { // sessions die with their user
		t.Fatal(err)
	}
	sessions := session.NewManager(sessDB)
	srv := authserver.New(authserver.Deps{
		Store: st, Grants: grants, Issuer: iss, Users: st, Logouts: st,
		// As app wires it.
		SessionAlive: func(ctx context.Context, id string) error { _, err := sessions.LookupID(ctx, id); return err },
	})
	return &fixture{store: st, sessDB: sessDB, sessions: sessions, grants: grants, server: srv, user: u}
}

// code signs the user in (a new browser session), records their consent
// to c unless it is first-party, and issues c a code in that session for
// openid offline_access. It returns the code and the session ID.
func (f *fixture) code(t *testing.T, c client.Client) (code, sessionID string) {
	t.Helper()
	ctx := context.Background()
	_, rec, err := f.sessions.Create(ctx, f.user.ID, session.Meta{Method: "password", AMR: []string{"pwd"}})
	if err != nil {
		t.Fatal(err)
	}
	scopes := []string{client.ScopeOpenID, client.ScopeOfflineAccess}
	if !c.FirstParty {
		if err := f.server.Consent(ctx, c, f.user.ID, scopes); err != nil {
			t.Fatal(err)
		}
	}
	sum := sha256.Sum256([]byte(verifier))
	code, err = f.server.IssueCode(ctx, authserver.Request{Client: c, RedirectURI: callback, Scopes: scopes,
		Challenge: base64.RawURLEncoding.EncodeToString(sum[:])}, f.user.ID, rec.ID, rec.CreatedAt, rec.AMR)
	if err != nil {
		t.Fatal(err)
	}
	return code, rec.ID
}

func (f *fixture) exchange(c client.Client, code string) (authserver.Tokens, error) {
	return f.server.Exchange(context.Background(), c, code, callback, verifier)
}

// endSession ends a browser session the way logout does, and runs what the
// revocation watcher's hook queues for it.
func (f *fixture) endSession(t *testing.T, id string) {
	t.Helper()
	ctx := context.Background()
	if err := f.sessions.Revoke(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := f.server.SessionEnded(ctx, id); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) withdraw(t *testing.T, c client.Client) {
	t.Helper()
	if err := f.server.WithdrawConsent(context.Background(), f.user.ID, c.ID); err != nil {
		t.Fatal(err)
	}
}

// assertNothingLives checks that the exchange handed out no usable grant:
// every refresh family of the user is revoked, and a refresh token it
// returned (if any) is refused.
func (f *fixture) assertNothingLives(t *testing.T, c client.Client, out authserver.Tokens) {
	t.Helper()
	ctx := context.Background()
	fams, err := f.grants.Families(ctx, f.user.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, fam := range fams {
		if fam.RevokedAt.IsZero() {
			t.Errorf("refresh family %s of %s is live", fam.ID, fam.ClientID)
		}
	}
	if out.RefreshToken != "" {
		if _, err := f.grants.RefreshFor(ctx, token.RefreshRequest{Token: out.RefreshToken, ClientID: c.ID}); !errors.Is(err, token.ErrInvalidGrant) {
			t.Errorf("refresh with the exchanged token: error = %v, want ErrInvalidGrant", err)
		}
	}
}

// A code is bound to the browser session it was issued in and, for a
// client that is not first-party, to the user's consent (contract §8).
// Once the session ended (logout: its apps' grants were taken already,
// none for this code) or the consent was withdrawn, the code is refused:
// tokens issued then would belong to no live session, so that nothing
// would ever end them.
func TestExchangeRefusesCodeOfEndedSessionOrWithdrawnConsent(t *testing.T) {
	tests := []struct {
		name    string
		client  client.Client
		before  func(t *testing.T, f *fixture, sessionID string)
		refused bool
	}{
		{name: "SessionAndConsentLive", client: thirdParty, before: func(*testing.T, *fixture, string) {}},
		{name: "FirstPartyNeedsNoConsent", client: firstParty, before: func(*testing.T, *fixture, string) {}},
		{name: "SessionEnded", client: thirdParty, refused: true,
			before: func(t *testing.T, f *fixture, id string) { f.endSession(t, id) }},
		{name: "SessionOfFirstPartyClientEnded", client: firstParty, refused: true,
			before: func(t *testing.T, f *fixture, id string) { f.endSession(t, id) }},
		{name: "ConsentWithdrawn", client: thirdParty, refused: true,
			before: func(t *testing.T, f *fixture, _ string) { f.withdraw(t, thirdParty) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, "")
			code, sid := f.code(t, tt.client)
			tt.before(t, f, sid)
			out, err := f.exchange(tt.client, code)
			if !tt.refused {
				if err != nil {
					t.Fatalf("Exchange: %v", err)
				}
				if _, err := f.grants.RefreshFor(context.Background(), token.RefreshRequest{Token: out.RefreshToken, ClientID: tt.client.ID}); err != nil {
					t.Fatalf("refresh: %v", err)
				}
				return
			}
			if !errors.Is(err, token.ErrInvalidGrant) {
				t.Errorf("Exchange error = %v, want ErrInvalidGrant", err)
			}
			f.assertNothingLives(t, tt.client, out)
			apps, err := f.server.SessionApps(context.Background(), f.user.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got := apps[sid]; len(got) != 0 {
				t.Errorf("apps recorded for the ended session: %v, want none", got)
			}
		})
	}
}

// A session end or consent withdrawal that runs while the code is being
// redeemed ends what the redemption creates, whichever step it lands on:
// the session grant is written before the tokens are stored and the
// session and consent are checked again after, so either the session end
// (EndSession, WithdrawConsent) finds the grant or the check finds the
// session or consent gone.
func TestExchangeRacingSessionEndOrConsentWithdrawal(t *testing.T) {
	tests := []struct {
		name   string
		holdAt string
		during func(t *testing.T, f *fixture, sessionID string)
	}{
		{"SessionEndsBeforeTheSessionGrantIsWritten", "AddSessionGrant",
			func(t *testing.T, f *fixture, id string) { f.endSession(t, id) }},
		{"SessionEndsWhileTheTokensAreStored", "CreateRefresh",
			func(t *testing.T, f *fixture, id string) { f.endSession(t, id) }},
		{"ConsentWithdrawnBeforeTheSessionGrantIsWritten", "AddSessionGrant",
			func(t *testing.T, f *fixture, _ string) { f.withdraw(t, thirdParty) }},
		{"ConsentWithdrawnWhileTheTokensAreStored", "CreateRefresh",
			func(t *testing.T, f *fixture, _ string) { f.withdraw(t, thirdParty) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.holdAt)
			code, sid := f.code(t, thirdParty)
			type result struct {
				out authserver.Tokens
				err error
			}
			done := make(chan result, 1)
			go func() {
				out, err := f.exchange(thirdParty, code)
				done <- result{out, err}
			}()
			select {
			case <-f.store.entered:
			case r := <-done:
				t.Fatalf("exchange finished without reaching %s: %v", tt.holdAt, r.err)
			case <-time.After(5 * time.Second):
				t.Fatalf("exchange did not reach %s within 5s", tt.holdAt)
			}
			tt.during(t, f, sid)
			close(f.store.release)
			r := <-done
			if !errors.Is(r.err, token.ErrInvalidGrant) {
				t.Errorf("Exchange error = %v, want ErrInvalidGrant", r.err)
			}
			f.assertNothingLives(t, thirdParty, r.out)
		})
	}
}

// A session store that does not answer must not let a code through: the
// exchange fails closed (a store outage, not invalid_grant, so the client
// may retry) and leaves nothing behind, whether the store is down when the
// exchange starts or goes down while its tokens are stored.
func TestExchangeFailsClosedWhenTheSessionStoreIsDown(t *testing.T) {
	for _, holdAt := range []string{"", "CreateRefresh"} {
		name := map[string]string{"": "DownBeforeTheExchange", "CreateRefresh": "DownWhileTheTokensAreStored"}[holdAt]
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, holdAt)
			code, _ := f.code(t, thirdParty)
			done := make(chan error, 1)
			var out authserver.Tokens
			if holdAt == "" {
				_ = f.sessDB.Close()
				_, err := f.exchange(thirdParty, code)
				done <- err
			} else {
				go func() {
					var err error
					out, err = f.exchange(thirdParty, code)
					done <- err
				}()
				<-f.store.entered
				_ = f.sessDB.Close()
				close(f.store.release)
			}
			err := <-done
			if !errors.Is(err, auth.ErrUnavailable) || errors.Is(err, token.ErrInvalidGrant) {
				t.Errorf("Exchange error = %v, want ErrUnavailable and not ErrInvalidGrant", err)
			}
			if out.AccessToken != "" {
				t.Errorf("Exchange handed out tokens")
			}
			f.assertNothingLives(t, thirdParty, out)
		})
	}
}

// A code replayed while its first redemption is between redeeming the code
// and storing the refresh family revokes that family all the same
// (RFC 6749 §4.1.2): the revocation reaches a family stored after it, so
// the refresh token does not outlive the sid denial of its access tokens.
func TestCodeReplayRacingTheFirstRedemptionRevokesItsFamily(t *testing.T) {
	f := newFixture(t, "CreateRefresh")
	code, _ := f.code(t, firstParty)
	type result struct {
		out authserver.Tokens
		err error
	}
	first := make(chan result, 1)
	go func() {
		out, err := f.exchange(firstParty, code)
		first <- result{out, err}
	}()
	<-f.store.entered // the code is redeemed; its family is not stored yet
	if _, err := f.exchange(firstParty, code); !errors.Is(err, token.ErrInvalidGrant) || !errors.Is(err, auth.ErrReused) {
		t.Errorf("replay error = %v, want ErrInvalidGrant and ErrReused", err)
	}
	close(f.store.release)
	r := <-first
	if !errors.Is(r.err, token.ErrInvalidGrant) {
		t.Errorf("first redemption error = %v, want ErrInvalidGrant (its family was revoked before it was stored)", r.err)
	}
	f.assertNothingLives(t, firstParty, r.out)
}

// Every code is issued for the redirect_uri its authorization request
// named (/auth/authorize refuses a request without one), so an exchange
// without redirect_uri can never succeed. It is a malformed request, told
// as such ("redirect_uri is required", not an invalid code), and refused
// before the code is looked up, like one without code or code_verifier:
// the code is not burnt, and the client's corrected request gets tokens.
func TestExchangeWithoutRedirectURIIsInvalidRequestAndKeepsTheCode(t *testing.T) {
	f := newFixture(t, "")
	code, _ := f.code(t, firstParty)
	_, err := f.server.Exchange(context.Background(), firstParty, code, "", verifier)
	if !errors.Is(err, authserver.ErrInvalidRequest) || errors.Is(err, token.ErrInvalidGrant) {
		t.Fatalf("Exchange without redirect_uri: error = %v, want ErrInvalidRequest", err)
	}
	if _, err := f.exchange(firstParty, code); err != nil {
		t.Fatalf("Exchange with redirect_uri after the refusal: %v, want tokens (the code must not be used up)", err)
	}
}
