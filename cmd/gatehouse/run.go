package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/config"
)

// usageError marks a mistake in how a command was called (exit code 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// exitCode prints err as one sentence per problem and returns the
// contract's exit code: 0 ok, 2 usage or configuration error, 1 anything
// else; 130 (128 + SIGINT, as a shell reports) for a command that Ctrl-C
// stopped while it waited for its user.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	for _, line := range sentences(err.Error()) {
		fmt.Fprintf(stderr, "gatehouse: %s\n", line)
	}
	if errors.Is(err, errInterrupted) {
		return 130
	}
	var ue usageError
	var ce *config.Error
	if errors.As(err, &ue) || errors.As(err, &ce) || errors.Is(err, auth.ErrInvalidInput) {
		return 2
	}
	return 1
}

// sentences splits an error message into its problems, one a line (an
// errors.Join puts each on a line of its own). A line that starts with
// white space continues the one before: pgx, for one, lists each address
// it tried to connect to on an indented line of its own, often the same
// line twice (with and without TLS); those are joined, repeats dropped.
func sentences(msg string) []string {
	var out []string
	last := ""
	for _, line := range strings.Split(msg, "\n") {
		cont := strings.TrimSpace(line)
		switch {
		case cont == "":
		case len(out) > 0 && (line[0] == '\t' || line[0] == ' '):
			if cont != last {
				sep := " "
				if last != "" {
					sep = "; "
				}
				out[len(out)-1] += sep + cont
			}
			last = cont
		default:
			out = append(out, line)
			last = ""
		}
	}
	if len(out) == 0 {
		out = []string{msg}
	}
	return out
}

// env is what every command shares: streams, the environment and the
// config flag.
type env struct {
	getenv     func(string) string
	environ    []string // for config.CheckEnv; nil skips the check
	stdin      io.Reader
	stdout     io.Writer
	stderr     io.Writer
	configPath string
}

// run is the whole program; main only calls it, tests call it directly.
// environ (os.Environ() in main) lists the variables whose GATEHOUSE_*
// names must all be config keys; callers that pass none skip that check.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer, environ ...string) error {
	e := &env{getenv: getenv, environ: environ, stdin: stdin, stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:           "gatehouse",
		Short:         "Authentication server and API gateway",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVarP(&e.configPath, "config", "c", "", "config file (default $GATEHOUSE_CONFIG or ./gatehouse.yaml)")
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error { return usageError{inCommand(cmd, err)} })
	root.AddCommand(
		serveCmd(e), demoCmd(e), userCmd(e), keysCmd(e), tokenCmd(e), configCmd(e), migrateCmd(e),
		benchCmd(e), auditCmd(e), clientCmd(e), explainCmd(e), versionCmd(e),
	)
	// cobra adds `completion` only when it executes; added now, it refuses
	// an unknown shell (`completion bsh`) as every other group does.
	root.InitDefaultCompletionCmd(args...)
	for _, c := range root.Commands() {
		refuseUnknownSubcommands(c)
	}
	cmd, err := root.ExecuteContextC(ctx)
	if err != nil && isCobraUsage(err) {
		if strings.HasPrefix(err.Error(), "unknown command") { // names the command already
			return usageError{err}
		}
		// cobra's "accepts 1 arg(s), received 0" names neither the
		// command nor what it takes.
		return usageError{inCommand(cmd, fmt.Errorf("%w (usage: %s)", err, cmd.UseLine()))}
	}
	return err
}

// inCommand prefixes err with the command it is about ("user add: …"),
// the root's own errors as they are: every line on stderr already starts
// with "gatehouse: ".
func inCommand(cmd *cobra.Command, err error) error {
	if !cmd.HasParent() {
		return err
	}
	return fmt.Errorf("%s: %w", strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" "), err)
}

// refuseUnknownSubcommands makes every command group below the root (user,
// keys, token, …) refuse an argument that names none of its subcommands as
// a usage error: cobra checks that only at the root, and would print the
// group's help and exit 0 for `gatehouse user remove alice`. The group
// alone still prints its help.
func refuseUnknownSubcommands(cmd *cobra.Command) {
	if !cmd.HasSubCommands() {
		return
	}
	if !cmd.Runnable() {
		cmd.RunE = func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q for %q", args[0], cmd.CommandPath())
			}
			return cmd.Help()
		}
	}
	for _, c := range cmd.Commands() {
		refuseUnknownSubcommands(c)
	}
}

// isCobraUsage recognises cobra's own argument errors (unknown command,
// wrong number of arguments), which it does not type.
func isCobraUsage(err error) bool {
	var ue usageError
	if errors.As(err, &ue) {
		return false
	}
	msg := err.Error()
	for _, s := range []string{"unknown command", "accepts ", "requires at least", "arg(s)", "unknown flag", "unknown shorthand", "required flag(s)", "if any flags in the group"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// loadConfig resolves and loads the config (exit 2 on any problem).
func (e *env) loadConfig() (config.Config, string, error) {
	path, _ := config.Resolve(e.configPath, e.getenv)
	cfg, err := config.LoadLookup(path, e.lookupenv)
	return cfg, path, errors.Join(config.CheckEnv(e.environ), err)
}

// lookupenv is os.LookupEnv's answer from getenv and environ: a variable
// getenv answers is set; one it answers "" for is set to "" when environ
// lists it with an empty value (GATEHOUSE_ADMIN_LISTEN=), else unset.
func (e *env) lookupenv(name string) (string, bool) {
	if v := e.getenv(name); v != "" {
		return v, true
	}
	return "", slices.Contains(e.environ, name+"=")
}

// logger writes JSON lines to stderr. CLI commands log warnings only, so
// their output stays readable; serve logs at the configured level.
func (e *env) logger(level string) *slog.Logger { return loggerTo(e.stderr, level) }

func loggerTo(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

// openApp loads the config and opens the stores for a CLI command. What
// is logged while they open reaches stderr only once they are open: a
// command whose store is down fails with the one sentence that says so,
// not also the warnings of a client library that could not dial.
func (e *env) openApp(ctx context.Context) (*app.App, error) {
	cfg, _, err := e.loadConfig()
	if err != nil {
		return nil, err
	}
	held := &heldWriter{w: e.stderr}
	a, err := app.New(ctx, cfg, loggerTo(held, "warn"), app.Options{Migrate: true})
	if err != nil {
		return nil, err
	}
	held.release()
	return a, nil
}

// heldWriter keeps what is written until release, then writes it and
// everything after it through to w.
type heldWriter struct {
	mu       sync.Mutex
	w        io.Writer
	buf      bytes.Buffer
	released bool
}

func (h *heldWriter) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.released {
		return h.w.Write(p)
	}
	return h.buf.Write(p)
}

func (h *heldWriter) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.released = true
	_, _ = h.buf.WriteTo(h.w)
}
