package bench

import (
	"fmt"
	"strings"
)

// mdComparison writes the classic sessions-versus-tokens table with this
// run's figures in place of adjectives.
func (r *Report) mdComparison(b *strings.Builder) {
	b.WriteString("\n### Sessions vs tokens, with this machine's numbers\n\n")
	b.WriteString("| | sessions (cookie + server-side record) | tokens (signed JWT access token) |\n|---|---|---|\n")
	rows := []struct{ name, sessions, tokens string }{
		{"storage location", r.storageSessions(), "Client: the JWT carries the identity. The server keeps only signing keys, " +
			"refresh tokens (hashed, for renewal) and deny-list entries for revoked tokens until they expire."},
		{"scalability", r.scaleSessions(), r.scaleTokens()},
		{"security / revocation", r.revokeSessions(), r.revokeTokens()},
		{"maintenance", "A store to run, back up and purge of expired sessions; for several instances a shared " +
			"store (Redis) that is on the request path unless cached.",
			"Key rotation and JWKS publishing, refresh-token families with reuse detection, clock leeway, and a " +
				"deny-list (shared state again) if revocation must be faster than access_ttl."},
		{"size on the wire", r.wireSessions(), r.wireTokens()},
		{"CPU per request", r.cpuList("session-sqlite", "session-sqlite-nocache", "session-memory", "session-redis"),
			r.cpuList("token-HS256", "token-ES256", "token-ES256-nocache", "token-RS256", "token-RS256-nocache", "token-EdDSA")},
	}
	for _, row := range rows {
		fmt.Fprintf(b, "| %s | %s | %s |\n", row.name, mdCell(row.sessions), mdCell(row.tokens))
	}
	if bare, ok := r.ran("bare-proxy"); ok {
		fmt.Fprintf(b, "\nBaseline (bare-proxy, no authentication): %s req/s, p99 %s, %s CPU per request.",
			thousands(bare.RPS), ms(bare.P99Ms), micros(bare.CPUMicros))
		if none, ok := r.ran("none"); ok {
			fmt.Fprintf(b, " A gatehouse route with auth: none: %s req/s (%.2f× bare), CPU efficiency %s.",
				thousands(none.RPS), none.Ratio, efficiency(none))
		}
		b.WriteString("\n")
	}
}

// ran returns the mode named name when it was measured.
func (r *Report) ran(name string) (ModeResult, bool) {
	m, ok := r.Mode(name)
	return m, ok && m.Ran()
}

func (r *Report) storageSessions() string {
	var parts []string
	for _, m := range r.Memory {
		if m.Skipped == "" {
			parts = append(parts, fmt.Sprintf("%s ≈ %s B", m.Store, thousands(m.BytesPerSession)))
		}
	}
	s := "Server: one record per active session in the store; the client holds only a random 256-bit ID."
	if len(parts) > 0 {
		s += " Measured per session: " + strings.Join(parts, ", ") + "."
	}
	return s
}

// rps describes a mode's throughput, or says it was not measured.
func (r *Report) rps(name string) string {
	m, ok := r.ran(name)
	if !ok {
		return name + " not measured"
	}
	return fmt.Sprintf("%s %s req/s (%.2f× bare, CPU efficiency %s)", name, thousands(m.RPS), m.Ratio, efficiency(m))
}

func (r *Report) scaleSessions() string {
	return "Every request needs the session store unless the instance's short local cache answers: " +
		strings.Join([]string{r.rps("session-sqlite-nocache"), r.rps("session-sqlite"), r.rps("session-redis"),
			r.rps("session-memory")}, "; ") +
		". Several instances must share the store (Redis)."
}

func (r *Report) scaleTokens() string {
	return "Any instance verifies with the public key alone; nothing shared on the request path: " +
		strings.Join([]string{r.rps("token-ES256-nocache"), r.rps("token-ES256"), r.rps("token-RS256-nocache"),
			r.rps("token-HS256")}, "; ") + "."
}

func (r *Report) revokeSessions() string {
	for _, name := range []string{"session-sqlite", "session-memory", "session-redis"} {
		if m, ok := r.ran(name); ok && m.Revocation != nil {
			return fmt.Sprintf("Logout or revocation takes effect at once: %s (%s).", revocationText(m.Revocation), name)
		}
	}
	return "Logout takes effect at once (not measured in this run)."
}

func (r *Report) revokeTokens() string {
	s := fmt.Sprintf("Without a deny-list a stolen access token works until it expires (access_ttl %s).", r.Settings.AccessTTL)
	for _, name := range []string{"token-ES256", "token-HS256", "token-EdDSA", "token-RS256"} {
		if m, ok := r.ran(name); ok && m.Revocation != nil {
			s += fmt.Sprintf(" With gatehouse's jti/sid deny-list: %s (%s), paid for with shared state.", revocationText(m.Revocation), name)
			break
		}
	}
	return s
}

func (r *Report) wireSessions() string {
	if m, ok := r.ran("session-sqlite"); ok {
		return fmt.Sprintf("%d B per request (%s header line).", m.CredentialBytes, m.CredentialHeader)
	}
	return "not measured"
}

func (r *Report) wireTokens() string {
	var parts []string
	for _, name := range []string{"token-HS256", "token-ES256", "token-EdDSA", "token-RS256"} {
		if m, ok := r.ran(name); ok {
			parts = append(parts, fmt.Sprintf("%s %d B", strings.TrimPrefix(name, "token-"), m.CredentialBytes))
		}
	}
	if len(parts) == 0 {
		return "not measured"
	}
	return strings.Join(parts, ", ") + " per request (Authorization: Bearer header line)."
}

func (r *Report) cpuList(names ...string) string {
	var parts []string
	for _, name := range names {
		if m, ok := r.ran(name); ok {
			parts = append(parts, fmt.Sprintf("%s %s", name, micros(m.CPUMicros)))
		}
	}
	if len(parts) == 0 {
		return "not measured"
	}
	return strings.Join(parts, "; ") + " (CPU time of the gatehouse process)."
}
