// Package ldap is the activedirectory and ldap connector types: accounts and group
// memberships in Active Directory and in standard LDAP directories (OpenLDAP and the like),
// over go-ldap.
//
// Each call opens its own connection (dial, StartTLS when configured, bind, operate, close),
// so a connector holds no state between calls and honours the call's context throughout.
// Listings use the RFC 2696 paging control and hold one page in memory at a time. Every value
// that goes into a filter or a DN is escaped (escape.go).
package ldap

import (
	"crypto/x509"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	goldap "github.com/go-ldap/ldap/v3"

	"floh/connectors"
)

// flavor is what differs between Active Directory and a standard LDAP directory.
type flavor struct {
	ad bool
	// directory names the target in messages: "Active Directory refused to ...".
	directory string
	// userFilter and groupFilter are the defaults of the config fields of the same names.
	userFilter, groupFilter string
	// usernameAttr holds the username; rdnAttr names new accounts ("CN=jdoe", "uid=jdoe").
	usernameAttr, rdnAttr, ouAttr string
	// idAttr is the stable identifier reported as externalId.
	idAttr string
	// changedAttr is when an entry last changed, for since; timeLayout is its filter syntax.
	changedAttr, timeLayout string
}

var (
	adFlavor = &flavor{
		ad:           true,
		directory:    "Active Directory",
		userFilter:   "(&(objectCategory=person)(objectClass=user))",
		groupFilter:  "(objectClass=group)",
		usernameAttr: "sAMAccountName", rdnAttr: "CN", ouAttr: "OU",
		idAttr:      "objectGUID",
		changedAttr: "whenChanged", timeLayout: "20060102150405.0Z",
	}
	ldapFlavor = &flavor{
		directory:    "the LDAP directory",
		userFilter:   "(objectClass=inetOrgPerson)",
		groupFilter:  "(objectClass=groupOfNames)",
		usernameAttr: "uid", rdnAttr: "uid", ouAttr: "ou",
		idAttr:      "entryUUID",
		changedAttr: "modifyTimestamp", timeLayout: "20060102150405Z",
	}
)

// ActiveDirectory is the activedirectory connector type.
var ActiveDirectory = newType(adFlavor, "activedirectory", "Active Directory",
	"User accounts and group memberships in a Microsoft Active Directory domain (or a Samba domain controller), over LDAPS or LDAP with StartTLS.",
	"ldaps://dc1.example.com", "CN=svc-floh,OU=Service Accounts,DC=example,DC=com", "DC=example,DC=com")

// LDAP is the ldap connector type.
var LDAP = newType(ldapFlavor, "ldap", "LDAP",
	"User accounts (inetOrgPerson) and group memberships (groupOfNames) in a standard LDAP directory such as OpenLDAP.",
	"ldaps://ldap.example.com", "cn=floh,ou=services,dc=example,dc=com", "dc=example,dc=com")

