package oidc

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
)

// discoveryRetry is how long a failed discovery is remembered before the
// next login tries again, so a provider outage is not hammered by every click.
const discoveryRetry = 10 * time.Second

// keyRefetchFloor is the least time between two fetches of a provider's
// key set (keyFetchFloor). Anyone can send a token naming a kid gatehouse
// has not seen, and each such token made go-oidc fetch the keys again: the
// floor makes a flood of them cost the provider at most one fetch per
// 10 s, per instance, as discoveryRetry does for discovery. It is also
// the longest a token under a key the provider has just rotated to (and
// did not publish before using) is refused when a fetch happened just
// before: a retried login or logout then succeeds.
const keyRefetchFloor = 10 * time.Second

// discoveryTimeout bounds one discovery attempt.
const discoveryTimeout = 10 * time.Second

var defaultOIDCScopes = []string{gooidc.ScopeOpenID, "email", "profile"}

// Provider configures one OpenID Connect (or plain OAuth 2.0) login
// provider; it is what oidc needs of an oidc.providers entry (see
// docs/oidc.md for each key).
type Provider struct {
	Name                string // URL segment: /auth/oidc/{Name}/…
	DisplayName         string // button label; Name when empty
	Type                string // "oidc" (default, discovered from Issuer) or "oauth2"
	Issuer              string
	ClientID            string
	ClientSecret        string
	Scopes              []string
	CreateUsers         bool
	LinkByEmail         bool
	DefaultRoles        []string
	AllowedEmailDomains []string
	// BackchannelLogout accepts the provider's logout tokens at
	// POST /auth/oidc/{Name}/backchannel-logout (OIDC providers only).
	BackchannelLogout bool
	// Plain OAuth 2.0 (Type "oauth2") endpoints and claim mapping.
	AuthURL     string
	TokenURL    string
	UserinfoURL string
	Claims      ClaimMapping
}

// ClaimMapping names the userinfo fields of a plain OAuth 2.0 provider;
// empty fields take the defaults in docs/oidc.md.
type ClaimMapping struct {
	Subject       string
	Username      string
	Email         string
	EmailVerified string
}

// ProviderInfo is what the login page needs to show a "Sign in with" button.
type ProviderInfo struct {
	Name        string // URL segment: /auth/oidc/{Name}/start
	DisplayName string // button label; Name when not configured
}

// provider is one configured login provider. OIDC providers are discovered
// lazily (and again after a failure) so that gatehouse starts while a
// provider is down.
type provider struct {
	cfg         Provider
	redirectURL string
	issuer      string // identity key: the OIDC issuer, or the OAuth2 auth_url origin
	client      *http.Client
	now         func() time.Time

	mu      sync.Mutex
	ep      *endpoints
	lastTry time.Time
	lastErr error
}

// endpoints is a provider ready for use.
type endpoints struct {
	oauth    oauth2.Config
	verifier *gooidc.IDTokenVerifier // nil for plain OAuth 2.0
	op       *gooidc.Provider        // nil for plain OAuth 2.0
	// issParam: the provider advertises RFC 9207, so a missing iss response
	// parameter is refused (RFC 9207 section 2.4).
	issParam bool
}

func newProvider(cfg Provider, publicURL string, client *http.Client, now func() time.Time) (*provider, error) {
	issuer, err := cfg.AccountIssuer()
	if err != nil {
		return nil, err
	}
	p := &provider{
		cfg:         cfg,
		redirectURL: publicURL + "/auth/oidc/" + url.PathEscape(cfg.Name) + "/callback",
		issuer:      issuer,
		client:      client,
		now:         now,
	}
	if !p.isOAuth2() {
		return p, nil
	}
	p.ep = &endpoints{oauth: p.oauthConfig(oauth2.Endpoint{
		AuthURL: cfg.AuthURL, TokenURL: cfg.TokenURL, AuthStyle: oauth2.AuthStyleAutoDetect,
	}, cfg.Scopes)}
	return p, nil
}

