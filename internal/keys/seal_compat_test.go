package keys

import (
	"bytes"
	"encoding/base64"
	"errors"
	"testing"
)

// sealedByV1 is a private key sealed by the sealing code gatehouse shipped
// before internal/seal (AES-256-GCM under HKDF(encryption key), nonce of
// seven 7s, ad "gatehouse-key:kid-2026-1:ES256"). Keys stored by that code
// must keep opening.
const sealedByV1 = "BwcHBwcHBwcHBwcH0zEyxHFrngcs2/vYm/wckoMMezBFxklIVN7GNy52MjRv4IJHTwUHUA=="

func TestOpensKeysSealedByEarlierVersions(t *testing.T) {
	s, err := newSealer([]byte("a passphrase-like keys.encryption_key value"), nil)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := base64.StdEncoding.DecodeString(sealedByV1)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.open("kid-2026-1", "ES256", sealed)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	if want := "PKCS#8 private key bytes"; string(got) != want {
		t.Fatalf("open = %q, want %q", got, want)
	}
	// And sealing today gives the same bytes for the same nonce.
	s, err = newSealer([]byte("a passphrase-like keys.encryption_key value"), bytes.NewReader(bytes.Repeat([]byte{7}, 12)))
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.seal("kid-2026-1", "ES256", got)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, sealed) {
		t.Fatal("sealing format changed: the same key, nonce and input give other bytes")
	}
	if _, err := s.open("kid-2026-2", "ES256", sealed); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("open under another kid err = %v, want ErrDecrypt", err)
	}
}
