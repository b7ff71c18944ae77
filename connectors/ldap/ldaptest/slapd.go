// Package ldaptest starts real directory servers for tests and benchmarks: a throwaway
// OpenLDAP slapd (one per test, ready in well under a second) and a Samba Active Directory
// domain controller (one per test binary, on a loopback address of its own). Both speak
// LDAPS and StartTLS with a certificate from a CA made in Go, whose PEM they expose.
//
// The helpers never install anything: a missing program fails with the command that
// installs it (`go tool task deps` installs them all).
package ldaptest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/go-ldap/ldap/v3"
)

const slapdInstall = "apt-get install -y --no-install-recommends slapd ldap-utils"

// The slapd directory's fixed names. The bind account is a service account rather than the
// rootdn because slapd exempts the rootdn from password policy, and the connector tests need
// the policy to refuse a weak password the way it would refuse Floh's service account.
const (
	SlapdBaseDN       = "dc=example,dc=test"
	SlapdUserBaseDN   = "ou=people,dc=example,dc=test"
	SlapdGroupBaseDN  = "ou=groups,dc=example,dc=test"
	SlapdBindDN       = "cn=floh,dc=example,dc=test"
	SlapdBindPassword = "floh-service-secret"
	SlapdRootDN       = "cn=admin,dc=example,dc=test"
	SlapdRootPassword = "admin-secret"
	// SlapdMinPasswordLength is the password policy's minimum length; shorter passwords set
	// through the password modify operation fail with constraintViolation.
	SlapdMinPasswordLength = 8
)

// Slapd is a running OpenLDAP server: mdb backend under SlapdBaseDN with ou=people and
// ou=groups, the memberof overlay (groupOfNames member → memberOf) and the ppolicy overlay
// (a default policy with SlapdMinPasswordLength and pwdLockout, so pwdAccountLockedTime
// 000001010000Z disables an account).
type Slapd struct {
	// URL is ldap://127.0.0.1:port; it offers StartTLS.
	URL string
	// LDAPSURL is ldaps://127.0.0.1:port.
	LDAPSURL string
	// CAPEM is the certificate of the CA that signed the server's certificate (valid for
	// 127.0.0.1 and localhost).
	CAPEM []byte

	BaseDN, UserBaseDN, GroupBaseDN string
	BindDN, BindPassword            string
	RootDN, RootPassword            string

	dir  string
	proc *daemon
}

// Start starts slapd with its data, configuration and TLS files under dir, which must exist
// and is left in place (the caller removes it). Close stops the server.
func Start(dir string) (*Slapd, error) {
	return StartLoaded(dir, nil)
}

// StartLoaded is Start with more entries, written as LDIF by load, loaded with `slapadd -q`
// before the server starts: the fast way to build a large directory. Overlays do not run
// during slapadd, so loaded groups do not set memberOf on their members.
func StartLoaded(dir string, load func(w io.Writer) error) (*Slapd, error) {
	slapd, err := findProgram("slapd", slapdInstall)
	if err != nil {
		return nil, err
	}
	slapadd, err := findProgram("slapadd", slapdInstall)
	if err != nil {
		return nil, err
	}
	for _, f := range []string{"/etc/ldap/schema/inetorgperson.schema", "/usr/lib/ldap/back_mdb.so", "/usr/lib/ldap/memberof.so", "/usr/lib/ldap/ppolicy.so"} {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("slapd is incomplete (%s is missing); reinstall it with: %s", f, slapdInstall)
		}
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	s := &Slapd{
		BaseDN: SlapdBaseDN, UserBaseDN: SlapdUserBaseDN, GroupBaseDN: SlapdGroupBaseDN,
		BindDN: SlapdBindDN, BindPassword: SlapdBindPassword,
		RootDN: SlapdRootDN, RootPassword: SlapdRootPassword,
		dir: dir,
	}
	var files tlsFiles
	if s.CAPEM, files, err = writeTLS(dir, "127.0.0.1", "localhost"); err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "slapd.conf")
	if err := os.MkdirAll(filepath.Join(dir, "db"), 0o700); err != nil {
		return nil, err
	}
	if err := writeSlapdConf(conf, dir, files); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := slapAdd(ctx, slapadd, conf, load); err != nil {
		return nil, err
	}
	// Two ports picked in advance; another process may grab one before slapd binds it, in
	// which case slapd exits at once and we try other ports.
	for attempt := 1; ; attempt++ {
		ports := [2]int{}
		for i := range ports {
			if ports[i], err = freePort("127.0.0.1"); err != nil {
				return nil, err
			}
		}
		s.URL = fmt.Sprintf("ldap://127.0.0.1:%d", ports[0])
		s.LDAPSURL = fmt.Sprintf("ldaps://127.0.0.1:%d", ports[1])
		// -d 32768 keeps slapd in the foreground and logs only what it always logs (startup
		// failures), which the error quotes; -d 0 would hide them.
		s.proc, err = startDaemon("slapd", exec.Command(slapd, "-d", "32768", "-f", conf, "-h", s.URL+"/ "+s.LDAPSURL+"/"))
		if err != nil {
			return nil, err
		}
		err = s.proc.waitReady(dialProbe(fmt.Sprintf("127.0.0.1:%d", ports[0])))
		if err == nil {
			return s, nil
		}
		s.proc.stop()
		if attempt == 3 || !strings.Contains(s.proc.out.String(), "Address already in use") {
			return nil, err
		}
	}
}

