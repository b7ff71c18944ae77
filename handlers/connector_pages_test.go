package handlers_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"

	"floh/connectors/authifi/authifitest"
	"floh/db"
	"floh/engine"
)

// adminActor is the demo admin as the engine records them.
func (ts *testServer) adminActor(t *testing.T) engine.Actor {
	t.Helper()
	admin := ts.demo(t, "demo-admin")
	return engine.Actor{UserID: &admin.ID, Label: admin.Email}
}

// newConnector stores a connector straight through the engine.
func (ts *testServer) newConnector(t *testing.T, in engine.ConnectorInput) *db.Connector {
	t.Helper()
	c, err := ts.Engine.CreateConnector(context.Background(), ts.adminActor(t), in)
	if err != nil {
		t.Fatalf("create connector %s: %v", in.Name, err)
	}
	return c
}

func (ts *testServer) connector(t *testing.T, id uuid.UUID) *db.Connector {
	t.Helper()
	c, err := db.FindConnector(context.Background(), ts.DB.Bun, id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// authifiConfig is a connector config for the fake Authifi, with the given client secret.
func authifiConfig(srv *authifitest.Server, secret string) map[string]any {
	cfg := map[string]any{}
	for k, v := range srv.Config() {
		cfg[k] = v
	}
	cfg["clientSecret"] = secret
	return cfg
}

// configForm is the Configuration tab's form for an Authifi connector, as a browser posts it
// with the secret left empty.
func configForm(srv *authifitest.Server, name string) url.Values {
	cfg := srv.Config()
	return url.Values{
		"name": {name}, "description": {"Authifi test tenant"}, "enabled": {"true"},
		"config.baseUrl": {cfg.String("baseUrl")}, "config.tenant": {cfg.String("tenant")},
		"config.tenantId": {cfg.String("tenantId")}, "config.clientId": {cfg.String("clientId")},
		"config.clientSecret": {""}, "mockData": {""}, "sealed": {""},
	}
}

var hiddenInput = regexp.MustCompile(`<input[^>]*type="hidden"[^>]*>`)
var attrName = regexp.MustCompile(`\sname="([^"]*)"`)
var attrValue = regexp.MustCompile(`\svalue="([^"]*)"`)

// hiddenFields are the hidden inputs of a page, as the browser would post them.
func hiddenFields(body string) url.Values {
	out := url.Values{}
	for _, tag := range hiddenInput.FindAllString(body, -1) {
		n := attrName.FindStringSubmatch(tag)
		v := attrValue.FindStringSubmatch(tag)
		if n == nil {
			continue
		}
		val := ""
		if v != nil {
			val = html.UnescapeString(v[1])
		}
		out.Set(html.UnescapeString(n[1]), val)
	}
	return out
}

// inputValue is the value attribute of the input named name, or "" (and false) without one.
func inputValue(body, name string) (string, bool) {
	for _, tag := range inputTag.FindAllString(body, -1) {
		if strings.Contains(tag, ` name="`+name+`"`) {
			if v := attrValue.FindStringSubmatch(tag); v != nil {
				return html.UnescapeString(v[1]), true
			}
			return "", true
		}
	}
	return "", false
}

func wantContains(t *testing.T, what, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("%s lacks %s", what, w)
		}
	}
}

func wantLacks(t *testing.T, what, body string, nots ...string) {
	t.Helper()
	for _, n := range nots {
		if strings.Contains(body, n) {
			t.Errorf("%s contains %s", what, n)
		}
	}
}

