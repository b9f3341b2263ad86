package token_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/keys"
	"github.com/gatehouse-auth/gatehouse/internal/token"
	"github.com/golang-jwt/jwt/v5"
)

// FuzzVerify feeds arbitrary strings to a real Verifier for each
// algorithm. Invariants: Verify never panics; every refusal wraps
// auth.ErrUnauthenticated; and an accepted token's signature verifies, with
// the deployment's own key, over exactly the header.payload text it came
// with — checked here directly with the signing method, independently of
// the parser, so that no spelling can make gatehouse read one thing and
// check the signature of another. The fuzzing workers are separate
// processes that generate their own asymmetric keys, so seeds signed for
// RS256/ES256/EdDSA only reach the checks before the signature there; the
// HS256 deployment's secret is fixed, so its seeds reach every check.
func FuzzVerify(f *testing.F) {
	var envs []*env
	for _, alg := range algorithms {
		e := newEnv(f, alg)
		for _, raw := range fuzzSeeds(f, e) {
			f.Add(raw)
		}
		envs = append(envs, e)
	}
	for _, s := range []string{"", ".", "..", "a.b.c", "eyJ9.eyJ9.", strings.Repeat("A", token.MaxTokenSize+1)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		for _, e := range envs {
			p, err := e.verifier.Verify(context.Background(), raw)
			if err != nil {
				if !errors.Is(err, auth.ErrUnauthenticated) {
					t.Fatalf("%s: Verify err = %v, want it to wrap ErrUnauthenticated", e.keys.Algorithm(), err)
				}
				continue
			}
			if !signedByDeployment(e, raw) {
				t.Fatalf("%s: accepted a token the deployment's key did not sign: %q (principal %+v)", e.keys.Algorithm(), raw, p)
			}
		}
	})
}

// signedByDeployment checks raw's signature with the key its kid names,
// using the signing method directly.
func signedByDeployment(e *env, raw string) bool {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return false
	}
	sig, err := b64.Strict().DecodeString(parts[2])
	if err != nil {
		return false
	}
	kid, alg, _ := e.keys.Signing()
	key, err := e.keys.VerificationKey(kid)
	if err != nil {
		return false
	}
	return jwt.GetSigningMethod(alg).Verify(parts[0]+"."+parts[1], sig, key) == nil
}

// fuzzSeeds are tokens signed with e's real key: a valid one and ones that
// only strict parsing refuses, so that the fuzzer starts next to both sides
// of every check.
func fuzzSeeds(f *testing.F, e *env) []string {
	kid, alg, key := e.keys.Signing()
	signJSON := func(header, payload string) string {
		signing := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(payload))
		sig, err := jwt.GetSigningMethod(alg).Sign(signing, key)
		if err != nil {
			f.Fatal(err)
		}
		return signing + "." + b64.EncodeToString(sig)
	}
	valid, _ := e.issue(f)
	head := `{"alg":"` + alg + `","kid":"` + kid + `","typ":"at+jwt"}`
	seg := strings.Split(valid, ".")
	payload, err := b64.DecodeString(seg[1])
	if err != nil {
		f.Fatal(err)
	}
	p := string(payload)
	seeds := []string{
		valid,
		signJSON(head, p),
		signJSON(head, strings.TrimSuffix(p, "}")+`,"exp":9999999999}`),
		signJSON(head, strings.Replace(p, `"exp":`, `"exp":"`, 1)),
		signJSON(`{"alg":"`+alg+`","kid":"x","kid":"`+kid+`","typ":"at+jwt"}`, p),
		signJSON(head, strings.TrimSuffix(p, "}")+`,"ext":{"a":[1,{"b":"\u0041"}]}}`),
	}
	if alg != keys.HS256 {
		seeds = append(seeds, signJSON(`{"alg":"HS256","kid":"`+kid+`","typ":"at+jwt"}`, p))
	}
	return seeds
}
