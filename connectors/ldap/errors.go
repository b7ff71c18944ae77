package ldap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"

	goldap "github.com/go-ldap/ldap/v3"

	"floh/connectors"
)

// resultClass says which class an LDAP result code belongs to, and how to say it to an admin.
// Codes not listed are target errors: the directory failed in a way the caller cannot fix.
var resultClass = map[uint16]struct {
	class  connectors.Class
	reason string
}{
	goldap.LDAPResultInvalidCredentials:          {connectors.Unauthorized, "invalid credentials"},
	goldap.LDAPResultInsufficientAccessRights:    {connectors.Unauthorized, "the bind account lacks the permission"},
	goldap.LDAPResultInappropriateAuthentication: {connectors.Unauthorized, "inappropriate authentication"},
	goldap.LDAPResultStrongAuthRequired:          {connectors.Unauthorized, "the directory requires an encrypted connection for this bind (use ldaps:// or startTLS)"},
	goldap.LDAPResultConfidentialityRequired:     {connectors.Unauthorized, "the directory requires an encrypted connection (use ldaps:// or startTLS)"},
	goldap.LDAPResultEntryAlreadyExists:          {connectors.AlreadyExists, "the entry already exists"},
	goldap.LDAPResultAttributeOrValueExists:      {connectors.Conflict, "the value is already there"},
	goldap.LDAPResultNoSuchObject:                {connectors.NotFound, "no such entry"},
	goldap.LDAPResultConstraintViolation:         {connectors.InvalidInput, "a constraint of the directory is violated"},
	goldap.LDAPResultUnwillingToPerform:          {connectors.InvalidInput, "the directory is unwilling to do this"},
	goldap.LDAPResultNoSuchAttribute:             {connectors.InvalidInput, "no such attribute or value"},
	goldap.LDAPResultUndefinedAttributeType:      {connectors.InvalidInput, "an attribute is not in the directory's schema"},
	goldap.LDAPResultInappropriateMatching:       {connectors.InvalidInput, "inappropriate matching"},
	goldap.LDAPResultInvalidAttributeSyntax:      {connectors.InvalidInput, "a value has the wrong syntax"},
	goldap.LDAPResultInvalidDNSyntax:             {connectors.InvalidInput, "a DN is malformed"},
	goldap.LDAPResultNamingViolation:             {connectors.InvalidInput, "the entry cannot be named or placed there"},
	goldap.LDAPResultObjectClassViolation:        {connectors.InvalidInput, "the entry would break its object class rules"},
	goldap.LDAPResultNotAllowedOnNonLeaf:         {connectors.InvalidInput, "the entry has entries below it"},
	goldap.LDAPResultNotAllowedOnRDN:             {connectors.InvalidInput, "the change would alter the entry's name"},
	goldap.LDAPResultObjectClassModsProhibited:   {connectors.InvalidInput, "object class changes are prohibited"},
	goldap.LDAPResultReferral:                    {connectors.InvalidInput, "the DN is outside this directory's naming contexts (the server sent a referral)"},
	goldap.LDAPResultSizeLimitExceeded:           {connectors.Unauthorized, "the directory caps how many entries the bind account may read (size limit); lift it for the service account (OpenLDAP: limits ... size=unlimited)"},
	goldap.LDAPResultBusy:                        {connectors.TargetError, "the directory is busy"},
	goldap.LDAPResultUnavailable:                 {connectors.TargetError, "the directory is unavailable"},
	goldap.LDAPResultOther:                       {connectors.TargetError, "the directory failed"},
	goldap.ErrorFilterCompile:                    {connectors.InvalidInput, "the filter does not parse"},
}

// codeName turns a result code into an envelope code: "INVALID_CREDENTIALS".
func codeName(code uint16) string {
	name, ok := goldap.LDAPResultCodeMap[code]
	if !ok {
		return fmt.Sprintf("LDAP_%d", code)
	}
	return strings.ToUpper(strings.NewReplacer(" ", "_", "/", "_", "-", "_").Replace(name))
}

// resultCode returns the LDAP result code of err and the directory's own message, if err is an
// answer from the directory (or go-ldap's client-side equivalent).
func resultCode(err error) (uint16, string, bool) {
	var le *goldap.Error
	if !errors.As(err, &le) {
		return 0, "", false
	}
	diag := ""
	if le.Err != nil {
		diag = strings.TrimSpace(le.Err.Error())
	}
	return le.ResultCode, diag, true
}

