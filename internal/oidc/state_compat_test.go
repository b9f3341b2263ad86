package oidc

import (
	"bytes"
	"errors"
	"testing"
)

// sealedByV1 is a login-state cookie sealed by the code gatehouse shipped
// before internal/seal, under a key of 32 bytes 0x42 and the cookie name
// below. A login in flight across an upgrade must still complete.
const sealedByV1 = "rhLsflt7VjAyEbISs8vx_ICOghuq2RdmZTvchC5CHIm_ACSPDTx8GPb1RGHRPtEEP4AmRioCi7ZQtjnpfnXisF4MZ3ttHmp5z0iU54xj_jH0i2UkddoMLizaiW_R"

func TestOpensStateCookiesSealedByEarlierVersions(t *testing.T) {
	s, err := newSealer(bytes.Repeat([]byte{0x42}, 32))
	if err != nil {
		t.Fatal(err)
	}
	const name = "gatehouse-oidc-0011223344556677"
	got, err := s.open(name, sealedByV1)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	want := loginState{State: "st", Nonce: "no", Verifier: "ve", Provider: "corp", Next: "/app", Expires: 1900000000}
	if got != want {
		t.Fatalf("open = %+v, want %+v", got, want)
	}
	for _, other := range []string{"gatehouse-oidc-8899aabbccddeeff", "__Host-" + name} {
		if _, err := s.open(other, sealedByV1); !errors.Is(err, errBadState) {
			t.Errorf("open under cookie %s err = %v, want errBadState", other, err)
		}
	}
}
