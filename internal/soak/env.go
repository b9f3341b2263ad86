package soak

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// redisNodes is the size of the run's Redis Cluster: 3 primaries, 3 replicas.
const redisNodes = 6

// ports are the TCP ports of one run's private services on 127.0.0.1, free
// when the run starts: two runs at once, or a machine where something
// already listens on a port, do not collide.
type ports struct {
	redis   []int       // the cluster's nodes
	bus     map[int]int // a node's cluster bus port (--cluster-port), by node port
	pg      int
	bouncer int
}

// pickPorts chooses the ports of one run.
func pickPorts() (ports, error) {
	free, err := freePorts(2*redisNodes + 2)
	if err != nil {
		return ports{}, fmt.Errorf("choose free ports: %w", err)
	}
	p := ports{redis: free[:redisNodes], bus: map[int]int{}, pg: free[2*redisNodes], bouncer: free[2*redisNodes+1]}
	for i, port := range p.redis {
		p.bus[port] = free[redisNodes+i]
	}
	return p, nil
}

// freePorts returns n different TCP ports that are free on 127.0.0.1: the
// system picks each, and all stay held until the last is picked, so that
// none comes twice. Another process may still take one before the service
// binds it; that service then fails to start and the run says which.
func freePorts(n int) ([]int, error) {
	var out []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer ln.Close()
		out = append(out, ln.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

// env is the private deployment of one run.
type env struct {
	dir     string
	binary  string
	ports   ports
	redis   map[int]*exec.Cmd // by port
	pgBin   string
	pgData  string
	bouncer *exec.Cmd
	cfgFile string
	nodes   []*instance
	log     func(format string, args ...any)
}

// instance is one `gatehouse serve` process.
type instance struct {
	name   string
	listen string
	admin  string
	cmd    *exec.Cmd
	done   chan struct{}
}

func (i *instance) base() string { return "http://" + i.listen }

// newEnv returns the deployment of a run in dir, on ports of its own.
func newEnv(dir, binary string, log func(format string, args ...any)) (*env, error) {
	p, err := pickPorts()
	if err != nil {
		return nil, err
	}
	return &env{dir: dir, binary: binary, ports: p, redis: map[int]*exec.Cmd{}, log: log}, nil
}

// run runs a command and returns its combined output in the error.
func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

// asPostgres runs a command as the postgres user when we are root (initdb,
// postgres and pgbouncer refuse to run as root).
func asPostgres(name string, args ...string) *exec.Cmd {
	if os.Geteuid() != 0 {
		return exec.Command(name, args...)
	}
	cmd := exec.Command(name, args...)
	if u, err := user.Lookup("postgres"); err == nil {
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	}
	return cmd
}

func chownPostgres(path string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	return run("chown", "-R", "postgres:postgres", path)
}

func waitFor(ctx context.Context, what string, d time.Duration, ok func() bool) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if ok() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s did not come up within %v", what, d)
}

// startRedis starts one cluster node (no persistence; nodes.conf in its
// own directory, so that a killed node rejoins as a replica).
func (e *env) startRedis(ctx context.Context, port int) error {
	dir := filepath.Join(e.dir, "redis-"+strconv.Itoa(port))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cmd := exec.Command("redis-server", "--bind", "127.0.0.1", "--port", strconv.Itoa(port),
		"--save", "", "--appendonly", "no", "--dir", dir, "--logfile", filepath.Join(dir, "redis.log"),
		"--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(dir, "nodes.conf"),
		"--cluster-port", strconv.Itoa(e.ports.bus[port]),
		"--cluster-node-timeout", "2000")
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	e.redis[port] = cmd
	c := goredis.NewClient(&goredis.Options{Addr: redisAddr(port)})
	defer c.Close()
	return waitFor(ctx, "redis "+strconv.Itoa(port), 10*time.Second, func() bool { return c.Ping(ctx).Err() == nil })
}

func redisAddr(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

func (e *env) clusterAddrs() []string {
	var out []string
	for _, port := range e.ports.redis {
		out = append(out, redisAddr(port))
	}
	return out
}

func (e *env) startCluster(ctx context.Context) error {
	for _, port := range e.ports.redis {
		if err := e.startRedis(ctx, port); err != nil {
			return err
		}
	}
	args := append([]string{"--cluster", "create"}, e.clusterAddrs()...)
	if err := run("redis-cli", append(args, "--cluster-replicas", "1", "--cluster-yes")...); err != nil {
		return err
	}
	return e.waitClusterOK(ctx)
}

func (e *env) waitClusterOK(ctx context.Context) error {
	return waitFor(ctx, "redis cluster", 60*time.Second, func() bool {
		for _, a := range e.clusterAddrs() {
			c := goredis.NewClient(&goredis.Options{Addr: a})
			info, err := c.ClusterInfo(ctx).Result()
			c.Close()
			if err != nil || !strings.Contains(info, "cluster_state:ok") {
				return false
			}
		}
		return true
	})
}

// primaryOf returns the port of the primary serving key.
func (e *env) primaryOf(ctx context.Context, key string) (int, error) {
	c := goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: e.clusterAddrs()})
	defer c.Close()
	node, err := c.MasterForKey(ctx, key)
	if err != nil {
		return 0, err
	}
	_, port, _ := net.SplitHostPort(node.Options().Addr)
	return strconv.Atoi(port)
}

