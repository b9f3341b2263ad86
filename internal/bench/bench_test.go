package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/bench"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

const testRedis = "redis://127.0.0.1:6379/0"

// binary is gatehouse, built once: Run starts every server with it.
var binary string

func TestMain(m *testing.M) {
	if os.Getenv("BENCH_TEST_HELPER") == "1" { // TestHelperBenchProcess needs no gatehouse
		os.Exit(m.Run())
	}
	testutil.MainWithGatehouse(m, &binary)
}

// shortOptions is a run small enough for `make test`: the report's shape
// is what is checked, never its speed.
func shortOptions() bench.Options {
	return bench.Options{
		Duration: 200 * time.Millisecond, Warmup: 50 * time.Millisecond, Concurrency: 4,
		Sessions: 1000, RedisURL: testRedis, Version: "test-version", Binary: binary,
	}
}

func TestRunReportsEveryMode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var progress bytes.Buffer
	opt := shortOptions()
	opt.Progress = &progress
	rep, err := bench.Run(ctx, opt)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	base := filepath.Join(t.TempDir(), "report")
	if err := rep.WriteFiles(base); err != nil {
		t.Fatalf("WriteFiles: %v", err)
	}

	t.Run("every mode ran without errors", func(t *testing.T) {
		var got []string
		for _, m := range rep.Modes {
			got = append(got, m.Name)
		}
		if want := bench.ModeNames(); !slices.Equal(got, want) {
			t.Fatalf("modes = %v, want %v", got, want)
		}
		for _, m := range rep.Modes {
			if !m.Ran() {
				t.Errorf("%s skipped: %s", m.Name, m.Skipped)
				continue
			}
			if m.Flagged() {
				t.Errorf("%s: %d of %d requests failed, first: %s", m.Name, m.Errors, m.Requests, m.FirstError)
			}
			if !strings.Contains(progress.String(), "bench: "+m.Name+" … ") {
				t.Errorf("no progress line for %s in %q", m.Name, progress.String())
			}
		}
	})

	t.Run("figures are sane", func(t *testing.T) {
		for _, m := range ranModes(rep) {
			if m.Requests <= 0 || m.RPS <= 0 || m.Ratio <= 0 {
				t.Errorf("%s: requests %d, req/s %v, ratio %v; want all > 0", m.Name, m.Requests, m.RPS, m.Ratio)
			}
			if m.P50Ms <= 0 || m.P99Ms < m.P50Ms {
				t.Errorf("%s: p50 %v ms, p99 %v ms; want p99 >= p50 > 0", m.Name, m.P50Ms, m.P99Ms)
			}
			if runtime.GOOS == "linux" && (m.CPUMicros <= 0 || m.CPUEfficiency <= 0) {
				t.Errorf("%s: CPU per request %v, efficiency %v; want both > 0 (read from /proc)", m.Name, m.CPUMicros, m.CPUEfficiency)
			}
			if got, want := len(m.RoundRPS), rep.Settings.Rounds; got != want {
				t.Errorf("%s: %d round figures, want %d", m.Name, got, want)
			}
			// One round is no basis for an interval: none is claimed.
			if m.CPUEfficiencyInterval != nil || m.SameRequestInterval != nil {
				t.Errorf("%s: intervals %v, %v from %d round(s); want none", m.Name, m.CPUEfficiencyInterval,
					m.SameRequestInterval, len(m.RoundRPS))
			}
		}
		bare, _ := rep.Mode(bench.ModeBare)
		if bare.Ratio != 1 || (runtime.GOOS == "linux" && bare.CPUEfficiency != 1) {
			t.Errorf("bare-proxy ratio %v, CPU efficiency %v; want 1 and 1 (it is the reference)", bare.Ratio, bare.CPUEfficiency)
		}
	})

	t.Run("progress is plain lines when not a terminal", func(t *testing.T) {
		out := progress.String()
		if strings.ContainsAny(out, "\r\x1b") {
			t.Errorf("progress has terminal control characters: %q", out)
		}
		want := fmt.Sprintf("bench: round %[1]d/%[1]d done, ETA ", rep.Settings.Rounds)
		if !strings.Contains(out, want) {
			t.Errorf("progress lacks %q:\n%s", want, out)
		}
	})

	t.Run("credentials and revocation", func(t *testing.T) {
		cookie, _ := rep.Mode("session-sqlite")
		for _, m := range ranModes(rep) {
			switch {
			case m.CredentialOf != "": // a same-request reference: checked below
				continue
			case m.Kind == bench.KindBaseline || m.Kind == bench.KindNone:
				if m.CredentialBytes != 0 || m.Revocation != nil {
					t.Errorf("%s: credential %d B, revocation %+v; want none", m.Name, m.CredentialBytes, m.Revocation)
				}
				continue
			case m.Kind == bench.KindSession:
				if got, want := m.CredentialHeader, "Cookie"; got != want {
					t.Errorf("%s: credential header %q, want %q", m.Name, got, want)
				}
			case m.Kind == bench.KindToken:
				if got, want := m.CredentialHeader, "Authorization"; got != want {
					t.Errorf("%s: credential header %q, want %q", m.Name, got, want)
				}
				// A JWT is always longer than a 256-bit session ID.
				if m.CredentialBytes <= cookie.CredentialBytes {
					t.Errorf("%s: %d B on the wire, not more than the cookie's %d B", m.Name, m.CredentialBytes, cookie.CredentialBytes)
				}
			}
			if m.Revocation == nil || !m.Revocation.Observed {
				t.Errorf("%s: revoked credential still accepted: %+v", m.Name, m.Revocation)
			}
		}
	})

	t.Run("same-request references", func(t *testing.T) {
		for _, c := range []struct{ ref, from, kind string }{
			{bench.ModeBareCookie, "session-sqlite", bench.KindSession},
			{bench.ModeBareToken, "token-ES256", bench.KindToken},
		} {
			ref, _ := rep.Mode(c.ref)
			from, _ := rep.Mode(c.from)
			if ref.CredentialOf != c.from || ref.CredentialHeader != from.CredentialHeader ||
				ref.CredentialBytes != from.CredentialBytes || ref.Revocation != nil {
				t.Errorf("%s: credential of %q, %s %d B, revocation %+v; want %s's %s %d B and no revocation",
					c.ref, ref.CredentialOf, ref.CredentialHeader, ref.CredentialBytes, ref.Revocation,
					c.from, from.CredentialHeader, from.CredentialBytes)
			}
			for _, m := range ranModes(rep) {
				if m.Kind != c.kind {
					continue
				}
				if m.SameRequestReference != c.ref {
					t.Errorf("%s: same-request reference %q, want %s", m.Name, m.SameRequestReference, c.ref)
				}
				if runtime.GOOS == "linux" && m.SameRequestEfficiency <= 0 {
					t.Errorf("%s: same-request CPU efficiency %v, want > 0", m.Name, m.SameRequestEfficiency)
				}
			}
		}
		md := readFile(t, base+".md")
		for _, ref := range []string{bench.ModeBareCookie, bench.ModeBareToken} {
			if !strings.Contains(md, "costs a bare proxy ") || !strings.Contains(md, "("+ref+" vs bare-proxy).") {
				t.Errorf("size on the wire says nothing of what %s measured", ref)
			}
		}
		_, section, found := strings.Cut(md, "### Against a bare proxy sent the same credential")
		section, _, _ = strings.Cut(section, "### Server memory")
		if !found {
			t.Fatalf("Markdown has no same-request section:\n%s", md)
		}
		for _, want := range []string{"bare-proxy-token (token-ES256's bearer token, ", "| token-RS256 | ",
			"| session-memory | ", "| CPU efficiency against it [95 % interval] |"} {
			if !strings.Contains(section, want) {
				t.Errorf("same-request section lacks %q:\n%s", want, section)
			}
		}
	})

	t.Run("memory per session", func(t *testing.T) {
		var stores []string
		for _, m := range rep.Memory {
			stores = append(stores, m.Store)
			if m.Skipped != "" {
				t.Errorf("%s memory measurement skipped: %s", m.Store, m.Skipped)
			}
			if got, want := m.Sessions, opt.Sessions; got != want {
				t.Errorf("%s: %d sessions created, want %d", m.Store, got, want)
			}
			// Redis is shared with other tests, so only in-process figures
			// are certain to grow.
			if m.Store != "redis" && m.BytesPerSession <= 0 {
				t.Errorf("%s: %v bytes per session, want > 0", m.Store, m.BytesPerSession)
			}
		}
		if want := []string{"memory", "redis", "sqlite"}; !slices.Equal(stores, want) {
			t.Errorf("memory measured for %v, want %v", stores, want)
		}
	})

	t.Run("JSON has the machine and every mode", func(t *testing.T) {
		var got bench.Report
		decodeJSON(t, base+".json", &got)
		m := got.Machine
		if m.Cores != runtime.NumCPU() || m.GoVersion != runtime.Version() || m.GOOS != runtime.GOOS ||
			m.GOARCH != runtime.GOARCH || m.Version != "test-version" || m.CPUModel == "" || m.Date.IsZero() {
			t.Errorf("machine = %+v", m)
		}
		if got, want := len(got.Modes), len(rep.Modes); got != want {
			t.Errorf("JSON has %d modes, want %d", got, want)
		}
	})

	t.Run("Markdown has both tables", func(t *testing.T) {
		md := readFile(t, base+".md")
		for _, want := range []string{
			"| mode | what | req/s | × bare | p50 | p99 | CPU/req | CPU/req over bare | CPU efficiency [95 % interval] |",
			"| | sessions (cookie + server-side record) | tokens (signed JWT access token) |",
			"| storage location |", "| scalability |", "| security / revocation |", "| maintenance |",
			"| size on the wire |", "| CPU per request |",
		} {
			if !strings.Contains(md, want) {
				t.Errorf("Markdown lacks %q", want)
			}
		}
		for _, m := range rep.Modes {
			if !strings.Contains(md, "| "+m.Name+" | ") {
				t.Errorf("Markdown has no row for %s", m.Name)
			}
		}
	})

	t.Run("SVG is XML with every mode", func(t *testing.T) {
		texts := svgTexts(t, readFile(t, base+".svg"))
		for _, m := range rep.Modes {
			if !slices.Contains(texts, m.Name) {
				t.Errorf("SVG has no label %q", m.Name)
			}
		}
	})
}

