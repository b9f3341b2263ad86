package gateway

import (
	"fmt"
	"net/http"
	"slices"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
)

// Explanation is the gateway's decision about one request, step by step:
// what POST /admin/api/v1/explain and `gatehouse explain` print. Explain
// computes it with the same functions ServeHTTP runs (target: path, host
// and route; decide), so Reason is exactly the reason=… the gateway logs for the same
// request — there is no second implementation to drift.
type Explanation struct {
	Method string `json:"method"`
	// Path is the normalised path the matcher saw ("" when it was refused).
	Path string `json:"path"`
	// Route is the matched route; nil when none matched or the path was refused.
	Route *ExplainedRoute `json:"route"`
	// Credential is what the policy read and how its checks went.
	Credential ExplainedCredential `json:"credential"`
	// Outcome is allow | unauthorized | step_up | forbidden | unavailable |
	// rate_limited | bad_request | not_found, or gatehouse (ServedBy). step_up
	// is a credential without the second factor an mfa: true route needs.
	Outcome string `json:"outcome"`
	// Status is the HTTP status the gateway answers an API client with (a
	// browser on a session route gets 302 to /login, or to /login/mfa for
	// step_up, instead of 401).
	Status int `json:"status"`
	// Reason is the id of the gateway's denial log line; "" when allowed.
	Reason string `json:"reason,omitempty"`
	// Principal is who the credential names, when it was verified.
	Principal *ExplainedPrincipal `json:"principal,omitempty"`
	// ServedBy is "gateway" when the gateway judges the request (the fields
	// above) or "gatehouse" when one of gatehouse's own endpoints answers it
	// (Endpoint): Route is then null, Outcome "gatehouse", Status 0 (the
	// endpoint's handler decides) unless the routing alone answers (405,
	// or 301 to a subtree's slash).
	ServedBy string `json:"served_by"`
	// Endpoint is gatehouse's own endpoint that answers; nil for the gateway.
	Endpoint *ExplainedEndpoint `json:"endpoint,omitempty"`
	// Host is the host the routes were chosen by (lower case, without port
	// or trailing dot); "" when the request names none.
	Host string `json:"host"`
	// HostRoutes is the set of routes that judged the request: exact (match.host
	// is Host), wildcard (match.host is "*." and Host's parent) or hostless
	// (routes without match.host: Host is "" or no route names it).
	HostRoutes string `json:"host_routes,omitempty"`
	// RateLimit is the matched route's rate_limit; nil without one.
	RateLimit *ExplainedRateLimit `json:"rate_limit,omitempty"`
}

// ExplainedEndpoint is one of gatehouse's own endpoints (httpapi's routes).
type ExplainedEndpoint struct {
	// Family is the endpoints' group: sessions, second factor, static,
	// tokens, apps, forward-auth, oidc, admin api, admin console, openapi,
	// health, or "method not allowed".
	Family string `json:"family"`
	// Pattern is the ServeMux pattern that matched ("GET /login").
	Pattern string `json:"pattern"`
	// Status is the answer when the routing alone gives it, else 0.
	Status int `json:"status,omitempty"`
	// Allow lists the methods of a 405.
	Allow string `json:"allow,omitempty"`
}

// ExplainedRateLimit is a route's rate_limit and the bucket the request
// would spend from. Explain only looks at the bucket (cost 0): it never
// spends a token.
type ExplainedRateLimit struct {
	Per      string `json:"per"` // subject | ip | route
	Rate     int    `json:"rate"`
	Burst    int    `json:"burst"`
	Window   string `json:"window"`
	FailOpen bool   `json:"fail_open"`
	// Bucket is the store key the request spends from; "<client address>"
	// or "<subject>" stands for a part the described request does not
	// give (a described request has no peer address; a subject needs a
	// verified credential). It holds no credential.
	Bucket string `json:"bucket"`
	// Remaining is the bucket's whole tokens now, when Bucket is known and
	// the store answered.
	Remaining *int `json:"remaining,omitempty"`
	// Error says why the store did not answer.
	Error string `json:"error,omitempty"`
}

// ServedByGatehouse is the explanation of a request that gatehouse's own
// endpoint ep answers (httpapi.Server.Endpoint): no route judges it.
func ServedByGatehouse(r *http.Request, ep *ExplainedEndpoint) Explanation {
	host, _ := requestHost(r.Host)
	return Explanation{
		Method: r.Method, Path: r.URL.Path, Outcome: outcomeGatehouse, Status: ep.Status,
		Credential: ExplainedCredential{Kind: kindNone, Checks: []Check{}},
		ServedBy:   servedByGatehouse, Endpoint: ep, Host: host,
	}
}

const (
	servedByGateway   = "gateway"
	servedByGatehouse = "gatehouse"
	outcomeGatehouse  = "gatehouse"
)

