// Package keys holds the signing keys of a gatehouse instance: the active
// key that signs access tokens, the keys that still verify after a rotation,
// and their public JWK Set (RFC 7517) for /.well-known/jwks.json.
//
// Asymmetric keys (RS256, ES256, EdDSA) live in a Store shared by every
// instance, private halves sealed with AES-256-GCM when keys.encryption_key
// is set. Instances agree on the active key through Store.RotateKey's
// compare-and-swap on the previous active key and pick up each other's
// rotations with Reload (on a "keys" revocation event and periodically),
// and with LearnKey when a token names a kid not loaded yet (rate-limited).
// An HS256 secret comes from configuration and is never stored.
package keys
