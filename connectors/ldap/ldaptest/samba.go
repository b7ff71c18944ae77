package ldaptest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

const sambaInstall = "apt-get install -y --no-install-recommends samba samba-ad-dc samba-dsdb-modules samba-vfs-modules samba-ad-provision"

// The Samba domain's fixed names. Samba's default password policy applies: at least
// DCMinPasswordLength characters and three of the four character classes.
const (
	DCRealm             = "EXAMPLE.TEST"
	DCDomain            = "EXAMPLE"
	DCBaseDN            = "DC=example,DC=test"
	DCUserBaseDN        = "CN=Users,DC=example,DC=test"
	DCBindDN            = "CN=Administrator,CN=Users,DC=example,DC=test"
	DCBindPassword      = "Adm1nPassw0rd!"
	DCMinPasswordLength = 7
)

// DC is a running Samba Active Directory domain controller. Its LDAP ports are the fixed 389
// and 636, so each DC has a loopback address of its own (127.0.0.5 unless another test binary
// holds it). Simple binds need TLS, as on a real domain controller.
type DC struct {
	// Addr is the DC's loopback address.
	Addr string
	// URL is ldap://Addr:389; simple binds on it need StartTLS first.
	URL string
	// LDAPSURL is ldaps://Addr:636.
	LDAPSURL string
	// CAPEM is the certificate of the CA that signed the DC's certificate (valid for Addr and
	// dc1.example.test).
	CAPEM []byte

	// BaseDN is the domain; UserBaseDN and GroupBaseDN are both its CN=Users container,
	// where AD keeps new users and the default groups.
	BaseDN, UserBaseDN, GroupBaseDN string
	BindDN, BindPassword            string

	dir   string
	proc  *daemon
	stdin io.WriteCloser
	lock  *os.File
	ous   atomic.Int64
}

// StartDC provisions a domain into dir (which must exist; the caller removes it) and starts
// Samba on a free loopback address. It needs root: Samba's DC refuses to run as another user,
// and ports 389 and 636 are privileged. Provisioning and start take about 4 s.
func StartDC(dir string) (*DC, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("the Samba AD DC test server needs root: Samba's domain controller runs only as root and binds ports 389 and 636; run the tests as root")
	}
	samba, err := findProgram("samba", sambaInstall)
	if err != nil {
		return nil, err
	}
	tool, err := findProgram("samba-tool", sambaInstall)
	if err != nil {
		return nil, err
	}
	modules, _ := filepath.Glob("/usr/lib/*/samba/ldb/acl.so")
	if _, err := os.Stat("/usr/share/samba/setup/ad-schema"); err != nil || len(modules) == 0 {
		return nil, fmt.Errorf("Samba's AD DC parts (samba-ad-provision, samba-dsdb-modules) are missing; install them with: %s", sambaInstall)
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	d := &DC{BaseDN: DCBaseDN, UserBaseDN: DCUserBaseDN, GroupBaseDN: DCUserBaseDN, BindDN: DCBindDN, BindPassword: DCBindPassword, dir: dir}
	if d.Addr, d.lock, err = claimAddress(); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			d.Close()
		}
	}()
	d.URL, d.LDAPSURL = "ldap://"+d.Addr+":389", "ldaps://"+d.Addr+":636"
	var files tlsFiles
	if d.CAPEM, files, err = writeTLS(dir, d.Addr, "dc1.example.test"); err != nil {
		return nil, err
	}
	for _, sub := range []string{"run", "log"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	opt := func(k, v string) string { return "--option=" + k + "=" + v }
	err = run(ctx, nil, tool, "domain", "provision", "--targetdir="+dir, "--realm="+DCRealm, "--domain="+DCDomain,
		"--server-role=dc", "--dns-backend=NONE", "--use-rfc2307", "--adminpass="+DCBindPassword, "--host-name=dc1",
		opt("interfaces", d.Addr+"/8"), opt("bind interfaces only", "yes"),
		// Only what an LDAP client needs: no SMB, DNS, RPC or winbind.
		opt("server services", "ldap, cldap, kdc"),
		opt("pid directory", filepath.Join(dir, "run")), opt("ncalrpc dir", filepath.Join(dir, "run", "ncalrpc")),
		opt("winbindd socket directory", filepath.Join(dir, "run", "winbindd")),
		opt("ntp signd socket directory", filepath.Join(dir, "run", "ntp_signd")),
		opt("log file", filepath.Join(dir, "log", "log.%m")),
		opt("tls enabled", "yes"), opt("tls keyfile", files.key), opt("tls certfile", files.cert), opt("tls cafile", files.ca))
	if err != nil {
		return nil, fmt.Errorf("provision the Samba domain: %w", err)
	}
	cmd := exec.Command(samba, "-i", "-s", filepath.Join(dir, "etc", "smb.conf"), "--debug-stdout")
	// samba -i stops when its stdin closes: a pipe whose write end only this process holds
	// takes the DC down with the test binary however it ends.
	if d.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	if d.proc, err = startDaemon("samba", cmd); err != nil {
		return nil, err
	}
	if err := d.proc.waitReady(func() error { return rootDSE(d.URL) }); err != nil {
		return nil, err
	}
	ok = true
	return d, nil
}

