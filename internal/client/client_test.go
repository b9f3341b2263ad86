package client_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/client"
	"github.com/gatehouse-auth/gatehouse/internal/store/sqlite/sqlitetest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil/clocktest"
)

func newRegistry(t *testing.T, static ...client.Client) *client.Registry {
	t.Helper()
	s := sqlitetest.New(t)
	return client.NewRegistry(s, static)
}

// The attacks of issue 13 on redirect_uri: only the exact registered string
// passes, plus any port on a loopback IP for public (native) clients.
func TestRedirectAllowed(t *testing.T) {
	pub := client.Client{ID: "native", Type: client.Public, RedirectURIs: []string{
		"https://app.example.com/cb", "http://127.0.0.1/callback", "http://[::1]/callback", "com.example.app:/oauth",
	}}
	conf := pub
	conf.Type = client.Confidential
	tests := []struct {
		name string
		c    client.Client
		uri  string
		want bool
	}{
		{"exact", pub, "https://app.example.com/cb", true},
		{"custom scheme exact", pub, "com.example.app:/oauth", true},
		{"prefix", pub, "https://app.example.com/c", false},
		{"suffix path", pub, "https://app.example.com/cb/evil", false},
		{"suffix host", pub, "https://app.example.com.evil.io/cb", false},
		{"path traversal", pub, "https://app.example.com/cb/../admin", false},
		{"encoded traversal", pub, "https://app.example.com/cb/%2e%2e/x", false},
		{"extra query", pub, "https://app.example.com/cb?x=1", false},
		{"empty query", pub, "https://app.example.com/cb?", false},
		{"case of host", pub, "https://APP.example.com/cb", false},
		{"case of path", pub, "https://app.example.com/CB", false},
		{"trailing slash", pub, "https://app.example.com/cb/", false},
		{"userinfo", pub, "https://app.example.com@evil.io/cb", false},
		{"userinfo on registered host", pub, "https://evil@app.example.com/cb", false},
		{"fragment", pub, "https://app.example.com/cb#x", false},
		{"http instead of https", pub, "http://app.example.com/cb", false},
		{"explicit default port", pub, "https://app.example.com:443/cb", false},
		{"loopback any port public", pub, "http://127.0.0.1:51004/callback", true},
		{"loopback v6 any port public", pub, "http://[::1]:8080/callback", true},
		{"loopback no port public", pub, "http://127.0.0.1/callback", true},
		{"loopback other path", pub, "http://127.0.0.1:51004/callbackx", false},
		{"loopback extra query", pub, "http://127.0.0.1:51004/callback?x", false},
		{"loopback fragment", pub, "http://127.0.0.1:51004/callback#x", false},
		{"loopback userinfo", pub, "http://127.0.0.1:1@evil.io/callback", false},
		{"loopback https", pub, "https://127.0.0.1:51004/callback", false},
		{"localhost is not loopback IP", pub, "http://localhost:51004/callback", false},
		{"loopback bad port", pub, "http://127.0.0.1:80a/callback", false},
		{"other loopback port confidential", conf, "http://127.0.0.1:51004/callback", false},
		{"exact loopback confidential", conf, "http://127.0.0.1/callback", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.c.RedirectAllowed(tt.uri); got != tt.want {
				t.Fatalf("RedirectAllowed(%q) = %v, want %v", tt.uri, got, tt.want)
			}
		})
	}
}

func TestGrantableScopesDropsWhatTheClientMayNotHave(t *testing.T) {
	c := client.Client{Scopes: []string{"openid", "orders:read"}}
	got := c.GrantableScopes([]string{"admin", "openid", "openid", "orders:read", "orders:write"})
	if len(got) != 2 || got[0] != "openid" || got[1] != "orders:read" {
		t.Fatalf("GrantableScopes = %v, want [openid orders:read]", got)
	}
	if got := c.GrantableScopes(nil); len(got) != 0 {
		t.Fatalf("GrantableScopes(nil) = %v, want none", got)
	}
}

