// Package email sends mail over SMTP. It backs the "notify admins" emails and the email
// connector type.
package email

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"strconv"
	"time"

	gomail "github.com/wneessen/go-mail"
	mailsmtp "github.com/wneessen/go-mail/smtp"
)

// SMTP sends messages through one server.
type SMTP struct {
	host     string
	port     int
	from     string
	user     string
	password string
	implicit bool // smtps://: TLS from the first byte
	policy   gomail.TLSPolicy
	// rootCAs verifies the server's certificate; nil means the system roots. Tests set it to
	// trust smtptest's certificate.
	rootCAs *x509.CertPool
}

// ParseURL reads an SMTP URL: smtp://user:pass@host:587?from=floh@example.com, or smtps://
// for implicit TLS. smtp:// requires STARTTLS unless ?tls=opportunistic or ?tls=none says
// otherwise, so credentials never cross the network in clear by accident.
func ParseURL(raw string) (*SMTP, error) {
	s, err := parseURL(raw, "SMTP_URL")
	if err != nil {
		return nil, err
	}
	if s.from == "" {
		return nil, errors.New("SMTP_URL needs the sender address as ?from=floh@example.com")
	}
	return s, nil
}

// parseURL is ParseURL with ?from optional, since the email connector can take the sender
// from its own field. name is what messages call the URL.
func parseURL(raw, name string) (*SMTP, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse's error quotes the URL, password included.
		return nil, fmt.Errorf("%s is not a URL like smtp://user:password@mail.example.com:587?from=floh@example.com", name)
	}
	s := &SMTP{host: u.Hostname(), policy: gomail.TLSMandatory}
	switch u.Scheme {
	case "smtp":
		s.port = 587
	case "smtps":
		s.port, s.implicit = 465, true
	default:
		return nil, fmt.Errorf("%s scheme must be smtp or smtps, not %q", name, u.Scheme)
	}
	if s.host == "" {
		return nil, fmt.Errorf("%s has no host", name)
	}
	if p := u.Port(); p != "" {
		if s.port, err = strconv.Atoi(p); err != nil || s.port < 1 || s.port > 65535 {
			return nil, fmt.Errorf("%s port %q is not a port number", name, p)
		}
	}
	if u.User != nil {
		s.user = u.User.Username()
		s.password, _ = u.User.Password()
	}
	q := u.Query()
	if f := q.Get("from"); f != "" {
		from, err := mail.ParseAddress(f)
		if err != nil {
			return nil, fmt.Errorf("%s ?from= is not an email address like floh@example.com", name)
		}
		s.from = from.String()
	}
	switch q.Get("tls") {
	case "", "starttls":
	case "opportunistic":
		s.policy = gomail.TLSOpportunistic
	case "none":
		s.policy = gomail.NoTLS
	default:
		return nil, fmt.Errorf("%s tls=%q must be starttls, opportunistic or none", name, q.Get("tls"))
	}
	if s.policy == gomail.NoTLS && s.user != "" && !s.implicit {
		return nil, fmt.Errorf("%s with tls=none cannot carry a user and password: they would cross the network unencrypted", name)
	}
	return s, nil
}

// Server describes the destination without credentials, for logs and the settings page.
func (s *SMTP) Server() string {
	scheme := "smtp"
	if s.implicit {
		scheme = "smtps"
	}
	return fmt.Sprintf("%s://%s:%d (from %s)", scheme, s.host, s.port, s.from)
}

// SendMail sends one plain-text message to every recipient.
func (s *SMTP) SendMail(ctx context.Context, to []string, subject, body string) error {
	_, err := s.Send(ctx, Message{To: to, Subject: subject, Text: body})
	return err
}

// SendMessage sends one message with text as its body and, when html is set, html as its
// alternative part. A failure is a *connectors.Error classified as the email connector's own
// are, so a workflow step that sends through SMTP_URL fails, retries and routes as one that
// sends through an email connector instance does.
func (s *SMTP) SendMessage(ctx context.Context, to []string, subject, text, html string) error {
	if _, err := s.Send(ctx, Message{To: to, Subject: subject, Text: text, HTML: html}); err != nil {
		return classify(err)
	}
	return nil
}

// Message is one mail. Text is the plain-text body; HTML, when set, goes alongside it as an
// alternative part, so a client that does not show HTML still shows Text.
type Message struct {
	To, Cc  []string
	Subject string
	Text    string
	HTML    string
}

// Send sends msg in one SMTP transaction and returns its Message-ID. A failure before the
// message was handed over (dial, greeting, STARTTLS, AUTH) is wrapped in a *connectError;
// the server's replies stay in the chain (*textproto.Error, *gomail.SendError) so callers can
// classify them.
func (s *SMTP) Send(ctx context.Context, msg Message) (string, error) {
	m := gomail.NewMsg()
	if err := m.From(s.from); err != nil {
		return "", fmt.Errorf("sender %q: %w", s.from, err)
	}
	if err := m.To(msg.To...); err != nil {
		return "", fmt.Errorf("recipients %v: %w", msg.To, err)
	}
	if len(msg.Cc) > 0 {
		if err := m.Cc(msg.Cc...); err != nil {
			return "", fmt.Errorf("cc recipients %v: %w", msg.Cc, err)
		}
	}
	m.Subject(msg.Subject)
	m.SetDate()
	m.SetMessageID()
	m.SetBodyString(gomail.TypeTextPlain, msg.Text)
	if msg.HTML != "" {
		m.AddAlternativeString(gomail.TypeTextHTML, msg.HTML)
	}
	c, client, err := s.connect(ctx)
	if err != nil {
		return "", err
	}
	// go-mail honours ctx while dialling; from here its 30-second timeout bounds each command.
	err = c.SendWithSMTPClient(client, m)
	// QUIT either way: after a failure go-mail has already sent RSET, and once the server has
	// accepted the message a failed QUIT does not unsend it.
	_ = c.CloseWithSMTPClient(client)
	if err != nil {
		return "", fmt.Errorf("send mail via %s:%d: %w", s.host, s.port, err)
	}
	return m.GetMessageID(), nil
}

// connect dials the server and greets it, negotiates TLS and authenticates, leaving a client
// ready for MAIL FROM. The caller closes it with CloseWithSMTPClient (QUIT).
func (s *SMTP) connect(ctx context.Context) (*gomail.Client, *mailsmtp.Client, error) {
	tlsConfig := &tls.Config{ServerName: s.host, RootCAs: s.rootCAs, MinVersion: tls.VersionTLS12}
	opts := []gomail.Option{
		gomail.WithTLSPolicy(s.policy), gomail.WithTLSConfig(tlsConfig),
		gomail.WithPort(s.port), gomail.WithTimeout(30 * time.Second),
	}
	if s.implicit {
		opts = append(opts, gomail.WithSSL())
	}
	if s.user != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover), gomail.WithUsername(s.user), gomail.WithPassword(s.password))
	}
	c, err := gomail.NewClient(s.host, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("smtp client for %s: %w", s.host, err)
	}
	client, err := c.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to %s:%d: %w", s.host, s.port, &connectError{err})
	}
	return c, client, nil
}

// connectError marks a failure before any message was handed over.
type connectError struct{ err error }

func (e *connectError) Error() string { return e.err.Error() }

func (e *connectError) Unwrap() error { return e.err }
