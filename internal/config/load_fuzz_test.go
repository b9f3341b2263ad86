package config_test

import (
	"errors"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/config"
)

// FuzzParse feeds arbitrary bytes to the YAML loader and the validator.
// Invariants: never a panic; every problem is a *config.Error (one sentence
// naming file/key, exit 2), never some other error type that the CLI would
// report as a runtime failure; and a file that loads cleanly validates to
// a list of *config.Error too.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", "{}", "listen: 127.0.0.1:8080\n", "lissen: x\n", "tokens: {access_ttl: ten}\n", "tokens: [1, 2]\n",
		"routes: [{name: a, match: {path_prefix: /a/}, upstream: 'http://x', auth: none}]\n",
		"routes: {name: a}\n", "routes: [1]\n", "trusted_proxies: 10.0.0.0/8\n", "passwords: {max_wait: -1s}\n",
		"login: {max_failures: 99999999999999999999}\n", "passwords: {parallelism: 300}\n", "a: &x [*x]\n",
		"sessions:\n  cookie: {secure: auto}\n  idle_timeout: 30m\n", "oidc: {providers: [{name: corp, issuer: 'https://x'}]}\n",
		"!!binary x\n", "- a\n- b\n", "? [a]\n: b\n", "tokens: {audience: }\n", "store: !!int 3\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := config.Default()
		if err := config.Parse(data, "fuzz.yaml", &cfg); err != nil {
			assertConfigErrors(t, err)
			return
		}
		for _, err := range cfg.Validate() {
			assertConfigErrors(t, err)
		}
		_ = cfg.Masked()
	})
}

func assertConfigErrors(t *testing.T, err error) {
	t.Helper()
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	for _, e := range errs {
		var ce *config.Error
		if !errors.As(e, &ce) {
			t.Fatalf("error %v (%T) is not a *config.Error", e, e)
		}
	}
}
