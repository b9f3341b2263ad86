package oidctestop

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// User is an account at the provider. Its fields become the ID token and
// userinfo claims sub, preferred_username, email, email_verified and name.
type User struct {
	Subject           string
	PreferredUsername string
	Email             string
	EmailVerified     bool
	Name              string
}

// Behaviour makes the provider misbehave. The zero value is a correct
// provider. Settings apply from the next request on.
type Behaviour struct {
	// Deny, when set, is returned as the authorization response's error
	// parameter (e.g. "access_denied") instead of a code.
	Deny string
	// IDTokenNonce, when set, replaces the nonce the client sent.
	IDTokenNonce string
	// IDTokenAudience, when set, replaces the ID token's aud (normally the
	// client ID), and its first entry becomes azp. The token is re-signed
	// with the provider's key, so only the audience is wrong.
	IDTokenAudience []string
	// IDTokenWithoutSubject leaves sub out of the ID token (re-signed like
	// IDTokenAudience), as a provider breaking OIDC Core would.
	IDTokenWithoutSubject bool
	// IDTokenClaims sets these claims in the ID token, or removes a claim
	// whose value is nil (re-signed like IDTokenAudience, after it): azp,
	// at_hash, iat, nbf, … as a broken or hostile provider would send them.
	IDTokenClaims map[string]any
	// IDTokenIssuer, when set, is the iss of ID tokens (discovery keeps the real one).
	IDTokenIssuer string
	// IDTokenLifetime is the ID token's lifetime; 0 means 5 minutes and a
	// negative value issues tokens that have already expired.
	IDTokenLifetime time.Duration
	// AuthResponseIssuer, when set, is sent as the RFC 9207 iss response
	// parameter instead of the issuer.
	AuthResponseIssuer string
	// OmitIssParameter sends no iss response parameter.
	OmitIssParameter bool
	// NoIssSupport removes authorization_response_iss_parameter_supported
	// from discovery (like providers that predate RFC 9207). Combine with
	// OmitIssParameter to act like such a provider.
	NoIssSupport bool
	// DiscoveryDown makes /.well-known/openid-configuration answer 503.
	DiscoveryDown bool
	// KeysDown makes the key set (JWKS, jwks_uri) answer 503.
	KeysDown bool
	// ClaimsOnlyInUserinfo leaves email and profile claims out of the ID
	// token, so the relying party must call the userinfo endpoint.
	ClaimsOnlyInUserinfo bool
	// UserinfoSubject, when set, is the userinfo endpoint's sub instead of
	// the user's (the ID token keeps the real one).
	UserinfoSubject string
	// IDTokenAlg, when set, re-signs the ID token (after the other ID
	// token knobs) with "none" (no signature) or "HS256" (HMAC with the
	// client secret as the key, as OIDC Core 10.1 allows for symmetric
	// signing), keeping the kid of the provider's published key: what a
	// forger who knows the client secret, or a broken provider, sends.
	IDTokenAlg string
	// IDTokenForeignKey re-signs the ID token (after the other ID token
	// knobs) with ES256, the provider's own algorithm, but under a key the
	// provider does not publish: what a forger without its key sends.
	IDTokenForeignKey bool
	// IDTokenForeignKeyID is the kid of that token; "" keeps the kid of
	// the provider's published key.
	IDTokenForeignKeyID string
	// SigningAlgs, when set, replaces the discovery document's
	// id_token_signing_alg_values_supported (a provider advertising
	// "none" or "HS256" beside its published ES256 key).
	SigningAlgs []string
}

// Option configures a Provider.
type Option func(*options)

type options struct {
	clientID, clientSecret string
	redirectURIs           []string
	user                   *User
}

// WithClient sets the client ID and secret (default "gatehouse" and a random secret).
func WithClient(id, secret string) Option {
	return func(o *options) { o.clientID, o.clientSecret = id, secret }
}

// WithRedirectURIs registers redirect URIs; they are compared exactly.
func WithRedirectURIs(uris ...string) Option {
	return func(o *options) { o.redirectURIs = append(o.redirectURIs, uris...) }
}

// WithUser registers u and approves it at the next login (see SetUser).
func WithUser(u User) Option {
	return func(o *options) { o.user = &u }
}

