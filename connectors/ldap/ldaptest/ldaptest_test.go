package ldaptest

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// TestSlapd checks what the connector tests rely on: LDAPS and StartTLS with the exposed CA,
// the service account's bind, memberOf from the overlay, and that Close leaves no process.
func TestSlapd(t *testing.T) {
	t.Parallel()
	s := New(t)

	c, err := s.Dial()
	if err != nil {
		t.Fatalf("LDAPS bind as rootdn: %v", err)
	}
	defer c.Close()
	add := ldap.NewAddRequest("uid=ann,"+s.UserBaseDN, nil)
	add.Attribute("objectClass", []string{"inetOrgPerson"})
	add.Attribute("uid", []string{"ann"})
	add.Attribute("cn", []string{"Ann"})
	add.Attribute("sn", []string{"Lee"})
	if err := c.Add(add); err != nil {
		t.Fatal(err)
	}
	group := ldap.NewAddRequest("cn=staff,"+s.GroupBaseDN, nil)
	group.Attribute("objectClass", []string{"groupOfNames"})
	group.Attribute("cn", []string{"staff"})
	group.Attribute("member", []string{"uid=ann," + s.UserBaseDN})
	if err := c.Add(group); err != nil {
		t.Fatal(err)
	}

	st, err := ldap.DialURL(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.CAPEM)
	if err := st.StartTLS(&tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}); err != nil {
		t.Fatalf("StartTLS with the exposed CA: %v", err)
	}
	if err := st.Bind(s.BindDN, s.BindPassword); err != nil {
		t.Fatalf("bind as the service account: %v", err)
	}
	res, err := st.Search(ldap.NewSearchRequest(s.UserBaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(uid=ann)", []string{"memberOf", "entryUUID"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Entries) != 1 {
		t.Fatalf("found %d entries for uid=ann, want 1", len(res.Entries))
	}
	if got := res.Entries[0].GetAttributeValues("memberOf"); !slices.Equal(got, []string{"cn=staff," + s.GroupBaseDN}) {
		t.Errorf("memberOf = %q, want the staff group", got)
	}
	if res.Entries[0].GetAttributeValue("entryUUID") == "" {
		t.Error("no entryUUID")
	}

	pid := s.proc.cmd.Process.Pid
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, 0); err != syscall.ESRCH {
		t.Errorf("slapd pid %d still exists after Close (kill 0: %v)", pid, err)
	}
}

func TestStartLoaded(t *testing.T) {
	t.Parallel()
	s, err := StartLoaded(t.TempDir(), func(w io.Writer) error { return WriteUsers(w, 250) })
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := s.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	res, err := c.SearchWithPaging(ldap.NewSearchRequest(s.UserBaseDN, ldap.ScopeSingleLevel, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=inetOrgPerson)", []string{"uid"}, nil), 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Entries) != 250 {
		t.Errorf("loaded %d users, want 250", len(res.Entries))
	}
}

// TestStartFailureQuotesServer checks that a server that cannot start says why, in its own
// words, instead of timing out.
func TestStartFailureQuotesServer(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// A database file that is not one makes OpenLDAP refuse the directory.
	if err := os.Mkdir(dir+"/db", 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir+"/db/data.mdb", []byte(strings.Repeat("not an mdb file ", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	s, err := Start(dir)
	if err == nil {
		s.Close()
		t.Fatal("slapd started on a corrupt database")
	}
	if !strings.Contains(err.Error(), "File is not an LMDB file") || time.Since(start) > 10*time.Second {
		t.Errorf("error %q after %v; want OpenLDAP's reason, quickly", err, time.Since(start))
	}
}

// TestMissingProgram checks a missing server fails with the command that installs it.
func TestMissingProgram(t *testing.T) {
	_, err := findProgram("floh-no-such-server", slapdInstall)
	if err == nil || !strings.Contains(err.Error(), "floh-no-such-server not found; install it with: apt-get install -y --no-install-recommends slapd ldap-utils") {
		t.Errorf("error %v", err)
	}
}

func ExampleStart() {
	dir, _ := os.MkdirTemp("", "slapd-")
	defer os.RemoveAll(dir)
	s, err := Start(dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	fmt.Println(s.BaseDN, s.UserBaseDN)
	// Output: dc=example,dc=test ou=people,dc=example,dc=test
}
