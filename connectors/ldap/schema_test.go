package ldap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"

	goldap "github.com/go-ldap/ldap/v3"

	"floh/connectors"
	"floh/connectors/ldap/ldaptest"
)

func TestTypesDeclareTheContract(t *testing.T) {
	reg, err := connectors.NewRegistry(ActiveDirectory, LDAP)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(reg.Names(), []string{"activedirectory", "ldap"}) || ActiveDirectory.Label != "Active Directory" {
		t.Errorf("names %v, label %q", reg.Names(), ActiveDirectory.Label)
	}
	want := []string{"createAccount", "setPassword", "enableAccount", "disableAccount", "addToGroup", "removeFromGroup",
		"deleteAccount", "checkAccountExists", "listUsers", "listGroups"}
	for _, typ := range []*connectors.Type{ActiveDirectory, LDAP} {
		var names []string
		for _, c := range typ.Commands {
			names = append(names, c.Name)
		}
		if !slices.Equal(names, want) {
			t.Errorf("%s commands %v", typ.Name, names)
		}
		if !slices.Equal(typ.SecretFields(), []string{"bindPassword"}) {
			t.Errorf("%s secrets %v", typ.Name, typ.SecretFields())
		}
		for _, name := range []string{"url", "bindDN", "bindPassword", "baseDN"} {
			if f := field(typ.Config, name); f == nil || !f.Required || f.Label == "" || f.Help == "" {
				t.Errorf("%s config %s: %+v", typ.Name, name, f)
			}
		}
		if f := field(typ.Config, "pageSize"); f.Default != 1000 {
			t.Errorf("pageSize default %v", f.Default)
		}
		if f := field(typ.Config, "caCert"); f.Kind != connectors.KindText {
			t.Errorf("caCert kind %s", f.Kind)
		}
		comp := func(cmd string) *connectors.Compensation { return typ.Command(cmd).Compensation }
		if c := comp("createAccount"); c.Command != "deleteAccount" || c.Params["username"] != "{{params.username}}" {
			t.Errorf("createAccount compensation %+v", c)
		}
		if c := comp("setPassword"); c.SubsumedBy != "deleteAccount" {
			t.Errorf("setPassword compensation %+v", c)
		}
		if comp("enableAccount").Command != "disableAccount" || comp("disableAccount").Command != "enableAccount" {
			t.Error("enable and disable must undo each other")
		}
		if c := comp("addToGroup"); c.Command != "removeFromGroup" || c.SubsumedBy != "deleteAccount" || c.Params["group"] != "{{params.group}}" {
			t.Errorf("addToGroup compensation %+v", c)
		}
		if comp("removeFromGroup").Command != "addToGroup" || comp("deleteAccount") != nil {
			t.Error("removeFromGroup is undone by addToGroup; deleteAccount by nothing")
		}
		for _, cmd := range typ.Commands {
			mutating := !slices.Contains([]string{"checkAccountExists", "listUsers", "listGroups"}, cmd.Name)
			if cmd.Mutating != mutating {
				t.Errorf("%s.%s mutating %v", typ.Name, cmd.Name, cmd.Mutating)
			}
			if cmd.Param("password") != nil && !cmd.Param("password").Secret {
				t.Errorf("%s.%s password is not secret", typ.Name, cmd.Name)
			}
		}
		if typ.Command("listUsers").SyncCapable != "user" || typ.Command("listGroups").SyncCapable != "group" {
			t.Error("listUsers and listGroups must be sync-capable")
		}
	}
}

func field(fields []connectors.Field, name string) *connectors.Field {
	for i := range fields {
		if fields[i].Name == name {
			return &fields[i]
		}
	}
	return nil
}

