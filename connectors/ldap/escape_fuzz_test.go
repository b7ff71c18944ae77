package ldap

import (
	"testing"

	ber "github.com/go-asn1-ber/asn1-ber"
	goldap "github.com/go-ldap/ldap/v3"
)

var escapeSeeds = []string{
	"jdoe", "", " ", "  ", "#", "#x", "x#", " lead", "trail ", "Doe, John", "a+b", "a=b", `a"b`, `a\b`, `\`, `\ `,
	"a;b", "<tag>", "*", "*)(uid=*", "(|(objectClass=*))", "x\x00y", "\x00", "tab\there", "del\x7f",
	"Jürgen Weiß", "日本語", "\xff\xfe", "bad\xc3", "emoji 🙂", "\\2a", "\\", "a\\,b", "a\\ ", ",", "+", "=",
}

// FuzzEscapeFilter checks that any value, escaped and put in an equality assertion, compiles to
// exactly that one assertion with exactly that value: no wildcards, no extra filter terms.
func FuzzEscapeFilter(f *testing.F) {
	for _, s := range escapeSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		filter := "(uid=" + escapeFilter(value) + ")"
		packet, err := goldap.CompileFilter(filter)
		if err != nil {
			t.Fatalf("escaped filter %q does not compile: %v", filter, err)
		}
		if packet.Tag != goldap.FilterEqualityMatch {
			t.Fatalf("escaped filter %q compiles to %s, not an equality match", filter, goldap.FilterMap[uint64(packet.Tag)])
		}
		if len(packet.Children) != 2 {
			t.Fatalf("equality match of %q has %d parts", filter, len(packet.Children))
		}
		if attr := packet.Children[0].Data.String(); attr != "uid" {
			t.Fatalf("assertion on %q, want uid", attr)
		}
		if got := packet.Children[1].Data.String(); got != value {
			t.Fatalf("assertion value %q, want %q", got, value)
		}
		// The compiled filter decompiles to the same text: what is sent is what was meant.
		back, err := goldap.DecompileFilter(packet)
		if err != nil {
			t.Fatal(err)
		}
		again, err := goldap.CompileFilter(back)
		if err != nil || !sameBER(again, packet) {
			t.Fatalf("filter %q decompiles to %q, which does not compile back to the same assertion (%v)", filter, back, err)
		}
	})
}

// FuzzEscapeRDN checks that any non-empty value, escaped and made the first RDN of a DN,
// parses back as exactly one attribute of that RDN with exactly that value, and leaves the
// rest of the DN alone.
func FuzzEscapeRDN(f *testing.F) {
	for _, s := range escapeSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		if value == "" {
			return // an empty username or group name never reaches a DN: the schema requires them
		}
		dn := "CN=" + escapeRDN(value) + ",OU=People,DC=example,DC=test"
		parsed, err := goldap.ParseDN(dn)
		if err != nil {
			t.Fatalf("DN %q for value %q does not parse: %v", dn, value, err)
		}
		if len(parsed.RDNs) != 4 {
			t.Fatalf("DN %q for value %q has %d RDNs, want 4", dn, value, len(parsed.RDNs))
		}
		first := parsed.RDNs[0].Attributes
		if len(first) != 1 || first[0].Type != "CN" || first[0].Value != value {
			t.Fatalf("first RDN of %q is %+v, want CN=%q", dn, first, value)
		}
		if rest := parsed.RDNs[1].Attributes[0]; rest.Type != "OU" || rest.Value != "People" {
			t.Fatalf("second RDN of %q is %+v", dn, rest)
		}
	})
}

func sameBER(a, b *ber.Packet) bool {
	return string(a.Bytes()) == string(b.Bytes())
}
