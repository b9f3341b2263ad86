// Package seal encrypts and authenticates small values with AES-256-GCM in
// the one format gatehouse uses for everything it seals (signing keys at
// rest in internal/keys, OIDC login-state cookies in internal/oidc): a
// random 96-bit nonce followed by the ciphertext and its 128-bit tag.
// Associated data binds a sealed value to its context (a key's kid and
// algorithm, a cookie's name), so a value copied elsewhere does not open.
//
// Deriving the AES key from configuration and encoding the result (raw
// bytes, base64url) stay with the callers, whose stored formats they are.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
)

// KeySize is the length of a sealing key in bytes (AES-256).
const KeySize = 32

// ErrOpen is returned by Open for every value that does not authenticate:
// tampered, truncated, sealed under another key or with other associated
// data. It deliberately does not say which.
var ErrOpen = errors.New("sealed value does not authenticate")

// Sealer seals and opens values under one key. It is safe for concurrent
// use.
type Sealer struct {
	aead   cipher.AEAD
	random io.Reader
}

// New returns a Sealer for a KeySize-byte key that draws nonces from random
// (nil: crypto/rand). A 96-bit random nonce stays safe for far more seals
// per key than gatehouse makes (NIST SP 800-38D allows 2^32).
func New(key []byte, random io.Reader) (*Sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("seal: key must be %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	if random == nil {
		random = rand.Reader
	}
	return &Sealer{aead: aead, random: random}, nil
}

// Seal encrypts plain and authenticates it together with ad, and returns
// nonce || ciphertext || tag. It fails only when random does.
func (s *Sealer) Seal(plain, ad []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	nonce := make([]byte, n, n+len(plain)+s.aead.Overhead())
	if _, err := io.ReadFull(s.random, nonce); err != nil {
		return nil, fmt.Errorf("seal: read nonce: %w", err)
	}
	return s.aead.Seal(nonce, nonce, plain, ad), nil
}

// Open authenticates and decrypts what Seal returned for the same ad. Every
// failure is ErrOpen.
func (s *Sealer) Open(sealed, ad []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n+s.aead.Overhead() {
		return nil, ErrOpen
	}
	plain, err := s.aead.Open(nil, sealed[:n], sealed[n:], ad)
	if err != nil {
		return nil, ErrOpen
	}
	return plain, nil
}
