package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is one server of the bench (the upstream, a bare proxy or a
// gatehouse) running as a child process of the gatehouse binary, so that
// its CPU time can be read on its own and it does not share a Go runtime
// (scheduler, garbage collector) with the load generator or with the other
// servers.
type proc struct {
	name string
	URL  string
	cmd  *exec.Cmd
	tail *tailBuffer
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, once done is closed
	// firstLine delivers the first line of stdout (fixtures print their
	// address there).
	firstLine <-chan string
}

// startProc starts binary with args. The child gets the environment
// without GATEHOUSE_* variables, so that an operator's overrides (say
// GATEHOUSE_STORE) cannot change what the bench measures.
func startProc(binary, name string, args []string) (*proc, error) {
	cmd := exec.Command(binary, args...)
	cmd.Env = childEnv(os.Environ())
	detach(cmd)
	p := &proc{name: name, cmd: cmd, tail: &tailBuffer{max: 4 << 10}, done: make(chan struct{})}
	// Both streams go to a small tail buffer: a gatehouse at log level info
	// writes a line per request, which must neither fill a disk nor be
	// parsed by the load generator's process. The first line of stdout is
	// also delivered on firstLine (fixtures print their address there).
	lines := make(chan string, 1)
	cmd.Stdout = &firstLineWriter{ch: lines, rest: p.tail}
	cmd.Stderr = p.tail
	p.firstLine = lines
	if err := start(cmd); err != nil {
		return nil, fmt.Errorf("%s: start %s: %w", name, binary, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// firstLineWriter sends the first line written to it on ch and passes
// everything after it to rest.
type firstLineWriter struct {
	mu   sync.Mutex
	buf  []byte
	sent bool
	ch   chan<- string
	rest io.Writer
}

func (w *firstLineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.sent {
		return w.rest.Write(p)
	}
	w.buf = append(w.buf, p...)
	if i := bytes.IndexByte(w.buf, '\n'); i >= 0 {
		w.sent = true
		w.ch <- string(w.buf[:i]) // buffered: never blocks
		_, _ = w.rest.Write(w.buf[i+1:])
		w.buf = nil
	}
	return len(p), nil
}

func childEnv(environ []string) []string {
	var out []string
	for _, kv := range environ {
		if !strings.HasPrefix(kv, "GATEHOUSE_") {
			out = append(out, kv)
		}
	}
	return out
}

// startFixture starts `gatehouse bench fixture <args>` and waits for the
// address it prints.
func startFixture(ctx context.Context, binary, name string, args ...string) (*proc, error) {
	p, err := startProc(binary, name, append([]string{"bench", "fixture"}, args...))
	if err != nil {
		return nil, err
	}
	timer := time.NewTimer(30 * time.Second)
	defer timer.Stop()
	select {
	case line := <-p.firstLine:
		if addr, found := strings.CutPrefix(line, "listening on "); found {
			p.URL = "http://" + addr
			return p, nil
		}
		_ = p.Close()
		return nil, p.failure(fmt.Errorf("printed %q, not its address", line))
	case <-p.done:
		return nil, p.failure(errors.New("exited before printing its address"))
	case <-ctx.Done():
		_ = p.Close()
		return nil, ctx.Err()
	case <-timer.C:
		_ = p.Close()
		return nil, p.failure(errors.New("printed no address within 30s"))
	}
}

// startGatehouse starts `gatehouse serve`  with the config at configPath, whose listen
// address is listen, and waits until /readyz answers 200.
func startGatehouse(ctx context.Context, binary, name, configPath, listen string) (*proc, error) {
	p, err := startProc(binary, name, []string{"serve", "-c", configPath})
	if err != nil {
		return nil, err
	}
	p.URL = "http://" + listen
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get(p.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		select {
		case <-p.done:
			return nil, p.failure(errors.New("exited before it was ready"))
		case <-ctx.Done():
			_ = p.Close()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = p.Close()
			return nil, p.failure(errors.New("not ready within 30s"))
		}
	}
}

// failure describes why p did not come up, with the end of its output.
func (p *proc) failure(err error) error {
	out := strings.TrimSpace(p.tail.String())
	if i := strings.LastIndexByte(out, '\n'); i >= 0 {
		out = out[i+1:] // the last line says why
	}
	if out != "" {
		return fmt.Errorf("%s: %w: %s", p.name, err, out)
	}
	return fmt.Errorf("%s: %w", p.name, err)
}

// cpu is the user plus system CPU time the process has used so far.
func (p *proc) cpu() (time.Duration, error) { return processCPU(p.cmd.Process.Pid) }

// Close stops the process (SIGTERM, then SIGKILL after 5 s) and waits for
// it. It may be called more than once.
func (p *proc) Close() error {
	select {
	case <-p.done:
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	return nil
}

// freeAddr returns a loopback address that was free a moment ago, for a
// gatehouse whose config needs a fixed listen address.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// clockTick is the unit of utime and stime in /proc/PID/stat: USER_HZ,
// which Linux fixes at 100 on every architecture (sysconf(_SC_CLK_TCK)),
// so 10 ms. Over a measured round of half a second or more at full load
// the rounding error stays near 2 %, and it averages out over rounds.
const clockTick = 10 * time.Millisecond

// parseStat reads utime and stime from a /proc/PID/stat line. The command
// name (field 2) is in parentheses and may hold spaces and parentheses,
// so the fields are counted from the last ')'.
func parseStat(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("read CPU time: malformed /proc stat line")
	}
	f := strings.Fields(stat[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, fmt.Errorf("read CPU time: short /proc stat line")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("read CPU time: malformed utime/stime")
	}
	return time.Duration(utime+stime) * clockTick, nil
}
