// Package auth holds gatehouse's domain types — users and the
// authenticated Principal — and the sentinel errors that every other package
// branches on. It depends on nothing but the standard library so that stores,
// the HTTP layer and the gateway can all share it.
package auth
