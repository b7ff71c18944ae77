package engine

// AuditEntities and AuditActions are every entity and action the engine writes to the audit
// log, in the order the audit page offers them as filters. A test keeps them in step with the
// engine's audit calls.
var (
	AuditEntities = []string{"user", "api_token", "connector", "workflow", "run"}
	AuditActions  = []string{
		"user.login", "user.logout", "user.created", "user.confirmed", "user.updated",
		"user.profile_updated", "user.roles_changed", "user.deleted", "user.restored",
		"token.created", "token.revoked",
		"connector.created", "connector.updated", "connector.deleted", "connector.restored", "connector.keys_rotated",
		"connector.sync_configured", "connector.sync_started", "connector.sync_allowed", "connector.sync_cancelled",
		"connector.match_linked", "connector.match_skipped", "connector.match_unlinked", "connector.match_user_created",
		"connector.match_bulk_skipped",
		"workflow.created", "workflow.updated", "workflow.edit_undone", "workflow.published", "workflow.deprecated", "workflow.draft_created",
		"workflow.imported", "workflow.draft_imported", "workflow.deleted",
		"run.started", "run.cancelled", "run.retried", "run.variables_updated", "run.rolled_back",
	}
)

// ConnectorConfigActions are the audit actions that change how a connector is set up: what
// an incident about the connector lists as its recent configuration changes.
var ConnectorConfigActions = []string{"connector.created", "connector.updated", "connector.deleted", "connector.restored",
	"connector.keys_rotated", "connector.sync_configured"}
