package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/user"
)

func userCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "Manage users"}
	cmd.AddCommand(userAddCmd(e), userListCmd(e), userPasswdCmd(e), userRolesCmd(e),
		userStateCmd(e, "disable", "Disable a user and end all their sessions and tokens", true),
		userStateCmd(e, "enable", "Enable a disabled user", false),
		userDeleteCmd(e), userSessionsCmd(e), userLogoutCmd(e), userMFACmd(e), userMFAResetCmd(e),
		userIdentitiesCmd(e), userLinkCmd(e), userUnlinkCmd(e))
	return cmd
}

// withApp opens the stores for one command and closes them after.
func withApp(e *env, fn func(cmd *cobra.Command, a *app.App, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		a, err := e.openApp(cmd.Context())
		if err != nil {
			return err
		}
		defer a.Close()
		return fn(cmd, a, args)
	}
}

func userAddCmd(e *env) *cobra.Command {
	var roles []string
	var fromStdin, noPassword bool
	cmd := &cobra.Command{
		Use:   "add NAME",
		Short: "Create a user (prompts for the password, or reads it with --password-stdin)",
		Args:  cobra.ExactArgs(1),
		PreRunE: func(*cobra.Command, []string) error {
			if noPassword {
				return nil
			}
			return e.canReadPassword(fromStdin)
		},
		RunE: withApp(e, func(cmd *cobra.Command, a *app.App, args []string) error {
			pw := ""
			if !noPassword {
				var err error
				if pw, err = e.readPassword(cmd.Context(), fromStdin); err != nil {
					return err
				}
			}
			u, err := a.Users.Create(cmd.Context(), args[0], pw, roles)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "created user %s (id %s, roles %s)\n", u.Username, u.ID, rolesText(u.Roles))
			return nil
		}),
	}
	cmd.Flags().StringArrayVar(&roles, "role", nil, "role to grant (repeatable)")
	cmd.Flags().BoolVar(&fromStdin, "password-stdin", false, "read the password from the first line of standard input")
	cmd.Flags().BoolVar(&noPassword, "no-password", false, "create a user who can only sign in through an OIDC provider")
	return cmd
}

// maxPasswordLine bounds the line --password-stdin reads, in bytes: far
// above the longest password accepted (1024 characters of up to 4 bytes,
// and a line end).
const maxPasswordLine = 64 << 10

// canReadPassword reports, before the store is opened (or created), a
// password that could not be read: without --password-stdin standard
// input must be a terminal to prompt at.
func (e *env) canReadPassword(fromStdin bool) error {
	if fromStdin {
		return nil
	}
	if f, ok := e.stdin.(*os.File); !ok || !term.IsTerminal(int(f.Fd())) {
		return usagef("standard input is not a terminal: pass the password with --password-stdin")
	}
	return nil
}

// readPassword reads a new password: the first line of stdin with
// --password-stdin, else twice without echo from the terminal. Ctrl-C at
// the prompt (ctx ends) is errInterrupted, the terminal's echo back on.
func (e *env) readPassword(ctx context.Context, fromStdin bool) (string, error) {
	if fromStdin {
		// At most maxPasswordLine bytes are read: a first line without an
		// end (cat /dev/zero) must not grow without bound in memory.
		line, err := bufio.NewReaderSize(io.LimitReader(e.stdin, maxPasswordLine+1), 4096).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("read password from stdin: %w", err)
		}
		if len(line) > maxPasswordLine {
			return "", usagef("--password-stdin: the first line of standard input is longer than %d bytes", maxPasswordLine)
		}
		pw := strings.TrimRight(line, "\r\n")
		if pw == "" {
			return "", usagef("--password-stdin: standard input is empty")
		}
		return pw, nil
	}
	if err := e.canReadPassword(false); err != nil {
		return "", err
	}
	f := e.stdin.(*os.File)
	read := func(prompt string) (string, error) {
		fmt.Fprint(e.stderr, prompt)
		b, err := readHidden(ctx, f)
		fmt.Fprintln(e.stderr)
		return string(b), err
	}
	pw, err := read("Password: ")
	if err != nil {
		return "", err
	}
	again, err := read("Repeat password: ")
	if err != nil {
		return "", err
	}
	if pw != again {
		return "", usagef("the two passwords differ")
	}
	if pw == "" {
		// As from --password-stdin: an empty answer is not "no password"
		// (user add --no-password says that).
		return "", usagef("the password is empty")
	}
	return pw, nil
}

