package main

import (
	"context"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionPrintsWhatTheBuildRecorded(t *testing.T) {
	settings := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	tests := []struct {
		name string
		bi   *debug.BuildInfo
		want []string
	}{
		{
			name: "tagged release",
			bi: &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v0.1.0"}, Settings: settings(
				"GOOS", "linux", "GOARCH", "arm64", "vcs.revision", "0123456789abcdef0123456789abcdef01234567",
				"vcs.time", "2026-11-29T18:00:00Z", "vcs.modified", "false")},
			want: []string{
				"gatehouse v0.1.0\n",
				"revision: 0123456789abcdef0123456789abcdef01234567\n",
				"date:     2026-11-29T18:00:00Z (commit time)\n",
				"go:       go1.26.0 linux/arm64\n",
			},
		},
		{
			name: "git checkout with uncommitted changes",
			bi: &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}, Settings: settings(
				"vcs.revision", "0123456789abcdef0123456789abcdef01234567", "vcs.time", "2026-11-29T18:00:00Z",
				"vcs.modified", "true")},
			want: []string{
				"gatehouse 0123456789ab+dirty\n",
				"revision: 0123456789abcdef0123456789abcdef01234567 (modified: built with uncommitted changes)\n",
			},
		},
		{
			name: "go run: nothing recorded, nothing invented",
			bi:   &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}},
			want: []string{"gatehouse devel\n", "revision: unknown (", "date:     unknown\n", "go:       go1.26.0\n"},
		},
		{name: "no build information", bi: nil, want: []string{"gatehouse devel\n", "revision: unknown ("}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			if err := readBuildInfo(tt.bi).write(&b); err != nil {
				t.Fatal(err)
			}
			for _, want := range tt.want {
				if !strings.Contains(b.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, b.String())
				}
			}
		})
	}
}

func TestVersionCommand(t *testing.T) {
	var out strings.Builder
	err := run(context.Background(), []string{"version"}, func(string) string { return "" }, strings.NewReader(""), &out, io.Discard)
	if err != nil {
		t.Fatalf("gatehouse version: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if got, want := len(lines), 4; got != want {
		t.Fatalf("gatehouse version printed %d lines, want %d:\n%s", got, want, out.String())
	}
	for i, prefix := range []string{"gatehouse ", "revision: ", "date: ", "go: "} {
		if !strings.HasPrefix(lines[i], prefix) {
			t.Errorf("line %d = %q, want prefix %q", i+1, lines[i], prefix)
		}
	}
	if !strings.Contains(lines[3], runtime.Version()) {
		t.Errorf("go line %q does not name %s", lines[3], runtime.Version())
	}
}
