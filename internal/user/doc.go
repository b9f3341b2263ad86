// Package user manages local accounts: creation with a strong password,
// password login with argon2id, roles, disable/enable and deletion — and the
// external identities (OIDC, OAuth 2.0 subjects) linked to accounts. Every
// account, whoever creates it (CLI, OIDC login), passes the same name and
// role rules and leaves the same audit events. The persistence it needs is
// the Store and IdentityStore interfaces; store/* implement them.
package user
