// Package memory holds in-process implementations of session.Store,
// revocation.Store and throttle.Store for a single gatehouse instance
// (sessions.store: memory, and the embedded setup without Redis).
//
// Everything is behind one mutex, bounded (a full store refuses new records
// with a wrapped auth.ErrUnavailable rather than evicting live sessions,
// revocations or failure counts, so that it fails closed) and self-purging:
// writes sweep expired records at most once per purge interval, so memory
// does not grow with records nobody asks for again. Nothing survives a
// restart.
package memory
