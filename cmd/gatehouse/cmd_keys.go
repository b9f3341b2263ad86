package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-auth/gatehouse/internal/app"
)

func keysCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Manage token signing keys"}
	cmd.AddCommand(
		&cobra.Command{
			Use: "list", Short: "List signing keys and their state", Args: cobra.NoArgs,
			RunE: withApp(e, func(cmd *cobra.Command, a *app.App, _ []string) error {
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "KID\tALG\tSTATE\tCREATED\tACTIVATED\tRETIRES")
				for _, k := range a.Keys.List() {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.KID, k.Algorithm, k.State, keyTime(k.CreatedAt), keyTime(k.ActivatedAt), keyTime(k.RetiresAt))
				}
				return tw.Flush()
			}),
		},
		&cobra.Command{
			Use: "rotate", Short: "Sign with a new key at once: the published next key if one is pending, else a new one (old keys keep verifying until access_ttl+leeway)", Args: cobra.NoArgs,
			RunE: withApp(e, func(cmd *cobra.Command, a *app.App, _ []string) error {
				kid, err := a.Keys.Rotate(cmd.Context())
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "new signing key %s is active; running instances switch to it within a second\n", kid)
				return nil
			}),
		},
		&cobra.Command{
			Use: "jwks", Short: "Print the public JWKS", Args: cobra.NoArgs,
			RunE: withApp(e, func(cmd *cobra.Command, a *app.App, _ []string) error {
				_, err := fmt.Fprintln(e.stdout, string(a.Keys.JWKS()))
				return err
			}),
		},
	)
	return cmd
}

// keyTime prints a key's time, or "-" when it has none (HS256's key, derived
// from tokens.hmac_secret, has no creation or activation time; no key
// retires before it is superseded).
func keyTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return ts(t)
}
