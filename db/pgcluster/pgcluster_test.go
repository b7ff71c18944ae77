package pgcluster

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// testBase returns a fresh directory the server's user can reach: when the
// tests run as root the server runs as postgres, and MkdirTemp makes 0700
// directories.
func testBase(t *testing.T) string {
	t.Helper()
	base, err := os.MkdirTemp("", "pgcluster-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o711); err != nil {
		t.Fatal(err)
	}
	return base
}

// open fails the test on error and makes sure no server outlives it.
func open(t *testing.T, opts Options) *Cluster {
	t.Helper()
	c, err := Open(t.Context(), opts)
	if err != nil {
		t.Fatalf("Open(%+v): %v", opts, err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func closeCluster(t *testing.T, c *Cluster) {
	t.Helper()
	if err := c.Close(t.Context()); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func selectOne(t *testing.T, c *Cluster) {
	t.Helper()
	var one int
	if err := connect(t, c.URL()).QueryRow(t.Context(), "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1 = %d, %v", one, err)
	}
}

func wantRunning(t *testing.T, c *Cluster, want bool) {
	t.Helper()
	got, err := c.running(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("server running = %v, want %v", got, want)
	}
}

func TestFreshClusterSurvivesRestart(t *testing.T) {
	t.Parallel()
	base := testBase(t)
	opts := Options{
		Dir:          filepath.Join(base, "data", "pg"),
		Database:     "floh",
		PasswordFile: filepath.Join(base, "secrets", "pg-password"),
		Owner:        true,
	}
	c := open(t, opts)
	if !c.StartedHere() {
		t.Error("StartedHere = false on a fresh cluster")
	}
	selectOne(t, c)
	conn := connect(t, c.URL())
	if _, err := conn.Exec(t.Context(), "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('still here')"); err != nil {
		t.Fatal(err)
	}

	fi, err := os.Stat(opts.PasswordFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Sys().(*syscall.Stat_t).Uid != uint32(os.Geteuid()) {
		t.Errorf("password file mode %v uid %d, want 0600 owned by uid %d", fi.Mode().Perm(), fi.Sys().(*syscall.Stat_t).Uid, os.Geteuid())
	}
	if !strings.Contains(c.URL(), ":"+c.password+"@") || len(c.password) != 64 {
		t.Errorf("URL %s does not carry the 64-character password", c.URL())
	}
	wrong := strings.Replace(c.URL(), c.password, "wrong", 1)
	if conn, err := pgx.Connect(t.Context(), wrong); err == nil {
		conn.Close(t.Context())
		t.Error("connected with a wrong password")
	}

	pidFile := filepath.Join(opts.Dir, "postmaster.pid")
	crashed, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	closeCluster(t, c)
	wantRunning(t, c, false)

	// What a crash leaves behind: a pid file naming a dead process. Not the
	// old postmaster's pid: it may linger as a zombie until init reaps it.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(crashed), "\n")
	crashed = []byte(strconv.Itoa(dead.Process.Pid) + "\n" + rest)
	if err := os.WriteFile(pidFile, crashed, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(pidFile, int(c.acct.uid), int(c.acct.gid)); err != nil {
		t.Fatal(err)
	}
	wantRunning(t, c, false)

	c = open(t, opts)
	if !c.StartedHere() {
		t.Error("StartedHere = false after restarting a stopped cluster")
	}
	var v string
	if err := connect(t, c.URL()).QueryRow(t.Context(), "SELECT v FROM kept").Scan(&v); err != nil || v != "still here" {
		t.Fatalf("data after restart: %q, %v", v, err)
	}
	closeCluster(t, c)
}

func TestOwnerIsExclusiveAndNonOwnersAttach(t *testing.T) {
	t.Parallel()
	base := testBase(t)
	opts := Options{
		Dir:          filepath.Join(base, "pg"),
		Database:     "floh",
		PasswordFile: filepath.Join(base, "pg-password"),
		Owner:        true,
	}
	serve := open(t, opts)

	if c, err := Open(t.Context(), opts); err == nil {
		c.Close(t.Context())
		t.Fatal("second Owner Open succeeded")
	} else if want := "another floh serve is using " + opts.Dir; !strings.Contains(err.Error(), want) {
		t.Fatalf("second Owner Open: %v, want %q", err, want)
	}

	cliOpts := opts
	cliOpts.Owner = false
	cli := open(t, cliOpts)
	if cli.StartedHere() || cli.Port() != serve.Port() {
		t.Errorf("non-owner: StartedHere %v port %d, want false and %d", cli.StartedHere(), cli.Port(), serve.Port())
	}
	selectOne(t, cli)
	closeCluster(t, cli)
	selectOne(t, serve)

	closeCluster(t, serve)
	wantRunning(t, serve, false)
}

func TestNonOwnerStopsWhatItStarted(t *testing.T) {
	t.Parallel()
	base := testBase(t)
	cliOpts := Options{Dir: filepath.Join(base, "pg"), Database: "floh"}
	serveOpts := cliOpts
	serveOpts.Owner = true

	// Alone, a non-owner starts the server and stops it again.
	cli := open(t, cliOpts)
	if !cli.StartedHere() {
		t.Fatal("non-owner on a stopped cluster: StartedHere = false")
	}
	selectOne(t, cli)
	closeCluster(t, cli)
	wantRunning(t, cli, false)

	// A serve that attached meanwhile keeps it running, and stops it itself.
	cli = open(t, cliOpts)
	serve := open(t, serveOpts)
	if serve.StartedHere() || serve.Port() != cli.Port() {
		t.Errorf("owner: StartedHere %v port %d, want false and %d", serve.StartedHere(), serve.Port(), cli.Port())
	}
	closeCluster(t, cli)
	selectOne(t, serve)
	closeCluster(t, serve)
	wantRunning(t, serve, false)
}

func TestConcurrentNonOwners(t *testing.T) {
	t.Parallel()
	opts := Options{Dir: filepath.Join(testBase(t), "pg"), Database: "floh"}

	clis := make([]*Cluster, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range clis {
		wg.Go(func() { clis[i], errs[i] = Open(t.Context(), opts) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { clis[i].Close(context.Background()) })
	}
	if clis[0].StartedHere() == clis[1].StartedHere() {
		t.Fatalf("StartedHere = %v, %v; want exactly one starter", clis[0].StartedHere(), clis[1].StartedHere())
	}
	starter, attached := clis[0], clis[1]
	if attached.StartedHere() {
		starter, attached = attached, starter
	}

	// The starter leaves first: the other is still using the server.
	closeCluster(t, starter)
	selectOne(t, attached)
	// The last one out stops the server a non-owner started.
	closeCluster(t, attached)
	wantRunning(t, attached, false)
}

func TestEphemeral(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(testBase(t), "pg")
	c := open(t, Options{Dir: dir, Database: "test_template", Ephemeral: true})
	selectOne(t, c)
	var fsync string
	if err := connect(t, c.AdminURL("postgres")).QueryRow(t.Context(), "SHOW fsync").Scan(&fsync); err != nil || fsync != "off" {
		t.Errorf("fsync = %q, %v; want off", fsync, err)
	}
	closeCluster(t, c)
	for _, p := range []string{dir, dir + ".lock", dir + ".ctl.lock", dir + ".users.lock"} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s left behind after Close (stat: %v)", p, err)
		}
	}
}

func TestUnreachableDirFailsAtOnce(t *testing.T) {
	t.Parallel()
	private := filepath.Join(testBase(t), "private")
	// As root the server runs as postgres, which cannot enter a 0700 root
	// directory; otherwise the server runs as us and needs the x bit.
	mode := os.FileMode(0o700)
	if os.Geteuid() != 0 {
		mode = 0o600
	}
	if err := os.Mkdir(private, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(private, mode); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(private, 0o700) })
	dir := filepath.Join(private, "pg")

	start := time.Now()
	_, err := Open(t.Context(), Options{Dir: dir, Database: "floh"})
	if err == nil || !strings.Contains(err.Error(), "cannot enter directory "+private+" ") {
		t.Fatalf("Open under %v dir: %v; want an error naming %s", mode, err, private)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Open took %v to fail", d)
	}
	if os.Geteuid() == 0 {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("Open created %s before failing (stat: %v)", dir, err)
		}
	}
	t.Log(err)
}

func TestMissingBinariesNameTheInstallCommand(t *testing.T) {
	t.Parallel()
	empty := t.TempDir()
	const install = "install them with: apt-get update && apt-get install -y postgresql-15"

	_, err := findBinDir("", empty)
	if want := "PostgreSQL server binaries not found under " + empty + "; " + install; err == nil || err.Error() != want {
		t.Errorf("findBinDir: %v, want %q", err, want)
	}
	_, err = Open(t.Context(), Options{Dir: filepath.Join(testBase(t), "pg"), BinDir: empty})
	if err == nil || !strings.Contains(err.Error(), install) {
		t.Errorf("Open with empty BinDir: %v, want the install command", err)
	}
	// The real default must be there: the other tests run it.
	if _, err := findBinDir("", serverRoot); err != nil {
		t.Error(err)
	}
}