// ExplainedRoute is a matched route and its policy.
type ExplainedRoute struct {
	Name       string   `json:"name"`
	Host       string   `json:"host"` // "" = any host
	PathPrefix string   `json:"path_prefix"`
	Methods    []string `json:"methods"`
	Auth       string   `json:"auth"`
	Roles      []string `json:"roles"`
	// Scopes is routes[].scopes: every one a token must carry.
	Scopes  []string `json:"scopes"`
	Forward string   `json:"forward"`
	// SkipAuthPreflight is routes[].skip_auth_preflight: CORS preflights
	// pass unauthenticated.
	SkipAuthPreflight bool `json:"skip_auth_preflight"`
}

// ExplainedCredential is the credential kind evaluated (none | session |
// token) and the checks run on it, in order.
type ExplainedCredential struct {
	Kind   string  `json:"kind"`
	Checks []Check `json:"checks"`
}

// Check is one step of credential verification. Detail says why it failed;
// it never holds a credential value.
type Check struct {
	Name   string `json:"name"` // present, origin, signature (token) | session, expiry, revoked, store, roles, scopes, mfa; preflight
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// ExplainedPrincipal is the identity a verified credential carries.
type ExplainedPrincipal struct {
	Subject  string   `json:"sub"`
	Username string   `json:"username"`
	Roles    []string `json:"roles"`
	Method   string   `json:"method"`
}

// statusOf is the API status of each outcome (ServeHTTP's answers). An
// outcome missing here would be explained as status 0, so every outcome
// decide and a rate limit can return has an entry.
var statusOf = map[string]int{
	outcomeRateLimited:  http.StatusTooManyRequests,
	outcomeAllow:        http.StatusOK,
	outcomeUnauthorized: http.StatusUnauthorized,
	outcomeStepUp:       http.StatusUnauthorized, // RFC 9470 insufficient_user_authentication
	outcomeForbidden:    http.StatusForbidden,
	outcomeUnavailable:  http.StatusServiceUnavailable,
	"bad_request":       http.StatusBadRequest,
	"not_found":         http.StatusNotFound,
}

// Explain decides r exactly as ServeHTTP would (target, then decide),
// without proxying, logging or counting it. A route's rate_limit bucket is
// looked at, never spent: explaining must not spend the caller's tokens.
// r is typically built from an operator's description
// ({method, url, headers}); its context must allow store calls.
// A request that gatehouse's own endpoints answer is httpapi's to tell
// (ServedByGatehouse): Explain judges r as the gateway would if it got it.
func (g *Gateway) Explain(r *http.Request) Explanation {
	e := Explanation{Method: r.Method, Credential: ExplainedCredential{Kind: kindNone, Checks: []Check{}}, ServedBy: servedByGateway}
	if h, ok := requestHost(r.Host); ok {
		e.Host = h
		if !inVerifyNamespace(r.URL.Path) {
			_, e.HostRoutes = g.table.lookup(h)
		}
	}
	finish := func(outcome, reason string) Explanation {
		e.Outcome, e.Reason, e.Status = outcome, reason, statusOf[outcome]
		return e
	}
	p, rt, err := g.target(r)
	if err != nil {
		e.Credential.Checks = append(e.Credential.Checks, Check{Name: "path", Detail: err.Error()})
		return finish("bad_request", reasonBadPath)
	}
	e.Path = p
	if rt == nil {
		return finish("not_found", reasonNoRoute)
	}
	e.Route = &ExplainedRoute{
		Name: rt.Name, Host: rt.Match.Host, PathPrefix: rt.Match.PathPrefix, Methods: nonNil(rt.Match.Methods),
		Auth: string(rt.Policy.Auth), Roles: nonNil(rt.Policy.Roles), Scopes: nonNil(rt.Policy.Scopes), Forward: string(rt.Policy.Forward),
		SkipAuthPreflight: rt.Policy.SkipAuthPreflight,
	}
	d := g.decide(r, rt)
	e.Credential = ExplainedCredential{Kind: d.kind, Checks: checksOf(d, rt)}
	if d.principal.Subject != "" {
		pr := d.principal
		e.Principal = &ExplainedPrincipal{Subject: pr.Subject, Username: pr.Username, Roles: nonNil(pr.Roles), Method: pr.Method}
	}
	if rt.RateLimit != nil {
		var stop *decision
		e.RateLimit, stop = g.explainLimit(r, rt, d)
		if stop != nil {
			return finish(stop.outcome, stop.reason)
		}
	}
	return finish(d.outcome, d.reason)
}

// explainLimit describes rt's rate limit for r, decided as d, and looks at
// the bucket authorize would spend from (cost 0: nothing is written). It
// returns the decision authorize would return instead of d when that
// bucket is empty or its store down: where authorize checks the bucket
// before deciding (per ip, per route) or after an allow (per subject).
// The per subject route's bucket of failed authentications is per client
// address, which a described request does not have: it is not looked at.
func (g *Gateway) explainLimit(r *http.Request, rt *Route, d decision) (*ExplainedRateLimit, *decision) {
	rl := rt.RateLimit
	e := &ExplainedRateLimit{
		Per: string(rl.Per), Rate: rl.Limit.Rate, Burst: rl.Limit.Burst, Window: rl.Limit.Window.String(), FailOpen: rl.FailOpen,
	}
	client := "<client address>"
	known := rl.Per == PerRoute
	_, hasPeer := peerAddr(r)
	if hasPeer {
		client = auth.ClientAddrKey(ClientIP(r, g.trusted))
		known = known || rl.Per == PerIP
	}
	e.Bucket = bucketKey(rt, client, "<subject>")
	if rl.Per == PerSubject && d.outcome == outcomeAllow {
		// A preflight's bucket is its client address's, which a
		// described request may not have.
		e.Bucket, known = allowedKey(rt, client, d), hasPeer || !d.preflight
	}
	if !known {
		return e, nil
	}
	res, err := g.limits.Take(r.Context(), e.Bucket, rl.Limit, 0, g.now())
	if err != nil {
		e.Error = err.Error()
		if rl.FailOpen {
			return e, nil
		}
		return e, &decision{outcome: outcomeUnavailable, reason: reasonUnavailable}
	}
	e.Remaining = &res.Remaining
	if !res.Allowed {
		return e, &decision{outcome: outcomeRateLimited, reason: reasonRateLimited}
	}
	return e, nil
}

// checksOf lists the checks decide made, in the order it made them, from
// the decision it returned: which one failed follows from its reason and
// error, so the list cannot disagree with the outcome.
func checksOf(d decision, rt *Route) []Check {
	if d.preflight {
		// decide read no credential: the one check is the one it made.
		return []Check{{Name: "preflight", OK: true, Detail: "CORS preflight (OPTIONS with Origin and Access-Control-Request-Method): " +
			"skip_auth_preflight passes it to the upstream without authentication, roles or mfa"}}
	}
	if rt.Policy.Auth == AuthNone {
		return []Check{}
	}
	var cs []Check
	add := func(name string, ok bool, detail string) { cs = append(cs, Check{Name: name, OK: ok, Detail: detail}) }
	errText := ""
	if d.err != nil {
		errText = d.err.Error()
	}
	switch d.reason {
	case reasonNoCredentials:
		add("present", false, fmt.Sprintf("no credential that auth %s reads", rt.Policy.Auth))
		return cs
	case reasonDuplicate:
		add("present", false, "sent more than once (counts as none)")
		return cs
	case reasonNotBearer:
		add("present", false, "Authorization scheme is not Bearer")
		return cs
	case reasonCrossOrigin:
		add("present", true, "")
		add("origin", false, "state-changing cookie request from another origin")
		return cs
	}
	add("present", true, "")
	// A token's first check is its signature; a session's is the store
	// lookup of its ID.
	valid := "signature"
	if d.kind == kindSession {
		add("origin", true, "")
		valid = "session"
	}
	switch d.reason {
	case reasonUnavailable:
		add("store", false, errText)
		return cs
	case reasonInvalidToken, reasonInvalidSession:
		add(valid, false, errText)
		return cs
	case reasonExpired:
		add(valid, true, "")
		add("expiry", false, errText)
		return cs
	case reasonRevoked:
		add(valid, true, "")
		add("expiry", true, "")
		add("revoked", false, errText)
		return cs
	}
	add(valid, true, "")
	add("expiry", true, "")
	add("revoked", true, "")
	if d.reason == reasonWrongRole {
		add("roles", false, fmt.Sprintf("needs any of %v, has %v", rt.Policy.Roles, nonNil(d.principal.Roles)))
		return cs
	}
	add("roles", true, "")
	// Then a token's scopes; a session is not asked for them.
	if len(rt.Policy.Scopes) > 0 {
		switch {
		case d.reason == reasonInsufficientScope:
			add("scopes", false, fmt.Sprintf("needs all of %v, the token's scope is %q", rt.Policy.Scopes, d.principal.Scope))
			return cs
		case d.kind == kindSession:
			add("scopes", true, "not checked: a session is the user's own login and carries no scopes")
		default:
			add("scopes", true, "")
		}
	}
	// decide checks the second factor last, after the roles and scopes.
	if rt.Policy.MFA {
		if d.reason == reasonNoSecondFactor {
			add("mfa", false, "the route needs a second factor; the credential's amr shows none")
			return cs
		}
		add("mfa", true, "")
	}
	return cs
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return slices.Clone(s)
}
