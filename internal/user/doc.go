// Package user manages local accounts: creation with a strong password,
// password login with argon2id, roles, disable/enable and deletion. The
// persistence it needs is the Store interface; store/* implement it.
package user
