package ldap

import (
	"slices"
	"strings"
	"testing"

	goldap "github.com/go-ldap/ldap/v3"

	"floh/connectors"
	"floh/connectors/ldap/ldaptest"
)

// TestAccountLifecycle drives one real account through every mutating command and checks the
// directory itself after each step, not only the connector's outputs.
func TestAccountLifecycle(t *testing.T) {
	bothDirectories(t, func(t *testing.T, d *directory) {
		c := d.connector(t, nil)
		username := uniqueName("jdoe")
		dn := d.userDN(username)
		groupName, groupDN := d.newGroup(t)
		phones := "telephoneNumber"
		if c.f.ad {
			phones = "otherTelephone" // AD's telephoneNumber holds one value
		}

		out := mustRun(t, c, "createAccount", map[string]any{
			"username": username, "email": username + "@example.test", "displayName": "Jane Doe",
			"givenName": "Jane", "surname": "Doe", "password": d.goodPassword,
			"attributes": map[string]any{"description": "made by Floh", phones: []any{"+1 555 0100", "+1 555 0101"}},
		})
		if out["dn"] != dn || out["username"] != username || out["enabled"] != true || out["externalId"] == "" {
			t.Fatalf("createAccount returned %v", out)
		}
		e := d.read(t, dn, "mail", "displayName", "givenName", "sn", "description", phones, "sAMAccountName", "userPrincipalName", "userAccountControl", "uid", "cn")
		if e == nil {
			t.Fatalf("%s was not created", dn)
		}
		for attr, want := range map[string]string{"mail": username + "@example.test", "displayName": "Jane Doe", "givenName": "Jane", "sn": "Doe", "description": "made by Floh"} {
			if got := e.GetAttributeValue(attr); got != want {
				t.Errorf("%s = %q, want %q", attr, got, want)
			}
		}
		if got := e.GetAttributeValues(phones); len(got) != 2 {
			t.Errorf("%s = %q, want both values", phones, got)
		}
		if c.f.ad {
			if e.GetAttributeValue("sAMAccountName") != username || e.GetAttributeValue("userPrincipalName") != username+"@example.test" || e.GetAttributeValue("userAccountControl") != "512" {
				t.Errorf("AD account: sAMAccountName %q, userPrincipalName %q, userAccountControl %q; want %s, %s@example.test, 512",
					e.GetAttributeValue("sAMAccountName"), e.GetAttributeValue("userPrincipalName"), e.GetAttributeValue("userAccountControl"), username, username)
			}
		} else if e.GetAttributeValue("uid") != username || e.GetAttributeValue("cn") != "Jane Doe" {
			t.Errorf("LDAP account: uid %q, cn %q", e.GetAttributeValue("uid"), e.GetAttributeValue("cn"))
		}
		if err := d.userBind(dn, d.goodPassword); err != nil {
			t.Errorf("the new account cannot bind with its password: %v", err)
		}

		exists := mustRun(t, c, "checkAccountExists", map[string]any{"username": username})
		if exists["exists"] != true || exists["dn"] != dn {
			t.Errorf("checkAccountExists = %v", exists)
		}

		newPassword := d.goodPassword + "2"
		mustRun(t, c, "setPassword", map[string]any{"username": username, "password": newPassword})
		if err := d.userBind(dn, newPassword); err != nil {
			t.Errorf("bind with the new password: %v", err)
		}
		// Samba, like AD for NTLM, keeps accepting the previous password for an hour ("old
		// password allowed period"), so only the LDAP directory can show the old one is gone.
		if err := d.userBind(dn, d.goodPassword); err == nil && !c.f.ad {
			t.Error("the old password still binds")
		}

		out = mustRun(t, c, "addToGroup", map[string]any{"username": username, "group": groupName})
		if out["groupDN"] != groupDN {
			t.Errorf("addToGroup groupDN = %v, want %s", out["groupDN"], groupDN)
		}
		if got := d.read(t, dn, "memberOf").GetAttributeValues("memberOf"); !slices.ContainsFunc(got, func(g string) bool { return strings.EqualFold(g, groupDN) }) {
			t.Errorf("memberOf = %q after addToGroup, want %s", got, groupDN)
		}
		_, err := run(t, c, "addToGroup", map[string]any{"username": username, "group": groupDN})
		wantError(t, err, connectors.Conflict, username+" is already a member of "+groupDN)

		mustRun(t, c, "removeFromGroup", map[string]any{"username": username, "group": groupDN})
		if got := d.read(t, dn, "memberOf").GetAttributeValues("memberOf"); len(got) != 0 {
			t.Errorf("memberOf = %q after removeFromGroup", got)
		}
		_, err = run(t, c, "removeFromGroup", map[string]any{"username": username, "group": groupName})
		wantError(t, err, connectors.NotFound, username+" is not a member of "+groupName)

		out = mustRun(t, c, "disableAccount", map[string]any{"username": username})
		if out["enabled"] != false || out["changed"] != true {
			t.Errorf("disableAccount = %v", out)
		}
		if c.f.ad {
			if uac := d.read(t, dn, "userAccountControl").GetAttributeValue("userAccountControl"); uac != "514" {
				t.Errorf("userAccountControl = %s after disableAccount, want 514", uac)
			}
		}
		if err := d.userBind(dn, newPassword); !goldap.IsErrorWithCode(err, goldap.LDAPResultInvalidCredentials) {
			t.Errorf("a disabled account binds: %v", err)
		}
		if out := mustRun(t, c, "disableAccount", map[string]any{"username": username}); out["changed"] != false {
			t.Errorf("disabling a disabled account = %v, want changed false", out)
		}
		out = mustRun(t, c, "enableAccount", map[string]any{"username": username})
		if out["enabled"] != true || out["changed"] != true {
			t.Errorf("enableAccount = %v", out)
		}
		if err := d.userBind(dn, newPassword); err != nil {
			t.Errorf("the enabled account cannot bind: %v", err)
		}

		mustRun(t, c, "deleteAccount", map[string]any{"username": username})
		if d.read(t, dn) != nil {
			t.Errorf("%s still exists after deleteAccount", dn)
		}
		exists = mustRun(t, c, "checkAccountExists", map[string]any{"username": username})
		if exists["exists"] != false || exists["dn"] != "" {
			t.Errorf("checkAccountExists after delete = %v", exists)
		}
		_, err = run(t, c, "deleteAccount", map[string]any{"username": username})
		wantError(t, err, connectors.NotFound, "no account "+username)
	})
}