func TestConnectorsListSearchFilterAndEmptyState(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.loginAs(t, "demo-admin")

	empty := ts.get(t, c, "/connectors").wantStatus(t, http.StatusOK)
	wantHTML(t, empty)
	wantContains(t, "the empty list", empty.Body, `data-testid="empty-state"`, "No connectors yet", `href="/connectors/new"`, "Create one",
		`data-testid="nav-connectors"`, `aria-current="page"`)

	ts.newConnector(t, engine.ConnectorInput{Name: "Pause", Type: "delay", Description: "Waits between steps"})
	ts.newConnector(t, engine.ConnectorInput{Name: "Mail relay", Type: "email", Config: map[string]any{
		"smtpUrl": "smtp://floh:Relay-Passw0rd@mail.example.test:587?from=floh@example.test"}})
	old := ts.newConnector(t, engine.ConnectorInput{Name: "Old pause", Type: "delay"})
	if _, err := ts.Engine.DeleteConnector(context.Background(), ts.adminActor(t), old.ID); err != nil {
		t.Fatal(err)
	}

	list := ts.get(t, c, "/connectors").wantStatus(t, http.StatusOK)
	wantContains(t, "the list", list.Body, `data-testid="connector-row-Pause"`, `data-testid="connector-row-Mail relay"`,
		"Email (SMTP)", "Waits between steps", `badge-muted">unknown`, `badge-ok">enabled`, `data-testid="new-connector"`,
		"Showing 1–2 of 2")
	wantLacks(t, "the list", list.Body, "Old pause", "Relay-Passw0rd")

	part := ts.get(t, c, "/connectors?q=mail", "HX-Request", "true").wantStatus(t, http.StatusOK)
	body := strings.TrimSpace(part.Body)
	if isFullPage(body) || !strings.HasPrefix(body, `<div id="connectors-table">`) {
		t.Fatalf("htmx search is not the table fragment:\n%s", body)
	}
	wantContains(t, "q=mail", body, "Mail relay")
	wantLacks(t, "q=mail", body, "Pause")

	byType := ts.get(t, c, "/connectors?type=delay").wantStatus(t, http.StatusOK)
	wantContains(t, "type=delay", byType.Body, `data-testid="connector-row-Pause"`, `<option value="delay" selected`)
	wantLacks(t, "type=delay", byType.Body, "Mail relay", "Old pause")

	withDeleted := ts.get(t, c, "/connectors?type=delay&includeDeleted=true").wantStatus(t, http.StatusOK)
	wantContains(t, "includeDeleted", withDeleted.Body, `data-testid="connector-row-Old pause"`, `badge-bad">deleted`)

	none := ts.get(t, c, "/connectors?q=nothing-like-this").wantStatus(t, http.StatusOK)
	wantContains(t, "no match", none.Body, "No connectors match", "Show deleted connectors")
	// A hand-edited address still shows the list.
	ts.get(t, c, "/connectors?includeDeleted=maybe&page=x").wantStatus(t, http.StatusOK)

	// The navigation offers Connectors to whoever may read them, and only to them.
	mgr := ts.get(t, ts.loginAs(t, "demo-manager"), "/").wantStatus(t, http.StatusOK)
	wantContains(t, "the manager's dashboard", mgr.Body, `data-testid="nav-connectors"`)
	req := ts.get(t, ts.loginAs(t, "demo-requestor"), "/").wantStatus(t, http.StatusOK)
	wantLacks(t, "the requestor's dashboard", req.Body, `data-testid="nav-connectors"`)
}

