package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"

	"github.com/gatehouse-auth/gatehouse/internal/seal"
)

// Algorithms gatehouse signs with (JWA names, RFC 7518 and RFC 8037).
const (
	HS256 = "HS256"
	RS256 = "RS256"
	ES256 = "ES256"
	EdDSA = "EdDSA"
)

// MinSecretLen is the shortest HMAC secret or encryption key accepted, in
// bytes: HS256 needs at least the hash size (RFC 7518 section 3.2).
const MinSecretLen = 32

// sealInfo separates the at-rest key from any other use of the same
// configured string; bump the version if the sealing format ever changes.
const sealInfo = "gatehouse signing-key encryption v1"

// generate creates a private key for alg.
func generate(alg string, random io.Reader, rsaBits int) (crypto.Signer, error) {
	switch alg {
	case RS256:
		return rsa.GenerateKey(random, rsaBits)
	case ES256:
		return ecdsa.GenerateKey(elliptic.P256(), random)
	case EdDSA:
		_, priv, err := ed25519.GenerateKey(random)
		return priv, err
	}
	return nil, fmt.Errorf("generate %s key: %w", alg, ErrUnsupported)
}

// checkPublic makes sure pub is the kind of key alg verifies with, so that
// a row of another algorithm can never be handed to the wrong verifier.
func checkPublic(alg string, pub any) error {
	ok := false
	switch k := pub.(type) {
	case *rsa.PublicKey:
		ok = alg == RS256 && k.N.BitLen() >= 2048
	case *ecdsa.PublicKey:
		ok = alg == ES256 && k.Curve == elliptic.P256()
	case ed25519.PublicKey:
		ok = alg == EdDSA
	}
	if !ok {
		return fmt.Errorf("public key of type %T does not fit %s", pub, alg)
	}
	return nil
}

// sealer encrypts PKCS#8 private keys at rest (internal/seal, AES-256-GCM:
// nonce || ciphertext || tag, stored as is).
type sealer struct{ s *seal.Sealer }

// newSealer derives the AES key from the configured string with HKDF so
// that a passphrase-like value still yields a uniform key; nonces come from
// random.
func newSealer(secret []byte, random io.Reader) (*sealer, error) {
	key, err := hkdf.Key(sha256.New, secret, nil, sealInfo, seal.KeySize)
	if err != nil {
		return nil, fmt.Errorf("derive keys.encryption_key: %w", err)
	}
	s, err := seal.New(key, random)
	if err != nil {
		return nil, fmt.Errorf("keys.encryption_key: %w", err)
	}
	return &sealer{s: s}, nil
}

// aad binds a sealed key to its kid and algorithm: a ciphertext copied to
// another row fails to open instead of signing under a foreign kid.
func aad(kid, alg string) []byte { return []byte("gatehouse-key:" + kid + ":" + alg) }

func (s *sealer) seal(kid, alg string, plain []byte) ([]byte, error) {
	sealed, err := s.s.Seal(plain, aad(kid, alg))
	if err != nil {
		return nil, fmt.Errorf("seal signing key: %w", err)
	}
	return sealed, nil
}

func (s *sealer) open(kid, alg string, sealed []byte) ([]byte, error) {
	plain, err := s.s.Open(sealed, aad(kid, alg))
	if err != nil {
		return nil, fmt.Errorf("%w %s: keys.encryption_key is not the key it was sealed with, or the stored value was altered", ErrDecrypt, kid)
	}
	return plain, nil
}

// hmacKID names an HS256 secret without revealing it: instances sharing a
// secret agree on the kid, and a changed secret gets a new one.
func hmacKID(secret []byte) string {
	sum := sha256.Sum256(append([]byte("gatehouse-kid:"), secret...))
	return base64.RawURLEncoding.EncodeToString(sum[:8])
}