// A redirect URI with a scheme the browser runs or reads locally instead of
// handing the code to an app is refused by gatehouse client add (and the
// admin API: both Registry.Add), and a stored client that has one anyway
// (written before the rule, or straight to the database) never redirects
// there.
func TestUnsafeRedirectSchemesRefused(t *testing.T) {
	ctx := context.Background()
	s := sqlitetest.New(t)
	r := client.NewRegistry(s, nil)
	for i, uri := range []string{
		"javascript:alert(document.cookie)//", "JavaScript:alert(1)", "vbscript:msgbox(1)",
		"data:text/html,<script>alert(1)</script>", "blob:https://app.example.com/0b4c", "file:///etc/passwd",
	} {
		t.Run(uri, func(t *testing.T) {
			id := "bad-" + strconv.Itoa(i)
			for field, c := range map[string]client.Client{
				"redirect_uris[0]": {ID: id, Type: client.Public, GrantTypes: []string{"authorization_code"}, RedirectURIs: []string{uri}},
				"post_logout_redirect_uris[0]": {ID: id, Type: client.Public, GrantTypes: []string{"authorization_code"},
					RedirectURIs: []string{"https://app.example.com/cb"}, PostLogoutRedirectURIs: []string{uri}},
			} {
				if _, err := r.Add(ctx, c); !errors.Is(err, auth.ErrInvalidInput) || !strings.Contains(err.Error(), field) {
					t.Errorf("Add with %s %q = %v, want invalid input naming %s", field, uri, err, field)
				}
			}
			stored := client.Client{ID: id, Type: client.Public, GrantTypes: []string{"authorization_code"},
				RedirectURIs: []string{uri}, PostLogoutRedirectURIs: []string{uri}, CreatedAt: time.Now()}
			if err := s.CreateClient(ctx, stored); err != nil {
				t.Fatalf("CreateClient: %v", err)
			}
			c, err := r.Lookup(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if c.RedirectAllowed(uri) {
				t.Errorf("stored client: RedirectAllowed(%q) = true", uri)
			}
			if c.PostLogoutAllowed(uri) {
				t.Errorf("stored client: PostLogoutAllowed(%q) = true", uri)
			}
		})
	}
}

func TestRegistryAddAuthenticateRotateDelete(t *testing.T) {
	ctx := context.Background()
	static := client.Client{ID: "cfg", Type: client.Confidential, Secret: "0123456789abcdef0123456789abcdef", GrantTypes: []string{"client_credentials"}}
	r := newRegistry(t, static)

	secret, err := r.Add(ctx, client.Client{ID: "svc", Type: client.Confidential, GrantTypes: []string{"client_credentials"}})
	if err != nil {
		t.Fatalf("Add: %v", err)
	}
	if len(secret) < 43 {
		t.Fatalf("generated secret %d chars, want >= 256 bits", len(secret))
	}
	stored, _ := r.Lookup(ctx, "svc")
	if stored.SecretHash == "" || stored.SecretHash == secret {
		t.Fatalf("stored secret hash = %q: must be a hash, never the secret", stored.SecretHash)
	}
	if _, err := r.Authenticate(ctx, "svc", secret); err != nil {
		t.Fatalf("Authenticate(right secret): %v", err)
	}
	for name, try := range map[string][2]string{
		"wrong secret":   {"svc", secret + "x"},
		"no secret":      {"svc", ""},
		"unknown client": {"ghost", secret},
		"config wrong":   {"cfg", "nope"},
	} {
		if _, err := r.Authenticate(ctx, try[0], try[1]); !errors.Is(err, client.ErrInvalidClient) {
			t.Errorf("%s: Authenticate error = %v, want ErrInvalidClient", name, err)
		}
	}
	if _, err := r.Authenticate(ctx, "cfg", static.Secret); err != nil {
		t.Errorf("config client with its secret: %v", err)
	}

	fresh, err := r.RotateSecret(ctx, "svc")
	if err != nil || fresh == secret {
		t.Fatalf("RotateSecret = %q, %v", fresh, err)
	}
	if _, err := r.Authenticate(ctx, "svc", secret); !errors.Is(err, client.ErrInvalidClient) {
		t.Errorf("old secret after rotation error = %v, want ErrInvalidClient", err)
	}
	if _, err := r.Authenticate(ctx, "svc", fresh); err != nil {
		t.Errorf("new secret: %v", err)
	}

	if _, err := r.Add(ctx, client.Client{ID: "cfg", Type: client.Public, GrantTypes: []string{"refresh_token"}}); !errors.Is(err, auth.ErrConflict) {
		t.Errorf("Add over a config client error = %v, want ErrConflict", err)
	}
	if err := r.Delete(ctx, "cfg"); !errors.Is(err, client.ErrReadOnly) {
		t.Errorf("Delete(config client) error = %v, want ErrReadOnly", err)
	}
	if _, err := r.RotateSecret(ctx, "cfg"); !errors.Is(err, client.ErrReadOnly) {
		t.Errorf("RotateSecret(config client) error = %v, want ErrReadOnly", err)
	}
	if err := r.Delete(ctx, "svc"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := r.Authenticate(ctx, "svc", fresh); !errors.Is(err, client.ErrInvalidClient) {
		t.Errorf("deleted client error = %v, want ErrInvalidClient", err)
	}
}

func TestPublicClientAuthenticatesWithoutSecretOnly(t *testing.T) {
	ctx := context.Background()
	r := newRegistry(t)
	secret, err := r.Add(ctx, client.Client{ID: "spa", Type: client.Public, RedirectURIs: []string{"https://a.example/cb"}, GrantTypes: []string{"authorization_code"}})
	if err != nil || secret != "" {
		t.Fatalf("Add(public) = %q, %v; want no secret", secret, err)
	}
	if _, err := r.Authenticate(ctx, "spa", ""); err != nil {
		t.Fatalf("public client without secret: %v", err)
	}
	if _, err := r.Authenticate(ctx, "spa", "anything"); !errors.Is(err, client.ErrInvalidClient) {
		t.Fatalf("public client with a secret error = %v, want ErrInvalidClient", err)
	}
	if _, err := r.Add(ctx, client.Client{ID: "bad", Type: client.Public, GrantTypes: []string{"client_credentials"}}); !errors.Is(err, auth.ErrInvalidInput) {
		t.Fatalf("public client_credentials client error = %v, want ErrInvalidInput", err)
	}
}

// The password grant is for first-party clients only (contract §4): a
// client that users must consent to is refused it at registration, and one
// stored before that rule never gets it either.
func TestPasswordGrantIsForFirstPartyClientsOnly(t *testing.T) {
	ctx := context.Background()
	r := newRegistry(t)
	for _, tt := range []struct {
		name       string
		firstParty bool
		want       error
	}{
		{"third party", false, auth.ErrInvalidInput},
		{"first party", true, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := client.Client{ID: "pw-" + strings.ReplaceAll(tt.name, " ", "-"), Type: client.Confidential,
				GrantTypes: []string{"password", "refresh_token"}, FirstParty: tt.firstParty}
			if _, err := r.Add(ctx, c); !errors.Is(err, tt.want) || (err != nil) != (tt.want != nil) {
				t.Fatalf("Add = %v, want %v", err, tt.want)
			}
			if got := c.AllowsGrant(client.GrantPassword); got != tt.firstParty {
				t.Errorf("AllowsGrant(password) = %v, want %v", got, tt.firstParty)
			}
			if !c.AllowsGrant(client.GrantRefreshToken) {
				t.Errorf("AllowsGrant(refresh_token) = false, want true")
			}
		})
	}
}

// Every change to a stored client is audited, and no event carries the
// secret.
func TestRegistryAuditsChanges(t *testing.T) {
	ctx := context.Background()
	s := sqlitetest.New(t)
	r := client.NewRegistry(s, nil, client.WithAudit(audit.New(s, slog.New(slog.DiscardHandler), time.Now)))
	secret, err := r.Add(ctx, client.Client{ID: "svc", Type: client.Confidential, GrantTypes: []string{"client_credentials"}})
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := r.RotateSecret(ctx, "svc")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Delete(ctx, "svc"); err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{audit.ClientCreated, audit.ClientSecret, audit.ClientDeleted} {
		evs, err := s.ListAudit(ctx, audit.Filter{Type: typ})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 1 || evs[0].Details["client_id"] != "svc" {
			t.Fatalf("%s events = %+v, want one naming svc", typ, evs)
		}
		for k, v := range evs[0].Details {
			if strings.Contains(v, secret) || strings.Contains(v, fresh) {
				t.Errorf("%s detail %s carries a secret", typ, k)
			}
		}
	}
}

// gatehouse's own client IDs cannot be registered: the built-in password
// grant's families (and `token issue`'s tokens) would become that
// client's, and deleting it would end them.
func TestBuiltinClientIDsAreReserved(t *testing.T) {
	ctx := context.Background()
	r := newRegistry(t)
	for _, id := range []string{client.BuiltinID, client.CLIID} {
		c := client.Client{ID: id, Type: client.Public, GrantTypes: []string{"authorization_code"},
			RedirectURIs: []string{"https://app.example/cb"}}
		if _, err := r.Add(ctx, c); !errors.Is(err, auth.ErrInvalidInput) {
			t.Errorf("Add(%q) = %v, want ErrInvalidInput", id, err)
		}
	}
}

// racingStore is a real store whose first SetClientSecret lets another
// rotation of the same client run to its end first: two rotations that
// both read the client before either stored its new secret.
type racingStore struct {
	client.Store
	first func()
}

func (s *racingStore) SetClientSecret(ctx context.Context, id, hash, oldSID, newSID string, at time.Time) error {
	if f := s.first; f != nil {
		s.first = nil
		f()
	}
	return s.Store.SetClientSecret(ctx, id, hash, oldSID, newSID, at)
}

// Two rotations of one secret at once: each token sid the client ever had,
// but its last, is denied (the secret it was given with no longer works),
// and the secret the later rotation returns is the one that works.
func TestConcurrentRotationsDenyEverySupersededTokenSID(t *testing.T) {
	ctx := context.Background()
	s := sqlitetest.New(t)
	racing := &racingStore{Store: s}
	var denied []string
	r := client.NewRegistry(racing, nil, client.WithOnSecretRotated(func(_ context.Context, _, sid string) error {
		denied = append(denied, sid)
		return nil
	}))
	if _, err := r.Add(ctx, client.Client{ID: "svc", Type: client.Confidential, GrantTypes: []string{"client_credentials"}}); err != nil {
		t.Fatalf("Add: %v", err)
	}
	sids := []string{lookupSID(t, r)}
	racing.first = func() {
		if _, err := r.RotateSecret(ctx, "svc"); err != nil {
			t.Errorf("inner RotateSecret: %v", err)
		}
		sids = append(sids, lookupSID(t, r))
	}
	secret, err := r.RotateSecret(ctx, "svc")
	if err != nil {
		t.Fatalf("RotateSecret: %v", err)
	}
	sids = append(sids, lookupSID(t, r))
	if _, err := r.Authenticate(ctx, "svc", secret); err != nil {
		t.Errorf("the secret RotateSecret returned: %v", err)
	}
	for _, sid := range sids[:len(sids)-1] {
		if !slices.Contains(denied, sid) {
			t.Errorf("token sid %s was replaced but never denied (denied %v, sids %v)", sid, denied, sids)
		}
	}
	if slices.Contains(denied, sids[len(sids)-1]) {
		t.Errorf("the current token sid %s was denied", sids[len(sids)-1])
	}
}

func lookupSID(t *testing.T, r *client.Registry) string {
	t.Helper()
	c, err := r.Lookup(context.Background(), "svc")
	if err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	return c.TokenSID
}

// AllowsOrigin: the origins of http(s) redirect URIs as a browser writes
// them in Origin, exact; native apps' schemes have none.
func TestAllowsOriginIsTheBrowserOriginOfARedirectURI(t *testing.T) {
	r := newRegistry(t, client.Client{ID: "spa", Type: client.Public, GrantTypes: []string{client.GrantAuthorizationCode}, RedirectURIs: []string{
		"https://App.Example.COM/cb", "https://api.example.com:443/cb", "http://intranet.example:80/cb",
		"http://[::1]:8080/cb", "https://alt.example.com:8443/x?y=1", "com.example.app:/oauth", "http://127.0.0.1/native",
	}})
	tests := []struct {
		origin string
		want   bool
	}{
		{"https://app.example.com", true},
		{"https://api.example.com", true},
		{"http://intranet.example", true},
		{"http://[::1]:8080", true},
		{"https://alt.example.com:8443", true},
		{"http://127.0.0.1", true},
		{"http://127.0.0.1:9000", false}, // no RFC 8252 any-port rule
		{"https://App.Example.COM", false},
		{"https://app.example.com:443", false},
		{"https://app.example.com/", false},
		{"http://app.example.com", false},
		{"https://alt.example.com", false},
		{"com.example.app:", false},
		{"com.example.app://", false},
		{"null", false},
		{"", false},
	}
	for _, tt := range tests {
		got, err := r.AllowsOrigin(context.Background(), tt.origin)
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("AllowsOrigin(%q) = %v, want %v", tt.origin, got, tt.want)
		}
	}
}

