// Package throttle slows down password guessing against /auth/login and the
// token endpoint's password grant, and second-factor guessing after it
// (ForSecondFactor). Limiter applies the policy — per
// account+IP, per account across IPs (distributed guessing) and per IP
// across accounts (password spraying), with exponential backoff — over a
// Store that counts failures in a sliding window. A shared store (Redis)
// makes the limits hold across every gatehouse instance.
package throttle
