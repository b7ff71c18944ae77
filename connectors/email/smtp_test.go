package email

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"floh/connectors"
	"floh/connectors/email/smtptest"
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

func TestSendMailThroughALocalRelay(t *testing.T) {
	sink := smtptest.Start(t)
	s, err := ParseURL("smtp://" + sink.Addr + "?from=floh@example.test&tls=none")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SendMail(context.Background(), []string{"admin@example.test"}, "Corp AD is down", "Two checks failed."); err != nil {
		t.Fatal(err)
	}
	msg := sink.Wait(t, 1, 10*time.Second)[0]
	if msg.Envelope.GetHeader("Subject") != "Corp AD is down" || !strings.Contains(msg.Envelope.Text, "Two checks failed.") ||
		len(msg.To) != 1 || msg.To[0] != "admin@example.test" {
		t.Fatalf("message: %+v", msg)
	}
	if err := s.SendMail(context.Background(), []string{"not an address"}, "s", "b"); err == nil {
		t.Fatal("a bad recipient must fail before anything is sent")
	}
}

func TestSendMessageSendsHTMLAndClassifiesFailures(t *testing.T) {
	sink := smtptest.StartWith(t, smtptest.Options{Reject: map[string]*smtp.SMTPError{
		"gone@example.test": {Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"},
	}})
	s, err := ParseURL("smtp://" + sink.Addr + "?from=floh@example.test&tls=none")
	if err != nil {
		t.Fatal(err)
	}
	err = s.SendMessage(context.Background(), []string{"a@example.test", "b@example.test"}, "Welcome", "Hello, Jane.", "<p>Hello, <b>Jane</b>.</p>")
	if err != nil {
		t.Fatal(err)
	}
	msg := sink.Wait(t, 1, 10*time.Second)[0]
	if !slices.Equal(msg.To, []string{"a@example.test", "b@example.test"}) || msg.Envelope.GetHeader("Subject") != "Welcome" ||
		!strings.Contains(msg.Envelope.Text, "Hello, Jane.") || !strings.Contains(msg.Envelope.HTML, "<b>Jane</b>") {
		t.Fatalf("message: to %v subject %q text %q html %q", msg.To, msg.Envelope.GetHeader("Subject"), msg.Envelope.Text, msg.Envelope.HTML)
	}
	err = s.SendMessage(context.Background(), []string{"gone@example.test"}, "s", "b", "")
	var ce *connectors.Error
	if !errors.As(err, &ce) || ce.Class != connectors.InvalidInput || ce.Code != "RECIPIENT_REJECTED" {
		t.Fatalf("a refused recipient: %#v", err)
	}
	down, _ := ParseURL("smtp://127.0.0.1:1?from=floh@example.test&tls=none")
	if err := down.SendMessage(context.Background(), []string{"a@example.test"}, "s", "b", ""); !errors.As(err, &ce) || ce.Class != connectors.ConnectorDown {
		t.Fatalf("an unreachable relay: %#v", err)
	}
}

// By default credentials never go over a connection without STARTTLS.
func TestSendMailRequiresSTARTTLSByDefault(t *testing.T) {
	sink := smtptest.Start(t)
	s, _ := ParseURL("smtp://bot:secret@" + sink.Addr + "?from=floh@example.test")
	err := s.SendMail(context.Background(), []string{"admin@example.test"}, "s", "b")
	if err == nil || !strings.Contains(strings.ToLower(err.Error()), "tls") {
		t.Fatalf("want a STARTTLS failure, got %v", err)
	}
	if n := len(sink.Messages()); n != 0 {
		t.Fatalf("%d message(s) sent without TLS", n)
	}
}
