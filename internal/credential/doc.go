// Package credential turns an HTTP request into the one credential gatehouse
// will judge: a bearer access token from the Authorization header or the
// session cookie. It is the single place that reads those two headers, so
// the gateway, forward-auth (/auth/verify*), /auth/userinfo and the session
// endpoints cannot disagree about what a request presented (issue 12 item 4).
//
// Rules, each with a test:
//   - Authorization: the scheme is case-insensitive (RFC 7235 §2.1: "BEARER
//     x" is a bearer token); exactly one header value; the token is one
//     RFC 6750 §2.1 b64token. Two Authorization headers are refused, never
//     "first wins".
//   - Cookie: the session cookie counts only when its name occurs exactly
//     once across all Cookie headers. Two (cookie tossing: a sibling
//     subdomain or a plain-HTTP response plants a second one, often on a
//     longer path so the browser sends it first) count as no session.
//   - Precedence for callers that accept both (auth: any, /auth/userinfo):
//     any Authorization header selects the token, else the cookie.
//
// The package is a leaf: it imports only the standard library and verifies
// nothing; callers verify the value it returns.
package credential
