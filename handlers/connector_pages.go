package handlers

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"floh/connectors"
	"floh/db"
	"floh/engine"
	"floh/views"
)

// Connector pages: the list, the create wizard, and one connector's tabs.

func healthBadge(status string) views.Badge {
	switch status {
	case db.HealthHealthy:
		return views.Badge{Label: "healthy", Tone: "ok"}
	case db.HealthDown:
		return views.Badge{Label: "down", Tone: "bad"}
	default:
		return views.Badge{Label: "unknown", Tone: "muted"}
	}
}

func lastTestBadge(ok *bool) views.Badge {
	switch {
	case ok == nil:
		return views.Badge{}
	case *ok:
		return views.Badge{Label: "passed", Tone: "ok"}
	default:
		return views.Badge{Label: "failed", Tone: "bad"}
	}
}

func enabledBadge(c *db.Connector) views.Badge {
	if c.Enabled {
		return views.Badge{Label: "enabled", Tone: "ok"}
	}
	return views.Badge{Label: "disabled", Tone: "warn"}
}

// typeLabel names a connector's type; a type this build lacks is still named.
func (s *Server) typeLabel(name string) string {
	if t := s.engine.ConnectorType(name); t != nil {
		return t.Label
	}
	return name + " (not available in this version)"
}

func (s *Server) typeOptions() []views.Option {
	var out []views.Option
	for _, t := range s.engine.ConnectorTypes() {
		out = append(out, views.Option{Value: t.Name, Label: t.Label})
	}
	return out
}

func (s *Server) listConnectors(w http.ResponseWriter, r *http.Request) error {
	f, err := connectorFilter(r)
	if err != nil {
		// A hand-edited address still shows the list.
		f = db.ConnectorFilter{Page: db.Page{Page: 1, PageSize: defaultPageSize}}
	}
	cs, total, err := s.engine.ListConnectors(r.Context(), f)
	if err != nil {
		return err
	}
	p := views.ConnectorsPage{
		Page: s.page(r, "Connectors", "connectors"), Q: f.Q, Type: f.Type, IncludeDeleted: f.IncludeDeleted,
		Types: s.typeOptions(), CanManage: principalFrom(r).Can(engine.PermConnectorManage),
	}
	ids := make([]string, len(cs))
	for i := range cs {
		ids[i] = cs[i].ID.String()
	}
	incidents, err := db.ListUnresolvedIncidentsOf(r.Context(), s.db.Bun, "connector", ids)
	if err != nil {
		return err
	}
	for i := range cs {
		c := &cs[i]
		row := views.ConnectorRow{
			ID: c.ID.String(), Name: c.Name, Description: c.Description, TypeLabel: s.typeLabel(c.Type),
			Enabled: enabledBadge(c), Health: healthBadge(c.HealthStatus), HealthSince: s.when(c.HealthSince),
			LastTest: lastTestBadge(c.LastTestOK), LastTestAt: s.when(c.LastTestAt), Updated: s.whenT(c.UpdatedAt),
			Deleted: c.Deleted(),
		}
		if e := connectorError(storedError(c.LastError), row.ID, nil, nil); e != nil {
			row.LastError = e.Class + ": " + e.Message
		}
		if inc, ok := incidents[row.ID]; ok {
			row.Incident = &views.Link{Label: "Incident " + inc.Status, Href: "/incidents/" + inc.ID.String()}
		}
		p.Rows = append(p.Rows, row)
	}
	p.Pager = views.Pager{Page: f.Page.Page, PageSize: f.Page.PageSize, Total: total, Href: func(n int) string {
		q := url.Values{"q": {f.Q}, "type": {f.Type}, "page": {strconv.Itoa(n)}}
		if f.IncludeDeleted {
			q.Set("includeDeleted", "true")
		}
		return withQuery("/connectors", q)
	}}
	s.render(w, r, http.StatusOK, views.ConnectorsView(p, isPartial(r)))
	return nil
}

// The create wizard. Its steps are type → details (name, description) → config → review; a
// type without config fields skips config. Steps after the first post everything typed so far
// back and forth (secrets sealed with SealFormSecrets, never in clear), and nothing is stored
// until the review step posts to POST /connectors.

const (
	stepType    = "type"
	stepDetails = "details"
	stepConfig  = "config"
	stepReview  = "review"
)

// wizard is what the wizard's form carries.
type wizard struct {
	t           *connectors.Type
	name        string
	description string
	// values are the typed non-secret config values by form name (config.<field>); a field
	// absent from it has not been shown yet and starts with its default.
	values  map[string]string
	secrets map[string]string
	// problems are what reading the form found: unreadable sealed secrets, unparsable values.
	problems []views.FieldError
}

