package ldap

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	goldap "github.com/go-ldap/ldap/v3"

	"floh/connectors"
)

// Execute runs one command once, on a connection of its own.
func (c *connector) Execute(ctx context.Context, command string, params map[string]any) (map[string]any, error) {
	switch command {
	case "createAccount":
		return c.createAccount(ctx, params)
	case "setPassword":
		return c.setPassword(ctx, str(params, "username"), str(params, "password"))
	case "enableAccount":
		return c.setEnabled(ctx, str(params, "username"), true)
	case "disableAccount":
		return c.setEnabled(ctx, str(params, "username"), false)
	case "addToGroup":
		return c.changeMembership(ctx, str(params, "username"), str(params, "group"), true)
	case "removeFromGroup":
		return c.changeMembership(ctx, str(params, "username"), str(params, "group"), false)
	case "deleteAccount":
		return c.deleteAccount(ctx, str(params, "username"))
	case "checkAccountExists":
		return c.checkAccountExists(ctx, str(params, "username"))
	case "listUsers":
		return c.listPage(ctx, connectors.ResourceUser, params)
	case "listGroups":
		return c.listPage(ctx, connectors.ResourceGroup, params)
	}
	return nil, connectors.Errorf(connectors.InvalidInput, "UNKNOWN_COMMAND", "the %s connector has no command %q", c.f.directory, command)
}

// str reads a string param; CheckParams has already made strings of them.
func str(params map[string]any, name string) string {
	s, _ := params[name].(string)
	return s
}

// findUser looks an account up by username under the user base DN.
func (s *session) findUser(username string, attrs ...string) (*goldap.Entry, error) {
	c := s.c
	if len(attrs) == 0 {
		attrs = []string{"1.1"}
	}
	filter := "(&" + c.userFilter + "(" + c.f.usernameAttr + "=" + escapeFilter(username) + "))"
	res, err := s.conn.Search(goldap.NewSearchRequest(c.userBaseDN, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases, 0, 0, false, filter, attrs, nil))
	if err != nil {
		if hasCode(err, goldap.LDAPResultNoSuchObject) {
			return nil, s.baseFailed(err, "userBaseDN", c.userBaseDN)
		}
		return nil, s.fail(err, "look up account "+username)
	}
	switch len(res.Entries) {
	case 0:
		return nil, connectors.Errorf(connectors.NotFound, "ACCOUNT_NOT_FOUND", "no account %s in %s under %s", username, c.f.directory, c.userBaseDN)
	case 1:
		return res.Entries[0], nil
	}
	dns := make([]string, len(res.Entries))
	for i, e := range res.Entries {
		dns[i] = e.DN
	}
	return nil, connectors.Errorf(connectors.Conflict, "AMBIGUOUS_ACCOUNT", "%d entries in %s have the username %s (%s): narrow userBaseDN or userFilter",
		len(dns), c.f.directory, username, strings.Join(dns, "; "))
}

// findGroup resolves a group given by name or DN to its DN.
func (s *session) findGroup(group string) (string, error) {
	c := s.c
	if isDN(group) {
		e, err := s.readEntry(group, c.groupFilter)
		switch {
		case hasCode(err, goldap.LDAPResultNoSuchObject):
			return "", connectors.Errorf(connectors.NotFound, "GROUP_NOT_FOUND", "group %s does not exist in %s", group, c.f.directory)
		case err != nil:
			return "", s.fail(err, "read group "+group)
		case e == nil:
			return "", connectors.Errorf(connectors.InvalidInput, "NOT_A_GROUP", "%s is not a group in %s: it does not match groupFilter %s", group, c.f.directory, c.groupFilter)
		}
		return e.DN, nil
	}
	name := "(cn=" + escapeFilter(group) + ")"
	if c.f.ad {
		// In AD a group's name is as often its pre-Windows 2000 name as its cn.
		name = "(|" + name + "(sAMAccountName=" + escapeFilter(group) + "))"
	}
	res, err := s.conn.Search(goldap.NewSearchRequest(c.groupBaseDN, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases, 0, 0, false,
		"(&"+c.groupFilter+name+")", []string{"1.1"}, nil))
	if err != nil {
		if hasCode(err, goldap.LDAPResultNoSuchObject) {
			return "", s.baseFailed(err, "groupBaseDN", c.groupBaseDN)
		}
		return "", s.fail(err, "look up group "+group)
	}
	switch len(res.Entries) {
	case 0:
		return "", connectors.Errorf(connectors.NotFound, "GROUP_NOT_FOUND", "no group named %s in %s under %s", group, c.f.directory, c.groupBaseDN)
	case 1:
		return res.Entries[0].DN, nil
	}
	dns := make([]string, len(res.Entries))
	for i, e := range res.Entries {
		dns[i] = e.DN
	}
	return "", connectors.Errorf(connectors.Conflict, "AMBIGUOUS_GROUP", "%d groups in %s are named %s (%s): give the group's DN",
		len(dns), c.f.directory, group, strings.Join(dns, "; "))
}