// Close stops the DC and frees its address. Its directory stays for the caller to remove.
func (d *DC) Close() error {
	var err error
	if d.stdin != nil {
		d.stdin.Close()
	}
	if d.proc != nil {
		err = d.proc.stop()
	}
	if d.lock != nil {
		d.lock.Close()
	}
	return err
}

// Dial connects over LDAPS bound as the domain administrator, for tests that check the
// directory independently of the code under test.
func (d *DC) Dial() (*ldap.Conn, error) {
	return DialTLS(d.LDAPSURL, d.CAPEM, d.BindDN, d.BindPassword)
}

// OU creates an organizational unit for one test under the domain and deletes it with
// everything in it when the test ends, so tests sharing the DC do not see each other's
// entries. sAMAccountName is unique across the domain, not per OU: tests still need
// distinct usernames.
func (d *DC) OU(t testing.TB) string {
	t.Helper()
	dn := fmt.Sprintf("OU=floh-test-%d,%s", d.ous.Add(1), d.BaseDN)
	c, err := d.Dial()
	if err != nil {
		t.Fatalf("connect to the Samba DC: %v", err)
	}
	defer c.Close()
	add := ldap.NewAddRequest(dn, nil)
	add.Attribute("objectClass", []string{"organizationalUnit"})
	if err := c.Add(add); err != nil {
		t.Fatalf("create %s: %v", dn, err)
	}
	t.Cleanup(func() {
		c, err := d.Dial()
		if err != nil {
			t.Errorf("connect to the Samba DC: %v", err)
			return
		}
		defer c.Close()
		if err := c.Del(ldap.NewDelRequest(dn, []ldap.Control{ldap.NewControlSubtreeDelete()})); err != nil {
			t.Errorf("delete %s: %v", dn, err)
		}
	})
	return dn
}

// claimAddress picks the first loopback address from 127.0.0.5 whose lock file no other
// process holds and whose port 389 is free. The lock lives as long as the returned file.
func claimAddress() (string, *os.File, error) {
	for i := 5; i < 64; i++ {
		ip := fmt.Sprintf("127.0.0.%d", i)
		f, err := os.OpenFile(filepath.Join(os.TempDir(), "floh-ldaptest-dc-"+ip+".lock"), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return "", nil, err
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			continue
		}
		if l, err := net.Listen("tcp", ip+":389"); err == nil {
			l.Close()
			return ip, f, nil
		}
		f.Close()
	}
	return "", nil, errors.New("no free loopback address for the Samba DC between 127.0.0.5 and 127.0.0.63 (is a system slapd or samba listening on *:389? stop it)")
}

// rootDSE reads the root DSE anonymously: the DC answers it once its LDAP service is up.
func rootDSE(url string) error {
	c, err := ldap.DialURL(url, ldap.DialWithDialer(&net.Dialer{Timeout: time.Second}))
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetTimeout(5 * time.Second)
	_, err = c.Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", []string{"namingContexts"}, nil))
	return err
}

// DialTLS connects to an ldaps:// URL trusting only caPEM, and binds as dn.
func DialTLS(url string, caPEM []byte, bindDN, password string) (*ldap.Conn, error) {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	host := strings.TrimPrefix(url, "ldaps://")
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	c, err := ldap.DialURL(url, ldap.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}),
		ldap.DialWithTLSConfig(&tls.Config{RootCAs: pool, ServerName: host, MinVersion: tls.VersionTLS12}))
	if err != nil {
		return nil, err
	}
	c.SetTimeout(30 * time.Second)
	if err := c.Bind(bindDN, password); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

var (
	mainRunning bool
	sharedOnce  sync.Once
	shared      *DC
	sharedDir   string
	sharedErr   error
)

// Main runs a package's tests and then stops the shared DC, if a test started one. Call it
// from TestMain in every package that uses SharedDC.
func Main(m *testing.M) {
	mainRunning = true
	code := m.Run()
	if shared != nil {
		if err := shared.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "ldaptest: stop the Samba DC:", err)
		}
	}
	if sharedDir != "" {
		os.RemoveAll(sharedDir)
	}
	os.Exit(code)
}

// SharedDC returns the test binary's domain controller, starting it on first use. Tests give
// themselves an OU of their own with DC.OU.
func SharedDC(t testing.TB) *DC {
	t.Helper()
	if !mainRunning {
		t.Fatal("ldaptest.SharedDC needs TestMain to call ldaptest.Main, which stops the DC when the tests end")
	}
	sharedOnce.Do(func() {
		if sharedDir, sharedErr = os.MkdirTemp("", "floh-ldaptest-dc-"); sharedErr != nil {
			return
		}
		if shared, sharedErr = StartDC(sharedDir); sharedErr != nil {
			os.RemoveAll(sharedDir)
			sharedDir = ""
		}
	})
	if sharedErr != nil {
		t.Fatalf("start the Samba AD DC: %v", sharedErr)
	}
	return shared
}
