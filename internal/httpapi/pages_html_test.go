package httpapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"
	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// parsePage parses an HTML page gatehouse rendered.
func parsePage(t *testing.T, body string) *html.Node {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse page: %v", err)
	}
	return doc
}

// walk calls f on every element under n.
func walk(n *html.Node, f func(*html.Node)) {
	if n.Type == html.ElementNode {
		f(n)
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, f)
	}
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func text(n *html.Node) string {
	var b strings.Builder
	var f func(*html.Node)
	f = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			f(c)
		}
	}
	f(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

// accessibleName is a button's name as assistive technology announces it:
// its aria-label, else its text.
func accessibleName(n *html.Node) string {
	if v, ok := attr(n, "aria-label"); ok {
		return strings.TrimSpace(v)
	}
	return text(n)
}

// On /account every button names what it acts on: with two apps allowed,
// a screen reader user hears which app each "Withdraw" withdraws (as the
// session, grant and passkey buttons already say which one they end).
func TestAccountPageButtonsNameWhatTheyActOn(t *testing.T) {
	g := grantsInstance(t, func(c *config.Config) {
		c.Clients = append(c.Clients,
			config.Client{ID: "mobile", Type: "public", RedirectURIs: []string{"com.example.app:/cb"},
				GrantTypes: []string{"authorization_code"}, Scopes: []string{"openid"}})
	})
	g.CreateUser(t, "alice", strongPassword)
	b := browser(t, g, "alice")
	for _, c := range []struct{ id, redirect string }{{"mobile", "com.example.app:/cb"}, {"third", thirdCB}} {
		_, page := do(t, b, "GET", g.URL+"/auth/authorize?"+url.Values{
			"response_type": {"code"}, "client_id": {c.id}, "redirect_uri": {c.redirect}, "scope": {"openid"},
			"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"},
		}.Encode(), "")
		if resp := consent(t, g, b, page, "allow"); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("consent %s = %d", c.id, resp.StatusCode)
		}
	}
	resp, body := do(t, b, "GET", g.URL+"/account", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/account = %d", resp.StatusCode)
	}
	seen := map[string]int{}
	walk(parsePage(t, body), func(n *html.Node) {
		if n.Data != "button" {
			return
		}
		name := accessibleName(n)
		if name == "" {
			t.Errorf("a button without an accessible name: %v", n.Attr)
		}
		seen[name]++
	})
	for name, n := range seen {
		if n > 1 {
			t.Errorf("%d buttons are all announced as %q", n, name)
		}
	}
	if seen["Withdraw the access of mobile"] != 1 || seen["Withdraw the access of third"] != 1 {
		t.Errorf("buttons = %v, want one Withdraw per app, naming it", seen)
	}
}

func mustHost(t *testing.T, u string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return p.Host
}

