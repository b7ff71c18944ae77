package ldap

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	goldap "github.com/go-ldap/ldap/v3"

	"floh/connectors"
	"floh/connectors/ldap/ldaptest"
)

func TestMain(m *testing.M) { ldaptest.Main(m) }

// directory is one real server under test, seen both through the connector and directly.
type directory struct {
	name string
	typ  *connectors.Type
	cfg  connectors.Config
	// admin connects directly, bound with full rights, to check what the connector did.
	admin func() (*goldap.Conn, error)
	// userDN and groupDN are where the connector puts or finds an account and a group.
	userDN func(username string) string
	// newGroup creates a group directly and returns its name and DN.
	newGroup func(t *testing.T, members ...string) (string, string)
	// goodPassword meets the server's password policy; weakPassword does not.
	goodPassword, weakPassword string
	// userBind binds as an account, to prove its password and state.
	userBind func(dn, password string) error
}

var unique atomic.Int64

// uniqueName returns a name no other test uses: sAMAccountName is unique across the domain,
// which all AD tests share. It stays within AD's 20 characters.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s%d", prefix, unique.Add(1))
}

// slapdDirectory starts a slapd for t and configures an ldap connector on it over StartTLS.
func slapdDirectory(t *testing.T) *directory {
	s := ldaptest.New(t)
	d := &directory{
		name: "ldap",
		typ:  LDAP,
		cfg: connectors.Config{
			"url": s.URL, "startTLS": true, "caCert": string(s.CAPEM),
			"bindDN": s.BindDN, "bindPassword": s.BindPassword, "baseDN": s.BaseDN,
			"userBaseDN": s.UserBaseDN, "groupBaseDN": s.GroupBaseDN,
		},
		admin:        s.Dial,
		userDN:       func(u string) string { return "uid=" + u + "," + s.UserBaseDN },
		goodPassword: "correct-horse-battery", weakPassword: "Xq7z",
	}
	d.newGroup = func(t *testing.T, members ...string) (string, string) {
		t.Helper()
		name := uniqueName("group")
		dn := "cn=" + name + "," + s.GroupBaseDN
		// groupOfNames needs a member; the service account stands in for an empty group.
		members = append([]string{s.BindDN}, members...)
		add := goldap.NewAddRequest(dn, nil)
		add.Attribute("objectClass", []string{"groupOfNames"})
		add.Attribute("cn", []string{name})
		add.Attribute("member", members)
		mustAdmin(t, d, func(c *goldap.Conn) error { return c.Add(add) })
		return name, dn
	}
	d.userBind = func(dn, password string) error {
		return bindAs(s.LDAPSURL, s.CAPEM, dn, password)
	}
	return d
}

// sambaDirectory configures an activedirectory connector over LDAPS on the shared DC, in an
// OU of the test's own.
func sambaDirectory(t *testing.T) *directory {
	dc := ldaptest.SharedDC(t)
	ou := dc.OU(t)
	d := &directory{
		name: "activedirectory",
		typ:  ActiveDirectory,
		cfg: connectors.Config{
			"url": dc.LDAPSURL, "caCert": string(dc.CAPEM),
			"bindDN": dc.BindDN, "bindPassword": dc.BindPassword, "baseDN": dc.BaseDN,
			"userBaseDN": ou, "groupBaseDN": ou,
		},
		admin:        dc.Dial,
		userDN:       func(u string) string { return "CN=" + u + "," + ou },
		goodPassword: "Corr3ct-Horse!", weakPassword: "Xq7z",
	}
	d.newGroup = func(t *testing.T, members ...string) (string, string) {
		t.Helper()
		name := uniqueName("grp")
		dn := "CN=" + name + "," + ou
		add := goldap.NewAddRequest(dn, nil)
		add.Attribute("objectClass", []string{"group"})
		add.Attribute("sAMAccountName", []string{name})
		if len(members) > 0 {
			add.Attribute("member", members)
		}
		mustAdmin(t, d, func(c *goldap.Conn) error { return c.Add(add) })
		return name, dn
	}
	d.userBind = func(dn, password string) error {
		return bindAs(dc.LDAPSURL, dc.CAPEM, dn, password)
	}
	return d
}

