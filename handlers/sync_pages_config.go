package handlers

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"floh/connectors"
	"floh/db"
	"floh/engine"
	esync "floh/engine/sync"
	"floh/views"
)

// The Sync tab's configuration form. Its inputs are named after the fields of the
// configuration's JSON (cron, filters.maxRecords, attributeMappings[0].targetField), so the
// engine's problems land beside the inputs they name.

// configState is what the form shows when it is not the stored configuration: what was
// typed, with its problems.
type configState struct {
	values   map[string]string
	mappings []views.SyncMappingRow
	errors   []views.FieldError
	saved    string
	failed   string
	open     bool
}

var syncProfileLabels = map[string]string{
	"title": "Title", "department": "Department", "location": "Location", "costCenter": "Cost center", "startDate": "Start date",
}

// config is the configuration section: the stored configuration, or st when given.
func (v *syncPage) config(ctx context.Context, st *configState) (views.SyncConfigForm, error) {
	cfg, err := v.s.engine.SyncConfig(ctx, v.c.ID, v.rt)
	if err != nil {
		return views.SyncConfigForm{}, err
	}
	_, err = db.FindSyncConfig(ctx, v.s.db.Bun, v.c.ID, v.rt)
	stored := err == nil
	if err != nil && !errors.Is(err, db.ErrNotFound) {
		return views.SyncConfigForm{}, err
	}
	if st == nil {
		st = &configState{}
	}
	if st.values == nil {
		st.values, st.mappings = syncConfigValues(cfg), syncMappingRows(cfg.AttributeMappings)
	}
	workflows, names, err := v.postSyncWorkflows(ctx, st.values["postSyncWorkflowId"])
	if err != nil {
		return views.SyncConfigForm{}, err
	}
	f := views.SyncConfigForm{
		Action: v.base + "/config", PageHref: v.base, Users: v.rt == connectors.ResourceUser,
		Editable: v.manage, Stored: stored, Saved: st.saved, Error: st.failed,
		Form:    views.Form{Values: st.values, Errors: st.errors},
		Open:    !stored || st.open || len(st.errors) > 0,
		Summary: syncConfigSummary(cfg, v.rt),
		Strategies: []views.SyncChoice{
			{Value: esync.StrategyFull, Label: "Full", Help: "Fetches all records. Records not seen are marked stale. Best for data that should always reflect the upstream."},
			{Value: esync.StrategyIncremental, Label: "Incremental", Help: "Fetches only records modified since the last successful sync, and marks nothing stale. Best for large directories."},
		},
		MatchOptions: []views.SyncChoice{
			{Value: esync.MatchEmail, Label: "Email", Help: "Compares the record’s email with each Floh user’s email, in any case. Works when emails are unique."},
			{Value: esync.MatchEmailIssuer, Label: "Email + Issuer", Help: "Compares the email and the identity issuer (at the issuer source path below) with the user’s email and upstream issuer. For users from several identity providers sharing an email."},
			{Value: esync.MatchUpstreamIdentity, Label: "Upstream identity", Help: "Compares the record’s external ID with the user’s upstream ID."},
			{Value: esync.MatchExternalID, Label: "External ID", Help: "Compares the record’s external ID with the user’s OIDC subject (sub)."},
		},
		TriggerModes: []views.SyncChoice{
			{Value: esync.TriggerNone, Label: "None", Help: "No workflow runs after a sync."},
			{Value: esync.TriggerPerRecord, Label: "Per changed record", Help: "One run per added or updated record, with the record in its variables."},
			{Value: esync.TriggerSummary, Label: "Summary", Help: "One run per sync, with the sync’s statistics."},
		},
		FallbackChoice: []views.Option{{Value: "", Label: "None"}},
		WriteModes: []views.Option{{Value: esync.OverwriteAlways, Label: "Overwrite always"},
			{Value: esync.OverwriteIfEmpty, Label: "Overwrite if empty"}, {Value: esync.NeverOverwrite, Label: "Never overwrite"}},
		Workflows:    workflows,
		TargetFields: []views.Option{{Value: "", Label: "Choose a field"}},
	}
	for _, c := range f.MatchOptions {
		f.FallbackChoice = append(f.FallbackChoice, views.Option{Value: c.Value, Label: c.Label})
	}
	for _, name := range esync.ProfileFields {
		f.TargetFields = append(f.TargetFields, views.Option{Value: name, Label: syncProfileLabels[name]})
	}
	f.TargetFields = append(f.TargetFields, views.Option{Value: "custom.", Label: "Custom attribute (name beside)"})
	for _, m := range st.mappings {
		prefix := "attributeMappings[" + strconv.Itoa(m.Index) + "]."
		m.SourceError, m.TargetError, m.ModeError = f.Form.Error(prefix+"sourcePath"), f.Form.Error(prefix+"targetField"), f.Form.Error(prefix+"writeMode")
		f.Mappings = append(f.Mappings, m)
	}
	if !f.Editable {
		f.Why = "Changing the sync configuration needs the connector:manage permission."
		f.Values = syncConfigRows(cfg, v.rt, names)
	}
	return f, nil
}

