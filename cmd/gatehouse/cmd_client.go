package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/client"
	"github.com/gatehouse-auth/gatehouse/internal/config"
)

func clientCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "client", Short: "Manage OAuth clients (apps that get tokens)"}
	cmd.AddCommand(clientAddCmd(e), clientListCmd(e), clientShowCmd(e), clientDeleteCmd(e), clientSecretCmd(e))
	return cmd
}

func clientAddCmd(e *env) *cobra.Command {
	var c client.Client
	var backchannel string
	cmd := &cobra.Command{
		Use:   "add ID --type public|confidential --redirect-uri U... --grant G... --scope S...",
		Short: "Register a client (a confidential client's secret is printed once)",
		Args:  cobra.ExactArgs(1),
		RunE: withApp(e, func(cmd *cobra.Command, a *app.App, args []string) error {
			c.ID, c.BackchannelLogoutURI = args[0], backchannel
			secret, err := a.Clients.Add(cmd.Context(), c)
			if err != nil {
				return e.clientError(err, a, c.ID)
			}
			fmt.Fprintf(e.stdout, "registered %s client %s\n", c.Type, c.ID)
			if secret != "" {
				fmt.Fprintf(e.stdout, "client secret (shown once, store it now): %s\n", secret)
			}
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVar(&c.Type, "type", "", "public (SPA, mobile, CLI: PKCE, no secret) or confidential (server-side, has a secret)")
	f.StringVar(&c.Name, "name", "", "name shown on the consent page")
	f.StringArrayVar(&c.RedirectURIs, "redirect-uri", nil, "exact redirect URI (repeatable)")
	f.StringArrayVar(&c.GrantTypes, "grant", nil, "authorization_code, refresh_token, client_credentials or password (repeatable)")
	f.StringArrayVar(&c.Scopes, "scope", nil, "scope the client may be granted (repeatable)")
	f.BoolVar(&c.FirstParty, "first-party", false, "trusted app of the same operator: no consent page")
	f.StringArrayVar(&c.PostLogoutRedirectURIs, "post-logout-redirect-uri", nil, "exact URI allowed after end_session (repeatable)")
	f.StringVar(&backchannel, "backchannel-logout-uri", "", "URL that receives OIDC back-channel logout tokens")
	f.StringArrayVar(&c.Audience, "audience", nil, "aud of its access tokens (repeatable; default tokens.audience)")
	f.StringArrayVar(&c.Roles, "role", nil, "role of the client itself in client_credentials tokens (repeatable)")
	_ = cmd.MarkFlagRequired("type")
	return cmd
}

func clientListCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use: "list", Short: "List clients (config file and store)", Args: cobra.NoArgs,
		RunE: withApp(e, func(cmd *cobra.Command, a *app.App, _ []string) error {
			cs, err := a.Clients.List(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "CLIENT_ID\tTYPE\tGRANTS\tFIRST_PARTY\tSOURCE\tNAME")
			for _, c := range cs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%t\t%s\t%s\n", c.ID, c.Type, listText(c.GrantTypes), c.FirstParty, source(c), c.Name)
			}
			return tw.Flush()
		}),
	}
}

func clientShowCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use: "show ID", Short: "Show one client (never its secret)", Args: cobra.ExactArgs(1),
		RunE: withApp(e, func(cmd *cobra.Command, a *app.App, args []string) error {
			c, err := a.Clients.Lookup(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			for _, row := range [][2]string{
				{"client_id", c.ID}, {"name", c.Name}, {"type", c.Type}, {"source", source(c)},
				{"redirect_uris", listText(c.RedirectURIs)}, {"post_logout_redirect_uris", listText(c.PostLogoutRedirectURIs)},
				{"grant_types", listText(c.GrantTypes)}, {"scopes", listText(c.Scopes)},
				{"first_party", fmt.Sprint(c.FirstParty)}, {"backchannel_logout_uri", orDash(c.BackchannelLogoutURI)},
				{"audience", listText(c.Audience)}, {"roles", listText(c.Roles)}, {"has_secret", fmt.Sprint(c.SecretHash != "")},
			} {
				fmt.Fprintf(tw, "%s:\t%s\n", row[0], row[1])
			}
			if !c.CreatedAt.IsZero() {
				fmt.Fprintf(tw, "created:\t%s\n", c.CreatedAt.UTC().Format(time.RFC3339))
			}
			return tw.Flush()
		}),
	}
}

func clientDeleteCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use: "delete ID", Short: "Delete a stored client, its consents and codes, and revoke its tokens", Args: cobra.ExactArgs(1),
		RunE: withApp(e, func(cmd *cobra.Command, a *app.App, args []string) error {
			if err := a.Clients.Delete(cmd.Context(), args[0]); err != nil {
				return e.clientError(err, a, args[0])
			}
			fmt.Fprintf(e.stdout, "deleted client %s\n", args[0])
			return nil
		}),
	}
}

func clientSecretCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use: "secret ID", Short: "Rotate a confidential client's secret (the old one stops at once)", Args: cobra.ExactArgs(1),
		RunE: withApp(e, func(cmd *cobra.Command, a *app.App, args []string) error {
			secret, err := a.Clients.RotateSecret(cmd.Context(), args[0])
			if err != nil {
				return e.clientError(err, a, args[0])
			}
			fmt.Fprintf(e.stdout, "new client secret for %s (shown once, store it now): %s\n", args[0], secret)
			return nil
		}),
	}
}

// clientError puts the registry's refusal in the terms of the command
// line. A client the config file declares is changed there: a
// configuration error (exit 2) that names the file and the client's key.
// The password grant's refusal names the flag that marks a client
// first-party.
func (e *env) clientError(err error, a *app.App, id string) error {
	if errors.Is(err, client.ErrReadOnly) {
		path, _ := config.Resolve(e.configPath, e.getenv)
		key := "clients"
		if i := slices.IndexFunc(a.Config.Clients, func(c client.Client) bool { return c.ID == id }); i >= 0 {
			key = fmt.Sprintf("clients[%d]", i)
		}
		return usageError{reworded{fmt.Sprintf("client %q is declared in the config file %s (%s); change or remove it there", id, path, key), err}}
	}
	if !errors.Is(err, client.ErrPasswordGrantNotFirstParty) {
		return err
	}
	var problems []error
	for _, fe := range fieldErrors(err) {
		if errors.Is(fe, client.ErrPasswordGrantNotFirstParty) {
			fe = &client.FieldError{Field: fe.Field, Msg: fe.Msg + " (add --first-party, or drop --grant password)", Err: fe.Err}
		}
		problems = append(problems, fe)
	}
	return fmt.Errorf("add client: %w: %w", auth.ErrInvalidInput, errors.Join(problems...))
}

// reworded says err in other words and still wraps it.
type reworded struct {
	msg string
	err error
}

func (r reworded) Error() string { return r.msg }
func (r reworded) Unwrap() error { return r.err }

// fieldErrors returns the client.FieldErrors in err's tree, in order.
func fieldErrors(err error) []*client.FieldError {
	if fe, ok := err.(*client.FieldError); ok {
		return []*client.FieldError{fe}
	}
	var out []*client.FieldError
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			out = append(out, fieldErrors(e)...)
		}
	case interface{ Unwrap() error }:
		if next := u.Unwrap(); next != nil {
			out = fieldErrors(next)
		}
	}
	return out
}

func source(c client.Client) string {
	if c.FromConfig {
		return "config"
	}
	return "store"
}

func listText(l []string) string {
	if len(l) == 0 {
		return "-"
	}
	return strings.Join(l, " ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
