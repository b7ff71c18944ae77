package workflow

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
)

// Typed step configs. A step's Config stays a JSON map in the document (the designer and the
// API edit it as such); these views are what the runner reads. Strings may hold templates and
// are returned raw: rendering happens at run time, on the config map, before these are read.
// Numbers, booleans and durations must be literal.

// ConnectorConfig is a connector step's config.
type ConnectorConfig struct {
	ConnectorID string         // an instance id or name
	Command     string         // a command of the instance's type
	Params      map[string]any // templated values, checked against the command at run time
	Output      string         // the variable that receives the command's outputs; "" for none
	Mock        *bool          // nil: the run's mock mode decides
	Retry       RetryPolicy
	Timeout     time.Duration // 0: the engine's default
}

// RetryPolicy says how often a failed connector call is tried.
type RetryPolicy struct {
	MaxAttempts int    // counts the first attempt; 1 when the config has no retry
	Backoff     string // "", BackoffFixed or BackoffExponential
}

// Backoffs between attempts.
const (
	BackoffFixed       = "fixed"
	BackoffExponential = "exponential"
)

// maxRetryAttempts bounds retry.maxAttempts: beyond it a step is a loop, not a retry.
const maxRetryAttempts = 100

// Branch is one branch of a condition step: the first whose When is true names the outcome.
type Branch struct {
	Name string `json:"name"`
	When string `json:"when"`
}

// ConditionConfig is a condition step's config.
type ConditionConfig struct {
	Branches []Branch
	Default  string // the outcome when no branch matches; "" for none
}

// TransformConfig is a transform step's config: variable name → expression.
type TransformConfig struct {
	Set map[string]string
}

// DelayConfig is a delay step's config.
type DelayConfig struct {
	Duration time.Duration
}

// SubWorkflowConfig is a sub_workflow step's config.
type SubWorkflowConfig struct {
	WorkflowID string
	Variables  map[string]any // the child's inputs, templated
}

// UserCreateConfig is a user_create step's config.
type UserCreateConfig struct {
	Email        string
	DisplayName  string
	SetAsSubject bool // the created user becomes the run's subject (Definition.SubjectVariable)
}

// Approval modes.
const (
	ApprovalSingle     = "single"
	ApprovalSequential = "sequential"
	ApprovalParallel   = "parallel"
)

// ApprovalConfig is an approval step's config. Each approver entry is one slot: a user id, a
// template yielding a user (or a list of them), or role:Name for any one member of a role.
type ApprovalConfig struct {
	Approvers     []any
	Mode          string        // ApprovalSingle when the config sets none
	Timeout       time.Duration // 0: no timeout
	ReminderEvery time.Duration // 0: no reminders
}

// ManualTaskConfig is a manual_task step's config.
type ManualTaskConfig struct {
	Assignee     string // a user id, a template yielding a user, or role:Name
	Title        string
	Instructions string
}

// ProfileUpdateConfig is a profile_update step's config.
type ProfileUpdateConfig struct {
	UserID string
	Fields map[string]any
}

// Notification channels.
const (
	ChannelEmail = "email"
	ChannelInApp = "in_app"
)

// EmailConnectorType is the connector type an email notification may send through
// (connectors/email, which neither this package nor the engine imports).
const EmailConnectorType = "email"

// NotificationConfig is a notification step's config.
type NotificationConfig struct {
	Channel string // ChannelEmail or ChannelInApp
	// To holds the recipients as written: addresses, user ids, role:<name>, or templates that
	// yield those, a list of them or a user object. A single text in the config is one entry.
	To          []any
	Subject     string
	Body        string
	ConnectorID string // an email instance's id or name; "" sends through SMTP_URL
}

// ConnectorConfig reads a connector step's config.
func (s *Step) ConnectorConfig() (ConnectorConfig, error) {
	var c ConnectorConfig
	return c, s.read(TypeConnector, func(r *configReader) { c = readConnector(r) })
}

// ConditionConfig reads a condition step's config.
func (s *Step) ConditionConfig() (ConditionConfig, error) {
	var c ConditionConfig
	return c, s.read(TypeCondition, func(r *configReader) { c = readCondition(r) })
}

// TransformConfig reads a transform step's config.
func (s *Step) TransformConfig() (TransformConfig, error) {
	var c TransformConfig
	return c, s.read(TypeTransform, func(r *configReader) { c = readTransform(r) })
}

// DelayConfig reads a delay step's config.
func (s *Step) DelayConfig() (DelayConfig, error) {
	var c DelayConfig
	return c, s.read(TypeDelay, func(r *configReader) { c = readDelay(r) })
}