func TestConnectorWizardKeepsTypedValuesAndNeverEchoesASecret(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	srv := authifitest.Start(t, authifitest.Options{})
	cfg := srv.Config()
	secret := cfg.String("clientSecret")
	c := ts.loginAs(t, "demo-admin")
	var bodies []string
	keep := func(r *result) *result {
		bodies = append(bodies, r.Body)
		return r
	}

	cards := keep(ts.get(t, c, "/connectors/new").wantStatus(t, http.StatusOK))
	wantContains(t, "the type step", cards.Body, `data-testid="choose-authifi"`, `data-testid="choose-delay"`, "Authifi", `aria-current="step"`)
	bad := keep(ts.get(t, c, "/connectors/new?type=nope").wantStatus(t, http.StatusUnprocessableEntity))
	wantContains(t, "an unknown type", bad.Body, `data-testid="error-summary"`, `data-testid="choose-authifi"`)
	details := keep(ts.get(t, c, "/connectors/new?type=authifi").wantStatus(t, http.StatusOK))
	wantContains(t, "the details step", details.Body, `data-testid="wizard-form"`, `id="field-name"`, `name="type" value="authifi"`)

	// Details: the name is required.
	res := keep(ts.postForm(t, c, "/connectors/new", url.Values{"step": {"details"}, "type": {"authifi"}, "name": {""}, "description": {"Typed <description>"}}, ts.sameOrigin()...).
		wantStatus(t, http.StatusUnprocessableEntity))
	wantContains(t, "details with errors", res.Body, `data-testid="error-summary"`, `href="#field-name"`, "Name is required", `id="error-name"`,
		"Typed &lt;description&gt;")

	res = keep(ts.postForm(t, c, "/connectors/new", url.Values{"step": {"details"}, "type": {"authifi"}, "name": {"Authifi prod"}, "description": {"Production tenant"}}, ts.sameOrigin()...).
		wantStatus(t, http.StatusOK))
	wantContains(t, "the config step", res.Body, `name="config.baseUrl"`, `type="password"`, `name="config.clientSecret"`,
		`data-testid="secret-state-clientSecret"`, "not set", "Admin API URL")
	carried := hiddenFields(res.Body)
	if carried.Get("name") != "Authifi prod" || carried.Get("description") != "Production tenant" {
		t.Fatalf("the config step does not carry the details: %v", carried)
	}

	// Config with a wrong URL and the secret typed: 422, typed values kept, the secret not.
	form := url.Values{"step": {"config"}, "config.baseUrl": {"ftp://auth.example.test"}, "config.tenant": {cfg.String("tenant")},
		"config.tenantId": {cfg.String("tenantId")}, "config.clientId": {cfg.String("clientId")}, "config.clientSecret": {secret}}
	for k, v := range carried {
		if form.Get(k) == "" {
			form[k] = v
		}
	}
	res = keep(ts.postForm(t, c, "/connectors/new", form, ts.sameOrigin()...).wantStatus(t, http.StatusUnprocessableEntity))
	wantContains(t, "config with errors", res.Body, `data-testid="error-summary"`, `href="#field-config.baseUrl"`,
		`id="error-config.baseUrl"`, "Admin API URL must be an http:// or https:// URL", `value="ftp://auth.example.test"`,
		`aria-invalid="true"`, "entered, not saved yet")
	if v, _ := inputValue(res.Body, "config.tenantId"); v != cfg.String("tenantId") {
		t.Errorf("tenantId kept as %q", v)
	}
	if v, ok := inputValue(res.Body, "config.clientSecret"); !ok || v != "" {
		t.Errorf("the secret input holds %q, want it empty", v)
	}
	carried = hiddenFields(res.Body)
	if carried.Get("sealed") == "" {
		t.Fatal("the typed secret is not carried sealed")
	}

	// Fixed, with the secret left empty: the sealed one is kept, and the review says "set".
	form = url.Values{"step": {"config"}, "config.baseUrl": {cfg.String("baseUrl")}, "config.tenant": {cfg.String("tenant")},
		"config.tenantId": {cfg.String("tenantId")}, "config.clientId": {cfg.String("clientId")}, "config.clientSecret": {""}}
	for k, v := range carried {
		if form.Get(k) == "" {
			form[k] = v
		}
	}
	review := keep(ts.postForm(t, c, "/connectors/new", form, ts.sameOrigin()...).wantStatus(t, http.StatusOK))
	wantContains(t, "the review", review.Body, `data-testid="wizard-review"`, "Client secret", `badge-ok">set`, cfg.String("baseUrl"),
		"Authifi prod", "Production tenant", `action="/connectors"`)

	// Back to the details and on again: nothing typed is lost.
	back := hiddenFields(review.Body)
	back.Set("goto", "details")
	res = keep(ts.postForm(t, c, "/connectors/new", back, ts.sameOrigin()...).wantStatus(t, http.StatusOK))
	if v, _ := inputValue(res.Body, "name"); v != "Authifi prod" {
		t.Errorf("back on the details step the name is %q", v)
	}
	on := hiddenFields(res.Body)
	on.Set("name", "Authifi prod")
	on.Set("description", "Production tenant")
	res = keep(ts.postForm(t, c, "/connectors/new", on, ts.sameOrigin()...).wantStatus(t, http.StatusOK))
	if v, _ := inputValue(res.Body, "config.baseUrl"); v != cfg.String("baseUrl") {
		t.Errorf("the config step forgot the URL: %q", v)
	}
	wantContains(t, "the config step again", res.Body, "entered, not saved yet")

	// Create.
	res = keep(ts.postForm(t, c, "/connectors", hiddenFields(review.Body), ts.sameOrigin()...).wantStatus(t, http.StatusSeeOther))
	loc := res.Header.Get("Location")
	id, err := uuid.Parse(strings.TrimSuffix(strings.TrimPrefix(loc, "/connectors/"), "?tab=test"))
	if err != nil {
		t.Fatalf("Location %q, want the new connector's Test tab", loc)
	}
	stored := ts.connector(t, id)
	if stored.Name != "Authifi prod" || stored.Type != "authifi" || len(stored.SecretFields) != 1 || stored.SecretFields[0] != "clientSecret" {
		t.Fatalf("stored %+v", stored)
	}
	page := keep(ts.get(t, c, loc).wantStatus(t, http.StatusOK))
	wantContains(t, "the new connector", page.Body, `data-testid="flash"`, "Created Authifi prod", `data-testid="run-test"`)
	// The sealed secret arrived intact: the fake Authifi accepts it.
	tested := keep(ts.postForm(t, c, "/connectors/"+id.String()+"/test", url.Values{}, ts.sameOrigin()...).wantStatus(t, http.StatusOK))
	wantContains(t, "the test", tested.Body, `data-testid="test-outcome">passed`)

	// The same name again: back to the details step, with the answers kept.
	res = keep(ts.postForm(t, c, "/connectors", hiddenFields(review.Body), ts.sameOrigin()...).wantStatus(t, http.StatusUnprocessableEntity))
	wantContains(t, "a taken name", res.Body, `href="#field-name"`, "already exists", `id="field-name"`)
	if v, _ := inputValue(res.Body, "name"); v != "Authifi prod" {
		t.Errorf("the taken name is not kept: %q", v)
	}

	// A type without settings skips that step.
	res = keep(ts.postForm(t, c, "/connectors/new", url.Values{"step": {"details"}, "type": {"delay"}, "name": {"Short pause"}}, ts.sameOrigin()...).
		wantStatus(t, http.StatusOK))
	wantContains(t, "delay's review", res.Body, `data-testid="wizard-review"`, "(none for this type)")

	for i, b := range bodies {
		if strings.Contains(b, secret) {
			t.Errorf("page %d shows the client secret", i)
		}
	}
}

