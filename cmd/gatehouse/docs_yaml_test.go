package main

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/gatehouse-auth/gatehouse/internal/config"
)

// The configuration snippets in the README and docs/ are what operators
// paste: every ```yaml block that sets a gatehouse key must load and
// validate as `gatehouse config check` would, so the pages cannot drift
// from the code. Blocks for other programs (Envoy, Kubernetes, Traefik)
// name no gatehouse key and are left alone; a block that is a YAML list is
// a list of oidc.providers entries (docs/oidc.md). Secret files the
// snippets name (`*_file: /run/secrets/…`) are replaced by a temporary
// file holding a long enough secret, and absolute SQLite paths by one in a
// temporary directory.
func TestDocumentedConfigSnippetsValidate(t *testing.T) {
	pages, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	pages = append(pages, "../../README.md")
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte(strings.Repeat("s3cr3t-", 8)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	keys := topLevelKeys()
	checked := 0
	for _, page := range pages {
		data, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range yamlBlocks(string(data)) {
			name := fmt.Sprintf("%s:%d", filepath.Base(page), b.line)
			text, ok := asConfig(t, name, b.text, keys)
			if !ok {
				continue
			}
			checked++
			text = secretFile.ReplaceAllString(text, "${1}"+secret)
			text = sqliteFile.ReplaceAllString(text, "sqlite://"+filepath.Join(t.TempDir(), "gatehouse.db"))
			path := filepath.Join(t.TempDir(), "gatehouse.yaml")
			if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := config.Load(path, func(string) string { return "" }); err != nil {
				t.Errorf("%s: the documented config does not validate:\n%v\n--- block ---\n%s", name, err, b.text)
			}
		}
	}
	// The README, configuration, gateway, apps, oidc, admin and deploy
	// pages hold about twenty: far fewer means the extraction broke.
	t.Logf("%d documented config blocks validate", checked)
	if checked < 15 {
		t.Errorf("checked %d config blocks; the extraction of ```yaml blocks is broken", checked)
	}
}

// sqliteFile matches an absolute SQLite store path (/var/lib/gatehouse/…),
// whose directory must exist for the config to load.
var sqliteFile = regexp.MustCompile(`sqlite://(/[^\s?#'"]+)`)

// secretFile matches a `*_file:` key with an absolute path value.
var secretFile = regexp.MustCompile(`(?m)(_file:[ \t]*)/[^\s,}]+`)

type block struct {
	line int // of the block's first line, 1-based
	text string
}

// yamlBlocks returns the ```yaml fences of a Markdown page, indented ones
// (inside list items) with their indentation removed.
func yamlBlocks(page string) []block {
	var out []block
	lines := strings.Split(page, "\n")
	for i := 0; i < len(lines); i++ {
		trimmed := strings.TrimLeft(lines[i], " ")
		if trimmed != "```yaml" && trimmed != "```yml" {
			continue
		}
		indent := len(lines[i]) - len(trimmed)
		var body []string
		j := i + 1
		for ; j < len(lines) && strings.TrimSpace(lines[j]) != "```"; j++ {
			l := lines[j]
			if len(l) >= indent && strings.TrimSpace(l[:indent]) == "" {
				l = l[indent:]
			}
			body = append(body, l)
		}
		out = append(out, block{line: i + 2, text: strings.Join(body, "\n") + "\n"})
		i = j
	}
	return out
}

// asConfig says whether a block is gatehouse configuration, and returns it
// as a whole file: a list becomes oidc.providers.
func asConfig(t *testing.T, name, text string, keys map[string]bool) (string, bool) {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		// A snippet for another program may be YAML that yaml.v3 reads
		// differently; a gatehouse one must parse, and Load says why not.
		if strings.Contains(text, "routes:") || strings.Contains(text, "sessions:") {
			return text, true
		}
		t.Logf("%s: not YAML (%v), skipped", name, err)
		return "", false
	}
	if len(doc.Content) == 0 {
		return "", false
	}
	root := doc.Content[0]
	switch root.Kind {
	case yaml.SequenceNode:
		var b strings.Builder
		b.WriteString("oidc:\n  providers:\n")
		for l := range strings.SplitSeq(strings.TrimRight(text, "\n"), "\n") {
			b.WriteString("    " + l + "\n")
		}
		return b.String(), true
	case yaml.MappingNode:
		for i := 0; i < len(root.Content); i += 2 {
			if keys[root.Content[i].Value] {
				return text, true
			}
		}
	}
	return "", false
}

// topLevelKeys are the yaml names of config.Config's fields.
func topLevelKeys() map[string]bool {
	keys := map[string]bool{}
	typ := reflect.TypeFor[config.Config]()
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			keys[name] = true
		}
	}
	return keys
}