func newType(f *flavor, name, label, description, urlExample, bindExample, baseExample string) *connectors.Type {
	t := &connectors.Type{
		Name:        name,
		Label:       label,
		Description: description,
		Config:      configSchema(f, urlExample, bindExample, baseExample),
		Commands:    commands(f),
	}
	t.Validate = func(cfg connectors.Config) []connectors.FieldError { return validate(cfg) }
	t.New = func(cfg connectors.Config) (connectors.Connector, error) {
		c, err := newConnector(f, cfg)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
	return t
}

func configSchema(f *flavor, urlExample, bindExample, baseExample string) []connectors.Field {
	baseHelp := "The top of the tree Floh works in."
	tlsHelp := "Upgrade an ldap:// connection to TLS before binding. Not with ldaps://, which is already encrypted."
	userBaseHelp := "Where users are looked up and listed. Empty: the base DN. New accounts go here unless the ou param says otherwise."
	userBase, groupBase := "ou=people,"+baseExample, "ou=groups,"+baseExample
	if f.ad {
		baseHelp += " Its DC= parts give the userPrincipalName suffix of new accounts (DC=example,DC=com → jdoe@example.com)."
		tlsHelp += " Active Directory needs one or the other for simple binds and passwords."
		userBaseHelp = "Where users are looked up and listed. Empty: the base DN. New accounts go here unless the ou param says otherwise; with neither, into CN=Users under the base DN."
		userBase, groupBase = "OU=People,"+baseExample, "OU=Groups,"+baseExample
	}
	return []connectors.Field{
		{Name: "url", Label: "Server URL", Kind: connectors.KindString, Required: true, Placeholder: urlExample,
			Help: "ldaps://host[:port] for TLS from the start (port 636 by default), or ldap://host[:port] (389) with StartTLS below."},
		{Name: "bindDN", Label: "Bind DN", Kind: connectors.KindString, Required: true, Placeholder: bindExample,
			Help: "The DN of the service account Floh binds as. It needs the rights to create, change and delete accounts and to change group memberships under the base DNs."},
		{Name: "bindPassword", Label: "Bind password", Kind: connectors.KindString, Required: true, Secret: true,
			Help: "The service account's password. Stored encrypted; never shown again."},
		{Name: "baseDN", Label: "Base DN", Kind: connectors.KindString, Required: true, Placeholder: baseExample, Help: baseHelp},
		{Name: "startTLS", Label: "Use StartTLS", Kind: connectors.KindBoolean, Default: false, Help: tlsHelp},
		{Name: "caCert", Label: "CA certificate", Kind: connectors.KindText, Placeholder: "-----BEGIN CERTIFICATE-----",
			Help: "PEM certificate(s) of the CA that signed the directory's TLS certificate, when it is not a publicly trusted one. Empty: the system's trusted CAs."},
		{Name: "userBaseDN", Label: "User base DN", Kind: connectors.KindString, Placeholder: userBase, Help: userBaseHelp},
		{Name: "groupBaseDN", Label: "Group base DN", Kind: connectors.KindString, Placeholder: groupBase,
			Help: "Where groups are looked up by name and listed. Empty: the base DN."},
		{Name: "userFilter", Label: "User filter", Kind: connectors.KindString, Placeholder: f.userFilter,
			Help: "The LDAP filter that says what a user is, for lookups and listings. Empty: " + f.userFilter + "."},
		{Name: "groupFilter", Label: "Group filter", Kind: connectors.KindString, Placeholder: f.groupFilter,
			Help: "The LDAP filter that says what a group is. Empty: " + f.groupFilter + "."},
		{Name: "userAttributes", Label: "Extra user attributes", Kind: connectors.KindStringList, Placeholder: "title, department, employeeNumber",
			Help: "Directory attributes read into each listed user's attributes, for sync attribute mappings such as attributes.department. One value is kept as text, several as a list."},
		{Name: "pageSize", Label: "Page size", Kind: connectors.KindInteger, Default: 1000,
			Help: "Entries per page when listing (RFC 2696 paging). Active Directory sends at most 1000 per page whatever is asked."},
	}
}

// validate checks what the schema cannot express. It never contacts the directory.
func validate(cfg connectors.Config) []connectors.FieldError {
	var problems []connectors.FieldError
	bad := func(field, format string, args ...any) {
		problems = append(problems, connectors.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	if _, _, err := parseURL(cfg.String("url")); err != nil {
		bad("url", "%v", err)
	} else if cfg.Bool("startTLS") && strings.HasPrefix(strings.ToLower(cfg.String("url")), "ldaps:") {
		bad("startTLS", "startTLS cannot be used with an ldaps:// URL, which is encrypted from the start: turn startTLS off, or use ldap://")
	}
	for _, name := range []string{"bindDN", "baseDN", "userBaseDN", "groupBaseDN"} {
		v := cfg.String(name)
		if v == "" {
			continue
		}
		if dn, err := goldap.ParseDN(v); err != nil || len(dn.RDNs) == 0 {
			bad(name, "%s %q is not a DN such as DC=example,DC=com: %v", name, v, dnError(err))
		}
	}
	for _, name := range []string{"userFilter", "groupFilter"} {
		if v := cfg.String(name); v != "" {
			if _, err := goldap.CompileFilter(v); err != nil {
				bad(name, "%s %q is not an LDAP filter such as (objectClass=user): %v", name, v, err)
			}
		}
	}
	if pem := cfg.String("caCert"); pem != "" {
		if _, err := parseCA(pem); err != nil {
			bad("caCert", "%v", err)
		}
	}
	for _, a := range extraAttributes(cfg) {
		if !attrName.MatchString(a) {
			bad("userAttributes", "%q is not an attribute name such as department (letters, digits and hyphens)", a)
		}
	}
	if n := len(extraAttributes(cfg)); n > maxExtraAttributes {
		bad("userAttributes", "at most %d extra attributes, not %d", maxExtraAttributes, n)
	}
	if n := cfg.Int("pageSize"); n < 1 || n > maxPageSize {
		bad("pageSize", "pageSize must be between 1 and %d, not %d", maxPageSize, n)
	}
	return problems
}

var attrName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,63}$`)

// maxExtraAttributes bounds what each listed user carries.
const maxExtraAttributes = 32

// extraAttributes are the configured extra user attributes.
func extraAttributes(cfg connectors.Config) []string {
	l, _ := cfg["userAttributes"].([]string)
	return l
}

func dnError(err error) error {
	if err == nil {
		return fmt.Errorf("it is empty")
	}
	return err
}

// parseURL returns the scheme ("ldap" or "ldaps") and host:port of a server URL.
func parseURL(raw string) (scheme, hostPort string, err error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return "", "", fmt.Errorf("url %q is not a URL such as ldaps://dc1.example.com", raw)
	}
	scheme = strings.ToLower(u.Scheme)
	port := map[string]string{"ldap": "389", "ldaps": "636"}[scheme]
	if port == "" {
		return "", "", fmt.Errorf("url must start with ldap:// or ldaps://, not %q", raw)
	}
	if u.Hostname() == "" {
		return "", "", fmt.Errorf("url %q has no host", raw)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return "", "", fmt.Errorf("url %q must be only scheme, host and port: the base DN and credentials have fields of their own", raw)
	}
	if u.Port() != "" {
		port = u.Port()
	}
	return scheme, u.Hostname() + ":" + port, nil
}

// parseCA reads PEM CA certificates into a pool.
func parseCA(pem string) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(pem)) {
		return nil, fmt.Errorf("caCert holds no PEM certificate (it should start with -----BEGIN CERTIFICATE-----)")
	}
	return pool, nil
}
