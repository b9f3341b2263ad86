// Package password hashes and verifies passwords with argon2id in the PHC
// string format, refuses weak passwords, and caps how many hashes run at once
// (each one holds MemoryKiB of RAM and a core for ~25 ms, so an unbounded
// number of concurrent logins would be a denial of service).
package password
