// Package email sends mail over SMTP. It backs the "notify admins" emails now and the email
// connector type later.
package email

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"strconv"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// SMTP sends plain-text messages through one server.
type SMTP struct {
	host     string
	port     int
	from     string
	user     string
	password string
	implicit bool // smtps://: TLS from the first byte
	policy   gomail.TLSPolicy
}

// ParseURL reads an SMTP URL: smtp://user:pass@host:587?from=floh@example.com, or smtps://
// for implicit TLS. smtp:// requires STARTTLS unless ?tls=opportunistic or ?tls=none says
// otherwise, so credentials never cross the network in clear by accident.
func ParseURL(raw string) (*SMTP, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("SMTP_URL is not a URL like smtp://user:password@mail.example.com:587?from=floh@example.com")
	}
	s := &SMTP{host: u.Hostname(), policy: gomail.TLSMandatory}
	switch u.Scheme {
	case "smtp":
		s.port = 587
	case "smtps":
		s.port, s.implicit = 465, true
	default:
		return nil, fmt.Errorf("SMTP_URL scheme must be smtp or smtps, not %q", u.Scheme)
	}
	if s.host == "" {
		return nil, errors.New("SMTP_URL has no host")
	}
	if p := u.Port(); p != "" {
		if s.port, err = strconv.Atoi(p); err != nil || s.port < 1 || s.port > 65535 {
			return nil, fmt.Errorf("SMTP_URL port %q is not a port number", p)
		}
	}
	if u.User != nil {
		s.user = u.User.Username()
		s.password, _ = u.User.Password()
	}
	q := u.Query()
	from, err := mail.ParseAddress(q.Get("from"))
	if err != nil {
		return nil, errors.New("SMTP_URL needs the sender address as ?from=floh@example.com")
	}
	s.from = from.String()
	switch q.Get("tls") {
	case "", "starttls":
	case "opportunistic":
		s.policy = gomail.TLSOpportunistic
	case "none":
		s.policy = gomail.NoTLS
	default:
		return nil, fmt.Errorf("SMTP_URL tls=%q must be starttls, opportunistic or none", q.Get("tls"))
	}
	if s.policy == gomail.NoTLS && s.user != "" && !s.implicit {
		return nil, errors.New("SMTP_URL with tls=none cannot carry a user and password: they would cross the network unencrypted")
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
	m := gomail.NewMsg()
	if err := m.From(s.from); err != nil {
		return fmt.Errorf("sender %q: %w", s.from, err)
	}
	if err := m.To(to...); err != nil {
		return fmt.Errorf("recipients %v: %w", to, err)
	}
	m.Subject(subject)
	m.SetDate()
	m.SetBodyString(gomail.TypeTextPlain, body)
	opts := []gomail.Option{gomail.WithTLSPolicy(s.policy), gomail.WithPort(s.port), gomail.WithTimeout(30 * time.Second)}
	if s.implicit {
		opts = append(opts, gomail.WithSSL())
	}
	if s.user != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover), gomail.WithUsername(s.user), gomail.WithPassword(s.password))
	}
	c, err := gomail.NewClient(s.host, opts...)
	if err != nil {
		return fmt.Errorf("smtp client for %s: %w", s.host, err)
	}
	if err := c.DialAndSendWithContext(ctx, m); err != nil {
		return fmt.Errorf("send mail via %s:%d: %w", s.host, s.port, err)
	}
	return nil
}
