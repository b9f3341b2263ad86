package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/demo"
	"github.com/gatehouse-auth/gatehouse/internal/oidc/oidctestop"
)

// The names the browser tests rely on.
const (
	providerName        = "test"
	providerDisplayName = "Test SSO"
	clientID            = "gatehouse"
	passwordUser        = "alice"
	adminUser           = "root"
	oidcUsername        = "olivia"
	oidcEmail           = "olivia@example.test"
	// spaClientID is a public, third-party (consent) SPA-style client whose
	// relying party the apps test serves at rp_url (redirect /cb,
	// post-logout /bye, back-channel logout /bcl).
	spaClientID = "e2e-spa"
	spaName     = "E2E Single-Page App"
	// secureRoute is a session route with mfa: true (step-up).
	secureRoute = "/secure/"
)

// mfaUsers are password users without a factor, one per second-factor
// browser test (e2e/mfa.test.mjs), so no test depends on another's
// factors; their password is the fixture password + "-mfa".
var mfaUsers = []string{"tess", "stella", "rita"}

// info is the one JSON line printed on stdout once gatehouse is ready.
type info struct {
	BaseURL         string `json:"base_url"`
	Username        string `json:"username"`
	Password        string `json:"password"`
	AdminUsername   string `json:"admin_username"` // role admin: the console's user
	AdminPassword   string `json:"admin_password"`
	OPIssuer        string `json:"op_issuer"`
	UpstreamURL     string `json:"upstream_url"`
	OIDCProvider    string `json:"oidc_provider"`
	OIDCDisplayName string `json:"oidc_display_name"`
	OIDCUsername    string `json:"oidc_username"`
	OIDCEmail       string `json:"oidc_email"`
	// SPAClientID's relying party: the test listens on RPURL (a loopback
	// origin picked here) itself.
	SPAClientID string `json:"spa_client_id"`
	SPAName     string `json:"spa_name"`
	RPURL       string `json:"rp_url"`

	// Second-factor browser tests (e2e/mfa.test.mjs).
	MFAUsers    []string `json:"mfa_users"`
	MFAPassword string   `json:"mfa_password"`
	SecureRoute string   `json:"secure_route"` // session route with mfa: true
}

// restarted is the JSON line printed after a `restart` line on stdin: the
// same gatehouse (port, database, config) is serving again.
type restarted struct {
	Restarted bool   `json:"restarted"`
	BaseURL   string `json:"base_url"`
}

// startAttempts bounds retries when gatehouse cannot bind the port picked
// for it (another process took it between the pick and the bind).
const startAttempts = 3

