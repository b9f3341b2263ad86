package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/testutil"
	"github.com/gatehouse-auth/gatehouse/internal/testutil/openapitest"
)

const strongPassword = "correct horse battery staple"

// do sends a request and returns the response with its body read.
func do(t *testing.T, c *http.Client, method, u string, body string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	vc := *c // same jar and redirect policy; every exchange checked against openapi.json
	vc.Transport = openapitest.Transport(t, c.Transport)
	resp, err := vc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp, testutil.ReadBody(t, resp)
}

func loginJSON(t *testing.T, c *http.Client, base, user, pw string, header ...string) (*http.Response, string) {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"username": user, "password": pw})
	return do(t, c, "POST", base+"/auth/login", string(b), append([]string{"Content-Type", "application/json"}, header...)...)
}

func loginForm(t *testing.T, c *http.Client, base, user, pw, next string, header ...string) (*http.Response, string) {
	t.Helper()
	form := url.Values{"username": {user}, "password": {pw}, "next": {next}}
	return do(t, c, "POST", base+"/auth/login", form.Encode(), append([]string{"Content-Type", "application/x-www-form-urlencoded"}, header...)...)
}

func sessionCookie(t *testing.T, resp *http.Response, name string) *http.Cookie {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no %s cookie in response (Set-Cookie: %q)", name, resp.Header.Values("Set-Cookie"))
	return nil
}

func decode(t *testing.T, body string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("body %q is not JSON: %v", body, err)
	}
	return m
}

// withCookie returns a fresh client presenting only the given cookie.
func withCookie(t *testing.T, base string, c *http.Cookie) *http.Client {
	t.Helper()
	cl := testutil.Client(t)
	u, _ := url.Parse(base)
	cl.Jar.SetCookies(u, []*http.Cookie{{Name: c.Name, Value: c.Value, Path: "/"}})
	return cl
}
