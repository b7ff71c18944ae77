package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"floh/connectors/ldap"
	"floh/connectors/ldap/demodir"
	"floh/engine"
)

// demoConnectorName is the name the demo directory's connector is created with.
const demoConnectorName = "Demo directory"

// demo is what `serve --demo` started: the directory, and the connector that reads it.
type demo struct {
	dir         *demodir.Directory
	people      int
	connectorID uuid.UUID
	connector   string
	// seeded is how many Floh users this start created (all of them on the first, then none).
	seeded int
}

// startDemo starts the demo directory, seeds the Floh users its people are matched against
// and points the demo connector at it, before the engine starts testing connectors.
func startDemo(ctx context.Context, eng *engine.Engine, log *slog.Logger) (*demo, error) {
	began := time.Now()
	dir, err := demodir.Start(demodir.Options{Logger: log})
	if err != nil {
		return nil, err
	}
	started := time.Since(began)
	d, err := connectDemo(ctx, eng, dir)
	if err != nil {
		_ = dir.Stop(context.WithoutCancel(ctx))
		return nil, err
	}
	log.Info("demo directory serving", "url", dir.URL(), "people", d.people, "start_ms", started.Milliseconds(),
		"users_seeded", d.seeded, "ready_ms", time.Since(began).Milliseconds(), "connector", d.connector, "connector_id", d.connectorID)
	return d, nil
}

func connectDemo(ctx context.Context, eng *engine.Engine, dir *demodir.Directory) (*demo, error) {
	users := dir.FlohUsers()
	seed := make([]engine.DemoDirectoryUser, len(users))
	for i, u := range users {
		seed[i] = engine.DemoDirectoryUser{Email: u.Email, DisplayName: u.DisplayName, UpstreamID: u.UpstreamID}
	}
	seeded, err := eng.SeedDemoDirectoryUsers(ctx, seed)
	if err != nil {
		return nil, fmt.Errorf("seed the demo directory's Floh users: %w", err)
	}
	// The directory's address and password are new on every start; the rest of the config is
	// the admin's once the connector exists.
	c, _, err := eng.EnsureDemoConnector(ctx, engine.ConnectorInput{
		Name: demoConnectorName, Type: ldap.LDAP.Name, Config: dir.ConnectorConfig(),
		Description: "The demo directory that floh serve --demo runs in-process: generated people and their departments, read-only. " +
			"Its address and password change on every start; Floh updates them here.",
	}, []string{"url", "bindPassword"})
	if err != nil {
		return nil, fmt.Errorf("the demo directory's connector: %w", err)
	}
	return &demo{dir: dir, people: len(dir.People()), connectorID: c.ID, connector: c.Name, seeded: seeded}, nil
}

// stop stops the directory once nothing of the server uses it any more.
func (d *demo) stop(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return d.dir.Stop(ctx)
}
