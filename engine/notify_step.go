package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/mail"
	"slices"
	"strings"
	"unicode"

	"github.com/google/uuid"
	"github.com/jonboulle/clockwork"
	"github.com/uptrace/bun"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"floh/connectors"
	"floh/db"
	"floh/engine/workflow"
)

// Notification steps. An in_app notification is written in the claiming transaction, with
// the step's result, so it exists exactly when the step completed. An email is I/O: it is
// sent as an attempt outside any transaction, like a connector call, so a relay that is down
// fails the attempt with a classified error, is retried, and finally takes the step's error
// edge.

const (
	// emailAttempts is how often an email notification is tried when the relay fails in a
	// way that may pass (down, 4xx, throttled); the backoff is exponential. A failure
	// notification that gives up at the first hiccup of the relay would be lost just when it
	// matters.
	emailAttempts = 3
	// maxRecipients bounds one notification: a role or list larger than this is a mistake
	// in the workflow, not an audience.
	maxRecipients = 1000
	// rolePrefix marks a recipient that stands for every active member of a system role.
	rolePrefix = "role:"
)

// Error codes of notification steps.
const (
	codeUnknownRecipient   = "UNKNOWN_RECIPIENT"
	codeNoRecipients       = "NO_RECIPIENTS"
	codeTooManyRecipients  = "TOO_MANY_RECIPIENTS"
	codeEmailNotConfigured = "EMAIL_NOT_CONFIGURED"
	codeNotEmailConnector  = "NOT_AN_EMAIL_CONNECTOR"
)

// sendsEmail reports whether a step is an email notification, which runs as an attempt
// outside the claiming transaction. Any other notification step runs inline: an in_app one,
// or one whose config is invalid, which fails there.
func sendsEmail(step *workflow.Step) bool {
	return step != nil && step.Type == workflow.TypeNotification && step.Config["channel"] == workflow.ChannelEmail
}

// message is a notification rendered for its recipients.
type message struct {
	channel    string
	recipients []recipient
	subject    string
	// text is the body as plain text; html is set when the body is HTML, and text is then
	// derived from it.
	text, html  string
	connectorID string
}

// isHTMLBody reports whether a body template is HTML: its first non-blank character is "<"
// (<p>, <div>, <!DOCTYPE html>, ...). The decision is made on the template as the author
// wrote it, never on what it renders to, so a variable cannot turn a text body into HTML.
func isHTMLBody(body string) bool {
	return strings.HasPrefix(strings.TrimSpace(body), "<")
}

// renderMessage reads a notification step's config, renders its subject and body over vars
// and resolves its recipients. A config problem, a missing variable or a recipient that
// cannot be resolved fails the step.
func (e *Engine) renderMessage(ctx context.Context, idb bun.IDB, run *db.Run, step *workflow.Step, vars map[string]any) (*message, *outcome, error) {
	cfg, err := step.NotificationConfig()
	if err != nil {
		out := invalidStep(codeInvalidConfig, "step %s: %v", step.ID, err)
		return nil, &out, nil
	}
	m := &message{channel: cfg.Channel}
	fail := func(field string, err error) (*message, *outcome, error) {
		var missing *workflow.MissingVariableError
		if errors.As(err, &missing) {
			out := failure(&connectors.Error{Class: connectors.InvalidInput, Code: codeUndefinedVariable, Field: missing.Name,
				Message: fmt.Sprintf("step %s: %s: %v", step.ID, field, err)})
			return nil, &out, nil
		}
		out := invalidStep(codeInvalidConfig, "step %s: %s: %v", step.ID, field, err)
		return nil, &out, nil
	}
	if m.subject, err = workflow.RenderText(cfg.Subject, vars); err != nil {
		return fail("subject", err)
	}
	// A subject is one header line: a line break from a variable must not start another.
	m.subject = strings.Join(strings.Fields(m.subject), " ")
	if m.subject == "" {
		m.subject = run.WorkflowName
	}
	if isHTMLBody(cfg.Body) {
		if m.html, err = workflow.RenderHTML(cfg.Body, vars); err != nil {
			return fail("body", err)
		}
		m.text = htmlText(m.html)
	} else if m.text, err = workflow.RenderText(cfg.Body, vars); err != nil {
		return fail("body", err)
	}
	if m.connectorID, err = workflow.RenderText(cfg.ConnectorID, vars); err != nil {
		return fail("connectorId", err)
	}
	m.connectorID = strings.TrimSpace(m.connectorID)
	to := make([]any, len(cfg.To))
	for i, t := range cfg.To {
		if to[i], err = workflow.Render(t, vars); err != nil {
			return fail(fmt.Sprintf("to[%d]", i), err)
		}
	}
	rs, problems, err := resolveRecipients(ctx, idb, to, cfg.Channel == workflow.ChannelInApp)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case len(problems) > 0:
		out := failure(&connectors.Error{Class: connectors.InvalidInput, Code: codeUnknownRecipient, Field: "to",
			Message: fmt.Sprintf("step %s: nothing was sent, because some recipients are unknown: %s", step.ID, strings.Join(problems, "; "))})
		return nil, &out, nil
	case len(rs) == 0:
		written := make([]string, len(cfg.To))
		for i, t := range cfg.To {
			written[i] = fmt.Sprint(t)
		}
		out := failure(&connectors.Error{Class: connectors.InvalidInput, Code: codeNoRecipients, Field: "to",
			Message: fmt.Sprintf("step %s: the recipients %s resolve to nobody (empty values, or roles without active members)", step.ID, strings.Join(written, ", "))})
		return nil, &out, nil
	case len(rs) > maxRecipients:
		out := failure(&connectors.Error{Class: connectors.InvalidInput, Code: codeTooManyRecipients, Field: "to",
			Message: fmt.Sprintf("step %s: the recipients resolve to %d people; a notification goes to at most %d", step.ID, len(rs), maxRecipients)})
		return nil, &out, nil
	}
	m.recipients = rs
	return m, nil, nil
}

