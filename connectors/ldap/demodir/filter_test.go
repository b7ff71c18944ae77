package demodir

import (
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
)

// sample is a person entry as build makes them, with one value that needs space folding.
var sample = newEntry("uid=asmith,"+PeopleDN,
	"objectClass", []string{"top", "person", "organizationalPerson", "inetOrgPerson"},
	"uid", "asmith", "cn", "Alice Smith", "sn", "Smith", "givenName", "Alice", "mail", "Alice.Smith@Corp.Example.Test",
	"title", "Senior  Software Engineer", "ou", "Engineering", "departmentNumber", "1100",
	"entryUUID", "E83F816F-7201-4F80-89AE-F4CF2007951A", "modifyTimestamp", time.Date(2025, 3, 15, 23, 30, 1, 0, time.UTC),
	"memberOf", "cn=Engineering,ou=groups,dc=demo,dc=floh")

func eval(t *testing.T, filter string, e *entry) tri {
	t.Helper()
	m, err := compileFilter(filter, known)
	if err != nil {
		t.Fatalf("compile %s: %v", filter, err)
	}
	return m(e)
}

func TestFilterEvaluation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		filter string
		want   tri
	}{
		// The connector's own filters.
		{"(&(objectClass=inetOrgPerson)(modifyTimestamp>=20250101000000Z))", isTrue},
		{"(&(objectClass=inetOrgPerson)(modifyTimestamp>=20250315233002Z))", isFalse},
		{"(&(objectClass=inetOrgPerson)(uid=ASMITH))", isTrue},
		{"(&(objectClass=groupOfNames)(cn=Engineering))", isFalse},
		{"(objectClass=*)", isTrue},
		{"(entryUUID=e83f816f-7201-4f80-89ae-f4cf2007951a)", isTrue},
		// Equality and ordering fold case and insignificant spaces.
		{"(mail=alice.smith@corp.example.test)", isTrue},
		{"(title=senior software engineer)", isTrue},
		{"(title= Senior Software  Engineer )", isTrue},
		{"(sn>=s)", isTrue},
		{"(sn<=s)", isFalse},
		{"(sn~=SMITH)", isTrue},
		{"(cn=Alice)", isFalse},
		// Substrings.
		{"(cn=*li*ith)", isTrue},
		{"(mail=ALICE*)", isTrue},
		{"(cn=*smith*alice*)", isFalse},
		{"(cn=a*e*e*)", isFalse},
		{"(cn=Al*ce Smith)", isTrue},
		{"(uid=*)", isTrue},
		{"(telephoneNumber=*)", isFalse},
		// Times in every GeneralizedTime form, and DNs by distinguishedNameMatch.
		{"(modifyTimestamp=20250315233001Z)", isTrue},
		{"(modifyTimestamp=20250316003001+0100)", isTrue},
		{"(modifyTimestamp=20250315233001.0Z)", isTrue},
		{"(modifyTimestamp<=202503152330Z)", isFalse},
		{"(modifyTimestamp>=2025031523Z)", isTrue},
		{"(modifyTimestamp>=yesterday)", isUndefined},
		{"(memberOf=CN=Engineering, OU=Groups,DC=demo,DC=floh)", isTrue},
		{"(memberOf=cn=Sales,ou=groups,dc=demo,dc=floh)", isFalse},
		{"(memberOf=not a dn)", isUndefined},
		{"(memberOf=cn=Eng*)", isUndefined},
		// Three-valued logic: an unknown type or an extensible match is Undefined, and only
		// an OR with a True or an AND with a False gets past it.
		{"(noSuchType=x)", isUndefined},
		{"(!(noSuchType=x))", isUndefined},
		{"(|(noSuchType=x)(uid=asmith))", isTrue},
		{"(|(noSuchType=x)(uid=bob))", isUndefined},
		{"(&(noSuchType=x)(uid=bob))", isFalse},
		{"(&(noSuchType=x)(uid=asmith))", isUndefined},
		{"(cn:caseExactMatch:=Alice Smith)", isUndefined},
		{"(!(telephoneNumber=1))", isTrue},
		{"(!(uid=asmith))", isFalse},
		{"(&)", isTrue},
		{"(|)", isFalse},
	} {
		if got := eval(t, tc.filter, sample); got != tc.want {
			t.Errorf("%s = %d, want %d", tc.filter, got, tc.want)
		}
	}
}

