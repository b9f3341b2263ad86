// Package client is the registry of OAuth clients (contract §8): the apps
// — SPAs, native and CLI apps, server-side web apps, services — to which
// gatehouse issues tokens. Clients come from the config file (read-only,
// for GitOps) and from the main store (`gatehouse client add`). The package
// owns every rule about a client: its validation, its secret (generated,
// shown once, stored as SHA-256, compared in constant time), which grants,
// scopes and redirect URIs it may use.
package client
