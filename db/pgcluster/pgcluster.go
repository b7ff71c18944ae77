// Package pgcluster runs floh's private PostgreSQL cluster (the embedded
// default used when no DATABASE_URL is given, and the throwaway cluster of the
// test helpers) from the machine's Debian server binaries.
//
// Several processes may share one cluster directory: one long-lived Owner
// ("floh serve") and any number of short-lived non-owners (CLI commands).
// Whoever needs the server and finds it stopped starts it; see lock.go for
// who stops it again.
package pgcluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5"
)

// superuser is the role initdb creates; every URL connects as it.
const superuser = "floh"

type Options struct {
	Dir      string // the cluster directory, e.g. $FLOH_DATA_DIR/pg; created if missing
	BinDir   string // optional; default: highest /usr/lib/postgresql/*/bin
	Database string // database to create if missing and to connect to (e.g. "floh"); default "postgres"
	// PasswordFile: where the superuser's generated password is kept (0600,
	// owned by the invoking user, i.e. root when run as root; not inside Dir,
	// which belongs to postgres). Created at initdb time. Empty means trust
	// auth, as for Ephemeral.
	PasswordFile string
	// Ephemeral is for tests: trust auth unless PasswordFile is set,
	// durability switched off, Owner semantics, and Close removes Dir.
	Ephemeral bool
	// Owner is set by the long-lived process ("floh serve"): only one Owner
	// may have Dir open, and its Close always stops the server.
	Owner  bool
	Logger *slog.Logger // optional; progress lines
}

type Cluster struct {
	opts        Options
	dir         string
	bin         string
	acct        account
	locks       lockFiles
	log         *slog.Logger
	password    string
	port        int
	startedHere bool
	owner       bool
	// held is Dir.lock for an Owner, Dir.users.lock for a non-owner.
	held   *os.File
	closed bool
}

// Open makes sure the cluster is initialised and running, starting it if
// needed, and returns a handle.
func Open(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Dir == "" {
		return nil, errors.New("pgcluster: Options.Dir is required")
	}
	if opts.Database == "" {
		opts.Database = "postgres"
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	bin, err := findBinDir(opts.BinDir, serverRoot)
	if err != nil {
		return nil, err
	}
	acct, err := serverAccount()
	if err != nil {
		return nil, err
	}
	if err := checkReachable(dir, acct); err != nil {
		return nil, err
	}
	if err := makeParents(dir, acct); err != nil {
		return nil, fmt.Errorf("creating the parent directories of %s: %w", dir, err)
	}
	c := &Cluster{
		opts:  opts,
		dir:   dir,
		bin:   bin,
		acct:  acct,
		locks: lockFilesFor(dir),
		log:   opts.Logger,
		owner: opts.Owner || opts.Ephemeral,
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}

	ctl, err := lockWait(ctx, c.locks.ctl, syscall.LOCK_EX)
	if err != nil {
		return nil, err
	}
	defer ctl.Close()
	if c.owner {
		// Taken under ctl so that a non-owner's brief probe of this lock in
		// Close (also under ctl) is never mistaken for another serve.
		if c.held, err = tryLockPath(c.locks.owner); err != nil {
			return nil, err
		}
		if c.held == nil {
			return nil, fmt.Errorf("another floh serve is using %s", dir)
		}
	} else if c.held, err = lockWait(ctx, c.locks.users, syscall.LOCK_SH); err != nil {
		return nil, err
	}
	if err := c.attachOrStart(ctx); err != nil {
		c.held.Close()
		return nil, err
	}
	return c, nil
}

// attachOrStart runs with Dir.ctl.lock held.
func (c *Cluster) attachOrStart(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join(c.dir, "PG_VERSION")); errors.Is(err, fs.ErrNotExist) {
		if err := c.initdb(ctx); err != nil {
			return err
		}
	} else if err != nil {
		return err
	} else if c.opts.PasswordFile != "" {
		b, err := os.ReadFile(c.opts.PasswordFile)
		if err != nil {
			return fmt.Errorf("reading the password of the PostgreSQL cluster in %s: %w", c.dir, err)
		}
		if c.password = strings.TrimSpace(string(b)); c.password == "" {
			return fmt.Errorf("password file %s of the PostgreSQL cluster in %s is empty", c.opts.PasswordFile, c.dir)
		}
	}

	running, err := c.running(ctx)
	if err != nil {
		return err
	}
	if running {
		if _, c.port, err = readPidFile(c.dir); err != nil {
			return err
		}
		c.log.Info("pgcluster: attached to running cluster", "dir", c.dir, "port", c.port)
	} else if err := c.start(ctx); err != nil {
		return err
	}
	err = c.ensureDatabase(ctx)
	if err == nil && c.startedHere {
		err = c.recordStart()
	}
	if err != nil && c.startedHere {
		// Nobody else knows about this server yet: leave nothing behind.
		c.stop(context.WithoutCancel(ctx))
	}
	return err
}

