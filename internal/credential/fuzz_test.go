package credential_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/credential"
)

// FuzzFromHeader checks the extractor against net/http's own parsers and
// against RFC 6750: it never panics; a token it returns came from the one
// Authorization header, behind a case-insensitive "Bearer " and without
// separators; a session value it returns is the only cookie of that name
// that net/http sees, and when net/http sees two it never returns one.
func FuzzFromHeader(f *testing.F) {
	f.Add("Bearer abc", "", uint8(1), "gatehouse=v", "")
	f.Add("BEARER abc", "Bearer def", uint8(2), "", "")
	f.Add("Basic x", "", uint8(1), "gatehouse=a; gatehouse=b", "")
	f.Add("", "", uint8(0), "gatehouse=a", "gatehouse=b")
	f.Add("", "", uint8(0), ` gatehouse = "v" ;x=1`, "")
	f.Fuzz(func(t *testing.T, auth1, auth2 string, nAuth uint8, cookie1, cookie2 string) {
		h := http.Header{}
		for _, a := range []string{auth1, auth2}[:min(int(nAuth%3), 2)] {
			h["Authorization"] = append(h["Authorization"], a)
		}
		for _, c := range []string{cookie1, cookie2} {
			if c != "" {
				h["Cookie"] = append(h["Cookie"], c)
			}
		}
		c := credential.FromHeader(h, "gatehouse", credential.Any)
		if c.Err != nil && c.Value != "" {
			t.Fatalf("value %q returned with error %v", c.Value, c.Err)
		}
		switch c.Kind {
		case credential.Token:
			if c.Err != nil {
				return
			}
			values := h["Authorization"]
			if len(values) != 1 {
				t.Fatalf("token %q accepted from %d Authorization headers", c.Value, len(values))
			}
			v := strings.Trim(values[0], " \t")
			if len(v) < 7 || !strings.EqualFold(v[:7], "bearer ") || !strings.HasSuffix(v, c.Value) {
				t.Fatalf("token %q is not the Bearer credential of %q", c.Value, values[0])
			}
			if c.Value == "" || strings.ContainsAny(c.Value, " \t,;\"") {
				t.Fatalf("token %q is not one b64token", c.Value)
			}
		case credential.Session:
			r := &http.Request{Header: h}
			var seen []string
			for _, ck := range r.Cookies() {
				if ck.Name == "gatehouse" {
					seen = append(seen, ck.Value)
				}
			}
			if c.Err == nil && (len(seen) > 1 || len(seen) == 1 && seen[0] != c.Value) {
				t.Fatalf("session %q returned, net/http sees %q", c.Value, seen)
			}
			if c.Err != nil && !errors.Is(c.Err, credential.ErrDuplicate) {
				t.Fatalf("cookie error %v, want ErrDuplicate", c.Err)
			}
		case credential.None:
			if _, sent := h["Authorization"]; sent {
				t.Fatal("an Authorization header was sent but no token reported")
			}
			r := &http.Request{Header: h}
			if _, err := r.Cookie("gatehouse"); err == nil {
				t.Fatal("net/http sees a session cookie the extractor missed")
			}
		}
	})
}