func TestConnectorConfigurationKeepsAndReplacesSecrets(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	srv := authifitest.Start(t, authifitest.Options{})
	secret := srv.Config().String("clientSecret")
	const wrong = "Typed-New-S3cret-value"
	conn := ts.newConnector(t, engine.ConnectorInput{Name: "Authifi", Type: "authifi", Config: authifiConfig(srv, secret)})
	id := conn.ID.String()
	c := ts.loginAs(t, "demo-admin")
	var bodies []string
	keep := func(r *result) *result {
		bodies = append(bodies, r.Body)
		return r
	}

	tab := keep(ts.get(t, c, "/connectors/"+id+"?tab=configuration").wantStatus(t, http.StatusOK))
	wantContains(t, "the configuration tab", tab.Body, `data-testid="config-form"`, `data-testid="secret-state-clientSecret"`, `badge-ok" id="state-config.clientSecret"`,
		"Leave empty to keep the stored value", srv.Config().String("baseUrl"), `aria-current="page"`)

	// Saved with the secret left empty: the stored one still works.
	form := configForm(srv, "Authifi")
	form.Set("description", "Changed description")
	res := ts.postForm(t, c, "/connectors/"+id, form, ts.sameOrigin()...).wantStatus(t, http.StatusSeeOther)
	if loc := res.Header.Get("Location"); loc != "/connectors/"+id+"?tab=configuration" {
		t.Fatalf("Location %q", loc)
	}
	page := keep(ts.get(t, c, "/connectors/"+id+"?tab=configuration").wantStatus(t, http.StatusOK))
	wantContains(t, "after saving", page.Body, "Saved the configuration of Authifi.", "Changed description")
	wantLacks(t, "after saving", page.Body, "New value stored")
	if got := ts.connector(t, conn.ID); got.Description != "Changed description" || len(got.SecretFields) != 1 {
		t.Fatalf("saved %+v", got)
	}
	if out, err := ts.Engine.TestConnector(context.Background(), ts.adminActor(t), conn.ID, engine.SourceTest); err != nil || !out.Success {
		t.Fatalf("the kept secret no longer works: %+v %v", out, err)
	}

	// A new secret with another field wrong: 422 without the secret, which travels sealed.
	form = configForm(srv, "Authifi")
	form.Set("config.baseUrl", "not a url")
	form.Set("config.clientSecret", wrong)
	form.Set("description", "Typed while wrong")
	res = keep(ts.postForm(t, c, "/connectors/"+id, form, ts.sameOrigin()...).wantStatus(t, http.StatusUnprocessableEntity))
	wantContains(t, "the 422", res.Body, `data-testid="error-summary"`, `href="#field-config.baseUrl"`, "Admin API URL must be", "Typed while wrong",
		`value="not a url"`, "entered, not saved yet")
	sealed := hiddenFields(res.Body).Get("sealed")
	if sealed == "" {
		t.Fatal("the new secret is not carried sealed")
	}
	// Fixed, with the secret empty: the sealed new value is what gets stored.
	form = configForm(srv, "Authifi")
	form.Set("sealed", sealed)
	ts.postForm(t, c, "/connectors/"+id, form, ts.sameOrigin()...).wantStatus(t, http.StatusSeeOther)
	page = keep(ts.get(t, c, "/connectors/"+id+"?tab=configuration").wantStatus(t, http.StatusOK))
	wantContains(t, "after replacing", page.Body, "New value stored for Client secret.")
	tested := keep(ts.postForm(t, c, "/connectors/"+id+"/test", url.Values{}, ts.sameOrigin()...).wantStatus(t, http.StatusOK))
	wantContains(t, "a test with the wrong secret", tested.Body, `data-testid="test-outcome">failed`, `data-testid="error-class">Credentials refused`,
		"Check the Configuration tab")

	// Mock data is checked: JSON first, then the engine's shape, on the mock data box.
	form = configForm(srv, "Authifi")
	form.Set("mockMode", "true")
	form.Set("mockData", `{"createUser": `)
	res = keep(ts.postForm(t, c, "/connectors/"+id, form, ts.sameOrigin()...).wantStatus(t, http.StatusUnprocessableEntity))
	wantContains(t, "broken JSON", res.Body, `href="#field-mockData"`, "Mock data must be a JSON object", `{&#34;createUser&#34;: </textarea>`)
	form.Set("mockData", `{"createUser": {"error": {"class": "oops", "message": "no"}}, "fly": {"outputs": {}}}`)
	res = keep(ts.postForm(t, c, "/connectors/"+id, form, ts.sameOrigin()...).wantStatus(t, http.StatusUnprocessableEntity))
	wantContains(t, "wrong mock data", res.Body, "Mock data, createUser.error.class: must be one of", "Mock data, fly: ", `id="error-mockData"`)
	form.Set("mockData", `{"createUser": {"outputs": {"id": "mock-7"}}}`)
	ts.postForm(t, c, "/connectors/"+id, form, ts.sameOrigin()...).wantStatus(t, http.StatusSeeOther)
	if got := ts.connector(t, conn.ID); !got.MockMode || !strings.Contains(string(got.MockData), "mock-7") {
		t.Fatalf("mock settings not saved: %v %s", got.MockMode, got.MockData)
	}
	overview := keep(ts.get(t, c, "/connectors/"+id).wantStatus(t, http.StatusOK))
	wantContains(t, "the overview in mock mode", overview.Body, `data-testid="mock-badge"`)

	for i, b := range bodies {
		for _, s := range []string{secret, wrong} {
			if strings.Contains(b, s) {
				t.Errorf("page %d shows a secret", i)
			}
		}
	}
}

