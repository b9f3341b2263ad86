package httpapi

import (
	"testing"
	"time"
)

// TestStamperMatchesRFC3339Nano: the access log's time field is the one
// slog's JSON handler writes (time.RFC3339Nano), also when lines of the
// same second or of another zone follow each other and the cached part is
// reused or replaced.
func TestStamperMatchesRFC3339Nano(t *testing.T) {
	base := time.Date(2026, 11, 30, 5, 40, 0, 0, time.UTC)
	east, west := time.FixedZone("east", 5*3600+30*60), time.FixedZone("west", -7*3600)
	times := []time.Time{
		base,                             // no fraction at all
		base.Add(123456789),              // nine digits
		base.Add(120 * time.Millisecond), // trailing zeros trimmed
		base.Add(time.Nanosecond),
		base.Add(999999999),
		base.Add(time.Second),                     // the next second
		base.Add(500 * time.Millisecond),          // back to the previous one
		base.Add(500 * time.Millisecond).In(east), // same instant, another zone
		base.Add(500 * time.Millisecond).In(west),
		base.Add(500 * time.Millisecond).In(time.Local),
		time.Date(1999, 12, 31, 23, 59, 59, 10, west), // year, month and day change with the zone
		time.Now(), // with a monotonic reading
	}
	var s stamper
	for _, tm := range times {
		got := string(s.append([]byte("x"), tm))
		if want := "x" + tm.Format(time.RFC3339Nano); got != want {
			t.Errorf("stamp of %v = %q, want %q", tm, got, want)
		}
	}
}

// TestStamperAllocatesOncePerSecond: lines of a second already formatted
// cost no allocation.
func TestStamperAllocatesOncePerSecond(t *testing.T) {
	var s stamper
	tm := time.Now().Truncate(time.Second)
	buf := make([]byte, 0, 64)
	s.append(buf, tm)
	if n := testing.AllocsPerRun(100, func() { s.append(buf[:0], tm.Add(time.Millisecond)) }); n != 0 {
		t.Errorf("%v allocations per line within a second, want 0", n)
	}
}
