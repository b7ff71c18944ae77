package ldap

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	goldap "github.com/go-ldap/ldap/v3"

	"floh/connectors"
)

const (
	// dialTimeout bounds connecting and the TLS handshake when the call's context allows more.
	dialTimeout = 10 * time.Second
	// requestTimeout bounds each request (one page of a listing) when the call's context has no
	// deadline, so a directory that stops answering cannot hold a call forever.
	requestTimeout = 2 * time.Minute
)

// connector is a configured activedirectory or ldap instance. It keeps no connection: each
// call opens its own session.
type connector struct {
	f                               *flavor
	url                             string
	scheme, addr                    string
	startTLS                        bool
	tls                             *tls.Config
	bindDN, bindPassword            string
	baseDN, userBaseDN, groupBaseDN string
	userFilter, groupFilter         string
	pageSize                        int
	// extraAttrs are read into listed users' attributes as they are named.
	extraAttrs []string
	// createBase is where accounts go when createAccount has no ou.
	createBase string
	// upnSuffix is the domain of new accounts' userPrincipalName (AD only).
	upnSuffix string
}

func newConnector(f *flavor, cfg connectors.Config) (*connector, error) {
	scheme, addr, err := parseURL(cfg.String("url"))
	if err != nil {
		return nil, err
	}
	host, _, _ := net.SplitHostPort(addr)
	c := &connector{
		f: f, url: strings.TrimSpace(cfg.String("url")), scheme: scheme, addr: addr,
		startTLS: cfg.Bool("startTLS") && scheme == "ldap",
		tls:      &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12},
		bindDN:   cfg.String("bindDN"), bindPassword: cfg.String("bindPassword"),
		baseDN: cfg.String("baseDN"), userBaseDN: cfg.String("userBaseDN"), groupBaseDN: cfg.String("groupBaseDN"),
		userFilter: cfg.String("userFilter"), groupFilter: cfg.String("groupFilter"),
		extraAttrs: extraAttributes(cfg),
		pageSize:   cfg.Int("pageSize"),
	}
	if pem := cfg.String("caCert"); pem != "" {
		if c.tls.RootCAs, err = parseCA(pem); err != nil {
			return nil, err
		}
	}
	if c.userBaseDN == "" {
		c.userBaseDN = c.baseDN
	}
	if c.groupBaseDN == "" {
		c.groupBaseDN = c.baseDN
	}
	if c.userFilter == "" {
		c.userFilter = f.userFilter
	}
	if c.groupFilter == "" {
		c.groupFilter = f.groupFilter
	}
	if c.pageSize < 1 {
		c.pageSize = 1000
	}
	c.createBase = cfg.String("userBaseDN")
	if f.ad {
		if c.createBase == "" {
			c.createBase = "CN=Users," + c.baseDN
		}
		c.upnSuffix = domainOf(c.baseDN)
	} else if c.createBase == "" {
		c.createBase = c.baseDN
	}
	return c, nil
}

// domainOf derives a DNS domain from the DC= parts of a DN: DC=example,DC=com → example.com.
func domainOf(dn string) string {
	parsed, err := goldap.ParseDN(dn)
	if err != nil {
		return ""
	}
	var labels []string
	for _, rdn := range parsed.RDNs {
		for _, a := range rdn.Attributes {
			if strings.EqualFold(a.Type, "DC") {
				labels = append(labels, a.Value)
			}
		}
	}
	return strings.Join(labels, ".")
}

// encrypted reports whether sessions run over TLS, which Active Directory requires for
// passwords.
func (c *connector) encrypted() bool { return c.scheme == "ldaps" || c.startTLS }

// call is what explaining a failure needs: the connector, and the call's context, whose end
// explains a broken connection better than the broken pipe does.
type call struct {
	c   *connector
	ctx context.Context
}

// session is one go-ldap connection, bound as the service account, for one command.
type session struct {
	call
	conn *goldap.Conn
	// stop cancels the context watch that closes the connection when the call ends early.
	stop func() bool
}