// Every page gatehouse renders is usable without sight: a language, a
// title of its own, a label for every input a user fills in, a name for
// every button.
func TestPagesAreAccessible(t *testing.T) {
	g := mfaInstance(t, func(c *config.Config) {
		c.PublicURL = passkeyOrigin
		c.Login.RequireMFARoles = []string{"admin"}
		c.Clients = []config.Client{{ID: "third", Name: "Third app", Type: "public", RedirectURIs: []string{thirdCB},
			GrantTypes: []string{"authorization_code"}, Scopes: []string{"openid"}, PostLogoutRedirectURIs: []string{thirdCB}}}
	})
	g.CreateUser(t, "alice", strongPassword)
	g.CreateUser(t, "bob", strongPassword)
	enrolTOTP(t, g, "bob")
	g.CreateUser(t, "root", strongPassword, "admin")
	form := func(c *http.Client, path string, v url.Values) (*http.Response, string) {
		return do(t, c, "POST", g.URL+path, v.Encode(), "Content-Type", "application/x-www-form-urlencoded",
			"Origin", g.URL, "Sec-Fetch-Site", "same-origin")
	}
	pages := map[string]func(t *testing.T) (*http.Response, string){
		"login": func(t *testing.T) (*http.Response, string) {
			return do(t, testutil.Client(t), "GET", g.URL+"/login?error=1&next=%2Faccount", "")
		},
		"second factor": func(t *testing.T) (*http.Response, string) {
			c := testutil.Client(t)
			resp, _ := loginForm(t, c, g.URL, "bob", strongPassword, "/account")
			return do(t, c, "GET", g.URL+resp.Header.Get("Location"), "")
		},
		"enrolment offer": func(t *testing.T) (*http.Response, string) {
			c := testutil.Client(t)
			resp, _ := loginForm(t, c, g.URL, "root", strongPassword, "/account")
			return do(t, c, "GET", g.URL+resp.Header.Get("Location"), "")
		},
		"enrolment": func(t *testing.T) (*http.Response, string) {
			c := testutil.Client(t)
			loginForm(t, c, g.URL, "root", strongPassword, "/account")
			return form(c, "/auth/mfa/totp", url.Values{"next": {"/account"}})
		},
		"account": func(t *testing.T) (*http.Response, string) {
			return do(t, signedIn(t, g, "alice"), "GET", g.URL+"/account", "")
		},
		"recovery codes": func(t *testing.T) (*http.Response, string) {
			g.CreateUser(t, "carol", strongPassword)
			c := signedIn(t, g, "carol")
			enrolTOTPIn(t, g, c)
			return form(c, "/auth/mfa/recovery-codes", url.Values{})
		},
		"consent": func(t *testing.T) (*http.Response, string) {
			return do(t, signedIn(t, g, "alice"), "GET", g.URL+"/auth/authorize?"+url.Values{
				"response_type": {"code"}, "client_id": {"third"}, "redirect_uri": {thirdCB}, "scope": {"openid"},
				"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"},
			}.Encode(), "")
		},
		"end session": func(t *testing.T) (*http.Response, string) {
			return do(t, signedIn(t, g, "alice"), "GET", g.URL+"/auth/end_session?client_id=third", "")
		},
		"authorize error": func(t *testing.T) (*http.Response, string) {
			return do(t, testutil.Client(t), "GET", g.URL+"/auth/authorize?client_id=nobody", "")
		},
	}
	titles := map[string]string{}
	for name, get := range pages {
		t.Run(name, func(t *testing.T) {
			resp, body := get(t)
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Fatalf("= %d %s, want a page:\n%s", resp.StatusCode, ct, body)
			}
			doc := parsePage(t, body)
			labels := map[string]bool{}
			walk(doc, func(n *html.Node) {
				if n.Data == "label" {
					if v, ok := attr(n, "for"); ok {
						labels[v] = true
					}
				}
			})
			walk(doc, func(n *html.Node) {
				switch n.Data {
				case "html":
					if v, _ := attr(n, "lang"); v == "" {
						t.Error("<html> without lang")
					}
				case "title":
					titles[name] = text(n)
				case "input":
					typ, _ := attr(n, "type")
					_, hidden := attr(n, "hidden")
					id, _ := attr(n, "id")
					_, aria := attr(n, "aria-label")
					if typ != "hidden" && !hidden && !aria && (id == "" || !labels[id]) {
						t.Errorf("input %v has no label", n.Attr)
					}
				case "button", "a":
					if accessibleName(n) == "" {
						t.Errorf("<%s> %v has no accessible name", n.Data, n.Attr)
					}
				}
			})
		})
	}
	// The enrolment offer is the second-factor page in another state.
	delete(titles, "enrolment offer")
	seen := map[string]string{}
	for name, title := range titles {
		if other, ok := seen[title]; ok {
			t.Errorf("pages %q and %q share the title %q", name, other, title)
		}
		seen[title] = name
	}
}

// The passkey controls need webauthn.js: without it (JavaScript off or
// blocked, or a browser without WebAuthn) the "Sign in with a passkey"
// button did nothing and the "Add a passkey" form posted to
// register/begin and showed its JSON. They are rendered hidden, the
// layout's CSS lets hidden win over the button style, and the script
// shows them when the browser can use them.
func TestPasskeyControlsNeedTheScript(t *testing.T) {
	g := mfaInstance(t, func(c *config.Config) {
		c.PublicURL = passkeyOrigin
		c.Login.RequireMFARoles = []string{"admin"}
	})
	g.CreateUser(t, "alice", strongPassword)
	g.CreateUser(t, "root", strongPassword, "admin")
	pages := map[string]func(t *testing.T) (*http.Response, string){
		"login": func(t *testing.T) (*http.Response, string) {
			return do(t, testutil.Client(t), "GET", g.URL+"/login", "")
		},
		"account": func(t *testing.T) (*http.Response, string) {
			return do(t, signedIn(t, g, "alice"), "GET", g.URL+"/account", "")
		},
		"enrolment offer": func(t *testing.T) (*http.Response, string) {
			c := testutil.Client(t)
			resp, _ := loginForm(t, c, g.URL, "root", strongPassword, "/account")
			return do(t, c, "GET", g.URL+resp.Header.Get("Location"), "")
		},
	}
	for name, get := range pages {
		t.Run(name, func(t *testing.T) {
			_, body := get(t)
			if !strings.Contains(body, "[hidden]{display:none!important}") {
				t.Error("the page's CSS lets button{display:inline-block} show a hidden button")
			}
			controls := 0
			var check func(n *html.Node, hidden bool)
			check = func(n *html.Node, hidden bool) {
				if n.Type == html.ElementNode {
					if _, ok := attr(n, "hidden"); ok {
						hidden = true
					}
					_, login := attr(n, "data-passkey-login")
					_, register := attr(n, "data-passkey-register")
					if login || register {
						controls++
						if !hidden {
							t.Errorf("<%s %v> is shown before the script runs", n.Data, n.Attr)
						}
					}
				}
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					check(c, hidden)
				}
			}
			check(parsePage(t, body), false)
			if controls == 0 {
				t.Fatalf("no passkey control on the page:\n%s", body)
			}
		})
	}
	_, js := do(t, testutil.Client(t), "GET", g.URL+"/static/webauthn.js", "")
	if !strings.Contains(js, "[data-passkey-ui]") {
		t.Error("webauthn.js does not show the [data-passkey-ui] controls")
	}
}
