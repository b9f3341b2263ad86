package httperr

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"strings"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
)

// PageHeaders sets the headers of every HTML page gatehouse renders and
// returns the nonce that the page's one inline <style> must carry. The
// Content-Security-Policy allows nothing else: no scripts, no inline
// styles without the nonce ('unsafe-inline' never), no framing.
// Cross-Origin-Opener-Policy: same-origin puts the page in a browsing
// context group of its own (OWASP ASVS 5.0 3.4.8), so that a window of
// another site that opened it keeps no handle on it to navigate it
// (tabnabbing) or probe it (XS-Leaks); the pages of the sign-in flows an
// app may open in a popup take it off again (AllowOpener).
func PageHeaders(h http.Header) (nonce string) {
	b := make([]byte, 16)
	_, _ = rand.Read(b)                             // never fails (crypto/rand, Go 1.24+)
	nonce = base64.RawURLEncoding.EncodeToString(b) // no "+" for html/template to escape
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", CSP(nonce))
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	return nonce
}

// AllowOpener takes PageHeaders' Cross-Origin-Opener-Policy off a page of
// the sign-in and sign-out flows that an app may run in a popup (OIDC Core
// §3.1.2.1 display=popup; oidc-client-ts signinPopup, MSAL loginPopup):
// behind same-origin the popup would leave the app's browsing context
// group for good, and the app's own callback page, last in the popup,
// would find window.opener null and never hand the code back.
func AllowOpener(h http.Header) { h.Del("Cross-Origin-Opener-Policy") }

// CSP is the Content-Security-Policy of every gatehouse page, for the
// style nonce of one response.
func CSP(nonce string) string {
	return CSPFormTo(nonce, "")
}

// CSPFormTo is CSP whose form-action also allows origin ("" adds nothing):
// browsers apply form-action to the redirects that answer a form, so the
// consent form, answered by a redirect to an app's registered
// http://127.0.0.1 redirect URI (RFC 8252), needs that origin listed.
func CSPFormTo(nonce, origin string) string {
	formAction := "'self' https:"
	if origin != "" {
		formAction += " " + origin
	}
	return "default-src 'none'; style-src 'nonce-" + nonce + "'; img-src 'self'; form-action " + formAction + "; frame-ancestors 'none'; base-uri 'none'"
}

// PageHeadersScript is PageHeaders for the pages that load the WebAuthn
// glue (/static/webauthn.js): the nonce also admits <script> elements
// carrying it (external files only — gatehouse writes no inline script),
// and fetch may reach gatehouse's own origin.
func PageHeadersScript(h http.Header) (nonce string) {
	nonce = PageHeaders(h)
	h.Set("Content-Security-Policy", ScriptCSP(nonce))
	return nonce
}

// ScriptCSP is CSP plus script-src by nonce and connect-src 'self'; never
// 'unsafe-inline' or 'unsafe-eval'.
func ScriptCSP(nonce string) string {
	return ScriptCSPFormTo(nonce, "")
}

// ScriptCSPFormTo is ScriptCSP whose form-action also allows origin, as
// CSPFormTo.
func ScriptCSPFormTo(nonce, origin string) string {
	return CSPFormTo(nonce, origin) + "; script-src 'nonce-" + nonce + "'; connect-src 'self'"
}

// WantsHTML reports whether the client is a browser navigating: any of
// its Accept header lines names text/html (a proxy may split the list
// over several lines). It is the one rule by which httpapi and the
// gateway choose a page or a redirect over JSON.
func WantsHTML(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		if strings.Contains(v, "text/html") {
			return true
		}
	}
	return false
}

// Page is an HTML error page: a title, one sentence for the user and,
// when Code is set, a short code shown escaped after CodeLabel (such as a
// sign-in provider's error parameter). It never holds an internal error.
// Its link back to sign-in goes to SignIn, "" meaning /login: a page shown
// on another host than gatehouse's (the gateway's, passed on by a
// forward-auth proxy) names gatehouse's absolute login URL there.
type Page struct {
	Status    int
	Title     string
	Message   string
	CodeLabel string
	Code      string
	SignIn    string
}