func (c *Cluster) initdb(ctx context.Context) error {
	c.log.Info("pgcluster: initialising cluster in " + c.dir)
	if err := os.Mkdir(c.dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	if c.acct.foreign {
		if err := os.Chown(c.dir, int(c.acct.uid), int(c.acct.gid)); err != nil {
			return err
		}
	}
	args := []string{"-D", c.dir, "-U", superuser, "-E", "UTF8", "--locale=C.UTF-8"}
	if c.opts.Ephemeral {
		args = append(args, "--no-sync")
	}
	if c.opts.PasswordFile == "" {
		args = append(args, "-A", "trust")
	} else {
		secret := make([]byte, 32)
		rand.Read(secret)
		c.password = hex.EncodeToString(secret)
		// Written before initdb: a cluster whose password was lost would be
		// unusable, whereas a password file for a failed initdb is simply
		// replaced on the next attempt.
		if err := writePasswordFile(c.opts.PasswordFile, c.password); err != nil {
			return err
		}
		pwfile, err := c.serverReadableSecret(c.password)
		if err != nil {
			return err
		}
		defer os.Remove(pwfile)
		args = append(args, "-A", "scram-sha-256", "--pwfile="+pwfile)
	}
	_, err := c.run(ctx, "initdb", args...)
	return err
}

// serverReadableSecret writes s to a temporary file that initdb, running as
// the server's user, can read. It goes next to Dir, not inside it, because
// initdb refuses a non-empty directory.
func (c *Cluster) serverReadableSecret(s string) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(c.dir), ".pgcluster-pw-*")
	if err != nil {
		return "", err
	}
	_, err = f.WriteString(s + "\n")
	if err == nil && c.acct.foreign {
		err = f.Chown(int(c.acct.uid), int(c.acct.gid))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

func writePasswordFile(path, password string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	// CreateTemp makes the file 0600; the rename keeps readers from ever
	// seeing a partial password.
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	_, err = f.WriteString(password + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("writing password file %s: %w", path, err)
	}
	return nil
}

// running trusts postmaster.pid only when pg_ctl confirms that its process is
// alive, so that a stale file left by a crash reads as stopped.
func (c *Cluster) running(ctx context.Context) (bool, error) {
	if _, err := os.Stat(filepath.Join(c.dir, "postmaster.pid")); errors.Is(err, fs.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	_, err := c.run(ctx, "pg_ctl", "status", "-D", c.dir)
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 3 { // pg_ctl's "no server running"
		return false, nil
	}
	return err == nil, err
}

func (c *Cluster) start(ctx context.Context) error {
	logFile := filepath.Join(c.dir, "postgresql.log")
	settings := "-c listen_addresses=127.0.0.1 -c unix_socket_directories=''"
	if c.opts.Ephemeral {
		settings += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
	}
	var err error
	var serverLog string
	for range 3 {
		if c.port, err = freePort(); err != nil {
			return err
		}
		offset := fileSize(logFile)
		_, err = c.run(ctx, "pg_ctl", "start", "-w", "-D", c.dir, "-l", logFile,
			"-o", fmt.Sprintf("-p %d %s", c.port, settings))
		if err == nil {
			c.startedHere = true
			c.log.Info("pgcluster: started on port "+strconv.Itoa(c.port), "dir", c.dir)
			return nil
		}
		serverLog = readFrom(logFile, offset)
		if !strings.Contains(serverLog, "could not bind") {
			break
		}
	}
	return fmt.Errorf("starting PostgreSQL in %s: %w\nserver log %s:\n%s", c.dir, err, logFile, serverLog)
}

// recordStart notes in Dir.users.lock whether a non-owner started this
// postmaster, so that the last non-owner to leave knows it may stop it.
func (c *Cluster) recordStart() error {
	var mark string
	if !c.owner {
		pid, _, err := readPidFile(c.dir)
		if err != nil {
			return err
		}
		mark = strconv.Itoa(pid)
	}
	return os.WriteFile(c.locks.users, []byte(mark), 0o600)
}

func (c *Cluster) stop(ctx context.Context) error {
	if _, err := c.run(ctx, "pg_ctl", "stop", "-D", c.dir, "-m", "fast", "-w"); err != nil {
		return err
	}
	c.log.Info("pgcluster: stopped", "dir", c.dir)
	return nil
}

func (c *Cluster) ensureDatabase(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, c.AdminURL("postgres"))
	if err != nil {
		return fmt.Errorf("connecting to the PostgreSQL cluster in %s: %w", c.dir, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	err = conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", c.opts.Database).Scan(&exists)
	if err == nil && !exists {
		_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{c.opts.Database}.Sanitize())
	}
	if err != nil {
		return fmt.Errorf("creating database %q in the PostgreSQL cluster in %s: %w", c.opts.Database, c.dir, err)
	}
	return nil
}

// run runs one of the server binaries as the server's user and returns its
// combined output, which is quoted in the error when it fails.
func (c *Cluster) run(ctx context.Context, prog string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, prog), args...)
	cmd.Dir = "/" // the server's user may not be allowed into our working directory
	cmd.SysProcAttr = c.acct.sysProcAttr()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w: %s", prog, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return out, nil
}

