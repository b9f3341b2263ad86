package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// A TLS certificate that cannot be read gets one verdict from config check
// and serve: a configuration error naming tls.cert (exit 2), before serve
// opens its listener.
func TestMissingTLSCertificateIsAConfigError(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "cert.pem")
	c := newCLI(t, "listen: 127.0.0.1:0\nadmin_listen: ''\ntls: {cert: '"+missing+"', key: '"+missing+"'}\n")
	for _, args := range [][]string{{"config", "check"}, {"serve"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, _, errOut := c.run("", args...)
			if code != 2 || !strings.Contains(errOut, "tls.cert:") || strings.Contains(errOut, "gatehouse serving") {
				t.Errorf("exit %d (want 2), stderr %q (want tls.cert named, nothing served)", code, errOut)
			}
		})
	}
}
