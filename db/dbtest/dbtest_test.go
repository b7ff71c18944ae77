package dbtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func TestMain(m *testing.M) { Main(m) }

func TestCreateDatabaseRetriesATemplateInUse(t *testing.T) {
	inUse := &pgconn.PgError{Code: "55006", Message: fmt.Sprintf("source database %q is being accessed by other users", template)}
	cases := []struct {
		name   string
		errs   []error // what the attempts return, one each; nil after these
		calls  int
		sleeps []time.Duration
		code   string // SQLSTATE of the error returned, "" for none
	}{
		{"free at once", nil, 1, nil, ""},
		{"free after two refusals", []error{inUse, inUse}, 3, templateInUseBackoff[:2], ""},
		{"in use throughout", slices.Repeat([]error{inUse}, 10), len(templateInUseBackoff) + 1, templateInUseBackoff, "55006"},
		{"another error", []error{&pgconn.PgError{Code: "42P04"}}, 1, nil, "42P04"},
	}
	for _, c := range cases {
		calls := 0
		var slept []time.Duration
		err := retryTemplateInUse(func() error {
			calls++
			if calls <= len(c.errs) {
				return c.errs[calls-1]
			}
			return nil
		}, func(d time.Duration) { slept = append(slept, d) })
		code := ""
		if pgErr := (*pgconn.PgError)(nil); errors.As(err, &pgErr) {
			code = pgErr.Code
		}
		if calls != c.calls || !slices.Equal(slept, c.sleeps) || code != c.code || (err == nil) != (c.code == "") {
			t.Errorf("%s: %d calls, waits %v, error %v; want %d calls, waits %v, SQLSTATE %q", c.name, calls, slept, err, c.calls, c.sleeps, c.code)
		}
	}
}

// The migrated template takes no sessions, and databases are still copied from it.
func TestTemplateTakesNoSessions(t *testing.T) {
	d := New(t)
	if err := d.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(context.Background(), adminURL(template))
	var pgErr *pgconn.PgError
	if err == nil {
		conn.Close(context.Background())
		t.Fatal("a session on the template was accepted")
	} else if !errors.As(err, &pgErr) || pgErr.Code != "55000" {
		t.Fatalf("connecting to the template: %v, want SQLSTATE 55000 (not accepting connections)", err)
	}
}
