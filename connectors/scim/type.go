// Package scim is the connector for SCIM 2.0 service providers (RFC 7643, RFC 7644): it
// creates, reads, patches and deletes users, manages group membership, and lists users and
// groups page by page for sync. It authenticates with a bearer token, basic credentials or an
// OAuth2 client-credentials token.
package scim

import (
	"fmt"
	"net/url"

	"floh/connectors"
)

// The values of the authType config field.
const (
	authBearer = "bearer"
	authBasic  = "basic"
	authOAuth2 = "oauth2_client_credentials"
)

// Type is the scim connector type.
var Type = &connectors.Type{
	Name:        "scim",
	Label:       "SCIM 2.0",
	Description: "Provision users and group memberships in any application with a SCIM 2.0 API (RFC 7644), and sync its users and groups.",
	Config: []connectors.Field{
		{Name: "baseUrl", Label: "Base URL", Kind: connectors.KindString, Required: true, Help: "The SCIM base URL: the one /Users and /Groups are under.", Placeholder: "https://app.example.com/scim/v2"},
		{Name: "authType", Label: "Authentication", Kind: connectors.KindString, Required: true, Enum: []string{authBearer, authBasic, authOAuth2}, Help: "bearer: a static token; basic: a username and password; oauth2_client_credentials: a token fetched from the token URL with a client id and secret."},
		{Name: "bearerToken", Label: "Bearer token", Kind: connectors.KindString, Secret: true, Help: "For bearer: the API token the application issued."},
		{Name: "username", Label: "Username", Kind: connectors.KindString, Help: "For basic."},
		{Name: "password", Label: "Password", Kind: connectors.KindString, Secret: true, Help: "For basic."},
		{Name: "tokenUrl", Label: "Token URL", Kind: connectors.KindString, Help: "For oauth2_client_credentials: the OAuth2 token endpoint.", Placeholder: "https://login.example.com/oauth2/token"},
		{Name: "clientId", Label: "Client ID", Kind: connectors.KindString, Help: "For oauth2_client_credentials."},
		{Name: "clientSecret", Label: "Client secret", Kind: connectors.KindString, Secret: true, Help: "For oauth2_client_credentials."},
	},
	Commands: []connectors.Command{
		{
			Name: "createUser", Label: "Create user", Mutating: true,
			Description: "Creates a user (POST /Users).",
			Params: []connectors.Field{
				{Name: "userName", Label: "User name", Kind: connectors.KindString, Required: true, Help: "Unique in the application; usually what the user signs in with."},
				{Name: "email", Label: "Email", Kind: connectors.KindString, Help: "Sent as the primary work email."},
				{Name: "displayName", Label: "Display name", Kind: connectors.KindString},
				{Name: "externalId", Label: "External ID", Kind: connectors.KindString, Help: "Our identifier for the user, kept by the application."},
				{Name: "active", Label: "Active", Kind: connectors.KindBoolean, Help: "Left to the application when absent."},
			},
			Outputs:      userOutputs,
			Compensation: &connectors.Compensation{Command: "deleteUser", Params: map[string]string{"id": "{{outputs.id}}"}},
		},
		{
			Name: "getUser", Label: "Get user",
			Description: "Reads a user by its SCIM id (GET /Users/{id}).",
			Params:      []connectors.Field{idParam},
			Outputs:     userOutputs,
		},
		{
			Name: "deleteUser", Label: "Delete user", Mutating: true,
			Description: "Deletes a user (DELETE /Users/{id}). It cannot be undone.",
			Params:      []connectors.Field{idParam},
			Outputs:     []connectors.Output{{Name: "id", Kind: connectors.KindString}},
		},
		{
			Name: "deactivateUser", Label: "Deactivate user", Mutating: true,
			Description: "Sets active to false (PATCH /Users/{id}). Its undo restores active as it was before.",
			Params:      []connectors.Field{idParam},
			Outputs: append([]connectors.Output{
				{Name: "previousActive", Kind: connectors.KindBoolean, Help: "active before the call; absent when the user had none."},
			}, updateOutputs...),
			Compensation: inversePatch,
		},
		{
			Name: "updateUser", Label: "Update user", Mutating: true,
			Description: "Applies SCIM PATCH operations to a user (PATCH /Users/{id}). Its undo restores every attribute the operations touched, except a password, which cannot be read back.",
			Params: []connectors.Field{
				idParam,
				{Name: "operations", Label: "Operations", Kind: connectors.KindArray, Required: true, Help: `SCIM PATCH operations (RFC 7644 §3.5.2), e.g. [{"op": "replace", "path": "displayName", "value": "Jane Doe"}]. An empty list changes nothing.`},
			},
			Outputs:      updateOutputs,
			Compensation: inversePatch,
		},
		{
			Name: "addGroupMember", Label: "Add group member", Mutating: true,
			Description: "Adds a user to a group (PATCH /Groups/{groupId}). A user who is already a member is a conflict, so that undoing the call never removes a membership it did not create.",
			Params:      memberParams,
			Outputs:     memberOutputs,
			Compensation: &connectors.Compensation{Command: "removeGroupMember", Params: map[string]string{
				"groupId": "{{params.groupId}}", "userId": "{{params.userId}}",
			}},
		},
		{
			Name: "removeGroupMember", Label: "Remove group member", Mutating: true,
			Description: "Removes a user from a group (PATCH /Groups/{groupId}). A user who is not a member is not_found.",
			Params:      memberParams,
			Outputs:     memberOutputs,
			Compensation: &connectors.Compensation{Command: "addGroupMember", Params: map[string]string{
				"groupId": "{{params.groupId}}", "userId": "{{params.userId}}",
			}},
		},
		{
			Name: "listUsers", Label: "List users", SyncCapable: connectors.ResourceUser,
			Description: "Lists one page of users (GET /Users).",
			Params:      listParams,
			Outputs:     listOutputs,
		},
		{
			Name: "listGroups", Label: "List groups", SyncCapable: connectors.ResourceGroup,
			Description: "Lists one page of groups with their members (GET /Groups).",
			Params:      listParams,
			Outputs:     listOutputs,
		},
	},
	Validate: validate,
	New:      newConnector,
}

