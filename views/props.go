// Package views renders Floh's pages with templ. Components take plain view-model structs
// from this file and never query anything; a page and its htmx partial are the same component.
package views

// Page is what the layout needs on every page.
type Page struct {
	Title string
	// URL is the address to show for this page when it answers a POST (a form re-rendered
	// with errors, a token shown once), so a reload does not post the form again.
	URL         string
	Section     string // the nav item to mark current
	User        *CurrentUser
	Nav         []NavItem
	Flash       *Flash
	Unread      int
	Development bool
}

// CurrentUser is the signed-in user as the header shows them.
type CurrentUser struct {
	Name  string
	Email string
	Roles string
}

// NavItem is one entry of the main navigation; items the user may not use are left out.
type NavItem struct {
	Section string
	Label   string
	Href    string
	// Count is a number shown beside the label (open tasks), nil for none.
	Count *NavCount
}

// NavCount is a count beside a navigation item that refreshes itself from Poll.
type NavCount struct {
	ID   string
	Poll string
	N    int
	// Words say what is counted, for screen readers: "open".
	Words string
}

// Flash is a one-time message shown after a redirect.
type Flash struct {
	Kind    string // success, error or info
	Message string
}

// Time is a moment shown relative ("5 minutes ago") with the exact UTC time on hover.
type Time struct {
	Rel   string
	Exact string
	ISO   string
}

// Badge is a status word with a tone: ok, bad, warn, info or muted.
type Badge struct {
	Label string
	Tone  string
}

// Pager describes one page of a list; Href builds the link to another page.
type Pager struct {
	Page     int
	PageSize int
	Total    int
	Href     func(page int) string
}

// Form carries what an admin typed and what was wrong with it, for re-rendering after a 422.
type Form struct {
	Values map[string]string
	Errors []FieldError
}

// FieldError is one invalid field, as the error summary links it.
type FieldError struct {
	Field   string
	Message string
}

// Value returns what was typed into a field.
func (f Form) Value(name string) string { return f.Values[name] }

// Error returns the message for a field, or "".
func (f Form) Error(name string) string {
	for _, e := range f.Errors {
		if e.Field == name {
			return e.Message
		}
	}
	return ""
}

// ErrorPage is the body of a 403, 404 or 500 page.
type ErrorPage struct {
	Page
	Status  int
	Heading string
	Message string
	// Next is where the admin can go from here.
	NextHref  string
	NextLabel string
}

// SignedOutPage follows a logout.
type SignedOutPage struct {
	Page
	LoginHref string
}

// UsersPage is the user list.
type UsersPage struct {
	Page
	Q              string
	IncludeDeleted bool
	Rows           []UserRow
	Pager          Pager
	CanManage      bool
}

// UserRow is one line of the user list.
type UserRow struct {
	ID          string
	Email       string
	DisplayName string
	Roles       []string
	Status      Badge
	Confirmed   Badge
	Created     Time
}

// UserPage is one user's page.
type UserPage struct {
	Page
	User       UserDetail
	Profile    []ProfileField
	Custom     []ProfileField
	Identities []IdentityRow
	Roles      []RoleChoice
	Tokens     []TokenRow
	Audit      []AuditRow
	Activity   UserActivity
	CanManage  bool
	IsSelf     bool
	RolesForm  Form
}

// UserDetail is the identity part of a user's page.
type UserDetail struct {
	ID             string
	Email          string
	DisplayName    string
	Iss            string
	Sub            string
	UpstreamIssuer string
	UpstreamID     string
	Status         Badge
	Confirmed      Badge
	Deleted        bool
	Active         bool
	Created        Time
	Updated        Time
	DeletedAt      Time
}

// ProfileField is one profile attribute with where its value came from.
type ProfileField struct {
	Label  string
	Value  string
	Source string
	At     Time
}

// IdentityRow is one external identity of a user.
type IdentityRow struct {
	ConnectorID string
	ExternalID  string
	Email       string
	DisplayName string
	Source      string
	Verified    Time
}

// RoleChoice is a system role as a checkbox.
type RoleChoice struct {
	Name        string
	Description string
	Checked     bool
}

// UserFormPage creates or edits a user.
type UserFormPage struct {
	Page
	// UserID is empty when creating.
	UserID string
	Name   string
	Form   Form
	// Profile is the profile form, shown when editing.
	Profile Form
	// Roles is offered when creating.
	Roles []RoleChoice
}

// ConfirmPage asks before a destructive action, saying exactly what will happen.
type ConfirmPage struct {
	Page
	Heading     string
	Consequence []string
	Action      string
	Button      string
	CancelHref  string
	// Details links to what the consequences are about, when there is more to see.
	Details *Link
}

// TokenRow is one API token in a list.
type TokenRow struct {
	ID          string
	Name        string
	Prefix      string
	Permissions string
	Status      Badge
	Created     Time
	Expires     Time
	LastUsed    Time
	Revocable   bool
}

// ProfilePage is the signed-in user's own page: who they are and their API tokens.
type ProfilePage struct {
	Page
	Email       string
	Roles       []string
	Permissions []string
	Tokens      []TokenRow
	// NewToken is the secret of a token just created, shown once, and NewTokenName its name.
	NewToken     string
	NewTokenName string
	TokenForm    Form
	Choices      []PermissionChoice
	DefaultDays  int
	MaxDays      int
}

// PermissionChoice is a permission the user may put on a token.
type PermissionChoice struct {
	Name    string
	Checked bool
}

// AuditRow is one audit entry.
type AuditRow struct {
	ID       int64
	At       Time
	Actor    string
	ActorID  string
	ViaToken bool
	Entity   string
	EntityID string
	Action   string
	IP       string
	Before   string
	After    string
}

