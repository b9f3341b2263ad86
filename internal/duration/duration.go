// Package duration is the YAML duration type of gatehouse's configuration.
// It is a leaf, so that the packages owning a configuration section (config
// for the whole file, gateway for routes) write durations the same way
// without importing one another.
package duration

import (
	"fmt"
	"math"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration written as "30m" in YAML.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// UnmarshalYAML parses Go duration syntax ("90s", "1h30m"), plus "Nd" days.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := Parse(n.Value)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration in Go syntax.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// maxDays is the most whole days a time.Duration holds.
const maxDays = int(math.MaxInt64 / int64(24*time.Hour))

// Parse is time.ParseDuration that also accepts a whole number of days
// ("30d"), because refresh lifetimes are usually written that way.
func Parse(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if strings.HasSuffix(s, "d") {
		var days int
		if _, err := fmt.Sscanf(s, "%dd", &days); err == nil && fmt.Sprintf("%dd", days) == s {
			// time.Duration holds about 106,751 days; more wrapped around.
			if days > maxDays || days < -maxDays {
				return 0, fmt.Errorf("duration %q is too long (at most %dd)", s, maxDays)
			}
			return time.Duration(days) * 24 * time.Hour, nil
		}
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q (use e.g. 30s, 10m, 24h)", s)
	}
	return v, nil
}
