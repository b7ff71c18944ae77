package email

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"floh/connectors"
	"floh/connectors/email/smtptest"
)

func TestTypeRegistersAndDocumentsEveryField(t *testing.T) {
	if _, err := connectors.NewRegistry(Type); err != nil {
		t.Fatal(err)
	}
	fields := slices.Clone(Type.Config)
	for _, c := range Type.Commands {
		fields = append(fields, c.Params...)
		for _, o := range c.Outputs {
			if o.Help == "" {
				t.Errorf("%s output %s needs help", c.Name, o.Name)
			}
		}
	}
	for _, f := range fields {
		if f.Label == "" || f.Help == "" {
			t.Errorf("%s needs a label and help", f.Name)
		}
	}
	if !slices.Equal(Type.SecretFields(), []string{"smtpUrl"}) {
		t.Errorf("the SMTP URL carries the password and must be secret: %v", Type.SecretFields())
	}
	if Type.Command("send").IsMutating(map[string]any{"to": "a@example.test"}) {
		t.Error("send is not mutating")
	}
}

func TestCheckParamsNamesTheField(t *testing.T) {
	cmd := Type.Command("send")
	for field, params := range map[string]map[string]any{
		"to":      {"subject": "s", "body": "b"},
		"subject": {"to": "a@example.test", "subject": 42.0, "body": "b"},
		"body":    {"to": "a@example.test", "subject": "s"},
		"cc":      {"to": "a@example.test", "subject": "s", "body": "b", "cc": map[string]any{}},
	} {
		_, err := connectors.CheckParams(cmd, params)
		var ce *connectors.Error
		if !errors.As(err, &ce) || ce.Class != connectors.InvalidInput || ce.Field != field {
			t.Errorf("%s: want invalid_input naming it, got %#v", field, err)
		}
	}
	p, err := connectors.CheckParams(cmd, map[string]any{"to": "a@example.test, b@example.test", "subject": "s", "body": "b"})
	if err != nil || !slices.Equal(p["to"].([]string), []string{"a@example.test", "b@example.test"}) {
		t.Fatalf("a comma-separated to: %v %v", p, err)
	}
}

func TestValidateConfig(t *testing.T) {
	for name, tc := range map[string]struct {
		cfg   connectors.Config
		field string
		want  string
	}{
		"scheme":         {connectors.Config{"smtpUrl": "http://u:s3cret@mail.example.test?from=a@example.test"}, "smtpUrl", "scheme must be smtp or smtps"},
		"port":           {connectors.Config{"smtpUrl": "smtp://u:s3cret@mail.example.test:99999?from=a@example.test"}, "smtpUrl", "port"},
		"not a URL":      {connectors.Config{"smtpUrl": "smtp://u:s3cret@[::1"}, "smtpUrl", "not a URL"},
		"plain password": {connectors.Config{"smtpUrl": "smtp://u:s3cret@mail.example.test?from=a@example.test&tls=none"}, "smtpUrl", "unencrypted"},
		"no sender":      {connectors.Config{"smtpUrl": "smtp://u:s3cret@mail.example.test"}, "from", "from is required"},
		"bad from":       {connectors.Config{"smtpUrl": "smtp://u:s3cret@mail.example.test", "from": "floh at example"}, "from", "not an email address"},
		"missing":        {connectors.Config{"from": "a@example.test"}, "smtpUrl", "required"},
	} {
		_, problems := connectors.CheckConfig(Type, tc.cfg)
		if len(problems) != 1 || problems[0].Field != tc.field || !strings.Contains(problems[0].Message, tc.want) {
			t.Errorf("%s: want a problem with %s mentioning %q, got %+v", name, tc.field, tc.want, problems)
		}
		for _, p := range problems {
			if strings.Contains(p.Message, "s3cret") {
				t.Errorf("%s: the message shows the password: %s", name, p.Message)
			}
		}
	}
	cfg, problems := connectors.CheckConfig(Type, connectors.Config{"smtpUrl": "smtp://u:s3cret@mail.example.test?from=url@example.test", "from": "Floh <floh@example.test>"})
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	conn, err := Type.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := conn.(*connector).smtp.from; got != `"Floh" <floh@example.test>` {
		t.Fatalf("from must override the URL's ?from=, got %s", got)
	}
}

const (
	user     = "floh"
	password = "pa55-w0rd"
)