// isDN tells a DN ("CN=Sales,OU=Groups,DC=example,DC=com") from a name ("Sales").
func isDN(s string) bool {
	if !strings.Contains(s, "=") {
		return false
	}
	dn, err := goldap.ParseDN(s)
	return err == nil && len(dn.RDNs) > 0
}

func (c *connector) createAccount(ctx context.Context, params map[string]any) (map[string]any, error) {
	username, password := str(params, "username"), str(params, "password")
	if password != "" && c.f.ad && !c.encrypted() {
		return nil, c.needsTLS("set the password of " + username)
	}
	container, err := c.container(str(params, "ou"))
	if err != nil {
		return nil, err
	}
	dn := c.f.rdnAttr + "=" + escapeRDN(username) + "," + container
	attrs, err := c.accountAttributes(params)
	if err != nil {
		return nil, err
	}
	s, err := c.open(ctx)
	if err != nil {
		return nil, err
	}
	defer s.close()

	add := goldap.NewAddRequest(dn, nil)
	for _, a := range attrs {
		add.Attribute(a.name, a.values)
	}
	if err := s.conn.Add(add); err != nil {
		return nil, s.createFailed(err, username, dn, container, str(params, "ou") != "", password != "")
	}
	if password != "" && !c.f.ad {
		// A standard directory hashes and checks a password only when it is set through the
		// password modify operation; if it refuses this one, the account must not stay behind
		// half made.
		if _, err := s.conn.PasswordModify(goldap.NewPasswordModifyRequest(dn, "", password)); err != nil {
			perr := s.passwordFailed(err, username, dn)
			if derr := s.conn.Del(goldap.NewDelRequest(dn, nil)); derr != nil {
				perr.Message += fmt.Sprintf("; removing the new entry %s failed too, delete it by hand: %v", dn, derr)
			} else {
				perr.Message += "; the account was not created"
			}
			return nil, perr
		}
	}
	out := map[string]any{"dn": dn, "externalId": "", "username": username, "enabled": !c.f.ad || password != ""}
	// The account exists now: failing to read its identifier back must not report the
	// creation as failed, which a retry would turn into already_exists.
	if e, err := s.readEntry(dn, "(objectClass=*)", c.f.idAttr); err == nil && e != nil {
		out["externalId"] = c.externalID(e)
	}
	return out, nil
}

func (s *session) createFailed(err error, username, dn, container string, ouGiven, withPassword bool) *connectors.Error {
	if ce := s.down(err); ce != nil {
		return ce
	}
	c := s.c
	code, diag, _ := resultCode(err)
	switch {
	case code == goldap.LDAPResultEntryAlreadyExists:
		// AD also answers 68 when the sAMAccountName is taken elsewhere in the domain: name
		// the entry that holds it.
		existing := dn
		if e, ferr := s.findUser(username); ferr == nil {
			existing = e.DN
		}
		return connectors.Wrap(err, connectors.AlreadyExists, "ACCOUNT_EXISTS", "account %s already exists in %s (%s)", username, c.f.directory, existing)
	case withPassword && c.f.ad && isPasswordRestriction(code, diag):
		return connectors.Wrap(err, connectors.InvalidInput, "PASSWORD_REJECTED", "%s; the account was not created",
			withDiag(fmt.Sprintf("%s rejected the password for %s: it does not meet the domain's password policy", c.f.directory, username), diag))
	case code == goldap.LDAPResultNoSuchObject:
		e := connectors.Wrap(err, connectors.NotFound, "CONTAINER_NOT_FOUND", "%s",
			withDiag(fmt.Sprintf("cannot create account %s: its container %s does not exist in %s", username, container, c.f.directory), diag))
		if ouGiven {
			e.Field = "ou"
		}
		return e
	}
	return s.fail(err, fmt.Sprintf("create account %s (%s)", username, dn))
}

