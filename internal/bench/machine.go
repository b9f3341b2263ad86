package bench

import (
	"bufio"
	"os"
	"runtime"
	"strings"
	"time"
)

// Machine describes where a report was measured.
type Machine struct {
	CPUModel  string    `json:"cpu_model"`
	Cores     int       `json:"cores"`
	GoVersion string    `json:"go_version"`
	GOOS      string    `json:"goos"`
	GOARCH    string    `json:"goarch"`
	Version   string    `json:"gatehouse_version"`
	Date      time.Time `json:"date"`
}

// ThisMachine describes the running machine; version is gatehouse's.
func ThisMachine(version string, now time.Time) Machine {
	return Machine{
		CPUModel:  cpuModel("/proc/cpuinfo"),
		Cores:     runtime.NumCPU(),
		GoVersion: runtime.Version(),
		GOOS:      runtime.GOOS,
		GOARCH:    runtime.GOARCH,
		Version:   version,
		Date:      now.UTC().Truncate(time.Second),
	}
}

// cpuModel is the first "model name" of a /proc/cpuinfo file, or
// "unknown" where there is none (not Linux, some ARM kernels).
func cpuModel(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(key) == "model name" {
			return strings.TrimSpace(value)
		}
	}
	return "unknown"
}
