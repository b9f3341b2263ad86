package metrics_test

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-auth/gatehouse/internal/metrics"
)

// documented returns the metrics table of docs/deploy.md: each metric's
// labels column by name.
func documented(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile("../../docs/deploy.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("^\\s*\\| `(gatehouse_[a-z_]+)` \\| (.*?) \\| [^|]*\\|$")
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if m := row.FindStringSubmatch(line); m != nil {
			out[m[1]] = m[2]
		}
	}
	return out
}

// TestDeployDocListsEveryMetric: the metrics table of docs/deploy.md names
// every gatehouse_ metric the registry has and no other, each with its
// labels; and where a HELP text lists a label's values ("method (totp,
// recovery)"), it lists the values the table documents for that label.
func TestDeployDocListsEveryMetric(t *testing.T) {
	docs := documented(t)
	descs := make(chan *prometheus.Desc, 64)
	go func() { metrics.New().Registry.Describe(descs); close(descs) }()
	descRe := regexp.MustCompile(`fqName: "([^"]+)", help: "([^"]*)".*variableLabels: \{([^}]*)\}`)
	seen := map[string]bool{}
	for d := range descs {
		m := descRe.FindStringSubmatch(d.String())
		if m == nil || !strings.HasPrefix(m[1], "gatehouse_") {
			continue
		}
		name, help, labels := m[1], m[2], strings.FieldsFunc(m[3], func(r rune) bool { return r == ',' })
		seen[name] = true
		col, ok := docs[name]
		if !ok {
			t.Errorf("docs/deploy.md does not list %s", name)
			continue
		}
		for _, l := range labels {
			if !strings.Contains(col, "`"+l+"`") {
				t.Errorf("docs/deploy.md: %s lacks its label %s", name, l)
			}
		}
		for _, hm := range regexp.MustCompile(`(\w+) \(([^)]*)\)`).FindAllStringSubmatch(help, -1) {
			label := hm[1]
			if !slices.Contains(labels, label) {
				continue
			}
			inHelp := strings.Split(strings.ReplaceAll(hm[2], " ", ""), ",")
			dm := regexp.MustCompile("`" + label + "` \\(([^)]*)\\)").FindStringSubmatch(col)
			if dm == nil {
				t.Errorf("%s: HELP lists %s values %q, docs/deploy.md none", name, label, inHelp)
				continue
			}
			var inDocs []string
			for _, v := range regexp.MustCompile("`([a-z_]+)`").FindAllStringSubmatch(dm[1], -1) {
				inDocs = append(inDocs, v[1])
			}
			slices.Sort(inHelp)
			slices.Sort(inDocs)
			if !slices.Equal(inHelp, inDocs) {
				t.Errorf("%s: HELP lists %s values %q, docs/deploy.md %q", name, label, inHelp, inDocs)
			}
		}
	}
	for name := range docs {
		if !seen[name] {
			t.Errorf("docs/deploy.md lists %s, which the registry does not have", name)
		}
	}
}
