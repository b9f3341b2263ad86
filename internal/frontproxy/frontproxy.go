package frontproxy

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"text/template"
)

//go:embed templates/*.tmpl
var files embed.FS

var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"regexquote": regexp.QuoteMeta,
}).ParseFS(files, "templates/*.tmpl"))

// The proxies with a configuration template; each is also the name of its
// generated block in docs/forward-auth.md.
const (
	Nginx   = "nginx"
	Caddy   = "caddy"
	Traefik = "traefik"
)

// Params are the deployment-specific values of a configuration.
type Params struct {
	// Listen is nginx's listen parameter ("80", "127.0.0.1:8081").
	Listen string
	// Site is the Caddy site address or the Traefik Host rule's host
	// ("app.example.com", "http://127.0.0.1:8081").
	Site string
	// ServerName is nginx's server_name and Traefik's Host() rule.
	ServerName string
	// Gatehouse and App are the host:port of gatehouse and of the
	// protected application.
	Gatehouse, App string
	// Cookie is gatehouse's session cookie name (sessions.cookie.name, by
	// default "gatehouse" over plain HTTP, "__Host-gatehouse" with TLS).
	Cookie string
	// VerifyTimeout bounds connecting to gatehouse and waiting for its
	// forward-auth answer ("10s"; DefaultVerifyTimeout when empty): a
	// gatehouse that accepts and never answers is then a 5xx, not a
	// request held open for ever (Caddy's forward_auth has no response
	// timeout of its own).
	VerifyTimeout string
}

// DefaultVerifyTimeout is the VerifyTimeout of an empty Params: twice the
// 5 s bound of each of gatehouse's store calls, so that a slow store is
// gatehouse's 503, not the proxy's timeout.
const DefaultVerifyTimeout = "10s"

// DocParams are the values docs/forward-auth.md shows.
var DocParams = Params{
	Listen:     "80",
	Site:       "app.example.com",
	ServerName: "app.example.com",
	Gatehouse:  "127.0.0.1:8080",
	App:        "127.0.0.1:9001",
	Cookie:     "gatehouse",
	// VerifyTimeout empty: DefaultVerifyTimeout.
}

// Render returns the configuration of proxy (Nginx, Caddy or Traefik) for p.
func Render(proxy string, p Params) (string, error) {
	if p.VerifyTimeout == "" {
		p.VerifyTimeout = DefaultVerifyTimeout
	}
	var b bytes.Buffer
	if err := templates.ExecuteTemplate(&b, proxy+".tmpl", p); err != nil {
		return "", fmt.Errorf("render %s configuration: %w", proxy, err)
	}
	return b.String(), nil
}

// languages are the Markdown code-fence languages of the generated blocks.
var languages = map[string]string{Nginx: "nginx", Caddy: "caddyfile", Traefik: "yaml"}

// ErrNoBlock is returned (wrapped) when a document lacks a generated block's
// markers.
var ErrNoBlock = errors.New("generated block markers not found")

// UpdateDoc returns doc with the fenced code between each proxy's markers
//
//	<!-- BEGIN GENERATED nginx -->
//	<!-- END GENERATED nginx -->
//
// replaced by Render(proxy, DocParams).
func UpdateDoc(doc string) (string, error) {
	for _, proxy := range []string{Nginx, Caddy, Traefik} {
		begin := "<!-- BEGIN GENERATED " + proxy + " (from internal/frontproxy/templates/" + proxy + ".tmpl; run go generate ./internal/frontproxy) -->\n"
		end := "<!-- END GENERATED " + proxy + " -->"
		i := strings.Index(doc, begin)
		j := strings.Index(doc, end)
		if i < 0 || j < i {
			return "", fmt.Errorf("%w: %s", ErrNoBlock, strings.TrimSpace(begin))
		}
		conf, err := Render(proxy, DocParams)
		if err != nil {
			return "", err
		}
		doc = doc[:i+len(begin)] + "```" + languages[proxy] + "\n" + conf + "```\n" + doc[j:]
	}
	return doc, nil
}
