package main

import (
	"encoding/json"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gatehouse-auth/gatehouse/internal/admin"
	"github.com/gatehouse-auth/gatehouse/internal/app"
)

// explainCmd prints the gateway's decision about a described request: the
// same JSON as POST /admin/api/v1/explain, computed by the same
// gateway.Explain over the configured routes and stores.
func explainCmd(e *env) *cobra.Command {
	var in admin.ExplainRequest
	var cookie, tok string
	var headers []string
	cmd := &cobra.Command{
		Use:   "explain --method M --url U [--cookie C | --token T] [--header 'Name: value']...",
		Short: "Explain the gateway's decision about a request (route, policy, credential checks, reason)",
		Args:  cobra.NoArgs,
		RunE: withApp(e, func(cmd *cobra.Command, a *app.App, _ []string) error {
			if cookie != "" && tok != "" {
				return usagef("--cookie and --token exclude each other")
			}
			// "-" reads the value from standard input, as token verify -
			// does: it stays out of shell history.
			for _, f := range []struct {
				name string
				v    *string
			}{{"--cookie", &cookie}, {"--token", &tok}} {
				if *f.v == "-" {
					var err error
					if *f.v, err = e.readSecret(f.name); err != nil {
						return err
					}
				}
			}
			in.Headers = map[string]string{}
			for i, h := range headers {
				k, v, ok := strings.Cut(h, ":")
				if !ok || strings.TrimSpace(k) == "" {
					// Not repeated: "Authorization Bearer …" without its
					// colon holds a credential.
					return usagef("--header number %d must look like 'Name: value'", i+1)
				}
				in.Headers[strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
			if cookie != "" {
				in.Headers["Cookie"] = a.Sessions.CookieName() + "=" + cookie
			}
			if tok != "" {
				in.Headers["Authorization"] = "Bearer " + tok
			}
			req, err := in.Request(cmd.Context())
			if err != nil {
				return usagef("%v", err)
			}
			enc := json.NewEncoder(e.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(a.Explain(req))
		}),
	}
	cmd.Flags().StringVar(&in.Method, "method", "GET", "request method")
	cmd.Flags().StringVar(&in.URL, "url", "", "request-target: a path (with query) or an absolute URL; the host judged is its host, else --header 'Host: …'")
	cmd.Flags().StringVar(&cookie, "cookie", "", "session cookie value (- reads it from standard input)")
	cmd.Flags().StringVar(&tok, "token", "", "bearer access token (- reads it from standard input)")
	cmd.Flags().StringArrayVar(&headers, "header", nil, "extra request header (repeatable)")
	_ = cmd.MarkFlagRequired("url")
	return cmd
}