// Add and Delete change the set at once, with no clock involved.
func TestAllowsOriginFollowsAddAndDelete(t *testing.T) {
	r := newRegistry(t)
	ctx := context.Background()
	const origin = "https://late.example.com"
	allowed := func() bool {
		t.Helper()
		ok, err := r.AllowsOrigin(ctx, origin)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if allowed() {
		t.Fatal("allowed before any client")
	}
	if _, err := r.Add(ctx, client.Client{ID: "late", Type: client.Public, GrantTypes: []string{client.GrantAuthorizationCode},
		RedirectURIs: []string{origin + "/cb"}}); err != nil {
		t.Fatal(err)
	}
	if !allowed() {
		t.Error("not allowed after Add")
	}
	if err := r.Delete(ctx, "late"); err != nil {
		t.Fatal(err)
	}
	if allowed() {
		t.Error("allowed after Delete")
	}
}

// A host written in Unicode has the origin a browser sends for it: its
// ASCII (punycode) form, as the WHATWG URL parser maps it (UTS #46,
// nontransitional, no STD3 or hyphen checks), lower case, without the
// default port. The redirect URI itself is stored, and matched at
// /auth/authorize, as written.
func TestAllowsOriginOfAnInternationalisedHost(t *testing.T) {
	st := sqlitetest.New(t)
	r := client.NewRegistry(st, []client.Client{{ID: "config-spa", Type: client.Public, GrantTypes: []string{client.GrantAuthorizationCode},
		RedirectURIs: []string{"https://bücher.example/cb"}}})
	ctx := context.Background()
	stored := []string{
		"https://BÜCHER.example:443/upper",   // case mapped, default port elided
		"http://ＡＰＰ.example:80/fullwidth",    // width mapped
		"https://faß.example/sharp-s",        // nontransitional: ß stays (xn--fa-hia)
		"https://b%C3%BCcher.test:8443/pct",  // percent-encoded UTF-8 host
		"https://r3---sn-x.example/hyphens",  // no CheckHyphens, as browsers
		"https://under_score.example/std3",   // no UseSTD3ASCIIRules, as browsers
		"https://xn--bcher-kva.org/puny",     // already ASCII
		"https://xn--a.example/bad-punycode", // invalid punycode: a browser has no origin for it
	}
	if _, err := r.Add(ctx, client.Client{ID: "stored-spa", Type: client.Public, GrantTypes: []string{client.GrantAuthorizationCode},
		RedirectURIs: stored}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		origin string
		want   bool
	}{
		{"https://xn--bcher-kva.example", true}, // config client
		{"https://bücher.example", false},       // Unicode: no browser sends it
		{"https://BÜCHER.example", false},
		{"https://xn--bcher-kva.example:443", false},
		{"http://app.example", true},
		{"http://ＡＰＰ.example", false},
		{"https://xn--fa-hia.example", true},
		{"https://fass.example", false}, // the transitional mapping
		{"https://xn--bcher-kva.test:8443", true},
		{"https://r3---sn-x.example", true},
		{"https://under_score.example", true},
		{"https://xn--bcher-kva.org", true},
		{"https://xn--a.example", false},
	}
	for _, tt := range tests {
		got, err := r.AllowsOrigin(ctx, tt.origin)
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("AllowsOrigin(%q) = %v, want %v", tt.origin, got, tt.want)
		}
	}
	// Stored and matched as written: the punycode spelling is another
	// redirect URI.
	for id, uri := range map[string]string{"config-spa": "https://bücher.example/cb", "stored-spa": stored[0]} {
		c, err := r.Lookup(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(c.RedirectURIs, uri) {
			t.Errorf("%s: redirect URIs %q, want %q among them as written", id, c.RedirectURIs, uri)
		}
		if !c.RedirectAllowed(uri) {
			t.Errorf("%s: RedirectAllowed(%q) = false", id, uri)
		}
	}
	c, _ := r.Lookup(ctx, "config-spa")
	if c.RedirectAllowed("https://xn--bcher-kva.example/cb") {
		t.Error("the punycode spelling of a Unicode redirect URI is allowed at /auth/authorize")
	}
}

// AnyAllowsGrant answers from the same listing as AllowsOrigin: a grant
// some client may use (a first-party client for the password grant), a
// change through the registry at once, one behind its back within
// OriginsMaxAge, and no listing per call.
func TestAnyAllowsGrantIsCached(t *testing.T) {
	st := sqlitetest.New(t)
	clock := clocktest.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	r := client.NewRegistry(st, []client.Client{{ID: "third", Type: client.Confidential, Secret: strings.Repeat("s", 32),
		GrantTypes: []string{client.GrantClientCredentials, client.GrantPassword}}}, client.WithClock(clock.Now))
	ctx := context.Background()
	allows := func(g string) bool {
		t.Helper()
		ok, err := r.AnyAllowsGrant(ctx, g)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !allows(client.GrantClientCredentials) {
		t.Error("client_credentials: a config client has it")
	}
	if allows(client.GrantPassword) {
		t.Error("password: only a client that is not first-party has it")
	}
	first := client.Client{ID: "first", Type: client.Public, FirstParty: true, GrantTypes: []string{client.GrantPassword}}
	if _, err := r.Add(ctx, first); err != nil {
		t.Fatal(err)
	}
	if !allows(client.GrantPassword) {
		t.Error("password: not allowed at once after Add")
	}
	if err := r.Delete(ctx, "first"); err != nil {
		t.Fatal(err)
	}
	if allows(client.GrantPassword) {
		t.Error("password: still allowed after Delete")
	}
	// Behind the registry's back (another instance, the CLI): the
	// listing is kept for OriginsMaxAge, so the store is not asked again.
	if err := st.CreateClient(ctx, first); err != nil {
		t.Fatal(err)
	}
	if allows(client.GrantPassword) {
		t.Error("password: the store was listed again within OriginsMaxAge")
	}
	clock.Advance(client.OriginsMaxAge)
	if !allows(client.GrantPassword) {
		t.Errorf("password: a stored first-party client not seen after %v", client.OriginsMaxAge)
	}
}