// AuditPage is the audit log with its filters and the chain check.
type AuditPage struct {
	Page
	Entities []Option
	Actions  []Option
	Filter   AuditFilter
	Rows     []AuditRow
	Pager    Pager
	Form     Form
	Verify   *AuditVerifyResult
}

// AuditFilter is what the audit log is filtered by, as typed.
type AuditFilter struct {
	Entity, EntityID, Action, Actor, From, To string
}

// AuditVerifyResult is the outcome of recomputing the hash chain.
type AuditVerifyResult struct {
	Checked  int
	Valid    bool
	BrokenID int64
	Reason   string
}

// EventRow is one operational event.
type EventRow struct {
	At       Time
	SubType  string
	Action   Badge
	Severity Badge
	Subject  string
	// SubjectHref is the subject's own page, when Floh has one.
	SubjectHref string
	Message     string
	Data        string
}

// EventsPage is the event log with its filters.
type EventsPage struct {
	Page
	SubType, Action, From, To string
	SubTypes                  []Option
	Actions                   []Option
	Rows                      []EventRow
	Pager                     Pager
	Form                      Form
}

// Option is one choice of a select.
type Option struct {
	Value, Label string
}

// IncidentRow is one incident in the list.
type IncidentRow struct {
	ID      string
	Title   string
	Kind    string
	Subject string
	// SubjectHref is the subject's own page, when Floh has one.
	SubjectHref string
	Status      Badge
	Severity    Badge
	Opened      Time
	Resolved    Time
}

// IncidentsPage lists incidents, unresolved first.
type IncidentsPage struct {
	Page
	Status   string
	Statuses []Option
	Rows     []IncidentRow
	Pager    Pager
}

// IncidentPage is one incident with its timeline.
type IncidentPage struct {
	Page
	Incident   IncidentRow
	Monitoring Time
	Timeline   []TimelineEntry
	// Connector is what an incident about a connector links to; nil for other subjects.
	Connector *IncidentConnector
}

// IncidentConnector is the connector an incident is about: its recent configuration changes
// from the audit log, and the tabs where it is tested, configured and synced.
type IncidentConnector struct {
	Name string
	// Changes are the newest configuration changes within Days days, newest first.
	Changes []IncidentChange
	Days    int
	// AuditHref lists every audit entry of the connector; empty when the viewer may not read
	// the audit log.
	AuditHref  string
	TestHref   string
	ConfigHref string
	// Sync links the connector's Sync tabs, for a sync incident.
	Sync []Link
}

// IncidentChange is one audit entry of a connector's configuration.
type IncidentChange struct {
	At     Time
	Actor  string
	Action string
	// Href opens the audit log at this entry; empty without audit:read.
	Href string
}

// TimelineEntry is one line of an incident's timeline.
type TimelineEntry struct {
	At      Time
	Entry   Badge
	Message string
	Data    string
}

// NotificationRow is one in-app notification.
type NotificationRow struct {
	ID     string
	Title  string
	Body   string
	Link   string
	At     Time
	Unread bool
}

// NotificationsPage lists the user's notifications.
type NotificationsPage struct {
	Page
	UnreadOnly bool
	Rows       []NotificationRow
	Pager      Pager
}

// DashboardPage is the start page.
type DashboardPage struct {
	Page
	Greeting      string
	Cards         []StatCard
	RecentEvents  []EventRow
	ShowEvents    bool
	OpenIncidents []IncidentRow
	ShowIncidents bool
	Notifications []NotificationRow
	NoRoles       bool
}

// StatCard is one number on the dashboard, linking to where it comes from.
type StatCard struct {
	Label string
	Value string
	Href  string
}

// SettingsPage shows the running configuration (never secrets) and the role table.
type SettingsPage struct {
	Page
	Settings    []SettingRow
	Roles       []string
	Permissions []PermissionRow
}

// SettingRow is one configuration value.
type SettingRow struct {
	Name, Value, Help string
}

// PermissionRow is one line of the role × permission table.
type PermissionRow struct {
	Permission string
	Granted    []bool
}

// Link is a labelled address, e.g. a next step after an error.
type Link struct {
	Label, Href string
}

// ConnectorsPage is the connector list.
type ConnectorsPage struct {
	Page
	Q              string
	Type           string
	IncludeDeleted bool
	Types          []Option
	Rows           []ConnectorRow
	Pager          Pager
	CanManage      bool
}

// ConnectorRow is one line of the connector list.
type ConnectorRow struct {
	ID          string
	Name        string
	Description string
	TypeLabel   string
	Enabled     Badge
	Health      Badge
	HealthSince Time
	// LastError is the last failed test's error in a line: its class in words and message.
	LastError  string
	Incident   *Link
	LastTest   Badge
	LastTestAt Time
	Updated    Time
	Deleted    bool
}

// ConnectorError is a classified connector failure as an admin needs it: the class in words,
// the code, the message and what to do next.
type ConnectorError struct {
	Class     string // in words: "Cannot reach the target"
	ClassID   string // as the API names it: connector_down
	Code      string
	Message   string
	Field     string // the param or config field at fault, by its label
	Advice    string
	Retryable bool
	Next      []Link
}

// ConnectorHealth is what the health monitor knows of a connector.
type ConnectorHealth struct {
	Badge      Badge
	Since      Time
	Failures   int
	LastTest   Badge
	LastTestAt Time
	LastTestMS string
	LastError  *ConnectorError
	Incident   *Link
	// Interval says how often the monitor tests, e.g. "5 minutes".
	Interval string
}

