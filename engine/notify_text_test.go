package engine

import "testing"

func TestIsHTMLBody(t *testing.T) {
	for body, want := range map[string]bool{
		"<p>Hello</p>":           true,
		"\n  <!DOCTYPE html><p>": true,
		"Hello <b>you</b>":       false,
		"{{html}}":               false,
		"":                       false,
	} {
		if got := isHTMLBody(body); got != want {
			t.Errorf("isHTMLBody(%q) = %v", body, got)
		}
	}
}

func TestHTMLText(t *testing.T) {
	for doc, want := range map[string]string{
		`<!DOCTYPE html><html><head><title>T</title><style>p{}</style></head><body>
			<h1>Welcome</h1><p>Hello <b>Jane</b>,</p>
			<p>See <a href="https://floh.example.test/runs/1#diagnose">the run</a>.</p>
			<ul><li>one</li><li>two &amp; &lt;three&gt;</li></ul>line<br>break <a href="https://x.test">https://x.test</a>
			<script>alert(1)</script></body></html>`: "Welcome\n\nHello Jane,\n\nSee the run (https://floh.example.test/runs/1#diagnose).\n\n- one\n- two & <three>\n\nline\nbreak https://x.test",
		"<p>a</p>\n\n\n<p>b</p>": "a\n\nb",
		"<p>unclosed <b>tags":    "unclosed tags",
	} {
		if got := htmlText(doc); got != want {
			t.Errorf("htmlText(%q)\n got %q\nwant %q", doc, got, want)
		}
	}
}
