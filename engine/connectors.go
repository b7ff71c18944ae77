package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"floh/connectors"
	"floh/db"
)

const (
	maxConnectorNameLen = 100
	maxDescriptionLen   = 1000
	// callTimeout bounds one connector call from the console; a run step sets its own.
	callTimeout = 2 * time.Minute
	testTimeout = 30 * time.Second
	// maxLoggedOutput caps what an execution log keeps of a command's output.
	maxLoggedOutput = 16 << 10
	// executionRetention is how long the Logs tab keeps calls.
	executionRetention = 30 * 24 * time.Hour
	// healthFailuresForDown is how many failed tests in a row mark a connector down.
	healthFailuresForDown = 2
)

// ConnectorTypes lists the connector types this server offers.
func (e *Engine) ConnectorTypes() []*connectors.Type { return e.registry.Types() }

// ConnectorType returns a registered type, or nil.
func (e *Engine) ConnectorType(name string) *connectors.Type { return e.registry.Type(name) }

// ConnectorInput creates or replaces a connector instance. On update, a secret config field
// that is absent, null or empty keeps its stored value: secrets are write-only, so forms and
// scripts cannot send them back.
type ConnectorInput struct {
	Name        string         `json:"name"`
	Type        string         `json:"type"`
	Description string         `json:"description"`
	Enabled     *bool          `json:"enabled"`
	Config      map[string]any `json:"config"`
	MockMode    bool           `json:"mockMode"`
	MockData    map[string]any `json:"mockData"`
}

// connectorState is what the audit log records of a connector: its public fields, never a
// secret value.
type connectorState struct {
	Name           string          `json:"name"`
	Type           string          `json:"type"`
	Description    string          `json:"description"`
	Enabled        bool            `json:"enabled"`
	Config         json.RawMessage `json:"config"`
	SecretsSet     []string        `json:"secretsSet"`
	MockMode       bool            `json:"mockMode"`
	MockData       json.RawMessage `json:"mockData"`
	SecretsChanged []string        `json:"secretsChanged,omitempty"`
}

func stateOf(c *db.Connector, changed []string) connectorState {
	return connectorState{
		Name: c.Name, Type: c.Type, Description: c.Description, Enabled: c.Enabled, Config: c.Config,
		SecretsSet: c.SecretFields, MockMode: c.MockMode, MockData: c.MockData, SecretsChanged: changed,
	}
}

