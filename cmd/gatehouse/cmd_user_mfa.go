package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/gatehouse-auth/gatehouse/internal/app"
)

func userMFACmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use: "mfa NAME", Short: "List a user's second factors", Args: cobra.ExactArgs(1),
		RunE: withApp(e, func(cmd *cobra.Command, a *app.App, args []string) error {
			u, err := a.Users.Get(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			f, err := a.MFA.Factors(cmd.Context(), u.ID)
			if err != nil {
				return err
			}
			totp := "off"
			switch {
			case f.TOTP:
				totp = "on since " + f.TOTPCreatedAt.UTC().Format("2006-01-02 15:04 MST")
			case f.TOTPPending:
				totp = "enrolment not confirmed"
			}
			fmt.Fprintf(e.stdout, "%s\ntotp:           %s\nrecovery codes: %d left\n", u.Username, totp, f.RecoveryLeft)
			return nil
		}),
	}
}

func userMFAResetCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "mfa-reset NAME",
		Short: "Remove every second factor of a user and sign them out everywhere (locked-out or compromised user); audited",
		Args:  cobra.ExactArgs(1),
		RunE: withApp(e, func(cmd *cobra.Command, a *app.App, args []string) error {
			u, err := a.Users.ResetSecondFactors(cmd.Context(), args[0], "cli")
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "removed every second factor of %s and ended their sessions and tokens; they sign in with their password and enrol again\n", u.Username)
			return nil
		}),
	}
}
