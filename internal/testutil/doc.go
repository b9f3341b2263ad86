// Package testutil is the one test harness every end-to-end test uses: it
// starts a real gatehouse (app.New + Serve on a loopback port, real SQLite in
// t.TempDir unless the config says otherwise), with an injectable clock and
// a captured log, and stops it in t.Cleanup.
package testutil
