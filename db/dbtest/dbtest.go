// Package dbtest gives tests a real, migrated PostgreSQL database of their own: one cluster
// per test binary (or the server at TEST_DATABASE_URL), one database per test, cloned from a
// template that was migrated once.
package dbtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"floh/db"
	"floh/db/pgcluster"
)

var (
	// template is per process: test binaries of several packages run at once against one
	// shared server when TEST_DATABASE_URL is set.
	template  = fmt.Sprintf("floh_template_%d", os.Getpid())
	setupOnce sync.Once
	setupErr  error
	cluster   *pgcluster.Cluster
	// clusterParent is the directory setup made for the cluster's own; the cluster removes
	// only its own when it closes.
	clusterParent string
	// adminURL returns a URL for a database on the test server.
	adminURL func(dbname string) string
	counter  atomic.Int64
	// createMu serialises CREATE DATABASE ... TEMPLATE: Postgres refuses to copy a template
	// that another CREATE DATABASE is reading at the same moment.
	createMu sync.Mutex
)

// Main runs a package's tests and stops the cluster afterwards. Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if cluster == nil && adminURL != nil {
		dropDatabase(template)
	}
	if cluster != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := cluster.Close(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "dbtest: stop cluster:", err)
		}
		cancel()
	}
	if clusterParent != "" {
		// Remove, not RemoveAll: what a cluster that failed to stop left is kept for a look.
		if err := os.Remove(clusterParent); err != nil {
			fmt.Fprintln(os.Stderr, "dbtest:", err)
		}
	}
	os.Exit(code)
}

func setup() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if url := firstEnv("TEST_DATABASE_URL", "DATABASE_URL"); url != "" {
		cfg, err := pgx.ParseConfig(url)
		if err != nil {
			return fmt.Errorf("parse TEST_DATABASE_URL: %w", err)
		}
		adminURL = func(name string) string {
			c := cfg.Copy()
			c.Database = name
			return fmt.Sprintf("postgres://%s:%s@%s:%d/%s?sslmode=disable", c.User, c.Password, c.Host, c.Port, name)
		}
	} else {
		// /tmp is reachable by the postgres user; the parent is made 0711 for it.
		base, err := os.MkdirTemp("", "floh-dbtest-")
		if err != nil {
			return err
		}
		clusterParent = base
		if err := os.Chmod(base, 0o711); err != nil {
			return err
		}
		cluster, err = pgcluster.Open(ctx, pgcluster.Options{
			Dir: filepath.Join(base, "pg"), Database: "postgres", Ephemeral: true, Owner: true,
		})
		if err != nil {
			return fmt.Errorf("start test PostgreSQL: %w", err)
		}
		adminURL = cluster.AdminURL
	}
	admin, err := pgx.Connect(ctx, adminURL("postgres"))
	if err != nil {
		return err
	}
	defer admin.Close(ctx)
	// A template left by an interrupted run on a shared server is rebuilt from scratch.
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+template+" WITH (FORCE)"); err != nil {
		return err
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+template); err != nil {
		return err
	}
	d, err := db.Open(ctx, adminURL(template))
	if err != nil {
		return err
	}
	_, err = d.Migrate(ctx)
	// Closed before any copy: CREATE DATABASE ... TEMPLATE refuses a template with sessions.
	d.Close()
	if err != nil {
		return fmt.Errorf("migrate template: %w", err)
	}
	// Nothing connects to the template from now on but the copies themselves, which read it
	// without a session; this keeps a stray one off. (It does not reach autovacuum, which
	// CREATE DATABASE stops itself.)
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+template+" WITH ALLOW_CONNECTIONS false"); err != nil {
		return err
	}
	return nil
}

func firstEnv(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}

// New returns a fresh migrated database for t, dropped when t ends.
func New(t testing.TB) *db.DB {
	t.Helper()
	name := createDatabase(t, "floh_test", template)
	d, err := db.Open(context.Background(), adminURL(name))
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	t.Cleanup(d.Close)
	return d
}

// NewEmpty creates an empty database (no migrations) for t and returns its URL, for tests of
// migration handling.
func NewEmpty(t testing.TB) string {
	t.Helper()
	return adminURL(createDatabase(t, "floh_empty", ""))
}