// open dials, secures and binds. The connection closes as soon as ctx ends, which makes any
// pending request fail; down then reports the context's reason rather than the broken pipe.
func (c *connector) open(ctx context.Context) (*session, error) {
	conn, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	l := goldap.NewConn(conn, c.encrypted())
	l.Start()
	l.SetTimeout(requestTimeout)
	s := &session{call: call{c, ctx}, conn: l}
	s.stop = context.AfterFunc(ctx, func() { l.Close() })
	if err := l.Bind(c.bindDN, c.bindPassword); err != nil {
		s.close()
		return nil, s.bindFailed(err)
	}
	return s, nil
}

// dial connects to the directory and secures the connection as configured, with failures
// classified.
func (c *connector) dial(ctx context.Context) (net.Conn, error) {
	if ctx.Err() != nil {
		return nil, c.ctxDown(ctx, ctx.Err())
	}
	dialer := net.Dialer{Timeout: dialTimeout}
	raw, err := dialer.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, c.ctxDown(ctx, err)
		}
		return nil, c.netDown(err)
	}
	conn, err := c.secure(ctx, raw)
	if err != nil {
		raw.Close()
		if ctx.Err() != nil {
			return nil, c.ctxDown(ctx, err)
		}
		if code, diag, ok := resultCode(err); ok && code != goldap.ErrorNetwork {
			return nil, connectors.Wrap(err, connectors.ConnectorDown, "STARTTLS_REFUSED", "%s",
				withDiag(fmt.Sprintf("%s at %s refused StartTLS (%s): use ldaps:// or turn startTLS off", c.f.directory, c.url, goldap.LDAPResultCodeMap[code]), diag))
		}
		return nil, c.netDown(err)
	}
	return conn, nil
}

// secure does the TLS part of dial: a handshake for ldaps://, StartTLS then a handshake for
// ldap:// with startTLS. StartTLS is done here, before go-ldap takes the connection, rather
// than with go-ldap's StartTLS, which flattens the handshake error into text: the certificate
// errors must stay typed to be classified and explained.
func (c *connector) secure(ctx context.Context, raw net.Conn) (net.Conn, error) {
	deadline := time.Now().Add(dialTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := raw.SetDeadline(deadline); err != nil {
		return nil, err
	}
	watch := context.AfterFunc(ctx, func() { raw.SetDeadline(time.Now()) })
	defer watch()
	var conn net.Conn = raw
	if c.scheme == "ldaps" || c.startTLS {
		if c.startTLS {
			if err := requestStartTLS(raw); err != nil {
				return nil, err
			}
		}
		tc := tls.Client(raw, c.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, err
		}
		conn = tc
	}
	// From here on the context watch in open and the request timeout bound the session.
	return conn, raw.SetDeadline(time.Time{})
}

// requestStartTLS sends the StartTLS extended request (RFC 4511 §4.14) as the connection's
// first message and reads the answer.
func requestStartTLS(raw net.Conn) error {
	packet := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "LDAP Request")
	packet.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, int64(1), "MessageID"))
	request := ber.Encode(ber.ClassApplication, ber.TypeConstructed, goldap.ApplicationExtendedRequest, nil, "Start TLS")
	request.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, "1.3.6.1.4.1.1466.20037", "TLS Extended Command"))
	packet.AppendChild(request)
	if _, err := raw.Write(packet.Bytes()); err != nil {
		return err
	}
	response, err := ber.ReadPacket(raw)
	if err != nil {
		return err
	}
	return goldap.GetLDAPError(response)
}

func (s *session) close() {
	s.stop()
	s.conn.Close()
}

// adBindReasons explains the "data" code Active Directory puts in a failed bind's message.
var adBindReasons = map[string]string{
	"525": "the bind account does not exist",
	"52e": "the password is wrong",
	"530": "the bind account may not log on at this time",
	"531": "the bind account may not log on from this workstation",
	"532": "the bind account's password has expired",
	"533": "the bind account is disabled",
	"701": "the bind account has expired",
	"773": "the bind account must change its password",
	"775": "the bind account is locked out",
}

