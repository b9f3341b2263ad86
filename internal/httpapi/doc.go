// Package httpapi is gatehouse's HTTP surface: NewServer builds one
// http.Handler with every endpoint of the contract (routes.go lists them
// all), the gateway as the fallback, and the middleware every request goes
// through (request ID, one log line, panic recovery, body cap, security
// headers). Errors map to HTTP statuses in httperr's one table, shared
// with the gateway and the OIDC pages.
package httpapi