// readWizard reads the wizard's state from a posted form. submitted is the step whose inputs
// are on the page (its checkboxes are unticked when absent); the other steps' values are
// carried as hidden inputs.
func (s *Server) readWizard(r *http.Request) (*wizard, string, error) {
	if err := r.ParseForm(); err != nil {
		return nil, "", &badRequest{"the form could not be read"}
	}
	wz := &wizard{
		t: s.engine.ConnectorType(r.PostFormValue("type")), name: r.PostFormValue("name"),
		description: r.PostFormValue("description"), values: map[string]string{}, secrets: map[string]string{},
	}
	submitted := r.PostFormValue("step")
	if wz.t == nil {
		return wz, submitted, nil
	}
	if submitted == stepConfig {
		wz.values = typedFields(r.PostForm, configPrefix, wz.t.Config, false)
	} else {
		for _, f := range wz.t.Config {
			if vs, ok := r.PostForm[configPrefix+f.Name]; ok && !f.Secret {
				wz.values[configPrefix+f.Name] = vs[0]
			}
		}
	}
	if sealed := r.PostFormValue("sealed"); sealed != "" {
		opened, err := s.engine.OpenFormSecrets(principalFrom(r).User.ID, sealed)
		if err != nil {
			wz.problems = append(wz.problems, sealedProblem(wz.t.Config, err))
		} else {
			for k, v := range opened {
				if slices.Contains(wz.t.SecretFields(), k) {
					wz.secrets[k] = v
				}
			}
		}
	}
	for k, v := range typedSecrets(r.PostForm, configPrefix, wz.t.Config) {
		wz.secrets[k] = v
	}
	return wz, submitted, nil
}

// sealedProblem puts a failure to open sealed secrets beside the first secret field.
func sealedProblem(fields []connectors.Field, err error) views.FieldError {
	for _, f := range fields {
		if f.Secret {
			return views.FieldError{Field: configPrefix + f.Name, Message: fieldName(f) + ": " + sentence(err.Error())}
		}
	}
	return views.FieldError{Field: "sealed", Message: sentence(err.Error())}
}

// input is the engine input the wizard's answers make, with what could not be converted.
func (wz *wizard) input() (engine.ConnectorInput, []views.FieldError) {
	config, problems := convertFields(wz.t.Config, configPrefix, wz.values, wz.secrets)
	return engine.ConnectorInput{Name: wz.name, Type: wz.t.Name, Description: wz.description, Config: config},
		append(slices.Clone(wz.problems), problems...)
}

// stepOf is the wizard step whose page holds a field.
func stepOf(field string) string {
	switch {
	case field == "type":
		return stepType
	case field == "name", field == "description":
		return stepDetails
	case strings.HasPrefix(field, configPrefix):
		return stepConfig
	}
	return stepReview
}

// onStep keeps the errors that belong to a step's page.
func onStep(errs []views.FieldError, step string) []views.FieldError {
	var out []views.FieldError
	for _, e := range errs {
		if stepOf(e.Field) == step {
			out = append(out, e)
		}
	}
	return out
}

// checkWizard validates the wizard's answers the way creating would and returns the problems.
func (s *Server) checkWizard(wz *wizard) ([]views.FieldError, error) {
	in, problems := wz.input()
	err := s.engine.CheckConnectorInput(in)
	if err == nil {
		return problems, nil
	}
	fields, err := connectorFormErrors(err, wz.t)
	if err != nil {
		return nil, err
	}
	// A value that could not be converted was left out, so the engine calls it missing: the
	// conversion problem is the one to show.
	for _, f := range fields {
		if !slices.ContainsFunc(problems, func(p views.FieldError) bool { return p.Field == f.Field }) {
			problems = append(problems, f)
		}
	}
	return problems, nil
}

func (s *Server) newConnector(w http.ResponseWriter, r *http.Request) error {
	name := r.URL.Query().Get("type")
	if name == "" {
		s.renderWizard(w, r, http.StatusOK, &wizard{}, stepType, nil)
		return nil
	}
	t := s.engine.ConnectorType(name)
	if t == nil {
		s.renderWizard(w, r, http.StatusUnprocessableEntity, &wizard{}, stepType,
			[]views.FieldError{{Field: "type", Message: fmt.Sprintf("There is no connector type %q: choose one of these.", name)}})
		return nil
	}
	s.renderWizard(w, r, http.StatusOK, &wizard{t: t, values: map[string]string{}, secrets: map[string]string{}}, stepDetails, nil)
	return nil
}

// connectorWizard moves the wizard on a step (checking the step's answers) or, with goto,
// back to an earlier one (keeping everything). It stores nothing.
func (s *Server) connectorWizard(w http.ResponseWriter, r *http.Request) error {
	wz, submitted, err := s.readWizard(r)
	if err != nil {
		return err
	}
	if wz.t == nil {
		s.renderWizard(w, r, http.StatusUnprocessableEntity, &wizard{}, stepType,
			[]views.FieldError{{Field: "type", Message: "Choose a connector type."}})
		return nil
	}
	if to := r.PostFormValue("goto"); to != "" {
		switch to {
		case stepType, stepDetails, stepConfig, stepReview:
		default:
			to = stepDetails
		}
		s.renderWizard(w, r, http.StatusOK, wz, to, nil)
		return nil
	}
	if submitted != stepDetails && submitted != stepConfig {
		submitted = stepDetails
	}
	problems, err := s.checkWizard(wz)
	if err != nil {
		return err
	}
	if mine := onStep(problems, submitted); len(mine) > 0 {
		s.renderWizard(w, r, http.StatusUnprocessableEntity, wz, submitted, mine)
		return nil
	}
	next := stepReview
	if submitted == stepDetails && len(wz.t.Config) > 0 {
		next = stepConfig
	}
	s.renderWizard(w, r, http.StatusOK, wz, next, nil)
	return nil
}