// ConnectorSummary is the part of a connector every tab shows.
type ConnectorSummary struct {
	ID              string
	Name            string
	Description     string
	Type            string
	TypeLabel       string
	TypeDescription string
	Enabled         bool
	MockMode        bool
	SystemMock      bool
	Deleted         bool
	DeletedAt       Time
	Created         Time
	Updated         Time
	Health          ConnectorHealth
}

// Tab is one section of a page with tabs.
type Tab struct {
	ID, Label, Href string
	Current         bool
}

// SchemaField is a config field or command param as a form input; its kind decides the input.
type SchemaField struct {
	Name        string // the form name: config.<field> or param.<field>
	Field       string // the schema name
	Label       string
	Help        string
	Placeholder string
	Kind        string // string, text, integer, boolean, stringList, object, array, duration
	KindHint    string // the kind in words, e.g. "JSON object"
	Input       string // text, number, checkbox, textarea, select or password
	Required    bool
	Secret      bool
	Options     []Option
	Default     string
	// SecretState says whether a secret has a value: "set", "not set", or "entered" for a new
	// value carried (sealed) by the form but not saved yet.
	SecretState string
}

// ConnectorTypeCard is a connector type as the wizard offers it.
type ConnectorTypeCard struct {
	Name        string
	Label       string
	Description string
	Settings    int
	Commands    int
}

// WizardStep is one step of a multi-step form in its progress list.
type WizardStep struct {
	Label string
	State string // done, current, todo or skipped
}

// ReviewRow is one answer on a check-your-answers page.
type ReviewRow struct {
	Label  string
	Value  string
	Secret bool // Value is "set" or "not set", never the secret
	Mono   bool
	Step   string // the step that changes it
}

// ConnectorWizardPage creates a connector in steps: type, name and description, settings,
// review. Everything typed travels in the form; secrets only sealed.
type ConnectorWizardPage struct {
	Page
	Step   string // type, details, config or review
	Steps  []WizardStep
	Types  []ConnectorTypeCard
	Type   ConnectorTypeCard
	Form   Form
	Fields []SchemaField
	// Hidden are the values of the other steps, carried as hidden inputs.
	Hidden []HiddenInput
	Sealed string
	Review []ReviewRow
}

// HiddenInput is a value a multi-step form carries from an earlier step.
type HiddenInput struct {
	Name, Value string
}

// ConnectorPage is one connector with its tabs; only the current tab's part is filled.
type ConnectorPage struct {
	Page
	Connector ConnectorSummary
	Tab       string
	Tabs      []Tab
	CanManage bool

	Recent []ExecutionRow // overview

	Config ConnectorConfigTab

	Commands []CommandDoc
	Console  Console

	Test *TestView

	Executions []ExecutionRow
	Pager      Pager

	Impact ConnectorImpact

	// Sync is the Sync tab of one resource type.
	Sync *SyncTab
}

// ConnectorImpact is the Impact tab: the workflows whose open draft or newest published
// version has steps that use the connector.
type ConnectorImpact struct {
	Workflows []ImpactWorkflow
	// Steps counts the steps listed; ByName is set when one of them names the connector by
	// its name, which renaming the connector breaks.
	Steps  int
	ByName bool
}

// ImpactWorkflow is one workflow that uses the connector, with its documents that do.
type ImpactWorkflow struct {
	Name   string
	Href   string
	Status Badge
	Docs   []ImpactDoc
}

// ImpactDoc is the open draft or the newest published version of a workflow.
type ImpactDoc struct {
	Label string // "Published version 3", "Open draft"
	Steps []ImpactStep
}

// ImpactStep is one step that uses the connector.
type ImpactStep struct {
	ID   string
	Name string
	Href string
	// Command is the command a connector step calls; "" for a notification, which sends
	// email through the connector.
	Command string
	ByName  bool
}

// ConnectorConfigTab is the configuration form, or its read-only view.
type ConnectorConfigTab struct {
	Form     Form
	Fields   []SchemaField
	Sealed   string
	Commands []string // the command names mock data may answer
	Classes  []string
}

// CommandDoc describes one command of a connector type.
type CommandDoc struct {
	Name         string
	Label        string
	Description  string
	Mutating     bool
	MutatingNote string
	SyncCapable  string
	Compensation string
	Params       []SchemaField
	Outputs      []OutputDoc
}

// OutputDoc is one value a command returns.
type OutputDoc struct {
	Name, KindHint, Help string
}

// Console is the execute console: a command, its inputs, and the last result.
type Console struct {
	ConnectorID string
	Command     *CommandDoc
	Form        Form
	UseMock     bool
	// Confirm asks for an explicit confirmation before a command that changes the target.
	Confirm bool
	Result  *ExecuteView
	// Disabled says why the console cannot run anything now ("" when it can).
	Disabled string
}

// ExecuteView is the outcome of one console call.
type ExecuteView struct {
	Command  string
	Success  bool
	Mock     bool
	Duration string
	Data     string
	Records  *RecordTable
	Error    *ConnectorError
}

// RecordTable shows the records a list command returned.
type RecordTable struct {
	Caption string
	Columns []string
	Rows    [][]string
	More    int // records not shown
}

// TestView is the outcome of a connector test.
type TestView struct {
	Success  bool
	Mock     bool
	Message  string
	Duration string
	Data     string
	Error    *ConnectorError
	At       Time
}

// ExecutionRow is one recorded connector call.
type ExecutionRow struct {
	At       Time
	Source   string
	Actor    string
	Command  string
	Mock     bool
	Result   Badge
	Duration string
	Params   string
	Output   string
	Error    *ConnectorError
}

// WorkflowsPage is the workflow list.
type WorkflowsPage struct {
	Page
	Q              string
	Status         string
	IncludeDeleted bool
	Statuses       []Option
	Rows           []WorkflowRow
	Pager          Pager
	CanCreate      bool
}

