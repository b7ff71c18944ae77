package ldap

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"floh/connectors"
	"floh/connectors/ldap/ldaptest"
)

// TestListUsersPages lists a slapd of 25 people, plus two who last changed in 2020, page by
// page through the command (one page per call, resumed by cursor) and through List, and
// checks since against the entries' real modifyTimestamp.
func TestListUsersPages(t *testing.T) {
	t.Parallel()
	s, err := ldaptest.StartLoaded(t.TempDir(), func(w io.Writer) error {
		if err := ldaptest.WriteUsers(w, 25); err != nil {
			return err
		}
		// slapadd keeps operational attributes given in the LDIF: an old modifyTimestamp
		// without waiting for time to pass.
		for _, uid := range []string{"old1", "old2"} {
			fmt.Fprintf(w, "dn: uid=%s,%s\nobjectClass: inetOrgPerson\nuid: %s\ncn: %s\nsn: %s\nmodifyTimestamp: 20200101000000Z\ncreateTimestamp: 20200101000000Z\n\n",
				uid, ldaptest.SlapdUserBaseDN, uid, uid, uid)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	d := &directory{typ: LDAP, cfg: connectors.Config{
		"url": s.LDAPSURL, "caCert": string(s.CAPEM), "bindDN": s.BindDN, "bindPassword": s.BindPassword,
		"baseDN": s.BaseDN, "userBaseDN": s.UserBaseDN, "groupBaseDN": s.GroupBaseDN, "pageSize": 10,
	}}
	c := d.connector(t, nil)

	var seen []string
	var sizes []int
	cursor := ""
	for calls := 0; ; calls++ {
		if calls > 5 {
			t.Fatal("listing does not end")
		}
		out := mustRun(t, c, "listUsers", map[string]any{"cursor": cursor})
		records := out["records"].([]any)
		sizes = append(sizes, out["count"].(int))
		for _, r := range records {
			seen = append(seen, r.(map[string]any)["username"].(string))
		}
		if cursor = out["nextCursor"].(string); cursor == "" {
			break
		}
	}
	if !slices.Equal(sizes, []int{10, 10, 7}) {
		t.Errorf("page sizes %v, want [10 10 7]", sizes)
	}
	if len(seen) != 27 || len(slices.Compact(slices.Sorted(slices.Values(seen)))) != 27 {
		t.Errorf("listed %d usernames (%d distinct), want 27: %v", len(seen), len(slices.Compact(slices.Sorted(slices.Values(seen)))), seen)
	}

	var records []connectors.Record
	pages := 0
	err = c.List(t.Context(), connectors.ResourceUser, connectors.ListOptions{PageSize: 4}, func(p connectors.Page) error {
		pages++
		if len(p.Records) > 4 {
			t.Errorf("page of %d records with page size 4", len(p.Records))
		}
		records = append(records, p.Records...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(records) != 27 || pages != 7 {
		t.Errorf("List gave %d records in %d pages, want 27 in 7", len(records), pages)
	}
	r := records[slices.IndexFunc(records, func(r connectors.Record) bool { return r.Username == "user000007" })]
	if r.Email != "user000007@example.test" || r.DisplayName != "User 7" || len(r.ExternalID) != 36 {
		t.Errorf("record %+v", r)
	}
	if r.Attributes["dn"] != "uid=user000007,"+s.UserBaseDN || r.Attributes["enabled"] != true || r.Attributes["sn"] != "7" {
		t.Errorf("attributes %v", r.Attributes)
	}
	if _, err := time.Parse(time.RFC3339, r.Attributes["modifyTimestamp"].(string)); err != nil {
		t.Errorf("modifyTimestamp %v is not RFC 3339", r.Attributes["modifyTimestamp"])
	}
	if m, ok := r.Attributes["memberOf"].([]string); !ok || len(m) != 0 {
		t.Errorf("memberOf = %#v, want an empty list", r.Attributes["memberOf"])
	}

	out := mustRun(t, c, "listUsers", map[string]any{"since": "2021-01-01T00:00:00Z", "pageSize": 100})
	if out["count"] != 25 {
		t.Errorf("since 2021: %v records, want the 25 loaded now", out["count"])
	}
	out = mustRun(t, c, "listUsers", map[string]any{"since": "2019-06-01T00:00:00+02:00", "pageSize": 100})
	if out["count"] != 27 {
		t.Errorf("since 2019: %v records, want 27", out["count"])
	}
	out = mustRun(t, c, "listUsers", map[string]any{"filter": "(uid=user00001*)", "pageSize": 100})
	if out["count"] != 10 || out["nextCursor"] != "" {
		t.Errorf("filter uid=user00001*: %v records, next %q; want 10 and the end", out["count"], out["nextCursor"])
	}
	if out := mustRun(t, c, "listUsers", map[string]any{"filter": "uid=old1"}); out["count"] != 1 {
		t.Errorf("a filter without parentheses: %v records", out["count"])
	}

	_, err = run(t, c, "listUsers", map[string]any{"filter": "(uid=x"})
	if ce := wantError(t, err, connectors.InvalidInput, "is not an LDAP filter"); ce.Field != "filter" {
		t.Errorf("field %q", ce.Field)
	}
	_, err = run(t, c, "listUsers", map[string]any{"since": "yesterday"})
	if ce := wantError(t, err, connectors.InvalidInput, "RFC 3339"); ce.Field != "since" {
		t.Errorf("field %q", ce.Field)
	}
	_, err = run(t, c, "listUsers", map[string]any{"pageSize": 1 << 40})
	if ce := wantError(t, err, connectors.InvalidInput, "pageSize must be between"); ce.Field != "pageSize" {
		t.Errorf("field %q", ce.Field)
	}
	_, err = run(t, c, "listUsers", map[string]any{"cursor": "!!"})
	wantError(t, err, connectors.InvalidInput, "not a cursor")

	// A cursor whose entry was deleted cannot be resumed from.
	first := mustRun(t, c, "listUsers", nil)
	last := first["records"].([]any)[9].(map[string]any)["attributes"].(map[string]any)["dn"].(string)
	mustAdmin(t, &directory{admin: s.Dial}, func(conn *goldap.Conn) error { return conn.Del(goldap.NewDelRequest(last, nil)) })
	_, err = run(t, c, "listUsers", map[string]any{"cursor": first["nextCursor"]})
	wantError(t, err, connectors.InvalidInput, "cannot resume after "+last, "start the listing again")
}

// TestListStopsAtYieldError checks List hands back the consumer's error and reads no further.
func TestListStopsAtYieldError(t *testing.T) {
	t.Parallel()
	s, err := ldaptest.StartLoaded(t.TempDir(), func(w io.Writer) error { return ldaptest.WriteUsers(w, 30) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c := (&directory{typ: LDAP, cfg: connectors.Config{
		"url": s.LDAPSURL, "caCert": string(s.CAPEM), "bindDN": s.BindDN, "bindPassword": s.BindPassword, "baseDN": s.BaseDN,
	}}).connector(t, nil)
	stop := errors.New("disk full")
	pages := 0
	err = c.List(t.Context(), connectors.ResourceUser, connectors.ListOptions{PageSize: 10}, func(connectors.Page) error {
		pages++
		return stop
	})
	if !errors.Is(err, stop) || pages != 1 {
		t.Errorf("List returned %v after %d pages, want the consumer's error after 1", err, pages)
	}
}

// TestListGroupsAndMembers lists groups with their members and users with their memberships,
// on both directories.
func TestListGroupsAndMembers(t *testing.T) {
	bothDirectories(t, func(t *testing.T, d *directory) {
		c := d.connector(t, nil)
		ann, bob := uniqueName("ann"), uniqueName("bob")
		annDN := mustRun(t, c, "createAccount", map[string]any{"username": ann, "email": ann + "@example.test"})["dn"].(string)
		bobDN := mustRun(t, c, "createAccount", map[string]any{"username": bob})["dn"].(string)
		name, groupDN := d.newGroup(t, annDN, bobDN)

		out := mustRun(t, c, "listGroups", map[string]any{"filter": "(cn=" + name + ")"})
		if out["count"] != 1 {
			t.Fatalf("listGroups found %v groups named %s", out["count"], name)
		}
		g := out["records"].([]any)[0].(map[string]any)
		attrs := g["attributes"].(map[string]any)
		members := attrs["member"].([]string)
		if g["username"] != name || !sameDN(attrs["dn"].(string), groupDN) || !slices.ContainsFunc(members, func(m string) bool { return sameDN(m, annDN) }) ||
			!slices.ContainsFunc(members, func(m string) bool { return sameDN(m, bobDN) }) || g["externalId"] == "" {
			t.Errorf("group record %v", g)
		}
		changed := c.f.changedAttr
		if _, err := time.Parse(time.RFC3339, fmt.Sprint(attrs[changed])); err != nil {
			t.Errorf("%s = %v", changed, attrs[changed])
		}

		out = mustRun(t, c, "listUsers", map[string]any{"filter": "(" + c.f.usernameAttr + "=" + ann + ")"})
		u := out["records"].([]any)[0].(map[string]any)
		memberOf := u["attributes"].(map[string]any)["memberOf"].([]string)
		if u["username"] != ann || u["email"] != ann+"@example.test" || len(memberOf) != 1 || !sameDN(memberOf[0], groupDN) {
			t.Errorf("user record %v", u)
		}
		if c.f.ad {
			if _, ok := u["attributes"].(map[string]any)["userPrincipalName"]; !ok {
				t.Errorf("AD user record without userPrincipalName: %v", u)
			}
		}

		// since in the future: nothing has changed yet.
		out = mustRun(t, c, "listUsers", map[string]any{"since": time.Now().Add(time.Hour).Format(time.RFC3339)})
		if out["count"] != 0 {
			t.Errorf("since an hour ahead: %v users", out["count"])
		}
		out = mustRun(t, c, "listUsers", map[string]any{"since": time.Now().Add(-time.Hour).Format(time.RFC3339)})
		if out["count"] != 2 {
			t.Errorf("since an hour ago: %v users, want the 2 just made", out["count"])
		}
	})
}

// TestObjectGUIDIsADsForm checks the externalId against AD itself: a DN of the form
// <GUID=...> finds the object only if the string is the GUID as AD writes it.
func TestObjectGUIDIsADsForm(t *testing.T) {
	t.Parallel()
	d := sambaDirectory(t)
	c := d.connector(t, nil)
	username := uniqueName("guid")
	out := mustRun(t, c, "createAccount", map[string]any{"username": username})
	e := d.read(t, "<GUID="+out["externalId"].(string)+">", "sAMAccountName")
	if e == nil || e.GetAttributeValue("sAMAccountName") != username {
		t.Errorf("<GUID=%s> finds %+v, want %s", out["externalId"], e, username)
	}
}

// TestRangedValues has the DC send member in ranges, as AD does for large groups, and checks
// every value is fetched.
func TestRangedValues(t *testing.T) {
	t.Parallel()
	d := sambaDirectory(t)
	c := d.connector(t, nil)
	var members []string
	for range 5 {
		members = append(members, mustRun(t, c, "createAccount", map[string]any{"username": uniqueName("rng")})["dn"].(string))
	}
	_, groupDN := d.newGroup(t, members...)
	l, err := c.openLister(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	// Samba sends ranges only when asked; asking for the first two makes the entry look like
	// AD's answer for a group over MaxValRange.
	var r connectors.Record
	var more *rangedAttr
	_, err = l.search(searchRequest{base: groupDN, scope: goldap.ScopeBaseObject, filter: "(objectClass=*)", attrs: []string{"cn", "member;range=0-1"}},
		func(e *rawEntry) error {
			r, more = c.record(connectors.ResourceGroup, e)
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if more == nil || len(r.Attributes["member"].([]string)) != 2 {
		t.Fatalf("the ranged read gave %v, %+v; want 2 members and more to fetch", r.Attributes["member"], more)
	}
	if err := l.fetchRest(r, *more); err != nil {
		t.Fatal(err)
	}
	got := r.Attributes["member"].([]string)
	if len(got) != 5 {
		t.Errorf("%d members, want 5: %q", len(got), got)
	}
	for _, m := range members {
		if !slices.ContainsFunc(got, func(g string) bool { return sameDN(g, m) }) {
			t.Errorf("member %s missing", m)
		}
	}
}

func TestRangeParsing(t *testing.T) {
	for option, want := range map[string]string{"range=0-1499": "1500-*", "Range=1500-2999": "3000-*", "range=3000-*": "", "range=": "", "x": ""} {
		got, more := nextRange(option)
		if got != want || more != (want != "") {
			t.Errorf("nextRange(%q) = %q, %v; want %q", option, got, more, want)
		}
	}
}

func TestGUIDAndTimes(t *testing.T) {
	// The GUID {6B29FC40-CA47-101B-B31D-00DD010662DA} as AD stores it.
	raw := []byte{0x40, 0xfc, 0x29, 0x6b, 0x47, 0xca, 0x1b, 0x10, 0xb3, 0x1d, 0x00, 0xdd, 0x01, 0x06, 0x62, 0xda}
	if got := guidString(raw); got != "6b29fc40-ca47-101b-b31d-00dd010662da" {
		t.Errorf("guidString = %s", got)
	}
	for in, want := range map[string]string{
		"20250131120000Z": "2025-01-31T12:00:00Z", "20250131120000.0Z": "2025-01-31T12:00:00Z", "garbage": "garbage",
	} {
		if got := generalizedTime(in); got != want {
			t.Errorf("generalizedTime(%q) = %q, want %q", in, got, want)
		}
	}
}