// createDatabase creates a database, from a template when one is named, and drops it when t
// ends (after cleanups registered later, such as closing its pool).
func createDatabase(t testing.TB, prefix, from string) string {
	t.Helper()
	setupOnce.Do(func() { setupErr = setup() })
	if setupErr != nil {
		t.Fatalf("test database: %v", setupErr)
	}
	ctx := context.Background()
	name := fmt.Sprintf("%s_%d_%d", prefix, os.Getpid(), counter.Add(1))
	admin, err := pgx.Connect(ctx, adminURL("postgres"))
	if err != nil {
		t.Fatalf("connect to test server: %v", err)
	}
	defer admin.Close(ctx)
	stmt := "CREATE DATABASE " + name
	if from != "" {
		stmt += " TEMPLATE " + from
		createMu.Lock()
		defer createMu.Unlock()
	}
	err = retryTemplateInUse(func() error { _, err := admin.Exec(ctx, stmt); return err }, time.Sleep)
	if err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() { dropDatabase(name) })
	return name
}

// templateInUseBackoff are the waits before each new attempt of a CREATE DATABASE that found
// its template in use, about 3 s in all. Each attempt has already waited up to 5 s in
// Postgres for the template's sessions to end, so this is for a machine under heavy load.
var templateInUseBackoff = []time.Duration{
	100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, 1600 * time.Millisecond,
}

// retryTemplateInUse runs create, again after each wait of templateInUseBackoff while it fails
// with SQLSTATE 55006 (object_in_use: "source database ... is being accessed by other users").
func retryTemplateInUse(create func() error, sleep func(time.Duration)) error {
	err := create()
	for _, wait := range templateInUseBackoff {
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "55006" {
			break
		}
		sleep(wait)
		err = create()
	}
	return err
}

func dropDatabase(name string) {
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, adminURL("postgres"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "dbtest: drop", name+":", err)
		return
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		fmt.Fprintln(os.Stderr, "dbtest: drop", name+":", err)
	}
}

// User inserts a confirmed, active user with the given system roles.
func User(t testing.TB, d *db.DB, email string, roles ...string) *db.User {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	u := &db.User{
		ID: uuid.New(), Iss: "https://idp.example.test", Sub: uuid.NewString(), Email: email,
		DisplayName: strings.SplitN(email, "@", 2)[0], Confirmed: true, Active: true,
		CreatedAt: now, UpdatedAt: now, Roles: roles,
	}
	if u.Roles == nil {
		u.Roles = []string{}
	}
	if err := db.InsertUser(ctx, d.Bun, u); err != nil {
		t.Fatalf("insert user %s: %v", email, err)
	}
	if err := db.SetUserRoles(ctx, d.Bun, u.ID, u.Roles); err != nil {
		t.Fatalf("set roles of %s: %v", email, err)
	}
	return u
}

// NewDurable starts a PostgreSQL server of t's own with production's durability (fsync and
// synchronous_commit on, unlike the shared test server) and returns a migrated database on
// it, for benchmarks whose figure is bound by the cost of a commit.
func NewDurable(t testing.TB) *db.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base, err := os.MkdirTemp("", "floh-dbtest-durable-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(base) })
	// /tmp is reachable by the postgres user; the parent is made 0711 for it.
	if err := os.Chmod(base, 0o711); err != nil {
		t.Fatal(err)
	}
	c, err := pgcluster.Open(ctx, pgcluster.Options{Dir: filepath.Join(base, "pg"), Database: "floh", Owner: true})
	if err != nil {
		t.Fatalf("start durable PostgreSQL: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			t.Errorf("stop durable PostgreSQL: %v", err)
		}
	})
	d, err := db.Open(ctx, c.AdminURL("floh"))
	if err != nil {
		t.Fatalf("open durable database: %v", err)
	}
	t.Cleanup(d.Close)
	for _, setting := range []string{"fsync", "synchronous_commit"} {
		var v string
		if err := d.Pool.QueryRow(ctx, "SHOW "+setting).Scan(&v); err != nil || v != "on" {
			t.Fatalf("durable PostgreSQL: %s = %q (%v), want on", setting, v, err)
		}
	}
	if _, err := d.Migrate(ctx); err != nil {
		t.Fatalf("migrate durable database: %v", err)
	}
	return d
}
