// Package redistest gives tests a private corner of the shared test Redis
// deployments (a single node at 127.0.0.1:6379, a Sentinel group and a
// Redis Cluster, all started by scripts/services.sh): a random key prefix per test, deleted afterwards with SCAN
// (never FLUSHDB, because parallel test packages share the server), and a
// TCP proxy that a test can stop and start to simulate Redis going away,
// and private redis-server processes (StartServer) for settings that the
// shared servers must not get.
package redistest