// CreateConnector validates and stores a new instance. It never contacts the target.
func (e *Engine) CreateConnector(ctx context.Context, a Actor, in ConnectorInput) (*db.Connector, error) {
	now := e.now()
	c := &db.Connector{ID: uuid.New(), Enabled: true, HealthStatus: db.HealthUnknown, CreatedAt: now, UpdatedAt: now}
	changed, err := e.applyConnectorInput(c, in, nil)
	if err != nil {
		return nil, err
	}
	err = e.inTx(ctx, func(tx bun.Tx) error {
		if err := db.InsertConnector(ctx, tx, c); err != nil {
			return nameTaken(err, c.Name)
		}
		return e.audit(ctx, tx, a, "connector", c.ID.String(), "connector.created", nil, stateOf(c, changed))
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// UpdateConnector replaces an instance's name, description, enabled flag, config and mock
// settings. Its type cannot change.
func (e *Engine) UpdateConnector(ctx context.Context, a Actor, id uuid.UUID, in ConnectorInput) (*db.Connector, error) {
	var c *db.Connector
	err := e.inTx(ctx, func(tx bun.Tx) error {
		var err error
		if c, err = db.FindConnectorForUpdate(ctx, tx, id); err != nil {
			return err
		}
		if c.Deleted() {
			return Conflict("connector %s is deleted; restore it before changing it", c.Name)
		}
		if in.Type != "" && in.Type != c.Type {
			return Invalid("type", "cannot change from %s to %s; create a new connector instead", c.Type, in.Type)
		}
		in.Type = c.Type
		before := stateOf(c, nil)
		stored, err := e.openSecrets(c)
		if err != nil {
			// Keys changed without a rotation: the admin must type the secrets again, and
			// the message says so rather than calling them missing.
			v := &ValidationError{}
			for _, name := range c.SecretFields {
				if val, ok := in.Config[name]; !ok || val == nil || val == "" {
					v.Add("config."+name, "the stored value cannot be decrypted with FLOH_ENCRYPTION_KEY or FLOH_ENCRYPTION_KEY_PREVIOUS; enter it again")
				}
			}
			if err := v.Err(); err != nil {
				return err
			}
		}
		changed, err := e.applyConnectorInput(c, in, stored)
		if err != nil {
			return err
		}
		c.UpdatedAt = e.now()
		if err := db.UpdateConnector(ctx, tx, c); err != nil {
			return nameTaken(err, c.Name)
		}
		return e.audit(ctx, tx, a, "connector", c.ID.String(), "connector.updated", before, stateOf(c, changed))
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

func nameTaken(err error, name string) error {
	if db.IsUniqueViolation(err, db.ConnectorNameConstraint) {
		return Invalid("name", "a connector named %q already exists; choose another name", name)
	}
	return err
}

// applyConnectorInput validates in against its type and writes it into c, sealing the secrets.
// stored holds the current secret values (nil when creating). It returns the names of the
// secret fields given new values.
func (e *Engine) applyConnectorInput(c *db.Connector, in ConnectorInput, stored map[string]any) ([]string, error) {
	v := &ValidationError{}
	name := validateText(v, "name", in.Name, maxConnectorNameLen)
	if name == "" {
		v.Add("name", "is required")
	}
	description := validateText(v, "description", in.Description, maxDescriptionLen)
	t := e.registry.Type(in.Type)
	if t == nil {
		if in.Type == "" {
			v.Add("type", "is required")
		} else {
			v.Add("type", "%q is not a connector type; choose one of %s", in.Type, strings.Join(e.registry.Names(), ", "))
		}
		return nil, v
	}
	secretNames := t.SecretFields()
	merged := make(connectors.Config, len(in.Config)+len(stored))
	var changed []string
	for k, val := range in.Config {
		if slices.Contains(secretNames, k) && (val == nil || val == "") {
			continue
		}
		merged[k] = val
		if slices.Contains(secretNames, k) {
			changed = append(changed, k)
		}
	}
	for k, val := range stored {
		if _, given := merged[k]; !given && slices.Contains(secretNames, k) {
			merged[k] = val
		}
	}
	checked, problems := connectors.CheckConfig(t, merged)
	for _, p := range problems {
		v.Add("config."+p.Field, "%s", p.Message)
	}
	mockData := validateMockData(v, t, in.MockData)
	if err := v.Err(); err != nil {
		return nil, err
	}

	public := map[string]any{}
	secrets := map[string]any{}
	for k, val := range checked {
		if slices.Contains(secretNames, k) {
			secrets[k] = val
		} else {
			public[k] = val
		}
	}
	c.Name, c.Type, c.Description, c.MockMode = name, t.Name, description, in.MockMode
	if in.Enabled != nil {
		c.Enabled = *in.Enabled
	}
	var err error
	if c.Config, err = json.Marshal(public); err != nil {
		return nil, fmt.Errorf("marshal connector config: %w", err)
	}
	if c.MockData, err = json.Marshal(mockData); err != nil {
		return nil, fmt.Errorf("marshal mock data: %w", err)
	}
	c.SecretFields = append([]string{}, slices.Sorted(maps.Keys(secrets))...)
	c.Secrets, c.SecretsKeyID = nil, nil
	if len(secrets) > 0 {
		plain, err := json.Marshal(secrets)
		if err != nil {
			return nil, fmt.Errorf("marshal connector secrets: %w", err)
		}
		sealed, keyID := e.secrets.seal(plain, c.ID.String())
		c.Secrets, c.SecretsKeyID = sealed, &keyID
	}
	slices.Sort(changed)
	return changed, nil
}

// validateMockData checks mock data has the shape {"<command>": {"outputs": {...}}} or
// {"<command>": {"error": {"class", "code", "message"}}} for commands of the type.
func validateMockData(v *ValidationError, t *connectors.Type, data map[string]any) map[string]any {
	if data == nil {
		return map[string]any{}
	}
	for name, entry := range data {
		field := "mockData." + name
		if t.Command(name) == nil {
			v.Add(field, "%q is not a command of %s", name, t.Label)
			continue
		}
		m, ok := entry.(map[string]any)
		if !ok {
			v.Add(field, `must be {"outputs": {...}} or {"error": {"class": ..., "message": ...}}`)
			continue
		}
		outputs, hasOutputs := m["outputs"]
		errEntry, hasError := m["error"]
		switch {
		case hasOutputs == hasError || len(m) != 1:
			v.Add(field, `must have exactly one key: "outputs" or "error"`)
		case hasOutputs:
			if _, ok := outputs.(map[string]any); !ok {
				v.Add(field+".outputs", "must be an object")
			}
		default:
			em, ok := errEntry.(map[string]any)
			if !ok {
				v.Add(field+".error", "must be an object with class, code and message")
				continue
			}
			class, _ := em["class"].(string)
			if !connectors.Class(class).Valid() {
				v.Add(field+".error.class", "must be one of %s", classList())
			}
			if msg, _ := em["message"].(string); strings.TrimSpace(msg) == "" {
				v.Add(field+".error.message", "is required")
			}
		}
	}
	return data
}

func classList() string {
	names := make([]string, len(connectors.Classes))
	for i, c := range connectors.Classes {
		names[i] = string(c)
	}
	return strings.Join(names, ", ")
}

// openSecrets decrypts a connector's secret fields.
func (e *Engine) openSecrets(c *db.Connector) (map[string]any, error) {
	if c.Secrets == nil || c.SecretsKeyID == nil {
		return map[string]any{}, nil
	}
	plain, err := e.secrets.open(c.Secrets, *c.SecretsKeyID, c.ID.String())
	if err != nil {
		return nil, fmt.Errorf("connector %s secrets: %w", c.Name, err)
	}
	out := map[string]any{}
	if err := json.Unmarshal(plain, &out); err != nil {
		return nil, fmt.Errorf("connector %s secrets: %w", c.Name, err)
	}
	return out, nil
}

// DeleteConnector soft-deletes an instance; it can be restored.
func (e *Engine) DeleteConnector(ctx context.Context, a Actor, id uuid.UUID) (*db.Connector, error) {
	var c *db.Connector
	err := e.inTx(ctx, func(tx bun.Tx) error {
		var err error
		if c, err = db.FindConnectorForUpdate(ctx, tx, id); err != nil {
			return err
		}
		if c.Deleted() {
			return Conflict("connector %s is already deleted", c.Name)
		}
		before := stateOf(c, nil)
		now := e.now()
		c.DeletedAt, c.UpdatedAt = &now, now
		if err := db.UpdateConnector(ctx, tx, c); err != nil {
			return err
		}
		return e.audit(ctx, tx, a, "connector", c.ID.String(), "connector.deleted", before, nil)
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// RestoreConnector undoes a soft delete, unless another live connector took its name.
func (e *Engine) RestoreConnector(ctx context.Context, a Actor, id uuid.UUID) (*db.Connector, error) {
	var c *db.Connector
	err := e.inTx(ctx, func(tx bun.Tx) error {
		var err error
		if c, err = db.FindConnectorForUpdate(ctx, tx, id); err != nil {
			return err
		}
		if !c.Deleted() {
			return Conflict("connector %s is not deleted", c.Name)
		}
		c.DeletedAt, c.UpdatedAt = nil, e.now()
		if err := db.UpdateConnector(ctx, tx, c); err != nil {
			if db.IsUniqueViolation(err, db.ConnectorNameConstraint) {
				return Conflict("another connector is now named %q; rename it before restoring this one", c.Name)
			}
			return err
		}
		return e.audit(ctx, tx, a, "connector", c.ID.String(), "connector.restored", nil, stateOf(c, nil))
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// FindConnector loads an instance, deleted or not.
func (e *Engine) FindConnector(ctx context.Context, id uuid.UUID) (*db.Connector, error) {
	return db.FindConnector(ctx, e.db.Bun, id)
}

// ListConnectors returns one page of instances.
func (e *Engine) ListConnectors(ctx context.Context, f db.ConnectorFilter) ([]db.Connector, int, error) {
	return db.ListConnectors(ctx, e.db.Bun, f)
}

// ListExecutions returns one page of an instance's recent calls.
func (e *Engine) ListExecutions(ctx context.Context, id uuid.UUID, p db.Page) ([]db.Execution, int, error) {
	if _, err := db.FindConnector(ctx, e.db.Bun, id); err != nil {
		return nil, 0, err
	}
	return db.ListExecutions(ctx, e.db.Bun, id, p)
}

// RotateResult reports a key rotation.
type RotateResult struct {
	Total   int             `json:"total"`
	Rotated int             `json:"rotated"`
	Skipped int             `json:"skipped"`
	Failed  []RotateFailure `json:"failed"`
}

// RotateFailure names a connector whose secrets neither key opens.
type RotateFailure struct {
	ID      uuid.UUID `json:"id"`
	Name    string    `json:"name"`
	Message string    `json:"message"`
}

// RotateConnectorKeys re-seals every connector's secrets with the current key. Secrets already
// under it are skipped; ones neither key opens are reported and left as they are, so a
// mistaken key never destroys anything.
func (e *Engine) RotateConnectorKeys(ctx context.Context, a Actor) (RotateResult, error) {
	res := RotateResult{Failed: []RotateFailure{}}
	err := e.inTx(ctx, func(tx bun.Tx) error {
		cs, err := db.ListConnectorsWithSecrets(ctx, tx)
		if err != nil {
			return err
		}
		res.Total = len(cs)
		for i := range cs {
			c := &cs[i]
			if *c.SecretsKeyID == e.secrets.current.id {
				res.Skipped++
				continue
			}
			plain, err := e.secrets.open(c.Secrets, *c.SecretsKeyID, c.ID.String())
			if err != nil {
				res.Failed = append(res.Failed, RotateFailure{ID: c.ID, Name: c.Name, Message: err.Error()})
				continue
			}
			sealed, keyID := e.secrets.seal(plain, c.ID.String())
			c.Secrets, c.SecretsKeyID = sealed, &keyID
			if err := db.UpdateConnector(ctx, tx, c); err != nil {
				return err
			}
			res.Rotated++
			if err := e.audit(ctx, tx, a, "connector", c.ID.String(), "connector.keys_rotated", nil, map[string]string{"name": c.Name}); err != nil {
				return err
			}
		}
		return nil
	})
	return res, err
}

// instantiate builds a live connector from a stored instance.
func (e *Engine) instantiate(c *db.Connector) (connectors.Connector, *connectors.Type, error) {
	t := e.registry.Type(c.Type)
	if t == nil {
		return nil, nil, connectors.Errorf(connectors.InvalidInput, "UNKNOWN_TYPE", "connector type %q is not available in this version of Floh", c.Type)
	}
	cfg := connectors.Config{}
	if err := json.Unmarshal(c.Config, &cfg); err != nil {
		return nil, t, fmt.Errorf("connector %s config: %w", c.Name, err)
	}
	secrets, err := e.openSecrets(c)
	if err != nil {
		return nil, t, connectors.Wrap(err, connectors.InvalidInput, "SECRETS_UNREADABLE",
			"the stored secrets of %s cannot be decrypted with the configured keys; enter them again on its Configuration tab", c.Name)
	}
	maps.Copy(cfg, secrets)
	checked, problems := connectors.CheckConfig(t, cfg)
	if len(problems) > 0 {
		return nil, t, &connectors.Error{Class: connectors.InvalidInput, Code: "INVALID_CONFIG", Field: problems[0].Field,
			Message: fmt.Sprintf("the configuration of %s is invalid: %s: %s", c.Name, problems[0].Field, problems[0].Message)}
	}
	conn, err := t.New(checked)
	if err != nil {
		return nil, t, connectors.Wrap(err, connectors.InvalidInput, "INVALID_CONFIG", "the configuration of %s is invalid: %v", c.Name, err)
	}
	return conn, t, nil
}

// ExecuteInput is one command call from the console or a script.
type ExecuteInput struct {
	Command string         `json:"command"`
	Params  map[string]any `json:"params"`
	// UseMock overrides the connector's and the system's mock setting for this call.
	UseMock *bool `json:"useMock"`
}

// ExecuteResult is the outcome of one call. A failed command is a result, not an error.
type ExecuteResult struct {
	Success bool           `json:"success"`
	Data    map[string]any `json:"data,omitempty"`
	// OutputVariables are the declared outputs of the command, what a run step may bind.
	OutputVariables map[string]any    `json:"outputVariables,omitempty"`
	Error           *connectors.Error `json:"error,omitempty"`
	DurationMS      int64             `json:"durationMs"`
	Mock            bool              `json:"mock"`
}

// Execution sources, recorded in the Logs tab.
const (
	SourceConsole = "console"
	SourceTest    = "test"
	SourceHealth  = "health"
	SourceRun     = "run"
)

// ExecuteConnector runs one command on an instance. Params are checked against the command's
// schema before any call; mock mode answers from the instance's mock data. Every call is
// recorded, sanitised, in the execution log.
func (e *Engine) ExecuteConnector(ctx context.Context, a Actor, id uuid.UUID, in ExecuteInput, source string) (*ExecuteResult, error) {
	c, err := db.FindConnector(ctx, e.db.Bun, id)
	if err != nil {
		return nil, err
	}
	if c.Deleted() {
		return nil, Conflict("connector %s is deleted; restore it before calling it", c.Name)
	}
	t := e.registry.Type(c.Type)
	if t == nil {
		return nil, Conflict("connector type %q is not available in this version of Floh", c.Type)
	}
	cmd := t.Command(in.Command)
	if cmd == nil {
		names := make([]string, len(t.Commands))
		for i, c := range t.Commands {
			names[i] = c.Name
		}
		if in.Command == "" {
			return nil, Invalid("command", "is required")
		}
		return nil, Invalid("command", "%q is not a command of %s; choose one of %s", in.Command, t.Label, strings.Join(names, ", "))
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	res, x := e.executeCommand(ctx, a, c, cmd, in.Params, in.UseMock, source)
	e.insertExecution(ctx, x)
	return res, nil
}

// executeCommand checks params against the command's schema and makes the call, or answers
// it from mock data, and returns its entry for the execution log, which the caller writes:
// a run's step writes it in the transaction that records the step's result. useMock, when
// set, overrides the instance's and the system's mock setting. ctx bounds the call.
func (e *Engine) executeCommand(ctx context.Context, a Actor, c *db.Connector, cmd *connectors.Command, in map[string]any, useMock *bool, source string) (*ExecuteResult, *db.Execution) {
	mock := e.mockAll || c.MockMode
	if useMock != nil {
		mock = *useMock
	}
	started := e.clock.Now()
	res := &ExecuteResult{Mock: mock}
	params, cerr := connectors.CheckParams(cmd, in)
	var out map[string]any
	switch {
	case cerr != nil:
	case !c.Enabled:
		cerr = connectors.Errorf(connectors.ConnectorDown, "DISABLED", "connector %s is disabled; enable it on its Configuration tab", c.Name)
	case mock:
		out, cerr = mockCall(c, cmd)
	default:
		out, cerr = e.call(ctx, c, cmd.Name, params)
	}
	res.DurationMS = e.clock.Since(started).Milliseconds()
	if cerr != nil {
		res.Error = connectors.Classify(cerr)
	} else {
		res.Success, res.Data = true, out
		res.OutputVariables = map[string]any{}
		for _, o := range cmd.Outputs {
			if v, ok := out[o.Name]; ok {
				res.OutputVariables[o.Name] = v
			}
		}
	}
	return res, e.execution(c.ID, a, source, cmd.Name, connectors.Sanitize(cmd, in), res)
}

// call makes the one real attempt at a command; ctx bounds it.
func (e *Engine) call(ctx context.Context, c *db.Connector, command string, params map[string]any) (map[string]any, error) {
	conn, _, err := e.instantiate(c)
	if err != nil {
		return nil, err
	}
	out, err := conn.Execute(ctx, command, params)
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = map[string]any{}
	}
	return out, nil
}

// mockCall answers a command from the instance's mock data; a command without mock data
// answers the declared outputs with placeholder values, so a mocked run still flows.
func mockCall(c *db.Connector, cmd *connectors.Command) (map[string]any, error) {
	var data map[string]struct {
		Outputs map[string]any    `json:"outputs"`
		Error   *connectors.Error `json:"error"`
	}
	if err := json.Unmarshal(c.MockData, &data); err != nil {
		return nil, fmt.Errorf("mock data of %s: %w", c.Name, err)
	}
	entry, ok := data[cmd.Name]
	switch {
	case ok && entry.Error != nil:
		return nil, entry.Error
	case ok:
		return entry.Outputs, nil
	}
	out := map[string]any{}
	for _, o := range cmd.Outputs {
		switch o.Kind {
		case connectors.KindBoolean:
			out[o.Name] = true
		case connectors.KindInteger:
			out[o.Name] = 0
		case connectors.KindStringList, connectors.KindArray:
			out[o.Name] = []any{}
		case connectors.KindObject:
			out[o.Name] = map[string]any{}
		default:
			out[o.Name] = "mock-" + o.Name
		}
	}
	return out, nil
}

// recordExecution logs a call. A failure to log must not turn a completed call into an error
// (the target has already changed), so it is logged and dropped.
func (e *Engine) recordExecution(ctx context.Context, id uuid.UUID, a Actor, source, command string, params map[string]any, res *ExecuteResult) {
	e.insertExecution(ctx, e.execution(id, a, source, command, params, res))
}

// insertExecution writes an execution log entry on its own; a failure is logged, not
// returned, as the call it records has happened either way.
func (e *Engine) insertExecution(ctx context.Context, x *db.Execution) {
	if err := db.InsertExecution(context.WithoutCancel(ctx), e.db.Bun, x); err != nil {
		e.log.Error("record connector execution", "connector_id", x.ConnectorID, "command", x.Command, "error", err)
	}
}

// execution is the execution log entry of a call, its output bounded.
func (e *Engine) execution(id uuid.UUID, a Actor, source, command string, params map[string]any, res *ExecuteResult) *db.Execution {
	x := &db.Execution{
		ConnectorID: id, At: e.now(), Source: source, Actor: a.Label, Command: command,
		Mock: res.Mock, Success: res.Success, DurationMS: int(res.DurationMS),
	}
	var err error
	if x.Params, err = json.Marshal(params); err != nil {
		x.Params = json.RawMessage(`{}`)
	}
	if res.Data != nil {
		if out, err := json.Marshal(res.Data); err == nil {
			if len(out) > maxLoggedOutput {
				out, _ = json.Marshal(map[string]any{"truncated": true, "bytes": len(out)})
			}
			x.Output = out
		}
	}
	if res.Error != nil {
		x.Error, _ = json.Marshal(res.Error)
	}
	return x
}

// TestOutcome is the result of a connector test.
type TestOutcome struct {
	Success    bool              `json:"success"`
	Message    string            `json:"message"`
	DurationMS int64             `json:"durationMs"`
	Data       map[string]any    `json:"data,omitempty"`
	Error      *connectors.Error `json:"error,omitempty"`
	Mock       bool              `json:"mock,omitempty"`
}

// TestConnector checks an instance's connection and credentials without changing anything,
// and feeds the result into its health.
func (e *Engine) TestConnector(ctx context.Context, a Actor, id uuid.UUID, source string) (*TestOutcome, error) {
	c, err := db.FindConnector(ctx, e.db.Bun, id)
	if err != nil {
		return nil, err
	}
	if c.Deleted() {
		return nil, Conflict("connector %s is deleted; restore it before testing it", c.Name)
	}
	out := &TestOutcome{}
	if e.mockAll || c.MockMode {
		out.Success, out.Mock = true, true
		out.Message = "Mock mode is on: Floh did not contact the target. Turn mock mode off to test the connection."
		e.recordExecution(ctx, c.ID, a, source, "test", map[string]any{}, &ExecuteResult{Success: true, Mock: true})
		return out, nil
	}
	started := e.clock.Now()
	var cerr error
	if !c.Enabled {
		cerr = connectors.Errorf(connectors.ConnectorDown, "DISABLED", "connector %s is disabled; enable it on its Configuration tab", c.Name)
	} else if conn, _, err := e.instantiate(c); err != nil {
		cerr = err
	} else {
		tctx, cancel := context.WithTimeout(ctx, testTimeout)
		var r connectors.TestResult
		r, cerr = conn.Test(tctx)
		cancel()
		out.Message, out.Data = r.Message, r.Data
	}
	out.DurationMS = e.clock.Since(started).Milliseconds()
	if cerr != nil {
		out.Error = connectors.Classify(cerr)
		out.Message = out.Error.Message
	} else {
		out.Success = true
	}
	e.recordExecution(ctx, c.ID, a, source, "test", map[string]any{},
		&ExecuteResult{Success: out.Success, Data: out.Data, Error: out.Error, DurationMS: out.DurationMS})
	if c.Enabled {
		if err := e.recordHealth(ctx, c.ID, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// recordHealth applies a test result to the connector's health: two failures in a row mark it
// down, open an incident and tell the admins; the first success after that records a
// recovery and moves the incident to monitoring.
func (e *Engine) recordHealth(ctx context.Context, id uuid.UUID, out *TestOutcome) error {
	var (
		c                *db.Connector
		wentDown, cameUp bool
		lastErr          json.RawMessage
	)
	if out.Error != nil {
		lastErr, _ = json.Marshal(out.Error)
	}
	err := e.inTx(ctx, func(tx bun.Tx) error {
		var err error
		if c, err = db.FindConnectorForUpdate(ctx, tx, id); err != nil {
			return err
		}
		now := e.now()
		ms := int(out.DurationMS)
		c.LastTestAt, c.LastTestOK, c.LastTestMS = &now, &out.Success, &ms
		if out.Success {
			cameUp = c.HealthStatus == db.HealthDown
			if c.HealthStatus != db.HealthHealthy {
				c.HealthStatus, c.HealthSince = db.HealthHealthy, &now
			}
			c.HealthFailures, c.LastError = 0, nil
		} else {
			c.HealthFailures++
			c.LastError = lastErr
			if c.HealthFailures >= healthFailuresForDown && c.HealthStatus != db.HealthDown {
				c.HealthStatus, c.HealthSince, wentDown = db.HealthDown, &now, true
			}
		}
		return db.UpdateConnector(ctx, tx, c)
	})
	if err != nil {
		return err
	}
	subject := db.Subject{Kind: "connector", ID: c.ID.String(), Name: c.Name}
	switch {
	case wentDown:
		msg := fmt.Sprintf("Connector %s is down: %s", c.Name, out.Error.Message)
		if _, err := e.RecordEvent(ctx, db.Event{SubType: "connector_health", Action: "failed", Severity: "critical",
			Subject: subject, Message: msg, Data: lastErr}); err != nil {
			return err
		}
		_, err = e.ReportFailure(ctx, Failure{
			Kind: "connector_health", Severity: "critical", Subject: subject,
			Title: "Connector " + c.Name + " is down", Message: msg, Data: out.Error,
			Link: "/connectors/" + c.ID.String() + "?tab=test",
		})
		return err
	case cameUp:
		msg := fmt.Sprintf("Connector %s recovered: %s", c.Name, out.Message)
		if _, err := e.RecordEvent(ctx, db.Event{SubType: "connector_health", Action: "recovered", Severity: "info",
			Subject: subject, Message: msg, Data: json.RawMessage(`{}`)}); err != nil {
			return err
		}
		_, err = e.ReportRecovery(ctx, "connector_health", subject, msg)
		return err
	}
	return nil
}

// CheckConnectorHealth tests the enabled connectors whose last health check is older than the
// interval, and returns how many it tested. Replicas share the work through the claim query.
func (e *Engine) CheckConnectorHealth(ctx context.Context) (int, error) {
	if e.mockAll {
		// Nothing is contacted in system mock mode, so there is no health to learn.
		return 0, nil
	}
	now := e.now()
	// Claim slightly early so a check that ran a little late does not skip a whole interval.
	ids, err := db.ClaimConnectorsForHealthCheck(ctx, e.db.Bun, now, now.Add(-e.healthInterval*9/10))
	if err != nil {
		return 0, err
	}
	var errs []error
	for _, id := range ids {
		if _, err := e.TestConnector(ctx, Actor{Label: "system"}, id, SourceHealth); err != nil {
			errs = append(errs, err)
		}
	}
	return len(ids), errors.Join(errs...)
}
