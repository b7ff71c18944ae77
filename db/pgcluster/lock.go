package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// Three flock files sit next to the cluster directory, owned by the invoking
// user. flock rather than fcntl locks because flock conflicts between two
// opens in one process too, which the test helpers rely on.
//
//	Dir.lock        held exclusively by the Owner handle ("floh serve") for
//	                its whole life.
//	Dir.ctl.lock    held exclusively and briefly around every "is it running?
//	                start it / stop it" step, so two processes never both start
//	                the server, and nobody attaches while it is being stopped.
//	Dir.users.lock  held shared by every non-owner handle for its whole life,
//	                so a non-owner does not stop the server under another one.
//	                Its content is the pid of the postmaster a non-owner
//	                started, if any: whichever non-owner leaves last stops that
//	                server, even if it was not the one that started it.
type lockFiles struct{ owner, ctl, users string }

func lockFilesFor(dir string) lockFiles {
	return lockFiles{owner: dir + ".lock", ctl: dir + ".ctl.lock", users: dir + ".users.lock"}
}

func (l lockFiles) remove() {
	for _, p := range []string{l.owner, l.ctl, l.users} {
		os.Remove(p)
	}
}

func openLockFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
}

// tryLock takes how (LOCK_EX or LOCK_SH) on f without waiting; a lock held
// elsewhere is reported as false, not as an error.
func tryLock(f *os.File, how int) (bool, error) {
	err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("locking %s: %w", f.Name(), err)
	}
	return true, nil
}

// lockWait opens path and waits for how on it. It polls rather than blocking
// in flock so that ctx can end the wait.
func lockWait(ctx context.Context, path string, how int) (*os.File, error) {
	f, err := openLockFile(path)
	if err != nil {
		return nil, err
	}
	for {
		ok, err := tryLock(f, how)
		if ok {
			return f, nil
		}
		if err == nil {
			select {
			case <-time.After(20 * time.Millisecond):
				continue
			case <-ctx.Done():
				err = fmt.Errorf("waiting for lock %s: %w", path, context.Cause(ctx))
			}
		}
		f.Close()
		return nil, err
	}
}

// tryLockPath opens path and takes an exclusive lock without waiting; it
// returns a nil file when the lock is held elsewhere.
func tryLockPath(path string) (*os.File, error) {
	f, err := openLockFile(path)
	if err != nil {
		return nil, err
	}
	ok, err := tryLock(f, syscall.LOCK_EX)
	if !ok {
		f.Close()
		return nil, err
	}
	return f, nil
}
