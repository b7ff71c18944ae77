// Package authifi is the connector for Authifi, Authilize's OIDC identity provider, through
// its admin API as docs/authifi-api.md describes it. The whole client lives here so that a
// real tenant's differences from that contract stay a local change.
package authifi

import (
	"maps"
	"net/url"

	"floh/connectors"
)

// Type is the authifi connector type.
var Type = &connectors.Type{
	Name:        "authifi",
	Label:       "Authifi",
	Description: "Users, roles, groups, passwords and linked identities in an Authifi tenant, through its admin API.",
	Config: []connectors.Field{
		{Name: "baseUrl", Label: "Admin API URL", Kind: connectors.KindString, Required: true,
			Placeholder: "https://auth.example.com/_api",
			Help:        "The base URL of the Authifi admin API, including its path (often /_api)."},
		{Name: "tenant", Label: "Tenant", Kind: connectors.KindString, Required: true,
			Placeholder: "prod",
			Help:        "The tenant's slug, as in the tenant's sign-in URLs; it names the token endpoint."},
		{Name: "tenantId", Label: "Tenant ID", Kind: connectors.KindString, Required: true,
			Placeholder: "42",
			Help:        "The tenant's numeric id, shown in the Authifi admin console; admin calls are made under it."},
		{Name: "clientId", Label: "Client ID", Kind: connectors.KindString, Required: true,
			Help: "An Authifi client allowed the client-credentials grant and the admin API scope."},
		{Name: "clientSecret", Label: "Client secret", Kind: connectors.KindString, Required: true, Secret: true,
			Help: "The client's secret. Stored encrypted; leave empty on edit to keep the stored one."},
	},
	Commands: commands,
	Validate: validate,
	New:      newConnector,
}

// newConnector is New with production's options, returning a nil interface on error rather
// than one holding a nil *Connector.
func newConnector(cfg connectors.Config) (connectors.Connector, error) {
	c, err := New(cfg, Options{})
	if err != nil {
		return nil, err
	}
	return c, nil
}