// TestUserAccountControlKeepsOtherBits checks that enabling and disabling flip only
// ACCOUNTDISABLE: an account that must never have its password expire keeps that flag.
func TestUserAccountControlKeepsOtherBits(t *testing.T) {
	t.Parallel()
	d := sambaDirectory(t)
	c := d.connector(t, nil)
	username := uniqueName("uac")
	mustRun(t, c, "createAccount", map[string]any{"username": username, "password": d.goodPassword})
	const dontExpire = 0x10000
	mustAdmin(t, d, func(conn *goldap.Conn) error {
		mod := goldap.NewModifyRequest(d.userDN(username), nil)
		mod.Replace("userAccountControl", []string{"66048"}) // 512 | DONT_EXPIRE_PASSWORD
		return conn.Modify(mod)
	})
	mustRun(t, c, "disableAccount", map[string]any{"username": username})
	if uac := d.read(t, d.userDN(username), "userAccountControl").GetAttributeValue("userAccountControl"); uac != "66050" {
		t.Errorf("userAccountControl = %s after disable, want 66050 (%#x|0x202)", uac, dontExpire)
	}
	mustRun(t, c, "enableAccount", map[string]any{"username": username})
	if uac := d.read(t, d.userDN(username), "userAccountControl").GetAttributeValue("userAccountControl"); uac != "66048" {
		t.Errorf("userAccountControl = %s after enable, want 66048", uac)
	}
}

