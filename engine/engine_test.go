package engine_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jonboulle/clockwork"

	"floh/db"
	"floh/db/dbtest"
	"floh/engine"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

var t0 = time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)

type fixture struct {
	db    *db.DB
	eng   *engine.Engine
	clock *clockwork.FakeClock
	admin *db.User
	ctx   context.Context
}

func setup(t testing.TB, opts ...func(*engine.Options)) *fixture {
	t.Helper()
	return setupOn(t, dbtest.New(t), opts...)
}

// setupOn is setup on a database the caller chose.
func setupOn(t testing.TB, d *db.DB, opts ...func(*engine.Options)) *fixture {
	t.Helper()
	clock := clockwork.NewFakeClockAt(t0)
	o := engine.Options{DB: d, Clock: clock, BaseURL: "https://floh.example.test",
		Connectors: testRegistry(t), SecretKey: randomKey(t)}
	for _, f := range opts {
		f(&o)
	}
	eng, err := engine.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{db: d, eng: eng, clock: clock, ctx: context.Background(),
		admin: dbtest.User(t, d, "root-admin@example.test", engine.RoleAdmin)}
}

func (f *fixture) actor() engine.Actor {
	return engine.Actor{UserID: &f.admin.ID, Label: f.admin.Email, IP: "192.0.2.1"}
}

func wantValidation(t *testing.T, err error, field string) {
	t.Helper()
	var v *engine.ValidationError
	if !errors.As(err, &v) {
		t.Fatalf("want a validation error on %s, got %v", field, err)
	}
	for _, f := range v.Fields {
		if f.Field == field {
			return
		}
	}
	t.Fatalf("want a validation error on %s, got %v", field, v.Fields)
}

func wantConflict(t *testing.T, err error) {
	t.Helper()
	var c *engine.ConflictError
	if !errors.As(err, &c) {
		t.Fatalf("want a conflict, got %v", err)
	}
}

func dbUser(t *testing.T, f *fixture, id uuid.UUID) *db.User {
	t.Helper()
	u, err := db.FindUser(f.ctx, f.db.Bun, id)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func dbtestUser(t *testing.T, f *fixture, email string, roles ...string) uuid.UUID {
	t.Helper()
	return dbtest.User(t, f.db, email, roles...).ID
}
