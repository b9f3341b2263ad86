// Package admin is gatehouse's administration surface (contract section
// 11): the JSON API under /admin/api/v1/ and the HTML console at /admin/.
//
// Every request is authenticated by a session cookie or a bearer access
// token (credential.FromRequest, the same reader the gateway uses): 401
// without a usable credential, 403 without a role in admin.roles or, while
// admin.require_mfa is true (the default), without a second factor in amr
// — the API says so in error_description, the console sends the browser
// to the step-up page /login/mfa (which offers enrolment to an
// administrator without a factor). Cookie-authenticated unsafe requests
// must be same-origin (http.CrossOriginProtection).
//
// Handlers change state only through the owning services (user.Service,
// session.Manager, token.Grants, keys.Set, client.Registry), which write
// the audit events; the acting administrator rides in the request context
// (audit.SetActor), so every event names them. Resetting a user's second
// factors is user.Service.ResetSecondFactors, the operation `gatehouse
// user mfa-reset` also calls. Client secrets are shown once, in the
// answer that creates or rotates them, and never again. A delete, disable
// or role change that would leave no enabled administrator is refused
// with 409 (keepAdmin); the CLI, the recovery path, is not limited. The
// explain endpoint asks the running gateway (gateway.Gateway.Explain): the
// same decision code as live traffic.
package admin