// SubWorkflowConfig reads a sub_workflow step's config.
func (s *Step) SubWorkflowConfig() (SubWorkflowConfig, error) {
	var c SubWorkflowConfig
	return c, s.read(TypeSubWorkflow, func(r *configReader) { c = readSubWorkflow(r) })
}

// UserCreateConfig reads a user_create step's config.
func (s *Step) UserCreateConfig() (UserCreateConfig, error) {
	var c UserCreateConfig
	return c, s.read(TypeUserCreate, func(r *configReader) { c = readUserCreate(r) })
}

// ProfileUpdateConfig reads a profile_update step's config.
func (s *Step) ProfileUpdateConfig() (ProfileUpdateConfig, error) {
	var c ProfileUpdateConfig
	return c, s.read(TypeProfileUpdate, func(r *configReader) { c = readProfileUpdate(r) })
}

// ApprovalConfig reads an approval step's config.
func (s *Step) ApprovalConfig() (ApprovalConfig, error) {
	var c ApprovalConfig
	return c, s.read(TypeApproval, func(r *configReader) { c = readApproval(r) })
}

// ManualTaskConfig reads a manual_task step's config.
func (s *Step) ManualTaskConfig() (ManualTaskConfig, error) {
	var c ManualTaskConfig
	return c, s.read(TypeManualTask, func(r *configReader) { c = readManualTask(r) })
}

// NotificationConfig reads a notification step's config.
func (s *Step) NotificationConfig() (NotificationConfig, error) {
	var c NotificationConfig
	return c, s.read(TypeNotification, func(r *configReader) { c = readNotification(r) })
}

// read runs a typed reader over the step's config; every problem is an error here, missing
// keys included, with fields named "config.<key>".
func (s *Step) read(typ string, fill func(*configReader)) error {
	if s.Type != typ {
		return fmt.Errorf("step %s is a %s step, not a %s step", s.ID, s.Type, typ)
	}
	r := newConfigReader(s.Config)
	fill(r)
	r.finish()
	if len(r.problems) == 0 {
		return nil
	}
	errs := make(ValidationErrors, len(r.problems))
	for i, p := range r.problems {
		errs[i] = FieldError{Field: "config." + p.field, Message: p.message}
	}
	return errs
}

// configReaders knows every step type's config: Validate runs them all, the typed getters one.
// A type without keys (start, end) reads an empty config.
var configReaders = map[string]func(*configReader){
	TypeStart:         func(*configReader) {},
	TypeEnd:           func(*configReader) {},
	TypeConnector:     func(r *configReader) { readConnector(r) },
	TypeApproval:      func(r *configReader) { readApproval(r) },
	TypeManualTask:    func(r *configReader) { readManualTask(r) },
	TypeNotification:  func(r *configReader) { readNotification(r) },
	TypeCondition:     func(r *configReader) { readCondition(r) },
	TypeTransform:     func(r *configReader) { readTransform(r) },
	TypeUserCreate:    func(r *configReader) { readUserCreate(r) },
	TypeProfileUpdate: func(r *configReader) { readProfileUpdate(r) },
	TypeDelay:         func(r *configReader) { readDelay(r) },
	TypeSubWorkflow:   func(r *configReader) { readSubWorkflow(r) },
}

func readConnector(r *configReader) ConnectorConfig {
	c := ConnectorConfig{
		ConnectorID: r.str("connectorId", required),
		Command:     r.str("command", required),
		Params:      r.object("params", optional),
		Output:      r.name("output"),
		Timeout:     r.duration("timeout", optional),
		Retry:       RetryPolicy{MaxAttempts: 1},
	}
	if v, ok := r.take("mock"); ok {
		if b, isBool := v.(bool); isBool {
			c.Mock = &b
		} else {
			r.wrongType("mock", "true or false", v)
		}
	}
	if retry := r.object("retry", optional); retry != nil {
		rr := r.nested("retry", retry)
		c.Retry.MaxAttempts = rr.count("maxAttempts", maxRetryAttempts)
		c.Retry.Backoff = rr.oneOf("backoff", optional, BackoffFixed, BackoffExponential)
		rr.finish()
	}
	return c
}

func readCondition(r *configReader) ConditionConfig {
	var c ConditionConfig
	for i, item := range r.list("branches", required) {
		at := fmt.Sprintf("branches[%d]", i)
		m, ok := item.(map[string]any)
		if !ok {
			r.wrongType(at, "an object with name and when", item)
			continue
		}
		br := r.nested(at, m)
		c.Branches = append(c.Branches, Branch{Name: br.str("name", mandatory), When: br.str("when", mandatory)})
		br.finish()
	}
	c.Default = r.str("default", optional)
	return c
}

