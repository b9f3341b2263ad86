package token

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// FuzzStrictJSON runs the strict scanner on arbitrary JSON texts. It must
// never panic, and on every text encoding/json accepts as an object it must
// agree with an independent duplicate finder built on json.Decoder.Token.
func FuzzStrictJSON(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, `{"a":1,"a":2}`, `{"a":{"b":1,"b":2}}`, `{"a":[{"b":1},{"b":1}]}`,
		`{"\u0061":1,"a":2}`, `{"a\"":1,"a\\":2}`, ` { "a" : "}" , "b":[ ] } `, `{"exp":"1"}`, `{"exp":1,"EXP":2}`,
		`[]`, `{"a":`, `{"a":1}x`, strings.Repeat(`{"a":`, 20) + "1" + strings.Repeat("}", 20)} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, text string, claims bool) {
		s := jsonScan{b: []byte(text)}
		err := s.document(claims)
		var obj map[string]any
		if json.Unmarshal([]byte(text), &obj) != nil || obj == nil {
			return // not an object: only "no panic" is required
		}
		if dup := hasDuplicate(t, text); dup && err == nil {
			t.Fatalf("document(%q) accepted a duplicate member", text)
		} else if !dup && errors.Is(err, ErrDuplicateMember) && !claims {
			t.Fatalf("document(%q) = %v, but there is no duplicate", text, err)
		}
	})
}

// hasDuplicate walks text with json.Decoder and reports whether any object
// names a member twice (exact comparison of decoded names).
func hasDuplicate(t *testing.T, text string) bool {
	dec := json.NewDecoder(strings.NewReader(text))
	type frame struct {
		obj   bool
		names map[string]bool
		key   bool // the next string token is a member name
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return false
		}
		if err != nil {
			t.Fatalf("Token: %v", err)
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if s, ok := tok.(string); ok && top != nil && top.obj && top.key {
			if top.names[s] {
				return true
			}
			top.names[s] = true
			top.key = false
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{obj: true, names: map[string]bool{}, key: true})
			continue
		case json.Delim('['):
			stack = append(stack, &frame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		if len(stack) > 0 && stack[len(stack)-1].obj {
			stack[len(stack)-1].key = true
		}
	}
}

// BenchmarkCheckStrict is what strict parsing adds to one uncached verify
// of a typical access token; the cached path never runs it.
func BenchmarkCheckStrict(b *testing.B) {
	enc := base64.RawURLEncoding
	head := enc.EncodeToString([]byte(`{"alg":"ES256","kid":"Yk2tq3VwX8mN1pL0aB9cDe","typ":"at+jwt"}`))
	payload := enc.EncodeToString([]byte(`{"iss":"https://auth.example.test","sub":"0190f3a2-7c4e-7b1a-9d2e-3f4a5b6c7d8e",` +
		`"aud":["gatehouse"],"exp":1767225600,"nbf":1767225000,"iat":1767225000,"jti":"Yk2tq3VwX8mN1pL0aB9cDe",` +
		`"client_id":"spa","username":"alice","roles":["user"],"sid":"Yk2tq3VwX8mN1pL0aB9cDe"}`))
	raw := head + "." + payload + "." + strings.Repeat("A", 86)
	b.ReportAllocs()
	for b.Loop() {
		if err := checkStrict(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// TestClaimNamesCoverClaims keeps claimNames in step with Claims: a claim
// that Claims decodes but claimNames lacks could be sent in another case,
// which encoding/json reads and a case-sensitive verifier ignores.
func TestClaimNamesCoverClaims(t *testing.T) {
	for _, typ := range []reflect.Type{reflect.TypeFor[Claims](), reflect.TypeFor[jwt.RegisteredClaims]()} {
		for f := range typ.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			if !slices.Contains(claimNames, name) {
				t.Errorf("claim %q of %s is not in claimNames", name, typ)
			}
		}
	}
}
