package main

import (
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// The README links every page of docs/, and the pages link each other and
// their sections: a page renamed or a heading reworded must not leave a
// reader on a 404 or at the top of the wrong page. Every relative link
// (inline, image or reference definition) in the README, CHANGELOG,
// e2e/README.md and docs/**/*.md must name a file that exists, and a
// #fragment must be an anchor of that page as GitHub renders it (a
// heading's slug, or an explicit <a id>/<a name>). Links inside code
// (fenced blocks, `code spans`) are text, not links.
func TestDocsRelativeLinksResolve(t *testing.T) {
	root := filepath.Join("..", "..")
	pages := []string{"README.md", "CHANGELOG.md", filepath.Join("e2e", "README.md")}
	for _, glob := range []string{"docs/*.md", "docs/*/*.md"} {
		m, err := filepath.Glob(filepath.Join(root, glob))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range m {
			rel, err := filepath.Rel(root, p)
			if err != nil {
				t.Fatal(err)
			}
			pages = append(pages, rel)
		}
	}
	anchors := map[string]map[string]bool{} // page (relative to root) → its anchors
	anchorsOf := func(page string) map[string]bool {
		if a, ok := anchors[page]; ok {
			return a
		}
		b, err := os.ReadFile(filepath.Join(root, page))
		if err != nil {
			t.Fatal(err)
		}
		a := markdownAnchors(string(b))
		anchors[page] = a
		return a
	}
	checked := 0
	for _, page := range pages {
		b, err := os.ReadFile(filepath.Join(root, page))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range markdownLinks(string(b)) {
			target, frag, _ := strings.Cut(l.target, "#")
			where := fmt.Sprintf("%s:%d: link %q", page, l.line, l.target)
			dest := page
			if target != "" {
				dest = filepath.Join(filepath.Dir(page), filepath.FromSlash(target))
				if _, err := os.Stat(filepath.Join(root, dest)); err != nil {
					t.Errorf("%s: %s does not exist", where, dest)
					continue
				}
			}
			checked++
			if frag == "" || !strings.HasSuffix(dest, ".md") {
				continue
			}
			if !anchorsOf(dest)[frag] {
				t.Errorf("%s: %s has no heading or anchor #%s", where, dest, frag)
			}
		}
	}
	// The README's "Documentation" list names the pages a reader starts
	// from: a page dropped from docs/ without its link is caught above, and
	// a page added without one is caught here.
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	linked := map[string]bool{}
	for _, l := range markdownLinks(string(readme)) {
		target, _, _ := strings.Cut(l.target, "#")
		linked[filepath.Clean(target)] = true
	}
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range docs {
		rel := filepath.Join("docs", filepath.Base(p))
		if !linked[rel] {
			t.Errorf("README.md does not link %s", rel)
		}
	}
	if checked < 50 {
		t.Fatalf("only %d relative links found: the parser no longer reads the pages", checked)
	}
}

type markdownLink struct {
	line   int
	target string
}

var (
	inlineLink    = regexp.MustCompile(`\]\(\s*<?([^()\s<>]+)>?(?:\s+"[^"]*")?\s*\)`)
	referenceLink = regexp.MustCompile(`^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+"[^"]*")?\s*$`)
	codeSpan      = regexp.MustCompile("`+[^`]*`+")
	headingLine   = regexp.MustCompile(`^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$`)
	htmlAnchor    = regexp.MustCompile(`<a\s+(?:id|name)="([^"]+)"`)
	headingLink   = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)
	htmlTag       = regexp.MustCompile(`<[^>]+>`)
)

// markdownLinks returns the relative link targets of a page outside code.
func markdownLinks(text string) []markdownLink {
	var out []markdownLink
	for i, line := range proseLines(text) {
		line = codeSpan.ReplaceAllString(line, "")
		var targets []string
		for _, m := range inlineLink.FindAllStringSubmatch(line, -1) {
			targets = append(targets, m[1])
		}
		if m := referenceLink.FindStringSubmatch(line); m != nil {
			targets = append(targets, m[1])
		}
		for _, target := range targets {
			if isAbsoluteURL(target) {
				continue
			}
			out = append(out, markdownLink{line: i + 1, target: target})
		}
	}
	return out
}

// proseLines yields the index and text of each line of a page outside
// fenced code blocks.
func proseLines(text string) iter.Seq2[int, string] {
	return func(yield func(int, string) bool) {
		fence := ""
		for i, line := range strings.Split(text, "\n") {
			if f := fenceOf(line); f != "" {
				switch {
				case fence == "":
					fence = f
				case strings.HasPrefix(f, fence[:1]) && len(f) >= len(fence):
					fence = ""
				}
				continue
			}
			if fence == "" && !yield(i, line) {
				return
			}
		}
	}
}

// fenceOf returns the fence (``` or ~~~, at least three) that opens or
// closes a code block on this line, or "".
func fenceOf(line string) string {
	s := strings.TrimLeft(line, " ")
	if len(line)-len(s) > 3 {
		return ""
	}
	for _, c := range []string{"`", "~"} {
		n := len(s) - len(strings.TrimLeft(s, c))
		if n >= 3 {
			return s[:n]
		}
	}
	return ""
}

func isAbsoluteURL(target string) bool {
	i := strings.IndexAny(target, ":/#?")
	return i > 0 && target[i] == ':'
}

// markdownAnchors returns the anchors GitHub gives a page: each heading's
// slug (lower case; letters, digits, '-', '_' and spaces kept, spaces made
// '-'; a repeated slug gets -1, -2, …) and every <a id> or <a name>.
func markdownAnchors(text string) map[string]bool {
	anchors := map[string]bool{}
	seen := map[string]int{}
	for _, line := range proseLines(text) {
		for _, m := range htmlAnchor.FindAllStringSubmatch(line, -1) {
			anchors[m[1]] = true
		}
		m := headingLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		title := headingLink.ReplaceAllString(m[2], "$1")
		title = htmlTag.ReplaceAllString(title, "")
		var b strings.Builder
		for _, r := range strings.ToLower(title) {
			switch {
			case r == ' ':
				b.WriteByte('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r):
				b.WriteRune(r)
			}
		}
		slug := b.String()
		if n, ok := seen[slug]; ok {
			seen[slug] = n + 1
			slug = fmt.Sprintf("%s-%d", slug, n+1)
		} else {
			seen[slug] = 0
		}
		anchors[slug] = true
	}
	return anchors
}
