package sync

import (
	"crypto/sha256"
	"fmt"
	"regexp"
	"strings"

	"floh/connectors"
)

// Encode is a record as a sync stages it: its attributes as JSON ({} when it has none) and
// its hash, the SHA-256 of its canonical form. The canonical form is the JSON of
// {"e": externalId, "u": username, "m": email, "d": displayName, "a": attributes} with
// object keys sorted (as encoding/json writes maps) and no insignificant space, so two
// listings of an unchanged record hash the same however the connector ordered its
// attributes, and a re-sync can tell what changed without comparing field by field.
//
// The attributes are encoded once, for both: the canonical form is written with them in
// their place, and they are that part of it.
func Encode(r connectors.Record) (attributes, hash []byte, err error) {
	b := make([]byte, 0, 512)
	b = append(b, `{"e":`...)
	b = appendJSONString(b, r.ExternalID)
	b = append(b, `,"u":`...)
	b = appendJSONString(b, r.Username)
	b = append(b, `,"m":`...)
	b = appendJSONString(b, r.Email)
	b = append(b, `,"d":`...)
	b = appendJSONString(b, r.DisplayName)
	b = append(b, `,"a":`...)
	start := len(b)
	if b, err = appendJSON(b, r.Attributes, 0); err != nil {
		return nil, nil, fmt.Errorf("encode record %s: %w", r.ExternalID, err)
	}
	attributes = b[start:len(b):len(b)]
	sum := sha256.Sum256(append(b, '}'))
	if r.Attributes == nil {
		attributes = []byte("{}")
	}
	return attributes, sum[:], nil
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
