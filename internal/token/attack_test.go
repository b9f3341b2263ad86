package token_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/keys"
	"github.com/gatehouse-auth/gatehouse/internal/token"
	"github.com/golang-jwt/jwt/v5"
)

var b64 = base64.RawURLEncoding

// attackerKey is a key the attacker controls, of the given algorithm.
type attackerKey struct {
	method jwt.SigningMethod
	priv   any
	jwk    map[string]any // public JWK (or the oct secret for HS256)
}

func newAttackerKey(t *testing.T, alg string) attackerKey {
	t.Helper()
	switch alg {
	case keys.RS256:
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		return attackerKey{jwt.SigningMethodRS256, k, map[string]any{"kty": "RSA",
			"n": b64.EncodeToString(k.N.Bytes()), "e": b64.EncodeToString(big.NewInt(int64(k.E)).Bytes())}}
	case keys.ES256:
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		pt, _ := k.PublicKey.ECDH()
		b := pt.Bytes()
		return attackerKey{jwt.SigningMethodES256, k, map[string]any{"kty": "EC", "crv": "P-256",
			"x": b64.EncodeToString(b[1:33]), "y": b64.EncodeToString(b[33:])}}
	case keys.EdDSA:
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return attackerKey{jwt.SigningMethodEdDSA, priv, map[string]any{"kty": "OKP", "crv": "Ed25519", "x": b64.EncodeToString(pub)}}
	default:
		secret := []byte("attacker-secret-attacker-secret-attacker")
		return attackerKey{jwt.SigningMethodHS256, secret, map[string]any{"kty": "oct", "k": b64.EncodeToString(secret)}}
	}
}

// sign builds a token with any header and claims.
func sign(t *testing.T, m jwt.SigningMethod, key any, header map[string]any, claims jwt.Claims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, claims)
	for k, v := range header {
		if v == nil {
			delete(tok.Header, k)
			continue
		}
		tok.Header[k] = v
	}
	raw, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return raw
}

// validClaims are claims the deployment would accept.
func validClaims(e *env) token.Claims {
	now := e.clock.Now()
	return token.Claims{
		RegisteredClaims: jwt.RegisteredClaims{Issuer: testIssuer, Subject: "u-alice", Audience: jwt.ClaimStrings{"gatehouse"},
			ID: "jti-1", IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(accessTTL))},
		ClientID: "cli", Username: "alice", Roles: []string{"user"}, SessionID: "fam-1",
	}
}

// signReal signs with the deployment's own active key, for attacks that
// change only header or claims.
func signReal(t *testing.T, e *env, header map[string]any, c jwt.Claims) string {
	t.Helper()
	kid, alg, key := e.keys.Signing()
	h := map[string]any{"typ": "at+jwt", "kid": kid}
	for k, v := range header {
		h[k] = v
	}
	return sign(t, jwt.GetSigningMethod(alg), key, h, c)
}

// signRawJSON signs header and payload JSON texts exactly as given with
// the deployment's active key ("" header: the usual one), for attacks that
// json.Marshal cannot spell (duplicate members, strings for numbers).
func signRawJSON(t *testing.T, e *env, header, payload string) string {
	t.Helper()
	kid, alg, key := e.keys.Signing()
	if header == "" {
		header = `{"alg":"` + alg + `","kid":"` + kid + `","typ":"at+jwt"}`
	}
	signing := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(payload))
	sig, err := jwt.GetSigningMethod(alg).Sign(signing, key)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return signing + "." + b64.EncodeToString(sig)
}

// payloadJSON is validClaims as JSON text.
func payloadJSON(t *testing.T, e *env) string {
	t.Helper()
	p, err := json.Marshal(validClaims(e))
	if err != nil {
		t.Fatal(err)
	}
	return string(p)
}

// addMember appends a member to a JSON object text.
func addMember(obj, member string) string { return strings.TrimSuffix(obj, "}") + "," + member + "}" }

// replaceMember replaces the number value of member name in obj.
func replaceMember(t *testing.T, obj, name, value string) string {
	t.Helper()
	i := strings.Index(obj, `"`+name+`":`)
	if i < 0 {
		t.Fatalf("%s not in %s", name, obj)
	}
	start := i + len(name) + 3
	end := start + strings.IndexAny(obj[start:], ",}")
	return obj[:start] + value + obj[end:]
}

func otherAlg(alg string) string {
	if alg == keys.ES256 {
		return keys.EdDSA
	}
	return keys.ES256
}

