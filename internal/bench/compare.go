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
		return fmt.Sprintf("%d B per request (%s header line).", m.CredentialBytes, m.CredentialHeader) +
			r.carryCost(ModeBareCookie)
	}
	return "not measured"
}

// carryCost is a sentence on what the credential of the same-request
// reference ref costs a proxy that only forwards it, or "" when ref did not
// run.
func (r *Report) carryCost(ref string) string {
	m, ok := r.ran(ref)
	bare, bareOK := r.ran(ModeBare)
	if !ok || !bareOK || m.CPUMicros <= 0 || bare.CPUMicros <= 0 {
		return ""
	}
	return fmt.Sprintf(" Receiving and forwarding it unchecked costs a bare proxy %s CPU per request (%s vs bare-proxy).",
		overBare(m, bare), ref)
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
	return strings.Join(parts, ", ") + " per request (Authorization: Bearer header line)." + r.carryCost(ModeBareToken)
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

// sameRequestReference names the mode that carries the credential of
// modes of kind (allModes says which), or "" for kinds that send none.
func sameRequestReference(kind string) string {
	for _, m := range allModes() {
		if m.carries == kind && kind != "" {
			return m.name
		}
	}
	return ""
}

// compareSameRequest sets, on every session and token row whose kind's
// reference ran, the CPU efficiency against that reference.
func (r *Report) compareSameRequest() {
	for i, m := range r.Modes {
		ref, ok := r.ran(sameRequestReference(m.Kind))
		if !ok || !m.Ran() || ref.CPUMicros <= 0 || m.CPUMicros <= 0 {
			continue
		}
		r.Modes[i].SameRequestReference = ref.Name
		r.Modes[i].SameRequestEfficiency = ref.CPUMicros / m.CPUMicros
		r.Modes[i].SameRequestInterval = efficiencyInterval(ref, m)
	}
}

// mdSameRequest writes the comparison with a bare proxy sent the same
// credential: what carrying it costs any proxy, and what gatehouse adds
// by checking it and sending the identity headers.
func (r *Report) mdSameRequest(b *strings.Builder) {
	bare, ok := r.ran(ModeBare)
	var refs []string
	for _, name := range []string{ModeBareCookie, ModeBareToken} {
		if ref, ran := r.ran(name); ran && ok && ref.CPUMicros > 0 {
			what := "bearer token"
			if ref.CredentialHeader == "Cookie" {
				what = "cookie"
			}
			refs = append(refs, fmt.Sprintf("%s (%s's %s, %d B) %s CPU/req, %s over bare-proxy", name, ref.CredentialOf,
				what, ref.CredentialBytes, micros(ref.CPUMicros), overBare(ref, bare)))
		}
	}
	if len(refs) == 0 {
		return
	}
	b.WriteString("\n### Against a bare proxy sent the same credential\n\n")
	b.WriteString("A bare proxy sent a credential it does not check still reads the header and forwards it " +
		"upstream. What that costs it here: " + strings.Join(refs, "; ") + ". Against these references, what " +
		"gatehouse adds by checking the credential and sending the identity headers:\n\n")
	b.WriteString("| mode | credential on the wire | CPU/req | reference | its CPU/req | CPU efficiency against it [95 % interval] |\n" +
		"|---|--:|--:|---|--:|--:|\n")
	for _, m := range r.Modes {
		if m.SameRequestReference == "" {
			continue
		}
		ref, _ := r.ran(m.SameRequestReference)
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s |\n", m.Name, credentialText(m), micros(m.CPUMicros),
			ref.Name, micros(ref.CPUMicros), WithInterval(m.SameRequestEfficiency, m.SameRequestInterval))
	}
}