var idParam = connectors.Field{Name: "id", Label: "User ID", Kind: connectors.KindString, Required: true, Help: "The id the SCIM application gave the user (createUser's id output)."}

var userOutputs = []connectors.Output{
	{Name: "id", Kind: connectors.KindString, Help: "The application's id for the user."},
	{Name: "userName", Kind: connectors.KindString},
	{Name: "email", Kind: connectors.KindString, Help: "The primary email, or the first."},
	{Name: "displayName", Kind: connectors.KindString},
	{Name: "externalId", Kind: connectors.KindString},
	{Name: "active", Kind: connectors.KindBoolean},
	{Name: "resource", Kind: connectors.KindObject, Help: "The user as the application returned it."},
}

// updateOutputs describe the user after the patch; the user fields are absent when the
// application answered 204 No Content.
var updateOutputs = append([]connectors.Output{
	{Name: "inverseOperations", Kind: connectors.KindArray, Help: "PATCH operations that restore what this call changed; the compensation sends them to updateUser."},
}, userOutputs...)

// inversePatch undoes deactivateUser and updateUser: both compute, from the user as it was
// before, the operations that put back every attribute they touch, and output them.
var inversePatch = &connectors.Compensation{Command: "updateUser", Params: map[string]string{
	"id": "{{params.id}}", "operations": "{{outputs.inverseOperations}}",
}}

var memberParams = []connectors.Field{
	{Name: "groupId", Label: "Group ID", Kind: connectors.KindString, Required: true, Help: "The application's id for the group."},
	{Name: "userId", Label: "User ID", Kind: connectors.KindString, Required: true, Help: "The application's id for the user."},
}

var memberOutputs = []connectors.Output{
	{Name: "groupId", Kind: connectors.KindString},
	{Name: "userId", Kind: connectors.KindString},
}

var listParams = []connectors.Field{
	{Name: "filter", Label: "Filter", Kind: connectors.KindString, Help: "A SCIM filter (RFC 7644 §3.4.2.2).", Placeholder: `userName sw "j"`},
	{Name: "count", Label: "Page size", Kind: connectors.KindInteger, Help: fmt.Sprintf("Resources per page (default %d); the application may return fewer.", defaultCount)},
	{Name: "since", Label: "Changed since", Kind: connectors.KindString, Help: "An RFC 3339 time: only resources whose meta.lastModified is at or after it.", Placeholder: "2024-05-01T00:00:00Z"},
	{Name: "cursor", Label: "Cursor", Kind: connectors.KindString, Help: "The nextCursor of the previous page."},
}

var listOutputs = []connectors.Output{
	{Name: "records", Kind: connectors.KindArray, Help: "Records: externalId (the SCIM id), username, email, displayName, attributes."},
	{Name: "count", Kind: connectors.KindInteger, Help: "Records on this page."},
	{Name: "totalResults", Kind: connectors.KindInteger, Help: "Matching resources in all pages."},
	{Name: "nextCursor", Kind: connectors.KindString, Help: "Pass as cursor for the next page; empty on the last page."},
}

// validate checks what the schema cannot: URL schemes, and the fields each authType needs.
func validate(cfg connectors.Config) []connectors.FieldError {
	var problems []connectors.FieldError
	if msg := checkURL(cfg.String("baseUrl")); msg != "" {
		problems = append(problems, connectors.FieldError{Field: "baseUrl", Message: "baseUrl " + msg})
	}
	authType := cfg.String("authType")
	var needs []string
	switch authType {
	case authBearer:
		needs = []string{"bearerToken"}
	case authBasic:
		needs = []string{"username", "password"}
	case authOAuth2:
		needs = []string{"tokenUrl", "clientId", "clientSecret"}
		if u := cfg.String("tokenUrl"); u != "" {
			if msg := checkURL(u); msg != "" {
				problems = append(problems, connectors.FieldError{Field: "tokenUrl", Message: "tokenUrl " + msg})
			}
		}
	}
	for _, name := range needs {
		if cfg.String(name) == "" {
			problems = append(problems, connectors.FieldError{Field: name, Message: fmt.Sprintf("%s is required when authType is %s", name, authType)})
		}
	}
	return problems
}

// checkURL says what is wrong with an http(s) URL, or returns "".
func checkURL(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "is not a URL"
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Sprintf("must start with https:// or http://, not %q", u.Scheme+":")
	case u.Host == "":
		return "has no host"
	case u.User != nil:
		// Credentials in a URL end up in error messages and logs; they belong in the secret
		// fields.
		return "must not contain credentials: use the username and password fields"
	}
	return ""
}