// createConnector is the wizard's last step. A problem found now (a name taken since the
// details step) sends the admin back to the step that holds the field.
func (s *Server) createConnector(w http.ResponseWriter, r *http.Request) error {
	wz, _, err := s.readWizard(r)
	if err != nil {
		return err
	}
	if wz.t == nil {
		s.renderWizard(w, r, http.StatusUnprocessableEntity, &wizard{}, stepType,
			[]views.FieldError{{Field: "type", Message: "Choose a connector type."}})
		return nil
	}
	in, problems := wz.input()
	if len(problems) > 0 {
		s.renderWizard(w, r, http.StatusUnprocessableEntity, wz, stepOf(problems[0].Field), onStep(problems, stepOf(problems[0].Field)))
		return nil
	}
	c, err := s.engine.CreateConnector(r.Context(), principalFrom(r).Actor(), in)
	if err != nil {
		fields, err := connectorFormErrors(err, wz.t)
		if err != nil {
			return err
		}
		step := stepReview
		for _, st := range []string{stepType, stepDetails, stepConfig} {
			if len(onStep(fields, st)) > 0 {
				step = st
				break
			}
		}
		if step != stepReview {
			fields = onStep(fields, step)
		}
		s.renderWizard(w, r, http.StatusUnprocessableEntity, wz, step, fields)
		return nil
	}
	s.flash(r, "success", "Created "+c.Name+". Floh has not contacted its system yet: test the connection now.")
	return redirect(w, r, tabURL(c.ID.String(), "test"))
}

var wizardSteps = []struct{ id, label string }{
	{stepType, "Type"}, {stepDetails, "Name and description"}, {stepConfig, "Settings"}, {stepReview, "Check and create"},
}

func (s *Server) renderWizard(w http.ResponseWriter, r *http.Request, status int, wz *wizard, step string, errs []views.FieldError) {
	page := s.page(r, "New connector", "connectors")
	page.URL = "/connectors/new"
	if wz.t != nil {
		page.URL += "?type=" + url.QueryEscape(wz.t.Name)
	}
	if wz.t != nil && step == stepConfig && len(wz.t.Config) == 0 {
		step = stepReview
	}
	p := views.ConnectorWizardPage{Page: page, Step: step, Form: views.Form{Errors: errs}}
	current := slices.IndexFunc(wizardSteps, func(st struct{ id, label string }) bool { return st.id == step })
	for i, st := range wizardSteps {
		state := "todo"
		switch {
		case i == current:
			state = "current"
		case st.id == stepConfig && wz.t != nil && len(wz.t.Config) == 0:
			state = "skipped"
		case i < current:
			state = "done"
		}
		p.Steps = append(p.Steps, views.WizardStep{Label: st.label, State: state})
	}
	if step == stepType || wz.t == nil {
		p.Step = stepType
		for _, t := range s.engine.ConnectorTypes() {
			p.Types = append(p.Types, typeCard(t))
		}
		s.render(w, r, status, views.ConnectorWizardView(p))
		return
	}
	p.Type = typeCard(wz.t)
	p.Page.Title = "New " + wz.t.Label + " connector"
	values := map[string]string{"name": wz.name, "description": wz.description}
	for _, f := range wz.t.Config {
		name := configPrefix + f.Name
		if v, ok := wz.values[name]; ok {
			values[name] = v
		} else if !f.Secret {
			values[name] = formatValue(f.Kind, f.Default)
		}
	}
	p.Form.Values = values
	if len(wz.secrets) > 0 {
		p.Sealed = s.engine.SealFormSecrets(principalFrom(r).User.ID, wz.secrets)
	}
	secretState := func(name string) string {
		if wz.secrets[name] != "" {
			return "entered"
		}
		return "not set"
	}
	p.Fields = schemaFields(configPrefix, wz.t.Config, false, secretState)
	// The other steps' answers travel as hidden inputs; the step's own are its inputs.
	carry := func(name string) {
		p.Hidden = append(p.Hidden, views.HiddenInput{Name: name, Value: values[name]})
	}
	if step != stepDetails {
		carry("name")
		carry("description")
	}
	if step != stepConfig {
		for _, f := range wz.t.Config {
			if _, ok := wz.values[configPrefix+f.Name]; ok && !f.Secret {
				carry(configPrefix + f.Name)
			}
		}
	}
	if step == stepReview {
		p.Review = wizardReview(wz, values)
	}
	s.render(w, r, status, views.ConnectorWizardView(p))
}

func typeCard(t *connectors.Type) views.ConnectorTypeCard {
	return views.ConnectorTypeCard{Name: t.Name, Label: t.Label, Description: t.Description, Settings: len(t.Config), Commands: len(t.Commands)}
}

// wizardReview lists every answer, secrets only as set or not set.
func wizardReview(wz *wizard, values map[string]string) []views.ReviewRow {
	rows := []views.ReviewRow{
		{Label: "Type", Value: wz.t.Label, Step: stepType},
		{Label: "Name", Value: wz.name, Step: stepDetails},
		{Label: "Description", Value: wz.description, Step: stepDetails},
	}
	for _, f := range wz.t.Config {
		row := views.ReviewRow{Label: fieldName(f), Step: stepConfig}
		switch v := values[configPrefix+f.Name]; {
		case f.Secret:
			row.Secret, row.Value = true, "not set"
			if wz.secrets[f.Name] != "" {
				row.Value = "set"
			}
		case f.Kind == connectors.KindBoolean && len(f.Enum) == 0:
			row.Value = yesNo(v == "true")
		case f.Kind == connectors.KindStringList:
			if items, _ := convertValue(f, v); items != nil {
				row.Value = strings.Join(items.([]string), ", ")
			}
		default:
			row.Value = v
			row.Mono = f.Kind != connectors.KindText || strings.Contains(v, "-----BEGIN")
		}
		rows = append(rows, row)
	}
	return rows
}

