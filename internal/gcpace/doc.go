// Package gcpace paces Go's garbage collector for a gateway: it keeps at
// least a fixed allocation headroom between collections.
//
// Go's default (GOGC=100) starts a collection when the heap has grown by as
// much as the live heap. gatehouse's live heap is small (a few MB) and dense
// with pointers (caches, routes, the password dictionaries), while every
// proxied request allocates a few KB that die at once; so a busy gateway
// collected every few milliseconds, and each collection re-marked the whole
// live heap, goroutine stacks included (issue 15 measured a fifth of the
// CPU per request going to the collector). A floor on the headroom makes
// collections rarer without changing how much memory a large heap uses:
// once the live heap exceeds the headroom, pacing is Go's own again.
//
// It imports only the standard library.
package gcpace
