package keys

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
)

// JWK is one public key in a JWK Set (RFC 7517), as published at
// /.well-known/jwks.json. Only public members ever appear.
type JWK struct {
	Kty string `json:"kty"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Crv string `json:"crv,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
}

var b64 = base64.RawURLEncoding

// publicJWK describes pub as a JWK without kid.
func publicJWK(alg string, pub any) (JWK, error) {
	j := JWK{Use: "sig", Alg: alg}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		j.Kty, j.N, j.E = "RSA", b64.EncodeToString(k.N.Bytes()), b64.EncodeToString(big.NewInt(int64(k.E)).Bytes())
	case *ecdsa.PublicKey:
		ec, err := k.ECDH()
		if err != nil {
			return JWK{}, fmt.Errorf("encode EC key: %w", err)
		}
		pt := ec.Bytes() // 0x04 || X || Y, each padded to 32 bytes as RFC 7518 6.2.1.2 wants
		j.Kty, j.Crv, j.X, j.Y = "EC", "P-256", b64.EncodeToString(pt[1:33]), b64.EncodeToString(pt[33:])
	case ed25519.PublicKey:
		j.Kty, j.Crv, j.X = "OKP", "Ed25519", b64.EncodeToString(k)
	default:
		return JWK{}, fmt.Errorf("encode %T as JWK: %w", pub, ErrUnsupported)
	}
	return j, nil
}

// thumbprint is the RFC 7638 SHA-256 JWK thumbprint, used as kid: anyone
// holding the JWKS can check that a kid names exactly that key.
func thumbprint(j JWK) string {
	var canon string
	switch j.Kty {
	case "RSA":
		canon = fmt.Sprintf(`{"e":%q,"kty":"RSA","n":%q}`, j.E, j.N)
	case "EC":
		canon = fmt.Sprintf(`{"crv":%q,"kty":"EC","x":%q,"y":%q}`, j.Crv, j.X, j.Y)
	default:
		canon = fmt.Sprintf(`{"crv":%q,"kty":"OKP","x":%q}`, j.Crv, j.X)
	}
	sum := sha256.Sum256([]byte(canon))
	return b64.EncodeToString(sum[:])
}

// marshalJWKS renders {"keys":[...]}; never null, so clients that iterate
// the array need no special case for HS256 deployments.
func marshalJWKS(keys []JWK) []byte {
	if keys == nil {
		keys = []JWK{}
	}
	out, err := json.Marshal(struct {
		Keys []JWK `json:"keys"`
	}{keys})
	if err != nil { // only strings inside: cannot happen
		return []byte(`{"keys":[]}`)
	}
	return out
}