// addresses are the recipients' email addresses.
func (m *message) addresses() []string {
	out := make([]string, len(m.recipients))
	for i, r := range m.recipients {
		out[i] = r.email
	}
	return out
}

// sent is a delivered notification's output and timeline entry. Neither holds the subject or
// the body: they may carry what the run's variables hold, and the timeline is read more
// widely than the mail.
func (m *message) sent(step *workflow.Step, extra map[string]any) outcome {
	addrs := m.addresses()
	data := map[string]any{"channel": m.channel, "count": len(addrs), "recipients": addrs}
	output := map[string]any{"channel": m.channel, "recipients": addrs}
	for k, v := range extra {
		data[k], output[k] = v, v
	}
	out := success(output)
	name := step.Name
	if name == "" {
		name = step.ID
	}
	what := "in-app notification"
	if m.channel == workflow.ChannelEmail {
		what = "email"
	}
	out.note = &stepNote{kind: "notification_sent", data: data,
		message: fmt.Sprintf("Step %s sent an %s to %d recipient(s): %s", name, what, len(addrs), strings.Join(addrs, ", "))}
	return out
}

// notifyInApp works an in_app notification step in the claiming transaction: one
// notification per recipient, linking the run. sendsEmail routes email steps elsewhere.
func (e *Engine) notifyInApp(ctx context.Context, tx bun.Tx, run *db.Run, step *workflow.Step, vars map[string]any) (outcome, error) {
	m, fail, err := e.renderMessage(ctx, tx, run, step, vars)
	if err != nil || fail != nil {
		if fail != nil {
			return *fail, nil
		}
		return outcome{}, err
	}
	now := e.now()
	rows := make([]db.Notification, len(m.recipients))
	for i, r := range m.recipients {
		rows[i] = db.Notification{UserID: *r.userID, At: now, Kind: "workflow", Title: m.subject, Body: m.text, Link: "/runs/" + run.ID.String()}
	}
	if err := db.InsertNotifications(ctx, tx, rows); err != nil {
		return outcome{}, err
	}
	return m.sent(step, nil), nil
}

// notifyByEmail works an attempt of an email notification step: through the email connector
// instance the step names, whose call is checked, logged and mocked like any connector call,
// or else through the server's SMTP_URL. A run with useMocks sends nothing either way.
func (e *Engine) notifyByEmail(ctx context.Context, a Actor, at *attempt) (outcome, error) {
	step := at.step
	m, fail, err := e.renderMessage(ctx, e.db.Bun, at.run, step, at.vars)
	if err != nil || fail != nil {
		if fail != nil {
			return *fail, nil
		}
		return outcome{}, err
	}
	actx, cancel := clockwork.WithTimeout(ctx, e.clock, at.timeout)
	defer cancel()
	timedOut := func(err *connectors.Error) *connectors.Error {
		if done(actx) && !done(ctx) {
			return connectors.Errorf(connectors.ConnectorDown, codeStepTimeout, "step %s did not finish within %s: %s", step.ID, at.timeout, err.Message)
		}
		return err
	}
	if m.connectorID != "" {
		return e.emailThroughConnector(actx, a, at, m, timedOut)
	}
	if e.mailer == nil {
		return failure(connectors.Errorf(connectors.InvalidInput, codeEmailNotConfigured,
			"step %s: no email connector given and SMTP_URL is not set; choose an email connector in the step or set SMTP_URL", step.ID)), nil
	}
	if at.run.UseMocks {
		return m.sent(step, map[string]any{"mock": true}), nil
	}
	if err := e.mailer.SendMessage(actx, m.addresses(), m.subject, m.text, m.html); err != nil {
		return failure(timedOut(connectors.Classify(err))), nil
	}
	return m.sent(step, nil), nil
}