// URL is the postgres URL of Options.Database.
func (c *Cluster) URL() string { return c.AdminURL(c.opts.Database) }

// AdminURL is URL with another database, e.g. one the tests create from a
// template.
func (c *Cluster) AdminURL(db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(superuser),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	if c.password != "" {
		u.User = url.UserPassword(superuser, c.password)
	}
	return u.String()
}

func (c *Cluster) Port() int { return c.port }

// StartedHere reports whether this handle started the server, as opposed to
// finding it running.
func (c *Cluster) StartedHere() bool { return c.startedHere }

// Close releases the handle. An Owner stops the server and, if Ephemeral,
// removes Dir. A non-owner stops the server only when a non-owner started it
// and neither an Owner nor another non-owner is using it any more. Calling
// Close again does nothing.
func (c *Cluster) Close(ctx context.Context) error {
	if c.closed {
		return nil
	}
	c.closed = true
	defer c.held.Close()
	ctl, err := lockWait(ctx, c.locks.ctl, syscall.LOCK_EX)
	if err != nil {
		return err
	}
	defer ctl.Close()
	if !c.owner {
		return c.closeNonOwner(ctx)
	}
	if running, err := c.running(ctx); err != nil {
		return err
	} else if running {
		if err := c.stop(ctx); err != nil {
			return err
		}
	}
	if c.opts.Ephemeral {
		if err := os.RemoveAll(c.dir); err != nil {
			return err
		}
		// Safe only because nobody else uses an ephemeral cluster; removing
		// a lock file others may have open would split them across inodes.
		c.locks.remove()
	}
	return nil
}

// closeNonOwner runs with Dir.ctl.lock held.
func (c *Cluster) closeNonOwner(ctx context.Context) error {
	// Upgrading our shared lock succeeds only if no other non-owner holds it.
	if ok, err := tryLock(c.held, syscall.LOCK_EX); !ok {
		return err
	}
	owner, err := tryLockPath(c.locks.owner)
	if owner == nil {
		return err // nil error: a serve owns the server now
	}
	defer owner.Close()
	mark, err := os.ReadFile(c.locks.users)
	if err != nil || len(mark) == 0 {
		return err
	}
	running, err := c.running(ctx)
	if err != nil || !running {
		return err
	}
	pid, _, err := readPidFile(c.dir)
	if err != nil || strconv.Itoa(pid) != string(mark) {
		return err // not the server a non-owner started: someone else's to stop
	}
	return c.stop(ctx)
}