func TestConnectorTestAndExecutePlainAndHtmx(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	conn := ts.newConnector(t, engine.ConnectorInput{Name: "Pause", Type: "delay"})
	id := conn.ID.String()
	c := ts.loginAs(t, "demo-admin")

	never := ts.get(t, c, "/connectors/"+id+"?tab=test").wantStatus(t, http.StatusOK)
	wantContains(t, "the test tab", never.Body, `data-testid="never-tested"`, `hx-post="/connectors/`+id+`/test"`, `action="/connectors/`+id+`/test"`)

	plain := ts.postForm(t, c, "/connectors/"+id+"/test", url.Values{}, ts.sameOrigin()...).wantStatus(t, http.StatusOK)
	wantHTML(t, plain)
	if !isFullPage(plain.Body) {
		t.Fatal("a plain test post does not get the whole page")
	}
	wantContains(t, "a plain test", plain.Body, `data-testid="test-outcome">passed`, "A delay has nothing to connect to",
		`data-testid="test-duration"`, `data-url="/connectors/`+id+`?tab=test"`, `badge-ok">healthy`)
	frag := ts.postForm(t, c, "/connectors/"+id+"/test", url.Values{}, append(ts.sameOrigin(), "HX-Request", "true")...).wantStatus(t, http.StatusOK)
	body := strings.TrimSpace(frag.Body)
	if isFullPage(body) || !strings.HasPrefix(body, `<section class="card" aria-labelledby="test-result-h" data-testid="test-result">`) {
		t.Fatalf("an htmx test is not the result fragment:\n%s", body)
	}
	wantContains(t, "an htmx test", body, `data-testid="test-outcome">passed`, `id="connector-health"`, `hx-swap-oob="true"`, "healthy")

	cmds := ts.get(t, c, "/connectors/"+id+"?tab=commands").wantStatus(t, http.StatusOK)
	wantContains(t, "the commands tab", cmds.Body, `data-testid="console"`, `name="param.duration"`, "(required)", `data-testid="outputs"`,
		"waited", "duration such as 30s", `data-testid="command-wait"`)
	tabs := ts.get(t, c, "/connectors/"+id+"?tab=commands&command=wait", "HX-Request", "true").wantStatus(t, http.StatusOK)
	if b := strings.TrimSpace(tabs.Body); !strings.HasPrefix(b, `<div id="connector-tabs">`) {
		t.Fatalf("an htmx tab request is not the tabs fragment:\n%s", b)
	}

	run := url.Values{"command": {"wait"}, "param.duration": {"0s"}}
	res := ts.postForm(t, c, "/connectors/"+id+"/execute", run, ts.sameOrigin()...).wantStatus(t, http.StatusOK)
	if !isFullPage(res.Body) {
		t.Fatal("a plain run does not get the whole page")
	}
	wantContains(t, "a plain run", res.Body, `data-testid="result-outcome">succeeded`, `&#34;waited&#34;: &#34;0s&#34;`, `data-testid="result-duration"`,
		`data-url="/connectors/`+id+`?tab=commands&amp;command=wait"`, `value="0s"`)
	res = ts.postForm(t, c, "/connectors/"+id+"/execute", run, append(ts.sameOrigin(), "HX-Request", "true")...).wantStatus(t, http.StatusOK)
	if b := strings.TrimSpace(res.Body); isFullPage(b) || !strings.HasPrefix(b, `<section class="card console" id="console"`) {
		t.Fatalf("an htmx run is not the console fragment:\n%s", b)
	}
	wantContains(t, "an htmx run", res.Body, `data-testid="result-outcome">succeeded`)

	// A value the schema refuses is a failed call, shown beside its field too.
	res = ts.postForm(t, c, "/connectors/"+id+"/execute", url.Values{"command": {"wait"}, "param.duration": {"soon"}}, ts.sameOrigin()...).
		wantStatus(t, http.StatusOK)
	wantContains(t, "a bad duration", res.Body, `data-testid="result-outcome">failed`, `data-testid="error-class">Rejected input`, "INVALID_PARAMS",
		`id="error-param.duration"`, `value="soon"`)
	// An unknown command is refused before any call.
	res = ts.postForm(t, c, "/connectors/"+id+"/execute", url.Values{"command": {"sleep"}}, ts.sameOrigin()...).
		wantStatus(t, http.StatusUnprocessableEntity)
	wantContains(t, "an unknown command", res.Body, `data-testid="error-summary"`, `&#34;sleep&#34; is not a command of Delay`)

	// Mock data answering with an error renders the classified error.
	if _, err := ts.Engine.UpdateConnector(context.Background(), ts.adminActor(t), conn.ID, engine.ConnectorInput{
		Name: "Pause", MockMode: true,
		MockData: map[string]any{"wait": map[string]any{"error": map[string]any{"class": "already_exists", "code": "EXISTS", "message": "the wait already happened"}}},
	}); err != nil {
		t.Fatal(err)
	}
	cmds = ts.get(t, c, "/connectors/"+id+"?tab=commands").wantStatus(t, http.StatusOK)
	if found, checked := checkbox(cmds.Body, "useMock", "true"); !found || !checked {
		t.Error("a connector in mock mode does not tick “use mock data”")
	}
	res = ts.postForm(t, c, "/connectors/"+id+"/execute", url.Values{"command": {"wait"}, "param.duration": {"0s"}, "useMock": {"true"}},
		append(ts.sameOrigin(), "HX-Request", "true")...).wantStatus(t, http.StatusOK)
	wantContains(t, "a mocked failure", res.Body, `data-testid="result-outcome">failed`, `data-testid="result-mock"`,
		`data-testid="error-class">Already exists`, `data-testid="error-code">EXISTS`, "The wait already happened.", `data-testid="error-advice"`)

	// A disabled connector cannot be reached: say so, and where to fix it.
	if _, err := ts.Engine.UpdateConnector(context.Background(), ts.adminActor(t), conn.ID, engine.ConnectorInput{Name: "Pause", Enabled: new(bool)}); err != nil {
		t.Fatal(err)
	}
	res = ts.postForm(t, c, "/connectors/"+id+"/execute", run, ts.sameOrigin()...).wantStatus(t, http.StatusOK)
	wantContains(t, "a disabled connector", res.Body, `data-testid="error-class">Cannot reach the target`, "DISABLED",
		`href="/connectors/`+id+`?tab=configuration"`, "Enable it on the Configuration tab")

	// Every call is in the Logs tab, newest first, with its error.
	logs := ts.get(t, c, "/connectors/"+id+"?tab=logs").wantStatus(t, http.StatusOK)
	if n := strings.Count(logs.Body, `data-testid="execution-row"`); n != 7 {
		t.Errorf("logs list %d calls, want 7 (2 tests, 5 runs: an unknown command is refused before any call)", n)
	}
	wantContains(t, "the logs", logs.Body, "Console", "Test", "Already exists", "Cannot reach the target", `badge-info">mock`, "&#34;duration&#34;: &#34;soon&#34;")
	ts.get(t, c, "/connectors/"+id+"?tab=logs&pageSize=2&page=2").wantStatus(t, http.StatusOK)
}