// isPasswordRestriction recognises AD's refusal of a password by policy: constraintViolation
// carrying ERROR_PASSWORD_RESTRICTION (0x52D) or naming the password.
func isPasswordRestriction(code uint16, diag string) bool {
	if code != goldap.LDAPResultConstraintViolation && code != goldap.LDAPResultUnwillingToPerform {
		return false
	}
	d := strings.ToLower(diag)
	return strings.Contains(d, "0000052d") || strings.Contains(d, "password") || strings.Contains(d, "unicodepwd")
}

// container is the DN new accounts go under: the ou param as a DN, or as the name of an OU
// under the user base DN, or else the configured place.
func (c *connector) container(ou string) (string, error) {
	switch {
	case ou == "":
		return c.createBase, nil
	case isDN(ou):
		return ou, nil
	case strings.Contains(ou, "="):
		return "", &connectors.Error{Class: connectors.InvalidInput, Code: "INVALID_OU", Field: "ou",
			Message: fmt.Sprintf("ou %q is neither an OU name nor a DN such as OU=Sales,%s", ou, c.baseDN)}
	}
	return c.f.ouAttr + "=" + escapeRDN(ou) + "," + c.userBaseDN, nil
}

type attribute struct {
	name   string
	values []string
}

// accountAttributes builds a new account's entry from createAccount's params.
func (c *connector) accountAttributes(params map[string]any) ([]attribute, error) {
	username, password := str(params, "username"), str(params, "password")
	display, given, surname := str(params, "displayName"), str(params, "givenName"), str(params, "surname")
	var attrs []attribute
	set := func(name string, values ...string) {
		for i, a := range attrs {
			if strings.EqualFold(a.name, name) {
				attrs[i].values = values
				return
			}
		}
		attrs = append(attrs, attribute{name, values})
	}
	// Derived values: defaults the attributes param may replace.
	if c.f.ad {
		set("objectClass", "top", "person", "organizationalPerson", "user")
		set("cn", username)
		set("sAMAccountName", username)
		if c.upnSuffix != "" {
			set("userPrincipalName", username+"@"+c.upnSuffix)
		}
		if password != "" {
			set("unicodePwd", encodePassword(password))
			set("userAccountControl", strconv.Itoa(uacNormalAccount))
		} else {
			// AD keeps an account without a password disabled; it is enabled once one is set.
			set("userAccountControl", strconv.Itoa(uacNormalAccount|uacAccountDisable))
		}
	} else {
		cn := display
		if cn == "" {
			cn = strings.TrimSpace(given + " " + surname)
		}
		if cn == "" {
			cn = username
		}
		sn := surname
		if sn == "" {
			sn = username // inetOrgPerson requires sn
		}
		set("objectClass", "top", "person", "organizationalPerson", "inetOrgPerson")
		set("uid", username)
		set("cn", cn)
		set("sn", sn)
	}
	fromParams := map[string]string{}
	for attr, param := range map[string]string{"mail": "email", "displayName": "displayName", "givenName": "givenName", "sn": "surname"} {
		if v := str(params, param); v != "" {
			set(attr, v)
			fromParams[strings.ToLower(attr)] = param
		}
	}

	extra, _ := params["attributes"].(map[string]any)
	names := make([]string, 0, len(extra))
	for name := range extra {
		names = append(names, name)
	}
	slices.Sort(names)
	managed := []string{"objectclass", "unicodepwd", "userpassword", "useraccountcontrol", "pwdaccountlockedtime",
		strings.ToLower(c.f.usernameAttr), strings.ToLower(c.f.rdnAttr)}
	for _, name := range names {
		bad := func(format string, args ...any) error {
			return &connectors.Error{Class: connectors.InvalidInput, Code: "INVALID_ATTRIBUTE", Field: "attributes",
				Message: fmt.Sprintf("attributes.%s ", name) + fmt.Sprintf(format, args...)}
		}
		lower := strings.ToLower(name)
		if name == "" || strings.ContainsAny(name, " ,=()") {
			return nil, bad("is not an attribute name")
		}
		if slices.Contains(managed, lower) {
			return nil, bad("is set by createAccount itself (from username, password and the account's state) and cannot be given here")
		}
		if param, ok := fromParams[lower]; ok {
			return nil, bad("repeats the %s param; give it once", param)
		}
		values, err := attributeValues(extra[name])
		if err != nil {
			return nil, bad("%v", err)
		}
		if len(values) > 0 {
			set(name, values...)
		}
	}
	return attrs, nil
}

