package demodir_test

import (
	"context"
	"errors"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"floh/connectors"
	"floh/connectors/ldap"
	"floh/connectors/ldap/demodir"
)

// start runs a directory of n people for one test.
func start(t *testing.T, n int) *demodir.Directory {
	t.Helper()
	d, err := demodir.Start(demodir.Options{People: n})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Stop(context.Background()); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return d
}

// connector builds the real ldap connector from the directory's config, with changes.
func connector(t *testing.T, d *demodir.Directory, changes connectors.Config) connectors.Connector {
	t.Helper()
	cfg := connectors.Config(d.ConnectorConfig())
	maps.Copy(cfg, changes)
	checked, problems := connectors.CheckConfig(ldap.LDAP, cfg)
	if len(problems) > 0 {
		t.Fatalf("the demo's connector config is refused: %+v", problems)
	}
	c, err := ldap.LDAP.New(checked)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// list lists a resource type through the connector and returns its records and page sizes.
func list(t *testing.T, c connectors.Connector, resource string, opts connectors.ListOptions) ([]connectors.Record, []int) {
	t.Helper()
	var records []connectors.Record
	var pages []int
	err := c.(connectors.Lister).List(t.Context(), resource, opts, func(p connectors.Page) error {
		pages = append(pages, len(p.Records))
		records = append(records, p.Records...)
		return nil
	})
	if err != nil {
		t.Fatalf("list %s: %v", resource, err)
	}
	return records, pages
}

func TestConnectorTestSucceedsWithTheDemoConfig(t *testing.T) {
	t.Parallel()
	d := start(t, demodir.MinPeople)
	res, err := connector(t, d, nil).Test(t.Context())
	if err != nil {
		t.Fatalf("Test: %v", err)
	}
	if !strings.Contains(res.Message, "Bound to the LDAP directory at "+d.URL()) || !strings.Contains(res.Message, demodir.BindDN) {
		t.Errorf("Test message %q", res.Message)
	}
	if !strings.HasPrefix(d.URL(), "ldap://127.0.0.1:") || strings.HasSuffix(d.URL(), ":0") {
		t.Errorf("URL %q: want a loopback address with the port chosen", d.URL())
	}
}

func TestABadBindIsRefused(t *testing.T) {
	t.Parallel()
	d := start(t, demodir.MinPeople)
	for name, cfg := range map[string]connectors.Config{
		"wrong password": {"bindPassword": d.BindPassword() + "x"},
		"wrong DN":       {"bindDN": "cn=someone," + demodir.BaseDN},
	} {
		_, err := connector(t, d, cfg).Test(t.Context())
		var ce *connectors.Error
		if !errors.As(err, &ce) || ce.Class != connectors.Unauthorized || ce.Code != "INVALID_CREDENTIALS" {
			t.Errorf("%s: Test gave %v, want unauthorized INVALID_CREDENTIALS", name, err)
		}
	}

	conn := dial(t, d)
	if err := conn.UnauthenticatedBind(demodir.BindDN); !goldap.IsErrorWithCode(err, goldap.LDAPResultUnwillingToPerform) {
		t.Errorf("a bind without password: %v, want unwilling to perform", err)
	}
	// Anonymous: the root DSE is readable, the tree is not.
	res, err := conn.Search(goldap.NewSearchRequest("", goldap.ScopeBaseObject, goldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"namingContexts", "supportedControl"}, nil))
	if err != nil || len(res.Entries) != 1 || res.Entries[0].GetAttributeValue("namingContexts") != demodir.BaseDN ||
		!slices.Contains(res.Entries[0].GetAttributeValues("supportedControl"), goldap.ControlTypePaging) {
		t.Errorf("root DSE: %v %+v", err, res)
	}
	_, err = conn.Search(goldap.NewSearchRequest(demodir.PeopleDN, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", nil, nil))
	if !goldap.IsErrorWithCode(err, goldap.LDAPResultInsufficientAccessRights) {
		t.Errorf("an anonymous search of the people: %v, want insufficient access", err)
	}
	// A failed bind after a good one leaves the connection anonymous again.
	if err := conn.Bind(demodir.BindDN, d.BindPassword()); err != nil {
		t.Fatal(err)
	}
	if err := conn.Bind(demodir.BindDN, "nope"); !goldap.IsErrorWithCode(err, goldap.LDAPResultInvalidCredentials) {
		t.Errorf("wrong password: %v", err)
	}
	_, err = conn.Search(goldap.NewSearchRequest(demodir.PeopleDN, goldap.ScopeBaseObject, goldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", nil, nil))
	if !goldap.IsErrorWithCode(err, goldap.LDAPResultInsufficientAccessRights) {
		t.Errorf("a search after a failed bind: %v, want insufficient access", err)
	}
}

// dial opens a go-ldap connection to the directory, closed with the test.
func dial(t *testing.T, d *demodir.Directory) *goldap.Conn {
	t.Helper()
	conn, err := goldap.DialURL(d.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func bound(t *testing.T, d *demodir.Directory) *goldap.Conn {
	t.Helper()
	conn := dial(t, d)
	if err := conn.Bind(demodir.BindDN, d.BindPassword()); err != nil {
		t.Fatal(err)
	}
	return conn
}

// TestListPagesThroughEveryone lists the default directory through the connector with pages
// smaller than it, and finds every person once, with the hard cases as generated.
func TestListPagesThroughEveryone(t *testing.T) {
	t.Parallel()
	d := start(t, demodir.DefaultPeople)
	const size = 170
	records, pages := list(t, connector(t, d, nil), connectors.ResourceUser, connectors.ListOptions{PageSize: size})
	if len(records) != demodir.DefaultPeople {
		t.Fatalf("listed %d people, want %d", len(records), demodir.DefaultPeople)
	}
	if want := (demodir.DefaultPeople + size - 1) / size; len(pages) != want || slices.Max(pages) != size {
		t.Errorf("%d pages of at most %d, want %d of %d", len(pages), slices.Max(pages), want, size)
	}
	byUID := map[string]connectors.Record{}
	ids := map[string]bool{}
	for _, r := range records {
		byUID[r.Username] = r
		ids[r.ExternalID] = true
	}
	if len(byUID) != demodir.DefaultPeople || len(ids) != demodir.DefaultPeople {
		t.Errorf("%d distinct uids and %d distinct entryUUIDs among %d records", len(byUID), len(ids), len(records))
	}
	for _, p := range d.People() {
		r := byUID[p.UID]
		if r.ExternalID != p.EntryUUID || r.Email != p.Mail || r.DisplayName != p.DisplayName ||
			r.Attributes["givenName"] != p.GivenName || r.Attributes["sn"] != p.Surname ||
			r.Attributes["modifyTimestamp"] != p.Modified.Format(time.RFC3339) || r.Attributes["dn"] != p.DN() ||
			r.Attributes["title"] != p.Title || r.Attributes["ou"] != p.Department || r.Attributes["departmentNumber"] != p.DepartmentNumber ||
			r.Attributes["l"] != p.Location || r.Attributes["employeeNumber"] != p.EmployeeNumber {
			t.Fatalf("person %+v listed as %+v", p, r)
		}
		if m := r.Attributes["memberOf"].([]string); len(m) != 1 || !strings.HasPrefix(m[0], "cn="+p.Department+",") {
			t.Fatalf("%s in %s is a member of %v", p.UID, p.Department, m)
		}
	}

	cases := d.Cases()
	users := d.FlohUsers()
	if n := len(cases.NoMail); n < demodir.DefaultPeople/60 || n > demodir.DefaultPeople/40 {
		t.Errorf("%d people without mail, want about 2 %%", n)
	}
	for _, uid := range cases.NoMail {
		if byUID[uid].Email != "" {
			t.Errorf("%s should have no mail: %q", uid, byUID[uid].Email)
		}
	}
	if len(cases.Exact) < 200 || len(cases.CaseOnly) < 3 {
		t.Errorf("%d exact and %d case-only matches", len(cases.Exact), len(cases.CaseOnly))
	}
	emails := func(match func(string) bool) []demodir.FlohUser {
		return slices.DeleteFunc(slices.Clone(users), func(u demodir.FlohUser) bool { return !match(u.Email) })
	}
	for _, uid := range cases.Exact {
		if got := emails(func(e string) bool { return strings.EqualFold(e, byUID[uid].Email) }); len(got) != 1 || got[0].Email != byUID[uid].Email {
			t.Errorf("exact %s: Floh users %v", uid, got)
		}
	}
	for _, uid := range cases.CaseOnly {
		got := emails(func(e string) bool { return strings.EqualFold(e, byUID[uid].Email) })
		if len(got) != 1 || got[0].Email == byUID[uid].Email {
			t.Errorf("case-only %s (%s): Floh users %v", uid, byUID[uid].Email, got)
		}
	}
	amb := byUID[cases.AmbiguousEmail]
	got := emails(func(e string) bool { return strings.EqualFold(e, amb.Email) })
	if len(got) != 2 || got[0].Email == got[1].Email || got[0].Email == amb.Email || got[1].Email == amb.Email {
		t.Errorf("ambiguous %s (%s): Floh users %v", amb.Username, amb.Email, got)
	}
	shared := byUID[cases.SharedUpstreamID]
	var sharing []demodir.FlohUser
	for _, u := range users {
		if u.UpstreamID == shared.ExternalID {
			sharing = append(sharing, u)
		}
	}
	if len(sharing) != 2 || strings.EqualFold(sharing[0].Email, shared.Email) || strings.EqualFold(sharing[1].Email, shared.Email) {
		t.Errorf("shared upstream id %s: Floh users %v", shared.ExternalID, sharing)
	}
	noMail := byUID[cases.NoMailUpstreamID]
	if noMail.Email != "" || !slices.ContainsFunc(users, func(u demodir.FlohUser) bool { return u.UpstreamID == noMail.ExternalID }) {
		t.Errorf("the person without mail matched by upstream id: %+v", noMail)
	}
}

// TestSinceListsOnlyWhatChanged checks incremental listings against the generated
// modifyTimestamps, and that Touch makes a person show up in the next one.
func TestSinceListsOnlyWhatChanged(t *testing.T) {
	t.Parallel()
	d := start(t, 500)
	c := connector(t, d, nil)
	people := d.People()
	times := make([]time.Time, len(people))
	for i, p := range people {
		times[i] = p.Modified
	}
	slices.SortFunc(times, time.Time.Compare)
	if times[0].Equal(times[len(times)-1]) || times[len(times)-1].After(demodir.Epoch) {
		t.Fatalf("modifyTimestamps from %v to %v: want them varied and before the epoch", times[0], times[len(times)-1])
	}
	since := times[len(times)*3/4]
	var want []string
	for _, p := range people {
		if !p.Modified.Before(since) {
			want = append(want, p.UID)
		}
	}
	records, _ := list(t, c, connectors.ResourceUser, connectors.ListOptions{Since: since, PageSize: 40})
	if got := usernames(records); !slices.Equal(got, sorted(want)) {
		t.Errorf("since %v: %d people, want %d", since, len(got), len(want))
	}
	if len(want) == 0 || len(want) == len(people) {
		t.Errorf("since %v selects %d of %d: want a part", since, len(want), len(people))
	}

	after := demodir.Epoch.Add(time.Second)
	if records, _ := list(t, c, connectors.ResourceUser, connectors.ListOptions{Since: after}); len(records) != 0 {
		t.Errorf("nothing changed after the epoch, yet %d listed", len(records))
	}
	oldest := people[slices.IndexFunc(people, func(p demodir.Person) bool { return p.Modified.Equal(times[0]) })]
	if err := d.Touch(oldest.UID, demodir.Epoch.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	records, _ = list(t, c, connectors.ResourceUser, connectors.ListOptions{Since: after})
	if got := usernames(records); !slices.Equal(got, []string{oldest.UID}) {
		t.Errorf("after touching %s: %v", oldest.UID, got)
	}
	if records[0].Attributes["modifyTimestamp"] != demodir.Epoch.Add(time.Hour).Format(time.RFC3339) {
		t.Errorf("touched record %v", records[0].Attributes)
	}
	if err := d.Touch("nobody", demodir.Epoch); err == nil {
		t.Error("touching an unknown uid succeeded")
	}
}

func usernames(records []connectors.Record) []string {
	out := make([]string, len(records))
	for i, r := range records {
		out[i] = r.Username
	}
	return sorted(out)
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestGroupsListTheirMembers(t *testing.T) {
	t.Parallel()
	d := start(t, 400)
	records, pages := list(t, connector(t, d, nil), connectors.ResourceGroup, connectors.ListOptions{PageSize: 5})
	groups := d.Groups()
	if len(records) != 12 || len(groups) != 12 || len(pages) != 3 {
		t.Fatalf("%d groups in %d pages, want 12 in 3 (the directory has %d)", len(records), len(pages), len(groups))
	}
	total := 0
	for _, r := range records {
		var uids []string
		for _, dn := range r.Attributes["member"].([]string) {
			uids = append(uids, strings.TrimPrefix(strings.Split(dn, ",")[0], "uid="))
		}
		if len(uids) == 0 || !slices.Equal(sorted(uids), sorted(groups[r.Username])) || r.ExternalID == "" {
			t.Errorf("group %s: members %v, want %v", r.Username, uids, groups[r.Username])
		}
		total += len(uids)
	}
	if total != 400 {
		t.Errorf("%d memberships, want one per person", total)
	}
}

// TestCommandsReadTheDirectory runs the connector's read commands, which search without
// paging and with equality filters, and a write, which the directory refuses.
func TestCommandsReadTheDirectory(t *testing.T) {
	t.Parallel()
	d := start(t, demodir.MinPeople)
	c := connector(t, d, nil)
	p := d.People()[3]
	out, err := c.Execute(t.Context(), "checkAccountExists", map[string]any{"username": strings.ToUpper(p.UID)})
	if err != nil || out["exists"] != true || !strings.EqualFold(out["dn"].(string), p.DN()) {
		t.Errorf("checkAccountExists %s: %v %v", p.UID, out, err)
	}
	out, err = c.Execute(t.Context(), "checkAccountExists", map[string]any{"username": "nobody"})
	if err != nil || out["exists"] != false {
		t.Errorf("checkAccountExists nobody: %v %v", out, err)
	}
	out, err = c.Execute(t.Context(), "listUsers", map[string]any{"filter": "(&(ou=" + p.Department + ")(uid=" + p.UID[:2] + "*))"})
	if err != nil || out["count"].(int) < 1 {
		t.Errorf("listUsers with a filter: %v %v", out, err)
	}
	// Sync one record now fetches a person by entryUUID, as List yields it.
	listed, _ := list(t, c, connectors.ResourceUser, connectors.ListOptions{Filter: "(uid=" + p.UID + ")"})
	got, err := c.(connectors.RecordGetter).GetRecord(t.Context(), connectors.ResourceUser, strings.ToUpper(p.EntryUUID))
	if err != nil || len(listed) != 1 || !reflect.DeepEqual(got, listed[0]) {
		t.Errorf("GetRecord %s: %v\n got %+v\nlist %+v", p.EntryUUID, err, got, listed)
	}
	if _, err := c.(connectors.RecordGetter).GetRecord(t.Context(), connectors.ResourceUser, "00000000-0000-4000-8000-000000000000"); err == nil {
		t.Error("GetRecord of an unknown entryUUID found something")
	}
	if _, err := c.Execute(t.Context(), "disableAccount", map[string]any{"username": p.UID}); err == nil {
		t.Error("the read-only directory took a change")
	} else if !strings.Contains(err.Error(), "read-only") {
		t.Errorf("a change refused with %v", err)
	}
}

// TestPagingFollowsRFC2696 drives the paging control directly: a cookie belongs to its
// connection and its search, a page size of 0 abandons, and without paging a size limit holds.
func TestPagingFollowsRFC2696(t *testing.T) {
	t.Parallel()
	d := start(t, 100)
	conn := bound(t, d)
	search := func(conn *goldap.Conn, filter string, size uint32, cookie []byte) (*goldap.SearchResult, []byte, error) {
		paging := goldap.NewControlPaging(size)
		paging.SetCookie(cookie)
		res, err := conn.Search(goldap.NewSearchRequest(demodir.PeopleDN, goldap.ScopeSingleLevel, goldap.NeverDerefAliases, 0, 0, false,
			filter, []string{"uid"}, []goldap.Control{paging}))
		if err != nil {
			return nil, nil, err
		}
		ctrl, _ := goldap.FindControl(res.Controls, goldap.ControlTypePaging).(*goldap.ControlPaging)
		if ctrl == nil {
			t.Fatal("a paged search answered without the paging control")
		}
		return res, ctrl.Cookie, nil
	}
	res, cookie, err := search(conn, "(objectClass=inetOrgPerson)", 30, nil)
	if err != nil || len(res.Entries) != 30 || len(cookie) == 0 {
		t.Fatalf("first page: %v, %d entries, cookie %q", err, len(res.Entries), cookie)
	}
	if _, _, err := search(bound(t, d), "(objectClass=inetOrgPerson)", 30, cookie); !goldap.IsErrorWithCode(err, goldap.LDAPResultUnwillingToPerform) {
		t.Errorf("another connection's cookie: %v", err)
	}
	if _, _, err := search(conn, "(objectClass=person)", 30, cookie); !goldap.IsErrorWithCode(err, goldap.LDAPResultUnwillingToPerform) {
		t.Errorf("a cookie with another search: %v", err)
	}
	// The failed attempts spent that cookie; a fresh search pages on.
	res, cookie, _ = search(conn, "(objectClass=inetOrgPerson)", 30, nil)
	seen := len(res.Entries)
	res, cookie, err = search(conn, "(objectClass=inetOrgPerson)", 50, cookie)
	if err != nil || len(res.Entries) != 50 || len(cookie) == 0 {
		t.Fatalf("second page: %v %d %q", err, len(res.Entries), cookie)
	}
	seen += len(res.Entries)
	res, cookie, err = search(conn, "(objectClass=inetOrgPerson)", 0, cookie)
	if err != nil || len(res.Entries) != 0 || len(cookie) != 0 {
		t.Errorf("abandoning with size 0: %v %d %q", err, len(res.Entries), cookie)
	}
	if seen != 80 {
		t.Errorf("saw %d", seen)
	}

	res, err = conn.Search(goldap.NewSearchRequest(demodir.PeopleDN, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases, 7, 0, false,
		"(objectClass=inetOrgPerson)", nil, nil))
	if !goldap.IsErrorWithCode(err, goldap.LDAPResultSizeLimitExceeded) || res == nil || len(res.Entries) != 7 {
		t.Errorf("size limit 7: %v", err)
	}
	res, err = conn.SearchWithPaging(goldap.NewSearchRequest(demodir.BaseDN, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"1.1"}, nil), 9)
	if err != nil || len(res.Entries) != 3+100+12 {
		t.Errorf("go-ldap's own paging over the whole tree: %v, %d entries", err, len(res.Entries))
	}
	_, err = conn.Search(goldap.NewSearchRequest("ou=nobody,"+demodir.BaseDN, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", nil, nil))
	var le *goldap.Error
	if !errors.As(err, &le) || le.ResultCode != goldap.LDAPResultNoSuchObject || le.MatchedDN != demodir.BaseDN {
		t.Errorf("an unknown base: %v", err)
	}
}

// TestAttributeSelection checks what a search returns for *, +, names and 1.1.
func TestAttributeSelection(t *testing.T) {
	t.Parallel()
	d := start(t, demodir.MinPeople)
	conn := bound(t, d)
	p := d.People()[0]
	get := func(attrs ...string) map[string][]string {
		res, err := conn.Search(goldap.NewSearchRequest(p.DN(), goldap.ScopeBaseObject, goldap.NeverDerefAliases, 0, 0, false,
			"(objectClass=*)", attrs, nil))
		if err != nil || len(res.Entries) != 1 {
			t.Fatalf("read %s: %v", p.DN(), err)
		}
		out := map[string][]string{}
		for _, a := range res.Entries[0].Attributes {
			out[a.Name] = a.Values
		}
		return out
	}
	all := get()
	if _, ok := all["entryUUID"]; ok || all["uid"][0] != p.UID || all["departmentNumber"][0] != p.DepartmentNumber || all["title"][0] != p.Title {
		t.Errorf("no list: %v", all)
	}
	if ops := get("+"); len(ops) != 4 || ops["entryUUID"][0] != p.EntryUUID {
		t.Errorf("+: %v", ops)
	}
	if named := get("SURNAME", "modifyTimestamp"); len(named) != 2 || named["sn"][0] != p.Surname || named["modifyTimestamp"][0] != p.Modified.Format("20060102150405Z") {
		t.Errorf("by name and alias: %v", named)
	}
	if none := get("1.1"); len(none) != 0 {
		t.Errorf("1.1: %v", none)
	}
}

func TestStopClosesTheListener(t *testing.T) {
	t.Parallel()
	d, err := demodir.Start(demodir.Options{People: demodir.MinPeople})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if conn, err := goldap.DialURL(d.URL()); err == nil {
		conn.Close()
		t.Error("the directory still accepts connections after Stop")
	}
	if _, err := demodir.Start(demodir.Options{People: demodir.MinPeople - 1}); err == nil {
		t.Error("a directory too small for its cases started")
	}
}
