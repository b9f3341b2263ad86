// Package audit records security events (contract section 6): each event is
// stored through Store and written as one slog line. Events carry IDs,
// usernames, IPs and reasons — never a password, token, cookie or hash.
package audit
