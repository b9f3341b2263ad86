package bench

import (
	"strings"
	"testing"
)

// The report's note describes the reference as Run starts it: BareProxy
// on a gateway route's transport (timeouts included, issue 15's "same
// transport settings"), not the pool-sizes-only transport of
// --gateway-transport=false that it replaced.
func TestNotesDescribeTheReferenceTransport(t *testing.T) {
	var note string
	for _, n := range notes(&Report{}) {
		if strings.Contains(n, "bare-proxy is httputil.ReverseProxy") {
			note = n
		}
	}
	if note == "" {
		t.Fatal("no note describes bare-proxy")
	}
	for _, want := range []string{"a gateway route's transport", "response-header", "copy-buffer pool"} {
		if !strings.Contains(note, want) {
			t.Errorf("note lacks %q: %s", want, note)
		}
	}
	if strings.Contains(note, "transport pool sizes and") {
		t.Errorf("note describes the old pool-sizes-only transport: %s", note)
	}
}

// The CPU over the reference is rounded to whole µs; a difference that
// rounds to zero is "+0 µs", whichever side of zero it was on.
func TestOverBare(t *testing.T) {
	bare := ModeResult{Name: ModeBare, CPUMicros: 82}
	tests := []struct {
		cpu  float64
		want string
	}{
		{87.2, "+5 µs"},
		{78.6, "-3 µs"},
		{82.4, "+0 µs"},
		{81.8, "+0 µs"}, // printed "-0 µs" before
		{82, "+0 µs"},
		{0, ""}, // no CPU figure (no /proc)
	}
	for _, tt := range tests {
		if got := overBare(ModeResult{Name: "token-ES256", CPUMicros: tt.cpu}, bare); got != tt.want {
			t.Errorf("overBare(%v µs against 82 µs) = %q, want %q", tt.cpu, got, tt.want)
		}
	}
	if got := overBare(bare, bare); got != "" {
		t.Errorf("overBare(bare-proxy) = %q, want empty", got)
	}
}