// emailThroughConnector sends m with the send command of the email instance the step names.
func (e *Engine) emailThroughConnector(ctx context.Context, a Actor, at *attempt, m *message, timedOut func(*connectors.Error) *connectors.Error) (outcome, error) {
	step := at.step
	c, err := db.FindLiveConnectorByRef(ctx, e.db.Bun, m.connectorID)
	if errors.Is(err, db.ErrNotFound) {
		return invalidStep("UNKNOWN_CONNECTOR", "step %s: no connector is named or has the id %q", step.ID, m.connectorID), nil
	}
	if err != nil {
		return outcome{}, err
	}
	t := e.registry.Type(c.Type)
	if c.Type != workflow.EmailConnectorType || t == nil || t.Command("send") == nil {
		return invalidStep(codeNotEmailConnector, "step %s: connector %s is of type %s, not email; a notification sends email through an email connector", step.ID, c.Name, c.Type), nil
	}
	params := map[string]any{"to": m.addresses(), "subject": m.subject, "body": m.text}
	if m.html != "" {
		params["html"] = m.html
	}
	var useMock *bool
	if at.run.UseMocks {
		useMock = &at.run.UseMocks
	}
	ctx = connectors.WithIdempotencyKey(ctx, at.se.IdempotencyKey)
	res, x := e.executeCommand(ctx, a, c, t.Command("send"), params, useMock, SourceRun)
	// The instance's execution log keeps whom the message went to, not what it said: a
	// message often carries what the run's variables hold (a first password, say), and the
	// log is read more widely than the mail.
	logged := maps.Clone(params)
	for _, k := range []string{"body", "html"} {
		if _, ok := logged[k]; ok {
			logged[k] = connectors.Masked
		}
	}
	x.Params = mustJSON(logged)
	var out outcome
	if res.Error != nil {
		out = failure(timedOut(res.Error))
	} else {
		extra := map[string]any{"connectorId": c.ID, "connector": c.Name}
		if id, ok := res.Data["messageId"].(string); ok && id != "" {
			extra["messageId"] = id
		}
		if res.Mock {
			extra["mock"] = true
		}
		out = m.sent(step, extra)
	}
	out.log = x
	return out, nil
}

// recipient is one resolved recipient: a Floh user, or (for email) an address no user has.
type recipient struct {
	userID *uuid.UUID
	email  string
}

// resolveRecipients turns rendered recipient values into people, without repeats. Each value
// is a text — an email address (several, comma-separated, are fine), a user id, or
// role:<system role> for the role's active members — or a list of such values, or a user
// object with id or email (such as initiator). Empty values (an optional variable left out,
// the initiator of a scheduled run) name nobody. usersOnly requires every recipient to be a
// live Floh user, an address being looked up by email. problems names each value that could
// not be resolved; the error is the database's.
func resolveRecipients(ctx context.Context, idb bun.IDB, values []any, usersOnly bool) ([]recipient, []string, error) {
	r := &resolver{ctx: ctx, idb: idb, usersOnly: usersOnly, seen: map[string]bool{}}
	for _, v := range values {
		if err := r.value(v, 0); err != nil {
			return nil, nil, err
		}
	}
	return r.out, r.problems, nil
}

type resolver struct {
	ctx       context.Context
	idb       bun.IDB
	usersOnly bool
	seen      map[string]bool // lower-cased addresses and user ids already added
	out       []recipient
	problems  []string
}

// maxRecipientDepth bounds how deeply recipient lists may nest.
const maxRecipientDepth = 4

func (r *resolver) value(v any, depth int) error {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		return r.text(strings.TrimSpace(x))
	case []any:
		if depth >= maxRecipientDepth {
			r.problems = append(r.problems, "recipient lists nest too deeply")
			return nil
		}
		for _, e := range x {
			if err := r.value(e, depth+1); err != nil {
				return err
			}
		}
		return nil
	case map[string]any:
		if id, _ := x["id"].(string); strings.TrimSpace(id) != "" {
			return r.text(strings.TrimSpace(id))
		}
		email, _ := x["email"].(string)
		return r.text(strings.TrimSpace(email))
	}
	r.problems = append(r.problems, fmt.Sprintf("%s is not an address, a user id or role:<name>", describeJSON(v)))
	return nil
}

