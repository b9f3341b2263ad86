package frontproxy_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/frontproxy"
)

var update = flag.Bool("update", false, "rewrite docs/forward-auth.md's generated blocks (go generate ./internal/frontproxy)")

var docPath = filepath.Join("..", "..", "docs", "forward-auth.md")

// TestDocSnippetsAreGenerated fails when docs/forward-auth.md shows a
// configuration other than the one the templates render, which is the one
// the tests below run: the documented snippets cannot drift from the tested.
func TestDocSnippetsAreGenerated(t *testing.T) {
	b, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	want, err := frontproxy.UpdateDoc(string(b))
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(docPath, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if got := string(b); got != want {
		t.Errorf("%s is out of date with internal/frontproxy/templates: run go generate ./internal/frontproxy\nfirst difference at line %d",
			docPath, firstDiffLine(got, want))
	}
}

func firstDiffLine(a, b string) int {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(la), len(lb)) {
		if la[i] != lb[i] {
			return i + 1
		}
	}
	return min(len(la), len(lb)) + 1
}

// TestRenderFillsEveryParameter: a template that referenced a missing field
// would render "<no value>" into the documentation.
func TestRenderFillsEveryParameter(t *testing.T) {
	for _, proxy := range []string{frontproxy.Nginx, frontproxy.Caddy, frontproxy.Traefik} {
		conf, err := frontproxy.Render(proxy, frontproxy.DocParams)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(conf, "<no value>") {
			t.Errorf("%s: rendered configuration contains <no value>", proxy)
		}
		if !strings.Contains(conf, "/auth/verify/") {
			t.Errorf("%s: configuration does not use a per-family verify endpoint", proxy)
		}
	}
	if _, err := frontproxy.UpdateDoc("no markers"); err == nil {
		t.Error("UpdateDoc accepted a document without markers")
	}
}
