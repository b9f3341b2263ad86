// Package oidctestop is a small but real OpenID Provider for tests and local
// end-to-end runs. It is built on github.com/zitadel/oidc/v3's op package
// (discovery, JWKS, authorization endpoint, token endpoint with PKCE and
// client authentication, userinfo) over an in-memory storage written here.
//
// There is no login UI: the authorization endpoint approves the user chosen
// with SetUser at once, so a test (or a headless browser) can run the whole
// authorization code flow with plain redirects. Behaviour knobs make the
// provider misbehave the ways a relying party must survive: an error instead
// of a code, ID tokens with a wrong nonce, audience or issuer, expired ID
// tokens, a wrong or missing RFC 9207 iss parameter, and discovery and key
// set outages. RotateKey switches to a new signing key, KeySetRequests
// counts the key set fetches a relying party makes, and SignForeign forges
// a logout token under a key the provider does not publish.
//
// zitadel's op worked within the time box, so there is no mockoidc or
// hand-rolled fallback. op always puts the client ID into an ID token's aud,
// so the wrong-audience knob (and the missing-subject and claim-editing
// ones) rewrites and re-signs the token endpoint's ID token with the
// provider's own key; every other knob goes through op.
//
// Start binds a loopback port for a test and closes it in t.Cleanup; New does
// the same for a normal program (a browser end-to-end harness). The issuer
// is plain http on loopback, which zitadel allows through WithAllowInsecure;
// never use this package outside tests and demos.
package oidctestop