func rolesText(roles []string) string {
	if len(roles) == 0 {
		return "-"
	}
	return strings.Join(roles, ",")
}

func userListCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use: "list", Short: "List users and their linked identities", Args: cobra.NoArgs,
		RunE: withApp(e, func(cmd *cobra.Command, a *app.App, _ []string) error {
			users, err := a.Users.List(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "USERNAME\tID\tROLES\tSTATUS\tCREATED\tIDENTITIES")
			for _, u := range users {
				status := "active"
				if u.Disabled {
					status = "disabled"
				}
				ids, err := a.Store.UserIdentities(cmd.Context(), u.ID)
				if err != nil {
					return err
				}
				var linked []string
				for _, id := range ids {
					linked = append(linked, lastCell(id.Provider+":"+firstNonEmpty(id.Email, id.Subject)))
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", u.Username, u.ID, rolesText(u.Roles), status,
					u.CreatedAt.UTC().Format(time.RFC3339), rolesText(linked))
			}
			return tw.Flush()
		}),
	}
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func userPasswdCmd(e *env) *cobra.Command {
	var fromStdin bool
	cmd := &cobra.Command{
		Use: "passwd NAME", Short: "Set a user's password (ends their sessions and tokens)", Args: cobra.ExactArgs(1),
		PreRunE: func(*cobra.Command, []string) error { return e.canReadPassword(fromStdin) },
		RunE: withApp(e, func(cmd *cobra.Command, a *app.App, args []string) error {
			pw, err := e.readPassword(cmd.Context(), fromStdin)
			if err != nil {
				return err
			}
			if err := a.Users.SetPassword(cmd.Context(), args[0], pw); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "password changed for %s; their sessions and tokens were ended\n", args[0])
			return nil
		}),
	}
	cmd.Flags().BoolVar(&fromStdin, "password-stdin", false, "read the password from the first line of standard input")
	return cmd
}

func userRolesCmd(e *env) *cobra.Command {
	var roles []string
	cmd := &cobra.Command{
		Use: "roles NAME --role R...", Short: "Replace a user's roles", Args: cobra.ExactArgs(1),
		RunE: withApp(e, func(cmd *cobra.Command, a *app.App, args []string) error {
			u, err := a.Users.SetRoles(cmd.Context(), args[0], roles)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "roles of %s: %s\n", u.Username, rolesText(u.Roles))
			return nil
		}),
	}
	cmd.Flags().StringArrayVar(&roles, "role", nil, "role (repeatable; none clears all roles)")
	return cmd
}

func userStateCmd(e *env, use, short string, disabled bool) *cobra.Command {
	return &cobra.Command{
		Use: use + " NAME", Short: short, Args: cobra.ExactArgs(1),
		RunE: withApp(e, func(cmd *cobra.Command, a *app.App, args []string) error {
			u, err := a.Users.SetDisabled(cmd.Context(), args[0], disabled)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%sd user %s\n", use, u.Username)
			return nil
		}),
	}
}

func userDeleteCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use: "delete NAME", Short: "Delete a user and all their credentials", Args: cobra.ExactArgs(1),
		RunE: withApp(e, func(cmd *cobra.Command, a *app.App, args []string) error {
			if err := a.Users.Delete(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "deleted user %s\n", args[0])
			return nil
		}),
	}
}

func userSessionsCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use: "sessions NAME", Short: "List a user's live sessions", Args: cobra.ExactArgs(1),
		RunE: withApp(e, func(cmd *cobra.Command, a *app.App, args []string) error {
			u, err := a.Users.Get(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			recs, err := a.Sessions.List(cmd.Context(), u.ID)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tCREATED\tLAST SEEN\tEXPIRES\tIP\tMETHOD\tUSER AGENT")
			for _, r := range recs {
				exp := r.ExpiresAt
				if r.IdleExpiresAt.Before(exp) {
					exp = r.IdleExpiresAt
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, ts(r.CreatedAt), ts(r.LastSeenAt), ts(exp), r.IP, r.Method, lastCell(r.UserAgent))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%d session(s)\n", len(recs))
			return nil
		}),
	}
}

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func userLogoutCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use: "logout NAME", Short: "End every session and refresh token of a user, on every instance", Args: cobra.ExactArgs(1),
		RunE: withApp(e, func(cmd *cobra.Command, a *app.App, args []string) error {
			u, err := a.Users.LogoutEverywhere(cmd.Context(), args[0], "cli")
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "logged out %s everywhere\n", u.Username)
			return nil
		}),
	}
}

func userIdentitiesCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use: "identities NAME", Short: "List the external sign-in accounts (OIDC, OAuth 2.0) linked to a user", Args: cobra.ExactArgs(1),
		RunE: withApp(e, func(cmd *cobra.Command, a *app.App, args []string) error {
			u, err := a.Users.Get(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			ids, err := a.Users.Identities(cmd.Context(), u.ID)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PROVIDER\tISSUER\tSUBJECT\tLINKED\tLAST LOGIN\tEMAIL")
			for _, id := range ids {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", cell(id.Provider), cell(id.Issuer), cell(id.Subject),
					ts(id.CreatedAt), lastLogin(id.LastLogin), lastCell(firstNonEmpty(id.Email, "-")))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%d linked account(s)\n", len(ids))
			return nil
		}),
	}
}

// lastLogin is when an account was last signed in through: "never" for
// one an administrator linked that has not signed in yet.
func lastLogin(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return ts(t)
}

// userLinkCmd links an account of a configured provider to a user. It
// takes the provider's name, not an issuer as unlink does: the issuer is
// the one the provider's logins record (a mistyped one would link an
// account nobody can sign in through), while unlink must also remove the
// links of providers no longer configured, which only the issuer names.
func userLinkCmd(e *env) *cobra.Command {
	var provider, subject string
	cmd := &cobra.Command{
		Use:   "link NAME --provider NAME --subject SUB",
		Short: "Link an external sign-in account (OIDC, OAuth 2.0) to a user, who can then sign in through it",
		Args:  cobra.ExactArgs(1),
		PreRunE: func(*cobra.Command, []string) error {
			if provider == "" || subject == "" {
				return usagef("--provider and --subject are required: a provider of oidc.providers and the account's sub, exactly as the provider sends it")
			}
			return nil
		},
		RunE: withApp(e, func(cmd *cobra.Command, a *app.App, args []string) error {
			u, id, linked, err := a.Users.LinkAccount(cmd.Context(), args[0], provider, subject, "cli")
			if err != nil {
				return err
			}
			if !linked {
				fmt.Fprintf(e.stdout, "%s account %s (issuer %s) is already linked to %s; nothing changed\n",
					cell(id.Provider), cell(id.Subject), cell(id.Issuer), u.Username)
				return nil
			}
			fmt.Fprintf(e.stdout, "linked %s account %s (issuer %s) to %s; their sessions and tokens are unchanged\n",
				cell(id.Provider), cell(id.Subject), cell(id.Issuer), u.Username)
			return nil
		}),
	}
	cmd.Flags().StringVar(&provider, "provider", "", "name of the login provider (oidc.providers[].name)")
	cmd.Flags().StringVar(&subject, "subject", "", "the account's subject (sub), exactly as the provider sends it")
	return cmd
}

func userUnlinkCmd(e *env) *cobra.Command {
	var issuer, subject string
	cmd := &cobra.Command{
		Use:   "unlink NAME --issuer URL --subject SUB",
		Short: "Unlink an external sign-in account from a user and end all their sessions and tokens",
		Args:  cobra.ExactArgs(1),
		PreRunE: func(*cobra.Command, []string) error {
			if issuer == "" || subject == "" {
				return usagef("--issuer and --subject are required: the linked account, as `gatehouse user identities NAME` lists it")
			}
			return nil
		},
		RunE: withApp(e, func(cmd *cobra.Command, a *app.App, args []string) error {
			u, err := a.Users.Unlink(cmd.Context(), args[0], issuer, subject, "cli")
			var nl *user.NotLinkedError
			if errors.As(err, &nl) {
				return fmt.Errorf("%w (gatehouse user identities %s lists them)", err, nl.Username)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "unlinked issuer %s subject %s from %s; their sessions and tokens were ended\n", cell(issuer), cell(subject), u.Username)
			return nil
		}),
	}
	cmd.Flags().StringVar(&issuer, "issuer", "", "issuer of the linked account (ISSUER of user identities)")
	cmd.Flags().StringVar(&subject, "subject", "", "subject of the linked account (SUBJECT of user identities)")
	return cmd
}