// Close stops the server. Its directory stays for the caller to remove.
func (s *Slapd) Close() error {
	if s.proc == nil {
		return nil
	}
	return s.proc.stop()
}

// New starts a slapd for one test, in a temporary directory, stopped when the test ends.
func New(t testing.TB) *Slapd {
	t.Helper()
	s, err := Start(t.TempDir())
	if err != nil {
		t.Fatalf("start slapd: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("stop slapd: %v", err)
		}
	})
	return s
}

// WriteUsers writes n inetOrgPerson entries under SlapdUserBaseDN as LDIF for StartLoaded:
// uid user000001…, with cn, sn, givenName, mail and displayName, as a directory of people has.
func WriteUsers(w io.Writer, n int) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	for i := 1; i <= n; i++ {
		uid := fmt.Sprintf("user%06d", i)
		fmt.Fprintf(bw, "dn: uid=%s,%s\nobjectClass: inetOrgPerson\nuid: %s\ncn: User %d\nsn: %d\ngivenName: User\ndisplayName: User %d\nmail: %s@example.test\n\n",
			uid, SlapdUserBaseDN, uid, i, i, i, uid)
	}
	return bw.Flush()
}

// slapAdd loads the base entries, then whatever load writes, into the stopped server's
// database. LDIF goes through a pipe, so a large load never sits in memory or on disk twice.
func slapAdd(ctx context.Context, slapadd, conf string, load func(w io.Writer) error) error {
	pr, pw := io.Pipe()
	go func() {
		_, err := io.WriteString(pw, baseLDIF)
		if err == nil && load != nil {
			err = load(pw)
		}
		pw.CloseWithError(err)
	}()
	err := run(ctx, pr, slapadd, "-q", "-f", conf)
	pr.CloseWithError(io.ErrClosedPipe) // unblock the writer if slapadd stopped reading
	return err
}

var baseLDIF = strings.NewReplacer("{base}", SlapdBaseDN, "{bind}", SlapdBindPassword).Replace(`dn: {base}
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: ou=people,{base}
objectClass: organizationalUnit
ou: people

dn: ou=groups,{base}
objectClass: organizationalUnit
ou: groups

dn: ou=policies,{base}
objectClass: organizationalUnit
ou: policies

dn: cn=default,ou=policies,{base}
objectClass: device
objectClass: pwdPolicy
cn: default
pwdAttribute: userPassword
pwdMinLength: ` + strconv.Itoa(SlapdMinPasswordLength) + `
pwdCheckQuality: 2
pwdLockout: TRUE

dn: cn=floh,{base}
objectClass: applicationProcess
objectClass: simpleSecurityObject
cn: floh
userPassword: {bind}

`)

var slapdConf = template.Must(template.New("slapd.conf").Parse(`include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
moduleload ppolicy
pidfile {{.Dir}}/slapd.pid
argsfile {{.Dir}}/slapd.args
TLSCACertificateFile {{.CA}}
TLSCertificateFile {{.Cert}}
TLSCertificateKeyFile {{.Key}}
TLSVerifyClient never

database mdb
maxsize 4294967296
suffix "{{.Base}}"
rootdn "{{.RootDN}}"
rootpw {{.RootPassword}}
directory {{.Dir}}/db
# slapd's default size limit (500) would cut listings short for anyone but the rootdn; a
# sync's service account is given no limit, as a production directory would give it.
limits dn.exact="{{.BindDN}}" size=unlimited time=unlimited
# The connector looks accounts up by uid, groups by cn, and lists by modifyTimestamp.
index objectClass eq
index uid,cn,mail eq
index member,memberOf eq
index entryUUID eq
index modifyTimestamp eq

overlay memberof
memberof-group-oc groupOfNames
memberof-member-ad member
memberof-memberof-ad memberOf
memberof-refint true

overlay ppolicy
ppolicy_default "cn=default,ou=policies,{{.Base}}"

access to attrs=userPassword
	by dn.exact="{{.BindDN}}" write
	by anonymous auth
	by self write
	by * none
access to *
	by dn.exact="{{.BindDN}}" write
	by * read
`))

func writeSlapdConf(path, dir string, files tlsFiles) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = slapdConf.Execute(f, map[string]string{
		"Dir": dir, "CA": files.ca, "Cert": files.cert, "Key": files.key,
		"Base": SlapdBaseDN, "RootDN": SlapdRootDN, "RootPassword": SlapdRootPassword, "BindDN": SlapdBindDN,
	})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Dial connects over LDAPS bound as the rootdn, for tests that check or prepare the directory
// independently of the code under test.
func (s *Slapd) Dial() (*ldap.Conn, error) {
	return DialTLS(s.LDAPSURL, s.CAPEM, s.RootDN, s.RootPassword)
}
