package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"floh/db"
)

// What `floh serve --demo` keeps in the database for its demo directory: a connector to it and
// the Floh users its people are matched against. Both are made by the system actor, audited
// like any change, and found again on the next start rather than made twice.

// DemoConnectorID is the id of the demo directory's connector. A fixed id finds it again on
// every start however an admin renamed it.
var DemoConnectorID = uuid.MustParse("d3a0f1c2-5e0b-4c7e-9a6d-0f10b0d1de00")

// EnsureDemoConnector creates the demo directory's connector from in, or brings the existing
// one up to date: the directory listens on a new port with a new password on every start, so
// the config keys named in refresh take in.Config's values (a secret is sealed again) while
// the name, description, enabled flag, mock settings and the rest of the config stay as an
// admin left them. A connector an admin deleted is restored, since --demo asks for it.
// created reports whether it was made now.
func (e *Engine) EnsureDemoConnector(ctx context.Context, in ConnectorInput, refresh []string) (c *db.Connector, created bool, err error) {
	system := Actor{Label: "system"}
	err = e.inTx(ctx, func(tx bun.Tx) error {
		var err error
		c, err = db.FindConnectorForUpdate(ctx, tx, DemoConnectorID)
		if errors.Is(err, db.ErrNotFound) {
			now := e.now()
			c = &db.Connector{ID: DemoConnectorID, Enabled: true, HealthStatus: db.HealthUnknown, CreatedAt: now, UpdatedAt: now}
			changed, err := e.applyConnectorInput(c, in, nil)
			if err != nil {
				return err
			}
			if err := db.InsertConnector(ctx, tx, c); err != nil {
				return demoNameTaken(err, c.Name)
			}
			created = true
			return e.audit(ctx, tx, system, "connector", c.ID.String(), "connector.created", nil, stateOf(c, changed))
		}
		if err != nil {
			return err
		}
		if c.Deleted() {
			c.DeletedAt = nil
			if err := db.UpdateConnector(ctx, tx, c); err != nil {
				return demoNameTaken(err, c.Name)
			}
			if err := e.audit(ctx, tx, system, "connector", c.ID.String(), "connector.restored", nil, stateOf(c, nil)); err != nil {
				return err
			}
		}
		before := stateOf(c, nil)
		config := map[string]any{}
		if err := json.Unmarshal(c.Config, &config); err != nil {
			return fmt.Errorf("demo connector config: %w", err)
		}
		// Secrets that no longer open (the encryption key changed) are simply replaced by the
		// ones in.Config brings.
		stored, err := e.openSecrets(c)
		if err != nil {
			stored = nil
		}
		maps.Copy(config, stored)
		for _, key := range refresh {
			config[key] = in.Config[key]
		}
		mockData := map[string]any{}
		if len(c.MockData) > 0 {
			if err := json.Unmarshal(c.MockData, &mockData); err != nil {
				return fmt.Errorf("demo connector mock data: %w", err)
			}
		}
		enabled := c.Enabled
		changed, err := e.applyConnectorInput(c, ConnectorInput{
			Name: c.Name, Type: c.Type, Description: c.Description, Enabled: &enabled,
			Config: config, MockMode: c.MockMode, MockData: mockData,
		}, stored)
		if err != nil {
			return err
		}
		c.UpdatedAt = e.now()
		if err := db.UpdateConnector(ctx, tx, c); err != nil {
			return err
		}
		return e.audit(ctx, tx, system, "connector", c.ID.String(), "connector.updated", before, stateOf(c, changed))
	})
	if err != nil {
		return nil, false, err
	}
	return c, created, nil
}

func demoNameTaken(err error, name string) error {
	if db.IsUniqueViolation(err, db.ConnectorNameConstraint) {
		return Conflict("another connector is named %q: rename it so the demo directory's connector can have that name, or start without --demo", name)
	}
	return err
}

// DemoDirectoryUser is a Floh user the demo directory's people are matched against.
type DemoDirectoryUser struct {
	Email, DisplayName string
	// UpstreamID is the upstream_id the user carries; empty for none.
	UpstreamID string
}

// SeedDemoDirectoryUsers makes sure each of users exists, as a pre-provisioned unconfirmed
// user like CreateUser makes, and returns how many it created. A user is known by its email
// exactly, letter case included: the demo holds users whose emails differ only in case. One
// that exists, even deleted, is left as it is, so an admin's changes and deletions stand
// across restarts.
func (e *Engine) SeedDemoDirectoryUsers(ctx context.Context, users []DemoDirectoryUser) (created int, err error) {
	users = slices.Clone(users)
	v := &ValidationError{}
	emails := make([]string, len(users))
	for i, u := range users {
		field := fmt.Sprintf("users[%d]", i)
		emails[i] = validateEmail(v, field+".email", u.Email)
		users[i].DisplayName = validateText(v, field+".displayName", u.DisplayName, maxNameLen)
		users[i].UpstreamID = validateText(v, field+".upstreamId", u.UpstreamID, maxAttrLen)
	}
	if err := v.Err(); err != nil {
		return 0, err
	}
	system := Actor{Label: "system"}
	err = e.inTx(ctx, func(tx bun.Tx) error {
		found, err := db.FindUsersHoldingEmails(ctx, tx, emails)
		if err != nil {
			return err
		}
		held := map[string]bool{}
		for _, email := range found {
			held[email] = true
		}
		now := e.now()
		for i, in := range users {
			if held[emails[i]] {
				continue
			}
			held[emails[i]] = true
			u := &db.User{
				ID: uuid.New(), Iss: db.UnconfirmedIssuer, Sub: uuid.NewString(), Email: emails[i],
				DisplayName: in.DisplayName, Active: true, CreatedAt: now, UpdatedAt: now, Roles: []string{},
			}
			if u.DisplayName == "" {
				u.DisplayName = emails[i]
			}
			if in.UpstreamID != "" {
				id := in.UpstreamID
				u.UpstreamID = &id
			}
			if err := db.InsertUser(ctx, tx, u); err != nil {
				return err
			}
			if err := e.audit(ctx, tx, system, "user", u.ID.String(), "user.created", nil, u); err != nil {
				return err
			}
			created++
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return created, nil
}