func TestConsoleConfirmsChangesMasksSecretParamsAndTablesRecords(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	srv := authifitest.Start(t, authifitest.Options{})
	srv.AddUser(authifitest.User{Email: "jdoe@example.org", DisplayName: "Jane Doe", Enabled: true})
	srv.AddUser(authifitest.User{Email: "rroe@example.org", DisplayName: "Richard Roe", Enabled: true})
	conn := ts.newConnector(t, engine.ConnectorInput{Name: "Authifi", Type: "authifi", Config: authifiConfig(srv, srv.Config().String("clientSecret"))})
	id := conn.ID.String()
	c := ts.loginAs(t, "demo-admin")
	const password = "N3w-Passw0rd-For-jdoe!"
	var bodies []string
	keep := func(r *result) *result {
		bodies = append(bodies, r.Body)
		return r
	}

	page := keep(ts.get(t, c, "/connectors/"+id+"?tab=commands&command=setPassword").wantStatus(t, http.StatusOK))
	wantContains(t, "setPassword", page.Body, `data-testid="mutating-warning"`, `name="confirm"`, `type="password"`, `name="param.password"`,
		"Masked in the logs")

	// A change to the target needs the confirmation; nothing is called without it.
	calls := len(srv.Calls())
	res := keep(ts.postForm(t, c, "/connectors/"+id+"/execute", url.Values{"command": {"setPassword"}, "param.email": {"jdoe@example.org"},
		"param.password": {password}}, ts.sameOrigin()...).wantStatus(t, http.StatusUnprocessableEntity))
	wantContains(t, "no confirmation", res.Body, `href="#field-confirm"`, "Confirm that setPassword may change Authifi", `value="jdoe@example.org"`)
	if len(srv.Calls()) != calls {
		t.Error("the target was called without the confirmation")
	}
	if v, _ := inputValue(res.Body, "param.password"); v != "" {
		t.Error("the password is written back into its input")
	}

	res = keep(ts.postForm(t, c, "/connectors/"+id+"/execute", url.Values{"command": {"setPassword"}, "param.email": {"jdoe@example.org"},
		"param.password": {password}, "confirm": {"true"}}, append(ts.sameOrigin(), "HX-Request", "true")...).wantStatus(t, http.StatusOK))
	wantContains(t, "setPassword", res.Body, `data-testid="result-outcome">succeeded`)
	if found, checked := checkbox(res.Body, "confirm", "true"); !found || checked {
		t.Error("the confirmation stays ticked after a run")
	}
	res = keep(ts.postForm(t, c, "/connectors/"+id+"/execute", url.Values{"command": {"setPassword"}, "param.email": {"nobody@example.org"},
		"param.password": {password}, "confirm": {"true"}}, ts.sameOrigin()...).wantStatus(t, http.StatusOK))
	wantContains(t, "setPassword for nobody", res.Body, `data-testid="error-class">Not found`)

	// Values of the wrong kind never reach the engine.
	res = keep(ts.postForm(t, c, "/connectors/"+id+"/execute", url.Values{"command": {"listUsers"}, "param.pageSize": {"lots"}}, ts.sameOrigin()...).
		wantStatus(t, http.StatusUnprocessableEntity))
	wantContains(t, "a non-number", res.Body, `href="#field-param.pageSize"`, "Page size must be a whole number", `value="lots"`)

	res = keep(ts.postForm(t, c, "/connectors/"+id+"/execute", url.Values{"command": {"listUsers"}, "param.pageSize": {"10"}}, ts.sameOrigin()...).
		wantStatus(t, http.StatusOK))
	wantContains(t, "listUsers", res.Body, `data-testid="result-records"`, "records: 2 records", "<td>jdoe@example.org</td>", "<td>Richard Roe</td>")

	keep(ts.get(t, c, "/connectors/"+id+"?tab=logs").wantStatus(t, http.StatusOK))
	wantContains(t, "the logs", bodies[len(bodies)-1], "setPassword", "••••••")
	for i, b := range bodies {
		if strings.Contains(b, password) {
			t.Errorf("page %d shows the secret param", i)
		}
	}
}