// run is the whole program; main only calls it.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("e2efixture", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bin := fs.String("gatehouse", "bin/gatehouse", "path of the gatehouse binary to run")
	logLevel := fs.String("log-level", "info", "gatehouse log level (its logs go to stderr)")
	startTimeout := fs.Duration("start-timeout", 30*time.Second, "how long gatehouse may take to become ready")
	publicHost := fs.String("public-host", "", "host name of public_url and base_url instead of 127.0.0.1 (\"localhost\": WebAuthn refuses IP addresses)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	gatehouse, err := filepath.Abs(*bin)
	if err != nil {
		return fmt.Errorf("gatehouse binary: %w", err)
	}
	if _, err := os.Stat(gatehouse); err != nil {
		return fmt.Errorf("gatehouse binary (flag -gatehouse): %w", err)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The test runner holds our stdin: when it exits, however it dies, the
	// pipe closes and everything started here stops. A line "restart" stops
	// `gatehouse serve` and starts it again on the same port and database.
	restarts := make(chan struct{})
	go func() {
		defer cancel()
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			if strings.TrimSpace(sc.Text()) != "restart" {
				continue
			}
			select {
			case restarts <- struct{}{}:
			case <-ctx.Done():
				return
			}
		}
	}()

	dir, err := os.MkdirTemp("", "gatehouse-e2e-")
	if err != nil {
		return fmt.Errorf("temporary directory: %w", err)
	}
	defer os.RemoveAll(dir)

	upstream, err := startEcho()
	if err != nil {
		return err
	}
	defer upstream.Close()

	secret := randomToken()
	op, err := oidctestop.New("127.0.0.1:0", oidctestop.WithClient(clientID, secret), oidctestop.WithUser(oidctestop.User{
		Subject: "e2e-" + randomToken()[:12], PreferredUsername: oidcUsername,
		Email: oidcEmail, EmailVerified: true, Name: "Olivia Example",
	}))
	if err != nil {
		return fmt.Errorf("test OpenID provider: %w", err)
	}
	defer op.Close()

	rpAddr, err := freeAddr() // the apps test's relying party listens here
	if err != nil {
		return err
	}
	gh := gatehouseRunner{bin: gatehouse, env: childEnv(getenv), stderr: stderr, cfgPath: filepath.Join(dir, "gatehouse.yaml")}
	setup := setup{dir: dir, upstream: upstream.url, op: op, clientSecret: secret, logLevel: *logLevel,
		encryptionKey: randomToken() + randomToken(), publicHost: *publicHost, rpURL: "http://" + rpAddr}
	password := randomToken()
	srv, base, err := startGatehouse(ctx, gh, setup, password, *startTimeout)
	if err != nil {
		return err
	}
	defer func() { srv.stop(10 * time.Second) }()

	line := info{
		BaseURL: base, Username: passwordUser, Password: password, AdminUsername: adminUser, AdminPassword: password + "-admin", OPIssuer: op.Issuer(), UpstreamURL: upstream.url,
		OIDCProvider: providerName, OIDCDisplayName: providerDisplayName, OIDCUsername: oidcUsername, OIDCEmail: oidcEmail,
		SPAClientID: spaClientID, SPAName: spaName, RPURL: setup.rpURL,
		MFAUsers: mfaUsers, MFAPassword: password + "-mfa", SecureRoute: secureRoute,
	}
	if err := json.NewEncoder(stdout).Encode(line); err != nil {
		return fmt.Errorf("write fixture line: %w", err)
	}

	for {
		select {
		case <-ctx.Done():
			return nil
		case <-srv.done:
			return fmt.Errorf("gatehouse serve exited while the fixture was running: %v", srv.err)
		case <-restarts:
			srv.stop(10 * time.Second)
			if srv, err = gh.serve(); err != nil {
				return err
			}
			if err := waitReady(ctx, base, srv, *startTimeout); err != nil {
				return fmt.Errorf("restart: %w", err)
			}
			if err := json.NewEncoder(stdout).Encode(restarted{Restarted: true, BaseURL: base}); err != nil {
				return fmt.Errorf("write restart line: %w", err)
			}
		}
	}
}

// startGatehouse writes the config, creates the password user and starts
// `gatehouse serve` on a free loopback port, retrying with another port
// when the process exits before it is ready.
func startGatehouse(ctx context.Context, gh gatehouseRunner, s setup, password string, timeout time.Duration) (*process, string, error) {
	var lastErr error
	for attempt := range startAttempts {
		addr, err := freeAddr()
		if err != nil {
			return nil, "", err
		}
		base := s.publicURL(addr)
		s.op.AddRedirectURI(base + "/auth/oidc/" + providerName + "/callback")
		if err := writeConfig(gh.cfgPath, s.config(addr)); err != nil {
			return nil, "", err
		}
		if attempt == 0 {
			if err := gh.addUser(ctx, passwordUser, password, "user"); err != nil {
				return nil, "", err
			}
			if err := gh.addUser(ctx, adminUser, password+"-admin", "admin"); err != nil {
				return nil, "", err
			}
			for _, name := range mfaUsers {
				if err := gh.addUser(ctx, name, password+"-mfa", "user"); err != nil {
					return nil, "", err
				}
			}
		}
		srv, err := gh.serve()
		if err != nil {
			return nil, "", err
		}
		err = waitReady(ctx, base, srv, timeout)
		if err == nil {
			return srv, base, nil
		}
		srv.stop(5 * time.Second)
		if !errors.Is(err, errExited) {
			return nil, "", err
		}
		lastErr = err
	}
	return nil, "", fmt.Errorf("gatehouse did not start after %d attempts: %w", startAttempts, lastErr)
}