// hasCode reports whether err is a directory answer with one of codes.
func hasCode(err error, codes ...uint16) bool {
	code, _, ok := resultCode(err)
	if !ok {
		return false
	}
	for _, c := range codes {
		if code == c {
			return true
		}
	}
	return false
}

// withDiag appends the directory's message in parentheses, when it sent one.
func withDiag(msg, diag string) string {
	if diag == "" {
		return msg
	}
	return msg + " (" + diag + ")"
}

// fail classifies a failed operation. what completes "<directory> refused to ...", e.g.
// "delete account jdoe (CN=jdoe,OU=People,DC=example,DC=test)". Network failures, timeouts and
// a cancelled call are connector_down whatever the operation.
func (s call) fail(err error, what string) *connectors.Error {
	if ce := s.down(err); ce != nil {
		return ce
	}
	code, diag, _ := resultCode(err)
	rc, ok := resultClass[code]
	if !ok {
		rc.class, rc.reason = connectors.TargetError, "the directory answered "+goldap.LDAPResultCodeMap[code]
		if goldap.LDAPResultCodeMap[code] == "" {
			rc.reason = fmt.Sprintf("the directory answered result code %d", code)
		}
	}
	return connectors.Wrap(err, rc.class, codeName(code), "%s", withDiag(fmt.Sprintf("%s refused to %s: %s", s.c.f.directory, what, rc.reason), diag))
}

// down classifies failures to talk to the directory at all: the call's context ending, the
// network, TLS. It returns nil for an answer from the directory.
func (s call) down(err error) *connectors.Error {
	if s.ctx != nil && s.ctx.Err() != nil {
		return s.c.ctxDown(s.ctx, err)
	}
	code, _, ok := resultCode(err)
	if ok && code != goldap.ErrorNetwork {
		return nil
	}
	return s.c.netDown(err)
}

// ctxDown explains a call that ended because its context did.
func (c *connector) ctxDown(ctx context.Context, err error) *connectors.Error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return connectors.Wrap(err, connectors.ConnectorDown, "TIMEOUT", "%s at %s did not answer in time", c.f.directory, c.url)
	}
	return connectors.Wrap(err, connectors.ConnectorDown, "CANCELLED", "the call to %s at %s was cancelled", c.f.directory, c.url)
}

// netDown classifies a failure to reach the directory or to agree on TLS with it.
func (c *connector) netDown(err error) *connectors.Error {
	var (
		dnsErr  *net.DNSError
		certErr *tls.CertificateVerificationError
		unknown x509.UnknownAuthorityError
		host    x509.HostnameError
		invalid x509.CertificateInvalidError
		recErr  tls.RecordHeaderError
		alert   tls.AlertError
		opErr   *net.OpError
	)
	where := fmt.Sprintf("%s at %s", c.f.directory, c.url)
	switch {
	case errors.As(err, &dnsErr):
		return connectors.Wrap(err, connectors.ConnectorDown, "DNS", "cannot resolve %s, the host of %s: %v", dnsErr.Name, where, dnsErr.Err)
	case errors.As(err, &unknown):
		return connectors.Wrap(err, connectors.ConnectorDown, "TLS", "the TLS certificate of %s is signed by an unknown authority: set caCert to the CA that signed it (%v)", where, err)
	case errors.As(err, &host):
		return connectors.Wrap(err, connectors.ConnectorDown, "TLS", "the TLS certificate of %s is not valid for that host name: use a host name the certificate names in url (%v)", where, err)
	case errors.As(err, &certErr), errors.As(err, &invalid):
		return connectors.Wrap(err, connectors.ConnectorDown, "TLS", "the TLS certificate of %s was not accepted: %v", where, err)
	case errors.As(err, &recErr):
		return connectors.Wrap(err, connectors.ConnectorDown, "TLS", "%s did not answer TLS: does the scheme match the port (ldaps:// is usually 636, ldap:// 389)?", where)
	case errors.As(err, &alert):
		return connectors.Wrap(err, connectors.ConnectorDown, "TLS", "%s refused the TLS handshake: %v", where, err)
	case errors.As(err, &opErr):
		return connectors.Wrap(err, connectors.ConnectorDown, "UNREACHABLE", "cannot reach %s: %v", where, opErr.Err)
	}
	return connectors.Wrap(err, connectors.ConnectorDown, "CONNECTION_LOST", "the connection to %s failed: %v", where, err)
}