// TestCreateAccountPlacement covers the ou param (a name under the user base, or a DN), an
// account created without a password (disabled on AD), and escaping of a name full of DN
// syntax.
func TestCreateAccountPlacement(t *testing.T) {
	bothDirectories(t, func(t *testing.T, d *directory) {
		c := d.connector(t, nil)
		ouName := "Sales, EMEA"
		ouDN := c.f.ouAttr + "=" + escapeRDN(ouName) + "," + c.userBaseDN
		mustAdmin(t, d, func(conn *goldap.Conn) error {
			add := goldap.NewAddRequest(ouDN, nil)
			add.Attribute("objectClass", []string{"organizationalUnit"})
			add.Attribute("ou", []string{ouName})
			return conn.Add(add)
		})

		// A leading # and an apostrophe need escaping in a DN; AD allows both in sAMAccountName.
		byName := uniqueName("#o'brien j")
		out := mustRun(t, c, "createAccount", map[string]any{"username": byName, "ou": ouName})
		want := c.f.rdnAttr + "=" + escapeRDN(byName) + "," + ouDN
		if out["dn"] != want {
			t.Errorf("dn = %v, want %s", out["dn"], want)
		}
		if d.read(t, want) == nil {
			t.Fatalf("%s was not created", want)
		}
		if out["enabled"] != !c.f.ad {
			t.Errorf("enabled = %v for an account without a password", out["enabled"])
		}
		if c.f.ad {
			if uac := d.read(t, want, "userAccountControl").GetAttributeValue("userAccountControl"); uac != "514" {
				t.Errorf("userAccountControl = %s without a password, want 514", uac)
			}
		}
		exists := mustRun(t, c, "checkAccountExists", map[string]any{"username": byName})
		if exists["exists"] != true || !sameDN(exists["dn"].(string), want) {
			t.Errorf("checkAccountExists = %v", exists)
		}

		byDN := uniqueName("dn")
		out = mustRun(t, c, "createAccount", map[string]any{"username": byDN, "ou": ouDN})
		if out["dn"] != c.f.rdnAttr+"="+byDN+","+ouDN {
			t.Errorf("dn = %v with ou as a DN", out["dn"])
		}

		_, err := run(t, c, "createAccount", map[string]any{"username": uniqueName("x"), "ou": "Nowhere"})
		ce := wantError(t, err, connectors.NotFound, "Nowhere", "does not exist")
		if ce.Field != "ou" {
			t.Errorf("field %q, want ou", ce.Field)
		}
	})
}

