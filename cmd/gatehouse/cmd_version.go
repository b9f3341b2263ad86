package main

import (
	"fmt"
	"io"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// buildInfo is what the binary knows about how it was built, read from
// the build information the go command embeds (debug.ReadBuildInfo).
// A field is "" when the build did not record it: `go build` in a git
// checkout stamps the vcs.* settings, `go run` and `go test` usually do
// not, and the output says so rather than guessing.
type buildInfo struct {
	Version   string // module version: a tag, a pseudo-version, or "" for (devel)
	Revision  string // vcs.revision
	Time      string // vcs.time: the commit's time (RFC 3339), which keeps builds reproducible
	Modified  bool   // vcs.modified: built with uncommitted changes
	GoVersion string
	Platform  string // GOOS/GOARCH
}

// readBuildInfo extracts buildInfo from bi (nil when the binary has none).
func readBuildInfo(bi *debug.BuildInfo) buildInfo {
	var b buildInfo
	if bi == nil {
		return b
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		b.Version = v
	}
	b.GoVersion = bi.GoVersion
	var goos, goarch string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.time":
			b.Time = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		case "GOOS":
			goos = s.Value
		case "GOARCH":
			goarch = s.Value
		}
	}
	if goos != "" && goarch != "" {
		b.Platform = goos + "/" + goarch
	}
	return b
}

// short is the one-word version for reports and logs: the module version,
// else the abbreviated revision (+dirty), else "devel".
func (b buildInfo) short() string {
	switch {
	case b.Version != "":
		return b.Version
	case b.Revision != "":
		rev := b.Revision[:min(12, len(b.Revision))]
		if b.Modified {
			rev += "+dirty"
		}
		return rev
	}
	return "devel"
}

// write prints the version block of `gatehouse version`.
func (b buildInfo) write(w io.Writer) error {
	var s strings.Builder
	fmt.Fprintf(&s, "gatehouse %s\n", b.short())
	switch {
	case b.Revision == "":
		s.WriteString("revision: unknown (built without version control information, e.g. by go run)\n")
	case b.Modified:
		fmt.Fprintf(&s, "revision: %s (modified: built with uncommitted changes)\n", b.Revision)
	default:
		fmt.Fprintf(&s, "revision: %s\n", b.Revision)
	}
	if b.Time != "" {
		fmt.Fprintf(&s, "date:     %s (commit time)\n", b.Time)
	} else {
		s.WriteString("date:     unknown\n")
	}
	goVersion := b.GoVersion
	if b.Platform != "" {
		goVersion += " " + b.Platform
	}
	fmt.Fprintf(&s, "go:       %s\n", strings.TrimSpace(goVersion))
	_, err := io.WriteString(w, s.String())
	return err
}

// linkVersion, linkRevision and linkTime are set by `make release`
// (-ldflags -X main.linkVersion=…, from git describe, git rev-parse and the
// commit time). They are used only where the go command recorded nothing
// itself, as in a git worktree, where it finds no .git directory.
var linkVersion, linkRevision, linkTime string

func currentBuild() buildInfo {
	bi, _ := debug.ReadBuildInfo()
	b := readBuildInfo(bi)
	if b.Version == "" {
		b.Version = linkVersion
	}
	if b.Revision == "" {
		b.Revision, b.Time = linkRevision, linkTime
	}
	return b
}

// version is the short version of the running binary.
func version() string { return currentBuild().short() }

func versionCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, VCS revision and commit date of this binary",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return currentBuild().write(e.stdout)
		},
	}
}