func TestConnectorHealthIncidentAndLinksFromOps(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	// Nothing listens on port 1: every test fails with connector_down.
	conn := ts.newConnector(t, engine.ConnectorInput{Name: "Unreachable", Type: "authifi", Config: map[string]any{
		"baseUrl": "http://127.0.0.1:1/_api", "tenant": "t", "tenantId": "1", "clientId": "floh", "clientSecret": "whatever-secret"}})
	id := conn.ID.String()
	c := ts.loginAs(t, "demo-admin")

	over := ts.get(t, c, "/connectors/"+id).wantStatus(t, http.StatusOK)
	wantContains(t, "an untested connector", over.Body, `badge-muted">unknown`, "never tested", "Not tested yet")
	for range 2 {
		ts.postForm(t, c, "/connectors/"+id+"/test", url.Values{}, append(ts.sameOrigin(), "HX-Request", "true")...).wantStatus(t, http.StatusOK)
	}
	inc, err := db.FindUnresolvedIncidentOf(context.Background(), ts.DB.Bun, "connector", id)
	if err != nil {
		t.Fatalf("two failed tests opened no incident: %v", err)
	}
	over = ts.get(t, c, "/connectors/"+id).wantStatus(t, http.StatusOK)
	wantContains(t, "a down connector", over.Body, `badge-bad">down`, `data-testid="health-failures">2`, `badge-bad">failed`,
		`data-testid="error-class">Cannot reach the target`, `data-testid="health-incident"`, `href="/incidents/`+inc.ID.String()+`"`,
		`href="/connectors/`+id+`?tab=test"`)
	list := ts.get(t, c, "/connectors").wantStatus(t, http.StatusOK)
	wantContains(t, "the list", list.Body, `badge-bad">down`, `since <time datetime=`, `data-testid="row-last-error">Cannot reach the target: `,
		`href="/incidents/`+inc.ID.String()+`" data-testid="row-incident">Incident open`)

	// Incidents and events about a connector link to it.
	link := `href="/connectors/` + id + `" data-testid="subject-link"`
	for _, p := range []string{"/incidents", "/incidents/" + inc.ID.String(), "/events", "/"} {
		wantContains(t, p, ts.get(t, c, p).wantStatus(t, http.StatusOK).Body, link)
	}
}