// TestErrorClasses gets every class the connector reports from a real server's answer.
func TestErrorClasses(t *testing.T) {
	bothDirectories(t, func(t *testing.T, d *directory) {
		c := d.connector(t, nil)
		username := uniqueName("taken")
		mustRun(t, c, "createAccount", map[string]any{"username": username, "password": d.goodPassword})

		t.Run("existing account", func(t *testing.T) {
			_, err := run(t, c, "createAccount", map[string]any{"username": username})
			ce := wantError(t, err, connectors.AlreadyExists, "account "+username+" already exists in "+c.f.directory+" ("+d.userDN(username)+")")
			if ce.Code != "ACCOUNT_EXISTS" {
				t.Errorf("code %s", ce.Code)
			}
		})

		t.Run("missing account", func(t *testing.T) {
			ghost := uniqueName("ghost")
			for cmd, extra := range map[string]map[string]any{
				"setPassword": {"password": d.goodPassword}, "enableAccount": nil, "disableAccount": nil,
				"addToGroup": {"group": "anything"}, "removeFromGroup": {"group": "anything"}, "deleteAccount": nil,
			} {
				params := map[string]any{"username": ghost}
				for k, v := range extra {
					params[k] = v
				}
				_, err := run(t, c, cmd, params)
				wantError(t, err, connectors.NotFound, "no account "+ghost+" in "+c.f.directory)
			}
		})

		t.Run("missing group", func(t *testing.T) {
			_, err := run(t, c, "addToGroup", map[string]any{"username": username, "group": "NoSuchGroup"})
			wantError(t, err, connectors.NotFound, "no group named NoSuchGroup")
			_, err = run(t, c, "addToGroup", map[string]any{"username": username, "group": "cn=NoSuchGroup," + c.groupBaseDN})
			wantError(t, err, connectors.NotFound, "cn=NoSuchGroup,"+c.groupBaseDN+" does not exist")
		})

		t.Run("password policy", func(t *testing.T) {
			_, err := run(t, c, "setPassword", map[string]any{"username": username, "password": d.weakPassword})
			ce := wantError(t, err, connectors.InvalidInput, c.f.directory+" rejected the password for "+username+": it does not meet")
			if !strings.Contains(ce.Message, "(") || strings.Contains(ce.Message, d.weakPassword) {
				t.Errorf("message %q should quote the directory's reason and never the password", ce.Message)
			}
			if err := d.userBind(d.userDN(username), d.goodPassword); err != nil {
				t.Errorf("the refused password changed something: the old one no longer binds: %v", err)
			}

			weak := uniqueName("weak")
			_, err = run(t, c, "createAccount", map[string]any{"username": weak, "password": d.weakPassword})
			wantError(t, err, connectors.InvalidInput, "rejected the password for "+weak, "the account was not created")
			if d.read(t, d.userDN(weak)) != nil {
				t.Errorf("%s exists after its password was refused", d.userDN(weak))
			}
		})

		t.Run("wrong bind password", func(t *testing.T) {
			bad := d.connector(t, connectors.Config{"bindPassword": "not-the-password"})
			_, err := bad.Test(t.Context())
			ce := wantError(t, err, connectors.Unauthorized, "refused the bind as "+c.bindDN)
			if strings.Contains(ce.Message, "not-the-password") {
				t.Errorf("message %q carries the password", ce.Message)
			}
			_, err = run(t, bad, "checkAccountExists", map[string]any{"username": username})
			wantError(t, err, connectors.Unauthorized)
		})

		t.Run("unreachable port", func(t *testing.T) {
			closed := "ldap://127.0.0.1:1"
			down := d.connector(t, connectors.Config{"url": closed, "startTLS": false})
			_, err := down.Test(t.Context())
			ce := wantError(t, err, connectors.ConnectorDown, "cannot reach "+c.f.directory+" at "+closed)
			if ce.Code != "UNREACHABLE" || !ce.Class.Retryable() {
				t.Errorf("code %s, retryable %v", ce.Code, ce.Class.Retryable())
			}
		})

		t.Run("unknown CA", func(t *testing.T) {
			other, err := ldaptest.NewCA("Another CA")
			if err != nil {
				t.Fatal(err)
			}
			wrong := d.connector(t, connectors.Config{"caCert": string(other.CertPEM)})
			_, err = wrong.Test(t.Context())
			ce := wantError(t, err, connectors.ConnectorDown, "unknown authority", "caCert")
			if ce.Code != "TLS" {
				t.Errorf("code %s", ce.Code)
			}
		})
	})
}

// TestActiveDirectoryNeedsTLS checks both ways AD refuses to work unencrypted: the connector
// will not send a password in clear, and the DC will not take a simple bind in clear.
func TestActiveDirectoryNeedsTLS(t *testing.T) {
	t.Parallel()
	d := sambaDirectory(t)
	plain := d.connector(t, connectors.Config{"url": strings.Replace(strings.Replace(d.cfg.String("url"), "ldaps", "ldap", 1), ":636", ":389", 1)})

	_, err := run(t, plain, "setPassword", map[string]any{"username": "anyone", "password": d.goodPassword})
	ce := wantError(t, err, connectors.InvalidInput, "only over an encrypted connection", "ldaps://", "startTLS")
	if ce.Field != "password" {
		t.Errorf("field %q", ce.Field)
	}
	_, err = run(t, plain, "createAccount", map[string]any{"username": "anyone", "password": d.goodPassword})
	wantError(t, err, connectors.InvalidInput, "only over an encrypted connection")

	_, err = plain.Test(t.Context())
	wantError(t, err, connectors.Unauthorized, "only over an encrypted connection")

	startTLS := d.connector(t, connectors.Config{"url": plain.url, "startTLS": true})
	res, err := startTLS.Test(t.Context())
	if err != nil {
		t.Fatalf("StartTLS to the DC: %v", err)
	}
	if !strings.Contains(res.Message, "over StartTLS") {
		t.Errorf("Test message %q", res.Message)
	}
}

