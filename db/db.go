// Package db holds the data model and every SQL query of Floh. Query functions take a
// bun.IDB so callers decide whether they run inside a transaction; the engine opens them.
package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
)

// ErrNotFound is returned when a lookup by id or key finds no row.
var ErrNotFound = errors.New("not found")

// DB is the one pgx pool with the two views of it that the rest of the app uses: database/sql
// (for bun, scs and River's inserts) and bun itself.
type DB struct {
	Pool *pgxpool.Pool
	SQL  *sql.DB
	Bun  *bun.DB
}

// Open connects to url and checks the connection.
func Open(ctx context.Context, url string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	if cfg.MaxConns < 8 {
		cfg.MaxConns = 8
	}
	cfg.ConnConfig.RuntimeParams["timezone"] = "UTC"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database pool: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to database %s@%s:%d/%s: %w",
			cfg.ConnConfig.User, cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database, err)
	}
	sqldb := stdlib.OpenDBFromPool(pool)
	return &DB{Pool: pool, SQL: sqldb, Bun: bun.NewDB(sqldb, pgdialect.New())}, nil
}

// Close releases the pool.
func (d *DB) Close() {
	_ = d.Bun.Close()
	d.Pool.Close()
}

// Ping reports whether the database answers.
func (d *DB) Ping(ctx context.Context) error {
	return d.Pool.Ping(ctx)
}

// notFound maps sql.ErrNoRows to ErrNotFound so callers never see driver errors for a miss.
func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

// IsUniqueViolation reports whether err is a unique-constraint violation, optionally on the
// named constraint or index.
func IsUniqueViolation(err error, constraint string) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23505" {
		return false
	}
	return constraint == "" || pgErr.ConstraintName == constraint
}

// Page is a 1-based page request, already validated by the caller.
type Page struct {
	Page     int
	PageSize int
}

func (p Page) apply(q *bun.SelectQuery) *bun.SelectQuery {
	return q.Limit(int64(p.PageSize)).Offset(int64((p.Page - 1) * p.PageSize))
}

// sqlRunner is what a database/sql handle offers for running a statement.
type sqlRunner interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// params is the database/sql handle under a bun one. Statements run through it keep their $n
// parameters, where bun would write the values into the text: pgx then prepares each text
// once per connection and Postgres plans it once. The statements every step transition runs
// use it; with bun, parsing and planning a new text each time was the larger part of the
// server's work per transition (see engine/runs_bench_test.go).
func params(idb bun.IDB) sqlRunner {
	switch h := idb.(type) {
	case bun.Tx:
		return h.Tx
	case *bun.DB:
		return h.DB
	case bun.Conn:
		return h.Conn
	}
	panic(fmt.Sprintf("db: unexpected bun handle %T", idb))
}

// jsonParam is a JSON column's parameter: NULL when empty, as bun's nullzero writes it.
func jsonParam(b json.RawMessage) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}