// postSyncWorkflows are the published workflows a sync may start, and the names of every
// workflow by id. A chosen workflow no longer published stays offered, so the form keeps it
// and saving says what is wrong with it.
func (v *syncPage) postSyncWorkflows(ctx context.Context, chosen string) ([]views.Option, map[string]string, error) {
	ws, _, err := v.s.engine.ListWorkflows(ctx, db.WorkflowFilter{Status: db.WorkflowActive, Page: db.Page{Page: 1, PageSize: maxPageSize}})
	if err != nil {
		return nil, nil, err
	}
	out := []views.Option{{Value: "", Label: "None"}}
	names := map[string]string{}
	for _, w := range ws {
		out = append(out, views.Option{Value: w.ID.String(), Label: w.Name})
		names[w.ID.String()] = w.Name
	}
	if chosen != "" && names[chosen] == "" {
		out = append(out, views.Option{Value: chosen, Label: "Not published: " + chosen})
	}
	return out, names, nil
}

// syncConfigValues are the form's values of a configuration.
func syncConfigValues(cfg *esync.Config) map[string]string {
	v := map[string]string{
		"enabled": strconv.FormatBool(cfg.Enabled), "strategy": cfg.Strategy, "cron": cfg.Cron,
		"staleRetention": cfg.StaleRetention, "filters.emailDomains": strings.Join(cfg.Filters.EmailDomains, ", "),
		"filters.maxRecords": numberValue(cfg.Filters.MaxRecords), "userMatchStrategy": cfg.UserMatchStrategy,
		"issuerSourcePath": cfg.IssuerSourcePath, "createUsers": strconv.FormatBool(cfg.CreateUsers),
		"deactivateUsers": strconv.FormatBool(cfg.DeactivateUsers), "postSyncWorkflowId": cfg.PostSyncWorkflowID,
		"triggerMode": cfg.TriggerMode, "deletionGuard.maxPercent": strconv.Itoa(cfg.DeletionGuard.MaxPercent),
		"deletionGuard.maxCount": strconv.Itoa(cfg.DeletionGuard.MaxCount), "maxWorkflowRunsPerSync": strconv.Itoa(cfg.MaxWorkflowRunsPerSync),
	}
	for i, s := range cfg.UserMatchFallbackStrategies {
		v[fmt.Sprintf("userMatchFallbackStrategies[%d]", i)] = s
	}
	var custom []string
	for _, k := range slices.Sorted(maps.Keys(cfg.CreateUserDefaults)) {
		if name, ok := strings.CutPrefix(k, "custom."); ok {
			custom = append(custom, name+" = "+cfg.CreateUserDefaults[k])
		} else {
			v["createUserDefaults."+k] = cfg.CreateUserDefaults[k]
		}
	}
	v["createUserDefaults.custom"] = strings.Join(custom, "\n")
	return v
}