// WorkflowRow is one line of the workflow list.
type WorkflowRow struct {
	ID          string
	Name        string
	Description string
	Category    string
	Status      Badge
	// Version is the newest published version; 0 before the first publish.
	Version int
	// DraftOpen marks a published workflow with unpublished changes.
	DraftOpen bool
	Updated   Time
	Deleted   bool
}

// WorkflowFormPage creates a workflow.
type WorkflowFormPage struct {
	Page
	Form Form
	// Import is the form that creates a workflow from a JSON file.
	Import ImportForm
}

// ImportForm imports a workflow document from a JSON file: as a new workflow, or as a
// workflow's draft.
type ImportForm struct {
	Form
	// CarriedName and CarriedDocument are the file a refused post read, when only the form was
	// wrong (a name taken, a confirmation missing): they come back as hidden inputs, so the
	// file need not be chosen again.
	CarriedName     string
	CarriedDocument string
	// DraftOpen asks to confirm replacing the open draft, which DraftHref downloads first.
	DraftOpen bool
	DraftHref string
}

// WorkflowSummary is the part of a workflow every workflow page shows.
type WorkflowSummary struct {
	ID        string
	Name      string
	Status    Badge
	Version   int
	DraftOpen bool
	Deleted   bool
	DeletedAt Time
	// Schedule is set while the active version's runs start on a schedule.
	Schedule *WorkflowSchedule
}

// WorkflowSchedule is an active workflow's schedule: its cron (UTC) and its next tick.
type WorkflowSchedule struct {
	Cron string
	Next Time
}

// WorkflowPage is one workflow: the document shown (the open draft, the newest version, or
// the version asked for) read-only, lint for the draft, the JSON editor, and the versions.
type WorkflowPage struct {
	Page
	Workflow WorkflowSummary
	// Shown is the version on screen; 0 is the open draft.
	Shown          int
	ShownPublished Time
	ShownBy        string
	Definition     *WorkflowDefinition
	// Canvas draws the shown document's graph; nil when there is no document.
	Canvas *Canvas
	// Linted is true when the draft is shown: Findings are then its live lint.
	Linted   bool
	Findings []LintFinding
	// Refused is why the last publish was refused, with Problems the document's own errors
	// (the findings are in Findings).
	Refused  string
	Problems []FieldError
	// Editor is the JSON editor of the open draft, for those who may change it.
	Editor   *Form
	Versions []WorkflowVersionRow
	// DiffFrom and DiffTo preselect the compare form; Refs are its choices.
	DiffFrom, DiffTo string
	Refs             []Option
	Actions          WorkflowActions
	// Import makes a JSON file the draft; nil when the user may not change the workflow.
	Import *ImportForm
}

// WorkflowPublishPage is the confirmation before publishing a draft: what publishing does,
// and what lint found in the draft or why publishing is refused.
type WorkflowPublishPage struct {
	Page
	Workflow WorkflowSummary
	// Version is the version publishing makes; Workflow.Version is the one runs use now.
	Version int
	// Schedule is the cron the new version's runs would start on, "" when none.
	Schedule string
	// Blocked: publishing is refused. Problems are the document's own (by path), Errors the
	// lint errors; Notes are the warnings and info findings, which do not block.
	Blocked  bool
	Problems []FieldError
	Errors   []LintFinding
	Notes    []LintFinding
	// Draft identifies the reviewed draft; the publish form carries it back.
	Draft string
}

// Canvas is a workflow drawn as its graph: a box per step, a line per edge, positions from
// engine/layout. Label is the drawing's accessible name ("Steps of Onboarding").
type Canvas struct {
	Label         string
	Width, Height float64
	Steps         []CanvasStep // in reading order: Tab moves through them in this order
	Edges         []CanvasEdge
}

// CanvasStep is one step's box. X, Y is its top-left corner.
type CanvasStep struct {
	ID, Name, Type, TypeLabel string
	// Shown is Name as it fits the box, shortened with an ellipsis when it does not.
	Shown      string
	X, Y, W, H float64
	Selected   bool
	Href       string // selecting the step; empty: not a link (previews)
	Severity   string // worst lint finding on the step: "error" | "warning" | "info" | ""
}

// CanvasEdge is one edge's line, From's outcome On leading to To.
type CanvasEdge struct {
	From, To, On   string
	Error          bool   // an on:"error" edge, drawn visibly distinct (dashed, red, labelled)
	Path           string // SVG path data
	LabelX, LabelY float64
}

// WorkflowActions are the state changes offered, by status and permission.
type WorkflowActions struct {
	Publish   bool
	Deprecate bool
	Delete    bool
	// NewDraftFrom is the version a new draft would copy; 0 offers none.
	NewDraftFrom int
	// Start offers the start form of an active workflow; Runs links to its runs.
	Start bool
	Runs  bool
	// Templates offers Insert from Template into the open draft.
	Templates bool
}

// WorkflowDefinition is a definition document as the page reads it.
type WorkflowDefinition struct {
	Description     string
	Category        string
	SubjectVariable string
	ErrorStrategy   string
	Trigger         string
	Variables       []WorkflowVariableRow
	Steps           []WorkflowStepRow
	Edges           []WorkflowEdgeRow
}

// WorkflowVariableRow is one input of a workflow.
type WorkflowVariableRow struct {
	Name, Type, Description string
	Required                bool
}

// WorkflowStepRow is one step with a short summary of its config and its outgoing edges.
type WorkflowStepRow struct {
	ID     string
	Anchor string // the row's id, the target of a lint finding's link
	Name   string
	Type   string
	Config string
	Out    []WorkflowEdgeRow
}

