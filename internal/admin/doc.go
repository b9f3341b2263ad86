// Package admin is gatehouse's administration surface (contract section
// 11): the JSON API under /admin/api/v1/ and the HTML console at /admin/.
//
// Every request is authenticated by a session cookie or a bearer access
// token (credential.FromRequest, the same reader the gateway uses): 401
// without a usable credential, 403 without a role in admin.roles or, while
// admin.require_mfa is true, without a second factor. Cookie-authenticated
// unsafe requests must be same-origin (http.CrossOriginProtection).
//
// Handlers change state only through the owning services (user.Service,
// session.Manager, token.Grants, keys.Set), which write the audit events;
// the acting administrator rides in the request context
// (audit.SetActor), so every event names them. The explain endpoint asks
// the running gateway (gateway.Gateway.Explain): the same decision code as
// live traffic.
package admin
