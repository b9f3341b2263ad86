package main

import (
	"context"
	"strings"
	"testing"
)

// cobra adds `gatehouse completion bash|zsh|fish|powershell`; the README
// documents it, so it must keep printing a script that names gatehouse's
// commands.
func TestCompletionPrintsAScript(t *testing.T) {
	tests := []struct {
		shell string
		want  string // a line every script of that shell starts with
	}{
		{"bash", "# bash completion V2 for gatehouse"},
		{"zsh", "#compdef gatehouse"},
		{"fish", "# fish completion for gatehouse"},
	}
	for _, tt := range tests {
		t.Run(tt.shell, func(t *testing.T) {
			var out, stderr strings.Builder
			err := run(context.Background(), []string{"completion", tt.shell}, func(string) string { return "" },
				strings.NewReader(""), &out, &stderr)
			if err != nil {
				t.Fatalf("gatehouse completion %s: %v (%s)", tt.shell, err, stderr.String())
			}
			if !strings.HasPrefix(out.String(), tt.want) {
				t.Errorf("script starts %q, want %q", firstLine(out.String()), tt.want)
			}
			if !strings.Contains(out.String(), "__gatehouse_") {
				t.Errorf("%s script has no gatehouse completion functions", tt.shell)
			}
		})
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
