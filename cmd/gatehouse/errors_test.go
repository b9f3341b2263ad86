package main

import (
	"strings"
	"testing"
)

// A command against a PostgreSQL store that is down fails with exit 1 and
// one line on stderr that says so, without the store's password: not pgx's
// list of every address it tried, each on a line of its own and the same
// line twice.
func TestStoreDownIsOneLine(t *testing.T) {
	const secret = "s3cr3t-pw"
	c := newCLI(t, "")
	c.env["GATEHOUSE_STORE"] = "postgres://gh:" + secret + "@127.0.0.1:1/test?connect_timeout=5"
	for _, args := range [][]string{{"migrate"}, {"user", "list"}, {"keys", "rotate"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, out, errOut := c.run("", args...)
			if code != 1 {
				t.Errorf("exit %d, want 1; stderr %q", code, errOut)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			if lines := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], "gatehouse: ") {
				t.Errorf("stderr is %d lines, want one sentence:\n%s", len(lines), errOut)
			}
			if !strings.Contains(errOut, "127.0.0.1:1") || !strings.Contains(errOut, "connection refused") {
				t.Errorf("stderr %q does not say which store failed and why", errOut)
			}
			if strings.Contains(errOut, secret) || strings.Contains(errOut, "goroutine") {
				t.Errorf("stderr holds the password or a stack trace: %q", errOut)
			}
		})
	}
}

// sentences keeps one problem a line and folds indented continuation
// lines into the problem they belong to.
func TestSentences(t *testing.T) {
	tests := []struct {
		name, msg string
		want      []string
	}{
		{"one", "store: down", []string{"store: down"}},
		{"joined", "a.yaml:1: x: unknown key\na.yaml:2: y: unknown key", []string{"a.yaml:1: x: unknown key", "a.yaml:2: y: unknown key"}},
		{"continuations", "connect to `user=u`:\n\th:1: refused\n\th:1: refused", []string{"connect to `user=u`: h:1: refused"}},
		{"different continuations", "connect:\n\th:1: tls refused\n\th:1: refused", []string{"connect: h:1: tls refused; h:1: refused"}},
		{"empty", "", []string{""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := sentences(tt.msg)
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("sentences(%q) = %q, want %q", tt.msg, got, tt.want)
			}
		})
	}
}
