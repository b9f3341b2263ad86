package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
)

// Report is the outcome of one Run. It is written as Markdown (for
// people), JSON (for tools) and SVG (a chart).
type Report struct {
	Machine  Machine         `json:"machine"`
	Settings Settings        `json:"settings"`
	Modes    []ModeResult    `json:"modes"`
	Memory   []SessionMemory `json:"session_memory"`
	Notes    []string        `json:"notes"`
	// Interrupted says why the report is partial ("interrupted after 2 of
	// 10 rounds"); "" for a complete run.
	Interrupted string `json:"interrupted,omitempty"`
}

// Settings are the parameters a report was measured with.
type Settings struct {
	DurationSeconds float64 `json:"duration_s"`
	WarmupSeconds   float64 `json:"warmup_s"`
	Rounds          int     `json:"rounds"`
	Concurrency     int     `json:"concurrency"`
	MaxRequests     int64   `json:"max_requests"`
	Sessions        int     `json:"sessions"`
	AccessTTL       string  `json:"access_ttl"`
	LogLevel        string  `json:"log_level"`
	NoiseThreshold  float64 `json:"noise_threshold"`
}

// Kinds of mode.
const (
	KindBaseline = "baseline"
	KindNone     = "none" // a gatehouse route without authentication
	KindSession  = "session"
	KindToken    = "token"
)

// ModeResult is one mode's measurement, or why it was skipped.
type ModeResult struct {
	Name        string `json:"name"`
	Kind        string `json:"kind"`
	Description string `json:"description"`
	// Skipped is the reason the mode did not run; "" when it ran.
	Skipped    string  `json:"skipped,omitempty"`
	Requests   int64   `json:"requests"`
	Errors     int64   `json:"errors"`
	FirstError string  `json:"first_error,omitempty"`
	RPS        float64 `json:"requests_per_second"`
	P50Ms      float64 `json:"p50_ms"`
	P99Ms      float64 `json:"p99_ms"`
	// Ratio is RPS divided by bare-proxy's RPS in the same run.
	Ratio float64 `json:"ratio_to_bare"`
	// CPUMicros is the CPU time (user+system) of the process serving the
	// mode per request; 0 where it cannot be read (no /proc).
	CPUMicros float64 `json:"cpu_us_per_request"`
	// CPUEfficiency is bare-proxy's CPUMicros divided by this mode's, from
	// the same interleaved rounds (1 = as cheap as the bare proxy).
	CPUEfficiency float64 `json:"cpu_efficiency"`
	// CPUEfficiencyInterval is the 95 % interval of CPUEfficiency (low,
	// high) from a bootstrap over the paired rounds (efficiencyInterval);
	// absent when the rounds do not allow one.
	CPUEfficiencyInterval []float64 `json:"cpu_efficiency_interval,omitempty"`
	// CredentialOf is set on a same-request reference (bare-proxy-cookie,
	// bare-proxy-token): the mode whose credential it was sent.
	CredentialOf string `json:"credential_of,omitempty"`
	// SameRequestReference and SameRequestEfficiency are set on session and
	// token modes when the reference of their kind ran: its CPU/req divided
	// by this mode's, so 1 = as cheap as a bare proxy sent the same
	// credential.
	SameRequestReference  string    `json:"same_request_reference,omitempty"`
	SameRequestEfficiency float64   `json:"cpu_efficiency_same_request,omitempty"`
	SameRequestInterval   []float64 `json:"cpu_efficiency_same_request_interval,omitempty"`
	// RoundRPS and RoundCPUMicros are the figures of each measured round.
	RoundRPS       []float64 `json:"round_rps,omitempty"`
	RoundCPUMicros []float64 `json:"round_cpu_us_per_request,omitempty"`
	// Spread is the larger of (max − min) ÷ median over the rounds' req/s
	// and CPU/req; Noisy is true when it exceeds the noise threshold.
	Spread float64 `json:"rounds_spread"`
	Noisy  bool    `json:"noisy"`
	// CredentialBytes is the length of the header line carrying the
	// credential ("Cookie: …\r\n" or "Authorization: Bearer …\r\n").
	CredentialBytes  int         `json:"credential_bytes"`
	CredentialHeader string      `json:"credential_header,omitempty"`
	Revocation       *Revocation `json:"revocation,omitempty"`
}

// Ran reports whether the mode was measured.
func (m ModeResult) Ran() bool { return m.Skipped == "" }

