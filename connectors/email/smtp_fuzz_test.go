package email

import (
	"strings"
	"testing"

	gomail "github.com/wneessen/go-mail"
)

// FuzzParseURL: any SMTP_URL either fails with a message or yields a usable, safe setting.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"smtp://u:p@mail.example.test:587?from=floh@example.test", "smtps://mail.example.test?from=a@b.c",
		"smtp://mail.example.test?from=a@b.c&tls=none", "smtp://u:p@h?from=a@b.c&tls=none", "smtp://:0?from=a@b.c",
		"smtp://[::1]:25?from=a@b.c&tls=opportunistic", "mailto:a@b.c", "", "smtp://h:99999?from=a@b.c",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		s, err := ParseURL(raw)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an error must say what is wrong")
			}
			return
		}
		if s.host == "" || s.port < 1 || s.port > 65535 || s.from == "" {
			t.Fatalf("accepted %q as %+v", raw, s)
		}
		if s.user != "" && s.policy == gomail.NoTLS && !s.implicit {
			t.Fatalf("accepted credentials without TLS: %q", raw)
		}
		if s.password != "" && strings.Contains(s.Server(), ":"+s.password+"@") {
			t.Fatalf("Server() shows the password for %q", raw)
		}
	})
}
