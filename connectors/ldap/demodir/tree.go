package demodir

import (
	"slices"
	"strings"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
)

// The directory's tree. Every DN the directory serves is below BaseDN.
const (
	BaseDN   = "dc=demo,dc=floh"
	PeopleDN = "ou=people," + BaseDN
	GroupsDN = "ou=groups," + BaseDN
	// BindDN is the account the connector binds as. Like slapd's rootdn it is not an entry.
	BindDN = "cn=admin," + BaseDN
)

// timeLayout is LDAP's GeneralizedTime as OpenLDAP writes it.
const timeLayout = "20060102150405Z"

// entry is one directory entry. Entries never change once built: a change replaces the entry,
// so a search can hold entries while the directory changes.
type entry struct {
	dn    string
	ndn   string // normalised, for comparing and for scopes
	attrs []attribute
}

// attribute is one attribute of an entry.
type attribute struct {
	name  string // as the schema spells it: "givenName"
	lname string // lower case, for lookups: "givenname"
	// values are the values; norm holds them as the attribute type's matching rule compares
	// them (normDN for DNs, foldSpace for strings).
	values, norm []string
	// operational attributes (entryUUID, the timestamps, memberOf) are returned only when
	// asked for by name or with "+", as OpenLDAP does.
	operational bool
}

// operational lists the attribute types the directory holds that are operational.
var operational = map[string]bool{"entryuuid": true, "createtimestamp": true, "modifytimestamp": true, "memberof": true}

// dnValued lists the attribute types whose values are DNs, matched by distinguishedNameMatch.
var dnValued = map[string]bool{"member": true, "memberof": true}

// timeValued lists the attribute types holding GeneralizedTime, ordered as times.
var timeValued = map[string]bool{"createtimestamp": true, "modifytimestamp": true}

// aliases are the other names of the attribute types the directory holds (RFC 4519, 4524).
var aliases = map[string]string{
	"commonname": "cn", "surname": "sn", "gn": "givenname", "userid": "uid", "rfc822mailbox": "mail",
	"organizationalunitname": "ou", "localityname": "l", "domaincomponent": "dc", "organizationname": "o",
}

// attrKey is the lookup key of an attribute description: lower case, options dropped, aliases
// resolved. "CN;lang-en" → "cn".
func attrKey(description string) string {
	name, _, _ := strings.Cut(description, ";")
	name = strings.ToLower(name)
	if canonical, ok := aliases[name]; ok {
		return canonical
	}
	return name
}

// newEntry builds an entry from attribute name and value pairs, skipping empty values.
func newEntry(dn string, pairs ...any) *entry {
	e := &entry{dn: dn, ndn: normDN(dn)}
	for i := 0; i+1 < len(pairs); i += 2 {
		name := pairs[i].(string)
		var values []string
		switch v := pairs[i+1].(type) {
		case string:
			if v != "" {
				values = []string{v}
			}
		case []string:
			values = v
		case time.Time:
			values = []string{v.UTC().Format(timeLayout)}
		}
		if len(values) == 0 {
			continue
		}
		a := attribute{name: name, lname: strings.ToLower(name), values: values}
		a.operational = operational[a.lname]
		a.norm = normalize(a.lname, values)
		e.attrs = append(e.attrs, a)
	}
	return e
}

// attr returns the attribute with the lookup key, or nil.
func (e *entry) attr(key string) *attribute {
	for i := range e.attrs {
		if e.attrs[i].lname == key {
			return &e.attrs[i]
		}
	}
	return nil
}

// with returns a copy of the entry with one attribute's values replaced.
func (e *entry) with(key string, values ...string) *entry {
	c := &entry{dn: e.dn, ndn: e.ndn, attrs: slices.Clone(e.attrs)}
	for i := range c.attrs {
		if c.attrs[i].lname == key {
			c.attrs[i].values, c.attrs[i].norm = values, normalize(key, values)
		}
	}
	return c
}

