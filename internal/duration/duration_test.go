package duration_test

import (
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/duration"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"90s", 90 * time.Second, false},
		{"1h30m", 90 * time.Minute, false},
		{"30d", 30 * 24 * time.Hour, false},
		{" 7d ", 7 * 24 * time.Hour, false},
		{"106751d", 106751 * 24 * time.Hour, false},
		// Beyond what a time.Duration holds: an error, not a wrapped value.
		{"106752d", 0, true},
		{"300000d", 0, true},
		{"1.5d", 0, true},
		{"soon", 0, true},
	}
	for _, tt := range tests {
		got, err := duration.Parse(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("Parse(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}