// attributeValues turns one value of the attributes param into LDAP values.
func attributeValues(v any) ([]string, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case string:
		return []string{v}, nil
	case []string:
		return v, nil
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, err := attributeValues(e)
			if err != nil || len(s) != 1 {
				return nil, fmt.Errorf("must be text or a list of texts")
			}
			out = append(out, s[0])
		}
		return out, nil
	case float64:
		return []string{strconv.FormatFloat(v, 'f', -1, 64)}, nil
	case int:
		return []string{strconv.Itoa(v)}, nil
	case bool:
		return []string{strings.ToUpper(strconv.FormatBool(v))}, nil // LDAP Boolean syntax
	}
	return nil, fmt.Errorf("must be text or a list of texts")
}

// userAccountControl bits (MS-ADTS 2.2.16).
const (
	uacAccountDisable = 0x2
	uacNormalAccount  = 0x200
)

// encodePassword is AD's unicodePwd value: the password in double quotes, UTF-16LE.
func encodePassword(password string) string {
	units := utf16.Encode([]rune(`"` + password + `"`))
	b := make([]byte, 2*len(units))
	for i, u := range units {
		binary.LittleEndian.PutUint16(b[2*i:], u)
	}
	return string(b)
}

func (c *connector) needsTLS(what string) *connectors.Error {
	return &connectors.Error{Class: connectors.InvalidInput, Code: "PASSWORD_NEEDS_TLS", Field: "password",
		Message: fmt.Sprintf("cannot %s: Active Directory accepts passwords only over an encrypted connection, and this connector uses %s without StartTLS; use ldaps:// or turn startTLS on", what, c.url)}
}

func (c *connector) setPassword(ctx context.Context, username, password string) (map[string]any, error) {
	if c.f.ad && !c.encrypted() {
		return nil, c.needsTLS("set the password of " + username)
	}
	s, err := c.open(ctx)
	if err != nil {
		return nil, err
	}
	defer s.close()
	e, err := s.findUser(username)
	if err != nil {
		return nil, err
	}
	if c.f.ad {
		mod := goldap.NewModifyRequest(e.DN, nil)
		mod.Replace("unicodePwd", []string{encodePassword(password)})
		err = s.conn.Modify(mod)
	} else {
		_, err = s.conn.PasswordModify(goldap.NewPasswordModifyRequest(e.DN, "", password))
	}
	if err != nil {
		return nil, s.passwordFailed(err, username, e.DN)
	}
	return map[string]any{"dn": e.DN}, nil
}

// passwordFailed explains a refused password.
func (s *session) passwordFailed(err error, username, dn string) *connectors.Error {
	if ce := s.down(err); ce != nil {
		return ce
	}
	c := s.c
	code, diag, _ := resultCode(err)
	if code == goldap.LDAPResultConstraintViolation || (c.f.ad && isPasswordRestriction(code, diag)) {
		policy := "the directory's password policy"
		if c.f.ad {
			policy = "the domain's password policy"
		}
		return connectors.Wrap(err, connectors.InvalidInput, "PASSWORD_REJECTED", "%s",
			withDiag(fmt.Sprintf("%s rejected the password for %s: it does not meet %s", c.f.directory, username, policy), diag))
	}
	return s.fail(err, fmt.Sprintf("set the password of %s (%s)", username, dn))
}