func TestConnectorDeleteConfirmAndRestore(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	conn := ts.newConnector(t, engine.ConnectorInput{Name: "Pause", Type: "delay"})
	id := conn.ID.String()
	c := ts.loginAs(t, "demo-admin")
	ts.postForm(t, c, "/connectors/"+id+"/test", url.Values{}, ts.sameOrigin()...).wantStatus(t, http.StatusOK)

	confirm := ts.get(t, c, "/connectors/"+id+"/delete").wantStatus(t, http.StatusOK)
	wantContains(t, "the confirmation", confirm.Body, `data-testid="confirm"`, "Delete the connector Pause?", "refuses every call",
		"Nothing changes in Delay itself", "Its name “Pause” becomes free", "the 1 call in its log", `action="/connectors/`+id+`/delete"`)
	if ts.connector(t, conn.ID).Deleted() {
		t.Fatal("showing the confirmation deleted the connector")
	}

	res := ts.postForm(t, c, "/connectors/"+id+"/delete", url.Values{}, ts.sameOrigin()...).wantStatus(t, http.StatusSeeOther)
	page := ts.get(t, c, res.Header.Get("Location")).wantStatus(t, http.StatusOK)
	wantContains(t, "a deleted connector", page.Body, "Deleted Pause.", `data-testid="deleted-note"`, `data-testid="restore-connector"`)
	wantLacks(t, "a deleted connector", page.Body, `data-testid="delete-connector"`)
	if !ts.connector(t, conn.ID).Deleted() {
		t.Fatal("not deleted")
	}
	wantLacks(t, "the list", ts.get(t, c, "/connectors").Body, "connector-row-Pause")
	wantContains(t, "the list with deleted", ts.get(t, c, "/connectors?includeDeleted=true").Body, "connector-row-Pause")
	cfg := ts.get(t, c, "/connectors/"+id+"?tab=configuration").wantStatus(t, http.StatusOK)
	wantContains(t, "its configuration", cfg.Body, `data-testid="config-values"`, "Restore the connector to change")
	wantLacks(t, "its configuration", cfg.Body, `data-testid="config-form"`)
	wantContains(t, "its console", ts.get(t, c, "/connectors/"+id+"?tab=commands").Body, `data-testid="console-disabled"`)
	// Deleted again, tested or run: refused with a message, never a 500.
	for _, p := range []string{"/delete", "/test", "/execute"} {
		res = ts.postForm(t, c, "/connectors/"+id+p, url.Values{"command": {"wait"}, "param.duration": {"0s"}}, ts.sameOrigin()...).
			wantStatus(t, http.StatusSeeOther)
		wantContains(t, p, ts.get(t, c, res.Header.Get("Location")).Body, `flash-error`, "deleted")
	}
	if ts.get(t, c, "/connectors/"+id+"/delete").Status != http.StatusSeeOther {
		t.Error("the confirmation of a deleted connector does not send back to it")
	}

	res = ts.postForm(t, c, "/connectors/"+id+"/restore", url.Values{}, ts.sameOrigin()...).wantStatus(t, http.StatusSeeOther)
	page = ts.get(t, c, res.Header.Get("Location")).wantStatus(t, http.StatusOK)
	wantContains(t, "a restored connector", page.Body, "Restored Pause.", `data-testid="delete-connector"`)
	if ts.connector(t, conn.ID).Deleted() {
		t.Fatal("not restored")
	}
	ts.get(t, c, "/connectors/"+uuid.NewString()).wantStatus(t, http.StatusNotFound)
	ts.get(t, c, "/connectors/not-an-id?tab=logs").wantStatus(t, http.StatusNotFound)
}
