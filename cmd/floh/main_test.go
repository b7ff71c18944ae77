package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"floh/db"
	"floh/db/dbtest"
	"floh/engine"
)

func TestMain(m *testing.M) {
	if os.Getenv(serveChildEnv) != "" {
		serveChild()
	}
	dbtest.Main(m)
}

// dataDir is a data directory the postgres user can reach when the tests run as root.
func dataDir(t *testing.T) string {
	t.Helper()
	base, err := os.MkdirTemp("", "floh-cmd-test-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(base, 0o711); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(base) })
	return filepath.Join(base, "data")
}

func runCmd(t *testing.T, vars map[string]string, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, env(vars), &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestCLIReachesTheEmbeddedClusterWithoutServe(t *testing.T) {
	vars := map[string]string{"FLOH_DATA_DIR": dataDir(t)}
	_, _, err := runCmd(t, vars, "token", "create", "--email", "ops@example.test", "--name", "x")
	if err == nil || !strings.Contains(err.Error(), "no user has the email ops@example.test") {
		t.Fatalf("token for an unknown user: %v", err)
	}
	out, _, err := runCmd(t, vars, "user", "add", "--email", "ops@example.test", "--roles", "Admin")
	if err != nil {
		t.Fatal(err)
	}
	out, stderr, err := runCmd(t, vars, "token", "create", "--email", "ops@example.test", "--name", "backup script",
		"--permissions", "audit:read,user:read", "--expires", "30d")
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(out)
	if strings.Count(out, "\n") != 1 || !strings.HasPrefix(token, "floh_") || !strings.Contains(stderr, "backup script") {
		t.Fatalf("stdout must be the bare token only: %q (stderr %q)", out, stderr)
	}
	_, _, err = runCmd(t, vars, "token", "create", "--email", "ops@example.test", "--name", "x", "--expires", "2y")
	if err == nil || !strings.Contains(err.Error(), "--expires") {
		t.Fatalf("bad --expires: %v", err)
	}
	_, _, err = runCmd(t, vars, "token", "create", "--email", "ops@example.test", "--name", "x", "--permissions", "everything")
	if err == nil || !strings.Contains(err.Error(), "--permissions[0]") {
		t.Fatalf("bad --permissions: %v", err)
	}
	// The token works against the same database.
	verifyToken(t, vars, token, engine.PermAuditRead, engine.PermUserManage)
}

func verifyToken(t *testing.T, vars map[string]string, token string, has, lacks engine.Permission) {
	t.Helper()
	err := withEngine(context.Background(), env(vars), discard(), func(eng *engine.Engine) error {
		p, err := eng.AuthenticateToken(context.Background(), token, "")
		if err != nil {
			return err
		}
		if !p.Can(has) || p.Can(lacks) {
			return fmt.Errorf("token permissions %v", p.Permissions.List())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitHealthy(t *testing.T, base string, done <-chan error) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("serve stopped early: %v", err)
		default:
		}
		resp, err := http.Get(base + "/api/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("server did not become healthy")
}

func TestServeStopsCleanlyAndDataSurvivesRestart(t *testing.T) {
	dir := dataDir(t)
	addr := freeAddr(t)
	vars := map[string]string{"FLOH_DATA_DIR": dir, "FLOH_ADDR": addr}
	start := func() (context.CancelFunc, chan error, *bytes.Buffer) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		var out bytes.Buffer
		go func() { done <- run(ctx, []string{"serve"}, env(vars), &out, &bytes.Buffer{}) }()
		waitHealthy(t, "http://"+addr, done)
		return cancel, done, &out
	}
	stop := func(cancel context.CancelFunc, done chan error) {
		cancel() // what SIGINT/SIGTERM do through signal.NotifyContext
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("serve returned %v on shutdown", err)
			}
		case <-time.After(60 * time.Second):
			t.Fatal("serve did not stop")
		}
		if _, err := os.Stat(filepath.Join(dir, "pg", "postmaster.pid")); !os.IsNotExist(err) {
			t.Fatalf("PostgreSQL still running after serve stopped: %v", err)
		}
	}
	cancel, done, out := start()
	if !strings.Contains(out.String(), "http://"+addr) || !strings.Contains(out.String(), "admin@example.test") {
		t.Fatalf("serve announces the URL and the demo logins: %q", out.String())
	}
	st, err := os.Stat(dir)
	if err != nil || st.Mode().Perm() != 0o711 {
		t.Fatalf("data dir mode: %v %v", err, st.Mode())
	}
	// A CLI command while serve runs uses the running cluster and leaves it running.
	if _, _, err := runCmd(t, vars, "user", "add", "--email", "kept@example.test"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + addr + "/api/health")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("serve after a CLI command: %v", err)
	}
	resp.Body.Close()
	stop(cancel, done)

	cancel, done, _ = start()
	defer func() { stop(cancel, done) }()
	_, stderr, err := runCmd(t, vars, "user", "add", "--email", "kept@example.test")
	if err != nil || !strings.Contains(stderr, "Found kept@example.test") {
		t.Fatalf("the user added before the restart must still exist: %v %q", err, stderr)
	}
}

func TestServeOnAnExternalDatabaseRefusesPendingMigrations(t *testing.T) {
	url := dbtest.NewEmpty(t)
	vars := map[string]string{"DATABASE_URL": url, "FLOH_DATA_DIR": t.TempDir(), "FLOH_ADDR": freeAddr(t)}
	_, _, err := runCmd(t, vars, "serve")
	if err == nil || !strings.Contains(err.Error(), "pending migration") || !strings.Contains(err.Error(), "floh migrate") {
		t.Fatalf("serve with pending migrations: %v", err)
	}
	out, _, err := runCmd(t, vars, "migrate")
	if err != nil || !strings.Contains(out, "0001_foundation") {
		t.Fatalf("migrate: %v %q", err, out)
	}
	out, _, err = runCmd(t, vars, "migrate")
	if err != nil || !strings.Contains(out, "up to date") {
		t.Fatalf("second migrate: %v %q", err, out)
	}
	d, err := db.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	pending, err := d.Pending(context.Background())
	if err != nil || len(pending) != 0 {
		t.Fatalf("pending after migrate: %v %v", pending, err)
	}
	// No embedded cluster was started for an external database.
	if _, err := os.Stat(filepath.Join(vars["FLOH_DATA_DIR"], "pg")); !os.IsNotExist(err) {
		t.Fatal("an embedded cluster was created despite DATABASE_URL")
	}
}

func TestServeMigrateFlagMigratesAnExternalDatabase(t *testing.T) {
	ctx := context.Background()
	url := dbtest.NewEmpty(t)
	d, err := db.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	ext := &database{DB: d}
	defer ext.close(ctx)
	if err := ext.prepareSchema(ctx, false, discard()); err == nil {
		t.Fatal("without --migrate, pending migrations refuse the start")
	}
	if err := ext.prepareSchema(ctx, true, discard()); err != nil {
		t.Fatalf("with --migrate: %v", err)
	}
	if pending, err := d.Pending(ctx); err != nil || len(pending) != 0 {
		t.Fatalf("pending after --migrate: %v %v", pending, err)
	}
	if err := ext.prepareSchema(ctx, false, discard()); err != nil {
		t.Fatalf("an up-to-date database starts without --migrate: %v", err)
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"frobnicate"}, {"token"}, {"token", "create"}} {
		_, _, err := runCmd(t, nil, args...)
		if _, ok := err.(usageError); !ok {
			t.Errorf("%v: want a usage error, got %v", args, err)
		}
	}
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