func (e *env) startPostgres(ctx context.Context) error {
	versions, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(versions) == 0 {
		return errors.New("no /usr/lib/postgresql/*/bin/initdb (install postgresql)")
	}
	e.pgBin = filepath.Dir(versions[len(versions)-1])
	e.pgData = filepath.Join(e.dir, "pg")
	if err := os.MkdirAll(e.pgData, 0o700); err != nil {
		return err
	}
	if err := chownPostgres(e.pgData); err != nil {
		return err
	}
	if out, err := asPostgres(filepath.Join(e.pgBin, "initdb"), "-D", e.pgData, "-A", "trust", "-U", "postgres").CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %w\n%s", err, out)
	}
	return e.pgCtl(ctx, "start")
}

func (e *env) pgCtl(ctx context.Context, action string) error {
	args := []string{"-D", e.pgData, "-w"}
	if action != "stop" {
		opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200", e.ports.pg, e.pgData)
		args = append(args, "-l", filepath.Join(e.pgData, "server.log"), "-o", opts)
	}
	if action != "start" {
		args = append(args, "-m", "fast")
	}
	if out, err := asPostgres(filepath.Join(e.pgBin, "pg_ctl"), append([]string{action}, args...)...).CombinedOutput(); err != nil {
		return fmt.Errorf("pg_ctl %s: %w\n%s", action, err, out)
	}
	return nil
}