// WorkflowEdgeRow is one edge; an Href is "" where the step does not exist.
type WorkflowEdgeRow struct {
	From, FromHref string
	On             string
	To, ToHref     string
}

// LintFinding is one lint finding; StepHref leads to the step's row when it exists.
type LintFinding struct {
	Severity Badge
	Code     string
	StepID   string
	StepHref string
	Message  string
}

// WorkflowVersionRow is one published version, or the open draft (Version 0).
type WorkflowVersionRow struct {
	Version     int
	Href        string
	Published   Time
	PublishedBy string
	// ChangesHref compares it with the version before it (the draft with the newest
	// version); "" for the first.
	ChangesHref  string
	ChangesLabel string
	Current      bool // on screen
	// ExportHref downloads the document as a JSON file.
	ExportHref string
}

// WorkflowDiffPage compares two documents of a workflow (versions or the open draft) side by
// side.
type WorkflowDiffPage struct {
	Page
	Workflow WorkflowSummary
	// From and To are the references compared ("1", "draft"), FromLabel and ToLabel in words.
	From, To           string
	FromLabel, ToLabel string
	Refs               []Option
	Form               Form
	// Diff is nil when there is nothing to compare or a reference is wrong.
	Diff *WorkflowDiff
}

// WorkflowDiff is what changed between two documents.
type WorkflowDiff struct {
	Settings     []SettingDiff
	StepsAdded   []DiffStep
	StepsRemoved []DiffStep
	StepsChanged []DiffStepChange
	EdgesAdded   []WorkflowEdgeRow
	EdgesRemoved []WorkflowEdgeRow
}

// SettingDiff is one changed top-level field of a document, before and after in words.
type SettingDiff struct {
	Field, Label, Before, After string
}

// DiffStep is a step as a diff shows it: its config as indented JSON.
type DiffStep struct {
	ID, Name, Type, Config string
}

// DiffStepChange is a step changed in place; Changed names what changed (name, type, config).
type DiffStepChange struct {
	ID            string
	Before, After DiffStep
	Changed       string
}

// RunsPage is the run list with its filters.
type RunsPage struct {
	Page
	Status     string
	WorkflowID string
	Statuses   []Option
	Workflows  []Option
	Rows       []RunRow
	Pager      Pager
	// Poll is the address the table refreshes itself from while a run on it is moving;
	// "" when every run shown has finished.
	Poll string
	// OwnOnly is set for a viewer without run:read, who sees the runs they started.
	OwnOnly bool
}

// RunRow is one run in a list.
type RunRow struct {
	ID           string
	WorkflowID   string
	WorkflowName string
	Version      int
	Status       Badge
	StartedBy    string
	Started      Time
	// Duration is how long the run took, or has taken so far while it moves.
	Duration string
	Moving   bool
}

// RunPage is one run: its summary, its steps in execution order, its variables and timeline.
type RunPage struct {
	Page
	Run      RunSummary
	Steps    []RunStepRow
	Timeline []RunTimelineRow
	// Variables is the run's variables as indented JSON.
	Variables string
	Actions   RunActions
	// Poll is the address the live part refreshes itself from until the run finishes.
	Poll string
	// Diagnosis is the diagnose panel; nil while the run moves, and for a finished run with
	// nothing to explain or undo.
	Diagnosis *RunDiagnosis
	// Manual are the undo items a rollback run left for an admin to do by hand.
	Manual []RollbackItem
}

// RunSummary is the head of a run's page.
type RunSummary struct {
	ID           string
	WorkflowID   string
	WorkflowName string
	Version      int
	Status       Badge
	StartedBy    string
	// StartedByHref is the starter's user page, when they are a user.
	StartedByHref string
	Started       Time
	Finished      Time
	Duration      string
	UseMocks      bool
	// Error is why a failed run failed, in a sentence.
	Error          string
	ParentRunID    string
	CompensationOf string
}

// RunActions are what the run's status allows and the user may do.
type RunActions struct {
	Cancel bool
	Retry  bool
	// RetryStep names the step a retry starts from.
	RetryStep string
}

// RunStepRow is one step execution of a run.
type RunStepRow struct {
	Anchor    string
	StepID    string
	Name      string
	Type      string
	Iteration int
	Status    Badge
	Started   Time
	Finished  Time
	Duration  string
	Attempts  int
	// Due is when the next attempt runs (a retry's backoff, a delay).
	Due   Time
	Error *ConnectorError
	// Diagnosed is set on the step whose error the diagnose panel explains: the step list
	// points there rather than repeating it.
	Diagnosed  bool
	Output     string
	ChildRunID string
	// Tasks are an approval's approver slots or a manual task, with what each decided.
	Tasks []RunStepTask
	// People says in a sentence who the step waits for, or how it was decided.
	People string
	// ActHref leads to the Tasks page when the viewer may act on one of the step's open tasks.
	ActHref  string
	ActLabel string
}

// RunDiagnosis reads like the partial-provisioning runbook: what failed and why, what was
// already done, what to undo.
type RunDiagnosis struct {
	// Failure is nil for a run that did not fail but can be rolled back.
	Failure *RunFailure
	Done    []RunDoneStep
	Plan    []RollbackItem
	// CompensatedBy is the run that rolled this one back, once there is one.
	CompensatedBy *RunRow
	// Rollback is the address of the rollback confirmation, when the viewer may roll the run
	// back and it can be; NoPermission says the viewer may not.
	Rollback     string
	NoPermission bool
}

// RunFailure is the step that failed a run and its error, the class in words.
type RunFailure struct {
	StepName string
	// StepHref is the step on the page.
	StepHref string
	System   string
	Command  string
	// ChildRunID is the sub-workflow run the step waited for, when it failed in there.
	ChildRunID string
	Error      *ConnectorError
}

