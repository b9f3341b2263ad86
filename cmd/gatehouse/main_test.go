package main

import (
	"os"
	"testing"
)

// runAsCLI makes the test binary stand in for gatehouse in the processes
// it starts: `gatehouse bench` runs its servers with os.Executable(),
// which under `go test` is this binary. The name has no GATEHOUSE_ prefix
// because bench drops those variables from its children's environment.
const runAsCLI = "GH_CMD_TEST_RUN_AS_CLI"

func TestMain(m *testing.M) {
	if os.Getenv(runAsCLI) == "1" {
		main()
	}
	os.Setenv(runAsCLI, "1")
	os.Exit(m.Run())
}
