package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// --password-stdin takes the first line of standard input, without its
// line end; an empty line, a line that never ends and a password that is
// not UTF-8 (which the JSON login could never send) are refused with exit
// 2 and no user is created.
func TestPasswordStdinEdgeCases(t *testing.T) {
	c := newCLI(t, "")
	tests := []struct {
		name, stdin string
		code        int
		stderr      string // part of the message; "" when the user is created
	}{
		{"CRLF line end", "correct horse battery staple\r\n", 0, ""},
		{"no line end", "correct horse battery staple", 0, ""},
		{"second line ignored", "correct horse battery staple\nsecond\n", 0, ""},
		{"empty", "", 2, "empty"},
		{"only a line end", "\r\n", 2, "empty"},
		{"not UTF-8", "correct\xff\xfehorse battery staple\n", 2, "UTF-8"},
		{"over 1024 characters", strings.Repeat("correct horse ", 100) + "\n", 2, "1024"},
		{"a line without end", strings.Repeat("a", 10<<20), 2, "longer than"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := "user" + string(rune('a'+i))
			in := &countingReader{r: strings.NewReader(tt.stdin)}
			var out, errb bytes.Buffer
			err := run(context.Background(), []string{"user", "add", name, "--password-stdin", "-c", c.cfg},
				func(string) string { return "" }, in, &out, &errb)
			code := exitCode(err, &errb)
			if code != tt.code || !strings.Contains(errb.String(), tt.stderr) {
				t.Errorf("exit %d (want %d), stderr %q (want %q)", code, tt.code, errb.String(), tt.stderr)
			}
			if in.n > 1<<20 {
				t.Errorf("read %d bytes of standard input for one password line", in.n)
			}
			created := strings.Contains(c.ok("", "user", "list"), name+" ")
			if created != (tt.code == 0) {
				t.Errorf("user created = %v, want %v", created, tt.code == 0)
			}
		})
	}
}

