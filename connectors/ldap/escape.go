package ldap

import (
	"strings"
	"unicode/utf8"

	goldap "github.com/go-ldap/ldap/v3"
)

// Every value Floh puts into a filter or a DN comes from a workflow's params, which come from
// people and other systems: a username like "*)(uid=*" must match only itself, and a display
// name like "Doe, John" must not split a DN.

// escapeFilter escapes a value for an RFC 4515 assertion: go-ldap's EscapeFilter hex-escapes
// the filter's special characters, NUL, and every byte outside ASCII, so it is safe for any
// bytes (FuzzEscapeFilter checks it round-trips).
func escapeFilter(value string) string {
	return goldap.EscapeFilter(value)
}

// escapeRDN escapes a value for an RFC 4514 attribute value in a DN ("CN=" + escapeRDN(v)).
// go-ldap's EscapeDN is not used: it passes control characters through raw and, ranging over
// runes, turns bytes that are not UTF-8 into U+FFFD, changing the value. Here the RFC's
// special characters get a backslash; leading and trailing spaces, a leading '#', control
// characters and invalid UTF-8 bytes are hex-escaped; other UTF-8 stays readable, so DNs in
// messages read "CN=Jürgen Weiß" rather than a row of hex.
func escapeRDN(value string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(value) + 8)
	hexByte := func(c byte) {
		b.WriteByte('\\')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0xf])
	}
	for i := 0; i < len(value); {
		r, size := utf8.DecodeRuneInString(value[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			hexByte(value[i])
		case r == ' ' && (i == 0 || i == len(value)-1), r == '#' && i == 0:
			hexByte(value[i])
		case r < 0x20 || r == 0x7f:
			hexByte(value[i])
		case strings.ContainsRune(`"+,;<>\=`, r):
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteString(value[i : i+size])
		}
		i += size
	}
	return b.String()
}
