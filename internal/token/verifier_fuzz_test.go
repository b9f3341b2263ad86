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
// auth.ErrUnauthenticated; and a token is only ever accepted when its
// signed part (header.payload) is one the deployment's key signed — a
// mutation that is still accepted must not have changed what was signed.
func FuzzVerify(f *testing.F) {
	type deployment struct {
		e      *env
		signed map[string]bool // header.payload texts signed with the real key
	}
	var deps []deployment
	for _, alg := range algorithms {
		e := newEnv(f, alg)
		d := deployment{e: e, signed: map[string]bool{}}
		for _, raw := range fuzzSeeds(f, e) {
			d.signed[raw[:strings.LastIndex(raw, ".")]] = true
			f.Add(raw)
		}
		deps = append(deps, d)
	}
	for _, s := range []string{"", ".", "..", "a.b.c", "eyJ9.eyJ9.", strings.Repeat("A", token.MaxTokenSize+1)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		for _, d := range deps {
			p, err := d.e.verifier.Verify(context.Background(), raw)
			if err != nil {
				if !errors.Is(err, auth.ErrUnauthenticated) {
					t.Fatalf("%s: Verify err = %v, want it to wrap ErrUnauthenticated", d.e.keys.Algorithm(), err)
				}
				continue
			}
			i := strings.LastIndex(raw, ".")
			if i < 0 || !d.signed[raw[:i]] {
				t.Fatalf("%s: accepted a token whose signed part the key never signed: %q (principal %+v)", d.e.keys.Algorithm(), raw, p)
			}
		}
	})
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