// AccountIssuer is the issuer that the provider's logins record as their
// accounts' (user.Identity.Issuer, with the sub): Issuer, which an OIDC
// provider's ID tokens must carry; for plain OAuth 2.0 Issuer when set,
// else the origin of AuthURL. An administrator's link
// (user.Service.LinkAccount) takes it from here, so that the login finds
// the link.
func (cfg Provider) AccountIssuer() (string, error) {
	if cfg.Type != "oauth2" {
		return cfg.Issuer, nil
	}
	auth, err := url.Parse(cfg.AuthURL)
	if err != nil || auth.Scheme == "" || auth.Host == "" {
		return "", fmt.Errorf("oidc: provider %q: auth_url must be an absolute URL", cfg.Name)
	}
	if cfg.Issuer != "" {
		return cfg.Issuer, nil
	}
	return auth.Scheme + "://" + auth.Host, nil
}

func (p *provider) isOAuth2() bool { return p.cfg.Type == "oauth2" }

func (p *provider) info() ProviderInfo {
	name := p.cfg.DisplayName
	if name == "" {
		name = p.cfg.Name
	}
	return ProviderInfo{Name: p.cfg.Name, DisplayName: name}
}

func (p *provider) oauthConfig(ep oauth2.Endpoint, scopes []string) oauth2.Config {
	return oauth2.Config{
		ClientID:     p.cfg.ClientID,
		ClientSecret: p.cfg.ClientSecret,
		Endpoint:     ep,
		RedirectURL:  p.redirectURL,
		Scopes:       slices.Clone(scopes),
	}
}

// endpoints returns the ready provider, discovering it first when needed.
// While discovery fails it returns an auth.ErrUnavailable error, retrying at
// most every discoveryRetry.
func (p *provider) endpoints(ctx context.Context) (*endpoints, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ep != nil {
		return p.ep, nil
	}
	if p.lastErr != nil && p.now().Before(p.lastTry.Add(discoveryRetry)) {
		return nil, p.lastErr
	}
	p.lastTry = p.now()
	ep, err := p.discover(ctx)
	if err != nil {
		p.lastErr = fmt.Errorf("discover provider %q: %w", p.cfg.Name, providerDown{err})
		return nil, p.lastErr
	}
	p.ep, p.lastErr = ep, nil
	return ep, nil
}

func (p *provider) discover(ctx context.Context) (*endpoints, error) {
	// The request may end before the key set is used again, so discovery
	// runs on its own context; go-oidc keeps only the HTTP client from it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), discoveryTimeout)
	defer cancel()
	op, err := gooidc.NewProvider(gooidc.ClientContext(ctx, p.client), p.cfg.Issuer)
	if err != nil {
		return nil, err
	}
	var meta struct {
		IssParam    bool     `json:"authorization_response_iss_parameter_supported"`
		AuthMethods []string `json:"token_endpoint_auth_methods_supported"`
		JWKS        string   `json:"jwks_uri"`
		Algs        []string `json:"id_token_signing_alg_values_supported"`
	}
	if err := op.Claims(&meta); err != nil {
		return nil, err
	}
	algs, err := signingAlgs(meta.Algs)
	if err != nil {
		return nil, err
	}
	ep := op.Endpoint()
	ep.AuthStyle = authStyle(meta.AuthMethods)
	scopes := p.cfg.Scopes
	if len(scopes) == 0 {
		scopes = defaultOIDCScopes
	}
	// Without openid the request is plain OAuth 2.0 and the provider
	// sends no ID token (OIDC Core 3.1.2.1): an OpenID provider always
	// gets it, whatever the configured scopes.
	if !slices.Contains(scopes, gooidc.ScopeOpenID) {
		scopes = append([]string{gooidc.ScopeOpenID}, scopes...)
	}
	return &endpoints{
		oauth: p.oauthConfig(ep, scopes),
		// As op.Verifier builds it, but with the discovered algorithms
		// that gatehouse accepts (signingAlgs), over a key set that
		// reports fetch failures (endpoints.verify).
		verifier: gooidc.NewVerifier(p.cfg.Issuer, fetchAwareKeys{gooidc.NewRemoteKeySet(gooidc.ClientContext(ctx, p.keysClient()), meta.JWKS)},
			&gooidc.Config{ClientID: p.cfg.ClientID, Now: p.now, SupportedSigningAlgs: algs}),
		op:       op,
		issParam: meta.IssParam,
	}, nil
}