func TestRunMarksUnreachableRedisSkipped(t *testing.T) {
	opt := shortOptions()
	opt.Sessions = 100
	opt.RedisURL = "redis://:s3cret-pass@127.0.0.1:1/0" // nothing listens on port 1
	// go-redis reports its failed dials itself; they belong in the bench's
	// logger (the command's, at level error), not as plain lines on stderr
	// between the bench's progress lines.
	var logs testutil.SyncBuffer
	opt.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	rep, names, md := runModes(t, opt, "session-redis")
	if strings.Contains(md, "s3cret-pass") {
		t.Errorf("the report prints the Redis password:\n%s", md)
	}
	if !strings.Contains(logs.String(), "redis: ") {
		t.Errorf("go-redis's own lines did not reach Options.Logger (so they went to stderr); logger got:\n%s", logs.String())
	}
	if want := []string{bench.ModeBare, bench.ModeBareCookie, "session-redis"}; !slices.Equal(names, want) {
		t.Fatalf("modes = %v, want %v (the baseline always runs, the cookie reference with a session mode)", names, want)
	}
	for _, name := range []string{"session-redis", bench.ModeBareCookie} {
		if m, _ := rep.Mode(name); m.Ran() || m.Skipped == "" {
			t.Errorf("%s: ran %v, reason %q; want skipped with a reason", name, m.Ran(), m.Skipped)
		}
	}
	if m, _ := rep.Mode(bench.ModeBareCookie); strings.Contains(m.Description, "%") {
		t.Errorf("%s description %q has an unfilled verb", m.Name, m.Description)
	}
	for _, m := range rep.Memory {
		if m.Store == "redis" && m.Skipped == "" {
			t.Errorf("redis memory measured without Redis: %+v", m)
		}
	}
	if !strings.Contains(md, "| session-redis | ") || !strings.Contains(md, "skipped: ") {
		t.Errorf("Markdown does not show session-redis as skipped:\n%s", md)
	}
}

