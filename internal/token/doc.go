// Package token issues and verifies gatehouse's JWT access tokens (RFC 9068
// profile) and runs the refresh-token grant.
//
// One Verifier serves /auth/userinfo, the gateway and `gatehouse token
// verify`, so every path applies the same checks: the configured algorithm
// only, a known non-retired kid (an unknown one reloads the key set once,
// keys.Set.LearnKey), typ at+jwt, iss/aud/exp/nbf/iat with
// leeway, no key-carrying headers, a size cap, and a deny-list lookup by
// jti and sid. Grants implements refresh-token rotation with reuse
// detection over a RefreshStore; refresh tokens are opaque and stored only
// as SHA-256.
package token