// acceptedSigningAlgs are the ID token (and logout token) signing
// algorithms gatehouse accepts from a provider: asymmetric ones only. An
// HS256 token is keyed with the client secret, which anyone holding it can
// mint tokens with, and "none" is no signature at all.
var acceptedSigningAlgs = []string{
	gooidc.RS256, gooidc.RS384, gooidc.RS512,
	gooidc.PS256, gooidc.PS384, gooidc.PS512,
	gooidc.ES256, gooidc.ES384, gooidc.ES512,
	gooidc.EdDSA,
}

// signingAlgs returns the algorithms of a discovery document's
// id_token_signing_alg_values_supported (offered) that gatehouse accepts,
// in the provider's order. A document that names none means RS256, the
// default of OIDC Core 3.1.3.7. A provider that offers none of them cannot
// be used: the error names what it offered, for the operator's log.
func signingAlgs(offered []string) ([]string, error) {
	if len(offered) == 0 {
		return []string{gooidc.RS256}, nil
	}
	var algs []string
	for _, a := range offered {
		if slices.Contains(acceptedSigningAlgs, a) && !slices.Contains(algs, a) {
			algs = append(algs, a)
		}
	}
	if len(algs) == 0 {
		return nil, fmt.Errorf("no ID token signing algorithm that gatehouse accepts (%s) among those the provider offers (id_token_signing_alg_values_supported: %s)",
			strings.Join(acceptedSigningAlgs, ", "), strings.Join(offered, ", "))
	}
	return algs, nil
}

// verify checks an ID token or logout token (signature, iss, aud, exp). A
// token checked against keys that could not be fetched is not known to be
// invalid: that error wraps auth.ErrUnavailable, so that a back-channel
// logout is answered 503 (the provider retries) and a login 502, never
// "invalid token".
func (ep *endpoints) verify(ctx context.Context, raw string) (*gooidc.IDToken, error) {
	var fetchErr error
	idt, err := ep.verifier.Verify(context.WithValue(ctx, keyFetchKey{}, &fetchErr), raw)
	if fetchErr != nil {
		return nil, fmt.Errorf("verify token: provider keys: %w", providerDown{fetchErr})
	}
	return idt, err
}

// providerDown is a provider that could not be reached or used (discovery,
// its keys). It is an auth.ErrUnavailable (errors.Is), so that callers
// answer as for any outage, but its message is the provider's cause alone:
// auth.ErrUnavailable's text, "store unavailable", sent operators to
// gatehouse's own store.
type providerDown struct{ err error }

func (e providerDown) Error() string        { return "provider unavailable: " + e.err.Error() }
func (e providerDown) Unwrap() error        { return e.err }
func (e providerDown) Is(target error) bool { return target == auth.ErrUnavailable }

// fetchAwareKeys is a provider's remote key set that tells a failure to
// fetch the keys from a bad signature: go-oidc's IDTokenVerifier reports
// both as one error that cannot be unwrapped, so the key set records the
// fetch failure in the *error that verify puts in the context.
type fetchAwareKeys struct{ keys *gooidc.RemoteKeySet }

type keyFetchKey struct{}

