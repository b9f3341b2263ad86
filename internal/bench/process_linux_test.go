package bench

import (
	"bufio"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The servers run in a process group of their own (Ctrl-C reaches only
// the bench, which stops them after printing the partial report), so the
// terminal cannot stop them: when the bench dies without its cleanup
// (SIGKILL, a crash, the OOM killer) they must go too, not stay behind on
// their ports. The bench is played by this test binary re-run as
// TestHelperBenchProcess.
func TestServersDieWithTheBench(t *testing.T) {
	helper := exec.Command(os.Args[0], "-test.run=^TestHelperBenchProcess$")
	helper.Env = append(os.Environ(), "BENCH_TEST_HELPER=1")
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = helper.Process.Kill(); _ = helper.Wait() })
	var pid int
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "child "); ok {
			pid, _ = strconv.Atoi(v)
			break
		}
	}
	if pid == 0 {
		t.Fatal("the helper printed no child pid")
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	if !alive(pid) {
		t.Fatal("the child is not running")
	}
	_ = helper.Process.Kill() // no cleanup runs
	_ = helper.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("server process %d still runs 5 s after the bench was killed", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestHelperBenchProcess is the bench of TestServersDieWithTheBench: it
// starts a child as the bench starts its servers, prints its pid and waits
// to be killed.
func TestHelperBenchProcess(t *testing.T) {
	if os.Getenv("BENCH_TEST_HELPER") != "1" {
		t.Skip("run by TestServersDieWithTheBench")
	}
	p, err := startProc("sleep", "sleeper", []string{"300"})
	if err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("child " + strconv.Itoa(p.cmd.Process.Pid) + "\n")
	<-p.done
}

// alive reports whether pid runs (a zombie does not: nobody may reap it
// in a container without an init).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && !strings.HasPrefix(strings.TrimSpace(s[i+1:]), "Z")
}