func TestVerifyRejectsAttacks(t *testing.T) {
	type attack struct {
		name string
		make func(t *testing.T, e *env) string
		want error // besides auth.ErrUnauthenticated
	}
	attacks := []attack{
		{"alg none", func(t *testing.T, e *env) string {
			kid, _, _ := e.keys.Signing()
			return sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, map[string]any{"typ": "at+jwt", "kid": kid}, validClaims(e))
		}, jwt.ErrTokenSignatureInvalid},
		{"alg none, empty signature by hand", func(t *testing.T, e *env) string {
			kid, _, _ := e.keys.Signing()
			h, _ := json.Marshal(map[string]any{"alg": "none", "typ": "at+jwt", "kid": kid})
			p, _ := json.Marshal(validClaims(e))
			return b64.EncodeToString(h) + "." + b64.EncodeToString(p) + "."
		}, nil},
		{"other algorithm, attacker key, real kid", func(t *testing.T, e *env) string {
			a := newAttackerKey(t, otherAlg(e.keys.Algorithm()))
			kid, _, _ := e.keys.Signing()
			return sign(t, a.method, a.priv, map[string]any{"typ": "at+jwt", "kid": kid}, validClaims(e))
		}, jwt.ErrTokenSignatureInvalid},
		{"unknown kid, attacker key", func(t *testing.T, e *env) string {
			a := newAttackerKey(t, e.keys.Algorithm())
			return sign(t, a.method, a.priv, map[string]any{"typ": "at+jwt", "kid": "attacker-key-1"}, validClaims(e))
		}, keys.ErrUnknownKey},
		{"kid path traversal", func(t *testing.T, e *env) string {
			a := newAttackerKey(t, e.keys.Algorithm())
			return sign(t, a.method, a.priv, map[string]any{"typ": "at+jwt", "kid": "../../../../../../dev/null"}, validClaims(e))
		}, keys.ErrUnknownKey},
		{"kid SQL text", func(t *testing.T, e *env) string {
			a := newAttackerKey(t, e.keys.Algorithm())
			return sign(t, a.method, a.priv, map[string]any{"typ": "at+jwt", "kid": "x' UNION SELECT 'secret' --"}, validClaims(e))
		}, keys.ErrUnknownKey},
		{"kid not a string", func(t *testing.T, e *env) string {
			a := newAttackerKey(t, e.keys.Algorithm())
			return sign(t, a.method, a.priv, map[string]any{"typ": "at+jwt", "kid": 42}, validClaims(e))
		}, token.ErrHeader},
		{"missing kid", func(t *testing.T, e *env) string {
			return signReal(t, e, map[string]any{"kid": nil}, validClaims(e))
		}, token.ErrHeader},
		{"embedded jwk of attacker key", func(t *testing.T, e *env) string {
			a := newAttackerKey(t, e.keys.Algorithm())
			return sign(t, a.method, a.priv, map[string]any{"typ": "at+jwt", "kid": "attacker", "jwk": a.jwk}, validClaims(e))
		}, token.ErrHeader},
		{"embedded jwk with the real kid", func(t *testing.T, e *env) string {
			a := newAttackerKey(t, e.keys.Algorithm())
			kid, _, _ := e.keys.Signing()
			jwk := a.jwk
			jwk["kid"] = kid
			return sign(t, a.method, a.priv, map[string]any{"typ": "at+jwt", "kid": kid, "jwk": jwk}, validClaims(e))
		}, token.ErrHeader},
		{"jku pointing at attacker JWKS", func(t *testing.T, e *env) string {
			a := newAttackerKey(t, e.keys.Algorithm())
			return sign(t, a.method, a.priv, map[string]any{"typ": "at+jwt", "kid": "attacker", "jku": "https://attacker.example/jwks.json"}, validClaims(e))
		}, token.ErrHeader},
		{"jku on a genuinely signed token", func(t *testing.T, e *env) string {
			return signReal(t, e, map[string]any{"jku": "https://attacker.example/jwks.json"}, validClaims(e))
		}, token.ErrHeader},
		{"x5u", func(t *testing.T, e *env) string {
			a := newAttackerKey(t, e.keys.Algorithm())
			return sign(t, a.method, a.priv, map[string]any{"typ": "at+jwt", "kid": "attacker", "x5u": "https://attacker.example/cert.pem"}, validClaims(e))
		}, token.ErrHeader},
		{"x5c", func(t *testing.T, e *env) string {
			a := newAttackerKey(t, e.keys.Algorithm())
			return sign(t, a.method, a.priv, map[string]any{"typ": "at+jwt", "kid": "attacker", "x5c": []string{"MIIB"}}, validClaims(e))
		}, token.ErrHeader},
		{"crit header", func(t *testing.T, e *env) string {
			return signReal(t, e, map[string]any{"crit": []string{"exp"}}, validClaims(e))
		}, token.ErrHeader},
		{"tampered payload", func(t *testing.T, e *env) string {
			raw, _ := e.issue(t)
			parts := strings.Split(raw, ".")
			c := validClaims(e)
			c.Roles = []string{"admin"}
			p, _ := json.Marshal(c)
			return parts[0] + "." + b64.EncodeToString(p) + "." + parts[2]
		}, jwt.ErrTokenSignatureInvalid},
		{"tampered header", func(t *testing.T, e *env) string {
			raw, _ := e.issue(t)
			parts := strings.Split(raw, ".")
			h, _ := b64.DecodeString(parts[0])
			h = []byte(strings.Replace(string(h), `"at+jwt"`, `"AT+JWT"`, 1))
			return b64.EncodeToString(h) + "." + parts[1] + "." + parts[2]
		}, jwt.ErrTokenSignatureInvalid},
		{"stripped signature", func(t *testing.T, e *env) string {
			raw, _ := e.issue(t)
			return raw[:strings.LastIndex(raw, ".")+1]
		}, nil},
		{"signature segment missing", func(t *testing.T, e *env) string {
			raw, _ := e.issue(t)
			return raw[:strings.LastIndex(raw, ".")]
		}, jwt.ErrTokenMalformed},
		{"truncated signature", func(t *testing.T, e *env) string {
			raw, _ := e.issue(t)
			return raw[:len(raw)-4]
		}, nil},
		{"signature of another token", func(t *testing.T, e *env) string {
			a, _ := e.issue(t)
			c := validClaims(e)
			c.Subject = "u-mallory"
			b := signReal(t, e, nil, c)
			return b[:strings.LastIndex(b, ".")] + a[strings.LastIndex(a, "."):]
		}, jwt.ErrTokenSignatureInvalid},
		{"wrong iss", func(t *testing.T, e *env) string {
			c := validClaims(e)
			c.Issuer = "https://evil.example"
			return signReal(t, e, nil, c)
		}, jwt.ErrTokenInvalidIssuer},
		{"missing iss", func(t *testing.T, e *env) string {
			c := validClaims(e)
			c.Issuer = ""
			return signReal(t, e, nil, c)
		}, jwt.ErrTokenRequiredClaimMissing},
		{"wrong aud", func(t *testing.T, e *env) string {
			c := validClaims(e)
			c.Audience = jwt.ClaimStrings{"billing"}
			return signReal(t, e, nil, c)
		}, jwt.ErrTokenInvalidAudience},
		{"missing aud", func(t *testing.T, e *env) string {
			c := validClaims(e)
			c.Audience = nil
			return signReal(t, e, nil, c)
		}, jwt.ErrTokenRequiredClaimMissing},
		{"typ JWT", func(t *testing.T, e *env) string {
			return signReal(t, e, map[string]any{"typ": "JWT"}, validClaims(e))
		}, token.ErrHeader},
		{"typ missing", func(t *testing.T, e *env) string {
			return signReal(t, e, map[string]any{"typ": nil}, validClaims(e))
		}, token.ErrHeader},
		{"typ of an ID token style media type", func(t *testing.T, e *env) string {
			return signReal(t, e, map[string]any{"typ": "application/jwt"}, validClaims(e))
		}, token.ErrHeader},
		{"oversized token", func(t *testing.T, e *env) string {
			c := validClaims(e)
			c.Username = strings.Repeat("a", token.MaxTokenSize)
			return signReal(t, e, nil, c)
		}, token.ErrTooLarge},
		{"missing exp", func(t *testing.T, e *env) string {
			c := validClaims(e)
			c.ExpiresAt = nil
			return signReal(t, e, nil, c)
		}, jwt.ErrTokenRequiredClaimMissing},
		{"missing jti", func(t *testing.T, e *env) string {
			c := validClaims(e)
			c.ID = ""
			return signReal(t, e, nil, c)
		}, token.ErrClaims},
		{"missing sub", func(t *testing.T, e *env) string {
			c := validClaims(e)
			c.Subject = ""
			return signReal(t, e, nil, c)
		}, token.ErrClaims},
		{"nbf in the future", func(t *testing.T, e *env) string {
			c := validClaims(e)
			c.NotBefore = jwt.NewNumericDate(e.clock.Now().Add(time.Hour))
			return signReal(t, e, nil, c)
		}, jwt.ErrTokenNotValidYet},
		{"iat in the future", func(t *testing.T, e *env) string {
			c := validClaims(e)
			c.IssuedAt = jwt.NewNumericDate(e.clock.Now().Add(time.Hour))
			return signReal(t, e, nil, c)
		}, jwt.ErrTokenUsedBeforeIssued},
		{"exp long past", func(t *testing.T, e *env) string {
			c := validClaims(e)
			c.IssuedAt = jwt.NewNumericDate(e.clock.Now().Add(-2 * time.Hour))
			c.NotBefore = c.IssuedAt
			c.ExpiresAt = jwt.NewNumericDate(e.clock.Now().Add(-time.Hour))
			return signReal(t, e, nil, c)
		}, auth.ErrExpired},
		// Strict parsing (issue 11 finding 5): each of these is signed with
		// the real key, so only the parser's strictness refuses it.
		{"missing iat", func(t *testing.T, e *env) string {
			c := validClaims(e)
			c.IssuedAt = nil
			return signReal(t, e, nil, c)
		}, token.ErrClaims},
		{"exp as a string of digits", func(t *testing.T, e *env) string {
			return signRawJSON(t, e, "", replaceMember(t, payloadJSON(t, e), "exp", `"9999999999"`))
		}, token.ErrNumericDate},
		{"iat as a string", func(t *testing.T, e *env) string {
			return signRawJSON(t, e, "", replaceMember(t, payloadJSON(t, e), "iat", strconv.Quote(strconv.FormatInt(e.clock.Now().Unix(), 10))))
		}, token.ErrNumericDate},
		{"nbf as a string", func(t *testing.T, e *env) string {
			return signRawJSON(t, e, "", replaceMember(t, payloadJSON(t, e), "nbf", `"0"`))
		}, token.ErrNumericDate},
		{"auth_time as a string", func(t *testing.T, e *env) string {
			return signRawJSON(t, e, "", addMember(payloadJSON(t, e), `"auth_time":"0"`))
		}, token.ErrNumericDate},
		{"duplicate exp, last one far future", func(t *testing.T, e *env) string {
			return signRawJSON(t, e, "", addMember(payloadJSON(t, e), `"exp":9999999999`))
		}, token.ErrDuplicateMember},
		{"duplicate sub", func(t *testing.T, e *env) string {
			return signRawJSON(t, e, "", addMember(payloadJSON(t, e), `"sub":"u-admin"`))
		}, token.ErrDuplicateMember},
		{"duplicate roles hidden by an escape", func(t *testing.T, e *env) string {
			return signRawJSON(t, e, "", addMember(payloadJSON(t, e), `"r\u006fles":["admin"]`))
		}, token.ErrDuplicateMember},
		{"duplicate aud in another case", func(t *testing.T, e *env) string {
			return signRawJSON(t, e, "", addMember(payloadJSON(t, e), `"AUD":["gatehouse"]`))
		}, token.ErrDuplicateMember},
		{"claim spelled in another case", func(t *testing.T, e *env) string {
			p := payloadJSON(t, e)
			return signRawJSON(t, e, "", strings.Replace(p, `"exp":`, `"EXP":`, 1))
		}, token.ErrMalformedJSON},
		{"amr spelled in another case", func(t *testing.T, e *env) string {
			// encoding/json would fill AMR from it (an mfa route passes);
			// a case-sensitive verifier in front of the same service ignores it.
			return signRawJSON(t, e, "", addMember(payloadJSON(t, e), `"AMR":["mfa"]`))
		}, token.ErrMalformedJSON},
		{"duplicate member in a nested object", func(t *testing.T, e *env) string {
			return signRawJSON(t, e, "", addMember(payloadJSON(t, e), `"ext":{"a":1,"a":2}`))
		}, token.ErrDuplicateMember},
		{"invalid UTF-8 member names that decode alike", func(t *testing.T, e *env) string {
			return signRawJSON(t, e, "", addMember(payloadJSON(t, e), "\"x\xff\":1,\"x\xfe\":2"))
		}, token.ErrMalformedJSON},
		{"duplicate kid in header", func(t *testing.T, e *env) string {
			kid, alg, _ := e.keys.Signing()
			return signRawJSON(t, e, `{"alg":"`+alg+`","kid":"attacker","typ":"at+jwt","kid":"`+kid+`"}`, payloadJSON(t, e))
		}, token.ErrDuplicateMember},
		{"duplicate typ in header", func(t *testing.T, e *env) string {
			kid, alg, _ := e.keys.Signing()
			return signRawJSON(t, e, `{"alg":"`+alg+`","kid":"`+kid+`","typ":"JWT","typ":"at+jwt"}`, payloadJSON(t, e))
		}, token.ErrDuplicateMember},
		{"duplicate alg in header", func(t *testing.T, e *env) string {
			kid, alg, _ := e.keys.Signing()
			return signRawJSON(t, e, `{"alg":"none","kid":"`+kid+`","typ":"at+jwt","alg":"`+alg+`"}`, payloadJSON(t, e))
		}, token.ErrDuplicateMember},
		{"not a JWT", func(t *testing.T, e *env) string { return "hello" }, jwt.ErrTokenMalformed},
		{"empty", func(t *testing.T, e *env) string { return "" }, jwt.ErrTokenMalformed},
		{"JWE-shaped (5 segments)", func(t *testing.T, e *env) string { return "a.b.c.d.e" }, jwt.ErrTokenMalformed},
	}
	for _, alg := range algorithms {
		e := newEnv(t, alg)
		for _, a := range attacks {
			t.Run(alg+"/"+a.name, func(t *testing.T) {
				raw := a.make(t, e)
				p, err := e.verifier.Verify(t.Context(), raw)
				if !errors.Is(err, auth.ErrUnauthenticated) {
					t.Fatalf("Verify err = %v (principal %+v), want ErrUnauthenticated", err, p)
				}
				if a.want != nil && !errors.Is(err, a.want) {
					t.Errorf("Verify err = %v, want it to wrap %v", err, a.want)
				}
				if strings.Contains(err.Error(), raw) && raw != "" {
					t.Errorf("error message contains the token")
				}
			})
		}
	}
}

