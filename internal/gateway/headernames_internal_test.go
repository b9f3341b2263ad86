package gateway

import (
	"net/textproto"
	"testing"
)

// TestHeaderNamesAreCanonical: the forward-auth families and the identity
// headers index header maps directly (first, pickFamily, setIdentity),
// which finds a header only under its canonical name.
func TestHeaderNamesAreCanonical(t *testing.T) {
	names := append([]string(nil), identityHeaders[:]...)
	for _, families := range verifyFamilies {
		for _, f := range families {
			names = append(names, f.method, f.uri, f.host, f.proto, f.url)
		}
	}
	for _, n := range names {
		if n != "" && textproto.CanonicalMIMEHeaderKey(n) != n {
			t.Errorf("header name %q is not canonical (%q)", n, textproto.CanonicalMIMEHeaderKey(n))
		}
	}
}
