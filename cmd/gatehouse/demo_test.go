package main

import (
	"bufio"
	"context"
	"io"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDemoCurlLinesWork starts `gatehouse demo` and runs the curl lines it
// prints through sh, exactly as a user would paste them.
func TestDemoCurlLinesWork(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatalf("curl is needed to run the demo's printed commands: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"demo", "--listen", "127.0.0.1:0"}, func(string) string { return "" }, strings.NewReader(""), pw, io.Discard)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("demo: %v", err)
		}
	})

	var banner strings.Builder
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	timeout := time.After(60 * time.Second)
	for done := false; !done; {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("demo exited early:\n%s", banner.String())
			}
			banner.WriteString(l + "\n")
			done = strings.Contains(l, "Stop with Ctrl-C")
		case <-timeout:
			t.Fatalf("no banner within 60s:\n%s", banner.String())
		}
	}
	go func() {
		for range lines {
		}
	}()
	text := banner.String()
	if !regexp.MustCompile(`password: \S{20,}`).MatchString(text) {
		t.Fatalf("banner has no password:\n%s", text)
	}
	var script []string
	for _, l := range strings.Split(text, "\n") {
		if regexp.MustCompile(`^(curl |TOKENS=|ACCESS=|REFRESH=)`).MatchString(l) {
			script = append(script, l)
		}
	}
	if len(script) < 10 {
		t.Fatalf("only %d command lines in the banner:\n%s", len(script), text)
	}
	// Separate each command's output so the assertions can find it.
	var sh strings.Builder
	sh.WriteString("set -e\n")
	for i, l := range script {
		sh.WriteString("echo '### " + string(rune('a'+i)) + "'\n" + l + "\necho\n")
	}
	out, err := exec.Command("sh", "-c", sh.String()).CombinedOutput()
	if err != nil {
		t.Fatalf("the printed commands failed: %v\n%s", err, out)
	}
	got := string(out)
	for _, want := range []string{
		`"X-Auth-User":"demo"`,      // /app/ saw the session identity
		`"X-Auth-Method":"session"`, //
		`"X-Auth-Method":"token"`,   // /api/ saw the token identity
		`"token_type":"Bearer"`,     // password grant and refresh
		"HTTP/1.1 204 No Content",   // logout
		"HTTP/1.1 401 Unauthorized", // the cookie after logout
		`"cookie_header":""`,        // the gatehouse cookie never reached the upstream
		`"authorization_header":false`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", got)
	}
}
