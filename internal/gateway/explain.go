package gateway

import (
	"fmt"
	"net/http"
	"slices"
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
	// bad_request | not_found. step_up is a credential without the second
	// factor an mfa: true route needs.
	Outcome string `json:"outcome"`
	// Status is the HTTP status the gateway answers an API client with (a
	// browser on a session route gets 302 to /login, or to /login/mfa for
	// step_up, instead of 401).
	Status int `json:"status"`
	// Reason is the id of the gateway's denial log line; "" when allowed.
	Reason string `json:"reason,omitempty"`
	// Principal is who the credential names, when it was verified.
	Principal *ExplainedPrincipal `json:"principal,omitempty"`
}

// ExplainedRoute is a matched route and its policy.
type ExplainedRoute struct {
	Name       string   `json:"name"`
	Host       string   `json:"host"` // "" = any host
	PathPrefix string   `json:"path_prefix"`
	Methods    []string `json:"methods"`
	Auth       string   `json:"auth"`
	Roles      []string `json:"roles"`
	Forward    string   `json:"forward"`
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
	Name   string `json:"name"` // present, origin, signature (token) | session, expiry, revoked, store, roles, mfa
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
// decide can return has an entry (rate_limited cannot occur: Explain does
// not consult rate limits).
var statusOf = map[string]int{
	outcomeAllow:        http.StatusOK,
	outcomeUnauthorized: http.StatusUnauthorized,
	outcomeStepUp:       http.StatusUnauthorized, // RFC 9470 insufficient_user_authentication
	outcomeForbidden:    http.StatusForbidden,
	outcomeUnavailable:  http.StatusServiceUnavailable,
	"bad_request":       http.StatusBadRequest,
	"not_found":         http.StatusNotFound,
}

// Explain decides r exactly as ServeHTTP would (target, then decide),
// without proxying, logging or counting it. A route's rate_limit is not
// consulted: explaining must not spend the caller's tokens. r is typically built from an operator's description
// ({method, url, headers}); its context must allow store calls.
func (g *Gateway) Explain(r *http.Request) Explanation {
	e := Explanation{Method: r.Method, Credential: ExplainedCredential{Kind: kindNone, Checks: []Check{}}}
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
		Auth: string(rt.Policy.Auth), Roles: nonNil(rt.Policy.Roles), Forward: string(rt.Policy.Forward),
	}
	d := g.decide(r, rt)
	e.Credential = ExplainedCredential{Kind: d.kind, Checks: checksOf(d, rt)}
	if d.principal.Subject != "" {
		pr := d.principal
		e.Principal = &ExplainedPrincipal{Subject: pr.Subject, Username: pr.Username, Roles: nonNil(pr.Roles), Method: pr.Method}
	}
	return finish(d.outcome, d.reason)
}

// checksOf lists the checks decide made, in the order it made them, from
// the decision it returned: which one failed follows from its reason and
// error, so the list cannot disagree with the outcome.
func checksOf(d decision, rt *Route) []Check {
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
	// decide checks the second factor last, after the roles.
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