var pageTemplate = template.Must(template.New("error").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · gatehouse</title>
<style nonce="{{.Nonce}}">body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222}h1{font-size:1.4rem}code{background:#f3f3f3;padding:.1rem .3rem}</style>
</head>
<body>
<main>
<h1>{{.Title}}</h1>
<p>{{.Message}}</p>
{{- if .Code}}
<p>{{.CodeLabel}}: <code>{{.Code}}</code></p>
{{- end}}
<p><a href="{{.SignIn}}">Back to sign-in</a></p>
</main>
</body>
</html>
`))

// RenderPage writes p with the headers of every page. The page may be
// shown at a URL holding secrets (an OAuth callback's code and state), so
// it sends no Referer when the user follows its link. A 503 page carries
// Retry-After: one set before, else that of StoreRetry.
func RenderPage(w http.ResponseWriter, p Page) {
	nonce := PageHeaders(w.Header())
	w.Header().Set("Referrer-Policy", "no-referrer")
	retryUnavailable(w.Header(), p.Status)
	if p.SignIn == "" {
		p.SignIn = "/login"
	}
	w.WriteHeader(p.Status)
	_ = pageTemplate.Execute(w, struct {
		Page
		Nonce string
	}{p, nonce})
}

// WritePage answers err as RenderPage with the status of Of (and
// Retry-After and a 401's challenge, as Write), for a browser on one of
// gatehouse's own pages or posting one of its forms: the same status and
// headers an API client gets with the JSON, in a page it can show. The message says what
// the status means and, for a 400, what was wrong with the input
// (InputDetail); never an internal error. It returns the Problem (callers
// log 5xx).
func WritePage(w http.ResponseWriter, err error) Problem { return WritePageSignIn(w, err, "") }

// WritePageSignIn is WritePage whose link back to sign-in goes to signIn
// ("" is /login, as Page.SignIn): the gateway's page names the URL its
// login redirect would, absolute on public_url where the browser is on an
// app's host.
func WritePageSignIn(w http.ResponseWriter, err error, signIn string) Problem {
	p := Of(err)
	SetRetryAfter(w.Header(), err)
	setChallenge(w.Header(), p)
	msg := pageMessages[p.Status]
	switch d := InputDetail(err); {
	case d != "":
		msg = "The form could not be read: " + d + "."
	case msg == "":
		msg = "The request could not be carried out."
	}
	RenderPage(w, Page{Status: p.Status, Title: http.StatusText(p.Status), Message: msg, SignIn: signIn})
	return p
}

// pageMessages is what WritePage tells a browser for each status.
var pageMessages = map[int]string{
	http.StatusBadRequest:          "The form could not be read. Go back, reload the page and try again.",
	http.StatusUnauthorized:        "You are not signed in, or your session has ended.",
	http.StatusForbidden:           "This request is not allowed.",
	http.StatusNotFound:            "There is nothing here.",
	http.StatusConflict:            "The change conflicts with the current state. Reload the page and try again.",
	http.StatusTooManyRequests:     "Too many attempts. Please wait a moment and try again.",
	http.StatusServiceUnavailable:  "gatehouse is temporarily unavailable. Please try again in a moment.",
	http.StatusInternalServerError: "Something went wrong on our side. Please try again later.",
}

// InputDetail is what a 400 may tell the caller: the message after
// auth.ErrInvalidInput, which auth documents as safe to show (a bad field,
// a weak password, a repeated parameter); "" for other errors.
func InputDetail(err error) string {
	if !errors.Is(err, auth.ErrInvalidInput) {
		return ""
	}
	msg := err.Error()
	if i := strings.Index(msg, auth.ErrInvalidInput.Error()+": "); i >= 0 {
		msg = msg[i+len(auth.ErrInvalidInput.Error())+2:]
	}
	return strings.ReplaceAll(msg, "\n", "; ")
}