// relay starts a sink that demands STARTTLS and AUTH, as production relays do.
func relay(t *testing.T, reject map[string]*smtp.SMTPError) *smtptest.Sink {
	return smtptest.StartWith(t, smtptest.Options{TLS: true, Username: user, Password: password, Reject: reject})
}

// connect builds a connector for the sink through the type's own constructor, trusting the
// sink's certificate.
func connect(t *testing.T, sink *smtptest.Sink, smtpURL string) *connector {
	t.Helper()
	cfg, problems := connectors.CheckConfig(Type, connectors.Config{"smtpUrl": smtpURL, "from": "Floh <floh@example.test>"})
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	conn, err := Type.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := conn.(*connector)
	c.smtp.rootCAs = sink.RootCAs
	return c
}

func send(t *testing.T, c *connector, params map[string]any) (map[string]any, error) {
	t.Helper()
	p, err := connectors.CheckParams(Type.Command("send"), params)
	if err != nil {
		t.Fatal(err)
	}
	return c.Execute(context.Background(), "send", p)
}

func wantClass(t *testing.T, err error, class connectors.Class, code string) *connectors.Error {
	t.Helper()
	var ce *connectors.Error
	if !errors.As(err, &ce) || ce.Class != class || (code != "" && ce.Code != code) {
		t.Fatalf("want %s %s, got %#v", class, code, err)
	}
	if strings.Contains(ce.Message, password) {
		t.Fatalf("the message shows the password: %s", ce.Message)
	}
	return ce
}

func TestSendOverSTARTTLSWithAuth(t *testing.T) {
	sink := relay(t, nil)
	c := connect(t, sink, "smtp://"+user+":"+password+"@"+sink.Addr)
	out, err := send(t, c, map[string]any{
		"to":      "jane.doe@example.test, john.roe@example.test",
		"cc":      []any{"it-desk@example.test"},
		"subject": "Welcome, Jane",
		"body":    "Your account is ready.",
		"html":    "<p>Your account is <b>ready</b>.</p>",
	})
	if err != nil {
		t.Fatal(err)
	}
	wantRcpts := []string{"jane.doe@example.test", "john.roe@example.test", "it-desk@example.test"}
	if !slices.Equal(out["recipients"].([]string), wantRcpts) {
		t.Errorf("recipients: %v", out["recipients"])
	}
	msg := sink.Wait(t, 1, 10*time.Second)[0]
	env := msg.Envelope
	switch {
	case !msg.TLS || msg.User != user:
		t.Errorf("want the message over STARTTLS from an authenticated session, got TLS=%v user=%q", msg.TLS, msg.User)
	case !slices.Equal(msg.To, wantRcpts):
		t.Errorf("envelope recipients: %v", msg.To)
	case env.GetHeader("Subject") != "Welcome, Jane":
		t.Errorf("subject: %q", env.GetHeader("Subject"))
	case env.GetHeader("From") != `"Floh" <floh@example.test>`:
		t.Errorf("from: %q", env.GetHeader("From"))
	case !strings.Contains(env.GetHeader("Cc"), "it-desk@example.test") || strings.Contains(env.GetHeader("To"), "it-desk"):
		t.Errorf("to %q, cc %q", env.GetHeader("To"), env.GetHeader("Cc"))
	case strings.TrimSpace(env.Text) != "Your account is ready.":
		t.Errorf("text part: %q", env.Text)
	case !strings.Contains(env.HTML, "<b>ready</b>"):
		t.Errorf("HTML part: %q", env.HTML)
	case out["messageId"] == "" || env.GetHeader("Message-Id") != out["messageId"]:
		t.Errorf("messageId %q, header %q", out["messageId"], env.GetHeader("Message-Id"))
	}
}

func TestTestConnectsAuthenticatesAndSendsNothing(t *testing.T) {
	sink := relay(t, nil)
	c := connect(t, sink, "smtp://"+user+":"+password+"@"+sink.Addr)
	res, err := c.Test(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Message, "over TLS") || !strings.Contains(res.Message, "signed in as floh") || strings.Contains(res.Message, password) {
		t.Fatalf("message: %s", res.Message)
	}
	if res.Data["tls"] != true || res.Data["user"] != user {
		t.Fatalf("data: %v", res.Data)
	}
	if n := len(sink.Messages()); n != 0 {
		t.Fatalf("test sent %d message(s)", n)
	}
}