// RunDoneStep is a step that completed before the run stopped.
type RunDoneStep struct {
	Name    string
	StepID  string
	System  string
	Command string
}

// RollbackItem is one undo of a rollback plan, in the order the rollback runs them.
type RollbackItem struct {
	// Undoes names the step of the original run it undoes.
	Undoes  string
	System  string
	Command string
	Params  []Param
	// Kind is connector, built-in or by hand, as a badge.
	Kind   Badge
	Manual bool
	// Mock is true when the original call was answered from mock data, so its undo is too.
	Mock   bool
	Reason string
}

// Param is one parameter of a command, its value as text.
type Param struct {
	Name, Value string
}

// RunTimelineRow is one event of a run.
type RunTimelineRow struct {
	At      Time
	StepID  string
	Kind    string
	Message string
	Data    string
}

// RollbackConfirmPage asks before a rollback, listing the undo steps it will run.
type RollbackConfirmPage struct {
	Page
	RunID        string
	WorkflowName string
	Plan         []RollbackItem
	// Automatic and Manual count the plan's items Floh runs and those left to an admin.
	Automatic, Manual int
	// Mock is true when some undo answers from mock data, as the original call did.
	Mock bool
	// Previewed identifies the state of the run this plan was made from: the post carries it
	// back, so a run that changed meanwhile is not rolled back on a stale preview.
	Previewed string
}

// RunStartPage is the start form of a workflow, generated from its input variables.
type RunStartPage struct {
	Page
	Workflow WorkflowSummary
	Fields   []SchemaField
	Form     Form
}

// UserActivity is the user page's workflow activity: the newest runs about or by the user.
type UserActivity struct {
	Rows  []RunRow
	Total int
	// Links is true when the viewer may open run pages.
	Links bool
}

// TasksPage is the Tasks page: one tab of tasks (manual tasks or approvals) with its filters.
type TasksPage struct {
	Page
	// Tab is tasks or approvals; Tabs carry the open counts in their labels.
	Tab  string
	Tabs TaskTabs
	// Scope is mine or all; CanSeeAll offers all to those with task:assign.
	Scope     string
	CanSeeAll bool
	Status    string
	Statuses  []Option
	Q         string
	// RunID narrows the list to one run's tasks (the run page links here so).
	RunID string
	// NoDecide is set on the Approvals tab for a viewer who cannot decide approvals.
	NoDecide bool
	Cards    []TaskCard
	Pager    Pager
}

// TaskTabs are the two tabs of the Tasks page with how many open items each holds for the
// viewer; an htmx action refreshes them out of band.
type TaskTabs struct {
	Current   string
	Tasks     int
	Approvals int
}

// TaskCard is one task or approval as the inbox shows it, with the actions the viewer may take.
type TaskCard struct {
	ID       string
	Title    string
	Approval bool
	Status   Badge
	Workflow string
	// RunHref is the run's page, "" when the viewer may not open it.
	RunHref  string
	RunID    string
	StepName string
	// About is the run's subject: the person (or value) the run provisions.
	About       string
	RequestedBy string
	// HeldBy is who may act on it: "you", a person, or "any member of Approver".
	HeldBy  string
	Waiting Time
	Due     Time
	// Overdue is set when Due has passed while the task is still open.
	Overdue bool
	// Slot says where an approver stands among the step's approvers, in words.
	Slot         string
	HoldReason   string
	Instructions string
	// Decision says how an ended task ended: by whom, when, with what reason or comment.
	Decision *TaskDecision
	Actions  TaskCardActions
	// Back is the list the forms return to without JavaScript.
	Back string
	// Open is the action whose form is shown open (after a refused submit); Form holds what was
	// typed into it and what was wrong.
	Open string
	Form Form
	// Notice is the outcome of an action taken from this card (success, or error for a
	// conflict), shown in place after an htmx request.
	Notice *Flash
}

// TaskDecision is how a task ended.
type TaskDecision struct {
	Label   string // "Rejected by approver@example.test"
	At      Time
	Comment string
}

// TaskCardActions are the buttons and forms a card offers.
type TaskCardActions struct {
	Claim, Release, Hold, Resume, Complete, Approve, Reject bool
	// Assign lists who the task can be given to; nil when the viewer may not assign.
	Assign []Option
}

// RunStepTask is one approver slot or the manual task of a run's step.
type RunStepTask struct {
	Holder  string
	Status  Badge
	At      Time
	Comment string
}

// TemplatePickerPage lists the workflow templates to insert into a workflow's draft, grouped
// by category. Partial renders only the picker, for the designer's dialog.
type TemplatePickerPage struct {
	Page
	Workflow WorkflowSummary
	Partial  bool
	// NoDraft says why nothing can be inserted now (no open draft); "" when it can.
	NoDraft string
	// CanInsert is false for those who may read the workflow but not change it.
	CanInsert bool
	Groups    []TemplateGroup
}

// TemplateGroup is one category of templates.
type TemplateGroup struct {
	Category  string
	Templates []TemplateCard
}

// TemplateCard is one template as the picker shows it.
type TemplateCard struct {
	ID          string
	Name        string
	Description string
	// Needs says what binding it asks for, e.g. "Active Directory connector".
	Needs []string
	// Href is its binding form.
	Href string
	// Preview draws the template's steps.
	Preview Canvas
}

// TemplateFormPage binds a template's slots before inserting it. Form values are keyed
// "slot.<name>" (the choice) and "new.<name>" (a new variable's name).
type TemplateFormPage struct {
	Page
	Workflow WorkflowSummary
	Partial  bool
	Template TemplateCard
	Action   string
	// ListHref is the template list; CancelHref where giving up goes.
	ListHref   string
	CancelHref string
	Slots      []TemplateSlotField
	Form       Form
	// Refused is a problem of the whole insertion (no open draft, a draft grown too large).
	Refused string
}