func (e *env) startBouncer(ctx context.Context) error {
	dir := filepath.Join(e.dir, "pgbouncer")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	ini := fmt.Sprintf(`[databases]
* = host=127.0.0.1 port=%d
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = trust
auth_file = %s/userlist.txt
pool_mode = transaction
max_client_conn = 500
default_pool_size = 20
logfile = %s/pgbouncer.log
`, e.ports.pg, e.ports.bouncer, dir, dir)
	if err := os.WriteFile(filepath.Join(dir, "pgbouncer.ini"), []byte(ini), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "userlist.txt"), []byte(`"postgres" ""`+"\n"), 0o644); err != nil {
		return err
	}
	if err := chownPostgres(dir); err != nil {
		return err
	}
	bin, err := exec.LookPath("pgbouncer")
	if err != nil {
		bin = "/usr/sbin/pgbouncer"
	}
	e.bouncer = asPostgres(bin, filepath.Join(dir, "pgbouncer.ini"))
	if err := e.bouncer.Start(); err != nil {
		return fmt.Errorf("start pgbouncer: %w", err)
	}
	return waitFor(ctx, "pgbouncer", 10*time.Second, func() bool {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(e.ports.bouncer))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

// writeConfig writes the instances' shared configuration.
func (e *env) writeConfig(upstream string) error {
	e.cfgFile = filepath.Join(e.dir, "gatehouse.yaml")
	cfg := fmt.Sprintf(`store: "postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable"
store_migrate: "postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable"
sessions:
  store: redis
redis:
  cluster: { addrs: [%s] }
  wait_timeout: 2s
keys: { encryption_key: "soak-test-encryption-key-0123456789abcdef" }
passwords: { memory_kib: 8192, iterations: 1, parallelism: 1 }
login: { max_failures: 1000 }
log: { level: warn }
routes:
  - { name: app, match: { path_prefix: /app/ }, upstream: %q, auth: session }
  - { name: api, match: { path_prefix: /api/ }, upstream: %q, auth: token }
`, e.ports.bouncer, e.ports.pg, strings.Join(e.clusterAddrs(), ", "), upstream, upstream)
	return os.WriteFile(e.cfgFile, []byte(cfg), 0o600)
}

// command is `gatehouse args...` with the environment of this process
// minus its GATEHOUSE_* variables plus extra: an operator's overrides
// (GATEHOUSE_STORE above all, which would point the run at their real
// database) must not replace the run's private configuration.
func (e *env) command(extra []string, args ...string) *exec.Cmd {
	cmd := exec.Command(e.binary, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GATEHOUSE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, extra...)
	return cmd
}

func (e *env) cli(stdin string, args ...string) error {
	cmd := e.command(nil, append(args, "-c", e.cfgFile)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("gatehouse %s: %w\n%s", strings.Join(args, " "), err, out.String())
	}
	return nil
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func (e *env) newInstance(name string) (*instance, error) {
	listen, err := freePort()
	if err != nil {
		return nil, err
	}
	admin, err := freePort()
	if err != nil {
		return nil, err
	}
	return &instance{name: name, listen: listen, admin: admin}, nil
}

// start runs the instance and waits until /readyz answers 200.
func (e *env) start(ctx context.Context, i *instance) error {
	logf, err := os.OpenFile(filepath.Join(e.dir, i.name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	i.cmd = e.command([]string{"GATEHOUSE_LISTEN=" + i.listen, "GATEHOUSE_ADMIN_LISTEN=" + i.admin,
		"GATEHOUSE_PUBLIC_URL=http://gatehouse.soak"}, "serve", "-c", e.cfgFile)
	i.cmd.Stdout, i.cmd.Stderr = logf, logf
	if err := i.cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	i.done = make(chan struct{})
	go func() { _ = i.cmd.Wait(); logf.Close(); close(i.done) }()
	return waitFor(ctx, i.name, 60*time.Second, func() bool { return ready(i) })
}

func ready(i *instance) bool {
	resp, err := http.Get(i.base() + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// stop sends SIGTERM and waits for the instance to drain and exit.
func (e *env) stop(i *instance) {
	if i.cmd == nil || i.cmd.Process == nil {
		return
	}
	_ = i.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-i.done:
	case <-time.After(30 * time.Second):
		_ = i.cmd.Process.Kill()
		<-i.done
	}
}

// close stops everything the run started, by process, and leaves the
// directory (logs) in place.
func (e *env) close() {
	for _, i := range e.nodes {
		e.stop(i)
	}
	for _, c := range e.redis {
		if c.Process != nil {
			_ = c.Process.Kill()
			_ = c.Wait()
		}
	}
	if e.bouncer != nil && e.bouncer.Process != nil {
		_ = e.bouncer.Process.Kill()
		_ = e.bouncer.Wait()
	}
	if e.pgData != "" {
		_ = e.pgCtl(context.Background(), "stop")
	}
}
