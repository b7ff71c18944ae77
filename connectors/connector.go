// Package connectors is the contract between Floh and the systems where people need accounts.
// A Type declares its configuration schema and its commands; an instance of it (a Connector)
// makes exactly one attempt per call and returns failures as a classified *Error. Retrying,
// mocking, logging and secrets belong to the engine, never to a connector.
//
// Each system lives in its own sub-package (connectors/ldap, connectors/authifi, ...), which
// imports only this package and its client libraries and exports a Type for the registry.
package connectors

import (
	"context"
	"strings"
	"time"
	"unicode"
)

// Kind is the type of a config field, a command param or an output.
type Kind string

const (
	KindString     Kind = "string"
	KindText       Kind = "text" // a multi-line string, e.g. a PEM certificate
	KindInteger    Kind = "integer"
	KindBoolean    Kind = "boolean"
	KindStringList Kind = "stringList" // a JSON array of strings
	KindObject     Kind = "object"     // a JSON object
	KindArray      Kind = "array"      // a JSON array of anything (e.g. SCIM PATCH operations)
	KindDuration   Kind = "duration"   // a Go duration string such as "30s" or "5m"
)

// Field describes one config field or command param.
type Field struct {
	Name     string `json:"name"`
	Label    string `json:"label"`
	Kind     Kind   `json:"type"`
	Required bool   `json:"required"`
	// Secret values are write-only: encrypted at rest when they are config, masked in execution
	// logs and timelines when they are params, and never returned.
	Secret  bool     `json:"secret,omitempty"`
	Enum    []string `json:"enum,omitempty"`
	Default any      `json:"default,omitempty"`
	Help    string   `json:"help,omitempty"`
	// Placeholder is an example value shown in empty form fields.
	Placeholder string `json:"placeholder,omitempty"`
}

// Output is one value a command returns.
type Output struct {
	Name string `json:"name"`
	Kind Kind   `json:"type"`
	Help string `json:"help,omitempty"`
}

// CommandRef names a command of a connector type.
type CommandRef struct {
	Type    string `json:"type"`
	Command string `json:"command"`
}

// Compensation says how to undo a mutating command during a rollback.
//
// Either Command with Params undoes it (Params maps each param of the compensating command to
// a template over the original call: "{{params.username}}" or "{{outputs.id}}"), or
// SubsumedBy names a command of the same type whose compensation already undoes this one on
// the same subject (setPassword is undone by deleting the account). Precedes orders
// compensations across systems: this command's compensation must run before the listed ones
// (unlinking an Authifi identity before deleting the AD account it points to).
type Compensation struct {
	Command    string            `json:"command,omitempty"`
	Params     map[string]string `json:"params,omitempty"`
	SubsumedBy string            `json:"subsumedBy,omitempty"`
	Precedes   []CommandRef      `json:"precedes,omitempty"`
}

// Command is one operation of a connector type.
type Command struct {
	Name        string   `json:"name"`
	Label       string   `json:"label"`
	Description string   `json:"description"`
	Params      []Field  `json:"params"`
	Outputs     []Output `json:"outputs"`
	// Mutating commands change the target. Where it depends on the params (an HTTP GET does
	// not, a POST does), Mutating is true and MutatingWhen says when, for IsMutating.
	Mutating     bool                             `json:"mutating"`
	MutatingNote string                           `json:"mutatingNote,omitempty"`
	MutatingWhen func(params map[string]any) bool `json:"-"`
	// SyncCapable names the resource type ("user" or "group") this command lists page by page.
	SyncCapable  string        `json:"syncCapable,omitempty"`
	Compensation *Compensation `json:"compensation,omitempty"`
}

// IsMutating reports whether a call with these params changes the target.
func (c *Command) IsMutating(params map[string]any) bool {
	if c.MutatingWhen != nil {
		return c.MutatingWhen(params)
	}
	return c.Mutating
}

// Param returns the param named name, or nil.
func (c *Command) Param(name string) *Field {
	for i := range c.Params {
		if c.Params[i].Name == name {
			return &c.Params[i]
		}
	}
	return nil
}

// Type is a kind of connector: its schema, commands and constructor.
type Type struct {
	Name        string    `json:"name"`
	Label       string    `json:"label"`
	Description string    `json:"description"`
	Config      []Field   `json:"configSchema"`
	Commands    []Command `json:"commands"`
	// Validate checks what the schema cannot express (a URL scheme, a combination of fields).
	// It never contacts the target. It runs after the schema check passed.
	Validate func(cfg Config) []FieldError `json:"-"`
	// New builds a connector from a validated config with secrets decrypted. It never contacts
	// the target either: connections are made per call.
	New func(cfg Config) (Connector, error) `json:"-"`
}

// Command returns the command named name, or nil.
func (t *Type) Command(name string) *Command {
	for i := range t.Commands {
		if t.Commands[i].Name == name {
			return &t.Commands[i]
		}
	}
	return nil
}

// SecretFields lists the names of the config fields that are secret.
func (t *Type) SecretFields() []string {
	var names []string
	for _, f := range t.Config {
		if f.Secret {
			names = append(names, f.Name)
		}
	}
	return names
}