// TestGroupByDNAndAmbiguousName checks groups given by DN, and a name two groups share.
func TestGroupByDNAndAmbiguousName(t *testing.T) {
	t.Parallel()
	d := slapdDirectory(t)
	c := d.connector(t, nil)
	username := uniqueName("member")
	mustRun(t, c, "createAccount", map[string]any{"username": username})
	_, groupDN := d.newGroup(t)
	out := mustRun(t, c, "addToGroup", map[string]any{"username": username, "group": groupDN})
	if out["groupDN"] != groupDN {
		t.Errorf("groupDN = %v", out["groupDN"])
	}
	// The same cn in two places: the name alone cannot say which.
	mustAdmin(t, d, func(conn *goldap.Conn) error {
		for _, name := range []string{"a", "b"} {
			dn := "ou=" + name + "," + c.groupBaseDN
			ou := goldap.NewAddRequest(dn, nil)
			ou.Attribute("objectClass", []string{"organizationalUnit"})
			ou.Attribute("ou", []string{name})
			g := goldap.NewAddRequest("cn=twin,"+dn, nil)
			g.Attribute("objectClass", []string{"groupOfNames"})
			g.Attribute("cn", []string{"twin"})
			g.Attribute("member", []string{c.bindDN})
			if err := conn.Add(ou); err != nil {
				return err
			}
			if err := conn.Add(g); err != nil {
				return err
			}
		}
		return nil
	})
	_, err := run(t, c, "addToGroup", map[string]any{"username": username, "group": "twin"})
	wantError(t, err, connectors.Conflict, "2 groups", "are named twin", "give the group's DN")
	_, err = run(t, c, "addToGroup", map[string]any{"username": username, "group": "ou=a," + c.groupBaseDN})
	wantError(t, err, connectors.InvalidInput, "is not a group")
}

// TestLastMemberOfGroupOfNames checks the message when groupOfNames would lose its last
// member, which the LDAP schema forbids.
func TestLastMemberOfGroupOfNames(t *testing.T) {
	t.Parallel()
	d := slapdDirectory(t)
	c := d.connector(t, nil)
	username := uniqueName("only")
	out := mustRun(t, c, "createAccount", map[string]any{"username": username})
	name := uniqueName("solo")
	mustAdmin(t, d, func(conn *goldap.Conn) error {
		g := goldap.NewAddRequest("cn="+name+","+c.groupBaseDN, nil)
		g.Attribute("objectClass", []string{"groupOfNames"})
		g.Attribute("cn", []string{name})
		g.Attribute("member", []string{out["dn"].(string)})
		return conn.Add(g)
	})
	_, err := run(t, c, "removeFromGroup", map[string]any{"username": username, "group": name})
	wantError(t, err, connectors.InvalidInput, "must keep at least one member")
}

// TestInjectionIsInert creates an account whose name is filter and DN syntax and checks that
// lookups find exactly it and nothing else.
func TestInjectionIsInert(t *testing.T) {
	t.Parallel()
	d := slapdDirectory(t)
	c := d.connector(t, nil)
	mustRun(t, c, "createAccount", map[string]any{"username": "plain"})
	evil := `*)(uid=*),cn=x+sn=y\`
	out := mustRun(t, c, "createAccount", map[string]any{"username": evil})
	e := d.read(t, out["dn"].(string), "uid")
	if e == nil || e.GetAttributeValue("uid") != evil {
		t.Fatalf("entry for %q: %+v", evil, e)
	}
	exists := mustRun(t, c, "checkAccountExists", map[string]any{"username": "*"})
	if exists["exists"] != false {
		t.Errorf("username * matched %v", exists["dn"])
	}
	mustRun(t, c, "deleteAccount", map[string]any{"username": evil})
	if exists := mustRun(t, c, "checkAccountExists", map[string]any{"username": "plain"}); exists["exists"] != true {
		t.Error("deleting the injected name deleted another account")
	}
}
