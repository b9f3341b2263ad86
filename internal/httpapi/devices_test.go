package httpapi

import (
	"testing"
	"time"
)

// The User-Agent parser (5 MB of heap) exists only while account pages
// need it: not before the first, and not for long after the last.
func TestDeviceParserLivesOnlyWhileUsed(t *testing.T) {
	const chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
	d := &deviceNames{idle: 50 * time.Millisecond}
	if d.loaded() {
		t.Fatal("parser built before any account page")
	}
	if got := d.name(""); got != "Unknown device" || d.loaded() {
		t.Fatalf("name(\"\") = %q, loaded %v; want Unknown device without building the parser", got, d.loaded())
	}
	for range 2 { // built, dropped, built again
		if got := d.name(chrome); got != "Chrome on Linux" {
			t.Fatalf("name = %q, want Chrome on Linux", got)
		}
		if !d.loaded() {
			t.Fatal("parser not kept right after use")
		}
		deadline := time.Now().Add(5 * time.Second)
		for d.loaded() {
			if time.Now().After(deadline) {
				t.Fatal("parser still in memory 5 s after its last use")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}