func readTransform(r *configReader) TransformConfig {
	set := r.object("set", required)
	if set == nil {
		return TransformConfig{}
	}
	if len(set) == 0 {
		r.report("set", "needs at least one variable", true)
	}
	c := TransformConfig{Set: make(map[string]string, len(set))}
	for _, name := range slices.Sorted(maps.Keys(set)) {
		r.checkName("set."+name, name)
		if src, ok := set[name].(string); ok {
			c.Set[name] = src
		} else {
			r.wrongType("set."+name, "an expression (text)", set[name])
		}
	}
	return c
}

func readDelay(r *configReader) DelayConfig {
	return DelayConfig{Duration: r.duration("duration", required)}
}

func readSubWorkflow(r *configReader) SubWorkflowConfig {
	return SubWorkflowConfig{WorkflowID: r.str("workflowId", required), Variables: r.object("variables", optional)}
}

func readUserCreate(r *configReader) UserCreateConfig {
	return UserCreateConfig{
		Email:        r.str("email", required),
		DisplayName:  r.str("displayName", optional),
		SetAsSubject: r.boolean("setAsSubject"),
	}
}

func readProfileUpdate(r *configReader) ProfileUpdateConfig {
	return ProfileUpdateConfig{UserID: r.str("userId", required), Fields: r.object("fields", required)}
}

func readNotification(r *configReader) NotificationConfig {
	return NotificationConfig{
		Channel:     r.oneOf("channel", required, ChannelEmail, ChannelInApp),
		To:          r.recipients("to"),
		Subject:     r.str("subject", optional),
		Body:        r.str("body", required),
		ConnectorID: r.str("connectorId", optional),
	}
}

func readApproval(r *configReader) ApprovalConfig {
	c := ApprovalConfig{
		Approvers:     r.recipients("approvers"),
		Mode:          r.oneOf("mode", optional, ApprovalSingle, ApprovalSequential, ApprovalParallel),
		Timeout:       r.duration("timeout", optional),
		ReminderEvery: r.duration("reminderEvery", optional),
	}
	if c.Mode == "" {
		c.Mode = ApprovalSingle
	}
	return c
}

func readManualTask(r *configReader) ManualTaskConfig {
	return ManualTaskConfig{
		Assignee:     r.str("assignee", required),
		Title:        r.str("title", required),
		Instructions: r.str("instructions", optional),
	}
}

// Whether a key must be present. required keys are needed to publish but a draft may lack
// them; mandatory keys are part of the shape even in a draft (a condition branch without a
// name or a when is malformed, not unfinished).
type presence int

const (
	optional presence = iota
	required
	mandatory
)

// configProblem is one problem with a config. incomplete problems (a missing required key, a
// name that cannot be used) block publishing but not saving a draft.
type configProblem struct {
	field, message string
	incomplete     bool
}

// configReader reads typed values out of a config map, collecting problems instead of
// stopping at the first, and remembers which keys it read so finish can name the others.
type configReader struct {
	at       string // the path of this map inside the config, "" at the top
	cfg      map[string]any
	read     map[string]bool
	problems []configProblem
	parent   *configReader
}

func newConfigReader(cfg map[string]any) *configReader {
	return &configReader{cfg: cfg, read: map[string]bool{}}
}

// nested reads a map inside this one; its problems are reported through this reader.
func (r *configReader) nested(key string, m map[string]any) *configReader {
	return &configReader{at: r.path(key), cfg: m, read: map[string]bool{}, parent: r}
}

func (r *configReader) path(key string) string {
	if r.at == "" {
		return key
	}
	return r.at + "." + key
}

func (r *configReader) report(key, message string, incomplete bool) {
	p := configProblem{field: r.path(key), message: message, incomplete: incomplete}
	root := r
	for root.parent != nil {
		root = root.parent
	}
	root.problems = append(root.problems, p)
}

func (r *configReader) wrongType(key, want string, got any) {
	r.report(key, "must be "+want+", not "+describe(got), false)
}

// take returns a key's value; a JSON null counts as absent.
func (r *configReader) take(key string) (any, bool) {
	r.read[key] = true
	v, ok := r.cfg[key]
	return v, ok && v != nil
}

// present is take with the presence rule applied to absent keys.
func (r *configReader) present(key string, p presence) (any, bool) {
	v, ok := r.take(key)
	if !ok && p != optional {
		r.report(key, "is required", p == required)
	}
	return v, ok
}

func (r *configReader) str(key string, p presence) string {
	v, ok := r.present(key, p)
	if !ok {
		return ""
	}
	s, isStr := v.(string)
	if !isStr {
		r.wrongType(key, "text", v)
		return ""
	}
	if s == "" && p != optional {
		r.report(key, "is required", p == required)
	}
	return s
}