func (c *connector) setEnabled(ctx context.Context, username string, enable bool) (map[string]any, error) {
	s, err := c.open(ctx)
	if err != nil {
		return nil, err
	}
	defer s.close()
	verb := "disable"
	if enable {
		verb = "enable"
	}
	if c.f.ad {
		e, err := s.findUser(username, "userAccountControl")
		if err != nil {
			return nil, err
		}
		uac, perr := strconv.Atoi(e.GetAttributeValue("userAccountControl"))
		if perr != nil {
			return nil, connectors.Errorf(connectors.TargetError, "NO_USER_ACCOUNT_CONTROL", "%s (%s) has no readable userAccountControl (%q): the bind account may lack the right to read it",
				username, e.DN, e.GetAttributeValue("userAccountControl"))
		}
		next := uac | uacAccountDisable
		if enable {
			next = uac &^ uacAccountDisable
		}
		if next == uac {
			return map[string]any{"dn": e.DN, "enabled": enable, "changed": false}, nil
		}
		mod := goldap.NewModifyRequest(e.DN, nil)
		mod.Replace("userAccountControl", []string{strconv.Itoa(next)})
		if err := s.conn.Modify(mod); err != nil {
			return nil, s.fail(err, fmt.Sprintf("%s account %s (%s)", verb, username, e.DN))
		}
		return map[string]any{"dn": e.DN, "enabled": enable, "changed": true}, nil
	}

	e, err := s.findUser(username, "pwdAccountLockedTime")
	if err != nil {
		return nil, err
	}
	locked := e.GetAttributeValue("pwdAccountLockedTime")
	mod := goldap.NewModifyRequest(e.DN, nil)
	switch {
	case enable && locked == "", !enable && locked == permanentLock:
		return map[string]any{"dn": e.DN, "enabled": enable, "changed": false}, nil
	case enable:
		mod.Delete("pwdAccountLockedTime", nil)
	default:
		// A lockout after failed binds ends by itself; disabling makes it permanent.
		mod.Replace("pwdAccountLockedTime", []string{permanentLock})
	}
	if err := s.conn.Modify(mod); err != nil {
		if hasCode(err, goldap.LDAPResultUndefinedAttributeType, goldap.LDAPResultObjectClassViolation) {
			_, diag, _ := resultCode(err)
			return nil, connectors.Wrap(err, connectors.InvalidInput, "LOCKING_UNSUPPORTED", "%s",
				withDiag(fmt.Sprintf("the LDAP directory cannot %s account %s: it does not support pwdAccountLockedTime (load the ppolicy overlay, with pwdLockout TRUE in the default policy)", verb, username), diag))
		}
		return nil, s.fail(err, fmt.Sprintf("%s account %s (%s)", verb, username, e.DN))
	}
	return map[string]any{"dn": e.DN, "enabled": enable, "changed": true}, nil
}

// permanentLock is the pwdAccountLockedTime value OpenLDAP's ppolicy reads as "locked by an
// administrator until unlocked".
const permanentLock = "000001010000Z"

