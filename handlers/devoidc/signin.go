package devoidc

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"log/slog"
	"net/http"
	"slices"
)

// maxFormBytes caps the sign-in POST body; the form holds two short fields.
const maxFormBytes = 4 << 10

// signInPage lists the demo users and completes the pending auth request for
// whichever one is picked.
type signInPage struct {
	users    []User
	store    *storage
	action   string // path the forms post to
	callback func(ctx context.Context, authRequestID string) string
	logger   *slog.Logger
}

func (p *signInPage) show(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("id")
	if !p.store.awaitingSignIn(id) {
		renderUnknownRequest(w)
		return
	}
	render(w, http.StatusOK, signInTmpl, struct {
		ID     string
		Action string
		Users  []User
	}{id, p.action, p.users})
}

func (p *signInPage) choose(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		renderError(w, "Invalid sign-in form", "The submitted form could not be read. Start signing in again from the app.")
		return
	}
	id, subject := r.PostForm.Get("id"), r.PostForm.Get("subject")
	if !slices.ContainsFunc(p.users, func(u User) bool { return u.Subject == subject }) {
		p.logger.WarnContext(r.Context(), "devoidc: sign-in with unknown user rejected", "subject", subject)
		renderError(w, "Unknown user", "The chosen user is not one of the demo users. Start signing in again from the app.")
		return
	}
	if err := p.store.completeAuthRequest(id, subject); err != nil {
		renderUnknownRequest(w)
		return
	}
	p.logger.InfoContext(r.Context(), "devoidc: demo user signed in", "subject", subject)
	// 303 so the browser follows with a GET to the OP, which issues the code.
	http.Redirect(w, r, p.callback(r.Context(), id), http.StatusSeeOther)
}

func renderUnknownRequest(w http.ResponseWriter) {
	renderError(w, "Sign-in request not found",
		"This sign-in request is unknown, has expired (they last ten minutes) or was already used. Start signing in again from the app.")
}

func renderError(w http.ResponseWriter, title, message string) {
	render(w, http.StatusBadRequest, errorTmpl, struct{ Title, Message string }{title, message})
}

// render buffers the page so a template error can still become a clean 500.
func render(w http.ResponseWriter, status int, tmpl *template.Template, data any) {
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, data); err != nil {
		http.Error(w, "devoidc: rendering page failed", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	// The page is a one-click sign-in: it must not be framed (clickjacking) nor
	// cached, and it needs no scripts at all. img-src only lets the browser's
	// favicon request through without a console error.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src '"+styleHash+"'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// pageCSS keeps every text/background pair above a 4.5:1 contrast ratio and
// gives every interactive element a visible focus ring.
const pageCSS = `
body { margin: 0; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; line-height: 1.5; color: #1a1a1a; background: #f3f4f6; }
main { max-width: 36rem; margin: 2rem auto; padding: 1.5rem; background: #ffffff; border-radius: 8px; box-shadow: 0 1px 3px rgba(0, 0, 0, 0.2); }
h1 { font-size: 1.5rem; margin: 0 0 1rem; }
.warning { margin: 0 0 1.5rem; padding: 0.75rem 1rem; border-left: 4px solid #b45309; background: #fff7ed; }
ul { list-style: none; margin: 0; padding: 0; }
li + li { margin-top: 0.75rem; }
form { margin: 0; }
button { display: block; width: 100%; padding: 0.75rem 1rem; text-align: left; font: inherit; color: #1a1a1a; background: #ffffff; border: 2px solid #1d4ed8; border-radius: 6px; cursor: pointer; }
button:hover { background: #eff6ff; }
button:focus-visible, a:focus-visible { outline: 3px solid #1d4ed8; outline-offset: 3px; }
.name { display: block; font-weight: 600; }
.email, .note { display: block; color: #374151; }
a { color: #1d4ed8; }
@media (max-width: 40rem) { main { margin: 1rem; padding: 1rem; } }
`

var styleHash = func() string {
	sum := sha256.Sum256([]byte(pageCSS))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}()

var layout = template.Must(template.New("layout").Funcs(template.FuncMap{
	// pageCSS is a constant of this package, not input.
	"css": func() template.CSS { return template.CSS(pageCSS) },
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{template "title" .}}</title>
<style>{{css}}</style>
</head>
<body>
<main>
{{template "content" .}}
</main>
</body>
</html>
`))

var signInTmpl = template.Must(template.Must(layout.Clone()).Parse(`
{{define "title"}}Floh development sign-in{{end}}
{{define "content"}}<h1>Sign in to Floh (development)</h1>
<p class="warning"><strong>Development only.</strong> This is floh's built-in development OpenID provider. It signs you in as any demo user without a password and must never be used in production.</p>
<p>Choose the user to sign in as:</p>
<ul>
{{- range .Users}}
<li>
<form method="post" action="{{$.Action}}">
<input type="hidden" name="id" value="{{$.ID}}">
<input type="hidden" name="subject" value="{{.Subject}}">
<button type="submit" data-testid="devoidc-user-{{.Subject}}">
<span class="name">{{.Name}}</span>
<span class="email">{{.Email}}</span>
{{- if .Note}}
<span class="note">{{.Note}}</span>
{{- end}}
</button>
</form>
</li>
{{- end}}
</ul>{{end}}
`))

var errorTmpl = template.Must(template.Must(layout.Clone()).Parse(`
{{define "title"}}{{.Title}} – Floh development sign-in{{end}}
{{define "content"}}<h1>{{.Title}}</h1>
<p>{{.Message}}</p>
<p><a href="/">Back to the app</a></p>{{end}}
`))
