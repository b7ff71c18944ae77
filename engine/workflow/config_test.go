package workflow

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// step decodes a step from JSON, as a stored definition would give it.
func step(t *testing.T, doc string) *Step {
	t.Helper()
	s := new(Step)
	if err := json.Unmarshal([]byte(doc), s); err != nil {
		t.Fatalf("bad test step %s: %v", doc, err)
	}
	return s
}

func TestConnectorConfig(t *testing.T) {
	s := step(t, `{"id": "ad", "type": "connector", "config": {
		"connectorId": "Active Directory", "command": "createAccount",
		"params": {"username": "{{username}}", "enabled": true},
		"output": "adAccount", "mock": false,
		"retry": {"maxAttempts": 3, "backoff": "exponential"}, "timeout": "30s"}}`)
	got, err := s.ConnectorConfig()
	if err != nil {
		t.Fatal(err)
	}
	mock := false
	want := ConnectorConfig{
		ConnectorID: "Active Directory", Command: "createAccount",
		Params: map[string]any{"username": "{{username}}", "enabled": true},
		Output: "adAccount", Mock: &mock,
		Retry:   RetryPolicy{MaxAttempts: 3, Backoff: BackoffExponential},
		Timeout: 30 * time.Second,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ConnectorConfig = %+v, want %+v", got, want)
	}

	minimal, err := step(t, `{"id": "x", "type": "connector", "config": {"connectorId": "c", "command": "ping"}}`).ConnectorConfig()
	if err != nil {
		t.Fatal(err)
	}
	if minimal.Mock != nil || minimal.Retry != (RetryPolicy{MaxAttempts: 1}) || minimal.Timeout != 0 || minimal.Params != nil {
		t.Errorf("defaults: %+v", minimal)
	}
	retryOnly, err := step(t, `{"id": "x", "type": "connector", "config": {"connectorId": "c", "command": "ping", "retry": {"backoff": "fixed"}}}`).ConnectorConfig()
	if err != nil || retryOnly.Retry != (RetryPolicy{MaxAttempts: 1, Backoff: BackoffFixed}) {
		t.Errorf("retry without maxAttempts: %+v %v", retryOnly.Retry, err)
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	tests := []struct {
		name string
		step string
		read func(*Step) error
		want []string
	}{
		{"retry not a whole number", `{"id": "a", "type": "connector", "config": {"connectorId": "c", "command": "x", "retry": {"maxAttempts": 1.5}}}`,
			func(s *Step) error { _, err := s.ConnectorConfig(); return err },
			[]string{"config.retry.maxAttempts: must be a whole number from 1 to 100, not 1.5"}},
		{"retry zero", `{"id": "a", "type": "connector", "config": {"connectorId": "c", "command": "x", "retry": {"maxAttempts": 0}}}`,
			func(s *Step) error { _, err := s.ConnectorConfig(); return err },
			[]string{"config.retry.maxAttempts: must be a whole number from 1 to 100, not 0"}},
		{"retry text", `{"id": "a", "type": "connector", "config": {"connectorId": "c", "command": "x", "retry": {"maxAttempts": "3"}}}`,
			func(s *Step) error { _, err := s.ConnectorConfig(); return err },
			[]string{"config.retry.maxAttempts: must be a whole number from 1, not text"}},
		{"backoff", `{"id": "a", "type": "connector", "config": {"connectorId": "c", "command": "x", "retry": {"backoff": "linear", "tries": 2}}}`,
			func(s *Step) error { _, err := s.ConnectorConfig(); return err },
			[]string{`config.retry.backoff: must be one of fixed, exponential, not "linear"`, "config.retry.tries: is not a setting of this step (expected one of: backoff, maxAttempts)"}},
		{"timeout and missing keys", `{"id": "a", "type": "connector", "config": {"timeout": "soon", "mock": "yes"}}`,
			func(s *Step) error { _, err := s.ConnectorConfig(); return err },
			[]string{"config.connectorId: is required", "config.command: is required", `config.timeout: must be a positive duration such as 30s or 10m, not "soon"`, "config.mock: must be true or false, not text"}},
		{"misspelt key", `{"id": "a", "type": "connector", "config": {"connectorId": "c", "command": "x", "timout": "3s"}}`,
			func(s *Step) error { _, err := s.ConnectorConfig(); return err },
			[]string{"config.timout: is not a setting of this step (expected one of: command, connectorId, mock, output, params, retry, timeout)"}},
		{"branch without when", `{"id": "c", "type": "condition", "config": {"branches": [{"name": "yes"}, "no"]}}`,
			func(s *Step) error { _, err := s.ConditionConfig(); return err },
			[]string{"config.branches[0].when: is required", "config.branches[1]: must be an object with name and when, not text"}},
		{"transform value not text", `{"id": "t", "type": "transform", "config": {"set": {"n": 1, "ok": "1"}}}`,
			func(s *Step) error { _, err := s.TransformConfig(); return err },
			[]string{"config.set.n: must be an expression (text), not a number"}},
		{"delay", `{"id": "d", "type": "delay", "config": {"duration": 10}}`,
			func(s *Step) error { _, err := s.DelayConfig(); return err },
			[]string{"config.duration: must be a duration such as 30s or 10m, not a number"}},
		{"negative delay", `{"id": "d", "type": "delay", "config": {"duration": "-1m"}}`,
			func(s *Step) error { _, err := s.DelayConfig(); return err },
			[]string{`config.duration: must be a positive duration such as 30s or 10m, not "-1m"`}},
		{"sub workflow", `{"id": "s", "type": "sub_workflow", "config": {"variables": []}}`,
			func(s *Step) error { _, err := s.SubWorkflowConfig(); return err },
			[]string{"config.workflowId: is required", "config.variables: must be an object, not a list"}},
		{"user create", `{"id": "u", "type": "user_create", "config": {"email": "x", "setAsSubject": "true"}}`,
			func(s *Step) error { _, err := s.UserCreateConfig(); return err },
			[]string{"config.setAsSubject: must be true or false, not text"}},
		{"profile update", `{"id": "p", "type": "profile_update", "config": {"userId": ""}}`,
			func(s *Step) error { _, err := s.ProfileUpdateConfig(); return err },
			[]string{"config.userId: is required", "config.fields: is required"}},
		{"notification", `{"id": "n", "type": "notification", "config": {"channel": "sms", "to": ["a@example.test", 7], "subject": 1}}`,
			func(s *Step) error { _, err := s.NotificationConfig(); return err },
			[]string{`config.channel: must be one of email, in_app, not "sms"`, "config.to[1]: must be a non-empty text, not a number",
				"config.subject: must be text, not a number", "config.body: is required"}},
		{"notification recipients", `{"id": "n", "type": "notification", "config": {"channel": "email", "to": {"a": 1}, "body": "b"}}`,
			func(s *Step) error { _, err := s.NotificationConfig(); return err },
			[]string{"config.to: must be a list of texts, not an object"}},
		{"wrong step type", `{"id": "p", "type": "delay", "config": {"duration": "1m"}}`,
			func(s *Step) error { _, err := s.ConnectorConfig(); return err },
			[]string{"step p is a delay step, not a connector step"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.read(step(t, tt.step))
			if err == nil {
				t.Fatal("no error")
			}
			var got []string
			var errs ValidationErrors
			if errors.As(err, &errs) {
				for _, e := range errs {
					got = append(got, e.Error())
				}
			} else {
				got = []string{err.Error()}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("errors:\n got %q\nwant %q", got, tt.want)
			}
			var fe *FieldError
			if len(errs) > 0 && (!errors.As(err, &fe) || !strings.HasPrefix(fe.Field, "config.")) {
				t.Errorf("errors.As(*FieldError) = %v", fe)
			}
		})
	}
}

func TestTypedConfigs(t *testing.T) {
	cond, err := step(t, `{"id": "c", "type": "condition", "config": {"branches": [{"name": "accepted", "when": "response == \"yes\""}], "default": "other"}}`).ConditionConfig()
	if err != nil || !reflect.DeepEqual(cond, ConditionConfig{Branches: []Branch{{"accepted", `response == "yes"`}}, Default: "other"}) {
		t.Errorf("ConditionConfig = %+v, %v", cond, err)
	}
	tr, err := step(t, `{"id": "t", "type": "transform", "config": {"set": {"username": "lower(firstName)"}}}`).TransformConfig()
	if err != nil || !reflect.DeepEqual(tr.Set, map[string]string{"username": "lower(firstName)"}) {
		t.Errorf("TransformConfig = %+v, %v", tr, err)
	}
	dl, err := step(t, `{"id": "d", "type": "delay", "config": {"duration": "10m"}}`).DelayConfig()
	if err != nil || dl.Duration != 10*time.Minute {
		t.Errorf("DelayConfig = %+v, %v", dl, err)
	}
	sw, err := step(t, `{"id": "s", "type": "sub_workflow", "config": {"workflowId": "w1", "variables": {"user": "{{targetUser}}"}}}`).SubWorkflowConfig()
	if err != nil || sw.WorkflowID != "w1" || sw.Variables["user"] != "{{targetUser}}" {
		t.Errorf("SubWorkflowConfig = %+v, %v", sw, err)
	}
	uc, err := step(t, `{"id": "u", "type": "user_create", "config": {"email": "{{email}}", "displayName": "{{name}}", "setAsSubject": true}}`).UserCreateConfig()
	if err != nil || uc != (UserCreateConfig{Email: "{{email}}", DisplayName: "{{name}}", SetAsSubject: true}) {
		t.Errorf("UserCreateConfig = %+v, %v", uc, err)
	}
	pu, err := step(t, `{"id": "p", "type": "profile_update", "config": {"userId": "{{user.id}}", "fields": {"managerId": "{{manager.id}}"}}}`).ProfileUpdateConfig()
	if err != nil || pu.UserID != "{{user.id}}" || pu.Fields["managerId"] != "{{manager.id}}" {
		t.Errorf("ProfileUpdateConfig = %+v, %v", pu, err)
	}
	nc, err := step(t, `{"id": "n", "type": "notification", "config": {"channel": "email", "to": ["{{initiator.email}}", "role:Admin"],
		"subject": "Run {{run.id}}", "body": "See {{run.diagnoseUrl}}", "connectorId": "Mail"}}`).NotificationConfig()
	want := NotificationConfig{Channel: ChannelEmail, To: []any{"{{initiator.email}}", "role:Admin"}, Subject: "Run {{run.id}}",
		Body: "See {{run.diagnoseUrl}}", ConnectorID: "Mail"}
	if err != nil || !reflect.DeepEqual(nc, want) {
		t.Errorf("NotificationConfig = %+v, %v", nc, err)
	}
	// One text is a template that yields the list at run time.
	nc, err = step(t, `{"id": "n", "type": "notification", "config": {"channel": "in_app", "to": "{{approvers}}", "body": "b"}}`).NotificationConfig()
	if err != nil || !reflect.DeepEqual(nc.To, []any{"{{approvers}}"}) || nc.Channel != ChannelInApp {
		t.Errorf("NotificationConfig with one text = %+v, %v", nc, err)
	}
	// Built in Go rather than decoded: ints work where JSON gives float64.
	goStep := &Step{ID: "g", Type: TypeConnector, Config: map[string]any{"connectorId": "c", "command": "x", "retry": map[string]any{"maxAttempts": 2}}}
	if c, err := goStep.ConnectorConfig(); err != nil || c.Retry.MaxAttempts != 2 {
		t.Errorf("Go-built config: %+v, %v", c, err)
	}
}