func TestParseGeneralizedTime(t *testing.T) {
	t.Parallel()
	want := time.Date(2025, 3, 15, 23, 30, 0, 0, time.UTC)
	for in, ok := range map[string]bool{
		"20250315233000Z": true, "202503152330Z": true, "20250315233000.0Z": true, "20250315233000,000Z": true,
		"202503152330.0Z": true, "20250316003000+0100": true, "20250315223000-01": true, "2025031523.5Z": true,
		"20250315233000": false, "20250315233000z": false, "2025031523300Z": false, "20251315233000Z": false,
		"20250315233000.Z": false, "20250315233000+01000": false, "20250315233000*0100": false, "": false,
	} {
		got, parsed := parseGeneralizedTime(in)
		if parsed != ok || (ok && !got.Equal(want)) {
			t.Errorf("%q: %v %v, want %v %v", in, got, parsed, want, ok)
		}
	}
}

func TestInScope(t *testing.T) {
	t.Parallel()
	base := normDN(PeopleDN)
	for _, tc := range []struct {
		dn    string
		scope int64
		want  bool
	}{
		{PeopleDN, 0, true}, {PeopleDN, 1, false}, {PeopleDN, 2, true},
		{"uid=a," + PeopleDN, 0, false}, {"uid=a," + PeopleDN, 1, true}, {"uid=a," + PeopleDN, 2, true},
		{"cn=x,uid=a," + PeopleDN, 1, false}, {"cn=x,uid=a," + PeopleDN, 2, true},
		{`cn=x\,y,` + PeopleDN, 1, true},
		{GroupsDN, 2, false}, {BaseDN, 2, false},
	} {
		if got := inScope(normDN(tc.dn), base, tc.scope); got != tc.want {
			t.Errorf("%s in scope %d of %s: %v", tc.dn, tc.scope, PeopleDN, got)
		}
	}
}

// FuzzFilter evaluates any filter go-ldap compiles. It must compile here too and never
// panic. gldap hands a filter over as go-ldap's DecompileFilter prints it, so that string must
// compile again, and on it NOT must be the three-valued complement and a filter ANDed or ORed
// with itself must keep its value. (The trip through DecompileFilter does not always keep a
// filter's meaning: "(uid=**)", a substrings filter without parts that RFC 4511 does not
// allow, prints as "(uid=)".)
func FuzzFilter(f *testing.F) {
	for _, s := range []string{
		"(&(objectClass=inetOrgPerson)(modifyTimestamp>=20250101000000Z))", "(uid=a*b*c)", "(|(cn=x)(!(sn<=m)))",
		"(memberOf=cn=Engineering,ou=groups,dc=demo,dc=floh)", "(cn:dn:2.5.13.5:=x)", "(noSuch=1)", "(&)", "(mail=\\2a)",
		"(modifyTimestamp<=2025031523.5+0100)", "(title=*  Engineer)", "(uid=**)",
	} {
		f.Add(s)
	}
	entries := []*entry{sample, rootDSE, newEntry(GroupsDN, "objectClass", "organizationalUnit", "ou", "groups")}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := goldap.CompileFilter(s)
		if err != nil {
			return
		}
		m, err := compilePacket(p, known)
		if err != nil {
			t.Fatalf("%q compiles in go-ldap but not here: %v", s, err)
		}
		for _, e := range entries {
			m(e)
		}
		again, err := goldap.DecompileFilter(p)
		if err != nil {
			return
		}
		served, err := compileFilter(again, known)
		if err != nil {
			t.Fatalf("%q decompiled to %q, which does not compile: %v", s, again, err)
		}
		not, errNot := compileFilter("(!"+again+")", known)
		and, errAnd := compileFilter("(&"+again+again+")", known)
		or, errOr := compileFilter("(|"+again+again+")", known)
		if errNot != nil || errAnd != nil || errOr != nil {
			t.Fatalf("%q: cannot combine: %v %v %v", again, errNot, errAnd, errOr)
		}
		for _, e := range entries {
			r := served(e)
			if got, want := not(e), map[tri]tri{isTrue: isFalse, isFalse: isTrue, isUndefined: isUndefined}[r]; got != want {
				t.Errorf("(!%s) = %d, want %d", again, got, want)
			}
			if and(e) != r || or(e) != r {
				t.Errorf("%q = %d, but with itself AND %d, OR %d", again, r, and(e), or(e))
			}
		}
	})
}

// FuzzParseGeneralizedTime: never a panic, and what parses prints back to the same instant.
func FuzzParseGeneralizedTime(f *testing.F) {
	for _, s := range []string{"20250315233000Z", "2025031523.5+0130", "202503152330,25-05", "19700101000000.000001Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, ok := parseGeneralizedTime(s)
		if !ok || tm.Year() < 1 || tm.Year() > 9998 {
			// An offset can carry 0000 or 9999 across a year boundary GeneralizedTime cannot write.
			return
		}
		back, ok := parseGeneralizedTime(tm.UTC().Truncate(time.Second).Format(timeLayout))
		if !ok || !back.Equal(tm.UTC().Truncate(time.Second)) {
			t.Errorf("%q → %v does not print back: %v %v", s, tm, back, ok)
		}
	})
}
