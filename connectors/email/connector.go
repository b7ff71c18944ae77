package email

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/mail"
	"net/textproto"

	gomail "github.com/wneessen/go-mail"

	"floh/connectors"
)

// Type is the email connector type: mail sent through an SMTP relay.
var Type = &connectors.Type{
	Name:        "email",
	Label:       "Email (SMTP)",
	Description: "Sends email through an SMTP server, with STARTTLS (or implicit TLS) and authentication.",
	Config: []connectors.Field{
		{
			Name: "smtpUrl", Label: "SMTP URL", Kind: connectors.KindString, Required: true,
			// Secret because the URL carries the SMTP password.
			Secret: true,
			Help: "smtp://user:password@mail.example.com:587 sends with STARTTLS (required unless ?tls=opportunistic " +
				"or ?tls=none); smtps://...:465 uses TLS from the first byte. ?from=floh@example.com sets the sender. " +
				"Escape special characters in the password (@ as %40). Stored encrypted and never shown again.",
			Placeholder: "smtp://floh:password@mail.example.com:587?from=floh@example.com",
		},
		{
			Name: "from", Label: "From", Kind: connectors.KindString,
			Help:        "The sender address, optionally with a name: Floh <floh@example.com>. Overrides the URL's ?from=; one of the two is required.",
			Placeholder: "Floh <floh@example.com>",
		},
	},
	Commands: []connectors.Command{{
		Name:        "send",
		Label:       "Send email",
		Description: "Sends one message to the To and Cc recipients.",
		Params: []connectors.Field{
			{
				Name: "to", Label: "To", Kind: connectors.KindStringList, Required: true,
				Help:        "Recipient addresses: a list, or one text with commas between addresses.",
				Placeholder: "jane.doe@example.com, it-desk@example.com",
			},
			{Name: "subject", Label: "Subject", Kind: connectors.KindString, Required: true, Help: "The subject line.", Placeholder: "Welcome to Example Corp"},
			{Name: "body", Label: "Body", Kind: connectors.KindText, Required: true, Help: "The message as plain text. Every recipient's mail program can show it."},
			{Name: "cc", Label: "Cc", Kind: connectors.KindStringList, Help: "Addresses that get a copy, visible to every recipient: a list, or one text with commas between addresses."},
			{
				Name: "html", Label: "HTML body", Kind: connectors.KindText,
				Help: "An HTML version of the message. Mail programs that show HTML show it instead of Body; the others show Body, so keep both saying the same.",
			},
		},
		Outputs: []connectors.Output{
			{Name: "messageId", Kind: connectors.KindString, Help: "The Message-ID header of the sent mail, to find it in the relay's logs."},
			{Name: "recipients", Kind: connectors.KindStringList, Help: "Every address the relay accepted: To, then Cc."},
		},
		// Mail cannot be unsent, but it changes no account either: there is nothing to undo.
		Mutating: false,
	}},
	Validate: validateConfig,
	New: func(cfg connectors.Config) (connectors.Connector, error) {
		s, problems := configure(cfg)
		if len(problems) > 0 {
			return nil, errors.New(problems[0].Message)
		}
		return &connector{smtp: s}, nil
	},
}

func validateConfig(cfg connectors.Config) []connectors.FieldError {
	_, problems := configure(cfg)
	return problems
}

// configure builds the SMTP settings from a config: the URL, with From overriding its ?from=.
func configure(cfg connectors.Config) (*SMTP, []connectors.FieldError) {
	s, err := parseURL(cfg.String("smtpUrl"), "SMTP URL")
	if err != nil {
		return nil, []connectors.FieldError{{Field: "smtpUrl", Message: err.Error()}}
	}
	if f := cfg.String("from"); f != "" {
		addr, err := mail.ParseAddress(f)
		if err != nil {
			return nil, []connectors.FieldError{{Field: "from", Message: fmt.Sprintf("from %q is not an email address like floh@example.com", f)}}
		}
		s.from = addr.String()
	}
	if s.from == "" {
		return nil, []connectors.FieldError{{Field: "from", Message: "from is required when the SMTP URL has no ?from="}}
	}
	return s, nil
}

type connector struct {
	smtp *SMTP
}