// NewVariable is the choice of a variable slot's select that names a new variable; it cannot
// be a variable's name.
const NewVariable = "+new"

// TemplateSlotField is one slot's select.
type TemplateSlotField struct {
	Name        string
	Label       string
	Description string
	Connector   bool
	// TypeLabel is the connector type's label or the variable type.
	TypeLabel string
	Options   []Option
	// CreateHref creates an instance of the connector type, for when there is none.
	CreateHref string
}

// DesignerPage is the workflow designer: the canvas of the open draft, the palette, the side
// panel (the selected step's editor, or the variables, the settings or the JSON view) and the
// lint panel. An edit answers with the whole workspace, so the three always agree.
type DesignerPage struct {
	Page
	ID, Name string
	Status   Badge
	// Editable is false when the workflow has no open draft: the canvas shows the newest
	// version and the page offers to open a draft.
	Editable bool
	Version  int
	// CanEdit says the viewer may change the draft; CanPublish, publish it.
	CanEdit, CanPublish bool
	Canvas              Canvas
	// Palette lists the step types to add; AddAfter names the selected step a new one follows.
	Palette  []Option
	AddAfter string
	// Panel is the side panel shown: "step", "variables", "settings" or "json".
	Panel     string
	Step      *DesignerStep
	Variables []WorkflowVariableRow
	// Form carries the values typed and the errors of a refused edit, for whichever panel
	// made it; Settings and JSON are the panels' current values.
	Form     Form
	Settings Form
	JSON     string
	// SubjectChoices are the user variables that may be the subject; TypeChoices the
	// variable types.
	SubjectChoices, TypeChoices []Option
	Findings                    []LintFinding
	// Undo is how many edits can be undone, UndoLabel the newest in words.
	Undo      int
	UndoLabel string
	// Saved says what the last edit did, for the status line (and screen readers).
	Saved string
}

// DesignerStep is the selected step in the editor.
type DesignerStep struct {
	ID, Name, Type, TypeLabel string
	// Lead are a connector step's connector and command selects, shown first; Fields the
	// type's config inputs; Params a connector command's, by its schema.
	Lead   []SchemaField
	Fields []SchemaField
	Params []SchemaField
	// CommandHelp describes the chosen command.
	CommandHelp string
	// Edges are the edges leaving the step; Outcomes and Targets the connect form's choices.
	Edges    []DesignerEdge
	Outcomes []Option
	Targets  []Option
	// Variables are the {{paths}} the step may use, for the picker.
	Variables []string
}

// DesignerEdge is one edge leaving the selected step.
type DesignerEdge struct {
	On, To, ToName string
}

// SyncTab is a connector's Sync tab for one resource type: status, Sync now, configuration,
// the synced records, the match review (users) and the run history; or, with Run set, one run.
type SyncTab struct {
	// Noun is what the resource type's records are called: "users" or "groups".
	Noun    string
	SubTabs []Tab
	// Missing is set when the connector's type does not list this resource type: the guide's
	// message, with the way back.
	Missing *SyncMissing
	// TestFailed warns that the connector's last test failed; nil otherwise.
	TestFailed *SyncTestWarning
	Status     SyncStatus
	Config     SyncConfigForm
	Resources  SyncResources
	// Review is the match review; nil on the Groups sub-tab.
	Review  *SyncReview
	History SyncHistory
	// Run, when set, is the page of one run, shown instead of the sections.
	Run *SyncRunPage
}

// SyncMissing is a Sync tab the connector's type does not offer.
type SyncMissing struct {
	Message string
	// Others are the resource types the type does list, if any.
	Others []Link
	Back   Link
}

// SyncTestWarning says the connector's last test failed, and where to test it.
type SyncTestWarning struct {
	At   Time
	Href string
}

// SyncStatus is the status card and Sync now: the swap target that polls itself while a run
// is queued or running.
type SyncStatus struct {
	// Poll is the address to fetch the card from while a run moves; empty when none does.
	// Self fetches it again when the configuration is saved (the schedule it shows changed).
	Poll      string
	Self      string
	CanManage bool
	// Run is the newest run; nil when the resource type was never synced.
	Run *SyncRunView
	// StartAction is where Sync now posts; StartDisabled says why it cannot now ("" when it can).
	StartAction   string
	StartDisabled string
	Strategies    []Option
	// Schedule says when the configured schedule runs, in words.
	Schedule string
	// Notice confirms what the last action did (a run started or cancelled).
	Notice string
	// Error is why the last action was refused.
	Error string
	// Finished tells a poll that the run it watched has just ended.
	Finished bool
}

// SyncRunView is one run as the status card and the run page show it.
type SyncRunView struct {
	ID      string
	Href    string
	Status  Badge
	Trigger string
	// How says what started the run, after its start time: "with Sync now".
	How      string
	Strategy string
	DryRun   bool
	// Moving is true while the run is queued or running; Held while it awaits approval.
	Moving    bool
	Held      bool
	Phase     string
	StartedBy string
	Created   Time
	Started   Time
	Finished  Time
	Duration  string
	// Fetched of Expected records; Expected is 0 when unknown (an incremental run), and the
	// bar is then indeterminate.
	Fetched  int
	Expected int
	Percent  int
	// Stats are the counts of a run that applied, in the guide's order; Matches its match
	// outcomes and Lifecycle what it did to users.
	Stats     []Stat
	Matches   []Stat
	Lifecycle []Stat
	Truncated bool
	Error     string
	// WorkflowError says why the post-sync workflow did not start.
	WorkflowError string
	Hold          *SyncHoldView
	// GuardNote says that a dry run would have held, had it been a real run.
	GuardNote string
	// CancelAction is where Cancel posts; empty when the run cannot be cancelled. Return is
	// the page a plain post comes back to.
	CancelAction    string
	Return          string
	CancelRequested bool
	AllowedBy       string
	Allowed         Time
}

