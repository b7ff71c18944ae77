// Package builtin lists the connector types this build of Floh offers, in the order the create
// wizard shows them.
package builtin

import (
	"floh/connectors"
	"floh/connectors/authifi"
	"floh/connectors/delay"
	"floh/connectors/email"
	"floh/connectors/httpreq"
	"floh/connectors/ldap"
	"floh/connectors/scim"
)

// Registry returns a registry of every built-in connector type.
func Registry() (*connectors.Registry, error) {
	return connectors.NewRegistry(ldap.ActiveDirectory, ldap.LDAP, authifi.Type, scim.Type, email.Type, httpreq.Type, delay.Type)
}
