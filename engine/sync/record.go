package sync

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"floh/connectors"
)

// Hash is the SHA-256 of a record's canonical form: its JSON with object keys sorted (as
// encoding/json writes maps) and no insignificant space. Two listings of an unchanged record
// hash the same however the connector ordered its attributes, so a re-sync can tell what
// changed without comparing field by field.
func Hash(r connectors.Record) ([]byte, error) {
	b, err := json.Marshal(canonical{r.ExternalID, r.Username, r.Email, r.DisplayName, r.Attributes})
	if err != nil {
		return nil, fmt.Errorf("hash record %s: %w", r.ExternalID, err)
	}
	sum := sha256.Sum256(b)
	return sum[:], nil
}

// canonical fixes the field order of the hashed form; renaming a Record field must not
// change every hash.
type canonical struct {
	ExternalID  string         `json:"e"`
	Username    string         `json:"u"`
	Email       string         `json:"m"`
	DisplayName string         `json:"d"`
	Attributes  map[string]any `json:"a"`
}

// Path is a dot-path into a synced record, such as attributes.department or email.
type Path struct {
	// Field is the record's top-level field: externalId, username, email, displayName or
	// attributes.
	Field string
	// Keys are the keys under attributes; empty for the other fields.
	Keys []string
}

var pathKey = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_:-]*$`)

// ParsePath reads a dot-path into a record.
func ParsePath(s string) (Path, error) {
	const form = "must be a record field (externalId, username, email, displayName) or attributes.<name>, such as attributes.department"
	parts := strings.Split(s, ".")
	switch {
	case s == "":
		return Path{}, fmt.Errorf("%s", form)
	case len(parts) == 1 && (s == "externalId" || s == "username" || s == "email" || s == "displayName"):
		return Path{Field: s}, nil
	case parts[0] != "attributes" || len(parts) < 2:
		return Path{}, fmt.Errorf("%s, not %q", form, s)
	}
	for _, k := range parts[1:] {
		if !pathKey.MatchString(k) {
			return Path{}, fmt.Errorf("%s, not %q", form, s)
		}
	}
	return Path{Field: "attributes", Keys: parts[1:]}, nil
}

// Keep reports whether the filters keep a record: its email in one of the domains, when any
// are given.
func (f Filters) Keep(r connectors.Record) bool {
	if len(f.EmailDomains) == 0 {
		return true
	}
	at := strings.LastIndexByte(r.Email, '@')
	if at < 0 {
		return false
	}
	domain := strings.ToLower(r.Email[at+1:])
	for _, d := range f.EmailDomains {
		if domain == d {
			return true
		}
	}
	return false
}
