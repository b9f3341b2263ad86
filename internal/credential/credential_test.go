package credential_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/credential"
)

const name = "gatehouse"

func header(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h[kv[i]] = append(h[kv[i]], kv[i+1]) // as sent: no canonicalisation merges or splits values
	}
	return h
}

func TestFromHeader(t *testing.T) {
	tests := []struct {
		name    string
		h       http.Header
		accept  credential.Accept
		kind    credential.Kind
		value   string
		wantErr error
	}{
		{"nothing", header(), credential.Any, credential.None, "", nil},
		{"bearer", header("Authorization", "Bearer abc.def-ghi"), credential.Any, credential.Token, "abc.def-ghi", nil},
		{"scheme upper case (RFC 7235)", header("Authorization", "BEARER abc"), credential.Bearer, credential.Token, "abc", nil},
		{"scheme lower case", header("Authorization", "bearer abc"), credential.Bearer, credential.Token, "abc", nil},
		{"extra spaces", header("Authorization", "Bearer   abc  "), credential.Bearer, credential.Token, "abc", nil},
		{"b64token padding", header("Authorization", "Bearer abc+/~_=="), credential.Bearer, credential.Token, "abc+/~_==", nil},
		{"two Authorization headers", header("Authorization", "Bearer a", "Authorization", "Bearer a"), credential.Any, credential.Token, "", credential.ErrDuplicate},
		{"basic scheme", header("Authorization", "Basic YWxpY2U6cHc="), credential.Any, credential.Token, "", credential.ErrScheme},
		{"empty Authorization", header("Authorization", ""), credential.Any, credential.Token, "", credential.ErrScheme},
		{"scheme only", header("Authorization", "Bearer"), credential.Any, credential.Token, "", credential.ErrMalformed},
		{"scheme prefix lookalike", header("Authorization", "Bearerabc"), credential.Any, credential.Token, "", credential.ErrScheme},
		{"two tokens", header("Authorization", "Bearer a b"), credential.Any, credential.Token, "", credential.ErrMalformed},
		{"token with comma", header("Authorization", "Bearer a,b"), credential.Any, credential.Token, "", credential.ErrMalformed},
		{"padding in the middle", header("Authorization", "Bearer a=b"), credential.Any, credential.Token, "", credential.ErrMalformed},
		{"tab separator", header("Authorization", "Bearer\tabc"), credential.Any, credential.Token, "", credential.ErrScheme},
		{"cookie", header("Cookie", "gatehouse=v1"), credential.Any, credential.Session, "v1", nil},
		{"cookie among others", header("Cookie", "a=1; gatehouse=v1; b=2"), credential.Cookie, credential.Session, "v1", nil},
		{"quoted cookie", header("Cookie", `gatehouse="v1"`), credential.Cookie, credential.Session, "v1", nil},
		{"other cookies only", header("Cookie", "gatehouse2=v; xgatehouse=v"), credential.Cookie, credential.None, "", nil},
		{"two cookies in one header", header("Cookie", "gatehouse=evil; gatehouse=v1"), credential.Any, credential.Session, "", credential.ErrDuplicate},
		{"two cookies in two headers", header("Cookie", "gatehouse=v1", "Cookie", "gatehouse=evil"), credential.Any, credential.Session, "", credential.ErrDuplicate},
		{"same value twice", header("Cookie", "gatehouse=v1;gatehouse=v1"), credential.Any, credential.Session, "", credential.ErrDuplicate},
		{"empty duplicate", header("Cookie", "gatehouse=; gatehouse=v1"), credential.Any, credential.Session, "", credential.ErrDuplicate},
		{"any: Authorization wins over cookie", header("Authorization", "Bearer t", "Cookie", "gatehouse=v1"), credential.Any, credential.Token, "t", nil},
		{"any: bad Authorization still wins", header("Authorization", "Basic x", "Cookie", "gatehouse=v1"), credential.Any, credential.Token, "", credential.ErrScheme},
		{"bearer only: cookie ignored", header("Cookie", "gatehouse=v1"), credential.Bearer, credential.None, "", nil},
		{"cookie only: Authorization ignored", header("Authorization", "Bearer t", "Cookie", "gatehouse=v1"), credential.Cookie, credential.Session, "v1", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := credential.FromHeader(tt.h, name, tt.accept)
			if got, want := c.Kind, tt.kind; got != want {
				t.Errorf("Kind = %d, want %d", got, want)
			}
			if got, want := c.Value, tt.value; got != want {
				t.Errorf("Value = %q, want %q", got, want)
			}
			if !errors.Is(c.Err, tt.wantErr) || (tt.wantErr == nil && c.Err != nil) {
				t.Errorf("Err = %v, want %v", c.Err, tt.wantErr)
			}
		})
	}
}

func TestSessionCookieCountsEveryOccurrence(t *testing.T) {
	h := header("Cookie", "gatehouse=a; x=1", "Cookie", " gatehouse =b;gatehouse=c")
	if _, n := credential.SessionCookie(h, name); n != 3 {
		t.Errorf("count = %d, want 3", n)
	}
}

func TestFromRequestReadsTheRequestHeaders(t *testing.T) {
	r, err := http.NewRequest(http.MethodGet, "http://x/", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Add("Cookie", "gatehouse=v1")
	if got := credential.FromRequest(r, name, credential.Any); got.Kind != credential.Session || got.Value != "v1" {
		t.Errorf("FromRequest = %+v, want the session cookie v1", got)
	}
}

// TestBearerTokenBytes sends every byte value inside a bearer token: the
// RFC 6750 b64token characters are accepted, every other byte (controls,
// space, '=' before the end, quotes, commas, non-ASCII) is ErrMalformed.
func TestBearerTokenBytes(t *testing.T) {
	allowed := func(c byte) bool {
		return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/'
	}
	// Each byte at every position of the checker's four-byte steps and of
	// its one-byte tail (a 10-byte token has two steps and a tail of two).
	const base = "abcdefghij"
	for c := range 256 {
		for pos := range len(base) {
			tok := base[:pos] + string([]byte{byte(c)}) + base[pos+1:]
			got := credential.FromHeader(header("Authorization", "Bearer "+tok), name, credential.Bearer)
			if allowed(byte(c)) {
				if got.Kind != credential.Token || got.Value != tok || got.Err != nil {
					t.Errorf("byte %#02x at %d: got %+v, want the token", c, pos, got)
				}
				continue
			}
			last := pos == len(base)-1
			if c == '=' && last || c == ' ' && pos == 0 || (c == ' ' || c == '\t') && last {
				continue // trailing padding, and white space around the token, are allowed
			}
			if !errors.Is(got.Err, credential.ErrMalformed) {
				t.Errorf("byte %#02x at %d: got %+v, want ErrMalformed", c, pos, got)
			}
		}
	}
}
