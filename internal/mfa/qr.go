package mfa

import (
	"fmt"
	"strings"

	"github.com/boombuler/barcode/qr"
)

// QRSVG renders text as a QR code in inline SVG: one <rect> per dark
// module, a four-module quiet zone, no script or external reference, so it
// is safe inside a page under gatehouse's CSP. The QR encoder is the one
// pquerna/otp already depends on.
func QRSVG(text string) (string, error) {
	code, err := qr.Encode(text, qr.M, qr.Auto)
	if err != nil {
		return "", fmt.Errorf("qr code: %w", err)
	}
	n := code.Bounds().Dx()
	const quiet = 4
	size := n + 2*quiet
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" shape-rendering="crispEdges" role="img" aria-label="QR code">`, size, size, size*5, size*5)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#fff"/>`, size, size)
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			r, _, _, _ := code.At(x, y).RGBA()
			if r == 0 {
				fmt.Fprintf(&b, `<rect x="%d" y="%d" width="1" height="1"/>`, x+quiet, y+quiet)
			}
		}
	}
	b.WriteString(`</svg>`)
	return b.String(), nil
}
