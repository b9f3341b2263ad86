package browserurl_test

import (
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/testutil/browserurl"
)

// TestResolveLikeABrowser pins the model to what browsers do with the
// spellings redirect checks are known to get wrong (results as Chrome and
// Firefox parse them, per the URL standard).
func TestResolveLikeABrowser(t *testing.T) {
	base := browserurl.Target{Scheme: "https", Host: "gatehouse.example"}
	for _, tc := range []struct {
		ref  string
		want browserurl.Target
		ok   bool
	}{
		{"/app", base, true},
		{"app", base, true},
		{"?x=1", base, true},
		{"//evil.example/x", browserurl.Target{Scheme: "https", Host: "evil.example"}, true},
		{`/\evil.example`, browserurl.Target{Scheme: "https", Host: "evil.example"}, true},
		{`\\evil.example`, browserurl.Target{Scheme: "https", Host: "evil.example"}, true},
		{"/\t/evil.example", browserurl.Target{Scheme: "https", Host: "evil.example"}, true},
		{" \x01//evil.example", browserurl.Target{Scheme: "https", Host: "evil.example"}, true},
		{"/%2f/evil.example", base, true},
		{"https:evil.example", base, true},
		{"http:evil.example", browserurl.Target{Scheme: "http", Host: "evil.example"}, true},
		{"https:/\\evil.example", browserurl.Target{Scheme: "https", Host: "evil.example"}, true},
		{"HTTPS://EVIL.example:443/", browserurl.Target{Scheme: "https", Host: "evil.example"}, true},
		{"https://app.example@evil.example/", browserurl.Target{Scheme: "https", Host: "evil.example"}, true},
		{"https://evil.example\\@app.example/", browserurl.Target{Scheme: "https", Host: "evil.example"}, true},
		{"https://evil.example#@app.example/", browserurl.Target{Scheme: "https", Host: "evil.example"}, true},
		{"https://evil%2eexample/", browserurl.Target{Scheme: "https", Host: "evil.example"}, true},
		{"https://ｅｖｉｌ.example/", browserurl.Target{Scheme: "https", Host: "evil.example"}, true},
		{"https://evil。example/", browserurl.Target{Scheme: "https", Host: "evil.example"}, true},
		{"https://evil.example:8443/", browserurl.Target{Scheme: "https", Host: "evil.example", Port: "8443"}, true},
		{"https://[::1]:8443/", browserurl.Target{Scheme: "https", Host: "::1", Port: "8443"}, true},
		{"javascript:alert(1)", browserurl.Target{Scheme: "javascript"}, true},
		{"https://evil.example:x/", browserurl.Target{}, false},
		{"https:///", browserurl.Target{}, false},
		{"https:///evil.example", browserurl.Target{Scheme: "https", Host: "evil.example"}, true},
		{"///evil.example", browserurl.Target{Scheme: "https", Host: "evil.example"}, true},
	} {
		got, ok := browserurl.Resolve(base, tc.ref)
		if ok != tc.ok || got != tc.want {
			t.Errorf("Resolve(%q) = %+v, %v; want %+v, %v", tc.ref, got, ok, tc.want, tc.ok)
		}
	}
}
