// Package cluster holds the multi-instance tests: several real gatehouse
// processes (the built binary) sharing one PostgreSQL store and one Redis,
// behaving as one — sessions, logout, refresh-token reuse detection, key
// rotation and login throttling seen the same from every instance.
package cluster
