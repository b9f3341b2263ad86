package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/client"
	"github.com/gatehouse-auth/gatehouse/internal/config"
)

func tokenCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Issue and inspect access tokens"}
	cmd.AddCommand(tokenIssueCmd(e), tokenVerifyCmd(e))
	return cmd
}

func tokenIssueCmd(e *env) *cobra.Command {
	var name, ttlText string
	cmd := &cobra.Command{
		Use: "issue --user NAME [--ttl 10m]", Short: "Issue an access token for a user (no refresh token)", Args: cobra.NoArgs,
		RunE: withApp(e, func(cmd *cobra.Command, a *app.App, _ []string) error {
			if name == "" {
				return usagef("--user is required")
			}
			ttl := a.Config.Tokens.AccessTTL.D()
			if ttlText != "" {
				// exp and iat are whole seconds (RFC 7519): a shorter --ttl
				// would be rounded down to a token that expires as it is issued.
				d, err := config.ParseDuration(ttlText)
				if err != nil || d < time.Second {
					return usagef("--ttl: %q is not a duration of at least 1s", ttlText)
				}
				// Nothing outlives a login's refresh family: the token's
				// own family, which user logout and disable revoke, and its
				// sid's denial last as long as it (docs/tokens.md).
				if limit := a.Config.Tokens.RefreshTTL.D(); d > limit {
					return usagef("--ttl: %s is longer than tokens.refresh_ttl (%s), the longest a token may live", ttlText, limit)
				}
				ttl = d
			}
			u, err := a.Users.Get(cmd.Context(), name)
			if err != nil {
				return err
			}
			raw, err := a.Grants.IssueAccess(cmd.Context(), u, client.CLIID, ttl, "cli")
			if err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, raw)
			return nil
		}),
	}
	cmd.Flags().StringVar(&name, "user", "", "username")
	cmd.Flags().StringVar(&ttlText, "ttl", "", "lifetime, 1s to tokens.refresh_ttl (default tokens.access_ttl)")
	return cmd
}

func tokenVerifyCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "verify [TOKEN | -]",
		Short: "Verify an access token and print its header, claims and the check that failed",
		Long: "Verify an access token and print its header, claims and the check that failed.\n\n" +
			"With - (or no argument and standard input not a terminal) the token is read from standard input,\n" +
			"which keeps it out of shell history: gatehouse token verify - < token.txt",
		Args: cobra.MaximumNArgs(1),
		RunE: withApp(e, func(cmd *cobra.Command, a *app.App, args []string) error {
			raw := "-"
			if len(args) == 1 {
				raw = args[0]
			} else if f, ok := e.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
				return usagef("give the token as an argument, or pipe it in with `gatehouse token verify -` to keep it out of shell history")
			}
			if raw == "-" {
				var err error
				if raw, err = e.readSecret("token verify -"); err != nil {
					return err
				}
			}
			rep := a.Verifier.ExplainContext(cmd.Context(), raw)
			out := map[string]any{"header": rep.Header, "claims": rep.Claims, "valid": rep.Valid}
			if !rep.Valid {
				out["failed_check"] = rep.Check
				if rep.Err != nil {
					out["error"] = rep.Err.Error()
				}
			}
			if exp, ok := rep.Claims["exp"].(float64); ok {
				out["expires_in"] = time.Until(time.Unix(int64(exp), 0)).Round(time.Second).String()
			}
			enc := json.NewEncoder(e.stdout)
			enc.SetIndent("", "  ")
			if err := enc.Encode(out); err != nil {
				return err
			}
			if !rep.Valid {
				return errors.New("token is not valid: failed check " + rep.Check)
			}
			return nil
		}),
	}
}

// maxStdinSecret bounds what readSecret reads, in bytes: far above the
// longest token the verifier accepts (8 KiB) or any session cookie.
const maxStdinSecret = 64 << 10

// readSecret reads a token or cookie value given as "-" from standard input
// (so that it stays out of shell history and ps), without the white space
// and line end around it. At most maxStdinSecret+1 bytes are read: an input
// without end (cat /dev/zero) must not grow without bound in memory. An
// empty or too long input is a usage error naming what asked for it.
func (e *env) readSecret(what string) (string, error) {
	b, err := io.ReadAll(io.LimitReader(e.stdin, maxStdinSecret+1))
	if err != nil {
		return "", fmt.Errorf("%s: read standard input: %w", what, err)
	}
	if len(b) > maxStdinSecret {
		return "", usagef("%s: standard input is longer than %d bytes", what, maxStdinSecret)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", usagef("%s: standard input is empty", what)
	}
	return s, nil
}
