// Package smtptest runs an in-process SMTP server (github.com/emersion/go-smtp) for tests and
// keeps every message it receives.
package smtptest

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/jhillyerd/enmime"
)

// Message is one received mail: its envelope recipients and the parsed message.
type Message struct {
	To       []string
	Envelope *enmime.Envelope
}

// Sink is a running SMTP server.
type Sink struct {
	// Addr is host:port to send to.
	Addr string

	mu   sync.Mutex
	msgs []Message
	got  chan struct{}
}

// Start runs a sink on a free loopback port until the test ends. It speaks plain SMTP without
// STARTTLS, so senders must allow that (SMTP_URL ...&tls=none).
func Start(t testing.TB) *Sink {
	t.Helper()
	s := &Sink{got: make(chan struct{}, 1000)}
	srv := smtp.NewServer(backend{s})
	srv.Domain = "localhost"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = ln.Addr().String()
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
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

func (b backend) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{sink: b.sink}, nil }

type session struct {
	sink *Sink
	to   []string
}

func (s *session) Mail(string, *smtp.MailOptions) error { return nil }

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	env, err := enmime.ReadEnvelope(r)
	if err != nil {
		return err
	}
	s.sink.mu.Lock()
	s.sink.msgs = append(s.sink.msgs, Message{To: s.to, Envelope: env})
	s.sink.mu.Unlock()
	s.sink.got <- struct{}{}
	return nil
}

func (s *session) Reset() { s.to = nil }

func (s *session) Logout() error { return nil }