func (r *configReader) oneOf(key string, p presence, values ...string) string {
	s := r.str(key, p)
	if s != "" && !slices.Contains(values, s) {
		r.report(key, fmt.Sprintf("must be one of %s, not %q", strings.Join(values, ", "), s), false)
		return ""
	}
	return s
}

func (r *configReader) boolean(key string) bool {
	v, ok := r.take(key)
	if !ok {
		return false
	}
	b, isBool := v.(bool)
	if !isBool {
		r.wrongType(key, "true or false", v)
	}
	return b
}

// name reads an optional variable name: text in a draft, a usable identifier to publish.
func (r *configReader) name(key string) string {
	s := r.str(key, optional)
	if s != "" {
		r.checkName(key, s)
	}
	return s
}

// checkName reports a variable name that expressions and templates could not use.
func (r *configReader) checkName(key, s string) {
	if problem := nameProblem(s); problem != "" {
		r.report(key, problem, true)
	}
}

func (r *configReader) object(key string, p presence) map[string]any {
	v, ok := r.present(key, p)
	if !ok {
		return nil
	}
	m, isMap := v.(map[string]any)
	if !isMap {
		r.wrongType(key, "an object", v)
	}
	return m
}

func (r *configReader) list(key string, p presence) []any {
	v, ok := r.present(key, p)
	if !ok {
		return nil
	}
	l, isList := v.([]any)
	if !isList {
		r.wrongType(key, "a list", v)
		return nil
	}
	if len(l) == 0 && p != optional {
		r.report(key, "needs at least one entry", p == required)
	}
	return l
}

// recipients reads a required list of texts (user ids, emails, role:Name), or one text that
// is a template yielding such a list at run time; it returns the entries as a list.
func (r *configReader) recipients(key string) []any {
	v, ok := r.present(key, required)
	if !ok {
		return nil
	}
	switch x := v.(type) {
	case string:
		if x == "" {
			r.report(key, "is required", true)
		}
		return []any{x}
	case []any:
		if len(x) == 0 {
			r.report(key, "needs at least one entry", true)
		}
		for i, e := range x {
			if s, isStr := e.(string); !isStr || s == "" {
				r.report(fmt.Sprintf("%s[%d]", key, i), "must be a non-empty text, not "+describe(e), false)
			}
		}
		return x
	default:
		r.wrongType(key, "a list of texts", v)
	}
	return nil
}

// duration reads a Go duration such as "30s" or "72h"; it must be positive.
func (r *configReader) duration(key string, p presence) time.Duration {
	v, ok := r.present(key, p)
	if !ok {
		return 0
	}
	s, isStr := v.(string)
	if !isStr {
		r.wrongType(key, "a duration such as 30s or 10m", v)
		return 0
	}
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil || d <= 0 {
		r.report(key, fmt.Sprintf("must be a positive duration such as 30s or 10m, not %q", s), false)
		return 0
	}
	return d
}

// count reads a whole number from 1 to limit; absent, it is 1.
func (r *configReader) count(key string, limit int) int {
	v, ok := r.take(key)
	if !ok {
		return 1
	}
	var n float64
	switch x := v.(type) {
	case float64:
		n = x
	case int:
		n = float64(x)
	default:
		r.wrongType(key, "a whole number from 1", v)
		return 1
	}
	if n != math.Trunc(n) || n < 1 || n > float64(limit) {
		r.report(key, fmt.Sprintf("must be a whole number from 1 to %d, not %v", limit, n), false)
		return 1
	}
	return int(n)
}

// finish names the keys nobody read: a misspelt optional key would otherwise be silently
// ignored.
func (r *configReader) finish() {
	var unknown []string
	for k := range r.cfg {
		if !r.read[k] {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	known := slices.Sorted(maps.Keys(r.read))
	for _, k := range unknown {
		msg := "is not a setting of this step"
		if len(known) > 0 {
			msg += " (expected one of: " + strings.Join(known, ", ") + ")"
		}
		r.report(k, msg, false)
	}
}

// describe names a JSON value's type for a message.
func describe(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "text"
	case float64, int, int64:
		return "a number"
	case bool:
		return "true/false"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// reservedNames cannot name variables: the built-ins every run has, and the words of the
// expression language.
var reservedNames = []string{
	"initiator", "run", "now",
	"true", "false", "nil", "in", "not", "and", "or", "matches", "contains", "startsWith",
	"endsWith", "let", "if", "else",
}

// nameProblem says why s cannot name a variable, or "".
func nameProblem(s string) string {
	switch {
	case !isIdentifier(s):
		return fmt.Sprintf("%q cannot name a variable: use letters, digits and _, not starting with a digit", s)
	case slices.Contains(reservedNames, s):
		return fmt.Sprintf("%q is reserved and cannot name a variable", s)
	}
	return ""
}