func (r *resolver) text(s string) error {
	if s == "" {
		return nil
	}
	if name, ok := strings.CutPrefix(s, rolePrefix); ok {
		return r.role(strings.TrimSpace(name))
	}
	if id, err := uuid.Parse(s); err == nil {
		u, err := db.FindUser(r.ctx, r.idb, id)
		switch {
		case errors.Is(err, db.ErrNotFound):
			r.problems = append(r.problems, fmt.Sprintf("no user has the id %s", id))
		case err != nil:
			return err
		case u.Deleted():
			r.problems = append(r.problems, fmt.Sprintf("user %s (%s) is deleted", u.Email, id))
		default:
			r.add(u)
		}
		return nil
	}
	addrs, err := mail.ParseAddressList(s)
	if err != nil {
		r.problems = append(r.problems, fmt.Sprintf("%q is not an email address, a user id or role:<name>", s))
		return nil
	}
	for _, a := range addrs {
		if !r.usersOnly {
			r.addAddress(a.Address)
			continue
		}
		users, err := db.FindLiveUsersByEmail(r.ctx, r.idb, a.Address)
		if err != nil {
			return err
		}
		if len(users) == 0 {
			r.problems = append(r.problems, fmt.Sprintf("no user has the email %s", a.Address))
			continue
		}
		r.add(&users[0])
	}
	return nil
}

// role adds the active members of a system role; the name is matched without regard to case.
func (r *resolver) role(name string) error {
	i := slices.IndexFunc(SystemRoles, func(role SystemRole) bool { return strings.EqualFold(role.Name, name) })
	if i < 0 {
		r.problems = append(r.problems, fmt.Sprintf("%q is not a system role (roles: %s)", name, strings.Join(systemRoleNames(), ", ")))
		return nil
	}
	key := rolePrefix + SystemRoles[i].Name
	if r.seen[key] {
		return nil
	}
	r.seen[key] = true
	users, err := db.ListActiveUsersWithRole(r.ctx, r.idb, SystemRoles[i].Name)
	if err != nil {
		return err
	}
	for j := range users {
		r.add(&users[j])
	}
	return nil
}

func (r *resolver) add(u *db.User) {
	id, email := u.ID, strings.ToLower(u.Email)
	if r.seen[id.String()] || (!r.usersOnly && r.seen[email]) {
		return
	}
	r.seen[id.String()], r.seen[email] = true, true
	r.out = append(r.out, recipient{userID: &id, email: u.Email})
}

func (r *resolver) addAddress(addr string) {
	key := strings.ToLower(addr)
	if r.seen[key] {
		return
	}
	r.seen[key] = true
	r.out = append(r.out, recipient{email: addr})
}

// htmlText is the plain-text alternative of an HTML body: its text, with line breaks where
// blocks end and each link's address after its text, so a reader without HTML still gets
// every link (the run's diagnose page, say).
func htmlText(doc string) string {
	var b strings.Builder
	z := html.NewTokenizer(strings.NewReader(doc))
	var href string
	skip := 0 // inside script, style, head or title: not text a reader sees
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			break
		}
		tok := z.Token()
		switch tt {
		case html.TextToken:
			if skip == 0 {
				b.WriteString(collapseSpace(tok.Data))
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			switch tok.DataAtom {
			case atom.Script, atom.Style, atom.Head, atom.Title:
				if tt == html.StartTagToken {
					skip++
				}
			case atom.Br:
				b.WriteString("\n")
			case atom.Li:
				b.WriteString("\n- ")
			case atom.A:
				href = ""
				for _, a := range tok.Attr {
					if a.Key == "href" {
						href = a.Val
					}
				}
			default:
				if blockElement(tok.DataAtom) {
					b.WriteString("\n\n")
				}
			}
		case html.EndTagToken:
			switch tok.DataAtom {
			case atom.Script, atom.Style, atom.Head, atom.Title:
				skip = max(0, skip-1)
			case atom.A:
				if href != "" && !strings.HasSuffix(strings.TrimSpace(b.String()), href) {
					b.WriteString(" (" + href + ")")
				}
				href = ""
			default:
				if blockElement(tok.DataAtom) {
					b.WriteString("\n\n")
				}
			}
		}
	}
	lines := strings.Split(b.String(), "\n")
	var out []string
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if l == "" && (len(out) == 0 || out[len(out)-1] == "") {
			continue
		}
		out = append(out, l)
	}
	return strings.TrimSpace(strings.Join(out, "\n"))
}

// collapseSpace turns each run of white space into one space, as a browser shows text.
func collapseSpace(s string) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		if unicode.IsSpace(r) {
			space = true
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	if space {
		b.WriteByte(' ')
	}
	return b.String()
}

func blockElement(a atom.Atom) bool {
	switch a {
	case atom.P, atom.Div, atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6, atom.Ul, atom.Ol,
		atom.Table, atom.Tr, atom.Blockquote, atom.Pre, atom.Hr, atom.Section, atom.Article, atom.Header, atom.Footer:
		return true
	}
	return false
}
