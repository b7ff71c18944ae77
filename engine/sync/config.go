// Package sync is the vocabulary of connector resource sync (PRODUCT §3): the configuration of
// a (connector, resource type) with its defaults and rules, the canonical hash of a record,
// the match strategies and outcomes, and the deletion guard's arithmetic. It is pure: the
// engine runs the pipeline and the db package holds its SQL.
package sync

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"floh/engine/workflow"
)

// Strategies of a run.
const (
	StrategyFull        = "full"
	StrategyIncremental = "incremental"
)

// User match strategies.
const (
	MatchEmail            = "email"
	MatchEmailIssuer      = "email_issuer"
	MatchUpstreamIdentity = "upstream_identity"
	MatchExternalID       = "external_id"
)

// MatchStrategies lists the user match strategies in the order the form offers them.
var MatchStrategies = []string{MatchEmail, MatchEmailIssuer, MatchUpstreamIdentity, MatchExternalID}

// Attribute mapping write modes.
const (
	OverwriteAlways  = "overwrite_always"
	OverwriteIfEmpty = "overwrite_if_empty"
	NeverOverwrite   = "never_overwrite"
)

// WriteModes lists the write modes in the order the form offers them.
var WriteModes = []string{OverwriteAlways, OverwriteIfEmpty, NeverOverwrite}

// Post-sync trigger modes.
const (
	TriggerNone      = "none"
	TriggerPerRecord = "per_record"
	TriggerSummary   = "summary"
)

// TriggerModes lists the trigger modes in the order the form offers them.
var TriggerModes = []string{TriggerNone, TriggerPerRecord, TriggerSummary}

// ProfileFields are the profile's own fields, which a mapping, a profile_update step or
// createUserDefaults may write; any other field is a custom attribute (custom.<name>).
var ProfileFields = []string{"title", "department", "location", "costCenter", "startDate"}

// Defaults of PRODUCT §3.
const (
	DefaultStaleRetention         = "7d"
	DefaultIssuerSourcePath       = "attributes.identityIssuer"
	DefaultGuardMaxPercent        = 20
	DefaultGuardMaxCount          = 500
	DefaultMaxWorkflowRunsPerSync = 1000
)

// Config is the sync configuration of one (connector, resource type). Its JSON is the API's.
type Config struct {
	Enabled                     bool              `json:"enabled"`
	Strategy                    string            `json:"strategy"`
	Cron                        string            `json:"cron"`
	StaleRetention              string            `json:"staleRetention"`
	Filters                     Filters           `json:"filters"`
	UserMatchStrategy           string            `json:"userMatchStrategy"`
	IssuerSourcePath            string            `json:"issuerSourcePath"`
	UserMatchFallbackStrategies []string          `json:"userMatchFallbackStrategies"`
	CreateUsers                 bool              `json:"createUsers"`
	CreateUserDefaults          map[string]string `json:"createUserDefaults"`
	DeactivateUsers             bool              `json:"deactivateUsers"`
	AttributeMappings           []Mapping         `json:"attributeMappings"`
	PostSyncWorkflowID          string            `json:"postSyncWorkflowId"`
	TriggerMode                 string            `json:"triggerMode"`
	DeletionGuard               Guard             `json:"deletionGuard"`
	MaxWorkflowRunsPerSync      int               `json:"maxWorkflowRunsPerSync"`
}

// Filters narrow what a run keeps of the upstream listing.
type Filters struct {
	// EmailDomains keeps only records whose email is in one of these domains (any case);
	// empty keeps every record, with or without email.
	EmailDomains []string `json:"emailDomains"`
	// MaxRecords stops keeping records after this many; 0 means no limit. A run that hits it
	// has read a truncated listing and stales nothing.
	MaxRecords int `json:"maxRecords"`
}

// Mapping copies a value of a synced record into a matched user's profile.
type Mapping struct {
	SourcePath  string `json:"sourcePath"`
	TargetField string `json:"targetField"`
	WriteMode   string `json:"writeMode"`
	Enabled     bool   `json:"enabled"`
}

