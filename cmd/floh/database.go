package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"

	"floh/db"
	"floh/db/pgcluster"
)

// database is an open connection and, on the embedded default, the cluster behind it.
type database struct {
	*db.DB
	cluster *pgcluster.Cluster
}

// openDatabase connects to DATABASE_URL, or to the private cluster under the data directory
// (starting it if it is not running). serve owns the cluster; other commands borrow it.
func openDatabase(ctx context.Context, cfg *config, owner bool, log *slog.Logger) (*database, error) {
	if cfg.DatabaseURL != "" {
		d, err := db.Open(ctx, cfg.DatabaseURL)
		if err != nil {
			return nil, err
		}
		return &database{DB: d}, nil
	}
	if err := ensureDataDir(cfg.DataDir); err != nil {
		return nil, err
	}
	cluster, err := pgcluster.Open(ctx, pgcluster.Options{
		Dir:          filepath.Join(cfg.DataDir, "pg"),
		Database:     "floh",
		PasswordFile: filepath.Join(cfg.DataDir, "pg-password"),
		Owner:        owner,
		Logger:       log,
	})
	if err != nil {
		return nil, fmt.Errorf("embedded PostgreSQL: %w", err)
	}
	d, err := db.Open(ctx, cluster.URL())
	if err != nil {
		return nil, errors.Join(err, cluster.Close(ctx))
	}
	return &database{DB: d, cluster: cluster}, nil
}

func (d *database) close(ctx context.Context) error {
	d.DB.Close()
	if d.cluster != nil {
		return d.cluster.Close(ctx)
	}
	return nil
}

// prepareSchema migrates the embedded cluster (it is ours) and an external database only
// when asked: several replicas may share it and an operator decides when it changes.
func (d *database) prepareSchema(ctx context.Context, migrate bool, log *slog.Logger) error {
	if d.cluster == nil && !migrate {
		pending, err := d.Pending(ctx)
		if err != nil {
			return err
		}
		if len(pending) > 0 {
			return fmt.Errorf("the database has %d pending migration(s) (%s): run `floh migrate` first, or start with `floh serve --migrate`",
				len(pending), strings.Join(pending, ", "))
		}
		return nil
	}
	applied, err := d.Migrate(ctx)
	if err != nil {
		return err
	}
	for _, m := range applied {
		log.Info("applied migration", "name", m)
	}
	return nil
}