// Provider is a running test OpenID Provider on loopback.
type Provider struct {
	issuer string
	st     *storage
	op     *op.Provider
	srv    *http.Server
	// keyRequests counts the requests for the key set (KeySetRequests).
	keyRequests atomic.Int64
}

// Start starts a Provider on a free loopback port and closes it when the
// test ends.
func Start(t testing.TB, opts ...Option) *Provider {
	t.Helper()
	p, err := New("127.0.0.1:0", opts...)
	if err != nil {
		t.Fatalf("start test OpenID provider: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// New starts a Provider listening on addr ("127.0.0.1:0" picks a free port)
// and serving in the background until Close. The issuer is http://addr.
func New(addr string, opts ...Option) (*Provider, error) {
	o := options{clientID: "gatehouse", clientSecret: randomID() + randomID()}
	for _, opt := range opts {
		opt(&o)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate signing key: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	p := &Provider{issuer: "http://" + ln.Addr().String()}
	p.st = &storage{
		client:   client{id: o.clientID, secret: o.clientSecret, redirectURIs: o.redirectURIs, loginURL: p.loginURL},
		users:    map[string]User{},
		requests: map[string]*authRequest{},
		codes:    map[string]string{},
		tokens:   map[string]accessToken{},
		key:      signingKey{id: randomID()[:16], key: key},
		sid:      randomID(),
	}
	if o.user != nil {
		p.SetUser(*o.user)
	}
	if p.op, err = p.newOP(); err != nil {
		_ = ln.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/login", p.handleLogin)
	mux.HandleFunc(oidc.DiscoveryEndpoint, p.handleDiscovery)
	mux.HandleFunc(op.DefaultEndpoints.Token.Relative(), p.handleToken)
	mux.HandleFunc(op.DefaultEndpoints.JwksURI.Relative(), p.handleKeys)
	mux.Handle("/", p.op)
	p.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

func (p *Provider) newOP() (*op.Provider, error) {
	cfg := &op.Config{CodeMethodS256: true, AuthMethodPost: true}
	if _, err := rand.Read(cfg.CryptoKey[:]); err != nil {
		return nil, err
	}
	tokenPath := op.DefaultEndpoints.Token.Relative()
	issuer := func(bool) (op.IssuerFromRequest, error) {
		return func(r *http.Request) string {
			if iss := p.behaviour().IDTokenIssuer; iss != "" && r.URL.Path == tokenPath {
				return iss
			}
			return p.issuer
		}, nil
	}
	prov, err := op.NewProvider(cfg, p.st, issuer, op.WithAllowInsecure())
	if err != nil {
		return nil, fmt.Errorf("create OpenID provider: %w", err)
	}
	return prov, nil
}

// Close stops the server.
func (p *Provider) Close() error { return p.srv.Close() }

// Issuer is the issuer URL (http://127.0.0.1:port), also the discovery base.
func (p *Provider) Issuer() string { return p.issuer }

// ClientID is the registered client's ID.
func (p *Provider) ClientID() string { return p.st.client.id }

// ClientSecret is the registered client's secret.
func (p *Provider) ClientSecret() string { return p.st.client.secret }

// AddRedirectURI registers one more exact redirect URI, for when the relying
// party's address is known only after the provider started.
func (p *Provider) AddRedirectURI(uri string) {
	p.st.mu.Lock()
	defer p.st.mu.Unlock()
	p.st.client.redirectURIs = append(p.st.client.redirectURIs, uri)
}

// SetUser registers u (replacing a user with the same Subject) and makes it
// the user that the authorization endpoint approves from now on.
func (p *Provider) SetUser(u User) {
	p.st.mu.Lock()
	defer p.st.mu.Unlock()
	p.st.users[u.Subject] = u
	p.st.current = u.Subject
}

// SessionID is the provider session (the ID token's sid claim) of the
// logins from now on.
func (p *Provider) SessionID() string {
	p.st.mu.Lock()
	defer p.st.mu.Unlock()
	return p.st.sid
}

// NewSession starts a new provider session: later logins carry a new sid,
// as after a logout and login at a real provider. It returns the new sid.
func (p *Provider) NewSession() string {
	p.st.mu.Lock()
	defer p.st.mu.Unlock()
	p.st.sid = randomID()
	return p.st.sid
}

// SetSessionID makes sid the provider session (the ID token's sid claim)
// of the logins from now on, as NewSession does with a random one: a test
// can issue a sid of any length.
func (p *Provider) SetSessionID(sid string) {
	p.st.mu.Lock()
	defer p.st.mu.Unlock()
	p.st.sid = sid
}

// LogoutToken is the claim set of a logout token (OIDC Back-Channel Logout
// 1.0 §2.4). NewLogoutToken fills a correct one; tests then break a field.
type LogoutToken struct {
	Issuer   string
	Audience []string
	IssuedAt time.Time
	Expiry   time.Time
	JTI      string
	Subject  string // "" leaves sub out
	SID      string // "" leaves sid out
	// Events is the events claim; nil leaves it out.
	Events map[string]any
	// Nonce, when set, adds a nonce claim (forbidden in logout tokens).
	Nonce string
	// Type is the JOSE typ header (default logout+jwt).
	Type string
	// Extra claims, set as given (a nil value is JSON null).
	Extra map[string]any
}

// KeySetRequests is how many requests for the key set (jwks_uri) the
// provider has received, answered or not (Behaviour.KeysDown): what a
// relying party costs the provider by fetching its keys.
func (p *Provider) KeySetRequests() int { return int(p.keyRequests.Load()) }

// RotateKey makes a new signing key, under a new kid, the one that signs
// ID and logout tokens from now on, and returns that kid. The key set
// publishes it at once, and the previous keys too.
func (p *Provider) RotateKey() (string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", fmt.Errorf("generate signing key: %w", err)
	}
	p.st.mu.Lock()
	defer p.st.mu.Unlock()
	p.st.retired = append(p.st.retired, p.st.key)
	p.st.key = signingKey{id: randomID()[:16], key: key}
	return p.st.key.id, nil
}

// handleKeys is op's key set endpoint, counted, and 503 with
// Behaviour.KeysDown.
func (p *Provider) handleKeys(w http.ResponseWriter, r *http.Request) {
	p.keyRequests.Add(1)
	if p.behaviour().KeysDown {
		http.Error(w, "key set is down", http.StatusServiceUnavailable)
		return
	}
	p.op.ServeHTTP(w, r)
}

// BackchannelLogoutEvent is the member of events that marks a logout token.
const BackchannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"

// NewLogoutToken returns a correct logout token for the client about the
// current provider session of subject: this issuer, aud = client ID, iat
// now, exp in 2 minutes, a fresh jti, sub, sid and the back-channel event.
func (p *Provider) NewLogoutToken(subject string) LogoutToken {
	now := time.Now().Truncate(time.Second)
	return LogoutToken{
		Issuer: p.issuer, Audience: []string{p.ClientID()}, IssuedAt: now, Expiry: now.Add(2 * time.Minute),
		JTI: randomID(), Subject: subject, SID: p.SessionID(),
		Events: map[string]any{BackchannelLogoutEvent: map[string]any{}},
	}
}

// Sign signs lt with the provider's key (the one in its JWKS).
func (p *Provider) Sign(lt LogoutToken) (string, error) {
	payload, typ, err := lt.payload()
	if err != nil {
		return "", err
	}
	return p.sign(payload, typ)
}

// SignForeign signs lt with ES256, the provider's algorithm, under a fresh
// key that the provider does not publish, with kid (or, when "", the kid
// of its published key): a forged logout token, as anyone can make.
func (p *Provider) SignForeign(lt LogoutToken, kid string) (string, error) {
	payload, typ, err := lt.payload()
	if err != nil {
		return "", err
	}
	return p.signForeign(payload, kid, typ)
}

// payload is lt's claim set as JSON, and its JOSE typ.
func (lt LogoutToken) payload() ([]byte, string, error) {
	claims := map[string]any{"iss": lt.Issuer, "aud": lt.Audience, "iat": lt.IssuedAt.Unix(), "exp": lt.Expiry.Unix(), "jti": lt.JTI}
	if lt.Subject != "" {
		claims["sub"] = lt.Subject
	}
	if lt.SID != "" {
		claims["sid"] = lt.SID
	}
	if lt.Events != nil {
		claims["events"] = lt.Events
	}
	if lt.Nonce != "" {
		claims["nonce"] = lt.Nonce
	}
	maps.Copy(claims, lt.Extra)
	typ := lt.Type
	if typ == "" {
		typ = "logout+jwt"
	}
	payload, err := json.Marshal(claims)
	return payload, typ, err
}

// SetBehaviour replaces the misbehaviour settings; Behaviour{} restores a
// correct provider.
func (p *Provider) SetBehaviour(b Behaviour) {
	p.st.mu.Lock()
	defer p.st.mu.Unlock()
	b.IDTokenAudience = slices.Clone(b.IDTokenAudience)
	b.IDTokenClaims = maps.Clone(b.IDTokenClaims)
	b.SigningAlgs = slices.Clone(b.SigningAlgs)
	p.st.behave = b
}

func (p *Provider) behaviour() Behaviour {
	p.st.mu.Lock()
	defer p.st.mu.Unlock()
	return p.st.behave
}

func (p *Provider) loginURL(id string) string {
	return p.issuer + "/login?id=" + url.QueryEscape(id)
}

// handleLogin stands in for a login UI: it approves the current user (or
// denies, per Behaviour) and redirects back to the client at once.
func (p *Provider) handleLogin(w http.ResponseWriter, r *http.Request) {
	ar, b, err := p.approve(r.URL.Query().Get("id"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var target *url.URL
	if b.Deny != "" {
		target, err = withParams(ar.redirectURI, url.Values{"error": {b.Deny}, "state": {ar.state}})
	} else {
		var raw string
		if raw, err = op.BuildAuthResponseCallbackURL(r.Context(), ar, p.op); err == nil {
			target, err = url.Parse(raw)
		}
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if !b.OmitIssParameter {
		iss := p.issuer
		if b.AuthResponseIssuer != "" {
			iss = b.AuthResponseIssuer
		}
		q := target.Query()
		q.Set("iss", iss)
		target.RawQuery = q.Encode()
	}
	http.Redirect(w, r, target.String(), http.StatusFound)
}

// approve marks the authorization request id as done for the current user,
// capturing the behaviour overrides. A denied request is forgotten.
func (p *Provider) approve(id string) (*authRequest, Behaviour, error) {
	p.st.mu.Lock()
	defer p.st.mu.Unlock()
	ar, ok := p.st.requests[id]
	if !ok {
		return nil, Behaviour{}, errors.New("oidctestop: unknown authorization request")
	}
	b := p.st.behave
	if b.Deny != "" {
		delete(p.st.requests, id)
		return ar, b, nil
	}
	u, ok := p.st.users[p.st.current]
	if !ok {
		return nil, b, errors.New("oidctestop: no user to log in; call SetUser first")
	}
	ar.subject, ar.done, ar.authTime = u.Subject, true, time.Now()
	ar.nonceOver = b.IDTokenNonce
	return ar, b, nil
}

func withParams(raw string, params url.Values) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	u.RawQuery = q.Encode()
	return u, nil
}

// handleDiscovery serves op's discovery document plus RFC 9207's
// authorization_response_iss_parameter_supported, which op does not know.
func (p *Provider) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	b := p.behaviour()
	if b.DiscoveryDown {
		http.Error(w, "discovery is down", http.StatusServiceUnavailable)
		return
	}
	rec := httptest.NewRecorder()
	p.op.ServeHTTP(rec, r.WithContext(context.WithoutCancel(r.Context())))
	var doc map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		http.Error(w, "bad discovery document", http.StatusInternalServerError)
		return
	}
	if !b.NoIssSupport {
		doc["authorization_response_iss_parameter_supported"] = true
	}
	if b.SigningAlgs != nil {
		doc["id_token_signing_alg_values_supported"] = b.SigningAlgs
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(doc)
}

// handleToken is op's token endpoint, without an ID token when the
// authorization request lacked the openid scope, with the ID token's audience replaced
// when Behaviour.IDTokenAudience is set, its sub removed with
// IDTokenWithoutSubject, its claims edited with IDTokenClaims and its
// signature replaced with IDTokenAlg. op itself always adds the client ID to aud and
// the subject, so these are applied afterwards.
func (p *Provider) handleToken(w http.ResponseWriter, r *http.Request) {
	b := p.behaviour()
	openid := p.codeHasOpenID(r)
	if b.IDTokenAudience == nil && !b.IDTokenWithoutSubject && b.IDTokenClaims == nil && b.IDTokenAlg == "" && !b.IDTokenForeignKey && openid {
		p.op.ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	p.op.ServeHTTP(rec, r)
	body := rec.Body.Bytes()
	if rec.Code == http.StatusOK {
		var err error
		if !openid {
			body, err = withoutIDToken(body)
		} else {
			body, err = p.rewriteIDToken(body, b)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.Header().Del("Content-Length")
	w.WriteHeader(rec.Code)
	_, _ = w.Write(body)
}

// codeHasOpenID reports whether the authorization request of the token
// request's code asked for the openid scope. op issues an ID token either
// way; real providers (Google, Keycloak, Entra ID) issue none without it
// (OIDC Core 3.1.2.1), so handleToken drops it.
func (p *Provider) codeHasOpenID(r *http.Request) bool {
	if err := r.ParseForm(); err != nil {
		return true // op answers the malformed request
	}
	p.st.mu.Lock()
	defer p.st.mu.Unlock()
	ar, ok := p.st.requests[p.st.codes[r.PostForm.Get("code")]]
	return !ok || slices.Contains(ar.scopes, oidc.ScopeOpenID)
}

// withoutIDToken removes id_token from a token response.
func withoutIDToken(tokenResponse []byte) ([]byte, error) {
	var resp map[string]any
	if err := json.Unmarshal(tokenResponse, &resp); err != nil {
		return nil, err
	}
	delete(resp, "id_token")
	return json.Marshal(resp)
}

func (p *Provider) rewriteIDToken(tokenResponse []byte, b Behaviour) ([]byte, error) {
	var resp map[string]any
	if err := json.Unmarshal(tokenResponse, &resp); err != nil {
		return nil, err
	}
	raw, _ := resp["id_token"].(string)
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, errors.New("oidctestop: token response has no ID token")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, err
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, err
	}
	if aud := b.IDTokenAudience; aud != nil {
		claims["aud"], claims["azp"] = aud, aud[0]
	}
	if b.IDTokenWithoutSubject {
		delete(claims, "sub")
	}
	for k, v := range b.IDTokenClaims {
		if v == nil {
			delete(claims, k)
		} else {
			claims[k] = v
		}
	}
	if payload, err = json.Marshal(claims); err != nil {
		return nil, err
	}
	switch {
	case b.IDTokenForeignKey:
		resp["id_token"], err = p.signForeign(payload, b.IDTokenForeignKeyID, "JWT")
	case b.IDTokenAlg == "":
		resp["id_token"], err = p.sign(payload, "JWT")
	case b.IDTokenAlg == "none" || b.IDTokenAlg == "HS256":
		resp["id_token"], err = p.signWeak(payload, b.IDTokenAlg)
	default:
		err = fmt.Errorf("oidctestop: IDTokenAlg %q is not none or HS256", b.IDTokenAlg)
	}
	if err != nil {
		return nil, err
	}
	return json.Marshal(resp)
}

// signWeak encodes payload as a JWS with alg "none" (an empty signature)
// or "HS256" (HMAC-SHA256 keyed with the client secret), under the kid of
// the provider's real key.
func (p *Provider) signWeak(payload []byte, alg string) (string, error) {
	header, err := json.Marshal(map[string]string{"alg": alg, "typ": "JWT", "kid": p.st.signingKey().id})
	if err != nil {
		return "", err
	}
	input := base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(payload)
	if alg == "none" {
		return input + ".", nil
	}
	mac := hmac.New(sha256.New, []byte(p.ClientSecret()))
	mac.Write([]byte(input))
	return input + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil)), nil
}

// signForeign signs payload with ES256 and JOSE typ under a fresh key
// that the provider does not publish, with kid (or, when "", its published
// key's).
func (p *Provider) signForeign(payload []byte, kid, typ string) (string, error) {
	if kid == "" {
		kid = p.st.signingKey().id
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	return signES256(payload, key, kid, typ)
}

// sign signs payload with the provider's key and JOSE typ.
func (p *Provider) sign(payload []byte, typ string) (string, error) {
	k := p.st.signingKey()
	return signES256(payload, k.key, k.id, typ)
}

// signES256 is payload as a compact JWS under key, with kid and JOSE typ.
func signES256(payload []byte, key *ecdsa.PrivateKey, kid, typ string) (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}
