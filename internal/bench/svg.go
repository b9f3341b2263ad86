package bench

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"slices"
)

// Chart geometry, in SVG user units.
const (
	svgWidth   = 980
	svgLabelW  = 210 // mode names
	svgPanelW  = 330 // each of the two bar panels
	svgGap     = 50
	svgTop     = 78 // first bar row
	svgRowH    = 26
	svgBarH    = 16
	svgBottomM = 56
)

// WriteSVG draws two horizontal bar charts side by side: requests/s as a
// ratio to bare-proxy, and p99 latency, one row per mode. It is plain SVG
// text written with the standard library; every piece of text is
// XML-escaped.
func (r *Report) WriteSVG(w io.Writer) error {
	var b bytes.Buffer
	height := svgTop + svgRowH*len(r.Modes) + svgBottomM
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?>`+"\n")
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		svgWidth, height, svgWidth, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="#ffffff"/>`+"\n")
	text(&b, 10, 22, "start", "bold", "gatehouse bench: requests/s relative to a bare reverse proxy, and p99 latency")
	text(&b, 10, 40, "start", "", fmt.Sprintf("%s, %d cores, %s, gatehouse %s, %s",
		r.Machine.CPUModel, r.Machine.Cores, r.Machine.GoVersion, r.Machine.Version, r.Machine.Date.Format("2006-01-02")))

	ratioX := svgLabelW
	p99X := svgLabelW + svgPanelW + svgGap
	maxRatio, maxP99 := r.scales()
	text(&b, ratioX, svgTop-12, "start", "bold", "req/s ÷ bare-proxy (higher is better)")
	text(&b, p99X, svgTop-12, "start", "bold", "p99 latency, ms (lower is better)")
	axis(&b, ratioX, len(r.Modes), []float64{1.0, 0.9}, maxRatio, "%.2f")
	axis(&b, p99X, len(r.Modes), nil, maxP99, "%.1f")

	for i, m := range r.Modes {
		y := svgTop + i*svgRowH
		text(&b, svgLabelW-8, y+svgBarH-3, "end", "", m.Name)
		if !m.Ran() {
			text(&b, ratioX+4, y+svgBarH-3, "start", "italic", "skipped: "+m.Skipped)
			continue
		}
		fill := map[string]string{KindBaseline: "#888888", KindSession: "#3b7dd8", KindToken: "#e08a1e"}[m.Kind]
		if m.Flagged() {
			fill = "#d62728"
		}
		bar(&b, ratioX, y, m.Ratio/maxRatio, fill, fmt.Sprintf("%.2f×", m.Ratio))
		bar(&b, p99X, y, m.P99Ms/maxP99, fill, ms(m.P99Ms))
	}
	legendY := svgTop + svgRowH*len(r.Modes) + 28
	x := 10
	for _, l := range []struct{ fill, label string }{
		{"#888888", "baseline"}, {"#3b7dd8", "session"}, {"#e08a1e", "token"}, {"#d62728", "mode with errors"},
	} {
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="12" height="12" fill="%s"/>`+"\n", x, legendY-10, l.fill)
		text(&b, x+16, legendY, "start", "", l.label)
		x += 130
	}
	text(&b, x, legendY, "start", "", "dashed lines: 0.90× and 1.00× of bare-proxy")
	b.WriteString("</svg>\n")
	_, err := w.Write(b.Bytes())
	return err
}

// scales returns the full-width values of the two panels.
func (r *Report) scales() (maxRatio, maxP99 float64) {
	maxRatio, maxP99 = 1.0, 0.1
	for _, m := range r.Modes {
		if m.Ran() {
			maxRatio = math.Max(maxRatio, m.Ratio)
			maxP99 = math.Max(maxP99, m.P99Ms)
		}
	}
	return math.Ceil(maxRatio*4) / 4, maxP99 * 1.1
}

// axis draws a panel's baseline, its end value and vertical guides at marks.
func axis(b *bytes.Buffer, x0, rows int, marks []float64, full float64, format string) {
	y0, y1 := svgTop-4, svgTop+rows*svgRowH
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#444444"/>`+"\n", x0, y0, x0, y1)
	text(b, x0, y1+14, "middle", "", "0")
	labelled := []int{x0, x0 + svgPanelW}
	for _, v := range marks {
		x := x0 + int(v/full*svgPanelW)
		fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#999999" stroke-dasharray="4 3"/>`+"\n", x, y0, x, y1)
		// Marks come most important first; a label that would overlap an
		// earlier one is left out.
		if !slices.ContainsFunc(labelled, func(l int) bool { return abs(x-l) < 36 }) {
			text(b, x, y1+14, "middle", "", fmt.Sprintf(format, v))
			labelled = append(labelled, x)
		}
	}
	text(b, x0+svgPanelW, y1+14, "end", "", fmt.Sprintf(format, full))
}

// bar draws one bar of relative length frac (0..1) with its value label.
func bar(b *bytes.Buffer, x0, y int, frac float64, fill, label string) {
	w := int(math.Round(math.Max(0, math.Min(frac, 1)) * svgPanelW))
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s"/>`+"\n", x0, y, max(w, 1), svgBarH, fill)
	text(b, x0+w+4, y+svgBarH-3, "start", "", label)
}

// text writes one escaped <text> element. style is "", "bold" or "italic".
func text(b *bytes.Buffer, x, y int, anchor, style, s string) {
	attr := ""
	switch style {
	case "bold":
		attr = ` font-weight="bold"`
	case "italic":
		attr = ` font-style="italic"`
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="%s"%s>`, x, y, anchor, attr)
	_ = xml.EscapeText(b, []byte(s)) // writes to a bytes.Buffer, which cannot fail
	b.WriteString("</text>\n")
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