// Stat is one count with its label.
type Stat struct {
	Label string
	Value int
}

// SyncHoldView is why a run waits for approval, and where to allow it.
type SyncHoldView struct {
	Message string
	// AllowHref opens the confirmation of Allow; empty for readers.
	AllowHref string
}

// SyncConfigForm is the configuration form of one resource type.
type SyncConfigForm struct {
	Action string
	Form   Form
	// Users shows the sections that apply to users only (matching, lifecycle, mappings).
	Users bool
	// Editable is false for readers and deleted connectors: the values are shown, not a form.
	Editable bool
	// Why says why the form cannot be changed, when it cannot; Error why a save was refused.
	Why   string
	Error string
	// Saved is set right after a save; Stored tells a configuration saved once from the
	// defaults nobody saved.
	Saved  string
	Stored bool
	// Open unfolds the form: nothing saved yet, or errors to fix.
	Open    bool
	Summary string
	// PageHref is the tab, for Discard changes.
	PageHref string

	Strategies     []SyncChoice
	MatchOptions   []SyncChoice
	TriggerModes   []SyncChoice
	FallbackChoice []Option
	WriteModes     []Option
	Workflows      []Option
	TargetFields   []Option
	Mappings       []SyncMappingRow
	// Values are the read-only view's rows, for readers.
	Values []ReviewRow
}

// SyncChoice is one radio button of the configuration form, with what it does.
type SyncChoice struct {
	Value, Label, Help string
}

// SyncMappingRow is one attribute mapping as the form shows it. Its inputs are named
// attributeMappings[<Index>].<field>.
type SyncMappingRow struct {
	Index       int
	SourcePath  string
	Target      string // a profile field, a custom.<name> the select offers, or "custom." for another
	CustomName  string
	WriteMode   string
	Enabled     bool
	SourceError string
	TargetError string
	ModeError   string
}

// SyncResources is the Synced resources section.
type SyncResources struct {
	Action string
	Q      string
	Stale  string // "", "true" or "false"
	Groups bool
	Rows   []SyncResourceRow
	Pager  Pager
	// Self fetches the section again as it stands, when a run changes it.
	Self string
	// Keep are the other sections' query values, carried by this section's search.
	Keep []HiddenInput
	// Never is true before the first sync stored anything.
	Never bool
}

// SyncResourceRow is one cached upstream record.
type SyncResourceRow struct {
	DisplayName string
	Email       string
	ExternalID  string
	Username    string
	Synced      Time
	StaleSince  Time
	Stale       bool
	// Members is a group's member count; -1 when the record lists none.
	Members int
}

// SyncReview is the Match reconciliation review of a user sync.
type SyncReview struct {
	Action string
	Status string
	Q      string
	// Filters are the status filter's choices with their counts.
	Filters   []Option
	Rows      []SyncMatchRow
	Pager     Pager
	Keep      []HiddenInput
	CanManage bool
	// Return is the page address the actions come back to, filters included.
	Return string
	// BulkAction is where Bulk skip posts.
	BulkAction string
	Confirm    *SyncBulkConfirm
	Notice     string
	Error      string
	Never      bool
}

// SyncBulkConfirm asks before skipping several records, naming them.
type SyncBulkConfirm struct {
	IDs   []string
	Names []string
	// More counts the records chosen beyond those named.
	More int
}

// SyncMatchRow is one user record with its match.
type SyncMatchRow struct {
	ResourceID  string
	DisplayName string
	Email       string
	ExternalID  string
	Status      Badge
	// User is the matched or linked user.
	User       *SyncUserRef
	Candidates []SyncUserRef
	MatchedBy  string
	DecidedBy  string
	Stale      bool
	// ActionBase is where this row's actions post: <base>/link, /skip, /create-user, /unlink.
	ActionBase string
	// PickerAction is the user picker's address (a page of its own without JavaScript).
	PickerAction string
	CanSkip      bool
	CanCreate    bool
	CanUnlink    bool
}

// SyncUserRef is a Floh user a record is or could be.
type SyncUserRef struct {
	ID    string
	Name  string
	Email string
	Href  string
}

// SyncPicker is the search-as-you-type user picker of one record: its results as an htmx
// partial, or a page of its own without JavaScript.
type SyncPicker struct {
	Page
	ConnectorName string
	Record        SyncMatchRow
	Q             string
	Users         []SyncUserRef
	More          int
	Action        string
	Return        string
	BackHref      string
	Error         string
}

// SyncHistory is the run history.
type SyncHistory struct {
	Rows  []SyncRunRow
	Pager Pager
	// Self fetches the section again as it stands, when a run changes it.
	Self string
}

// SyncRunRow is one run in the history.
type SyncRunRow struct {
	Href     string
	Started  Time
	Trigger  string
	Strategy string
	DryRun   bool
	Status   Badge
	Duration string
	Counts   string
}

// SyncRunPage is one run: its summary and its paged change report.
type SyncRunPage struct {
	Run      SyncRunView
	BackHref string
	// Poll refreshes the page while the run moves.
	Poll    string
	Kind    string
	Kinds   []Option
	Changes []SyncChangeRow
	Pager   Pager
	Action  string
}

// SyncChangeRow is one line of a run's change report.
type SyncChangeRow struct {
	Kind        Badge
	DisplayName string
	ExternalID  string
	UserHref    string
	Detail      string
}
