// Package gateway is gatehouse's reverse proxy: it matches a request to a
// configured route (host: exact > wildcard > none, then longest path prefix,
// then method), applies the route's rate limit and policy (auth none |
// session | token | any, roles any-of), and forwards the request to the
// route's upstream with the verified identity in X-Auth-* headers, so that
// no upstream service repeats verification code.
//
// The same decision is available to other proxies (nginx auth_request,
// Traefik ForwardAuth, Caddy forward_auth) through VerifyHandler: one
// endpoint per proxy family, each reading only the headers its proxy sets.
// Envoy's external authorization gets it through Check (internal/extauthz).
//
// Security rules the package keeps, each with a test:
//   - The request path is checked and normalised once (see cleanPath); the
//     normalised path is what the matcher sees and what goes upstream, so a
//     route can never be reached by a spelling the matcher did not see.
//   - Client-sent X-Auth-* headers, the gatehouse session cookie and the
//     client's Authorization header never reach an upstream, nor does a
//     request trailer (unjudged fields after a chunked body).
//   - An upstream's Set-Cookie for gatehouse's cookies never reaches the
//     client, so its responses cannot replace the user's session.
//   - X-Forwarded-* and X-Original-* headers are believed only from
//     trusted proxies.
//   - Header names are judged folded (case, '_' and '.' as '-'), as CGI and
//     WSGI upstreams read them: lookalikes of protected names, method
//     overrides and, unless a route opts in, names with '_' are dropped
//     (scrubHeaders).
//   - The credential comes from package credential, shared with
//     /auth/userinfo: two Authorization headers or two session cookies are
//     never resolved by picking one.
//   - TRACE and TRACK (any letter case) reach an upstream only on a route
//     that lists them: an upstream answering TRACE would echo the identity
//     headers and the internal JWT back to the client (methodAccepted).
//   - A chunked body malformed from its first chunk is refused (400) before
//     an upstream is contacted.
//   - Forward-auth judges the raw path the proxy will forward, or refuses
//     it: it never normalises (see canonicalPath).
//   - When a credential store does not answer the request fails closed (503)
//     and is never proxied.
//
// Routes are configured as RouteConfig values (the routes[] YAML keys) and
// compiled by Compile, the only judge of them: config validation calls it
// too, so config check, serve and reload agree. Refusals use httperr's one
// JSON writer and status table.
//
// A Gateway is immutable once built: configuration reloads build a new one
// with New and swap it in; Close releases the old one's idle connections.
package gateway