// Guard bounds how much one run may stale or deactivate before it holds for an admin.
type Guard struct {
	MaxPercent int `json:"maxPercent"`
	MaxCount   int `json:"maxCount"`
}

// Default is the configuration of a (connector, resource type) nobody has configured.
func Default() Config {
	c := Config{}
	c.fillDefaults()
	return c
}

// fillDefaults gives every omitted field its default. The guard's and the workflow cap's zero
// values are omitted ones, so the least a guard can be set to is 1.
func (c *Config) fillDefaults() {
	if c.Strategy == "" {
		c.Strategy = StrategyFull
	}
	if c.StaleRetention == "" {
		c.StaleRetention = DefaultStaleRetention
	}
	if c.UserMatchStrategy == "" {
		c.UserMatchStrategy = MatchEmail
	}
	if c.IssuerSourcePath == "" {
		c.IssuerSourcePath = DefaultIssuerSourcePath
	}
	if c.TriggerMode == "" {
		c.TriggerMode = TriggerNone
	}
	if c.DeletionGuard.MaxPercent == 0 {
		c.DeletionGuard.MaxPercent = DefaultGuardMaxPercent
	}
	if c.DeletionGuard.MaxCount == 0 {
		c.DeletionGuard.MaxCount = DefaultGuardMaxCount
	}
	if c.MaxWorkflowRunsPerSync == 0 {
		c.MaxWorkflowRunsPerSync = DefaultMaxWorkflowRunsPerSync
	}
	if c.Filters.EmailDomains == nil {
		c.Filters.EmailDomains = []string{}
	}
	if c.UserMatchFallbackStrategies == nil {
		c.UserMatchFallbackStrategies = []string{}
	}
	if c.CreateUserDefaults == nil {
		c.CreateUserDefaults = map[string]string{}
	}
	if c.AttributeMappings == nil {
		c.AttributeMappings = []Mapping{}
	}
}

// Problem names one invalid field of a configuration.
type Problem struct {
	Field   string
	Message string
}