// Flagged reports whether some requests failed, which makes the mode's
// figures suspect.
func (m ModeResult) Flagged() bool { return m.Errors > 0 }

// Revocation is how long a revoked credential kept working at the gateway.
type Revocation struct {
	Action string `json:"action"`
	// Observed is true once the gateway answered 401 to the credential.
	Observed  bool    `json:"observed"`
	LatencyMs float64 `json:"latency_ms"`
	// Requests is how many gateway requests it took to see the 401; 1
	// means the very next request.
	Requests int `json:"requests_until_401"`
}

// SessionMemory is the server-side cost of one active session in a store.
type SessionMemory struct {
	Store           string  `json:"store"`
	Sessions        int     `json:"sessions"`
	BytesPerSession float64 `json:"bytes_per_session"`
	Method          string  `json:"method"`
	Skipped         string  `json:"skipped,omitempty"`
}

// Mode returns the result named name, if present.
func (r *Report) Mode(name string) (ModeResult, bool) {
	for _, m := range r.Modes {
		if m.Name == name {
			return m, true
		}
	}
	return ModeResult{}, false
}

// WriteFiles writes base+".md", base+".json" and base+".svg".
func (r *Report) WriteFiles(base string) error {
	for ext, write := range map[string]func(io.Writer) error{
		".md": r.WriteMarkdown, ".json": r.WriteJSON, ".svg": r.WriteSVG,
	} {
		if err := writeFile(base+ext, write); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("write report %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write report %s: %w", path, err)
	}
	return nil
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteMarkdown writes the report: machine, per-mode table, the
// comparison with a bare proxy sent the same credential, memory,
// revocation, and the sessions-versus-tokens comparison table.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	r.mdHeader(&b)
	r.mdModes(&b)
	r.mdSameRequest(&b)
	r.mdMemory(&b)
	r.mdRevocation(&b)
	r.mdComparison(&b)
	if len(r.Notes) > 0 {
		b.WriteString("\n### Notes\n\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (r *Report) mdHeader(b *strings.Builder) {
	m, s := r.Machine, r.Settings
	fmt.Fprintf(b, "## gatehouse bench: sessions vs tokens\n\n")
	if r.Interrupted != "" {
		fmt.Fprintf(b, "**Partial report: %s.**\n\n", r.Interrupted)
	}
	fmt.Fprintf(b, "- Machine: %s, %d cores, %s/%s\n", m.CPUModel, m.Cores, m.GOOS, m.GOARCH)
	fmt.Fprintf(b, "- Software: gatehouse %s, %s\n", m.Version, m.GoVersion)
	fmt.Fprintf(b, "- Date: %s\n", m.Date.Format(time.RFC3339))
	fmt.Fprintf(b, "- Load: %s per mode in %d interleaved rounds, after %s of warm-up; %d keep-alive connections; "+
		"at most %s requests per mode; GET through the gateway to an upstream that answers 200 \"ok\"\n",
		secs(s.DurationSeconds), s.Rounds, secs(s.WarmupSeconds), s.Concurrency, thousands(float64(s.MaxRequests)))
	fmt.Fprintf(b, "- Processes: the load generator, the upstream, each bare proxy and each gatehouse (log.level %s) "+
		"in a process of its own; rounds whose figures spread more than %.0f%% are flagged noisy\n",
		s.LogLevel, 100*s.NoiseThreshold)
}

func (r *Report) mdModes(b *strings.Builder) {
	b.WriteString("\n### Per mode\n\n")
	b.WriteString("| mode | what | req/s | × bare | p50 | p99 | CPU/req | CPU/req over bare | CPU efficiency [95 % interval] " +
		"| credential on the wire | errors | rounds |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	bare, _ := r.ran(ModeBare)
	for _, m := range r.Modes {
		if !m.Ran() {
			fmt.Fprintf(b, "| %s | %s | skipped: %s | | | | | | | | | |\n", m.Name, mdCell(m.Description), mdCell(m.Skipped))
			continue
		}
		errs := strconv.FormatInt(m.Errors, 10)
		if m.Flagged() {
			errs = fmt.Sprintf("**%d ⚠** (%s)", m.Errors, mdCell(m.FirstError))
		}
		fmt.Fprintf(b, "| %s | %s | %s | %.2f× | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			m.Name, mdCell(m.Description), thousands(m.RPS), m.Ratio, ms(m.P50Ms), ms(m.P99Ms),
			micros(m.CPUMicros), overBare(m, bare), efficiency(m), credentialText(m), errs, roundsText(m))
	}
}

// efficiency is bare-proxy's CPU per request divided by m's, with its 95 %
// interval when there is one, or n/a.
func efficiency(m ModeResult) string {
	return WithInterval(m.CPUEfficiency, m.CPUEfficiencyInterval)
}

// WithInterval is an efficiency, followed by its interval in brackets when
// there is one: "0.93 [0.88–0.98]" (the reports' and
// scripts/bench-gateway.sh's one spelling).
func WithInterval(v float64, interval []float64) string {
	if v <= 0 {
		return "n/a"
	}
	if len(interval) != 2 {
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.2f [%.2f–%.2f]", v, interval[0], interval[1])
}

// roundsText is the number of rounds and their spread, flagged when noisy.
func roundsText(m ModeResult) string {
	n := len(m.RoundRPS)
	if n < 2 {
		return strconv.Itoa(n)
	}
	if m.Noisy {
		return fmt.Sprintf("%d, **spread %.0f%%: noisy ⚠**", n, 100*m.Spread)
	}
	return fmt.Sprintf("%d, spread %.0f%%", n, 100*m.Spread)
}

func (r *Report) mdMemory(b *strings.Builder) {
	b.WriteString("\n### Server memory per active session\n\n")
	b.WriteString("| store | sessions created | bytes per session | measured as |\n|---|--:|--:|---|\n")
	for _, m := range r.Memory {
		if m.Skipped != "" {
			fmt.Fprintf(b, "| %s | | skipped: %s | %s |\n", m.Store, mdCell(m.Skipped), mdCell(m.Method))
			continue
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s |\n", m.Store, thousands(float64(m.Sessions)),
			thousands(m.BytesPerSession), mdCell(m.Method))
	}
}

func (r *Report) mdRevocation(b *strings.Builder) {
	b.WriteString("\n### Revocation latency (one instance)\n\n")
	b.WriteString("| mode | action | until the gateway answers 401 |\n|---|---|---|\n")
	for _, m := range r.Modes {
		if m.Revocation == nil {
			continue
		}
		fmt.Fprintf(b, "| %s | %s | %s |\n", m.Name, m.Revocation.Action, revocationText(m.Revocation))
	}
	fmt.Fprintf(b, "| any token mode, no deny-list | none possible | until expiry: up to access_ttl (%s) + leeway; stated, not waited for |\n",
		r.Settings.AccessTTL)
}

func revocationText(rv *Revocation) string {
	if !rv.Observed {
		return fmt.Sprintf("**still accepted after %d requests ⚠**", rv.Requests)
	}
	next := "the next request"
	if rv.Requests > 1 {
		next = fmt.Sprintf("request %d", rv.Requests)
	}
	return fmt.Sprintf("%s (%s)", ms(rv.LatencyMs), next)
}

// overBare is m's CPU per request minus the baseline's: the generator's
// and the upstream's shares cancel out, gatehouse's own work remains.
func overBare(m, bare ModeResult) string {
	if m.Name == ModeBare || m.CPUMicros <= 0 || bare.CPUMicros <= 0 {
		return ""
	}
	// Rounded first: a difference under half a µs either way is "+0 µs",
	// not "-0 µs" (Sprintf keeps the sign of a negative that rounds to 0).
	d := math.Round(m.CPUMicros - bare.CPUMicros)
	if d == 0 {
		d = 0 // -0 becomes +0
	}
	return fmt.Sprintf("%+.0f µs", d)
}

func credentialText(m ModeResult) string {
	if m.CredentialHeader == "" {
		return "none"
	}
	return fmt.Sprintf("%d B (%s)", m.CredentialBytes, m.CredentialHeader)
}

// mdCell keeps text from breaking a Markdown table row.
func mdCell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "\r", " ").Replace(s)
}

// thousands formats v rounded to an integer with comma separators.
func thousands(v float64) string {
	s := strconv.FormatInt(int64(v+0.5), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

func ms(v float64) string {
	switch {
	case v < 0.1:
		return fmt.Sprintf("%.3f ms", v)
	case v < 10:
		return fmt.Sprintf("%.2f ms", v)
	default:
		return fmt.Sprintf("%.1f ms", v)
	}
}

func micros(v float64) string {
	if v <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.0f µs", v)
}

func secs(v float64) string { return (time.Duration(v * float64(time.Second))).String() }
