// Package extauthz serves Envoy's external authorization (contract section
// 12) with the gateway's one decision, gateway.Gateway.Check:
//
//   - GRPC: envoy.service.auth.v3.Authorization/Check on its own listener
//     (ext_authz_listen), built from Envoy's own protos
//     (github.com/envoyproxy/go-control-plane/envoy).
//   - HTTPHandler: Envoy's HTTP ext_authz service at /auth/verify/envoy,
//     which receives the original method and path appended to that prefix.
//
// Allowed: OK with the X-Auth-* headers (and the internal JWT of forward:
// jwt routes) to set upstream, and the client's X-Auth-* headers, their
// lookalikes, Authorization and the gatehouse cookie to remove. Denied: the
// gateway's status, JSON body and WWW-Authenticate; browsers get 302 to the
// login page. Envoy must be a trusted proxy (trusted_proxies); its
// x-forwarded-for is believed as from any trusted proxy.
package extauthz
