package handlers

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"floh/engine"
)

// FuzzDecodeJSON: whatever body a client sends, decoding ends in success, a 400 or a 422 that
// names a field, never an error the API would answer with 500.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{"email":"a@b.c"}`, `{"email":5}`, `{"displayName":null}`, `{"active":"yes"}`, `{"nope":1}`,
		`{"custom":{"a":1}}`, `[]`, `"x"`, `{`, `{"email":"a"}{}`, ``, `{"custom":{"a":{"b":[1,2]}}}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		for _, dst := range []any{&engine.UserPatch{}, &engine.ProfilePatch{}, &engine.CreateUserInput{}, &engine.CreateTokenInput{}} {
			r := httptest.NewRequest(http.MethodPost, "/api/x", strings.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			err := decodeJSON(r, dst)
			if err == nil {
				continue
			}
			status, e := classify(err)
			if status != http.StatusBadRequest && status != http.StatusUnprocessableEntity {
				t.Fatalf("body %q into %T: status %d (%v)", body, dst, status, err)
			}
			if status == http.StatusUnprocessableEntity && (len(e.Details) == 0 || e.Details[0].Field == "") {
				t.Fatalf("body %q into %T: a 422 must name the field: %+v", body, dst, e)
			}
		}
	})
}
