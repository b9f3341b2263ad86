// Package redistest gives tests a private corner of the shared test Redis at
// 127.0.0.1:6379: a random key prefix per test, deleted afterwards with SCAN
// (never FLUSHDB, because parallel test packages share the server), and a
// TCP proxy that a test can stop and start to simulate Redis going away.
package redistest
