// Package builtin lists the connector types this build of Floh offers, in the order the create
// wizard shows them.
package builtin

import (
	"floh/connectors"
	"floh/connectors/delay"
)

// Registry returns a registry of every built-in connector type.
func Registry() (*connectors.Registry, error) {
	return connectors.NewRegistry(delay.Type)
}
