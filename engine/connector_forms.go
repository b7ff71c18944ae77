package engine

import (
	"time"

	"github.com/google/uuid"

	"floh/db"
)

// CheckConnectorInput validates in exactly as CreateConnector would, without storing anything
// or contacting the target. The create wizard checks each step with it, so a step reports the
// engine's own messages rather than a second copy of its rules. A name another connector
// already holds is only found when creating.
func (e *Engine) CheckConnectorInput(in ConnectorInput) error {
	scratch := &db.Connector{ID: uuid.New(), Enabled: true}
	_, err := e.applyConnectorInput(scratch, in, nil)
	return err
}

// MocksAllConnectors reports whether mock mode is on for the whole system
// (FLOH_MOCK_CONNECTORS), so pages can say why a connector answers from mock data.
func (e *Engine) MocksAllConnectors() bool { return e.mockAll }

// HealthInterval is how often the health monitor tests each enabled connector.
func (e *Engine) HealthInterval() time.Duration { return e.healthInterval }
