package pgcluster

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

const (
	serverRoot  = "/usr/lib/postgresql"
	installHint = "apt-get update && apt-get install -y postgresql-15"
)

// findBinDir returns explicit if it holds the server binaries, or else the
// bin directory of the highest PostgreSQL version installed under root.
func findBinDir(explicit, root string) (string, error) {
	if explicit != "" {
		if hasServer(explicit) {
			return explicit, nil
		}
		return "", fmt.Errorf("PostgreSQL server binaries not found in %s; install them with: %s", explicit, installHint)
	}
	dirs, err := filepath.Glob(filepath.Join(root, "*", "bin"))
	if err != nil {
		return "", err
	}
	var best string
	var bestVersion []int
	for _, d := range dirs {
		v, ok := parseVersion(filepath.Base(filepath.Dir(d)))
		if ok && hasServer(d) && (best == "" || slices.Compare(v, bestVersion) > 0) {
			best, bestVersion = d, v
		}
	}
	if best == "" {
		return "", fmt.Errorf("PostgreSQL server binaries not found under %s; install them with: %s", root, installHint)
	}
	return best, nil
}

// parseVersion reads Debian's version directory names ("15", "9.6") so that
// 15 sorts above 9.6.
func parseVersion(s string) ([]int, bool) {
	var v []int
	for part := range strings.SplitSeq(s, ".") {
		n, err := strconv.Atoi(part)
		if err != nil {
			return nil, false
		}
		v = append(v, n)
	}
	return v, true
}

// hasServer reports whether dir has everything Open runs: postgresql-client-N
// installs psql and friends into the same bin directory without the server.
func hasServer(dir string) bool {
	for _, prog := range []string{"initdb", "pg_ctl", "postgres"} {
		fi, err := os.Stat(filepath.Join(dir, prog))
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			return false
		}
	}
	return true
}

// account is the OS identity the server processes run as.
type account struct {
	desc     string // for error messages
	uid, gid uint32
	groups   []uint32
	// foreign is set when the server runs as another user than this process,
	// which happens when we are root because initdb and postgres refuse root.
	foreign bool
}

func serverAccount() (account, error) {
	if os.Geteuid() != 0 {
		groups, err := os.Getgroups()
		if err != nil {
			return account{}, err
		}
		a := account{uid: uint32(os.Geteuid()), gid: uint32(os.Getegid())}
		for _, g := range groups {
			a.groups = append(a.groups, uint32(g))
		}
		a.desc = fmt.Sprintf("this process's user (uid %d)", a.uid)
		return a, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return account{}, fmt.Errorf("running as root, PostgreSQL must run as the postgres OS user, which was not found (%w); it comes with the server package: %s", err, installHint)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return account{}, err
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return account{}, err
	}
	// Supplementary groups stay empty: the Credential used to run the server
	// sets none, so the reachability check must not count on them either.
	return account{
		desc:    fmt.Sprintf("user postgres (uid %d, gid %d)", uid, gid),
		uid:     uint32(uid),
		gid:     uint32(gid),
		foreign: true,
	}, nil
}

func (a account) sysProcAttr() *syscall.SysProcAttr {
	// Own process group: a Ctrl-C in the terminal goes to the foreground
	// group and must reach neither these commands nor the server they start,
	// which the app stops itself after draining its work.
	attr := &syscall.SysProcAttr{Setpgid: true}
	if a.foreign {
		attr.Credential = &syscall.Credential{Uid: a.uid, Gid: a.gid}
	}
	return attr
}

func (a account) canSearch(fi fs.FileInfo) bool {
	st := fi.Sys().(*syscall.Stat_t)
	perm := fi.Mode().Perm()
	switch {
	case st.Uid == a.uid:
		return perm&0o100 != 0
	case st.Gid == a.gid || slices.Contains(a.groups, st.Gid):
		return perm&0o010 != 0
	default:
		return perm&0o001 != 0
	}
}

// checkReachable fails before anything is run or created when a's processes
// could not get through one of dir's existing ancestors; otherwise initdb or
// pg_ctl would fail later with a message that does not say which directory
// is at fault.
func checkReachable(dir string, a account) error {
	var ancestors []string
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		ancestors = append(ancestors, p)
		if p == filepath.Dir(p) {
			break
		}
	}
	for _, p := range slices.Backward(ancestors) {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // makeParents creates the rest searchable
		}
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			return fmt.Errorf("cannot use %s for the PostgreSQL cluster: %s is not a directory", dir, p)
		}
		if !a.canSearch(fi) {
			st := fi.Sys().(*syscall.Stat_t)
			return fmt.Errorf("cannot use %s for the PostgreSQL cluster: the server runs as %s, which cannot enter directory %s (mode %#o, owner uid %d, gid %d); use a data directory elsewhere or make %s searchable (chmod o+x %s)",
				dir, a.desc, p, fi.Mode().Perm(), st.Uid, st.Gid, p, p)
		}
	}
	return nil
}

// makeParents creates the missing ancestors of dir.
func makeParents(dir string, a account) error {
	parent := filepath.Dir(dir)
	if _, err := os.Stat(parent); !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := makeParents(parent, a); err != nil {
		return err
	}
	if err := os.Mkdir(parent, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	if a.foreign {
		// A restrictive umask would lock the server's user out of the
		// directories we just created for it.
		return os.Chmod(parent, 0o755)
	}
	return nil
}

// freePort asks the kernel for a port nobody is listening on. Another process
// may take it before postgres binds it; start retries in that case.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// readFrom returns what was appended to path after offset, at most the last
// 4 KiB, to quote the server log of one start attempt in an error.
func readFrom(path string, offset int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size()-offset > 4096 {
		offset = fi.Size() - 4096
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return ""
	}
	b, _ := io.ReadAll(f)
	return string(bytes.TrimSpace(b))
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// readPidFile returns the postmaster's pid and port from postmaster.pid,
// which is how a process that did not start the server finds it.
func readPidFile(dir string) (pid, port int, err error) {
	b, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	if err != nil {
		return 0, 0, err
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 4 {
		return 0, 0, fmt.Errorf("%s/postmaster.pid is incomplete", dir)
	}
	if pid, err = strconv.Atoi(strings.TrimSpace(lines[0])); err != nil {
		return 0, 0, fmt.Errorf("%s/postmaster.pid: bad pid: %w", dir, err)
	}
	if port, err = strconv.Atoi(strings.TrimSpace(lines[3])); err != nil {
		return 0, 0, fmt.Errorf("%s/postmaster.pid: bad port: %w", dir, err)
	}
	return pid, port, nil
}
