package ldaptest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// daemon is a server process run in the foreground in its own process group, so that stopping
// it also stops whatever it forked (Samba runs a process per service).
type daemon struct {
	name string
	cmd  *exec.Cmd
	out  *tail
	done chan struct{} // closed once the process has exited
	err  error         // the process's exit status, valid after done
}

// startDaemon starts cmd. The process gets SIGTERM when this process dies, even by SIGKILL,
// so a crashed test binary leaves no server behind. Pdeathsig fires when the OS thread that
// forked the child ends, not the process, so the child is forked from a goroutine locked to
// its thread for the child's whole life: Go never ends that thread under it.
func startDaemon(name string, cmd *exec.Cmd) (*daemon, error) {
	d := &daemon{name: name, cmd: cmd, out: &tail{}, done: make(chan struct{})}
	if cmd.Stdout == nil {
		cmd.Stdout = d.out
	}
	cmd.Stderr = cmd.Stdout
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// The thread is never unlocked: it ends with this goroutine, after the child.
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		d.err = cmd.Wait()
		close(d.done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	return d, nil
}

// exited reports whether the process has ended.
func (d *daemon) exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// failure describes an early exit with the end of the process's output.
func (d *daemon) failure() error {
	<-d.done
	return fmt.Errorf("%s exited (%v); its output:\n%s", d.name, d.err, d.out.String())
}

// stop sends SIGTERM to the process group, and SIGKILL if it has not exited in 10 s.
func (d *daemon) stop() error {
	pgid := d.cmd.Process.Pid
	if d.exited() {
		// Children may outlive the leader; the group id is still theirs.
		syscall.Kill(-pgid, syscall.SIGKILL)
		return nil
	}
	if err := syscall.Kill(-pgid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stop %s: %w", d.name, err)
	}
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-d.done
	}
	// Whatever the leader left behind in its group goes too.
	syscall.Kill(-pgid, syscall.SIGKILL)
	return nil
}

// waitReady calls probe until it succeeds, the process exits or 30 s pass. Servers give no
// readiness signal but an answering socket, so this polls, briefly at first.
func (d *daemon) waitReady(probe func() error) error {
	deadline := time.Now().Add(30 * time.Second)
	delay := 5 * time.Millisecond
	for {
		err := probe()
		if err == nil {
			return nil
		}
		if d.exited() {
			return d.failure()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer within 30 s (%v); its output so far:\n%s", d.name, err, d.out.String())
		}
		select {
		case <-d.done:
		case <-time.After(delay):
		}
		delay = min(delay*2, 100*time.Millisecond)
	}
}

// dialProbe succeeds once something accepts TCP connections at addr.
func dialProbe(addr string) func() error {
	return func() error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err
	}
}

// tail keeps the last 64 KiB written to it: enough to explain a failed start, and bounded
// however long a server runs.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

const tailMax = 64 << 10

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > tailMax {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailMax:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.buf))
}

// findProgram looks for a server program in PATH and in the sbin directories, which are
// often not in a normal user's PATH.
func findProgram(name, install string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/bin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found; install it with: %s", name, install)
}

// run runs a setup command and returns its output in the error when it fails. Like a daemon,
// it dies with this process, from a thread that lives as long as it does.
func run(ctx context.Context, stdin io.Reader, prog string, args ...string) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Stdin = stdin
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w\n%s", filepath.Base(prog), strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// freePort asks the kernel for a port nobody listens on at ip. Someone else may take it before
// the server binds it, which the callers retry.
func freePort(ip string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
