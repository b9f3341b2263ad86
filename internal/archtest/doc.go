// Package archtest keeps docs/architecture.md true: its test reads the
// package map there and fails when `go list` shows a package importing
// another internal package its row does not allow, a production package
// importing test support, or an internal package the map does not describe.
package archtest
