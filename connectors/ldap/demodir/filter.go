package demodir

import (
	"fmt"
	"strings"

	ber "github.com/go-asn1-ber/asn1-ber"
	goldap "github.com/go-ldap/ldap/v3"
)

// Filters are evaluated as RFC 4511 §4.5.1.7 says, with three values: an item on an unknown
// attribute type, a time that does not parse or an extensible match is Undefined, and NOT of
// Undefined stays Undefined. Only True selects an entry. The matching rules are the ones of
// the schema of the attribute types the directory holds: caseIgnore for strings, UUID
// (also case-insensitive) for entryUUID, distinguishedNameMatch for member and memberOf,
// generalizedTime for the timestamps.

type tri int8

const (
	isFalse tri = iota
	isTrue
	isUndefined
)

// matcher evaluates a compiled filter on an entry.
type matcher func(*entry) tri

// compileFilter compiles an LDAP filter string, as gldap hands it over, into a matcher.
// known reports whether the directory holds an attribute type (by lookup key).
func compileFilter(filter string, known func(string) bool) (matcher, error) {
	p, err := goldap.CompileFilter(filter)
	if err != nil {
		return nil, err
	}
	return compilePacket(p, known)
}

func compilePacket(p *ber.Packet, known func(string) bool) (matcher, error) {
	if p.ClassType != ber.ClassContext {
		return nil, fmt.Errorf("filter element of class %d is not a filter", p.ClassType)
	}
	switch p.Tag {
	case goldap.FilterAnd, goldap.FilterOr:
		subs := make([]matcher, len(p.Children))
		for i, c := range p.Children {
			m, err := compilePacket(c, known)
			if err != nil {
				return nil, err
			}
			subs[i] = m
		}
		// AND stops at False, OR at True; otherwise any Undefined makes the whole Undefined.
		decisive, rest := isFalse, isTrue
		if p.Tag == goldap.FilterOr {
			decisive, rest = isTrue, isFalse
		}
		return func(e *entry) tri {
			out := rest
			for _, m := range subs {
				switch m(e) {
				case decisive:
					return decisive
				case isUndefined:
					out = isUndefined
				}
			}
			return out
		}, nil
	case goldap.FilterNot:
		if len(p.Children) != 1 {
			return nil, fmt.Errorf("a NOT filter has %d elements", len(p.Children))
		}
		sub, err := compilePacket(p.Children[0], known)
		if err != nil {
			return nil, err
		}
		return func(e *entry) tri {
			switch r := sub(e); r {
			case isTrue:
				return isFalse
			case isFalse:
				return isTrue
			default:
				return r
			}
		}, nil
	case goldap.FilterPresent:
		key := attrKey(p.Data.String())
		if key == "objectclass" {
			return func(*entry) tri { return isTrue }, nil
		}
		return func(e *entry) tri {
			if e.attr(key) != nil {
				return isTrue
			}
			return isFalse
		}, nil
	case goldap.FilterEqualityMatch, goldap.FilterApproxMatch, goldap.FilterGreaterOrEqual, goldap.FilterLessOrEqual:
		if len(p.Children) != 2 {
			return nil, fmt.Errorf("a comparison filter has %d elements", len(p.Children))
		}
		key, value := attrKey(p.Children[0].Data.String()), p.Children[1].Data.String()
		if !known(key) {
			return undefined, nil
		}
		cmp, ok := comparison(key, value)
		if !ok {
			return undefined, nil
		}
		want := map[ber.Tag]func(int) bool{
			goldap.FilterEqualityMatch:  func(c int) bool { return c == 0 },
			goldap.FilterApproxMatch:    func(c int) bool { return c == 0 },
			goldap.FilterGreaterOrEqual: func(c int) bool { return c >= 0 },
			goldap.FilterLessOrEqual:    func(c int) bool { return c <= 0 },
		}[p.Tag]
		return func(e *entry) tri {
			a := e.attr(key)
			if a == nil {
				return isFalse
			}
			for i := range a.values {
				if c, ok := cmp(a, i); ok && want(c) {
					return isTrue
				}
			}
			return isFalse
		}, nil
	case goldap.FilterSubstrings:
		if len(p.Children) != 2 {
			return nil, fmt.Errorf("a substrings filter has %d elements", len(p.Children))
		}
		key := attrKey(p.Children[0].Data.String())
		var initial, final string
		var anys []string
		for _, part := range p.Children[1].Children {
			v := foldSpace(part.Data.String())
			switch part.Tag {
			case goldap.FilterSubstringsInitial:
				initial = v
			case goldap.FilterSubstringsAny:
				anys = append(anys, v)
			case goldap.FilterSubstringsFinal:
				final = v
			default:
				return nil, fmt.Errorf("a substrings filter has a part tagged %d", part.Tag)
			}
		}
		if !known(key) || timeValued[key] || dnValued[key] {
			// The timestamps and DNs have no substrings rule.
			return undefined, nil
		}
		return func(e *entry) tri {
			a := e.attr(key)
			if a == nil {
				return isFalse
			}
			for _, v := range a.norm {
				if substrings(v, initial, anys, final) {
					return isTrue
				}
			}
			return isFalse
		}, nil
	case goldap.FilterExtensibleMatch:
		return undefined, nil
	}
	return nil, fmt.Errorf("unknown filter element %d", p.Tag)
}

func undefined(*entry) tri { return isUndefined }

// comparison returns how the i-th value of an attribute compares with an assertion value
// under the attribute type's matching rule, or false when the assertion is not a value of
// that type (which makes the filter item Undefined).
func comparison(key, assertion string) (func(a *attribute, i int) (int, bool), bool) {
	switch {
	case timeValued[key]:
		want, ok := parseGeneralizedTime(assertion)
		if !ok {
			return nil, false
		}
		return func(a *attribute, i int) (int, bool) {
			t, ok := parseGeneralizedTime(a.values[i])
			if !ok {
				return 0, false
			}
			return t.Compare(want), true
		}, true
	case dnValued[key]:
		if _, err := goldap.ParseDN(assertion); err != nil {
			return nil, false
		}
		want := normDN(assertion)
		return func(a *attribute, i int) (int, bool) { return strings.Compare(a.norm[i], want), true }, true
	}
	// caseIgnoreMatch and its ordering, and UUIDMatch, which hex in either case also satisfies.
	want := foldSpace(assertion)
	return func(a *attribute, i int) (int, bool) { return strings.Compare(a.norm[i], want), true }, true
}

// substrings reports whether v holds initial at its start, the anys in order after it, and
// final at its end, none overlapping.
func substrings(v, initial string, anys []string, final string) bool {
	if !strings.HasPrefix(v, initial) {
		return false
	}
	v = v[len(initial):]
	for _, a := range anys {
		i := strings.Index(v, a)
		if i < 0 {
			return false
		}
		v = v[i+len(a):]
	}
	return strings.HasSuffix(v, final)
}