func yesNo(b bool) string {
	if b {
		return "Yes"
	}
	return "No"
}

// One connector's page.

var connectorTabs = []struct{ id, label string }{
	{"overview", "Overview"}, {"configuration", "Configuration"}, {"commands", "Commands"}, {"test", "Test"}, {"logs", "Logs"},
	{"impact", "Impact"},
}

func tabLabel(id string) string {
	for _, t := range connectorTabs {
		if t.id == id {
			return t.label
		}
	}
	return "Overview"
}

func (s *Server) connectorForPath(r *http.Request) (*db.Connector, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	return s.engine.FindConnector(r.Context(), id)
}

// connectorPage builds the parts every tab shows: the header, the health and the tab list.
func (s *Server) connectorPage(ctx context.Context, r *http.Request, c *db.Connector, tab string) (views.ConnectorPage, error) {
	id := c.ID.String()
	page := s.page(r, c.Name+" · "+tabLabel(tab), "connectors")
	page.URL = tabURL(id, tab)
	p := views.ConnectorPage{
		Page: page, Tab: tab, CanManage: principalFrom(r).Can(engine.PermConnectorManage),
		Connector: views.ConnectorSummary{
			ID: id, Name: c.Name, Description: c.Description, Type: c.Type, TypeLabel: s.typeLabel(c.Type),
			Enabled: c.Enabled, MockMode: c.MockMode, SystemMock: s.engine.MocksAllConnectors(),
			Deleted: c.Deleted(), DeletedAt: s.when(c.DeletedAt), Created: s.whenT(c.CreatedAt), Updated: s.whenT(c.UpdatedAt),
		},
	}
	t := s.engine.ConnectorType(c.Type)
	if t != nil {
		p.Connector.TypeDescription = t.Description
	}
	h := views.ConnectorHealth{
		Badge: healthBadge(c.HealthStatus), Since: s.when(c.HealthSince), Failures: c.HealthFailures,
		LastTest: lastTestBadge(c.LastTestOK), LastTestAt: s.when(c.LastTestAt),
		LastError: connectorError(storedError(c.LastError), id, t, nil), Interval: intervalWords(s.engine.HealthInterval()),
	}
	if c.LastTestMS != nil {
		h.LastTestMS = durationWords(int64(*c.LastTestMS))
	}
	inc, err := db.FindUnresolvedIncidentOf(ctx, s.db.Bun, "connector", id)
	switch {
	case err == nil:
		h.Incident = &views.Link{Label: inc.Title + " (" + inc.Status + ", opened " + relative(s.engine.Clock().Now(), inc.OpenedAt) + ")", Href: "/incidents/" + inc.ID.String()}
	case !errors.Is(err, db.ErrNotFound):
		return p, err
	}
	if tab == "test" {
		withoutLink(h.LastError, tabURL(id, "test"))
	}
	p.Connector.Health = h
	for _, tb := range connectorTabs {
		p.Tabs = append(p.Tabs, views.Tab{ID: tb.id, Label: tb.label, Href: tabURL(id, tb.id), Current: tb.id == tab})
		// The Sync tab is there only for a type that lists records page by page (the guide).
		if rts := s.engine.SyncResourceTypes(c); tb.id == "test" && len(rts) > 0 {
			p.Tabs = append(p.Tabs, views.Tab{ID: "sync", Label: "Sync", Href: syncTabURL(id, rts[0]), Current: tab == "sync"})
		}
	}
	return p, nil
}

// withoutLink drops the next step that leads to the page the admin is on.
func withoutLink(e *views.ConnectorError, href string) {
	if e != nil {
		e.Next = slices.DeleteFunc(e.Next, func(l views.Link) bool { return l.Href == href })
	}
}

// intervalWords shows the health monitor's interval, e.g. "5 minutes".
func intervalWords(d time.Duration) string {
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return plural(int(d/time.Hour), "hour")
	case d >= time.Minute && d%time.Minute == 0:
		return plural(int(d/time.Minute), "minute")
	}
	return d.String()
}

func (s *Server) showConnector(w http.ResponseWriter, r *http.Request) error {
	c, err := s.connectorForPath(r)
	if err != nil {
		return err
	}
	tab := r.URL.Query().Get("tab")
	if tab == "sync" {
		// The Sync tab has addresses of its own, one per resource type.
		http.Redirect(w, r, syncTabURL(c.ID.String(), s.firstSyncType(c)), http.StatusSeeOther)
		return nil
	}
	if !slices.ContainsFunc(connectorTabs, func(t struct{ id, label string }) bool { return t.id == tab }) {
		tab = "overview"
	}
	p, err := s.connectorPage(r.Context(), r, c, tab)
	if err != nil {
		return err
	}
	switch tab {
	case "overview":
		recent, _, err := s.engine.ListExecutions(r.Context(), c.ID, db.Page{Page: 1, PageSize: 5})
		if err != nil {
			return err
		}
		p.Recent = s.executionRows(recent, c, false)
	case "configuration":
		s.fillConfig(r, &p, c, views.Form{}, nil)
	case "commands":
		s.fillCommands(&p, c, r.URL.Query().Get("command"), views.Form{})
	case "logs":
		pg, _ := listPage(r)
		xs, total, err := s.engine.ListExecutions(r.Context(), c.ID, pg)
		if err != nil {
			return err
		}
		p.Executions = s.executionRows(xs, c, true)
		p.Pager = views.Pager{Page: pg.Page, PageSize: pg.PageSize, Total: total, Href: func(n int) string {
			return tabURL(c.ID.String(), "logs") + "&page=" + strconv.Itoa(n)
		}}
		if pg.Page > 1 {
			p.Page.URL += "&page=" + strconv.Itoa(pg.Page)
		}
	case "impact":
		if p.Impact, err = s.connectorImpact(r.Context(), c); err != nil {
			return err
		}
	}
	s.renderConnector(w, r, http.StatusOK, p)
	return nil
}

