package scim

import (
	"reflect"
	"testing"
)

const enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

func TestInverseOperations(t *testing.T) {
	before := map[string]any{
		"id":          "42",
		"userName":    "jdoe",
		"displayName": "J Doe",
		"name":        map[string]any{"givenName": "J"},
		"emails":      []any{map[string]any{"value": "j@work.test", "type": "work"}},
		"meta":        map[string]any{"lastModified": "2024-05-01T10:00:00Z"},
		enterprise:    map[string]any{"department": "R&D"},
	}
	op := func(o, path string, value any) map[string]any {
		m := map[string]any{"op": o, "path": path}
		if value != nil {
			m["value"] = value
		}
		return m
	}
	for name, tc := range map[string]struct {
		ops  []any
		want []any
	}{
		"a replaced attribute is replaced back": {
			[]any{op("replace", "displayName", "Jane")},
			[]any{op("replace", "displayName", "J Doe")},
		},
		"an added attribute is removed": {
			[]any{op("add", "nickName", "JD")},
			[]any{op("remove", "nickName", nil)},
		},
		"a sub-attribute restores its whole complex attribute": {
			[]any{op("add", "name.familyName", "Doe")},
			[]any{op("remove", "name", nil), op("add", "name", map[string]any{"givenName": "J"})},
		},
		"a value path restores every value": {
			[]any{op("replace", `emails[type eq "work"].value`, "x@y.test"), op("remove", `emails[value eq "a.b:c"]`, nil)},
			[]any{op("replace", "emails", before["emails"])},
		},
		"names are not case-sensitive, and take the resource's spelling": {
			[]any{op("replace", "DISPLAYNAME", "Jane"), op("replace", "urn:ietf:params:scim:schemas:core:2.0:User:displayName", "Jo")},
			[]any{op("replace", "displayName", "J Doe")},
		},
		"without a path, each attribute of the value": {
			[]any{map[string]any{"op": "replace", "value": map[string]any{"userName": "jane", "title": "CTO", "password": "x"}}},
			[]any{op("remove", "title", nil), op("replace", "userName", "jdoe")},
		},
		"extension attributes by path": {
			[]any{op("replace", enterprise+":department", "Ops"), op("add", enterprise+":manager.value", "7")},
			[]any{op("replace", enterprise+":department", "R&D"), op("remove", enterprise+":manager", nil)},
		},
		"extension attributes inside their schema's object": {
			[]any{map[string]any{"op": "add", "value": map[string]any{enterprise: map[string]any{"costCenter": "9", "department": "Ops"}}}},
			[]any{op("remove", enterprise+":costCenter", nil), op("replace", enterprise+":department", "R&D")},
		},
		"what the application owns, and passwords, are left out": {
			[]any{op("replace", "password", "x"), op("replace", "meta.lastModified", "x"), op("replace", "id", "7")},
			[]any{},
		},
	} {
		t.Run(name, func(t *testing.T) {
			if err := checkOperations(tc.ops); err != nil {
				t.Fatal(err)
			}
			if got := inverseOperations(before, tc.ops); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("\ngot  %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestCheckOperations(t *testing.T) {
	for _, bad := range []any{
		"replace",
		map[string]any{"op": "move", "path": "a"},
		map[string]any{"op": "replace", "path": "a"},
		map[string]any{"op": "add", "value": "not an object"},
		map[string]any{"op": "remove"},
		map[string]any{"op": "remove", "path": 7},
	} {
		if err := checkOperations([]any{bad}); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