// Algorithm confusion: with an asymmetric deployment, an attacker who signs
// HS256 with the public key (which is public, in every encoding) must fail.
func TestVerifyRejectsHS256SignedWithPublicKey(t *testing.T) {
	for _, alg := range []string{keys.RS256, keys.ES256, keys.EdDSA} {
		e := newEnv(t, alg)
		kid, _, _ := e.keys.Signing()
		pub, err := e.keys.VerificationKey(kid)
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		encodings := map[string][]byte{
			"PEM":  pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}),
			"DER":  der,
			"JWKS": e.keys.JWKS(),
		}
		for name, secret := range encodings {
			t.Run(alg+"/"+name, func(t *testing.T) {
				raw := sign(t, jwt.SigningMethodHS256, secret, map[string]any{"typ": "at+jwt", "kid": kid}, validClaims(e))
				_, err := e.verifier.Verify(t.Context(), raw)
				if !errors.Is(err, auth.ErrUnauthenticated) || !errors.Is(err, jwt.ErrTokenSignatureInvalid) {
					t.Fatalf("Verify err = %v, want ErrUnauthenticated and signature invalid", err)
				}
			})
		}
	}
}

// A token signed from hand-written JSON that is strict in every way is
// accepted, so the strict checks refuse only what they should.
func TestVerifyAcceptsStrictHandWrittenJSON(t *testing.T) {
	for _, alg := range algorithms {
		t.Run(alg, func(t *testing.T) {
			e := newEnv(t, alg)
			payload := addMember(payloadJSON(t, e), `"auth_time":`+strconv.FormatInt(e.clock.Now().Unix(), 10)+`, "ext" : {"a":[{"a":1},{"a":2}],"b":"\"a\""}`)
			if _, err := e.verifier.Verify(t.Context(), signRawJSON(t, e, "", payload)); err != nil {
				t.Fatalf("Verify = %v", err)
			}
		})
	}
}

// Accepted spellings of typ (RFC 8725: compare case-insensitively; the full
// media type is allowed too).
func TestVerifyAcceptsTypSpellings(t *testing.T) {
	e := newEnv(t, keys.ES256)
	for _, typ := range []string{"at+jwt", "AT+JWT", "application/at+jwt", "Application/AT+JWT"} {
		t.Run(typ, func(t *testing.T) {
			raw := signReal(t, e, map[string]any{"typ": typ}, validClaims(e))
			if _, err := e.verifier.Verify(t.Context(), raw); err != nil {
				t.Fatalf("Verify(typ %q) = %v", typ, err)
			}
		})
	}
}
