package sync_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"testing"

	"floh/connectors"
	"floh/engine/sync"
)

// wholeCanonical is the canonical form encoded in one go, as hashes were first computed: a
// change to Encode must keep every hash a cache holds.
type wholeCanonical struct {
	ExternalID  string         `json:"e"`
	Username    string         `json:"u"`
	Email       string         `json:"m"`
	DisplayName string         `json:"d"`
	Attributes  map[string]any `json:"a"`
}

func TestEncodeHashesTheCanonicalFormAndKeepsTheAttributes(t *testing.T) {
	for name, r := range map[string]connectors.Record{
		"directory person": {ExternalID: "8a4c1f3e-1111-4e2b-9d0c-5f6a7b8c9d0e", Username: "user000001", Email: "user000001@example.test",
			DisplayName: "User 1", Attributes: map[string]any{
				"dn": "uid=user000001,ou=people,dc=example,dc=test", "sn": "1", "givenName": "User", "enabled": true,
				"memberOf": []string{"cn=staff,ou=groups,dc=example,dc=test"}, "modifyTimestamp": "2026-11-22T08:00:00Z",
			}},
		"no attributes":    {ExternalID: "x", Email: "x@example.test"},
		"empty attributes": {ExternalID: "x", Attributes: map[string]any{}},
		"escapes": {ExternalID: `q"uote\`, Username: "<b>&amp;</b>", Email: "é@exämple.test", DisplayName: "line\nbreak\u2028\x01",
			Attributes: map[string]any{"z": "<script>", "a": map[string]any{"nested": []any{1.5, nil, "x"}}, "ünï": "\xff"}},
	} {
		t.Run(name, func(t *testing.T) {
			attrs, hash, err := sync.Encode(r)
			if err != nil {
				t.Fatal(err)
			}
			whole, err := json.Marshal(wholeCanonical{r.ExternalID, r.Username, r.Email, r.DisplayName, r.Attributes})
			if err != nil {
				t.Fatal(err)
			}
			if want := sha256.Sum256(whole); !bytes.Equal(hash, want[:]) {
				t.Errorf("hash %x, want %x, the SHA-256 of %s", hash, want, whole)
			}
			wantAttrs := []byte("{}")
			if r.Attributes != nil {
				wantAttrs, _ = json.Marshal(r.Attributes)
			}
			if !bytes.Equal(attrs, wantAttrs) {
				t.Errorf("attributes %s, want %s", attrs, wantAttrs)
			}
		})
	}
}

func TestEncodeRefusesWhatJSONCannotHold(t *testing.T) {
	if _, _, err := sync.Encode(connectors.Record{ExternalID: "x", Attributes: map[string]any{"f": func() {}}}); err == nil {
		t.Fatal("a function attribute was encoded")
	}
}

// FuzzEncodeIsEncodingJSON: whatever the strings, the attributes Encode writes and the hash
// it takes are what encoding/json gives for the record.
func FuzzEncodeIsEncodingJSON(f *testing.F) {
	f.Add("8a4c1f3e", "user000001", "user000001@example.test", "User 1", "sn", "Doe", 1.5, true)
	f.Add(`q"uote\`, "<b>&amp;</b>", "é@exämple.test", "line\nbreak\u2028\x01", "ünï", "\xff\x7f", -0.0, false)
	f.Add("", "", "", "", "", "", 1e21, false)
	f.Fuzz(func(t *testing.T, id, username, email, name, key, value string, n float64, flag bool) {
		r := connectors.Record{ExternalID: id, Username: username, Email: email, DisplayName: name, Attributes: map[string]any{
			key: value, "list": []any{value, n, nil, flag, []string{key}}, "strings": []string{value, key}, "none": []string(nil),
			"object": map[string]any{key: []any{map[string]any{value: value}}}, "n": n, "flag": flag,
		}}
		attrs, hash, err := sync.Encode(r)
		want, werr := json.Marshal(r.Attributes)
		if (err != nil) != (werr != nil) {
			t.Fatalf("Encode: %v; encoding/json: %v", err, werr)
		}
		if err != nil {
			return
		}
		if !bytes.Equal(attrs, want) {
			t.Fatalf("attributes\n%s\nencoding/json\n%s", attrs, want)
		}
		whole, _ := json.Marshal(wholeCanonical{id, username, email, name, r.Attributes})
		if sum := sha256.Sum256(whole); !bytes.Equal(hash, sum[:]) {
			t.Fatalf("hash of %s differs", whole)
		}
	})
}

func TestEncodeRefusesACycle(t *testing.T) {
	m := map[string]any{}
	m["self"] = []any{m}
	if _, _, err := sync.Encode(connectors.Record{ExternalID: "x", Attributes: m}); err == nil {
		t.Fatal("a cyclic attribute was encoded")
	}
}