// renderConnector answers with the whole page, or for htmx with the tabs alone.
func (s *Server) renderConnector(w http.ResponseWriter, r *http.Request, status int, p views.ConnectorPage) {
	if isPartial(r) {
		s.render(w, r, status, views.ConnectorTabs(p))
		return
	}
	s.render(w, r, status, views.ConnectorView(p))
}

// fillConfig fills the Configuration tab. A zero form shows what is stored; entered are
// new secret values a re-rendered form carries sealed.
func (s *Server) fillConfig(r *http.Request, p *views.ConnectorPage, c *db.Connector, form views.Form, entered map[string]string) {
	t := s.engine.ConnectorType(c.Type)
	var fields []connectors.Field
	if t != nil {
		fields = t.Config
		for _, cmd := range t.Commands {
			p.Config.Commands = append(p.Config.Commands, cmd.Name)
		}
	}
	for _, cl := range connectors.Classes {
		p.Config.Classes = append(p.Config.Classes, string(cl))
	}
	if form.Values == nil {
		stored := map[string]any{}
		_ = json.Unmarshal(c.Config, &stored)
		form.Values = map[string]string{
			"name": c.Name, "description": c.Description, "enabled": strconv.FormatBool(c.Enabled),
			"mockMode": strconv.FormatBool(c.MockMode), "mockData": prettyJSON(c.MockData),
		}
		for _, f := range fields {
			if !f.Secret {
				form.Values[configPrefix+f.Name] = formatValue(f.Kind, stored[f.Name])
			}
		}
	}
	p.Config.Form = form
	p.Config.Fields = schemaFields(configPrefix, fields, false, func(name string) string {
		switch {
		case entered[name] != "":
			return "entered"
		case slices.Contains(c.SecretFields, name):
			return "set"
		}
		return "not set"
	})
	if len(entered) > 0 {
		p.Config.Sealed = s.engine.SealFormSecrets(principalFrom(r).User.ID, entered)
	}
}

// updateConnector saves the Configuration tab. A secret left empty keeps its stored value; a
// new one typed into a form that comes back with errors is carried sealed, never echoed.
func (s *Server) updateConnector(w http.ResponseWriter, r *http.Request) error {
	c, err := s.connectorForPath(r)
	if err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return &badRequest{"the form could not be read"}
	}
	t := s.engine.ConnectorType(c.Type)
	var fields []connectors.Field
	if t != nil {
		fields = t.Config
	}
	typed := typedFields(r.PostForm, configPrefix, fields, false)
	for _, n := range []string{"name", "description", "mockData"} {
		typed[n] = r.PostFormValue(n)
	}
	typed["enabled"] = strconv.FormatBool(r.PostFormValue("enabled") == "true")
	typed["mockMode"] = strconv.FormatBool(r.PostFormValue("mockMode") == "true")

	var problems []views.FieldError
	entered := map[string]string{}
	if sealed := r.PostFormValue("sealed"); sealed != "" {
		opened, err := s.engine.OpenFormSecrets(principalFrom(r).User.ID, sealed)
		if err != nil {
			problems = append(problems, sealedProblem(fields, err))
		}
		for k, v := range opened {
			if slices.ContainsFunc(fields, func(f connectors.Field) bool { return f.Secret && f.Name == k }) {
				entered[k] = v
			}
		}
	}
	for k, v := range typedSecrets(r.PostForm, configPrefix, fields) {
		entered[k] = v
	}
	config, convProblems := convertFields(fields, configPrefix, typed, entered)
	problems = append(problems, convProblems...)
	var mockData map[string]any
	if raw := strings.TrimSpace(typed["mockData"]); raw != "" {
		if err := json.Unmarshal([]byte(raw), &mockData); err != nil || mockData == nil {
			problems = append(problems, views.FieldError{Field: "mockData",
				Message: `Mock data must be a JSON object, such as {"createAccount": {"outputs": {"id": "1"}}}: ` + jsonProblem(err)})
		}
	}
	if len(problems) == 0 {
		enabled := typed["enabled"] == "true"
		saved, err := s.engine.UpdateConnector(r.Context(), principalFrom(r).Actor(), c.ID, engine.ConnectorInput{
			Name: typed["name"], Type: c.Type, Description: typed["description"], Enabled: &enabled,
			Config: config, MockMode: typed["mockMode"] == "true", MockData: mockData,
		})
		var conflict *engine.ConflictError
		switch {
		case err == nil:
			s.flash(r, "success", savedMessage(saved.Name, fields, entered))
			return redirect(w, r, tabURL(c.ID.String(), "configuration"))
		case errors.As(err, &conflict):
			s.flash(r, "error", sentence(conflict.Message))
			return redirect(w, r, tabURL(c.ID.String(), "configuration"))
		}
		if problems, err = connectorFormErrors(err, t); err != nil {
			return err
		}
	}
	p, err := s.connectorPage(r.Context(), r, c, "configuration")
	if err != nil {
		return err
	}
	s.fillConfig(r, &p, c, views.Form{Values: typed, Errors: problems}, entered)
	s.renderConnector(w, r, http.StatusUnprocessableEntity, p)
	return nil
}

