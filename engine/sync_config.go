package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"floh/connectors"
	"floh/db"
	"floh/engine/sync"
)

// SyncResourceTypes are the resource types a connector's type lists page by page (its
// sync-capable commands), in the order user, group; empty when it has none.
func (e *Engine) SyncResourceTypes(c *db.Connector) []string {
	t := e.registry.Type(c.Type)
	if t == nil {
		return nil
	}
	var out []string
	for _, rt := range []string{connectors.ResourceUser, connectors.ResourceGroup} {
		for _, cmd := range t.Commands {
			if cmd.SyncCapable == rt {
				out = append(out, rt)
				break
			}
		}
	}
	return out
}

// syncTarget loads a live connector and checks that it syncs rt.
func (e *Engine) syncTarget(ctx context.Context, idb bun.IDB, connectorID uuid.UUID, rt string) (*db.Connector, error) {
	c, err := db.FindConnector(ctx, idb, connectorID)
	if err != nil {
		return nil, err
	}
	if c.Deleted() {
		return nil, Conflict("connector %s is deleted; restore it before syncing it", c.Name)
	}
	if !slices.Contains(e.SyncResourceTypes(c), rt) {
		return nil, &NoSyncError{Connector: c.Name, ResourceType: rt}
	}
	return c, nil
}

// NoSyncError is a sync request for a resource type the connector's type does not list.
type NoSyncError struct {
	Connector, ResourceType string
}

func (e *NoSyncError) Error() string {
	return fmt.Sprintf("No sync resource types are declared for this connector type: %s does not list %ss page by page", e.Connector, e.ResourceType)
}

// SyncConfig returns the configuration of a (connector, resource type), its defaults when
// nobody saved one.
func (e *Engine) SyncConfig(ctx context.Context, connectorID uuid.UUID, rt string) (*sync.Config, error) {
	if _, err := e.syncTarget(ctx, e.db.Bun, connectorID, rt); err != nil {
		return nil, err
	}
	return e.storedSyncConfig(ctx, e.db.Bun, connectorID, rt)
}

func (e *Engine) storedSyncConfig(ctx context.Context, idb bun.IDB, connectorID uuid.UUID, rt string) (*sync.Config, error) {
	row, err := db.FindSyncConfig(ctx, idb, connectorID, rt)
	if errors.Is(err, db.ErrNotFound) {
		c := sync.Default()
		return &c, nil
	} else if err != nil {
		return nil, err
	}
	c := sync.Default()
	if err := json.Unmarshal(row.Config, &c); err != nil {
		return nil, fmt.Errorf("sync config of %s %s: %w", connectorID, rt, err)
	}
	return &c, nil
}

// SaveSyncConfig validates and stores the configuration of a (connector, resource type), with
// its audit entry on the connector (so an incident can show a connector's recent
// configuration changes), and registers its schedule.
func (e *Engine) SaveSyncConfig(ctx context.Context, a Actor, connectorID uuid.UUID, rt string, cfg sync.Config) (*sync.Config, error) {
	v := &ValidationError{}
	for _, p := range sync.Normalize(&cfg) {
		v.Add(p.Field, "%s", p.Message)
	}
	if rt == connectors.ResourceGroup && (cfg.CreateUsers || cfg.DeactivateUsers || len(cfg.AttributeMappings) > 0) {
		v.Add("createUsers", "user lifecycle and attribute mappings apply to users; the group sync caches groups only")
	}
	err := e.inTx(ctx, func(tx bun.Tx) error {
		c, err := e.syncTarget(ctx, tx, connectorID, rt)
		if err != nil {
			return err
		}
		if cfg.PostSyncWorkflowID != "" {
			if problem := postSyncWorkflowProblem(ctx, tx, cfg.PostSyncWorkflowID); problem != "" {
				v.Add("postSyncWorkflowId", "%s", problem)
			}
		}
		if err := v.Err(); err != nil {
			return err
		}
		before, err := e.storedSyncConfig(ctx, tx, connectorID, rt)
		if err != nil {
			return err
		}
		raw, err := json.Marshal(cfg)
		if err != nil {
			return err
		}
		now := e.now()
		if err := db.SaveSyncConfig(ctx, tx, &db.SyncConfigRow{ConnectorID: c.ID, ResourceType: rt, Config: raw, CreatedAt: now, UpdatedAt: now}); err != nil {
			return err
		}
		return e.audit(ctx, tx, a, "connector", c.ID.String(), "connector.sync_configured",
			map[string]any{"resourceType": rt, "config": before}, map[string]any{"resourceType": rt, "config": cfg})
	})
	if err != nil {
		return nil, err
	}
	e.refreshSyncSchedule(ctx, connectorID, rt)
	return &cfg, nil
}

// postSyncWorkflowProblem says why id cannot be a post-sync workflow, or "".
func postSyncWorkflowProblem(ctx context.Context, idb bun.IDB, id string) string {
	wid, err := uuid.Parse(id)
	if err != nil {
		return fmt.Sprintf("%q is not a workflow id", id)
	}
	w, err := db.FindWorkflow(ctx, idb, wid)
	if err != nil {
		return fmt.Sprintf("no workflow has the id %s", id)
	}
	if err := startable(w); err != nil {
		return err.Error()
	}
	return ""
}
