package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"floh/db"
	"floh/engine"
)

// decodeJSON reads a JSON object into dst. Syntax errors are 400; unknown fields and wrong
// types are 422 naming the field, so a typo is never silently ignored.
func decodeJSON(r *http.Request, dst any) error {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/json" {
		return &badRequest{"send the body as JSON with Content-Type: application/json"}
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &badRequest{"the body must hold exactly one JSON value"}
	}
	return nil
}

func jsonError(err error) error {
	var (
		syn   *json.SyntaxError
		typ   *json.UnmarshalTypeError
		mberr *http.MaxBytesError
	)
	switch {
	case errors.As(err, &mberr):
		return err
	case errors.As(err, &syn):
		return &badRequest{fmt.Sprintf("malformed JSON at byte %d: %s", syn.Offset, syn.Error())}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &badRequest{"the body is empty or cut short; send a JSON object"}
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return &badRequest{"the body must be a JSON object"}
		}
		return engine.Invalid(field, "must be %s", jsonKind(typ.Type.Kind().String()))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		if name == "" {
			return &badRequest{"the JSON object has a key with an empty name"}
		}
		return engine.Invalid(name, "is not a known field")
	default:
		return &badRequest{"malformed JSON: " + err.Error()}
	}
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "slice", "array":
		return "a list"
	case "map", "struct":
		return "an object"
	case "int", "int64", "int32", "float64", "uint", "uint64":
		return "a number"
	default:
		return "of another type"
	}
}

// pathID parses a UUID path value. A malformed id cannot name anything, so it is a 404.
func pathID(r *http.Request, name string) (uuid.UUID, error) {
	id, err := uuid.Parse(r.PathValue(name))
	if err != nil {
		return uuid.Nil, fmt.Errorf("%s %q: %w", name, r.PathValue(name), db.ErrNotFound)
	}
	return id, nil
}

const (
	defaultPageSize = 50
	maxPageSize     = 500
)

// listPage reads page and pageSize. The API refuses bad values; pages fall back to defaults,
// since a hand-edited address should still show something.
// maxPage is the highest page a list answers.
const maxPage = 1_000_000

func listPage(r *http.Request) (db.Page, error) {
	q := r.URL.Query()
	p := db.Page{Page: 1, PageSize: defaultPageSize}
	v := &engine.ValidationError{}
	if s := q.Get("page"); s != "" {
		n, err := strconv.Atoi(s)
		// The bound keeps the row offset (page × pageSize) far from overflowing.
		if err != nil || n < 1 || n > maxPage {
			v.Add("page", "must be a whole number from 1 to %d", maxPage)
		} else {
			p.Page = n
		}
	}
	if s := q.Get("pageSize"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxPageSize {
			v.Add("pageSize", "must be a whole number from 1 to %d", maxPageSize)
		} else {
			p.PageSize = n
		}
	}
	if err := v.Err(); err != nil && isAPI(r) {
		return p, err
	}
	return p, nil
}

// boolParam reads a true/false query parameter.
func boolParam(r *http.Request, name string) (bool, error) {
	switch s := r.URL.Query().Get(name); s {
	case "", "false", "0":
		return false, nil
	case "true", "1", "on":
		return true, nil
	default:
		return false, engine.Invalid(name, "must be true or false")
	}
}

// timeParam reads an RFC 3339 time or a date (midnight UTC) from the query; nil when absent
// or invalid, in which case the problem is added to v.
func timeParam(r *http.Request, name string, v *engine.ValidationError) *time.Time {
	s := strings.TrimSpace(r.URL.Query().Get(name))
	if s == "" {
		return nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04", time.DateOnly} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return &t
		}
	}
	v.Add(name, "%q is not a time like 2026-11-22T08:00:00Z or a date like 2026-11-22", s)
	return nil
}

// listResponse is the API's list envelope.
type listResponse[T any] struct {
	Items    []T `json:"items"`
	Total    int `json:"total"`
	Page     int `json:"page"`
	PageSize int `json:"pageSize"`
}

func newList[T any](items []T, total int, p db.Page) listResponse[T] {
	if items == nil {
		items = []T{}
	}
	return listResponse[T]{Items: items, Total: total, Page: p.Page, PageSize: p.PageSize}
}

// withQuery returns path with the query values, dropping empty ones.
func withQuery(path string, q url.Values) string {
	clean := url.Values{}
	for k, vs := range q {
		for _, v := range vs {
			if v != "" {
				clean.Add(k, v)
			}
		}
	}
	if len(clean) == 0 {
		return path
	}
	return path + "?" + clean.Encode()
}