func (k fetchAwareKeys) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	payload, err := k.keys.VerifySignature(ctx, jwt)
	// RemoteKeySet prefixes every failure to get the keys (transport,
	// status, body) with "fetching keys"; a key it has that does not
	// match is another error.
	if err != nil && strings.HasPrefix(err.Error(), "fetching keys") {
		if f, ok := ctx.Value(keyFetchKey{}).(*error); ok {
			*f = err
		}
	}
	return payload, err
}

// keysClient is the provider's client for its key set alone, which it
// fetches at most once per keyRefetchFloor (keyFetchFloor).
func (p *provider) keysClient() *http.Client {
	c := *p.client
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	c.Transport = &keyFetchFloor{base: base, floor: keyRefetchFloor, now: p.now}
	return &c
}

// keyFetchFloor is the transport of one provider's key set (go-oidc's
// RemoteKeySet, which fetches the keys whenever a token names a kid it
// has not seen, one fetch at a time). It asks base at most once per
// floor; inside the floor of the last fetch it answers with that fetch's
// response, or its error, again. go-oidc then makes of it what it made of
// the fetch: the same keys, so that a token under a kid still unknown is
// a bad signature (no outage), or the same failure, so that it stays
// "provider down" (fetchAwareKeys). The floor runs from the end of the
// fetch. It holds at most one response body, which base bounds
// (boundedTransport).
type keyFetchFloor struct {
	base  http.RoundTripper
	floor time.Duration
	now   func() time.Time

	mu   sync.Mutex // held during a fetch: a request inside it waits for its answer
	at   time.Time  // the end of the last fetch; zero before the first
	resp *http.Response
	body []byte // resp's body, read whole
	err  error  // the last fetch's failure, or nil
}

func (t *keyFetchFloor) RoundTrip(r *http.Request) (*http.Response, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	// A clock set back (before the last fetch) does not stretch the floor.
	if now := t.now(); t.at.IsZero() || now.Before(t.at) || !now.Before(t.at.Add(t.floor)) {
		t.resp, t.body, t.err = t.fetch(r)
		t.at = t.now()
	}
	if t.err != nil {
		return nil, t.err
	}
	resp := *t.resp
	resp.Header = t.resp.Header.Clone()
	resp.Body = io.NopCloser(bytes.NewReader(t.body))
	resp.Request = r
	return &resp, nil
}

// fetch asks base and reads the answer whole.
func (t *keyFetchFloor) fetch(r *http.Request) (*http.Response, []byte, error) {
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("read key set: %w", err)
	}
	return resp, body, nil
}

// maxProviderResponse bounds each response body read from a provider
// (discovery document, key set, token and userinfo responses): go-oidc
// reads discovery, keys and userinfo whole (io.ReadAll), and puts the body
// of a failed discovery or key fetch into its error. Real ones are a few
// KB; x/oauth2 already stops reading token responses here.
const maxProviderResponse = 1 << 20

// boundedClient returns a copy of c (c is not changed) whose response
// bodies fail after maxProviderResponse bytes.
func boundedClient(c *http.Client) *http.Client {
	bc := *c
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	bc.Transport = boundedTransport{base: base}
	return &bc
}

// boundedTransport caps each response body of base at maxProviderResponse
// (http.MaxBytesReader: a longer body is a read error, not a cut document).
type boundedTransport struct{ base http.RoundTripper }

func (t boundedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		return resp, err
	}
	resp.Body = http.MaxBytesReader(nil, resp.Body, maxProviderResponse)
	return resp, nil
}

// authStyle picks client_secret_basic, the method every provider must
// support (RFC 6749 section 2.3.1) and the discovery default, unless the
// provider lists only client_secret_post. A fixed style avoids x/oauth2's
// probing, which would send a rejected code twice.
func authStyle(methods []string) oauth2.AuthStyle {
	if len(methods) == 0 || slices.Contains(methods, "client_secret_basic") {
		return oauth2.AuthStyleInHeader
	}
	if slices.Contains(methods, "client_secret_post") {
		return oauth2.AuthStyleInParams
	}
	return oauth2.AuthStyleInHeader
}
