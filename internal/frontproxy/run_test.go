package frontproxy_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/frontproxy"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// frontProxy is a running nginx or Caddy on a loopback port.
type frontProxy struct {
	name string
	addr string // 127.0.0.1:port
}

// startProxy renders proxy's template for gatehouse and app, starts the
// real server on a free loopback port with its own configuration, state
// and logs in a temporary directory, and stops it when the test ends. The
// binaries come from scripts/services.sh; a missing one fails the test.
func startProxy(t *testing.T, proxy, gatehouse, app string) *frontProxy {
	t.Helper()
	return startProxyFor(t, proxy, gatehouse, app, nil)
}

// startProxyFor is startProxy with adjust applied to the rendered
// parameters (when not nil), whose Listen is then the chosen address.
func startProxyFor(t *testing.T, proxy, gatehouse, app string, adjust func(*frontproxy.Params)) *frontProxy {
	t.Helper()
	return startProxyEdited(t, proxy, gatehouse, app, adjust, nil)
}

// startProxyEdited is startProxyFor running the rendered configuration as
// edit returns it (when not nil): a deployment that departs from the
// documented snippet.
func startProxyEdited(t *testing.T, proxy, gatehouse, app string, adjust func(*frontproxy.Params), edit func(string) string) *frontProxy {
	t.Helper()
	var lastErr error
	for range 3 { // a free port can be taken between probing and binding
		addr := testutil.FreeAddr(t)
		p := frontproxy.Params{
			Listen: addr, Site: "http://" + addr, ServerName: "localhost",
			Gatehouse: gatehouse, App: app, Cookie: "gatehouse",
		}
		if adjust != nil {
			adjust(&p)
		}
		conf, err := frontproxy.Render(proxy, p)
		if err != nil {
			t.Fatal(err)
		}
		if edit != nil {
			conf = edit(conf)
		}
		dir := t.TempDir()
		var cmd *exec.Cmd
		switch proxy {
		case frontproxy.Nginx:
			cmd = nginxCommand(t, dir, conf)
		case frontproxy.Caddy:
			cmd = caddyCommand(t, dir, conf)
		default:
			t.Fatalf("no runner for %s", proxy)
		}
		if lastErr = run(t, cmd, addr, dir); lastErr == nil {
			return &frontProxy{name: proxy, addr: addr}
		}
	}
	t.Fatalf("start %s: %v", proxy, lastErr)
	return nil
}

// nginxCommand wraps the http-level snippet in a main configuration that
// keeps nginx in the foreground, in one process (no privilege drop), with
// every path under dir.
func nginxCommand(t *testing.T, dir, snippet string) *exec.Cmd {
	t.Helper()
	write(t, filepath.Join(dir, "gatehouse.conf"), snippet)
	main := fmt.Sprintf(`daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    include %[1]s/gatehouse.conf;
}
`, dir)
	write(t, filepath.Join(dir, "nginx.conf"), main)
	return exec.Command(lookPath(t, "nginx"), "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-e", filepath.Join(dir, "error.log"))
}

// caddyCommand prepends global options (no admin API, no automatic HTTPS,
// loopback only, state under dir) to the site block.
func caddyCommand(t *testing.T, dir, site string) *exec.Cmd {
	t.Helper()
	global := fmt.Sprintf("{\n\tadmin off\n\tauto_https off\n\tdefault_bind 127.0.0.1\n\tstorage file_system %s/data\n}\n\n", dir)
	write(t, filepath.Join(dir, "Caddyfile"), global+site)
	cmd := exec.Command(lookPath(t, "caddy"), "run", "--config", filepath.Join(dir, "Caddyfile"), "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir+"/data", "XDG_CONFIG_HOME="+dir+"/config")
	return cmd
}

// run starts cmd with its output in dir/output.log and waits until addr
// accepts connections. It returns an error (with the log) when the process
// exits first.
func run(t *testing.T, cmd *exec.Cmd, addr, dir string) error {
	t.Helper()
	logPath := filepath.Join(dir, "output.log")
	out, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case err := <-exited:
			return fmt.Errorf("%s exited (%v): %s", filepath.Base(cmd.Path), err, logs(dir))
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
			c.Close()
			t.Cleanup(stop)
			return nil
		}
		if time.Now().After(deadline) {
			stop()
			return fmt.Errorf("%s did not listen on %s within 15s: %s", filepath.Base(cmd.Path), addr, logs(dir))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func logs(dir string) string {
	var b strings.Builder
	for _, name := range []string{"output.log", "error.log"} {
		if data, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
			b.Write(data)
		}
	}
	return b.String()
}

// lookPath finds a binary on PATH or in /usr/sbin, where Debian puts nginx
// (not on a normal user's PATH).
func lookPath(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if p, err = exec.LookPath(filepath.Join("/usr/sbin", name)); err != nil {
			t.Fatalf("%s is not installed (scripts/services.sh installs it): %v", name, err)
		}
	}
	return p
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}
