package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// credential is what a client sends to be let through: one header.
type credential struct {
	name  string // "Cookie" or "Authorization"
	value string
}

// header returns the credential as a request header (none for the zero
// credential).
func (c credential) header() http.Header {
	h := http.Header{}
	if c.name != "" {
		h.Set(c.name, c.value)
	}
	return h
}

// wireBytes is the length of the credential's header line as HTTP/1.1
// sends it, CRLF included.
func (c credential) wireBytes() int {
	if c.name == "" {
		return 0
	}
	return len(c.name) + len(": ") + len(c.value) + len("\r\n")
}

// login logs in through the JSON endpoint, as a browser's script would,
// and returns the session cookie.
func login(ctx context.Context, client *http.Client, base, cookieName, username, password string) (credential, error) {
	body, _ := json.Marshal(map[string]string{"username": username, "password": password})
	resp, err := post(ctx, client, base+"/auth/login", "application/json", bytes.NewReader(body), nil)
	if err != nil {
		return credential{}, fmt.Errorf("login: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return credential{}, fmt.Errorf("login: status %d", resp.StatusCode)
	}
	for _, c := range resp.Cookies() {
		if c.Name == cookieName && c.Value != "" {
			return credential{name: "Cookie", value: c.Name + "=" + c.Value}, nil
		}
	}
	return credential{}, fmt.Errorf("login: no %s cookie in the answer", cookieName)
}

// accessToken runs the password grant and returns the access token as a
// bearer credential.
func accessToken(ctx context.Context, client *http.Client, base, username, password string) (credential, error) {
	form := url.Values{"grant_type": {"password"}, "username": {username}, "password": {password}}
	resp, err := post(ctx, client, base+"/auth/token", "application/x-www-form-urlencoded",
		strings.NewReader(form.Encode()), nil)
	if err != nil {
		return credential{}, fmt.Errorf("token: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return credential{}, fmt.Errorf("token: status %d", resp.StatusCode)
	}
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.AccessToken == "" {
		return credential{}, fmt.Errorf("token: no access_token in the answer")
	}
	return credential{name: "Authorization", value: "Bearer " + out.AccessToken}, nil
}

// logout ends the session the cookie names.
func logout(ctx context.Context, client *http.Client, base string, c credential) error {
	resp, err := post(ctx, client, base+"/auth/logout", "application/json", nil, c.header())
	if err != nil {
		return fmt.Errorf("logout: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("logout: status %d", resp.StatusCode)
	}
	return nil
}

// revokeToken revokes the bearer credential's access token (RFC 7009).
func revokeToken(ctx context.Context, client *http.Client, base string, c credential) error {
	form := url.Values{"token": {strings.TrimPrefix(c.value, "Bearer ")}, "token_type_hint": {"access_token"}}
	resp, err := post(ctx, client, base+"/auth/revoke", "application/x-www-form-urlencoded",
		strings.NewReader(form.Encode()), nil)
	if err != nil {
		return fmt.Errorf("revoke: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("revoke: status %d", resp.StatusCode)
	}
	return nil
}

func post(ctx context.Context, client *http.Client, u, contentType string, body io.Reader, h http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, body)
	if err != nil {
		return nil, err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", contentType)
	return client.Do(req)
}

// get requests u with the credential and returns the status.
func get(ctx context.Context, client *http.Client, u string, c credential) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	req.Header = c.header()
	return do(client, req)
}

// Revocation polling bounds: a credential still accepted after this long
// is reported as not revoked, never waited for indefinitely.
const (
	revokeMaxRequests = 2000
	revokeMaxWait     = 5 * time.Second
)

// measureRevocation checks that c works at target, runs revoke, then asks
// target with c until it answers 401, and reports how long that took from
// the end of revoke.
func measureRevocation(ctx context.Context, client *http.Client, target, action string, c credential,
	revoke func() error) (*Revocation, error) {
	status, err := get(ctx, client, target, c)
	if err != nil {
		return nil, fmt.Errorf("before revocation: %w", err)
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("before revocation: status %d", status)
	}
	if err := revoke(); err != nil {
		return nil, err
	}
	rv := &Revocation{Action: action}
	start := time.Now()
	for rv.Requests < revokeMaxRequests && time.Since(start) < revokeMaxWait {
		rv.Requests++
		status, err := get(ctx, client, target, c)
		if err != nil {
			return nil, fmt.Errorf("after revocation: %w", err)
		}
		if status == http.StatusUnauthorized {
			rv.Observed = true
			break
		}
	}
	rv.LatencyMs = msOf(time.Since(start))
	return rv, nil
}

func msOf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