// Test connects, negotiates TLS, authenticates and says QUIT: it proves the relay would take
// a message without sending one.
func (c *connector) Test(ctx context.Context) (connectors.TestResult, error) {
	gm, client, err := c.smtp.connect(ctx)
	if err != nil {
		return connectors.TestResult{}, classify(err)
	}
	state, overTLS := client.TLSConnectionState()
	_ = gm.CloseWithSMTPClient(client)
	data := map[string]any{"server": c.smtp.Server(), "tls": overTLS}
	msg := "Connected to " + c.smtp.Server()
	if overTLS {
		msg += " over " + tls.VersionName(state.Version)
		data["tlsVersion"] = tls.VersionName(state.Version)
	} else {
		msg += " without TLS"
	}
	if c.smtp.user != "" {
		msg += " and signed in as " + c.smtp.user
		data["user"] = c.smtp.user
	}
	return connectors.TestResult{Message: msg + "; no message was sent.", Data: data}, nil
}

// Execute runs send.
func (c *connector) Execute(ctx context.Context, command string, params map[string]any) (map[string]any, error) {
	if command != "send" {
		return nil, connectors.Errorf(connectors.InvalidInput, "UNKNOWN_COMMAND", "the email connector has no command %q; it has send", command)
	}
	to, _ := params["to"].([]string)
	cc, _ := params["cc"].([]string)
	if len(to) == 0 {
		return nil, &connectors.Error{Class: connectors.InvalidInput, Code: "INVALID_PARAMS", Field: "to", Message: "send was not called: to needs at least one address"}
	}
	for _, field := range []struct {
		name  string
		addrs []string
	}{{"to", to}, {"cc", cc}} {
		for _, a := range field.addrs {
			if _, err := mail.ParseAddress(a); err != nil {
				return nil, &connectors.Error{
					Class: connectors.InvalidInput, Code: "INVALID_ADDRESS", Field: field.name,
					Message: fmt.Sprintf("send was not called: %s %q is not an email address", field.name, a),
				}
			}
		}
	}
	subject, _ := params["subject"].(string)
	body, _ := params["body"].(string)
	html, _ := params["html"].(string)
	id, err := c.smtp.Send(ctx, Message{To: to, Cc: cc, Subject: subject, Text: body, HTML: html})
	if err != nil {
		return nil, classify(err)
	}
	return map[string]any{"messageId": id, "recipients": append(append([]string{}, to...), cc...)}, nil
}

// classify maps an SMTP failure to the error classes. The reply code decides: 4xx is
// temporary (target_error, retried), 5xx is permanent and blames what the server refused.
func classify(err error) *connectors.Error {
	var (
		reply   *textproto.Error
		send    *gomail.SendError
		connect *connectError
	)
	switch {
	// 530 authentication required, 534 mechanism too weak, 535 credentials invalid.
	case errors.As(err, &reply) && (reply.Code == 530 || reply.Code == 534 || reply.Code == 535):
		return connectors.Wrap(err, connectors.Unauthorized, "AUTH_FAILED", "the SMTP server refused the credentials in the SMTP URL: %v", err)
	case errors.As(err, &connect):
		if errors.As(err, &reply) {
			return connectors.Wrap(err, connectors.TargetError, "SMTP_REFUSED", "the SMTP server refused the connection: %v", err)
		}
		if e := connectors.Classify(err); e.Class == connectors.ConnectorDown {
			return e
		}
		// Neither a network nor a protocol error: go-mail's own checks, such as a server that
		// does not offer STARTTLS or the AUTH the URL asks for.
		return connectors.Wrap(err, connectors.ConnectorDown, "SMTP_CONNECT", "cannot open a session with the SMTP server: %v", err)
	case errors.As(err, &send) && send.ErrorCode() != 0:
		switch {
		case send.IsTemp():
			return connectors.Wrap(err, connectors.TargetError, "SMTP_TEMPORARY", "the SMTP server deferred the message; try again later: %v", err)
		case send.Reason == gomail.ErrSMTPRcptTo:
			return connectors.Wrap(err, connectors.InvalidInput, "RECIPIENT_REJECTED", "the SMTP server refused a recipient: %v", err)
		case send.Reason == gomail.ErrSMTPMailFrom:
			// The sender is the connector's config, not the step's input: usually an address
			// the account may not send as, or a relay that wants authentication.
			return connectors.Wrap(err, connectors.Unauthorized, "SENDER_REJECTED", "the SMTP server refused the sender; check From and the SMTP URL's user: %v", err)
		default:
			return connectors.Wrap(err, connectors.InvalidInput, "MESSAGE_REJECTED", "the SMTP server refused the message: %v", err)
		}
	}
	return connectors.Classify(err)
}