// savedMessage confirms a save, naming the secrets given a new value.
func savedMessage(name string, fields []connectors.Field, entered map[string]string) string {
	msg := "Saved the configuration of " + name + "."
	var replaced []string
	for _, f := range fields {
		if entered[f.Name] != "" {
			replaced = append(replaced, fieldName(f))
		}
	}
	if len(replaced) > 0 {
		msg += " New value stored for " + strings.Join(replaced, ", ") + "."
	}
	return msg
}

// fillCommands fills the Commands tab and its console for the named command (the first one
// when the name is empty or unknown). A zero form starts from the params' defaults, with
// "use mock data" ticked when the connector answers from mock data anyway.
func (s *Server) fillCommands(p *views.ConnectorPage, c *db.Connector, command string, form views.Form) {
	t := s.engine.ConnectorType(c.Type)
	if t == nil {
		return
	}
	for i := range t.Commands {
		p.Commands = append(p.Commands, commandDoc(&t.Commands[i]))
	}
	cmd := t.Command(command)
	if cmd == nil && len(t.Commands) > 0 {
		cmd = &t.Commands[0]
	}
	if cmd == nil {
		return
	}
	doc := commandDoc(cmd)
	if form.Values == nil {
		form.Values = map[string]string{"useMock": strconv.FormatBool(c.MockMode || s.engine.MocksAllConnectors())}
		for _, f := range doc.Params {
			if f.Input == "checkbox" || f.Input == "select" {
				form.Values[f.Name] = f.Default
			}
		}
	}
	p.Console = views.Console{ConnectorID: c.ID.String(), Command: &doc, Form: form, Confirm: cmd.Mutating}
	switch {
	case !p.CanManage:
		p.Console.Disabled = "Running a command needs the connector:manage permission, because it contacts the target."
	case c.Deleted():
		p.Console.Disabled = "A deleted connector cannot run commands. Restore it first."
	}
	p.Page.URL = tabURL(c.ID.String(), "commands") + "&command=" + url.QueryEscape(cmd.Name)
}

// commandDoc describes a command: what it does, its params and outputs, whether it changes
// the target and what undoes it in a rollback.
func commandDoc(cmd *connectors.Command) views.CommandDoc {
	d := views.CommandDoc{
		Name: cmd.Name, Label: cmp.Or(cmd.Label, cmd.Name), Description: cmd.Description, Mutating: cmd.Mutating,
		MutatingNote: cmd.MutatingNote, SyncCapable: cmd.SyncCapable, Params: schemaFields(paramPrefix, cmd.Params, true, nil),
	}
	for _, o := range cmd.Outputs {
		d.Outputs = append(d.Outputs, views.OutputDoc{Name: o.Name, KindHint: outputKindWords(o.Kind), Help: o.Help})
	}
	d.Compensation = compensationWords(cmd)
	return d
}

// compensationWords says what undoes a command in a rollback.
func compensationWords(cmd *connectors.Command) string {
	comp := cmd.Compensation
	if comp == nil {
		if cmd.Mutating {
			return "Nothing undoes it in a rollback."
		}
		return ""
	}
	var parts []string
	if comp.Command != "" {
		parts = append(parts, "A rollback undoes it with "+comp.Command+".")
	}
	if comp.SubsumedBy != "" {
		parts = append(parts, comp.SubsumedBy+" of the same subject undoes it too.")
	}
	for _, p := range comp.Precedes {
		parts = append(parts, "Its undo runs before "+p.Command+" of "+p.Type+".")
	}
	return strings.Join(parts, " ")
}

