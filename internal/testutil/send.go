package testutil

import (
	"net/http"
	"strings"
	"testing"
)

// Send makes a request with client c and returns its answer and body.
// header holds name/value pairs added as given, so a name may repeat (two
// Authorization or Cookie lines on the wire).
func Send(t testing.TB, c *http.Client, method, url, body string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp, ReadBody(t, resp)
}
