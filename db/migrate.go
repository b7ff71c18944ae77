package db

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"

	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/uptrace/bun/migrate"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

func migrations() (*migrate.Migrations, error) {
	m := migrate.NewMigrations()
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	if err := m.Discover(sub); err != nil {
		return nil, fmt.Errorf("discover migrations: %w", err)
	}
	return m, nil
}

func (d *DB) migrators() (*migrate.Migrator, *rivermigrate.Migrator[pgx.Tx], error) {
	ms, err := migrations()
	if err != nil {
		return nil, nil, err
	}
	bm := migrate.NewMigrator(d.Bun, ms, migrate.WithMarkAppliedOnSuccess(true))
	rm, err := rivermigrate.New(riverpgxv5.New(d.Pool), nil)
	if err != nil {
		return nil, nil, fmt.Errorf("river migrator: %w", err)
	}
	return bm, rm, nil
}

// Pending lists the migrations not yet applied, Floh's and River's, by name.
func (d *DB) Pending(ctx context.Context) ([]string, error) {
	bm, rm, err := d.migrators()
	if err != nil {
		return nil, err
	}
	if err := bm.Init(ctx); err != nil {
		return nil, fmt.Errorf("init migration tables: %w", err)
	}
	applied, err := bm.MigrationsWithStatus(ctx)
	if err != nil {
		return nil, fmt.Errorf("read migration status: %w", err)
	}
	var pending []string
	for _, m := range applied.Unapplied() {
		pending = append(pending, m.Name+"_"+m.Comment)
	}
	res, err := rm.Validate(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("read river migration status: %w", err)
	}
	for _, msg := range res.Messages {
		pending = append(pending, "river: "+msg)
	}
	return pending, nil
}

// Migrate applies every pending migration: River's queue tables, then Floh's own. A lock
// table keeps two replicas from migrating at once.
func (d *DB) Migrate(ctx context.Context) ([]string, error) {
	bm, rm, err := d.migrators()
	if err != nil {
		return nil, err
	}
	var done []string
	res, err := rm.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return nil, fmt.Errorf("apply river migrations: %w", err)
	}
	for _, v := range res.Versions {
		done = append(done, fmt.Sprintf("river %03d %s", v.Version, v.Name))
	}
	if err := bm.Init(ctx); err != nil {
		return nil, fmt.Errorf("init migration tables: %w", err)
	}
	if err := bm.Lock(ctx); err != nil {
		return nil, fmt.Errorf("lock migrations: %w", err)
	}
	defer func() { _ = bm.Unlock(ctx) }()
	group, err := bm.Migrate(ctx)
	if err != nil {
		return nil, fmt.Errorf("apply migrations: %w", err)
	}
	for _, m := range group.Migrations {
		done = append(done, m.Name+"_"+m.Comment)
	}
	return done, nil
}