// setup is what the gatehouse config is made of.
type setup struct {
	dir, upstream, clientSecret, logLevel string
	rpURL                                 string // the apps test's relying party
	op                                    *oidctestop.Provider
	// encryptionKey (keys.encryption_key) lets users enrol TOTP, which
	// the admin needs (admin.require_mfa is on by default).
	encryptionKey string
	// publicHost replaces 127.0.0.1 in public_url (and the base URL the
	// browser uses); gatehouse still listens on 127.0.0.1.
	publicHost string
}

// publicURL is gatehouse's public_url for listen address addr.
func (s setup) publicURL(addr string) string {
	if s.publicHost == "" {
		return "http://" + addr
	}
	_, port, _ := net.SplitHostPort(addr)
	return "http://" + net.JoinHostPort(s.publicHost, port)
}

// config is the demo's configuration (SQLite in dir, /app/ by session and
// /api/ by token to the echo upstream) plus the test OpenID provider.
func (s setup) config(listen string) config.Config {
	cfg := demo.Config(listen, s.dir, s.upstream)
	cfg.PublicURL = s.publicURL(listen)
	cfg.Log.Level = s.logLevel
	cfg.Keys.EncryptionKey = s.encryptionKey
	cfg.OIDC.Providers = []config.Provider{{
		Name: providerName, DisplayName: providerDisplayName, Issuer: s.op.Issuer(),
		ClientID: clientID, ClientSecret: s.clientSecret, Scopes: []string{"openid", "email", "profile"},
		CreateUsers: true, DefaultRoles: []string{"user"},
	}}
	cfg.Clients = append(cfg.Clients, config.Client{
		ID: spaClientID, Name: spaName, Type: "public", FirstParty: false,
		RedirectURIs: []string{s.rpURL + "/cb"}, PostLogoutRedirectURIs: []string{s.rpURL + "/bye"},
		BackchannelLogoutURI: s.rpURL + "/bcl",
		GrantTypes:           []string{"authorization_code", "refresh_token"},
		Scopes:               []string{"openid", "profile", "offline_access"},
	})
	cfg.Routes = append(cfg.Routes, config.Route{Name: "secure", Match: config.RouteMatch{PathPrefix: secureRoute},
		Upstream: s.upstream, Auth: "session", MFA: true, Forward: "headers", Timeout: config.Duration(30 * time.Second)})
	return cfg
}

func writeConfig(path string, cfg config.Config) error {
	data, err := yaml.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("encode gatehouse config: %w", err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("write gatehouse config: %w", err)
	}
	return nil
}

// freeAddr picks a free loopback port. The port is released before
// gatehouse binds it; startGatehouse retries if someone else got it first.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("pick a free port: %w", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		return "", fmt.Errorf("pick a free port: %w", err)
	}
	return addr, nil
}

// echoServer is the demo echo upstream on a loopback port.
type echoServer struct {
	url string
	srv *http.Server
}

func startEcho() (*echoServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("echo upstream: %w", err)
	}
	e := &echoServer{url: "http://" + ln.Addr().String(), srv: &http.Server{Handler: demo.Echo(), ReadHeaderTimeout: 5 * time.Second}}
	go func() { _ = e.srv.Serve(ln) }()
	return e, nil
}

// Close stops the echo upstream.
func (e *echoServer) Close() error { return e.srv.Close() }

// errExited means gatehouse serve ended before it became ready.
var errExited = errors.New("gatehouse serve exited before it was ready")

// waitReady polls /readyz until it answers 200, the process exits, ctx ends
// or timeout passes.
func waitReady(ctx context.Context, base string, p *process, timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if resp, err := client.Get(base + "/readyz"); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.done:
			return fmt.Errorf("%w: %v", errExited, p.err)
		case <-deadline.C:
			return fmt.Errorf("gatehouse at %s not ready after %s", base, timeout)
		case <-tick.C:
		}
	}
}

// randomToken is 128 random bits, base64url.
func randomToken() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
