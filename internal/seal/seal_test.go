package seal_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/seal"
)

func newSealer(t *testing.T, key byte) *seal.Sealer {
	t.Helper()
	s, err := seal.New(bytes.Repeat([]byte{key}, seal.KeySize), nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestOpenReturnsWhatWasSealed(t *testing.T) {
	s := newSealer(t, 1)
	for _, plain := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte("private key "), 200)} {
		sealed, err := s.Seal(plain, []byte("ad"))
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Open(sealed, []byte("ad"))
		if err != nil {
			t.Fatalf("Open(%d-byte value): %v", len(plain), err)
		}
		if !bytes.Equal(got, plain) {
			t.Fatalf("Open = %q, want %q", got, plain)
		}
		if len(plain) > 8 && bytes.Contains(sealed, plain) { // a short one may occur by chance
			t.Fatal("sealed value contains the plaintext")
		}
	}
}

// Every way a sealed value can be wrong is the same ErrOpen.
func TestOpenRefuses(t *testing.T) {
	s := newSealer(t, 1)
	sealed, err := s.Seal([]byte("secret"), []byte("gatehouse-key:k1:ES256"))
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte {
		b := bytes.Clone(sealed)
		b[i] ^= 1
		return b
	}
	tests := []struct {
		name   string
		sealer *seal.Sealer
		value  []byte
		ad     string
	}{
		{"WrongKey", newSealer(t, 2), sealed, "gatehouse-key:k1:ES256"},
		{"OtherAssociatedData", s, sealed, "gatehouse-key:k2:ES256"},
		{"NoAssociatedData", s, sealed, ""},
		{"TamperedNonce", s, flip(0), "gatehouse-key:k1:ES256"},
		{"TamperedCiphertext", s, flip(12), "gatehouse-key:k1:ES256"},
		{"TamperedTag", s, flip(len(sealed) - 1), "gatehouse-key:k1:ES256"},
		{"Truncated", s, sealed[:len(sealed)-1], "gatehouse-key:k1:ES256"},
		{"ShorterThanNonceAndTag", s, sealed[:27], "gatehouse-key:k1:ES256"},
		{"Empty", s, nil, "gatehouse-key:k1:ES256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.sealer.Open(tt.value, []byte(tt.ad)); !errors.Is(err, seal.ErrOpen) {
				t.Fatalf("Open err = %v, want ErrOpen", err)
			}
		})
	}
}

// Sealing the same value twice never repeats a nonce (GCM's one rule) and so
// never repeats a ciphertext.
func TestNonceUniqueness(t *testing.T) {
	s := newSealer(t, 1)
	seen := map[string]bool{}
	for range 10000 {
		sealed, err := s.Seal([]byte("same"), nil)
		if err != nil {
			t.Fatal(err)
		}
		nonce := string(sealed[:12])
		if seen[nonce] {
			t.Fatal("nonce repeated")
		}
		seen[nonce] = true
	}
}

func TestSealFailsWhenRandomFails(t *testing.T) {
	s, err := seal.New(make([]byte, seal.KeySize), bytes.NewReader(make([]byte, 5)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Seal([]byte("x"), nil); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Seal with a failing random err = %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestNewRefusesWrongKeySizes(t *testing.T) {
	for _, n := range []int{0, 16, 24, 31, 33, 64} {
		if _, err := seal.New(make([]byte, n), nil); err == nil {
			t.Errorf("New(%d-byte key) succeeded, want an error", n)
		}
	}
}