// bothDirectories runs f against a slapd and the Samba DC, in parallel.
func bothDirectories(t *testing.T, f func(t *testing.T, d *directory)) {
	t.Run("ldap", func(t *testing.T) {
		t.Parallel()
		f(t, slapdDirectory(t))
	})
	t.Run("activedirectory", func(t *testing.T) {
		t.Parallel()
		f(t, sambaDirectory(t))
	})
}

// connector builds the connector from d's config with changes, through the same checks an
// instance's config goes through.
func (d *directory) connector(t *testing.T, changes connectors.Config) *connector {
	t.Helper()
	cfg := connectors.Config{}
	for k, v := range d.cfg {
		cfg[k] = v
	}
	for k, v := range changes {
		cfg[k] = v
	}
	checked, problems := connectors.CheckConfig(d.typ, cfg)
	if len(problems) > 0 {
		t.Fatalf("config refused: %+v", problems)
	}
	c, err := d.typ.New(checked)
	if err != nil {
		t.Fatal(err)
	}
	return c.(*connector)
}

// run checks params like the engine does, then executes.
func run(t *testing.T, c *connector, command string, params map[string]any) (map[string]any, error) {
	t.Helper()
	cmd := (&connectors.Type{Commands: commands(c.f)}).Command(command)
	if cmd == nil {
		t.Fatalf("no command %s", command)
	}
	checked, err := connectors.CheckParams(cmd, params)
	if err != nil {
		t.Fatalf("%s params refused: %v", command, err)
	}
	return c.Execute(context.Background(), command, checked)
}

// mustRun is run for a call that must succeed.
func mustRun(t *testing.T, c *connector, command string, params map[string]any) map[string]any {
	t.Helper()
	out, err := run(t, c, command, params)
	if err != nil {
		t.Fatalf("%s %v: %v", command, params, err)
	}
	return out
}

// wantError checks err is a classified error of class whose message holds every fragment.
func wantError(t *testing.T, err error, class connectors.Class, fragments ...string) *connectors.Error {
	t.Helper()
	var ce *connectors.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a *connectors.Error", err, err)
	}
	if ce.Class != class {
		t.Fatalf("class %s (code %s: %s), want %s", ce.Class, ce.Code, ce.Message, class)
	}
	for _, f := range fragments {
		if !strings.Contains(ce.Message, f) {
			t.Errorf("message %q does not mention %q", ce.Message, f)
		}
	}
	return ce
}

func mustAdmin(t *testing.T, d *directory, f func(c *goldap.Conn) error) {
	t.Helper()
	c, err := d.admin()
	if err != nil {
		t.Fatalf("admin connection: %v", err)
	}
	defer c.Close()
	if err := f(c); err != nil {
		t.Fatal(err)
	}
}

// read returns an entry's attributes as the admin sees them, or nil if it does not exist.
func (d *directory) read(t *testing.T, dn string, attrs ...string) *goldap.Entry {
	t.Helper()
	var entry *goldap.Entry
	mustAdmin(t, d, func(c *goldap.Conn) error {
		res, err := c.Search(goldap.NewSearchRequest(dn, goldap.ScopeBaseObject, goldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", attrs, nil))
		if goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchObject) {
			return nil
		}
		if err == nil && len(res.Entries) == 1 {
			entry = res.Entries[0]
		}
		return err
	})
	return entry
}

func bindAs(url string, caPEM []byte, dn, password string) error {
	c, err := ldaptest.DialTLS(url, caPEM, dn, password)
	if err != nil {
		return err
	}
	return c.Close()
}

// sameDN compares DNs as the directory does: by parsed value, case-insensitively.
func sameDN(a, b string) bool {
	pa, errA := goldap.ParseDN(a)
	pb, errB := goldap.ParseDN(b)
	return errA == nil && errB == nil && pa.EqualFold(pb)
}
