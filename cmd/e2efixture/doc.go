// Command e2efixture starts a complete gatehouse installation on loopback
// for the browser end-to-end tests in e2e/: a test OpenID Provider
// (oidctestop), the demo echo upstream, and the real `gatehouse serve`
// binary with a config written for them (SQLite in a temporary directory,
// the session route /app/ and the OIDC provider "test"). It creates a
// password user with `gatehouse user add --password-stdin`, prints one JSON
// line describing the installation on stdout, and runs until SIGINT,
// SIGTERM or the end of its standard input, then stops everything and
// removes the temporary directory.
//
// A line "restart" on its standard input stops `gatehouse serve` (SIGTERM)
// and starts it again on the same port, database and config, then prints
// {"restarted":true,"base_url":…} once it is ready (the apps test restarts
// gatehouse while a back-channel logout is being retried). The JSON line
// also names a public third-party client (spa_client_id) registered for a
// relying party at rp_url, a free loopback origin the test serves itself.
//
// Every port is chosen at random, so several fixtures can run at once. The
// child gatehouse processes get a minimal environment (PATH, HOME, TMPDIR):
// a GATEHOUSE_* variable in the caller's environment would otherwise
// override the fixture's config.
//
//	e2efixture -gatehouse bin/gatehouse
//	{"base_url":"http://127.0.0.1:41234","username":"alice","password":"…","op_issuer":"http://127.0.0.1:39871",…}
package main