// executeConnector runs one command from the console. What cannot be sent (a value of the
// wrong kind, a missing confirmation) is a 422 with the form; a command that fails is a
// result, shown with its classified error.
func (s *Server) executeConnector(w http.ResponseWriter, r *http.Request) error {
	c, err := s.connectorForPath(r)
	if err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return &badRequest{"the form could not be read"}
	}
	t := s.engine.ConnectorType(c.Type)
	if t == nil {
		return engine.Conflict("connector type %q is not available in this version of Floh", c.Type)
	}
	p, err := s.connectorPage(r.Context(), r, c, "commands")
	if err != nil {
		return err
	}
	command := r.PostFormValue("command")
	cmd := t.Command(command)
	if cmd == nil {
		s.fillCommands(&p, c, "", views.Form{Errors: []views.FieldError{{Field: "command",
			Message: fmt.Sprintf("%q is not a command of %s: choose one from the list.", command, t.Label)}}})
		s.renderConsole(w, r, http.StatusUnprocessableEntity, p)
		return nil
	}
	typed := typedFields(r.PostForm, paramPrefix, cmd.Params, true)
	secrets := typedSecrets(r.PostForm, paramPrefix, cmd.Params)
	useMock := r.PostFormValue("useMock") == "true"
	typed["useMock"] = strconv.FormatBool(useMock)
	params, problems := convertFields(cmd.Params, paramPrefix, typed, secrets)
	if len(problems) == 0 && cmd.IsMutating(params) && !useMock && r.PostFormValue("confirm") != "true" {
		problems = append(problems, views.FieldError{Field: "confirm",
			Message: "Confirm that " + cmd.Name + " may change " + c.Name + ": tick “I understand that this changes the target system”, or use mock data."})
	}
	if len(problems) > 0 {
		typed["confirm"] = strconv.FormatBool(r.PostFormValue("confirm") == "true")
		s.fillCommands(&p, c, cmd.Name, views.Form{Values: typed, Errors: problems})
		s.renderConsole(w, r, http.StatusUnprocessableEntity, p)
		return nil
	}
	res, err := s.engine.ExecuteConnector(r.Context(), principalFrom(r).Actor(), c.ID,
		engine.ExecuteInput{Command: cmd.Name, Params: params, UseMock: &useMock}, engine.SourceConsole)
	if err != nil {
		var conflict *engine.ConflictError
		if errors.As(err, &conflict) {
			s.flash(r, "error", sentence(conflict.Message))
			return redirect(w, r, tabURL(c.ID.String(), "commands"))
		}
		fields, err := formErrors(err)
		if err != nil {
			return err
		}
		s.fillCommands(&p, c, cmd.Name, views.Form{Values: typed, Errors: fields})
		s.renderConsole(w, r, http.StatusUnprocessableEntity, p)
		return nil
	}
	// The confirmation is asked again for every run, so a second click is never an accident.
	form := views.Form{Values: typed}
	hidden := slices.Collect(maps.Values(secrets))
	if e := res.Error; e != nil && e.Class == connectors.InvalidInput && cmd.Param(e.Field) != nil {
		form.Errors = []views.FieldError{{Field: paramPrefix + e.Field, Message: sentence(maskIn(e.Message, hidden))}}
	}
	s.fillCommands(&p, c, cmd.Name, form)
	p.Console.Result = executeView(res, cmd, c, t, hidden)
	s.renderConsole(w, r, http.StatusOK, p)
	return nil
}

// renderConsole answers a console run: for htmx the console alone, else the whole page.
func (s *Server) renderConsole(w http.ResponseWriter, r *http.Request, status int, p views.ConnectorPage) {
	if isPartial(r) && p.Console.Command != nil {
		s.render(w, r, status, views.ConsoleView(p.Console))
		return
	}
	if isPartial(r) {
		s.render(w, r, status, views.ConnectorTabs(p))
		return
	}
	s.render(w, r, status, views.ConnectorView(p))
}

// executeView shows a call's result. secrets are the secret param values just sent: a target
// that repeats one in its answer or its error message never gets it onto the page.
func executeView(res *engine.ExecuteResult, cmd *connectors.Command, c *db.Connector, t *connectors.Type, secrets []string) *views.ExecuteView {
	v := &views.ExecuteView{Command: cmd.Name, Success: res.Success, Mock: res.Mock, Duration: durationWords(res.DurationMS)}
	if res.Error != nil {
		e := *res.Error
		e.Message = maskIn(e.Message, secrets)
		v.Error = connectorError(&e, c.ID.String(), t, cmd.Params)
	}
	if res.Success && len(res.Data) > 0 {
		data, _ := masked(map[string]any(res.Data), secrets).(map[string]any)
		v.Data = indentJSON(data)
		v.Records = recordTable(data)
	}
	return v
}

func indentJSON(v any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSpace(b.String())
}

// maskIn replaces every secret value in s.
func maskIn(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, connectors.Masked)
		}
	}
	return s
}

// masked copies a decoded JSON value with every secret value replaced.
func masked(v any, secrets []string) any {
	switch x := v.(type) {
	case string:
		return maskIn(x, secrets)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = masked(e, secrets)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = masked(e, secrets)
		}
		return out
	}
	return v
}

const (
	maxRecordRows    = 50
	maxRecordColumns = 6
)

// firstColumns are the record fields an admin looks for first.
var firstColumns = []string{"id", "externalId", "username", "userName", "email", "displayName", "name"}

// recordTable shows the records a list command returned (the first output that is a list of
// objects) as a small table of their plain fields; the data below the table has everything.
func recordTable(data map[string]any) *views.RecordTable {
	for _, k := range slices.Sorted(maps.Keys(data)) {
		list, ok := data[k].([]any)
		if !ok || len(list) == 0 {
			continue
		}
		var records []map[string]any
		for _, e := range list {
			if m, ok := e.(map[string]any); ok {
				records = append(records, m)
			}
		}
		if len(records) != len(list) {
			continue
		}
		var cols []string
		seen := map[string]bool{}
		for _, rec := range records {
			for name, val := range rec {
				switch val.(type) {
				case map[string]any, []any:
					continue
				}
				seen[name] = true
			}
		}
		for _, name := range firstColumns {
			if seen[name] {
				cols = append(cols, name)
				delete(seen, name)
			}
		}
		cols = append(cols, slices.Sorted(maps.Keys(seen))...)
		if len(cols) > maxRecordColumns {
			cols = cols[:maxRecordColumns]
		}
		t := &views.RecordTable{Caption: k + ": " + plural(len(records), "record"), Columns: cols}
		for i, rec := range records {
			if i == maxRecordRows {
				t.More = len(records) - maxRecordRows
				break
			}
			row := make([]string, len(cols))
			for j, col := range cols {
				row[j] = cellText(rec[col])
			}
			t.Rows = append(t.Rows, row)
		}
		return t
	}
	return nil
}

