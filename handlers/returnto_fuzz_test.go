package handlers

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzSafeReturnTo checks the open-redirect guard: whatever comes in, what goes out is a path
// on this origin that a browser cannot read as another host.
func FuzzSafeReturnTo(f *testing.F) {
	for _, s := range []string{
		"/", "/users?q=a", "//evil.example", `/\evil.example`, "https://evil.example/x", "javascript:alert(1)",
		"/%2F%2Fevil.example", "/\t/evil.example", "/api/auth/login?returnTo=/x", "", "users", "/%5Cevil",
		"///evil.example", "/.//evil.example", "http:/evil.example",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := safeReturnTo(in)
		if !strings.HasPrefix(out, "/") || strings.HasPrefix(out, "//") || strings.HasPrefix(out, `/\`) {
			t.Fatalf("safeReturnTo(%q) = %q: not a same-origin path", in, out)
		}
		u, err := url.Parse(out)
		if err != nil || u.Host != "" || u.Scheme != "" {
			t.Fatalf("safeReturnTo(%q) = %q parses with host %q scheme %q", in, out, u.Host, u.Scheme)
		}
		// Browsers drop tabs and newlines from URLs, which could turn "/\t/x" into "//x".
		cleaned := strings.NewReplacer("\t", "", "\n", "", "\r", "").Replace(out)
		if strings.HasPrefix(cleaned, "//") || strings.HasPrefix(cleaned, `/\`) {
			t.Fatalf("safeReturnTo(%q) = %q becomes %q in a browser", in, out, cleaned)
		}
	})
}
