// Package app assembles a gatehouse instance from a Config: it opens the
// stores the config names (SQLite or PostgreSQL, optionally Redis), builds
// the services on top of them, follows the revocation feed, and serves the
// public and admin HTTP handlers. serve, demo, bench and the test harness
// all start gatehouse through it; the CLI uses it for store access.
package app
