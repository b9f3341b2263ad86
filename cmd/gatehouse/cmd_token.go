package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

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
		Use: "verify TOKEN", Short: "Verify an access token and print its header, claims and the check that failed", Args: cobra.ExactArgs(1),
		RunE: withApp(e, func(cmd *cobra.Command, a *app.App, args []string) error {
			rep := a.Verifier.ExplainContext(cmd.Context(), args[0])
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