// Normalize fills the defaults and tidies what was typed (trimmed text, lower-case domains
// without a leading @), and returns every problem, each naming its field by its JSON path.
// Whether postSyncWorkflowId names a published workflow is for the caller, which can look.
func Normalize(c *Config) []Problem {
	var ps []Problem
	add := func(field, format string, args ...any) {
		ps = append(ps, Problem{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	c.Strategy = strings.TrimSpace(c.Strategy)
	c.Cron = strings.TrimSpace(c.Cron)
	c.StaleRetention = strings.TrimSpace(c.StaleRetention)
	c.UserMatchStrategy = strings.TrimSpace(c.UserMatchStrategy)
	c.IssuerSourcePath = strings.TrimSpace(c.IssuerSourcePath)
	c.PostSyncWorkflowID = strings.TrimSpace(c.PostSyncWorkflowID)
	c.TriggerMode = strings.TrimSpace(c.TriggerMode)
	if c.DeletionGuard.MaxPercent < 0 {
		add("deletionGuard.maxPercent", "must be a percentage from 1 to 100, not %d", c.DeletionGuard.MaxPercent)
	}
	if c.DeletionGuard.MaxCount < 0 {
		add("deletionGuard.maxCount", "must be a whole number of at least 1, not %d", c.DeletionGuard.MaxCount)
	}
	if c.MaxWorkflowRunsPerSync < 0 {
		add("maxWorkflowRunsPerSync", "must be a whole number of at least 1, not %d", c.MaxWorkflowRunsPerSync)
	}
	c.fillDefaults()

	if !slices.Contains([]string{StrategyFull, StrategyIncremental}, c.Strategy) {
		add("strategy", "must be full or incremental, not %q", c.Strategy)
	}
	if c.Cron != "" {
		if p := workflow.CronProblem(c.Cron); p != "" {
			add("cron", "%s", p)
		}
	} else if c.Enabled {
		add("cron", "is required when scheduled sync is enabled; leave Enabled off to sync only on demand")
	}
	if _, err := ParseRetention(c.StaleRetention); err != nil {
		add("staleRetention", "%v", err)
	}
	for i, d := range c.Filters.EmailDomains {
		d = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(d), "@"))
		c.Filters.EmailDomains[i] = d
		if !domainPattern.MatchString(d) {
			add(fmt.Sprintf("filters.emailDomains[%d]", i), "must be a domain such as example.org, not %q", d)
		}
	}
	if c.Filters.MaxRecords < 0 {
		add("filters.maxRecords", "must be 0 (no limit) or a whole number of records, not %d", c.Filters.MaxRecords)
	}
	if !slices.Contains(MatchStrategies, c.UserMatchStrategy) {
		add("userMatchStrategy", "must be one of %s, not %q", strings.Join(MatchStrategies, ", "), c.UserMatchStrategy)
	}
	if _, err := ParsePath(c.IssuerSourcePath); err != nil {
		add("issuerSourcePath", "%v", err)
	}
	seen := map[string]bool{c.UserMatchStrategy: true}
	for i, s := range c.UserMatchFallbackStrategies {
		s = strings.TrimSpace(s)
		c.UserMatchFallbackStrategies[i] = s
		field := fmt.Sprintf("userMatchFallbackStrategies[%d]", i)
		switch {
		case !slices.Contains(MatchStrategies, s):
			add(field, "must be one of %s, not %q", strings.Join(MatchStrategies, ", "), s)
		case s == c.UserMatchStrategy:
			add(field, "%q is already the primary strategy; a fallback must be another one", s)
		case seen[s]:
			add(field, "%q is already an earlier fallback", s)
		}
		seen[s] = true
	}
	for k, v := range c.CreateUserDefaults {
		if !validTarget(k) {
			add("createUserDefaults."+k, "must be a profile field (%s) or custom.<name>", strings.Join(ProfileFields, ", "))
		} else if k == "startDate" && v != "" {
			if _, err := time.Parse(time.DateOnly, v); err != nil {
				add("createUserDefaults.startDate", "must be a date such as 2026-01-31, not %q", v)
			}
		}
	}
	for i, m := range c.AttributeMappings {
		m.SourcePath = strings.TrimSpace(m.SourcePath)
		m.TargetField = strings.TrimSpace(m.TargetField)
		m.WriteMode = strings.TrimSpace(m.WriteMode)
		if m.WriteMode == "" {
			m.WriteMode = OverwriteIfEmpty
		}
		c.AttributeMappings[i] = m
		field := fmt.Sprintf("attributeMappings[%d]", i)
		if _, err := ParsePath(m.SourcePath); err != nil {
			add(field+".sourcePath", "%v", err)
		}
		if !validTarget(m.TargetField) {
			add(field+".targetField", "%q is not a profile field: use one of %s, or custom.<name>", m.TargetField, strings.Join(ProfileFields, ", "))
		}
		if !slices.Contains(WriteModes, m.WriteMode) {
			add(field+".writeMode", "must be one of %s, not %q", strings.Join(WriteModes, ", "), m.WriteMode)
		}
	}
	if !slices.Contains(TriggerModes, c.TriggerMode) {
		add("triggerMode", "must be one of %s, not %q", strings.Join(TriggerModes, ", "), c.TriggerMode)
	} else if c.TriggerMode != TriggerNone && c.PostSyncWorkflowID == "" {
		add("postSyncWorkflowId", "choose the workflow to start, or set the trigger mode to none")
	}
	if c.DeletionGuard.MaxPercent > 100 {
		add("deletionGuard.maxPercent", "must be a percentage from 1 to 100, not %d", c.DeletionGuard.MaxPercent)
	}
	return ps
}

var domainPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$`)

var customName = regexp.MustCompile(`^custom\.[A-Za-z][A-Za-z0-9_]{0,62}$`)

func validTarget(t string) bool {
	return slices.Contains(ProfileFields, t) || customName.MatchString(t)
}

// ParseRetention reads a stale retention such as 7d, 24h or 30m.
func ParseRetention(s string) (time.Duration, error) {
	const form = "must be a whole number followed by d (days), h (hours) or m (minutes), such as 7d, 24h or 30m"
	if len(s) < 2 {
		return 0, fmt.Errorf("%s, not %q", form, s)
	}
	n, err := strconv.Atoi(s[:len(s)-1])
	if err != nil || n < 1 || s[0] == '+' {
		return 0, fmt.Errorf("%s, not %q", form, s)
	}
	unit := map[byte]time.Duration{'d': 24 * time.Hour, 'h': time.Hour, 'm': time.Minute}[s[len(s)-1]]
	if unit == 0 {
		return 0, fmt.Errorf("%s, not %q", form, s)
	}
	// Ten years is more than anyone keeps a stale record, and keeps the product in range.
	if time.Duration(n) > 10*365*24*time.Hour/unit {
		return 0, fmt.Errorf("must be at most ten years, not %q", s)
	}
	return time.Duration(n) * unit, nil
}

// Stats are a run's counts (PRODUCT §3), with what the lifecycle and workflows did.
type Stats struct {
	Fetched         int `json:"fetched"`
	Added           int `json:"added"`
	Updated         int `json:"updated"`
	Unchanged       int `json:"unchanged"`
	Stale           int `json:"stale"`
	Purged          int `json:"purged"`
	MatchedExact    int `json:"matchedExact"`
	MatchedProbable int `json:"matchedProbable"`
	Ambiguous       int `json:"ambiguous"`
	Unmatched       int `json:"unmatched"`
	Skipped         int `json:"skipped"`
	Manual          int `json:"manual"`
	Created         int `json:"created"`
	Deactivated     int `json:"deactivated"`
	SkippedNoEmail  int `json:"skippedNoEmail"`
	Mapped          int `json:"mapped"`
	WorkflowRuns    int `json:"workflowRuns"`
	// WorkflowError says why the post-sync workflow did not start; the sync itself completed.
	WorkflowError string `json:"workflowError,omitempty"`
}

// Hold is why a run waits for an admin to allow it.
type Hold struct {
	// Reason is deletion_guard or workflow_cap.
	Reason  string `json:"reason"`
	Message string `json:"message"`
	// Live is how many records were live before the run; Stale and Deactivate what it would
	// stale and deactivate.
	Live       int `json:"live"`
	Stale      int `json:"stale"`
	Deactivate int `json:"deactivate"`
	MaxPercent int `json:"maxPercent,omitempty"`
	MaxCount   int `json:"maxCount,omitempty"`
	// WorkflowRuns is how many post-sync runs the run would start, beyond Cap.
	WorkflowRuns int `json:"workflowRuns,omitempty"`
	Cap          int `json:"cap,omitempty"`
}

// Check says whether a run that would stale stale of live records and deactivate deactivate
// users trips the guard: either count above maxCount, or above maxPercent of live.
func (g Guard) Check(live, stale, deactivate int) *Hold {
	over := func(n int) bool {
		return n > g.MaxCount || (live > 0 && n*100 > g.MaxPercent*live)
	}
	if !over(stale) && !over(deactivate) {
		return nil
	}
	what := fmt.Sprintf("stale %d of %d records", stale, live)
	if deactivate > 0 {
		what += fmt.Sprintf(" and deactivate %d users", deactivate)
	}
	return &Hold{
		Reason: "deletion_guard", Live: live, Stale: stale, Deactivate: deactivate, MaxPercent: g.MaxPercent, MaxCount: g.MaxCount,
		Message: fmt.Sprintf("This run would %s, more than the deletion guard allows (%d %% or %d). Nothing was changed: check the upstream, then allow or cancel the run.",
			what, g.MaxPercent, g.MaxCount),
	}
}
