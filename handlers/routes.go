package handlers

import (
	"net/http"
	"strings"

	"floh/engine"
	"floh/static"
)

// routes is every route of the app with the permission it needs. The route × role test walks
// this table, so a route cannot be added without deciding who may call it.
func (s *Server) routes() []route {
	const (
		userRead     = engine.PermUserRead
		userManage   = engine.PermUserManage
		auditRead    = engine.PermAuditRead
		eventRead    = engine.PermEventRead
		settings     = engine.PermSettingsManage
		wfRead       = engine.PermWorkflowRead
		wfCreate     = engine.PermWorkflowCreate
		wfUpdate     = engine.PermWorkflowUpdate
		wfPublish    = engine.PermWorkflowPublish
		wfStart      = engine.PermWorkflowStart
		runRead      = engine.PermRunRead
		runCancel    = engine.PermRunCancel
		taskRead     = engine.PermTaskRead
		decide       = engine.PermApprovalDecide
		connRead     = engine.PermConnectorRead
		connManage   = engine.PermConnectorManage
		anySignedIn  = engine.Permission("")
		publicAccess = true
	)
	return []route{
		// Health and login.
		{method: "GET", pattern: "/api/health", public: publicAccess, h: s.health},
		{method: "GET", pattern: "/api/auth/login", public: publicAccess, h: s.login},
		{method: "GET", pattern: "/api/auth/callback", public: publicAccess, h: s.callback},
		{method: "GET", pattern: "/signed-out", public: publicAccess, h: s.signedOut},
		{method: "POST", pattern: "/logout", public: publicAccess, h: s.logoutPage},

		// The signed-in user: session, profile, API tokens.
		{method: "POST", pattern: "/api/auth/logout", perm: anySignedIn, h: s.logoutAPI},
		{method: "GET", pattern: "/api/auth/me", perm: anySignedIn, h: s.me},
		{method: "GET", pattern: "/api/auth/session", perm: anySignedIn, passive: true, h: s.sessionInfo},
		{method: "POST", pattern: "/api/auth/session/extend", perm: anySignedIn, h: s.extendSession},
		{method: "GET", pattern: "/api/auth/tokens", perm: anySignedIn, h: s.listTokensAPI},
		{method: "POST", pattern: "/api/auth/tokens", perm: anySignedIn, h: s.createTokenAPI},
		{method: "DELETE", pattern: "/api/auth/tokens/{id}", perm: anySignedIn, h: s.revokeTokenAPI},
		{method: "GET", pattern: "/api/system-roles", perm: anySignedIn, h: s.systemRoles},
		{method: "GET", pattern: "/{$}", perm: anySignedIn, h: s.dashboard},
		{method: "GET", pattern: "/profile", perm: anySignedIn, h: s.showProfile},
		{method: "POST", pattern: "/profile/tokens", perm: anySignedIn, h: s.createToken},
		{method: "POST", pattern: "/profile/tokens/{id}/revoke", perm: anySignedIn, h: s.revokeToken},

		// Notifications (each user's own).
		{method: "GET", pattern: "/api/notifications", perm: anySignedIn, h: s.listNotificationsAPI},
		{method: "POST", pattern: "/api/notifications/{id}/read", perm: anySignedIn, h: s.readNotificationAPI},
		{method: "POST", pattern: "/api/notifications/read-all", perm: anySignedIn, h: s.readAllNotificationsAPI},
		{method: "GET", pattern: "/notifications", perm: anySignedIn, h: s.listNotifications},
		{method: "GET", pattern: "/notifications/unread", perm: anySignedIn, passive: true, h: s.unreadLink},
		{method: "POST", pattern: "/notifications/{id}/read", perm: anySignedIn, h: s.readNotification},
		{method: "POST", pattern: "/notifications/read-all", perm: anySignedIn, h: s.readAllNotifications},

		// Users.
		{method: "GET", pattern: "/api/users", perm: userRead, h: s.listUsersAPI},
		{method: "POST", pattern: "/api/users", perm: userManage, h: s.createUserAPI},
		{method: "GET", pattern: "/api/users/{id}", perm: userRead, h: s.showUserAPI},
		{method: "PATCH", pattern: "/api/users/{id}", perm: userManage, h: s.updateUserAPI},
		{method: "DELETE", pattern: "/api/users/{id}", perm: userManage, h: s.deleteUserAPI},
		{method: "POST", pattern: "/api/users/{id}/restore", perm: userManage, h: s.restoreUserAPI},
		{method: "PUT", pattern: "/api/users/{id}/roles", perm: userManage, h: s.setRolesAPI},
		{method: "GET", pattern: "/api/users/{id}/profile", perm: userRead, h: s.showProfileAPI},
		{method: "PATCH", pattern: "/api/users/{id}/profile", perm: userManage, h: s.updateProfileAPI},
		{method: "GET", pattern: "/api/users/{id}/external-identities", perm: userRead, h: s.listIdentitiesAPI},
		{method: "GET", pattern: "/api/users/{id}/workflow-activity", perm: userRead, h: s.userActivityAPI},
		{method: "GET", pattern: "/users", perm: userRead, h: s.listUsers},
		{method: "GET", pattern: "/users/new", perm: userManage, h: s.newUser},
		{method: "POST", pattern: "/users", perm: userManage, h: s.createUser},
		{method: "GET", pattern: "/users/{id}", perm: userRead, h: s.showUser},
		{method: "GET", pattern: "/users/{id}/edit", perm: userManage, h: s.editUser},
		{method: "POST", pattern: "/users/{id}", perm: userManage, h: s.updateUser},
		{method: "POST", pattern: "/users/{id}/roles", perm: userManage, h: s.setRoles},
		{method: "POST", pattern: "/users/{id}/profile", perm: userManage, h: s.updateProfile},
		{method: "GET", pattern: "/users/{id}/delete", perm: userManage, h: s.confirmDeleteUser},
		{method: "POST", pattern: "/users/{id}/delete", perm: userManage, h: s.deleteUser},
		{method: "POST", pattern: "/users/{id}/restore", perm: userManage, h: s.restoreUser},
		{method: "POST", pattern: "/users/{id}/tokens/{tokenId}/revoke", perm: userManage, h: s.revokeUserToken},

		// Connectors. Test and execute contact the target, so they need manage; rotating the
		// encryption key of every connector's secrets is an operator's job.
		{method: "GET", pattern: "/api/connector-types", perm: connRead, h: s.listConnectorTypesAPI},
		{method: "GET", pattern: "/api/connectors", perm: connRead, h: s.listConnectorsAPI},
		{method: "POST", pattern: "/api/connectors", perm: connManage, h: s.createConnectorAPI},
		{method: "POST", pattern: "/api/connectors/rotate-keys", perm: settings, h: s.rotateKeysAPI},
		{method: "GET", pattern: "/api/connectors/{id}", perm: connRead, h: s.showConnectorAPI},
		{method: "PUT", pattern: "/api/connectors/{id}", perm: connManage, h: s.updateConnectorAPI},
		{method: "DELETE", pattern: "/api/connectors/{id}", perm: connManage, h: s.deleteConnectorAPI},
		{method: "POST", pattern: "/api/connectors/{id}/restore", perm: connManage, h: s.restoreConnectorAPI},
		{method: "POST", pattern: "/api/connectors/{id}/test", perm: connManage, h: s.testConnectorAPI},
		{method: "POST", pattern: "/api/connectors/{id}/execute", perm: connManage, h: s.executeConnectorAPI},
		{method: "GET", pattern: "/api/connectors/{id}/executions", perm: connRead, h: s.listExecutionsAPI},

		// Resource sync API: reading configuration, runs, records and matches needs
		// connector:read; configuring, running, allowing or cancelling a run and deciding
		// matches need connector:manage. The match review is of user records only.
		{method: "GET", pattern: "/api/connectors/{id}/sync/{rt}/config", perm: connRead, h: s.showSyncConfigAPI},
		{method: "PUT", pattern: "/api/connectors/{id}/sync/{rt}/config", perm: connManage, h: s.saveSyncConfigAPI},
		{method: "POST", pattern: "/api/connectors/{id}/sync/{rt}/run", perm: connManage, h: s.startSyncAPI},
		{method: "GET", pattern: "/api/connectors/{id}/sync/{rt}/runs", perm: connRead, h: s.listSyncRunsAPI},
		{method: "POST", pattern: "/api/connectors/{id}/sync/{rt}/records", perm: connManage, h: s.syncRecordAPI},
		{method: "GET", pattern: "/api/connectors/{id}/sync/{rt}/resources", perm: connRead, h: s.listSyncResourcesAPI},
		{method: "GET", pattern: "/api/connectors/{id}/sync/user/matches", perm: connRead, h: s.listSyncMatchesAPI},
		{method: "POST", pattern: "/api/connectors/{id}/sync/user/matches/bulk-skip", perm: connManage, h: s.bulkSkipMatchesAPI},
		{method: "POST", pattern: "/api/connectors/{id}/sync/user/matches/{resourceId}/link", perm: connManage, h: s.decideMatchAPI(linkMatch)},
		{method: "POST", pattern: "/api/connectors/{id}/sync/user/matches/{resourceId}/skip", perm: connManage, h: s.decideMatchAPI(skipMatch)},
		{method: "POST", pattern: "/api/connectors/{id}/sync/user/matches/{resourceId}/create-user", perm: connManage, h: s.decideMatchAPI(createUserForMatch)},
		{method: "POST", pattern: "/api/connectors/{id}/sync/user/matches/{resourceId}/unlink", perm: connManage, h: s.decideMatchAPI(unlinkMatch)},
		{method: "GET", pattern: "/api/sync-runs/{runId}", perm: connRead, h: s.showSyncRunAPI},
		{method: "GET", pattern: "/api/sync-runs/{runId}/changes", perm: connRead, h: s.listSyncChangesAPI},
		{method: "POST", pattern: "/api/sync-runs/{runId}/allow", perm: connManage, h: s.allowSyncAPI},
		{method: "POST", pattern: "/api/sync-runs/{runId}/cancel", perm: connManage, h: s.cancelSyncAPI},

		// Connector pages: reading needs connector:read; whatever writes or contacts the target
		// (test, execute) needs connector:manage. The wizard's steps are posts because they carry
		// sealed secrets, which never belong in a URL; they store nothing until POST /connectors.
		{method: "GET", pattern: "/connectors", perm: connRead, h: s.listConnectors},
		{method: "GET", pattern: "/connectors/new", perm: connManage, h: s.newConnector},
		{method: "POST", pattern: "/connectors/new", perm: connManage, h: s.connectorWizard},
		{method: "POST", pattern: "/connectors", perm: connManage, h: s.createConnector},
		{method: "GET", pattern: "/connectors/{id}", perm: connRead, h: s.showConnector},
		{method: "POST", pattern: "/connectors/{id}", perm: connManage, h: s.updateConnector},
		{method: "POST", pattern: "/connectors/{id}/test", perm: connManage, h: s.testConnector},
		{method: "POST", pattern: "/connectors/{id}/execute", perm: connManage, h: s.executeConnector},
		{method: "GET", pattern: "/connectors/{id}/delete", perm: connManage, h: s.confirmDeleteConnector},
		{method: "POST", pattern: "/connectors/{id}/delete", perm: connManage, h: s.deleteConnector},
		{method: "POST", pattern: "/connectors/{id}/restore", perm: connManage, h: s.restoreConnector},

		// The Sync tab's pages (the guide, seed 004): connector:read to look, connector:manage
		// for every change. The status card's poll is passive: watching a run is not activity.
		// Allowing a held run asks first on a page of its own. The user picker lists users
		// only to link one, which is a change.
		{method: "GET", pattern: "/connectors/{id}/sync/{rt}", perm: connRead, h: s.showSync},
		{method: "GET", pattern: "/connectors/{id}/sync/{rt}/status", perm: connRead, passive: true, h: s.syncStatus},
		{method: "POST", pattern: "/connectors/{id}/sync/{rt}/config", perm: connManage, h: s.saveSyncConfigPage},
		{method: "POST", pattern: "/connectors/{id}/sync/{rt}/run", perm: connManage, h: s.startSyncPage},
		{method: "GET", pattern: "/connectors/{id}/sync/{rt}/runs/{runId}", perm: connRead, h: s.showSyncRun},
		{method: "POST", pattern: "/connectors/{id}/sync/{rt}/runs/{runId}/cancel", perm: connManage, h: s.cancelSyncPage},
		{method: "GET", pattern: "/connectors/{id}/sync/{rt}/runs/{runId}/allow", perm: connManage, h: s.confirmAllowSync},
		{method: "POST", pattern: "/connectors/{id}/sync/{rt}/runs/{runId}/allow", perm: connManage, h: s.allowSyncPage},
		{method: "GET", pattern: "/connectors/{id}/sync/user/matches/{resourceId}/link", perm: connManage, h: s.syncPicker},
		{method: "POST", pattern: "/connectors/{id}/sync/user/matches/{resourceId}/link", perm: connManage, h: s.linkMatchPage},
		{method: "POST", pattern: "/connectors/{id}/sync/user/matches/{resourceId}/skip", perm: connManage, h: s.skipMatchPage},
		{method: "POST", pattern: "/connectors/{id}/sync/user/matches/{resourceId}/create-user", perm: connManage, h: s.createUserForMatchPage},
		{method: "POST", pattern: "/connectors/{id}/sync/user/matches/{resourceId}/unlink", perm: connManage, h: s.unlinkMatchPage},
		{method: "POST", pattern: "/connectors/{id}/sync/user/matches/bulk-skip", perm: connManage, h: s.bulkSkipPage},

		// Workflows. Lint reads nothing but the connector catalogue, so reading suffices.
		{method: "GET", pattern: "/api/workflows", perm: wfRead, h: s.listWorkflowsAPI},
		{method: "POST", pattern: "/api/workflows", perm: wfCreate, h: s.createWorkflowAPI},
		{method: "POST", pattern: "/api/workflows/lint", perm: wfRead, h: s.lintWorkflowAPI},
		{method: "GET", pattern: "/api/workflows/{id}", perm: wfRead, h: s.showWorkflowAPI},
		{method: "PUT", pattern: "/api/workflows/{id}", perm: wfUpdate, h: s.updateWorkflowAPI},
		{method: "DELETE", pattern: "/api/workflows/{id}", perm: wfUpdate, h: s.deleteWorkflowAPI},
		{method: "POST", pattern: "/api/workflows/{id}/publish", perm: wfPublish, h: s.publishWorkflowAPI},
		{method: "POST", pattern: "/api/workflows/{id}/deprecate", perm: wfPublish, h: s.deprecateWorkflowAPI},
		{method: "GET", pattern: "/api/workflows/{id}/versions", perm: wfRead, h: s.listWorkflowVersionsAPI},
		{method: "GET", pattern: "/api/workflows/{id}/versions/{n}", perm: wfRead, h: s.showWorkflowVersionAPI},
		{method: "GET", pattern: "/api/workflows/{id}/diff", perm: wfRead, h: s.diffWorkflowAPI},
		{method: "POST", pattern: "/api/workflows/{id}/draft", perm: wfUpdate, h: s.newWorkflowDraftAPI},
		{method: "POST", pattern: "/api/workflows/{id}/start", perm: wfStart, h: s.startWorkflowAPI},
		{method: "GET", pattern: "/api/workflow-templates", perm: wfRead, h: s.listWorkflowTemplatesAPI},
		{method: "POST", pattern: "/api/workflows/{id}/insert-template", perm: wfUpdate, h: s.insertTemplateAPI},

		// Runs. Changing a running run's variables, cancelling, retrying and rolling back are all
		// "operating a run", which run:cancel grants.
		{method: "GET", pattern: "/api/runs", perm: anySignedIn, h: s.listRunsAPI},
		{method: "GET", pattern: "/api/runs/{id}", perm: anySignedIn, h: s.showRunAPI},
		{method: "PUT", pattern: "/api/runs/{id}", perm: runCancel, h: s.updateRunAPI},
		{method: "POST", pattern: "/api/runs/{id}/cancel", perm: runCancel, h: s.cancelRunAPI},
		{method: "POST", pattern: "/api/runs/{id}/retry", perm: runCancel, h: s.retryRunAPI},
		{method: "GET", pattern: "/api/runs/{id}/timeline", perm: anySignedIn, h: s.runTimelineAPI},
		{method: "GET", pattern: "/api/runs/{id}/diagnose", perm: anySignedIn, h: s.diagnoseRunAPI},
		{method: "GET", pattern: "/api/runs/{id}/rollback-plan", perm: anySignedIn, h: s.rollbackPlanAPI},
		{method: "POST", pattern: "/api/runs/{id}/rollback", perm: runCancel, h: s.rollbackRunAPI},

		// Tasks and approvals. task:read lets someone see and work what is theirs or their
		// roles'; the engine checks the rest (task:assign to give a task to someone else,
		// approval:decide to decide, being the task's assignee or in its role).
		{method: "GET", pattern: "/api/tasks", perm: taskRead, h: s.listTasksAPI},
		{method: "GET", pattern: "/api/tasks/{id}", perm: taskRead, h: s.showTaskAPI},
		{method: "POST", pattern: "/api/tasks/{id}/claim", perm: taskRead, h: s.taskActionAPI(engine.TaskClaim)},
		{method: "POST", pattern: "/api/tasks/{id}/assign", perm: engine.PermTaskAssign, h: s.taskActionAPI(engine.TaskAssign)},
		{method: "POST", pattern: "/api/tasks/{id}/unassign", perm: taskRead, h: s.taskActionAPI(engine.TaskUnassign)},
		{method: "POST", pattern: "/api/tasks/{id}/hold", perm: taskRead, h: s.taskActionAPI(engine.TaskHold)},
		{method: "POST", pattern: "/api/tasks/{id}/unhold", perm: taskRead, h: s.taskActionAPI(engine.TaskUnhold)},
		{method: "POST", pattern: "/api/tasks/{id}/complete", perm: taskRead, h: s.taskActionAPI(engine.TaskComplete)},
		{method: "GET", pattern: "/api/approvals", perm: taskRead, h: s.listApprovalsAPI},
		{method: "POST", pattern: "/api/approvals/{id}/decide", perm: decide, h: s.decideApprovalAPI},

		// The Tasks page, with the API's permissions: each action is a form post of its own.
		{method: "GET", pattern: "/tasks", perm: taskRead, h: s.listTaskPage},
		{method: "GET", pattern: "/tasks/count", perm: taskRead, passive: true, h: s.taskCountLink},
		{method: "POST", pattern: "/tasks/{id}/claim", perm: taskRead, h: s.actOnTaskPage(engine.TaskClaim)},
		{method: "POST", pattern: "/tasks/{id}/assign", perm: engine.PermTaskAssign, h: s.actOnTaskPage(engine.TaskAssign)},
		{method: "POST", pattern: "/tasks/{id}/unassign", perm: taskRead, h: s.actOnTaskPage(engine.TaskUnassign)},
		{method: "POST", pattern: "/tasks/{id}/hold", perm: taskRead, h: s.actOnTaskPage(engine.TaskHold)},
		{method: "POST", pattern: "/tasks/{id}/unhold", perm: taskRead, h: s.actOnTaskPage(engine.TaskUnhold)},
		{method: "POST", pattern: "/tasks/{id}/complete", perm: taskRead, h: s.actOnTaskPage(engine.TaskComplete)},
		{method: "POST", pattern: "/tasks/{id}/approve", perm: decide, h: s.actOnTaskPage(engine.TaskApprove)},
		{method: "POST", pattern: "/tasks/{id}/reject", perm: decide, h: s.actOnTaskPage(engine.TaskReject)},

		// Workflow pages, with the API's permissions: saving the JSON editor, importing a file as
		// the draft, deleting and opening a new draft need workflow:update; importing a file as a
		// new workflow workflow:create; publishing and deprecating workflow:publish.
		{method: "GET", pattern: "/workflows", perm: wfRead, h: s.listWorkflows},
		{method: "GET", pattern: "/workflows/new", perm: wfCreate, h: s.newWorkflow},
		{method: "POST", pattern: "/workflows", perm: wfCreate, h: s.createWorkflow},
		{method: "POST", pattern: "/workflows/import", perm: wfCreate, maxBody: maxUploadBody, h: s.importWorkflow},
		{method: "GET", pattern: "/workflows/{id}", perm: wfRead, h: s.showWorkflow},
		{method: "POST", pattern: "/workflows/{id}", perm: wfUpdate, h: s.updateWorkflow},
		{method: "GET", pattern: "/workflows/{id}/publish", perm: wfPublish, h: s.confirmPublishWorkflow},
		{method: "POST", pattern: "/workflows/{id}/publish", perm: wfPublish, h: s.publishWorkflow},
		{method: "GET", pattern: "/workflows/{id}/deprecate", perm: wfPublish, h: s.confirmDeprecateWorkflow},
		{method: "POST", pattern: "/workflows/{id}/deprecate", perm: wfPublish, h: s.deprecateWorkflow},
		{method: "GET", pattern: "/workflows/{id}/delete", perm: wfUpdate, h: s.confirmDeleteWorkflow},
		{method: "POST", pattern: "/workflows/{id}/delete", perm: wfUpdate, h: s.deleteWorkflow},
		{method: "POST", pattern: "/workflows/{id}/draft", perm: wfUpdate, h: s.newWorkflowDraft},
		{method: "GET", pattern: "/workflows/{id}/diff", perm: wfRead, h: s.diffWorkflow},
		{method: "GET", pattern: "/workflows/{id}/export", perm: wfRead, h: s.exportWorkflow},
		{method: "POST", pattern: "/workflows/{id}/import", perm: wfUpdate, maxBody: maxUploadBody, h: s.importDraft},
		// The designer: each edit is its own post, saved at once; undo takes back the last 20.
		{method: "GET", pattern: "/workflows/{id}/design", perm: wfRead, h: s.showDesigner},
		{method: "POST", pattern: "/workflows/{id}/design/steps", perm: wfUpdate, h: s.addDesignStep},
		{method: "POST", pattern: "/workflows/{id}/design/steps/{step}", perm: wfUpdate, h: s.updateDesignStep},
		{method: "POST", pattern: "/workflows/{id}/design/steps/{step}/delete", perm: wfUpdate, h: s.deleteDesignStep},
		{method: "POST", pattern: "/workflows/{id}/design/edges", perm: wfUpdate, h: s.connectDesignSteps},
		{method: "POST", pattern: "/workflows/{id}/design/edges/delete", perm: wfUpdate, h: s.disconnectDesignSteps},
		{method: "POST", pattern: "/workflows/{id}/design/variables", perm: wfUpdate, h: s.saveDesignVariable},
		{method: "POST", pattern: "/workflows/{id}/design/variables/delete", perm: wfUpdate, h: s.deleteDesignVariable},
		{method: "POST", pattern: "/workflows/{id}/design/settings", perm: wfUpdate, h: s.saveDesignSettings},
		{method: "POST", pattern: "/workflows/{id}/design/json", perm: wfUpdate, h: s.saveDesignJSON},
		{method: "POST", pattern: "/workflows/{id}/design/undo", perm: wfUpdate, h: s.undoDesignEdit},
		{method: "GET", pattern: "/workflows/{id}/start", perm: wfStart, h: s.startForm},
		{method: "POST", pattern: "/workflows/{id}/start", perm: wfStart, h: s.startRun},
		// Insert from Template: anyone who reads workflows may browse the templates; choosing
		// one's connectors and variables is the first step of changing the draft.
		{method: "GET", pattern: "/workflows/{id}/templates", perm: wfRead, h: s.listTemplatesPage},
		{method: "GET", pattern: "/workflows/{id}/templates/{templateId}", perm: wfUpdate, h: s.templateForm},
		{method: "POST", pattern: "/workflows/{id}/templates/{templateId}", perm: wfUpdate, h: s.insertTemplate},

		// Run pages, with the API's permissions: cancelling, retrying and rolling back need
		// run:cancel; the diagnose panel is part of the run's page.
		{method: "GET", pattern: "/runs", perm: anySignedIn, h: s.listRuns},
		{method: "GET", pattern: "/runs/{id}", perm: anySignedIn, h: s.showRun},
		{method: "GET", pattern: "/runs/{id}/cancel", perm: runCancel, h: s.confirmCancelRun},
		{method: "POST", pattern: "/runs/{id}/cancel", perm: runCancel, h: s.cancelRun},
		{method: "POST", pattern: "/runs/{id}/retry", perm: runCancel, h: s.retryRun},
		{method: "GET", pattern: "/runs/{id}/rollback", perm: runCancel, h: s.confirmRollbackRun},
		{method: "POST", pattern: "/runs/{id}/rollback", perm: runCancel, h: s.rollbackRun},

		// Audit, events, incidents.
		{method: "GET", pattern: "/api/audit", perm: auditRead, h: s.listAuditAPI},
		{method: "GET", pattern: "/api/audit/verify", perm: auditRead, h: s.verifyAuditAPI},
		{method: "GET", pattern: "/audit", perm: auditRead, h: s.listAudit},
		{method: "GET", pattern: "/audit/verify", perm: auditRead, h: s.verifyAudit},
		{method: "GET", pattern: "/api/events", perm: eventRead, h: s.listEventsAPI},
		{method: "GET", pattern: "/events", perm: eventRead, h: s.listEvents},
		{method: "GET", pattern: "/api/incidents", perm: eventRead, h: s.listIncidentsAPI},
		{method: "GET", pattern: "/api/incidents/{id}", perm: eventRead, h: s.showIncidentAPI},
		{method: "GET", pattern: "/incidents", perm: eventRead, h: s.listIncidents},
		{method: "GET", pattern: "/incidents/{id}", perm: eventRead, h: s.showIncident},

		// Settings.
		{method: "GET", pattern: "/settings", perm: settings, h: s.showSettings},
		{method: "POST", pattern: "/settings/rotate-keys", perm: settings, h: s.rotateKeys},
	}
}

// staticHandler serves the embedded assets; versioned URLs are cached for a year.
func staticHandler() http.Handler {
	files := http.StripPrefix("/static/", http.FileServerFS(static.FS))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		if r.URL.Query().Get("v") != "" {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		}
		files.ServeHTTP(w, r)
	})
}
