package ldap

import "floh/connectors"

// The commands of both types (PRODUCT §2). Only the help differs between them.
func commands(f *flavor) []connectors.Command {
	username := connectors.Field{Name: "username", Label: "Username", Kind: connectors.KindString, Required: true,
		Help: "The account's " + f.usernameAttr + ".", Placeholder: "jdoe"}
	group := connectors.Field{Name: "group", Label: "Group", Kind: connectors.KindString, Required: true,
		Help: "The group's name (cn) under the group base DN, or its full DN.", Placeholder: "Sales"}
	dnOut := connectors.Output{Name: "dn", Kind: connectors.KindString, Help: "The account's DN."}
	groupOut := connectors.Output{Name: "groupDN", Kind: connectors.KindString, Help: "The group's DN."}
	byUsername := map[string]string{"username": "{{params.username}}"}
	byMembership := map[string]string{"username": "{{params.username}}", "group": "{{params.group}}"}

	createHelp := "Creates an inetOrgPerson entry uid=<username> with cn, sn, mail; the password is set with the password modify operation (RFC 3062), so the directory hashes it and applies its policy. If the password is refused, the entry is removed again."
	passwordHelp := "Sets the password with the password modify operation (RFC 3062); the directory's password policy applies."
	enableHelp := "Unlocks the account: removes pwdAccountLockedTime (needs the ppolicy overlay with pwdLockout)."
	disableHelp := "Locks the account: sets pwdAccountLockedTime to 000001010000Z, OpenLDAP's permanent administrative lock (needs the ppolicy overlay with pwdLockout)."
	deleteHelp := "Deletes the account's entry."
	if f.ad {
		deleteHelp = "Deletes the account and any objects below it (tree delete)."
		createHelp = "Creates a user CN=<username> with sAMAccountName, userPrincipalName <username>@<domain from the base DN>, and the given names and mail. With a password the account is enabled (userAccountControl 512); without, it is created disabled (514). Passwords need an encrypted connection."
		passwordHelp = "Resets the password (unicodePwd) as an administrator; the domain's password policy applies. Needs an encrypted connection."
		enableHelp = "Enables the account: clears the ACCOUNTDISABLE bit of userAccountControl (514 → 512), keeping the other bits."
		disableHelp = "Disables the account: sets the ACCOUNTDISABLE bit of userAccountControl (512 → 514), keeping the other bits."
	}
	changedOut := []connectors.Output{dnOut,
		{Name: "enabled", Kind: connectors.KindBoolean, Help: "Whether the account is enabled now."},
		{Name: "changed", Kind: connectors.KindBoolean, Help: "False when the account was already in that state."}}
	listParams := []connectors.Field{
		{Name: "filter", Label: "Filter", Kind: connectors.KindString, Placeholder: "(department=Sales)",
			Help: "An LDAP filter combined with the configured one."},
		{Name: "pageSize", Label: "Page size", Kind: connectors.KindInteger, Help: "Entries per page. Empty: the connector's page size."},
		{Name: "since", Label: "Changed since", Kind: connectors.KindString, Placeholder: "2025-01-31T00:00:00Z",
			Help: "Only entries changed at or after this time (RFC 3339), by " + f.changedAttr + "."},
		{Name: "cursor", Label: "Cursor", Kind: connectors.KindString, Help: "The nextCursor of the previous page, to continue a listing."},
	}
	listOutputs := []connectors.Output{
		{Name: "records", Kind: connectors.KindArray, Help: "This page's entries: externalId, username, email, displayName, attributes."},
		{Name: "count", Kind: connectors.KindInteger, Help: "How many records this page holds."},
		{Name: "nextCursor", Kind: connectors.KindString, Help: "Pass as cursor for the next page; empty on the last page."},
	}

	return []connectors.Command{
		{
			Name: "createAccount", Label: "Create account", Description: createHelp,
			Params: []connectors.Field{
				username,
				{Name: "email", Label: "Email", Kind: connectors.KindString, Help: "Stored as mail.", Placeholder: "jdoe@example.com"},
				{Name: "displayName", Label: "Display name", Kind: connectors.KindString, Placeholder: "Jane Doe"},
				{Name: "givenName", Label: "Given name", Kind: connectors.KindString, Placeholder: "Jane"},
				{Name: "surname", Label: "Surname", Kind: connectors.KindString, Help: "Stored as sn.", Placeholder: "Doe"},
				{Name: "ou", Label: "Organizational unit", Kind: connectors.KindString, Placeholder: "Sales",
					Help: "Where to create the account: an OU name under the user base DN, or a full DN. Empty: the user base DN."},
				{Name: "password", Label: "Password", Kind: connectors.KindString, Secret: true, Help: "The initial password."},
				{Name: "attributes", Label: "Other attributes", Kind: connectors.KindObject, Placeholder: `{"department": "Sales"}`,
					Help: "More attributes to set, name → text or list of texts. They may override userPrincipalName, cn and sn; not what the other params set, nor passwords or account state."},
			},
			Outputs: []connectors.Output{dnOut,
				{Name: "externalId", Kind: connectors.KindString, Help: "The new entry's " + f.idAttr + "; empty in the rare case it could not be read back."},
				{Name: "username", Kind: connectors.KindString},
				{Name: "enabled", Kind: connectors.KindBoolean}},
			Mutating:     true,
			Compensation: &connectors.Compensation{Command: "deleteAccount", Params: byUsername},
		},
		{
			Name: "setPassword", Label: "Set password", Description: passwordHelp,
			Params: []connectors.Field{username,
				{Name: "password", Label: "Password", Kind: connectors.KindString, Required: true, Secret: true}},
			Outputs:      []connectors.Output{dnOut},
			Mutating:     true,
			Compensation: &connectors.Compensation{SubsumedBy: "deleteAccount"},
		},
		{
			Name: "enableAccount", Label: "Enable account", Description: enableHelp,
			Params: []connectors.Field{username}, Outputs: changedOut, Mutating: true,
			Compensation: &connectors.Compensation{Command: "disableAccount", Params: byUsername},
		},
		{
			Name: "disableAccount", Label: "Disable account", Description: disableHelp,
			Params: []connectors.Field{username}, Outputs: changedOut, Mutating: true,
			Compensation: &connectors.Compensation{Command: "enableAccount", Params: byUsername},
		},
		{
			Name: "addToGroup", Label: "Add to group", Description: "Adds the account to the group's member attribute. An existing membership is a conflict.",
			Params: []connectors.Field{username, group}, Outputs: []connectors.Output{dnOut, groupOut}, Mutating: true,
			Compensation: &connectors.Compensation{Command: "removeFromGroup", Params: byMembership, SubsumedBy: "deleteAccount"},
		},
		{
			Name: "removeFromGroup", Label: "Remove from group", Description: "Removes the account from the group's member attribute. A missing membership is not_found.",
			Params: []connectors.Field{username, group}, Outputs: []connectors.Output{dnOut, groupOut}, Mutating: true,
			Compensation: &connectors.Compensation{Command: "addToGroup", Params: byMembership},
		},
		{
			Name: "deleteAccount", Label: "Delete account", Description: deleteHelp,
			Params: []connectors.Field{username}, Outputs: []connectors.Output{dnOut}, Mutating: true,
		},
		{
			Name: "checkAccountExists", Label: "Check account exists", Description: "Looks the account up by username without changing anything.",
			Params: []connectors.Field{username},
			Outputs: []connectors.Output{
				{Name: "exists", Kind: connectors.KindBoolean},
				{Name: "dn", Kind: connectors.KindString, Help: "The account's DN; empty when it does not exist."}},
		},
		{
			Name: "listUsers", Label: "List users", Description: "Lists users page by page (RFC 2696 paging), one page per call.",
			Params: listParams, Outputs: listOutputs, SyncCapable: connectors.ResourceUser,
		},
		{
			Name: "listGroups", Label: "List groups", Description: "Lists groups page by page (RFC 2696 paging), one page per call.",
			Params: listParams, Outputs: listOutputs, SyncCapable: connectors.ResourceGroup,
		},
	}
}