func numberValue(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

func syncMappingRows(ms []esync.Mapping) []views.SyncMappingRow {
	rows := []views.SyncMappingRow{}
	for i, m := range ms {
		row := views.SyncMappingRow{Index: i, SourcePath: m.SourcePath, Target: m.TargetField, WriteMode: m.WriteMode, Enabled: m.Enabled}
		if name, ok := strings.CutPrefix(m.TargetField, "custom."); ok {
			row.Target, row.CustomName = "custom.", name
		}
		rows = append(rows, row)
	}
	return rows
}

// syncConfigSummary sums a configuration up in a line, for the folded form.
func syncConfigSummary(cfg *esync.Config, rt string) string {
	parts := []string{titleWords(cfg.Strategy)}
	switch {
	case cfg.Cron == "":
		parts = append(parts, "manual only")
	case cfg.Enabled:
		parts = append(parts, "scheduled "+cfg.Cron+" UTC")
	default:
		parts = append(parts, "schedule off")
	}
	if rt == connectors.ResourceUser {
		parts = append(parts, matchLabel(cfg.UserMatchStrategy)+" matching")
		if cfg.CreateUsers {
			parts = append(parts, "creates users")
		}
		if cfg.DeactivateUsers {
			parts = append(parts, "deactivates users")
		}
		if n := len(cfg.AttributeMappings); n > 0 {
			parts = append(parts, plural(n, "mapping"))
		}
	}
	return strings.Join(parts, " · ")
}

func matchLabel(strategy string) string {
	return map[string]string{esync.MatchEmail: "Email", esync.MatchEmailIssuer: "Email + Issuer",
		esync.MatchUpstreamIdentity: "Upstream identity", esync.MatchExternalID: "External ID"}[strategy]
}

// syncConfigRows are the configuration as a reader sees it.
func syncConfigRows(cfg *esync.Config, rt string, workflows map[string]string) []views.ReviewRow {
	rows := []views.ReviewRow{
		{Label: "Enabled", Value: yesNo(cfg.Enabled)},
		{Label: "Strategy", Value: titleWords(cfg.Strategy)},
		{Label: "Cron schedule (UTC)", Value: cfg.Cron, Mono: true},
		{Label: "Stale retention", Value: cfg.StaleRetention, Mono: true},
		{Label: "Email domains", Value: strings.Join(cfg.Filters.EmailDomains, ", ")},
		{Label: "Max records", Value: numberValue(cfg.Filters.MaxRecords)},
	}
	if rt == connectors.ResourceUser {
		var fallbacks []string
		for _, s := range cfg.UserMatchFallbackStrategies {
			fallbacks = append(fallbacks, matchLabel(s))
		}
		var mappings []string
		for _, m := range cfg.AttributeMappings {
			line := m.SourcePath + " → " + m.TargetField + " (" + titleWords(m.WriteMode) + ")"
			if !m.Enabled {
				line += ", off"
			}
			mappings = append(mappings, line)
		}
		var defaults []string
		for _, k := range slices.Sorted(maps.Keys(cfg.CreateUserDefaults)) {
			defaults = append(defaults, k+" = "+cfg.CreateUserDefaults[k])
		}
		rows = append(rows,
			views.ReviewRow{Label: "User match strategy", Value: matchLabel(cfg.UserMatchStrategy)},
			views.ReviewRow{Label: "Issuer source path", Value: cfg.IssuerSourcePath, Mono: true},
			views.ReviewRow{Label: "Fallback strategies", Value: strings.Join(fallbacks, ", ")},
			views.ReviewRow{Label: "Create users", Value: yesNo(cfg.CreateUsers)},
			views.ReviewRow{Label: "Create user defaults", Value: strings.Join(defaults, "; ")},
			views.ReviewRow{Label: "Deactivate users", Value: yesNo(cfg.DeactivateUsers)},
			views.ReviewRow{Label: "Attribute mappings", Value: strings.Join(mappings, "; ")},
		)
	}
	workflow := workflows[cfg.PostSyncWorkflowID]
	if workflow == "" {
		workflow = cfg.PostSyncWorkflowID
	}
	return append(rows,
		views.ReviewRow{Label: "Post-sync workflow", Value: workflow},
		views.ReviewRow{Label: "Trigger mode", Value: titleWords(cfg.TriggerMode)},
		views.ReviewRow{Label: "Deletion guard", Value: fmt.Sprintf("%d %% or %d records", cfg.DeletionGuard.MaxPercent, cfg.DeletionGuard.MaxCount)},
		views.ReviewRow{Label: "Max workflow runs per sync", Value: strconv.Itoa(cfg.MaxWorkflowRunsPerSync)},
	)
}

// configForm is a posted configuration form: the configuration it makes, what was typed, what
// could not be read, and which form input each list item came from.
type configForm struct {
	cfg      esync.Config
	state    configState
	problems []views.FieldError
	// fallbackAt and mappingAt are the form's select and row of each fallback and mapping the
	// configuration holds: blank ones are left out, so the engine's indexes differ.
	fallbackAt []int
	mappingAt  []int
	action     string
}

var customDefaultLine = regexp.MustCompile(`^\s*(?:custom\.)?([^=:\s]+)\s*[=:]\s*(.*?)\s*$`)

// readConfigForm reads the posted form; users says whether the user-only sections were on it.
func readConfigForm(form url.Values, users bool) *configForm {
	cf := &configForm{action: form.Get("action")}
	values := map[string]string{}
	cf.state.values = values
	text := func(name string) string {
		s := strings.TrimSpace(form.Get(name))
		values[name] = s
		return s
	}
	check := func(name string) bool {
		b := form.Get(name) == "true"
		values[name] = strconv.FormatBool(b)
		return b
	}
	number := func(name, example string) int {
		s := text(name)
		if s == "" {
			return 0
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			cf.problem(name, "must be a whole number such as "+example+", not “"+s+"”")
			return 0
		}
		return n
	}
	c := &cf.cfg
	c.Enabled = check("enabled")
	c.Strategy = text("strategy")
	c.Cron = text("cron")
	c.StaleRetention = text("staleRetention")
	c.Filters.EmailDomains = strings.FieldsFunc(text("filters.emailDomains"), func(r rune) bool {
		return r == ',' || r == ';' || r == ' ' || r == '\n' || r == '\t'
	})
	c.Filters.MaxRecords = number("filters.maxRecords", "5000 (empty for no limit)")
	c.PostSyncWorkflowID = text("postSyncWorkflowId")
	c.TriggerMode = text("triggerMode")
	c.DeletionGuard.MaxPercent = number("deletionGuard.maxPercent", "20")
	c.DeletionGuard.MaxCount = number("deletionGuard.maxCount", "500")
	c.MaxWorkflowRunsPerSync = number("maxWorkflowRunsPerSync", "1000")
	if !users {
		return cf
	}
	c.UserMatchStrategy = text("userMatchStrategy")
	c.IssuerSourcePath = text("issuerSourcePath")
	for i := range 3 {
		if s := text(fmt.Sprintf("userMatchFallbackStrategies[%d]", i)); s != "" {
			c.UserMatchFallbackStrategies = append(c.UserMatchFallbackStrategies, s)
			cf.fallbackAt = append(cf.fallbackAt, i)
		}
	}
	c.CreateUsers = check("createUsers")
	c.DeactivateUsers = check("deactivateUsers")
	c.CreateUserDefaults = map[string]string{}
	for _, name := range esync.ProfileFields {
		if s := text("createUserDefaults." + name); s != "" {
			c.CreateUserDefaults[name] = s
		}
	}
	custom := form.Get("createUserDefaults.custom")
	values["createUserDefaults.custom"] = custom
	for i, line := range strings.Split(custom, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		m := customDefaultLine.FindStringSubmatch(line)
		if m == nil {
			cf.problem("createUserDefaults.custom", fmt.Sprintf("line %d must be name = value, such as badgeColour = blue, not “%s”", i+1, strings.TrimSpace(line)))
			continue
		}
		c.CreateUserDefaults["custom."+m[1]] = m[2]
	}
	n, _ := strconv.Atoi(form.Get("mappingCount"))
	for i := range min(max(n, 0), maxMappingRows) {
		prefix := fmt.Sprintf("attributeMappings[%d].", i)
		row := views.SyncMappingRow{
			Index: i, SourcePath: strings.TrimSpace(form.Get(prefix + "sourcePath")), Target: form.Get(prefix + "targetField"),
			CustomName: strings.TrimSpace(form.Get(prefix + "customName")), WriteMode: form.Get(prefix + "writeMode"),
			Enabled: form.Get(prefix+"enabled") == "true",
		}
		cf.state.mappings = append(cf.state.mappings, row)
		target := row.Target
		if target == "custom." {
			target += row.CustomName
		}
		if row.SourcePath == "" && (target == "" || target == "custom.") {
			continue // a row added and left blank
		}
		if target == "custom." {
			cf.problem(prefix+"targetField", "needs the custom attribute’s name, typed beside it")
		}
		c.AttributeMappings = append(c.AttributeMappings, esync.Mapping{SourcePath: row.SourcePath, TargetField: target,
			WriteMode: row.WriteMode, Enabled: row.Enabled})
		cf.mappingAt = append(cf.mappingAt, i)
	}
	return cf
}

func (cf *configForm) problem(field, msg string) {
	cf.problems = append(cf.problems, views.FieldError{Field: field, Message: syncMessage(field, msg)})
}

// editRows applies Add mapping or Remove to the form's rows; false when the post was a save.
func (cf *configForm) editRows() bool {
	rows := cf.state.mappings
	switch {
	case cf.action == "add-mapping":
		rows = append(rows, views.SyncMappingRow{WriteMode: esync.OverwriteIfEmpty, Enabled: true})
	case strings.HasPrefix(cf.action, "remove-mapping:"):
		i, err := strconv.Atoi(strings.TrimPrefix(cf.action, "remove-mapping:"))
		if err == nil && i >= 0 && i < len(rows) {
			rows = slices.Delete(rows, i, i+1)
		}
	default:
		return false
	}
	for i := range rows {
		rows[i].Index = i
	}
	if rows == nil {
		rows = []views.SyncMappingRow{}
	}
	cf.state.mappings = rows
	// Rows renumbered: what was typed into them moves with them.
	for k := range cf.state.values {
		if strings.HasPrefix(k, "attributeMappings[") {
			delete(cf.state.values, k)
		}
	}
	cf.problems = nil
	return true
}

var indexed = regexp.MustCompile(`^([A-Za-z.]+)\[(\d+)\](.*)$`)

// formField is the input an engine problem belongs to.
func (cf *configForm) formField(field string) string {
	if m := indexed.FindStringSubmatch(field); m != nil {
		i, _ := strconv.Atoi(m[2])
		switch m[1] {
		case "filters.emailDomains":
			return m[1]
		case "userMatchFallbackStrategies":
			if i < len(cf.fallbackAt) {
				return fmt.Sprintf("%s[%d]", m[1], cf.fallbackAt[i])
			}
		case "attributeMappings":
			if i < len(cf.mappingAt) {
				return fmt.Sprintf("%s[%d]%s", m[1], cf.mappingAt[i], m[3])
			}
		}
		return field
	}
	if key, ok := strings.CutPrefix(field, "createUserDefaults."); ok && syncProfileLabels[key] == "" {
		return "createUserDefaults.custom"
	}
	return field
}

// syncFieldLabel names an input the way its label does.
func syncFieldLabel(field string) string {
	labels := map[string]string{
		"enabled": "Enabled", "strategy": "Strategy", "cron": "Cron schedule", "staleRetention": "Stale retention",
		"filters.emailDomains": "Email domains", "filters.maxRecords": "Max records", "userMatchStrategy": "User match strategy",
		"issuerSourcePath": "Issuer source path", "createUsers": "Create users", "deactivateUsers": "Deactivate users",
		"createUserDefaults.custom": "Custom attribute defaults", "postSyncWorkflowId": "Post-sync workflow",
		"triggerMode": "Trigger mode", "deletionGuard.maxPercent": "Deletion guard max %",
		"deletionGuard.maxCount": "Deletion guard max count", "maxWorkflowRunsPerSync": "Max workflow runs per sync",
	}
	if l, ok := labels[field]; ok {
		return l
	}
	if key, ok := strings.CutPrefix(field, "createUserDefaults."); ok {
		return "Create user default " + syncProfileLabels[key]
	}
	if m := indexed.FindStringSubmatch(field); m != nil {
		i, _ := strconv.Atoi(m[2])
		switch m[1] {
		case "userMatchFallbackStrategies":
			return [...]string{"First", "Second", "Third"}[min(i, 2)] + " fallback strategy"
		case "attributeMappings":
			part := map[string]string{".sourcePath": "source path", ".targetField": "target field", ".writeMode": "write mode"}[m[3]]
			return fmt.Sprintf("Mapping %d: %s", i+1, part)
		}
	}
	return field
}

// syncMessage puts a field's label before the engine's message about it.
func syncMessage(field, msg string) string {
	label := syncFieldLabel(field)
	for _, verb := range []string{"must ", "is ", "needs "} {
		if strings.HasPrefix(msg, verb) {
			return sentence(label + " " + msg)
		}
	}
	return sentence(label + ": " + msg)
}

// saveSyncConfigPage saves the configuration form, or applies its Add mapping and Remove
// buttons without saving.
func (s *Server) saveSyncConfigPage(w http.ResponseWriter, r *http.Request) error {
	c, rt, err := s.syncPath(r)
	if err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return &badRequest{"the form could not be read"}
	}
	ctx := r.Context()
	v := s.newSyncPage(r, c, rt, syncQuery{})
	if v.tab().Missing != nil {
		return errNotFoundPage
	}
	cf := readConfigForm(r.PostForm, rt == connectors.ResourceUser)
	if cf.editRows() {
		cf.state.open = true
		return v.renderConfig(w, http.StatusOK, &cf.state)
	}
	if len(cf.problems) == 0 {
		_, err := s.engine.SaveSyncConfig(ctx, principalFrom(r).Actor(), c.ID, rt, cf.cfg)
		var verr *engine.ValidationError
		switch {
		case err == nil:
			msg := "Saved the sync configuration of " + syncNouns[rt] + "."
			if !isPartial(r) {
				s.flash(r, "success", msg)
				return redirect(w, r, v.base+"#"+views.SyncConfigID)
			}
			// The status card shows the schedule: it fetches itself again.
			w.Header().Set("HX-Trigger", "sync-configured")
			return v.renderConfig(w, http.StatusOK, &configState{saved: msg, open: true})
		case errors.As(err, &verr):
			for _, f := range verr.Fields {
				field := cf.formField(f.Field)
				cf.state.errors = append(cf.state.errors, views.FieldError{Field: field, Message: syncMessage(field, f.Message)})
			}
		default:
			status, msg, ok := actionProblem(err)
			if !ok {
				return err
			}
			if !isPartial(r) {
				s.flash(r, "error", msg)
				return redirect(w, r, v.base+"#"+views.SyncConfigID)
			}
			cf.state.failed = msg
			return v.renderConfig(w, status, &cf.state)
		}
	} else {
		// What could not be read is named; the rest is checked as saving would check it.
		check := cf.cfg
		for _, p := range esync.Normalize(&check) {
			field := cf.formField(p.Field)
			if !slices.ContainsFunc(cf.problems, func(e views.FieldError) bool { return e.Field == field }) {
				cf.problems = append(cf.problems, views.FieldError{Field: field, Message: syncMessage(field, p.Message)})
			}
		}
		cf.state.errors = cf.problems
	}
	slices.SortStableFunc(cf.state.errors, func(a, b views.FieldError) int { return formOrder(a.Field) - formOrder(b.Field) })
	return v.renderConfig(w, http.StatusUnprocessableEntity, &cf.state)
}