// normalize prepares values for comparison under their type's matching rule.
func normalize(key string, values []string) []string {
	out := make([]string, len(values))
	for i, v := range values {
		switch {
		case dnValued[key]:
			out[i] = normDN(v)
		case timeValued[key]:
			out[i] = v
		default:
			out[i] = foldSpace(v)
		}
	}
	return out
}

// foldSpace prepares a string for caseIgnoreMatch: lower case, surrounding spaces dropped and
// inner runs of spaces made one (RFC 4518's insignificant space handling, simplified).
func foldSpace(s string) string {
	return strings.Join(strings.Fields(strings.ToLower(s)), " ")
}

// normDN normalises a DN for comparison: attribute types and values in lower case, no
// insignificant spaces. A DN that does not parse is kept lower-cased, so it can still equal
// itself but no entry.
func normDN(dn string) string {
	parsed, err := goldap.ParseDN(dn)
	if err != nil {
		return strings.ToLower(dn)
	}
	return strings.ToLower(parsed.String())
}

// inScope reports whether an entry is within a search of base with scope (0 base, 1 one
// level, 2 subtree), both normalised.
func inScope(ndn, base string, scope int64) bool {
	switch scope {
	case 0:
		return ndn == base
	case 1:
		parent, ok := strings.CutSuffix(ndn, ","+base)
		return ok && !strings.Contains(unescapedCommas(parent), ",")
	default:
		return ndn == base || strings.HasSuffix(ndn, ","+base)
	}
}

// unescapedCommas blanks escaped characters so that counting RDN separators works.
func unescapedCommas(s string) string {
	b := []byte(s)
	for i := 0; i < len(b); i++ {
		if b[i] == '\\' && i+1 < len(b) {
			b[i], b[i+1] = '_', '_'
			i++
		}
	}
	return string(b)
}

// parseGeneralizedTime reads an LDAP GeneralizedTime (RFC 4517 §3.3.13): yyyymmddhh with
// optional minutes, seconds and fraction, then Z or a ±hh[mm] offset.
func parseGeneralizedTime(s string) (time.Time, bool) {
	digits := 0
	for digits < len(s) && s[digits] >= '0' && s[digits] <= '9' {
		digits++
	}
	layout := map[int]string{10: "2006010215", 12: "200601021504", 14: "20060102150405"}[digits]
	if layout == "" {
		return time.Time{}, false
	}
	t, err := time.Parse(layout, s[:digits])
	if err != nil {
		return time.Time{}, false
	}
	rest := s[digits:]
	if len(rest) > 0 && (rest[0] == '.' || rest[0] == ',') {
		end := 1
		for end < len(rest) && rest[end] >= '0' && rest[end] <= '9' {
			end++
		}
		if end == 1 {
			return time.Time{}, false
		}
		// A fraction of what the last field counts; seconds are as fine as the directory keeps.
		frac := 0.0
		scale := 0.1
		for _, c := range rest[1:end] {
			frac += float64(c-'0') * scale
			scale /= 10
		}
		unit := map[int]time.Duration{10: time.Hour, 12: time.Minute, 14: time.Second}[digits]
		t = t.Add(time.Duration(frac * float64(unit)))
		rest = rest[end:]
	}
	switch {
	case rest == "Z":
		return t, true
	case len(rest) == 3 || len(rest) == 5:
		sign := map[byte]time.Duration{'+': -1, '-': 1}[rest[0]]
		if sign == 0 {
			return time.Time{}, false
		}
		off, err := time.Parse(map[int]string{3: "15", 5: "1504"}[len(rest)], rest[1:])
		if err != nil {
			return time.Time{}, false
		}
		// 1200+0100 is 1100Z: subtract a positive offset.
		return t.Add(sign * (time.Duration(off.Hour())*time.Hour + time.Duration(off.Minute())*time.Minute)), true
	}
	return time.Time{}, false
}