func (s call) bindFailed(err error) *connectors.Error {
	if ce := s.down(err); ce != nil {
		return ce
	}
	code, diag, _ := resultCode(err)
	c := s.c
	switch code {
	case goldap.LDAPResultInvalidCredentials:
		reason := "invalid credentials: check bindDN and bindPassword"
		if _, data, ok := strings.Cut(diag, "data "); ok && c.f.ad {
			if r, ok := adBindReasons[strings.ToLower(strings.TrimSpace(strings.SplitN(data, ",", 2)[0]))]; ok {
				reason = r
			}
		}
		return connectors.Wrap(err, connectors.Unauthorized, "INVALID_CREDENTIALS", "%s",
			withDiag(fmt.Sprintf("%s at %s refused the bind as %s: %s", c.f.directory, c.url, c.bindDN, reason), diag))
	case goldap.LDAPResultStrongAuthRequired, goldap.LDAPResultConfidentialityRequired:
		return connectors.Wrap(err, connectors.Unauthorized, "TLS_REQUIRED", "%s",
			withDiag(fmt.Sprintf("%s at %s accepts the bind as %s only over an encrypted connection: use ldaps:// or turn startTLS on", c.f.directory, c.url, c.bindDN), diag))
	}
	return s.fail(err, "bind as "+c.bindDN)
}

// Test binds and reads the base DNs, changing nothing.
func (c *connector) Test(ctx context.Context) (connectors.TestResult, error) {
	s, err := c.open(ctx)
	if err != nil {
		return connectors.TestResult{}, err
	}
	defer s.close()
	for _, b := range []struct{ field, dn string }{{"baseDN", c.baseDN}, {"userBaseDN", c.userBaseDN}, {"groupBaseDN", c.groupBaseDN}} {
		if _, err := s.readEntry(b.dn, "(objectClass=*)"); err != nil {
			return connectors.TestResult{}, s.baseFailed(err, b.field, b.dn)
		}
	}
	security := "without encryption"
	switch {
	case c.scheme == "ldaps":
		security = "over LDAPS"
	case c.startTLS:
		security = "over StartTLS"
	}
	if state, ok := s.conn.TLSConnectionState(); ok {
		security += " (" + tls.VersionName(state.Version) + ")"
	}
	return connectors.TestResult{
		Message: fmt.Sprintf("Bound to %s at %s as %s %s; %s is readable.", c.f.directory, c.url, c.bindDN, security, c.baseDN),
		Data:    map[string]any{"url": c.url, "bindDN": c.bindDN, "baseDN": c.baseDN, "encrypted": c.encrypted()},
	}, nil
}

// readEntry reads one entry by DN when it matches filter; a nil entry means it exists but
// does not match.
func (s *session) readEntry(dn, filter string, attrs ...string) (*goldap.Entry, error) {
	if len(attrs) == 0 {
		attrs = []string{"1.1"} // RFC 4511: no attributes, just the DN
	}
	res, err := s.conn.Search(goldap.NewSearchRequest(dn, goldap.ScopeBaseObject, goldap.NeverDerefAliases, 0, 0, false, filter, attrs, nil))
	if err != nil {
		return nil, err
	}
	if len(res.Entries) == 0 {
		return nil, nil
	}
	return res.Entries[0], nil
}

// baseFailed explains a search base from the config that cannot be read.
func (s call) baseFailed(err error, field, dn string) *connectors.Error {
	if hasCode(err, goldap.LDAPResultNoSuchObject) {
		_, diag, _ := resultCode(err)
		return connectors.Wrap(err, connectors.InvalidInput, "BASE_DN_NOT_FOUND", "%s",
			withDiag(fmt.Sprintf("%s %s does not exist in %s", field, dn, s.c.f.directory), diag))
	}
	return s.fail(err, "read "+field+" "+dn)
}
