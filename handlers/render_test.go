package handlers

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// An unexpected error answers 500 with a request id to quote, and nothing of the error itself:
// driver messages can carry table names, values or connection details.
func TestInternalErrorsDoNotLeak(t *testing.T) {
	var logged strings.Builder
	s := &Server{log: slog.New(slog.NewTextHandler(&logged, nil))}
	cause := errors.New(`pq: duplicate key value violates "users_secret_idx" (password=hunter2)`)
	h := s.requestLog(recoverPanics(s, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/boom" {
			panic("boom: " + cause.Error())
		}
		s.renderError(w, r, cause)
	})))
	for _, path := range []string{"/users", "/api/users", "/boom"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		body, _ := io.ReadAll(rec.Body)
		id := rec.Header().Get("X-Request-Id")
		if rec.Code != http.StatusInternalServerError || id == "" || !strings.Contains(string(body), id) {
			t.Fatalf("%s: status %d, request id %q in body: %s", path, rec.Code, id, body)
		}
		if strings.Contains(string(body), "hunter2") || strings.Contains(string(body), "users_secret_idx") {
			t.Fatalf("%s: the cause leaked into the response: %s", path, body)
		}
		wantType := "text/html"
		if strings.HasPrefix(path, "/api/") {
			wantType = "application/json"
		}
		if !strings.HasPrefix(rec.Header().Get("Content-Type"), wantType) {
			t.Fatalf("%s: content type %q", path, rec.Header().Get("Content-Type"))
		}
	}
	if !strings.Contains(logged.String(), "users_secret_idx") {
		t.Fatal("the cause is logged for the operator, with the request id")
	}
}
