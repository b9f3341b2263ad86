// Package mfa owns second factors (contract section 9): TOTP secrets
// (sealed at rest with keys.encryption_key), recovery codes (stored
// hashed), the last accepted TOTP step per user (so each code works once,
// on every instance), the pending-login cookie between the password step
// and the second step, and the amr values (RFC 8176) a login earns.
//
// Storage is behind two small interfaces (Store, StepStore); store/sqlite
// and store/postgres implement both, store/redis implements StepStore for
// deployments with Redis. mfatest holds the conformance suite.
package mfa
