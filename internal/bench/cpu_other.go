//go:build !unix

package bench

import "time"

// processCPU is not measured where getrusage does not exist; the report
// then shows no CPU figures.
func processCPU() time.Duration { return 0 }