func cellText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

// testConnector runs a test from the Test tab and shows its result; htmx gets the result and
// the header's health badge.
func (s *Server) testConnector(w http.ResponseWriter, r *http.Request) error {
	c, err := s.connectorForPath(r)
	if err != nil {
		return err
	}
	out, err := s.engine.TestConnector(r.Context(), principalFrom(r).Actor(), c.ID, engine.SourceTest)
	if err != nil {
		return s.backOnConflict(w, r, err, tabURL(c.ID.String(), "test"))
	}
	// The test changed the connector's health.
	if c, err = s.engine.FindConnector(r.Context(), c.ID); err != nil {
		return err
	}
	p, err := s.connectorPage(r.Context(), r, c, "test")
	if err != nil {
		return err
	}
	p.Test = &views.TestView{
		Success: out.Success, Mock: out.Mock, Message: out.Message, Duration: durationWords(out.DurationMS),
		Error: connectorError(out.Error, c.ID.String(), s.engine.ConnectorType(c.Type), nil), At: s.whenT(s.engine.Clock().Now()),
	}
	withoutLink(p.Test.Error, tabURL(c.ID.String(), "test"))
	if len(out.Data) > 0 {
		p.Test.Data = indentJSON(out.Data)
	}
	if isPartial(r) {
		s.render(w, r, http.StatusOK, views.TestResultFragment(p))
		return nil
	}
	s.render(w, r, http.StatusOK, views.ConnectorView(p))
	return nil
}

var sourceWords = map[string]string{
	engine.SourceConsole: "Console", engine.SourceTest: "Test", engine.SourceHealth: "Health check", engine.SourceRun: "Workflow run",
}

func (s *Server) executionRows(xs []db.Execution, c *db.Connector, full bool) []views.ExecutionRow {
	t := s.engine.ConnectorType(c.Type)
	var rows []views.ExecutionRow
	for _, x := range xs {
		row := views.ExecutionRow{
			At: s.whenT(x.At), Source: cmp.Or(sourceWords[x.Source], titleWords(x.Source)), Actor: x.Actor,
			Command: x.Command, Mock: x.Mock, Result: views.Badge{Label: "succeeded", Tone: "ok"},
			Duration: durationWords(int64(x.DurationMS)),
		}
		if !x.Success {
			row.Result = views.Badge{Label: "failed", Tone: "bad"}
		}
		if full {
			row.Params, row.Output = prettyJSON(x.Params), prettyJSON(x.Output)
			var params []connectors.Field
			if t != nil {
				if cmd := t.Command(x.Command); cmd != nil {
					params = cmd.Params
				}
			}
			row.Error = connectorError(storedError(x.Error), c.ID.String(), t, params)
		}
		rows = append(rows, row)
	}
	return rows
}

func (s *Server) confirmDeleteConnector(w http.ResponseWriter, r *http.Request) error {
	c, err := s.connectorForPath(r)
	if err != nil {
		return err
	}
	id := c.ID.String()
	if c.Deleted() {
		return redirect(w, r, "/connectors/"+id)
	}
	_, calls, err := s.engine.ListExecutions(r.Context(), c.ID, db.Page{Page: 1, PageSize: 1})
	if err != nil {
		return err
	}
	impact, err := s.connectorImpact(r.Context(), c)
	if err != nil {
		return err
	}
	page := views.ConfirmPage{
		Page:    s.page(r, "Delete "+c.Name, "connectors"),
		Heading: "Delete the connector " + c.Name + "?",
		Consequence: []string{
			"Floh refuses every call to it from now on: workflow steps that use it fail, and its health checks, tests and console stop.",
			usesWords(impact),
			"Nothing changes in " + s.typeLabel(c.Type) + " itself: no account or group there is touched.",
			"Its name “" + c.Name + "” becomes free for a new connector; restoring this one later needs that name to be free again.",
			"Its settings, its encrypted secrets and " + callsWords(calls) + " are kept: you can restore it from its page.",
		},
		Action: "/connectors/" + id + "/delete", Button: "Delete connector", CancelHref: "/connectors/" + id,
	}
	if len(impact.Workflows) > 0 {
		page.Details = &views.Link{Label: "See the steps that use it on its Impact tab", Href: tabURL(id, "impact")}
	}
	s.render(w, r, http.StatusOK, views.ConfirmView(page))
	return nil
}

func callsWords(n int) string {
	switch n {
	case 0:
		return "its (empty) call log"
	case 1:
		return "the 1 call in its log"
	}
	return fmt.Sprintf("the %d calls in its log", n)
}

func (s *Server) deleteConnector(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	c, err := s.engine.DeleteConnector(r.Context(), principalFrom(r).Actor(), id)
	if err != nil {
		return s.backOnConflict(w, r, err, "/connectors/"+id.String())
	}
	s.flash(r, "success", "Deleted "+c.Name+". You can restore it from this page.")
	return redirect(w, r, "/connectors/"+id.String())
}

func (s *Server) restoreConnector(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	c, err := s.engine.RestoreConnector(r.Context(), principalFrom(r).Actor(), id)
	if err != nil {
		return s.backOnConflict(w, r, err, "/connectors/"+id.String())
	}
	s.flash(r, "success", "Restored "+c.Name+". Test it before workflows rely on it again.")
	return redirect(w, r, "/connectors/"+id.String())
}