func TestRunWithoutCredentialModesHasNoReference(t *testing.T) {
	opt := shortOptions()
	opt.Sessions = 100
	_, names, md := runModes(t, opt, "none")
	if want := []string{bench.ModeBare, "none"}; !slices.Equal(names, want) {
		t.Fatalf("modes = %v, want %v (no same-request reference without a session or token mode)", names, want)
	}
	if strings.Contains(md, "### Against a bare proxy sent the same credential") {
		t.Errorf("Markdown has a same-request section without a reference:\n%s", md)
	}
}

func TestRunRefusesUnknownMode(t *testing.T) {
	opt := shortOptions()
	opt.Modes = []string{"session-floppy"}
	if _, err := bench.Run(context.Background(), opt); !errors.Is(err, bench.ErrOptions) {
		t.Fatalf("Run with an unknown mode: %v, want ErrOptions", err)
	}
}

// Options.Check refuses, before anything starts, what would otherwise run
// for minutes and then not measure what was asked.
func TestOptionsCheck(t *testing.T) {
	tests := []struct {
		name        string
		modes       []string
		postgresURL string
		ok          bool
	}{
		{"every mode", nil, "", true},
		{"known modes", []string{"none", "token-HS256"}, "", true},
		{"session-postgres with a URL", []string{"session-postgres"}, "postgres://postgres@127.0.0.1:5432/test", true},
		{"postgresql scheme", nil, "postgresql://postgres@127.0.0.1/test", true},
		{"unknown mode", []string{"none", "session-floppy"}, "", false},
		{"session-postgres without a URL", []string{"session-postgres"}, "", false},
		{"not a PostgreSQL URL", nil, "redis://127.0.0.1:6379/0", false},
		{"upper-case scheme", nil, "POSTGRES://127.0.0.1/test", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := bench.Options{Modes: tt.modes, PostgresURL: tt.postgresURL}.Check()
			if got := err == nil; got != tt.ok {
				t.Fatalf("Check() = %v, want ok %v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, bench.ErrOptions) {
				t.Errorf("Check() = %v, want it to wrap ErrOptions", err)
			}
		})
	}
}