func TestValidate(t *testing.T) {
	ca, err := ldaptest.NewCA("CA")
	if err != nil {
		t.Fatal(err)
	}
	valid := connectors.Config{"url": "ldaps://dc1.example.com", "bindDN": "CN=svc,DC=example,DC=com", "bindPassword": "x", "baseDN": "DC=example,DC=com"}
	for _, tc := range []struct {
		name    string
		changes connectors.Config
		field   string // "" for a valid config
		message string
	}{
		{"minimal", nil, "", ""},
		{"everything", connectors.Config{"url": "ldap://10.0.0.1:3389", "startTLS": true, "caCert": string(ca.CertPEM), "userBaseDN": "OU=People,DC=example,DC=com",
			"groupBaseDN": "OU=Groups,DC=example,DC=com", "userFilter": "(objectClass=user)", "groupFilter": "(objectClass=group)", "pageSize": 500}, "", ""},
		{"scheme", connectors.Config{"url": "https://dc1.example.com"}, "url", "must start with ldap:// or ldaps://"},
		{"no host", connectors.Config{"url": "ldaps://"}, "url", "has no host"},
		{"path", connectors.Config{"url": "ldaps://dc1/DC=example,DC=com"}, "url", "only scheme, host and port"},
		{"ldaps and startTLS", connectors.Config{"startTLS": true}, "startTLS", "cannot be used with an ldaps:// URL"},
		{"bad bind DN", connectors.Config{"bindDN": "administrator"}, "bindDN", "is not a DN"},
		{"bad base DN", connectors.Config{"baseDN": "example.com"}, "baseDN", "is not a DN"},
		{"bad user base", connectors.Config{"userBaseDN": "OU=People,,"}, "userBaseDN", "is not a DN"},
		{"bad filter", connectors.Config{"userFilter": "(objectClass=user"}, "userFilter", "is not an LDAP filter"},
		{"bad group filter", connectors.Config{"groupFilter": "objectClass=group"}, "groupFilter", "is not an LDAP filter"},
		{"bad CA", connectors.Config{"caCert": "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----"}, "caCert", "holds no PEM certificate"},
		{"page size", connectors.Config{"pageSize": 0}, "pageSize", "between 1 and 100000"},
		{"huge page size", connectors.Config{"pageSize": 1 << 31}, "pageSize", "between 1 and 100000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, typ := range []*connectors.Type{ActiveDirectory, LDAP} {
				cfg := connectors.Config{}
				for k, v := range valid {
					cfg[k] = v
				}
				for k, v := range tc.changes {
					cfg[k] = v
				}
				checked, problems := connectors.CheckConfig(typ, cfg)
				if tc.field == "" {
					if len(problems) > 0 {
						t.Fatalf("%s: %+v", typ.Name, problems)
					}
					if _, err := typ.New(checked); err != nil {
						t.Fatalf("%s: New: %v", typ.Name, err)
					}
					continue
				}
				if len(problems) != 1 || problems[0].Field != tc.field || !strings.Contains(problems[0].Message, tc.message) {
					t.Errorf("%s: problems %+v, want one on %s saying %q", typ.Name, problems, tc.field, tc.message)
				}
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	cfg, _ := connectors.CheckConfig(ActiveDirectory, connectors.Config{"url": "ldaps://dc1", "bindDN": "CN=a,DC=corp,DC=example,DC=com", "bindPassword": "x", "baseDN": "OU=Staff,DC=corp,DC=example,DC=com"})
	c, err := newConnector(adFlavor, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c.upnSuffix != "corp.example.com" || c.createBase != "CN=Users,OU=Staff,DC=corp,DC=example,DC=com" || c.userFilter != adFlavor.userFilter || c.addr != "dc1:636" || c.pageSize != 1000 {
		t.Errorf("defaults: %+v", c)
	}
	attrs, err := c.accountAttributes(map[string]any{"username": "jdoe", "attributes": map[string]any{"userPrincipalName": "jdoe@example.com", "department": "Sales", "employeeNumber": float64(42)}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, a := range attrs {
		got[a.name] = a.values
	}
	if !slices.Equal(got["userPrincipalName"], []string{"jdoe@example.com"}) || !slices.Equal(got["userAccountControl"], []string{"514"}) ||
		!slices.Equal(got["employeeNumber"], []string{"42"}) || got["unicodePwd"] != nil {
		t.Errorf("attributes %v", got)
	}
	for attrs, message := range map[string]string{
		`{"unicodePwd": "x"}`:         "is set by createAccount itself",
		`{"sAMAccountName": "other"}`: "is set by createAccount itself",
		`{"mail": "x@example.com"}`:   "repeats the email param",
		`{"department": {"a": 1}}`:    "must be text or a list of texts",
	} {
		params := map[string]any{"username": "jdoe", "email": "jdoe@example.com", "attributes": parseJSON(t, attrs)}
		_, err := c.accountAttributes(params)
		var ce *connectors.Error
		if !errors.As(err, &ce) || ce.Class != connectors.InvalidInput || ce.Field != "attributes" || !strings.Contains(ce.Message, message) {
			t.Errorf("attributes %s: %v, want invalid_input %q", attrs, err, message)
		}
	}
}

// TestResultCodes checks the mapping from every result code the issue names to its class,
// with the directory's own message kept.
func TestResultCodes(t *testing.T) {
	s := call{c: &connector{f: adFlavor, url: "ldaps://dc1"}, ctx: context.Background()}
	for code, class := range map[uint16]connectors.Class{
		49: connectors.Unauthorized, 50: connectors.Unauthorized, 8: connectors.Unauthorized,
		68: connectors.AlreadyExists, 20: connectors.Conflict, 32: connectors.NotFound,
		19: connectors.InvalidInput, 53: connectors.InvalidInput, 65: connectors.InvalidInput, 34: connectors.InvalidInput,
		51: connectors.TargetError, 52: connectors.TargetError, 80: connectors.TargetError, 1: connectors.TargetError, 3: connectors.TargetError,
		goldap.ErrorNetwork: connectors.ConnectorDown,
	} {
		err := s.fail(goldap.NewError(code, errors.New("directory says why")), "do it")
		if err.Class != class {
			t.Errorf("code %d: class %s, want %s", code, err.Class, class)
		}
		if class != connectors.ConnectorDown && (!strings.Contains(err.Message, "Active Directory refused to do it") || !strings.Contains(err.Message, "(directory says why)")) {
			t.Errorf("code %d: message %q", code, err.Message)
		}
	}
	if got := s.fail(goldap.NewError(68, errors.New("")), "x").Code; got != "ENTRY_ALREADY_EXISTS" {
		t.Errorf("code name %s", got)
	}
}

// TestNetworkFailures checks how failures to reach a directory or to trust it are classified.
func TestNetworkFailures(t *testing.T) {
	c := &connector{f: ldapFlavor, url: "ldaps://ldap.example.com"}
	for _, tc := range []struct {
		err  error
		code string
		says string
	}{
		{&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, "UNREACHABLE", "cannot reach the LDAP directory at ldaps://ldap.example.com: connection refused"},
		{&net.DNSError{Name: "ldap.example.com", Err: "no such host"}, "DNS", "cannot resolve ldap.example.com"},
		{x509.UnknownAuthorityError{}, "TLS", "set caCert"},
		{x509.HostnameError{Certificate: &x509.Certificate{}, Host: "ldap.example.com"}, "TLS", "not valid for that host name"},
		{tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, "TLS", "did not answer TLS"},
		{goldap.NewError(goldap.ErrorNetwork, errors.New("ldap: connection closed")), "CONNECTION_LOST", "failed"},
	} {
		e := c.netDown(tc.err)
		if e.Class != connectors.ConnectorDown || e.Code != tc.code || !strings.Contains(e.Message, tc.says) {
			t.Errorf("%v: %s %s %q; want connector_down %s saying %q", tc.err, e.Class, e.Code, e.Message, tc.code, tc.says)
		}
	}
}

// TestContextEndsTheCall checks that a call stuck on a server that accepts and never answers
// ends when its context is cancelled, as connector_down.
func TestContextEndsTheCall(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		conn, err := l.Accept()
		if err == nil {
			defer conn.Close()
			cancel() // the client is now waiting for an answer that never comes
			conn.Read(make([]byte, 1024))
		}
	}()
	cfg, _ := connectors.CheckConfig(LDAP, connectors.Config{"url": "ldap://" + l.Addr().String(), "bindDN": "cn=a,dc=x", "bindPassword": "x", "baseDN": "dc=x"})
	c, err := LDAP.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Execute(ctx, "checkAccountExists", map[string]any{"username": "jdoe"})
	ce := wantError(t, err, connectors.ConnectorDown, "was cancelled")
	if ce.Code != "CANCELLED" {
		t.Errorf("code %s", ce.Code)
	}

	expired, stop := context.WithTimeout(t.Context(), 0)
	defer stop()
	_, err = c.Test(expired)
	wantError(t, err, connectors.ConnectorDown, "did not answer in time")
}

func TestTestReportsTheConnection(t *testing.T) {
	bothDirectories(t, func(t *testing.T, d *directory) {
		c := d.connector(t, nil)
		res, err := c.Test(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(res.Message, "as "+c.bindDN) || !strings.Contains(res.Message, c.baseDN+" is readable") || !strings.Contains(res.Message, "TLS 1.") {
			t.Errorf("Test message %q", res.Message)
		}
		if res.Data["encrypted"] != true {
			t.Errorf("Test data %v", res.Data)
		}
		missing := d.connector(t, connectors.Config{"groupBaseDN": "ou=nowhere," + c.baseDN})
		_, err = missing.Test(t.Context())
		if ce := wantError(t, err, connectors.InvalidInput, "groupBaseDN ou=nowhere,"+c.baseDN+" does not exist"); ce.Code != "BASE_DN_NOT_FOUND" {
			t.Errorf("code %s", ce.Code)
		}
	})
}

func parseJSON(t *testing.T, s string) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(fmt.Errorf("%s: %w", s, err))
	}
	return v
}