func validate(cfg connectors.Config) []connectors.FieldError {
	u, err := url.Parse(cfg.String("baseUrl"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return []connectors.FieldError{{Field: "baseUrl", Message: "baseUrl must be an http:// or https:// URL with a host, such as https://auth.example.com/_api"}}
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return []connectors.FieldError{{Field: "baseUrl", Message: "baseUrl must not have a query or a fragment"}}
	}
	return nil
}

// Params shared by several commands.
var (
	emailParam = connectors.Field{Name: "email", Label: "Email", Kind: connectors.KindString, Required: true,
		Help: "The user's email address in Authifi."}
	issuerParam = connectors.Field{Name: "issuer", Label: "Identity issuer", Kind: connectors.KindString,
		Help: "The user's identityIssuer (the URL of the upstream IdP); needed when the email exists under several issuers."}
	rolesParam = connectors.Field{Name: "roles", Label: "Roles", Kind: connectors.KindStringList, Required: true,
		Help: "Role slugs, e.g. data-reader, comma-separated in a form."}
	groupIDParam = connectors.Field{Name: "groupId", Label: "Group ID", Kind: connectors.KindString, Required: true,
		Help: "The Authifi group's id."}
	// linkIssuerParam is the issuer of the identity being linked, so link and unlink name the
	// user's own issuer userIssuer.
	linkIssuerParam = connectors.Field{Name: "issuer", Label: "Linked identity issuer", Kind: connectors.KindString, Required: true,
		Help: "The issuer of the external identity to link or unlink, e.g. ad or an IdP URL."}
	userIssuerParam = connectors.Field{Name: "userIssuer", Label: "User's identity issuer", Kind: connectors.KindString,
		Help: "The user's own identityIssuer; needed when the email exists under several issuers."}
	pageParams = []connectors.Field{
		{Name: "pageSize", Label: "Page size", Kind: connectors.KindInteger, Default: 100,
			Help: "How many records to return, from 1 to 500."},
		{Name: "cursor", Label: "Cursor", Kind: connectors.KindString,
			Help: "The nextCursor of the previous page; empty for the first page."},
		{Name: "since", Label: "Changed since", Kind: connectors.KindString, Placeholder: "2025-01-31T00:00:00Z",
			Help: "Only records updated at or after this RFC 3339 time."},
	}
)

// userOutputs is the user object, as createUser and deleteUser return it.
var userOutputs = []connectors.Output{
	{Name: "id", Kind: connectors.KindString, Help: "Authifi's id for the user."},
	{Name: "email", Kind: connectors.KindString},
	{Name: "displayName", Kind: connectors.KindString},
	{Name: "identityIssuer", Kind: connectors.KindString, Help: "Empty for a local user."},
	{Name: "externalId", Kind: connectors.KindString},
	{Name: "federated", Kind: connectors.KindBoolean},
	{Name: "enabled", Kind: connectors.KindBoolean},
	{Name: "roles", Kind: connectors.KindStringList},
	{Name: "createdAt", Kind: connectors.KindString},
	{Name: "updatedAt", Kind: connectors.KindString},
}

var pageOutputs = []connectors.Output{
	{Name: "records", Kind: connectors.KindArray, Help: "Records with externalId, email, displayName and attributes."},
	{Name: "count", Kind: connectors.KindInteger},
	{Name: "nextCursor", Kind: connectors.KindString, Help: "Empty on the last page."},
}

var membershipOutputs = []connectors.Output{
	{Name: "userId", Kind: connectors.KindString},
	{Name: "groupId", Kind: connectors.KindString},
	{Name: "member", Kind: connectors.KindBoolean},
}

// byEmail are the compensation params that find the same user again.
var byEmail = map[string]string{"email": "{{params.email}}", "issuer": "{{params.issuer}}"}

// byEmailAnd is byEmail plus more params.
func byEmailAnd(more map[string]string) map[string]string {
	out := maps.Clone(byEmail)
	maps.Copy(out, more)
	return out
}

var commands = []connectors.Command{
	{
		Name: "createUser", Label: "Create user",
		Description: "Creates a user; a federated one when issuer is given. Fails with already_exists when the email exists under that issuer.",
		Params: []connectors.Field{
			emailParam,
			{Name: "displayName", Label: "Display name", Kind: connectors.KindString},
			{Name: "issuer", Label: "Identity issuer", Kind: connectors.KindString,
				Help: "The upstream IdP the user signs in through (identityIssuer); empty for a local user."},
			{Name: "externalId", Label: "External ID", Kind: connectors.KindString,
				Help: "The user's id at the upstream IdP."},
		},
		Outputs:      userOutputs,
		Mutating:     true,
		Compensation: &connectors.Compensation{Command: "deleteUser", Params: byEmail},
	},
	{
		Name: "deleteUser", Label: "Delete user",
		Description: "Deletes the user and returns it as it was, for the audit trail.",
		Params:      []connectors.Field{emailParam, issuerParam},
		Outputs:     userOutputs,
		Mutating:    true,
	},
	{
		Name: "assignRoles", Label: "Assign roles",
		Description: "Adds roles to the user; roles it already has are kept.",
		Params:      []connectors.Field{emailParam, issuerParam, rolesParam},
		Outputs: []connectors.Output{
			{Name: "userId", Kind: connectors.KindString},
			{Name: "roles", Kind: connectors.KindStringList, Help: "All the user's roles afterwards."},
		},
		Mutating: true,
		Compensation: &connectors.Compensation{
			Command:    "removeRoles",
			Params:     byEmailAnd(map[string]string{"roles": "{{params.roles}}"}),
			SubsumedBy: "deleteUser",
		},
	},
	{
		Name: "removeRoles", Label: "Remove roles",
		Description: "Removes roles from the user. Idempotent: roles the user lacks, and a user already deleted, are not an error.",
		Params:      []connectors.Field{emailParam, issuerParam, rolesParam},
		Outputs: []connectors.Output{
			{Name: "userId", Kind: connectors.KindString, Help: "Empty when no user has the email."},
			{Name: "roles", Kind: connectors.KindStringList, Help: "All the user's roles afterwards."},
			{Name: "userFound", Kind: connectors.KindBoolean, Help: "False when no user has the email, so there was nothing to remove."},
		},
		Mutating: true,
		Compensation: &connectors.Compensation{
			Command: "assignRoles",
			Params:  byEmailAnd(map[string]string{"roles": "{{params.roles}}"}),
		},
	},
	{
		Name: "addToGroup", Label: "Add to group",
		Description: "Adds the user to a group. Fails with conflict (MEMBER_EXISTS) when the user is already a member.",
		Params:      []connectors.Field{emailParam, issuerParam, groupIDParam},
		Outputs:     membershipOutputs,
		Mutating:    true,
		Compensation: &connectors.Compensation{
			Command: "removeFromGroup",
			Params:  byEmailAnd(map[string]string{"groupId": "{{params.groupId}}"}),
		},
	},
	{
		Name: "removeFromGroup", Label: "Remove from group",
		Description: "Removes the user from a group. Fails with not_found (NOT_A_MEMBER) when the user is not a member.",
		Params:      []connectors.Field{emailParam, issuerParam, groupIDParam},
		Outputs:     membershipOutputs,
		Mutating:    true,
		Compensation: &connectors.Compensation{
			Command: "addToGroup",
			Params:  byEmailAnd(map[string]string{"groupId": "{{params.groupId}}"}),
		},
	},
	{
		Name: "checkGroupMembership", Label: "Check group membership",
		Description: "Reports whether the user is a member of a group.",
		Params:      []connectors.Field{emailParam, issuerParam, groupIDParam},
		Outputs:     membershipOutputs,
	},
	{
		Name: "setPassword", Label: "Set password",
		Description: "Sets a local user's password. A federated user has none (conflict, AUTHIFI_FEDERATED_NO_LOCAL_PASSWORD).",
		Params: []connectors.Field{
			emailParam, issuerParam,
			{Name: "password", Label: "Password", Kind: connectors.KindString, Required: true, Secret: true},
		},
		Outputs:      []connectors.Output{{Name: "userId", Kind: connectors.KindString}},
		Mutating:     true,
		Compensation: &connectors.Compensation{SubsumedBy: "deleteUser"},
	},
	{
		Name: "linkExternalIdentity", Label: "Link external identity",
		Description: "Links an identity from another issuer (such as an AD account) to the user.",
		Params: []connectors.Field{
			emailParam, linkIssuerParam,
			{Name: "externalId", Label: "External ID", Kind: connectors.KindString,
				Help: "The identity's id at its issuer, e.g. the AD objectGUID or sAMAccountName."},
			userIssuerParam,
		},
		Outputs: []connectors.Output{
			{Name: "userId", Kind: connectors.KindString},
			{Name: "issuer", Kind: connectors.KindString},
			{Name: "externalId", Kind: connectors.KindString},
		},
		Mutating: true,
		Compensation: &connectors.Compensation{
			Command: "unlinkExternalIdentity",
			Params:  map[string]string{"email": "{{params.email}}", "issuer": "{{params.issuer}}", "externalId": "{{params.externalId}}", "userIssuer": "{{params.userIssuer}}"},
			// A stale link to a deleted directory account makes Authifi refuse to federate the
			// next provisioning attempt, so the link goes first (the cleanup runbook's order);
			// a plain LDAP directory federates the same way as Active Directory.
			Precedes: []connectors.CommandRef{{Type: "activedirectory", Command: "deleteAccount"}, {Type: "ldap", Command: "deleteAccount"}},
		},
	},
	{
		Name: "unlinkExternalIdentity", Label: "Unlink external identity",
		Description: "Removes the identity linked from an issuer. Fails with not_found when there is no such link.",
		Params: []connectors.Field{
			emailParam, linkIssuerParam,
			{Name: "externalId", Label: "External ID", Kind: connectors.KindString,
				Help: "Not sent to Authifi; give it so that a rollback can link the identity again."},
			userIssuerParam,
		},
		Outputs: []connectors.Output{
			{Name: "userId", Kind: connectors.KindString},
			{Name: "issuer", Kind: connectors.KindString},
		},
		Mutating: true,
		Compensation: &connectors.Compensation{
			Command: "linkExternalIdentity",
			Params:  map[string]string{"email": "{{params.email}}", "issuer": "{{params.issuer}}", "externalId": "{{params.externalId}}", "userIssuer": "{{params.userIssuer}}"},
		},
	},
	{
		Name: "listUsers", Label: "List users",
		Description: "One page of users; each record carries identityIssuer and roles in its attributes.",
		Params:      pageParams,
		Outputs:     pageOutputs,
		SyncCapable: connectors.ResourceUser,
	},
	{
		Name: "listGroups", Label: "List groups",
		Description: "One page of groups.",
		Params:      pageParams,
		Outputs:     pageOutputs,
		SyncCapable: connectors.ResourceGroup,
	},
}