func (c *connector) changeMembership(ctx context.Context, username, group string, add bool) (map[string]any, error) {
	s, err := c.open(ctx)
	if err != nil {
		return nil, err
	}
	defer s.close()
	user, err := s.findUser(username)
	if err != nil {
		return nil, err
	}
	groupDN, err := s.findGroup(group)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"dn": user.DN, "groupDN": groupDN}
	mod := goldap.NewModifyRequest(groupDN, nil)
	if add {
		mod.Add("member", []string{user.DN})
	} else {
		mod.Delete("member", []string{user.DN})
	}
	err = s.conn.Modify(mod)
	if err == nil {
		return out, nil
	}
	if ce := s.down(err); ce != nil {
		return nil, ce
	}
	code, diag, _ := resultCode(err)
	if add {
		// AD answers entryAlreadyExists, OpenLDAP attributeOrValueExists: either way the
		// membership is there already, a conflict rather than a new object.
		if code == goldap.LDAPResultEntryAlreadyExists || code == goldap.LDAPResultAttributeOrValueExists {
			return nil, connectors.Wrap(err, connectors.Conflict, "ALREADY_MEMBER", "%s is already a member of %s (%s)", username, group, groupDN)
		}
		return nil, s.fail(err, fmt.Sprintf("add %s to group %s (%s)", username, group, groupDN))
	}
	if code == goldap.LDAPResultNoSuchAttribute || code == goldap.LDAPResultUnwillingToPerform {
		// OpenLDAP answers noSuchAttribute for a missing membership; AD answers
		// unwillingToPerform, which has other causes too, so ask.
		member, merr := s.readEntry(groupDN, "(member="+escapeFilter(user.DN)+")")
		if merr == nil && member == nil {
			return nil, connectors.Wrap(err, connectors.NotFound, "NOT_A_MEMBER", "%s is not a member of %s (%s)", username, group, groupDN)
		}
	}
	if code == goldap.LDAPResultObjectClassViolation && !c.f.ad {
		return nil, connectors.Wrap(err, connectors.InvalidInput, "LAST_MEMBER", "%s",
			withDiag(fmt.Sprintf("the LDAP directory refused to remove %s from %s (%s): a groupOfNames must keep at least one member", username, group, groupDN), diag))
	}
	return nil, s.fail(err, fmt.Sprintf("remove %s from group %s (%s)", username, group, groupDN))
}

func (c *connector) deleteAccount(ctx context.Context, username string) (map[string]any, error) {
	s, err := c.open(ctx)
	if err != nil {
		return nil, err
	}
	defer s.close()
	e, err := s.findUser(username)
	if err != nil {
		return nil, err
	}
	var controls []goldap.Control
	if c.f.ad {
		// AD hangs objects below some users (devices, ActiveSync partnerships); they go with
		// the account.
		controls = append(controls, goldap.NewControlSubtreeDelete())
	}
	if err := s.conn.Del(goldap.NewDelRequest(e.DN, controls)); err != nil {
		if hasCode(err, goldap.LDAPResultNoSuchObject) {
			return nil, connectors.Wrap(err, connectors.NotFound, "ACCOUNT_NOT_FOUND", "account %s (%s) was deleted by someone else meanwhile", username, e.DN)
		}
		return nil, s.fail(err, fmt.Sprintf("delete account %s (%s)", username, e.DN))
	}
	return map[string]any{"dn": e.DN}, nil
}

func (c *connector) checkAccountExists(ctx context.Context, username string) (map[string]any, error) {
	s, err := c.open(ctx)
	if err != nil {
		return nil, err
	}
	defer s.close()
	e, err := s.findUser(username)
	var ce *connectors.Error
	if errors.As(err, &ce) && ce.Code == "ACCOUNT_NOT_FOUND" {
		return map[string]any{"exists": false, "dn": ""}, nil
	}
	if err != nil {
		return nil, err
	}
	return map[string]any{"exists": true, "dn": e.DN}, nil
}

// listPage runs a listing command: one page per call.
func (c *connector) listPage(ctx context.Context, resource string, params map[string]any) (map[string]any, error) {
	opts := connectors.ListOptions{Filter: str(params, "filter"), Cursor: str(params, "cursor")}
	opts.PageSize, _ = params["pageSize"].(int)
	if since := str(params, "since"); since != "" {
		t, err := time.Parse(time.RFC3339, since)
		if err != nil {
			return nil, &connectors.Error{Class: connectors.InvalidInput, Code: "INVALID_SINCE", Field: "since",
				Message: fmt.Sprintf("since must be an RFC 3339 time such as 2025-01-31T00:00:00Z, not %q", since)}
		}
		opts.Since = t
	}
	var first *connectors.Page
	err := c.List(ctx, resource, opts, func(p connectors.Page) error {
		first = &p
		return errStop
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, err
	}
	records := make([]any, len(first.Records))
	for i, r := range first.Records {
		records[i] = map[string]any{"externalId": r.ExternalID, "username": r.Username, "email": r.Email, "displayName": r.DisplayName, "attributes": r.Attributes}
	}
	return map[string]any{"records": records, "count": len(records), "nextCursor": first.NextCursor}, nil
}

// errStop ends a listing after the page a command returns.
var errStop = errors.New("stop after one page")
