// Package smtptest runs an in-process SMTP server (github.com/emersion/go-smtp) for tests and
// keeps every message it receives.
package smtptest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/jhillyerd/enmime"
)

// Message is one received mail: its envelope recipients and the parsed message.
type Message struct {
	To       []string
	Envelope *enmime.Envelope
	// TLS reports whether the message arrived over a STARTTLS-protected connection.
	TLS bool
	// User is the name the sender authenticated as, or "".
	User string
}

// Options make the sink behave like a production relay.
type Options struct {
	// TLS offers STARTTLS with a certificate for 127.0.0.1 and localhost that only
	// Sink.RootCAs trusts.
	TLS bool
	// Username and Password, when Username is set, require AUTH PLAIN before MAIL FROM. With
	// TLS, AUTH is offered only after STARTTLS, as real relays do.
	Username, Password string
	// Reject answers RCPT TO for these addresses with the given error, e.g.
	// &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}.
	Reject map[string]*smtp.SMTPError
}

// Sink is a running SMTP server.
type Sink struct {
	// Addr is host:port to send to.
	Addr string
	// RootCAs trusts the sink's certificate; nil without Options.TLS.
	RootCAs *x509.CertPool

	opts Options
	mu   sync.Mutex
	msgs []Message
	got  chan struct{}
}

// Start runs a sink on a free loopback port until the test ends. It speaks plain SMTP without
// STARTTLS or AUTH, so senders must allow that (SMTP_URL ...&tls=none).
func Start(t testing.TB) *Sink {
	t.Helper()
	return StartWith(t, Options{})
}

// StartWith runs a sink with opts on a free loopback port until the test ends.
func StartWith(t testing.TB, opts Options) *Sink {
	t.Helper()
	s := &Sink{opts: opts, got: make(chan struct{}, 1000)}
	srv := smtp.NewServer(backend{s})
	srv.Domain = "localhost"
	if opts.TLS {
		cert, pool := certificate(t)
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		s.RootCAs = pool
	} else {
		// Without TLS there is no other way to test AUTH.
		srv.AllowInsecureAuth = true
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = ln.Addr().String()
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

// certificate makes a self-signed certificate for the loopback names and a pool trusting it.
func certificate(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "smtptest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// Wait returns once n messages have arrived in all, failing the test after timeout.
func (s *Sink) Wait(t testing.TB, n int, timeout time.Duration) []Message {
	t.Helper()
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		if len(s.msgs) >= n {
			out := append([]Message(nil), s.msgs...)
			s.mu.Unlock()
			return out
		}
		s.mu.Unlock()
		select {
		case <-s.got:
		case <-deadline:
			t.Fatalf("smtptest: %d message(s) expected within %s, %d received", n, timeout, len(s.Messages()))
		}
	}
}

// Messages returns what has been received so far.
func (s *Sink) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

type backend struct{ sink *Sink }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{sink: b.sink, conn: c}, nil
}

type session struct {
	sink *Sink
	conn *smtp.Conn
	user string
	to   []string
}

// AuthMechanisms offers AUTH only when the sink has a user; go-smtp then advertises it.
func (s *session) AuthMechanisms() []string {
	if s.sink.opts.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, username, password string) error {
		if username != s.sink.opts.Username || password != s.sink.opts.Password {
			return smtp.ErrAuthFailed
		}
		s.user = username
		return nil
	}), nil
}

func (s *session) Mail(string, *smtp.MailOptions) error {
	if s.sink.opts.Username != "" && s.user == "" {
		return smtp.ErrAuthRequired
	}
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if err, ok := s.sink.opts.Reject[to]; ok {
		return err
	}
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	env, err := enmime.ReadEnvelope(r)
	if err != nil {
		return err
	}
	_, overTLS := s.conn.TLSConnectionState()
	s.sink.mu.Lock()
	s.sink.msgs = append(s.sink.msgs, Message{To: s.to, Envelope: env, TLS: overTLS, User: s.user})
	s.sink.mu.Unlock()
	s.sink.got <- struct{}{}
	return nil
}

func (s *session) Reset() { s.to = nil }

func (s *session) Logout() error { return nil }
