package email

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
)

func TestParseURL(t *testing.T) {
	s, err := ParseURL("smtp://bot:p%40ss@mail.example.test?from=Floh%20%3Cfloh@example.test%3E")
	if err != nil {
		t.Fatal(err)
	}
	if s.host != "mail.example.test" || s.port != 587 || s.user != "bot" || s.password != "p@ss" || s.implicit {
		t.Fatalf("parsed: %+v", s)
	}
	if strings.Contains(s.Server(), "p@ss") || !strings.Contains(s.Server(), "floh@example.test") {
		t.Fatalf("Server() must describe without credentials: %s", s.Server())
	}
	s, err = ParseURL("smtps://mail.example.test:2465?from=floh@example.test")
	if err != nil || s.port != 2465 || !s.implicit {
		t.Fatalf("smtps: %+v %v", s, err)
	}
	for raw, want := range map[string]string{
		"http://mail.example.test?from=a@b.c":           "scheme",
		"smtp://?from=a@b.c":                            "no host",
		"smtp://mail.example.test":                      "from=",
		"smtp://mail.example.test:99999?from=a@b.c":     "port",
		"smtp://mail.example.test?from=a@b.c&tls=maybe": "tls=",
		"smtp://mail.example.test?from=not-an-address":  "from=",
		"::not a url": "not a URL",
	} {
		if _, err := ParseURL(raw); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: want an error mentioning %q, got %v", raw, want, err)
		}
	}
}

type backend struct {
	got chan string
}

func (b *backend) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{b: b}, nil }

type session struct{ b *backend }

func (s *session) Mail(string, *smtp.MailOptions) error { return nil }
func (s *session) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	s.b.got <- string(b)
	return err
}
func (s *session) Reset()        {}
func (s *session) Logout() error { return nil }

func serve(t *testing.T, b *backend) string {
	t.Helper()
	srv := smtp.NewServer(b)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

func TestSendMailThroughALocalRelay(t *testing.T) {
	b := &backend{got: make(chan string, 1)}
	addr := serve(t, b)
	s, err := ParseURL("smtp://" + addr + "?from=floh@example.test&tls=none")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SendMail(context.Background(), []string{"admin@example.test"}, "Corp AD is down", "Two checks failed."); err != nil {
		t.Fatal(err)
	}
	msg := <-b.got
	if !strings.Contains(msg, "Subject: Corp AD is down") || !strings.Contains(msg, "Two checks failed.") {
		t.Fatalf("message: %s", msg)
	}
	if err := s.SendMail(context.Background(), []string{"not an address"}, "s", "b"); err == nil {
		t.Fatal("a bad recipient must fail before anything is sent")
	}
}

// By default credentials never go over a connection without STARTTLS.
func TestSendMailRequiresSTARTTLSByDefault(t *testing.T) {
	b := &backend{got: make(chan string, 1)}
	addr := serve(t, b)
	s, _ := ParseURL("smtp://bot:secret@" + addr + "?from=floh@example.test")
	err := s.SendMail(context.Background(), []string{"admin@example.test"}, "s", "b")
	if err == nil || !strings.Contains(strings.ToLower(err.Error()), "tls") {
		t.Fatalf("want a STARTTLS failure, got %v", err)
	}
	select {
	case <-b.got:
		t.Fatal("a message was sent without TLS")
	default:
	}
}