func TestWrongPasswordIsUnauthorized(t *testing.T) {
	sink := relay(t, nil)
	c := connect(t, sink, "smtp://"+user+":wrong-"+password+"@"+sink.Addr)
	_, err := c.Test(context.Background())
	if e := wantClass(t, err, connectors.Unauthorized, "AUTH_FAILED"); strings.Contains(e.Message, "wrong-") {
		t.Fatalf("the message shows the password: %s", e.Message)
	}
	_, err = send(t, c, map[string]any{"to": "a@example.test", "subject": "s", "body": "b"})
	wantClass(t, err, connectors.Unauthorized, "AUTH_FAILED")
	if n := len(sink.Messages()); n != 0 {
		t.Fatalf("%d message(s) sent", n)
	}
}

// A relay that wants AUTH refuses MAIL FROM from a URL without a user.
func TestMissingCredentialsAreUnauthorized(t *testing.T) {
	sink := relay(t, nil)
	c := connect(t, sink, "smtp://"+sink.Addr)
	_, err := send(t, c, map[string]any{"to": "a@example.test", "subject": "s", "body": "b"})
	wantClass(t, err, connectors.Unauthorized, "SENDER_REJECTED")
}

func TestRejectedRecipients(t *testing.T) {
	sink := relay(t, map[string]*smtp.SMTPError{
		"gone@example.test": {Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"},
		"full@example.test": {Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "Mailbox full"},
	})
	c := connect(t, sink, "smtp://"+user+":"+password+"@"+sink.Addr)
	_, err := send(t, c, map[string]any{"to": "ok@example.test", "cc": "gone@example.test", "subject": "s", "body": "b"})
	if e := wantClass(t, err, connectors.InvalidInput, "RECIPIENT_REJECTED"); !strings.Contains(e.Message, "gone@example.test") {
		t.Errorf("the message must name the recipient: %s", e.Message)
	}
	_, err = send(t, c, map[string]any{"to": "full@example.test", "subject": "s", "body": "b"})
	wantClass(t, err, connectors.TargetError, "SMTP_TEMPORARY")
	if n := len(sink.Messages()); n != 0 {
		t.Fatalf("%d message(s) sent", n)
	}
}

func TestInvalidAddressesFailBeforeAnyCall(t *testing.T) {
	c := connect(t, relay(t, nil), "smtp://"+user+":"+password+"@127.0.0.1:1")
	for field, params := range map[string]map[string]any{
		"to": {"to": "jane.doe", "subject": "s", "body": "b"},
		"cc": {"to": "a@example.test", "cc": "a@example.test, not an address", "subject": "s", "body": "b"},
	} {
		_, err := send(t, c, params)
		if e := wantClass(t, err, connectors.InvalidInput, "INVALID_ADDRESS"); e.Field != field {
			t.Errorf("want the field %s, got %s", field, e.Field)
		}
	}
	_, err := send(t, c, map[string]any{"to": " , ", "subject": "s", "body": "b"})
	if e := wantClass(t, err, connectors.InvalidInput, ""); e.Field != "to" {
		t.Errorf("an empty to must name it, got %s", e.Field)
	}
}

func TestUnreachableRelayIsConnectorDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	_ = ln.Close()
	c := connect(t, relay(t, nil), "smtp://"+user+":"+password+"@"+closed)
	_, err = c.Test(context.Background())
	wantClass(t, err, connectors.ConnectorDown, "")
	_, err = send(t, c, map[string]any{"to": "a@example.test", "subject": "s", "body": "b"})
	wantClass(t, err, connectors.ConnectorDown, "")
}

func TestTLSFailuresAreConnectorDown(t *testing.T) {
	sink := relay(t, nil)
	c := connect(t, sink, "smtp://"+user+":"+password+"@"+sink.Addr)
	c.smtp.rootCAs = nil // the system roots do not trust the sink's certificate
	_, err := c.Test(context.Background())
	wantClass(t, err, connectors.ConnectorDown, "TLS")

	plain := smtptest.Start(t)
	c = connect(t, plain, "smtp://"+user+":"+password+"@"+plain.Addr)
	_, err = c.Test(context.Background())
	if e := wantClass(t, err, connectors.ConnectorDown, "SMTP_CONNECT"); !strings.Contains(e.Message, "STARTTLS") {
		t.Errorf("the message must say STARTTLS is missing: %s", e.Message)
	}
}