// runModes runs opt with only the named modes and returns the report, the
// names of its rows and its Markdown.
func runModes(t *testing.T, opt bench.Options, modes ...string) (*bench.Report, []string, string) {
	t.Helper()
	opt.Modes = modes
	rep, err := bench.Run(context.Background(), opt)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	var names []string
	for _, m := range rep.Modes {
		names = append(names, m.Name)
	}
	var md bytes.Buffer
	if err := rep.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	return rep, names, md.String()
}

func ranModes(rep *bench.Report) []bench.ModeResult {
	var out []bench.ModeResult
	for _, m := range rep.Modes {
		if m.Ran() {
			out = append(out, m)
		}
	}
	return out
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func decodeJSON(t *testing.T, path string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(readFile(t, path)), v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// svgTexts parses the whole document as XML, checks that its root is
// <svg>, and returns the content of every <text> element.
func svgTexts(t *testing.T, doc string) []string {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(doc))
	var (
		texts  []string
		inText bool
		root   string
	)
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = tok.Name.Local
			}
			inText = tok.Name.Local == "text"
			if inText {
				texts = append(texts, "")
			}
		case xml.CharData:
			if inText {
				texts[len(texts)-1] += string(tok)
			}
		case xml.EndElement:
			inText = false
		}
	}
	if root != "svg" {
		t.Fatalf("root element is %q, want svg", root)
	}
	return texts
}
