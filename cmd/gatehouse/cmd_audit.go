package main

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/audit"
)

func auditCmd(e *env) *cobra.Command {
	var f audit.Filter
	var username, since, until string
	cmd := &cobra.Command{
		Use:   "audit [--user NAME|ID] [--type login.failed] [--since T] [--until T] [--limit 100]",
		Short: "Show the stored audit trail, newest first",
		Args:  cobra.NoArgs,
		RunE: withApp(e, func(cmd *cobra.Command, a *app.App, _ []string) error {
			if f.Limit < 1 {
				return usagef("--limit must be positive") // 0 would be the store's default, 100
			}
			if f.Type != "" && !audit.KnownType(f.Type) {
				return usagef("--type %s: not an event type (one of %s)", f.Type, strings.Join(audit.Types(), ", "))
			}
			for _, p := range []struct {
				flag, v string
				dst     *time.Time
			}{{"--since", since, &f.Since}, {"--until", until, &f.Until}} {
				if p.v == "" {
					continue
				}
				t, err := time.Parse(time.RFC3339, p.v)
				if err != nil {
					return usagef("%s must be an RFC 3339 time such as 2026-01-02T15:04:05Z", p.flag)
				}
				*p.dst = t
			}
			if err := f.CheckRange(); err != nil {
				return usagef("--since must be before --until (--since is inclusive, --until exclusive): %v", err)
			}
			if username != "" {
				// A name or an ID, as GET /admin/api/v1/audit?user= takes:
				// a deleted user's events are found by its ID.
				id, err := a.Users.IDOf(cmd.Context(), username)
				if err != nil {
					return err
				}
				f.UserID = id
			}
			events, err := a.Store.ListAudit(cmd.Context(), f)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TIME\tEVENT\tUSER\tIP\tDETAILS")
			for _, ev := range events {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", ts(ev.Time), ev.Type, cell(firstNonEmpty(ev.Username, ev.UserID, "-")),
					cell(firstNonEmpty(ev.IP, "-")), details(ev.Details))
			}
			return tw.Flush()
		}),
	}
	cmd.Flags().StringVar(&username, "user", "", "only events of this user (a username, or a user ID: a deleted user's events are found by its ID)")
	cmd.Flags().StringVar(&f.Type, "type", "", "only events of this type (login.ok, login.failed, token.refresh_reuse, …)")
	cmd.Flags().StringVar(&since, "since", "", "only events at or after this time (RFC 3339)")
	cmd.Flags().StringVar(&until, "until", "", "only events before this time (RFC 3339)")
	cmd.Flags().IntVar(&f.Limit, "limit", 100, "at most this many events")
	return cmd
}

func details(d map[string]string) string {
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+cell(d[k]))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

// cell is a value as the table shows it (audit.Field): a client-chosen
// one — the name of a refused login, a provider's error code — cannot add
// a forged row or column, or drive the operator's terminal.
func cell(s string) string { return audit.Field(s) }

// lastCell is a value in a table's last column, where a space or '='
// splits nothing: in Go quotes only when it holds anything not graphic.
// Clients choose some of these too (a session's User-Agent, an identity
// provider's email and subject).
func lastCell(s string) string {
	for _, r := range s {
		if !unicode.IsGraphic(r) {
			return strconv.Quote(s)
		}
	}
	return s
}
