// Package audittest is the conformance suite every audit.Store backend runs:
// field round trips, newest-first order, filters and limits.
package audittest