// configFieldOrder is the order of the form's inputs, which the error summary follows.
var configFieldOrder = []string{"enabled", "strategy", "cron", "staleRetention", "filters.emailDomains", "filters.maxRecords",
	"userMatchStrategy", "issuerSourcePath", "userMatchFallbackStrategies", "createUsers", "createUserDefaults", "deactivateUsers",
	"attributeMappings", "postSyncWorkflowId", "triggerMode", "deletionGuard.maxPercent", "deletionGuard.maxCount", "maxWorkflowRunsPerSync"}

func formOrder(field string) int {
	for i, name := range configFieldOrder {
		if strings.HasPrefix(field, name) {
			return i
		}
	}
	return len(configFieldOrder)
}

// renderConfig answers a post of the configuration form: htmx gets the section, a plain
// browser the whole page with the form as posted.
func (v *syncPage) renderConfig(w http.ResponseWriter, status int, st *configState) error {
	ctx := v.r.Context()
	f, err := v.config(ctx, st)
	if err != nil {
		return err
	}
	if isPartial(v.r) {
		v.s.render(w, v.r, status, views.SyncConfigSection(f))
		return nil
	}
	p, err := v.full(ctx)
	if err != nil {
		return err
	}
	p.Sync.Config = f
	v.render(w, status, p)
	return nil
}
