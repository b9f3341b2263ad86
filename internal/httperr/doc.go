// Package httperr is gatehouse's one vocabulary for errors on the wire, used
// by httpapi, gateway and oidc alike:
//
//   - Of: the table from sentinel errors (auth.Err*) to an HTTP status and
//     the contract's error code. "Store down → 503" is decided here and
//     nowhere else; a new sentinel costs one row.
//   - OAuthOf: the same for the OAuth 2.0 endpoints (RFC 6749 section 5.2
//     codes such as invalid_grant), falling back to Of.
//   - Write, WriteOAuth and JSON: the one JSON error writer
//     ({"error":code[,"error_description":…]}, encoding/json).
//   - MethodSet and MethodNotAllowed: 405 with Allow for a ServeMux whose
//     catch-all pattern keeps it from answering 405 itself (httpapi's "/",
//     admin's "/admin/api/").
//   - RenderPage: the one HTML error page (html/template), with the
//     security headers of every gatehouse page (PageHeaders), so that every
//     page carries the same Content-Security-Policy; WritePage answers an
//     error with it (status of Of and the headers Write sets, InputDetail
//     for a 400) to a browser on one of gatehouse's pages or forms.
//   - WantsHTML: whether a client is a browser navigating (any Accept line
//     names text/html), the one rule by which httpapi and the gateway
//     answer with a page or a login redirect instead of JSON.
//   - StoreRetry: how soon to try again after a store outage, the one
//     owner of that number: the Retry-After of every 503 these writers
//     answer without a wait of its own.
//
// The package is a leaf: it imports only auth, so any HTTP-facing package
// can use it.
package httperr
