// Package workflow is the vocabulary of provisioning workflows: the definition document that
// the API and the designer edit (PRODUCT §4), its validation, templating of step config,
// expressions, and the diff between two versions. It is pure: no database, no clock, no
// connector calls, so the engine, the designer and the tests share one meaning. Lint, which
// also reads the connector catalogue, is engine/lint's.
package workflow

// Definition is a workflow document. Name, Steps and Edges are required to publish; a draft
// may be incomplete and still saves.
type Definition struct {
	Name            string     `json:"name"`
	Description     string     `json:"description,omitempty"`
	Category        string     `json:"category,omitempty"`
	SubjectVariable string     `json:"subjectVariable,omitempty"`
	ErrorStrategy   string     `json:"errorStrategy,omitempty"` // stop (default) | continue
	Trigger         *Trigger   `json:"trigger,omitempty"`       // nil: manual
	Variables       []Variable `json:"variables"`
	Steps           []Step     `json:"steps"`
	Edges           []Edge     `json:"edges"`
}

// Error strategies: what a failure with no matching edge does.
const (
	StrategyStop     = "stop"
	StrategyContinue = "continue"
)

// Trigger says how runs start.
type Trigger struct {
	Type string `json:"type"` // manual | schedule | api
	Cron string `json:"cron,omitempty"`
}

// Variable is an input of the workflow.
type Variable struct {
	Name        string `json:"name"`
	Type        string `json:"type"` // string | number | boolean | user | object | list
	Required    bool   `json:"required,omitempty"`
	Description string `json:"description,omitempty"`
}

// Step is one node of the graph. Config's keys depend on Type (PRODUCT §4).
type Step struct {
	ID     string         `json:"id"`
	Name   string         `json:"name"`
	Type   string         `json:"type"`
	Config map[string]any `json:"config,omitempty"`
}

// Edge routes an outcome of From to To.
type Edge struct {
	From string `json:"from"`
	To   string `json:"to"`
	On   string `json:"on"`
}

// Step types.
const (
	TypeStart         = "start"
	TypeEnd           = "end"
	TypeConnector     = "connector"
	TypeApproval      = "approval"
	TypeManualTask    = "manual_task"
	TypeNotification  = "notification"
	TypeCondition     = "condition"
	TypeTransform     = "transform"
	TypeUserCreate    = "user_create"
	TypeProfileUpdate = "profile_update"
	TypeDelay         = "delay"
	TypeSubWorkflow   = "sub_workflow"
)

// StepTypes lists every step type in the order a palette shows them.
var StepTypes = []string{
	TypeStart, TypeEnd, TypeConnector, TypeApproval, TypeManualTask, TypeNotification,
	TypeCondition, TypeTransform, TypeUserCreate, TypeProfileUpdate, TypeDelay, TypeSubWorkflow,
}

// Outcomes that route along edges; a condition step's branch names route too.
const (
	OnSuccess  = "success"
	OnError    = "error"
	OnRejected = "rejected"
	OnExpired  = "expired"
)

// Step returns the step with id, or nil.
func (d *Definition) Step(id string) *Step {
	for i := range d.Steps {
		if d.Steps[i].ID == id {
			return &d.Steps[i]
		}
	}
	return nil
}

// Next returns the step an outcome of from leads to, or "" when no edge matches.
func (d *Definition) Next(from, on string) string {
	for _, e := range d.Edges {
		if e.From == from && e.On == on {
			return e.To
		}
	}
	return ""
}