type countingReader struct {
	r interface{ Read([]byte) (int, error) }
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// token issue --ttl takes a duration of at least one second: exp and iat
// are whole seconds, so a shorter one was a token that expired as it was
// issued. It takes at most tokens.refresh_ttl, the longest a login lasts
// (720h by default): a longer one, which no revocation of the user reaches,
// is refused naming the key.
func TestTokenIssueTTLBounds(t *testing.T) {
	c := newCLI(t, "")
	c.ok(pw, "user", "add", "alice", "--password-stdin")
	for _, ttl := range []string{"721h", "31d", "87600h"} {
		code, out, errOut := c.run("", "token", "issue", "--user", "alice", "--ttl", ttl)
		if code != 2 || out != "" || !strings.Contains(errOut, "--ttl: "+ttl+" is longer than tokens.refresh_ttl (720h0m0s)") {
			t.Errorf("--ttl %s: exit %d (want 2), stdout %q (want no token), stderr %q", ttl, code, out, errOut)
		}
	}
	short := newCLI(t, "tokens: {refresh_ttl: 2h}\n")
	short.ok(pw, "user", "add", "alice", "--password-stdin")
	if code, _, errOut := short.run("", "token", "issue", "--user", "alice", "--ttl", "3h"); code != 2 || !strings.Contains(errOut, "tokens.refresh_ttl (2h0m0s)") {
		t.Errorf("--ttl 3h with refresh_ttl 2h: exit %d, stderr %q; want 2 naming tokens.refresh_ttl", code, errOut)
	}
	short.ok("", "token", "issue", "--user", "alice", "--ttl", "2h")
	for _, ttl := range []string{"0", "-1m", "1ns", "999ms", "soon", "1e3s"} {
		if code, out, errOut := c.run("", "token", "issue", "--user", "alice", "--ttl", ttl); code != 2 || out != "" || !strings.Contains(errOut, "--ttl") {
			t.Errorf("--ttl %s: exit %d (want 2), stdout %q (want no token), stderr %q", ttl, code, out, errOut)
		}
	}
	for _, ttl := range []string{"1s", "90m", "30d"} {
		if out := c.ok("", "token", "issue", "--user", "alice", "--ttl", ttl); strings.Count(out, ".") != 2 {
			t.Errorf("--ttl %s printed %q, want a JWT", ttl, out)
		}
	}
}

// token verify - (and token verify with no argument when standard input is
// not a terminal) reads the token from standard input, so that it stays out
// of shell history and ps: surrounding white space and the line end are
// trimmed; an empty input, or one far longer than any token, is refused
// with exit 2 after reading a bounded amount. The positional form still
// works (contract §1).
func TestTokenVerifyReadsStdin(t *testing.T) {
	c := newCLI(t, "")
	c.ok(pw, "user", "add", "alice", "--password-stdin")
	tok := strings.TrimSpace(c.ok("", "token", "issue", "--user", "alice"))
	tests := []struct {
		name, stdin string
		args        []string
		code        int
		out, stderr string // parts of stdout and stderr
	}{
		{"dash, line end", tok + "\n", []string{"-"}, 0, `"valid": true`, ""},
		{"dash, CRLF and spaces", "  " + tok + " \r\n", []string{"-"}, 0, `"valid": true`, ""},
		{"no argument, piped", tok + "\n", nil, 0, `"valid": true`, ""},
		{"positional", "", []string{tok}, 0, `"valid": true`, ""},
		{"dash, empty", "", []string{"-"}, 2, "", "standard input is empty"},
		{"dash, only white space", " \n\t\n", []string{"-"}, 2, "", "standard input is empty"},
		{"no argument, empty", "", nil, 2, "", "standard input is empty"},
		{"dash, endless input", strings.Repeat("a", 10<<20), []string{"-"}, 2, "", "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &countingReader{r: strings.NewReader(tt.stdin)}
			var out, errb bytes.Buffer
			err := run(context.Background(), append([]string{"token", "verify"}, append(tt.args, "-c", c.cfg)...),
				func(string) string { return "" }, in, &out, &errb)
			code := exitCode(err, &errb)
			if code != tt.code || !strings.Contains(out.String(), tt.out) || !strings.Contains(errb.String(), tt.stderr) {
				t.Errorf("exit %d (want %d), stdout %q (want %q), stderr %q (want %q)", code, tt.code, out.String(), tt.out, errb.String(), tt.stderr)
			}
			if in.n > 1<<20 {
				t.Errorf("read %d bytes of standard input for one token", in.n)
			}
		})
	}
}

// explain --token - and --cookie - read the credential from standard
// input, as token verify - does: the decision is the one the value on the
// command line gets.
func TestExplainCredentialFromStdin(t *testing.T) {
	c := newCLI(t, `routes:
  - name: ops
    match: { path_prefix: /ops/ }
    upstream: http://127.0.0.1:9
    auth: any
    roles: [ops]
`)
	c.ok(pw, "user", "add", "alice", "--role", "user", "--password-stdin")
	tok := strings.TrimSpace(c.ok("", "token", "issue", "--user", "alice"))
	for _, tt := range []struct {
		name, stdin string
		args        []string
		code        int
		want        string // part of stdout or stderr
	}{
		{"token from stdin", tok + "\n", []string{"--token", "-"}, 0, `"reason": "wrong_role"`},
		{"empty stdin for --token", "\n", []string{"--token", "-"}, 2, "--token: standard input is empty"},
		{"empty stdin for --cookie", " \r\n", []string{"--cookie", "-"}, 2, "--cookie: standard input is empty"},
		{"both from stdin", tok + "\n", []string{"--token", "-", "--cookie", "-"}, 2, "exclude each other"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := c.run(tt.stdin, append([]string{"explain", "--url", "/ops/x"}, tt.args...)...)
			if code != tt.code || !strings.Contains(out+errOut, tt.want) {
				t.Errorf("exit %d (want %d), stdout %q, stderr %q; want %q", code, tt.code, out, errOut, tt.want)
			}
		})
	}
}
