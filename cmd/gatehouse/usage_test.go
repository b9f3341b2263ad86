package main

import (
	"strings"
	"testing"
)

// A misspelt subcommand (`user remove` for `user delete`) is a usage error:
// exit 2 and a sentence naming it on stderr, not the group's help on
// stdout with exit 0, which a script would take for success. The group
// alone still prints its help.
func TestUnknownSubcommandIsAUsageError(t *testing.T) {
	c := newCLI(t, "")
	for _, args := range [][]string{
		{"user", "remove", "alice"}, {"keys", "rotat"}, {"token", "isue"}, {"config", "chek"}, {"client", "remove", "web"}, {"completion", "bsh"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, out, errOut := c.run("", args...)
			if code != 2 || !strings.Contains(errOut, args[1]) || out != "" {
				t.Errorf("exit %d (want 2), stdout %q (want none), stderr %q (want %q named)", code, out, errOut, args[1])
			}
		})
	}
	if out := c.ok("", "user"); !strings.Contains(out, "Available Commands") {
		t.Errorf("gatehouse user printed %q, want its help", out)
	}
}
