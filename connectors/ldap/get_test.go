package ldap

import (
	"reflect"
	"strings"
	"testing"

	"github.com/google/uuid"

	"floh/connectors"
)

// TestGetRecord fetches users and groups one at a time by externalId on both directories: each
// is the record List yields for it, the configured userFilter still applies, and a gone,
// filtered-out or malformed id fails as the RecordGetter contract says.
func TestGetRecord(t *testing.T) {
	bothDirectories(t, func(t *testing.T, d *directory) {
		c := d.connector(t, nil)
		ann, bob := uniqueName("ann"), uniqueName("bob")
		annDN := mustRun(t, c, "createAccount", map[string]any{"username": ann, "email": ann + "@example.test", "displayName": "Ann " + ann})["dn"].(string)
		bobDN := mustRun(t, c, "createAccount", map[string]any{"username": bob})["dn"].(string)
		group, _ := d.newGroup(t, annDN, bobDN)

		listed := func(resource, filter string) connectors.Record {
			t.Helper()
			var got []connectors.Record
			err := c.List(t.Context(), resource, connectors.ListOptions{Filter: filter}, func(p connectors.Page) error {
				got = append(got, p.Records...)
				return nil
			})
			if err != nil || len(got) != 1 {
				t.Fatalf("listing %s %s: %d records, %v", resource, filter, len(got), err)
			}
			return got[0]
		}
		annRecord := listed(connectors.ResourceUser, "("+c.f.usernameAttr+"="+ann+")")
		bobRecord := listed(connectors.ResourceUser, "("+c.f.usernameAttr+"="+bob+")")
		groupRecord := listed(connectors.ResourceGroup, "(cn="+group+")")
		for _, want := range []struct {
			resource string
			record   connectors.Record
		}{{connectors.ResourceUser, annRecord}, {connectors.ResourceUser, bobRecord}, {connectors.ResourceGroup, groupRecord}} {
			got, err := c.GetRecord(t.Context(), want.resource, want.record.ExternalID)
			if err != nil {
				t.Fatalf("GetRecord(%s, %s): %v", want.resource, want.record.ExternalID, err)
			}
			if !reflect.DeepEqual(got, want.record) {
				t.Errorf("GetRecord(%s, %s) =\n%#v\nList yields\n%#v", want.resource, want.record.ExternalID, got, want.record)
			}
		}
		if len(groupRecord.Attributes["member"].([]string)) < 2 {
			t.Errorf("the group's record lacks its members: %v", groupRecord.Attributes["member"])
		}
		// The GUID as people write it, in capitals and braces, is the same id.
		got, err := c.GetRecord(t.Context(), connectors.ResourceUser, "{"+strings.ToUpper(annRecord.ExternalID)+"}")
		if err != nil || !reflect.DeepEqual(got, annRecord) {
			t.Errorf("GetRecord of the braced upper-case GUID = %+v, %v; want ann's record", got, err)
		}

		// A GUID no entry has; a user's id asked as a group, which the groupFilter leaves out.
		missing := "0b2d7b9e-3f4a-4c1d-9e8f-a1b2c3d4e5f6"
		_, err = c.GetRecord(t.Context(), connectors.ResourceUser, missing)
		if ce := wantError(t, err, connectors.NotFound, missing, c.f.idAttr, c.userBaseDN); ce.Code != connectors.CodeRecordNotFound {
			t.Errorf("code %s", ce.Code)
		}
		_, err = c.GetRecord(t.Context(), connectors.ResourceGroup, annRecord.ExternalID)
		wantError(t, err, connectors.NotFound, annRecord.ExternalID, c.groupFilter)

		// The connector's userFilter applies: with one that leaves ann out, ann is not found
		// and bob still is.
		userFilter := "(&" + c.f.userFilter + "(!(" + c.f.usernameAttr + "=" + ann + ")))"
		narrow := d.connector(t, connectors.Config{"userFilter": userFilter})
		_, err = narrow.GetRecord(t.Context(), connectors.ResourceUser, annRecord.ExternalID)
		if ce := wantError(t, err, connectors.NotFound, annRecord.ExternalID, userFilter); ce.Code != connectors.CodeRecordNotFound {
			t.Errorf("code %s", ce.Code)
		}
		if got, err := narrow.GetRecord(t.Context(), connectors.ResourceUser, bobRecord.ExternalID); err != nil || !reflect.DeepEqual(got, bobRecord) {
			t.Errorf("bob under the narrower filter: %+v, %v", got, err)
		}

		// Gone upstream.
		mustRun(t, c, "deleteAccount", map[string]any{"username": bob})
		_, err = c.GetRecord(t.Context(), connectors.ResourceUser, bobRecord.ExternalID)
		wantError(t, err, connectors.NotFound, bobRecord.ExternalID)

		// Ids that cannot be a GUID, an injection among them, fail before any search.
		for _, bad := range []string{"", "not-a-guid", annRecord.ExternalID[:35], "*", annRecord.ExternalID + ")(" + c.f.usernameAttr + "=*"} {
			_, err := c.GetRecord(t.Context(), connectors.ResourceUser, bad)
			if ce := wantError(t, err, connectors.InvalidInput, "is not the "+c.f.idAttr); ce.Field != "externalId" || ce.Code != connectors.CodeInvalidExternalID {
				t.Errorf("externalId %q: field %q, code %s", bad, ce.Field, ce.Code)
			}
		}
		_, err = c.GetRecord(t.Context(), "device", annRecord.ExternalID)
		wantError(t, err, connectors.InvalidInput, `not "device"`)
	})
}

// TestGUIDBytesInvertsGUIDString checks the filter value of an AD externalId is the objectGUID
// it was made from, on the GUID Microsoft's documentation uses and on random ones.
func TestGUIDBytesInvertsGUIDString(t *testing.T) {
	raw := []byte{0x40, 0xfc, 0x29, 0x6b, 0x47, 0xca, 0x1b, 0x10, 0xb3, 0x1d, 0x00, 0xdd, 0x01, 0x06, 0x62, 0xda}
	if got := guidBytes(uuid.MustParse(guidString(raw))); !reflect.DeepEqual(got, raw) {
		t.Errorf("guidBytes = % x, want % x", got, raw)
	}
	for range 100 {
		id := uuid.New()
		if got := guidString(guidBytes(id)); got != id.String() {
			t.Errorf("guidString(guidBytes(%s)) = %s", id, got)
		}
	}
	c := &connector{f: adFlavor}
	got, err := c.idAssertion(connectors.ResourceUser, "6B29FC40-CA47-101B-B31D-00DD010662DA")
	if want := `(objectGUID=\40\fc\29\6b\47\ca\1b\10\b3\1d\00\dd\01\06\62\da)`; err != nil || got != want {
		t.Errorf("idAssertion = %s, %v; want %s", got, err, want)
	}
}