// Config is an instance's configuration as the connector sees it: decoded JSON values
// (string, float64, bool, []any, map[string]any) with secrets in clear text. Defaults from the
// schema are filled in by CheckConfig.
type Config map[string]any

// String returns a string value, or "" when absent.
func (c Config) String(name string) string {
	s, _ := c[name].(string)
	return s
}

// Bool returns a boolean value, or false when absent.
func (c Config) Bool(name string) bool {
	b, _ := c[name].(bool)
	return b
}

// Int returns an integer value, or 0 when absent.
func (c Config) Int(name string) int {
	switch v := c[name].(type) {
	case float64:
		return int(v)
	case int:
		return v
	case int64:
		return int(v)
	}
	return 0
}

// Connector is a configured instance of a Type.
type Connector interface {
	// Test checks the connection and credentials without changing anything, and returns a
	// sentence for the admin ("Bound as cn=admin,dc=example,dc=test; 1,204 users under ...")
	// with optional details.
	Test(ctx context.Context) (TestResult, error)
	// Execute runs one command once with params already checked by CheckParams (defaults
	// filled in). Failures are *Error values; anything else is classified by Classify.
	Execute(ctx context.Context, command string, params map[string]any) (map[string]any, error)
}

// TestResult is what a successful Test reports.
type TestResult struct {
	Message string         `json:"message"`
	Data    map[string]any `json:"data,omitempty"`
}

// Lister is implemented by connectors with sync-capable commands. List streams the resources
// page by page, so memory stays flat however large the directory; it stops at the first error
// from yield and returns it.
type Lister interface {
	List(ctx context.Context, resourceType string, opts ListOptions, yield func(Page) error) error
}

// RecordGetter is implemented by connectors whose listed resources can be fetched one at a
// time by their external id.
//
// GetRecord returns the Record that List yields for that resource: the same fields, attribute
// keys and value shapes, so a record synced alone hashes as it would in a full run. What the
// connector's own configuration keeps out of a listing (an LDAP userFilter, a base DN) is kept
// out here too, as not found. Failures are *Error values; two are part of the contract:
//   - a resource that is gone upstream, or outside the listing, is class NotFound with code
//     CodeRecordNotFound and a message naming the id. Only that code says the record is gone:
//     a NotFound with another code is something else missing (an Authifi tenant), which must
//     not stale the record;
//   - an id that cannot be one of this connector's ids (a malformed GUID) is class
//     InvalidInput with code CodeInvalidExternalID and Field "externalId", found before any call.
type RecordGetter interface {
	GetRecord(ctx context.Context, resourceType, externalID string) (Record, error)
}

// The codes of GetRecord's contractual failures.
const (
	CodeRecordNotFound    = "RECORD_NOT_FOUND"
	CodeInvalidExternalID = "INVALID_EXTERNAL_ID"
)

// RecordNotFound is GetRecord's error for a resource that is not there; the message names the
// id and where it was looked for.
func RecordNotFound(format string, args ...any) *Error {
	return Errorf(NotFound, CodeRecordNotFound, format, args...)
}

// InvalidExternalID is GetRecord's error for an id the connector could never have listed.
func InvalidExternalID(format string, args ...any) *Error {
	e := Errorf(InvalidInput, CodeInvalidExternalID, format, args...)
	e.Field = "externalId"
	return e
}

// CheckPathID checks an external id that a connector puts into a URL as one path segment
// (GET /Users/{id}): it must be non-empty, hold no control characters, and not be "." or "..",
// which URL resolution would turn into another resource. Any other string is escaped as a
// segment and left to the target to find or not.
func CheckPathID(resourceType, externalID string) *Error {
	switch {
	case strings.TrimSpace(externalID) == "":
		return InvalidExternalID("externalId is empty: give the id of the %s as the connector lists it", resourceType)
	case externalID == "." || externalID == "..":
		return InvalidExternalID("externalId %q cannot be the id of a %s", externalID, resourceType)
	case strings.ContainsFunc(externalID, unicode.IsControl):
		return InvalidExternalID("externalId %q holds control characters, which no %s id has", externalID, resourceType)
	}
	return nil
}

// ListOptions narrows a listing.
type ListOptions struct {
	Filter   string    // a connector-specific filter (an LDAP filter, a SCIM filter)
	PageSize int       // 0: the connector's configured default
	Since    time.Time // zero: everything; otherwise only what changed at or after Since
	Cursor   string    // resume from a cursor a previous page returned
}

// Page is one page of a listing.
type Page struct {
	Records []Record
	// NextCursor resumes the listing after this page; "" on the last page.
	NextCursor string
}

// Record is one user or group as a connector reports it.
type Record struct {
	ExternalID  string         `json:"externalId"`
	Username    string         `json:"username,omitempty"`
	Email       string         `json:"email,omitempty"`
	DisplayName string         `json:"displayName,omitempty"`
	Attributes  map[string]any `json:"attributes,omitempty"`
}

// Resource types that sync-capable commands list.
const (
	ResourceUser  = "user"
	ResourceGroup = "group"
)
