package sync

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"floh/connectors"
)

func TestDefaultsArePRODUCTs(t *testing.T) {
	c := Default()
	if c.Enabled || c.Strategy != "full" || c.Cron != "" || c.StaleRetention != "7d" || c.UserMatchStrategy != "email" ||
		c.IssuerSourcePath != "attributes.identityIssuer" || c.TriggerMode != "none" || c.DeletionGuard != (Guard{20, 500}) ||
		c.MaxWorkflowRunsPerSync != 1000 || c.CreateUsers || c.DeactivateUsers {
		t.Fatalf("defaults: %+v", c)
	}
	if ps := Normalize(&c); len(ps) != 0 {
		t.Fatalf("the defaults are valid: %v", ps)
	}
}

func TestNormalizeTidiesAndNamesFields(t *testing.T) {
	c := Config{Cron: " 0 */6 * * * ", Filters: Filters{EmailDomains: []string{" @Example.ORG "}},
		AttributeMappings: []Mapping{{SourcePath: " attributes.department ", TargetField: "department"}}}
	if ps := Normalize(&c); len(ps) != 0 {
		t.Fatal(ps)
	}
	if c.Cron != "0 */6 * * *" || c.Filters.EmailDomains[0] != "example.org" || c.AttributeMappings[0].WriteMode != OverwriteIfEmpty ||
		c.AttributeMappings[0].SourcePath != "attributes.department" {
		t.Fatalf("tidied: %+v", c)
	}
	bad := Config{Enabled: true, UserMatchFallbackStrategies: []string{"external_id", "external_id"}, IssuerSourcePath: "issuer",
		CreateUserDefaults: map[string]string{"startDate": "soon", "shoe": "42"}, DeletionGuard: Guard{MaxPercent: -1}}
	fields := map[string]bool{}
	for _, p := range Normalize(&bad) {
		fields[p.Field] = true
	}
	for _, f := range []string{"cron", "userMatchFallbackStrategies[1]", "issuerSourcePath", "createUserDefaults.startDate",
		"createUserDefaults.shoe", "deletionGuard.maxPercent"} {
		if !fields[f] {
			t.Errorf("no problem named %s in %v", f, fields)
		}
	}
}

func TestParseRetention(t *testing.T) {
	for in, want := range map[string]time.Duration{"7d": 7 * 24 * time.Hour, "24h": 24 * time.Hour, "30m": 30 * time.Minute} {
		if got, err := ParseRetention(in); err != nil || got != want {
			t.Errorf("%s: %v %v", in, got, err)
		}
	}
	for _, in := range []string{"", "7", "d", "0d", "-1d", "+1d", "1w", "1.5h", "99999999d"} {
		if _, err := ParseRetention(in); err == nil {
			t.Errorf("%q was accepted", in)
		}
	}
}

func FuzzParseRetention(f *testing.F) {
	for _, s := range []string{"7d", "24h", "30m", "", "1w", "-1d", "3650d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseRetention(s)
		if err == nil && (d < time.Minute || d > 10*365*24*time.Hour) {
			t.Fatalf("%q gives %v", s, d)
		}
	})
}

func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"attributes.identityIssuer", "email", "attributes", "attributes..x", "attributes.a b", "displayName"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePath(s)
		if err != nil {
			return
		}
		if p.Field == "attributes" && "attributes."+strings.Join(p.Keys, ".") != s {
			t.Fatalf("%q reads as %+v", s, p)
		}
		for _, k := range p.Keys {
			if strings.ContainsAny(k, "'\"{}, \\") {
				t.Fatalf("%q lets %q through", s, k)
			}
		}
	})
}

func TestHashIgnoresAttributeOrderButNotValues(t *testing.T) {
	a := connectors.Record{ExternalID: "1", Email: "a@x.test", Attributes: map[string]any{"x": "1", "y": []any{"2", "3"}}}
	b := connectors.Record{ExternalID: "1", Email: "a@x.test", Attributes: map[string]any{"y": []any{"2", "3"}, "x": "1"}}
	c := connectors.Record{ExternalID: "1", Email: "a@x.test", Attributes: map[string]any{"x": "1", "y": []any{"3", "2"}}}
	_, ha, _ := Encode(a)
	_, hb, _ := Encode(b)
	_, hc, _ := Encode(c)
	if !bytes.Equal(ha, hb) || bytes.Equal(ha, hc) || len(ha) != 32 {
		t.Fatalf("hashes: %x %x %x", ha, hb, hc)
	}
}

func TestGuard(t *testing.T) {
	g := Guard{MaxPercent: 20, MaxCount: 500}
	for _, c := range []struct {
		live, stale, deactivate int
		trips                   bool
	}{
		{100, 20, 0, false}, {100, 21, 0, true}, {100, 0, 21, true}, {10000, 501, 0, true}, {10000, 500, 0, false},
		{0, 0, 0, false}, {0, 1, 0, false},
	} {
		h := g.Check(c.live, c.stale, c.deactivate)
		if (h != nil) != c.trips {
			t.Errorf("%+v: hold %v", c, h)
		}
		if h != nil && (h.Reason != "deletion_guard" || !strings.Contains(h.Message, "Nothing was changed")) {
			t.Errorf("hold: %+v", h)
		}
	}
}

func TestFiltersKeep(t *testing.T) {
	f := Filters{EmailDomains: []string{"example.org"}}
	for email, want := range map[string]bool{"a@Example.ORG": true, "a@sub.example.org": false, "": false, "a@example.org.evil": false} {
		if f.Keep(connectors.Record{Email: email}) != want {
			t.Errorf("%q: want %v", email, want)
		}
	}
	if !(Filters{}).Keep(connectors.Record{}) {
		t.Fatal("no domains keep everything")
	}
}
