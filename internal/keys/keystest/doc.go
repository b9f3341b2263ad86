// Package keystest is the conformance suite every keys.Store backend runs:
// key round trips, compare-and-swap rotation (a stale expectActive is
// auth.ErrConflict and changes nothing, concurrent rotations agree on one
// winner) and purging of retired keys.
package keystest
