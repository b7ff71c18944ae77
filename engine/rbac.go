package engine

import "slices"

// Permission is a `resource:action` right checked on every route.
type Permission string

// The permissions of PRODUCT §1.
const (
	PermUserRead        Permission = "user:read"
	PermUserManage      Permission = "user:manage"
	PermConnectorRead   Permission = "connector:read"
	PermConnectorManage Permission = "connector:manage"
	PermWorkflowRead    Permission = "workflow:read"
	PermWorkflowCreate  Permission = "workflow:create"
	PermWorkflowUpdate  Permission = "workflow:update"
	PermWorkflowPublish Permission = "workflow:publish"
	PermWorkflowStart   Permission = "workflow:start"
	PermRunRead         Permission = "run:read"
	PermRunCancel       Permission = "run:cancel"
	PermTaskRead        Permission = "task:read"
	PermTaskAssign      Permission = "task:assign"
	PermApprovalDecide  Permission = "approval:decide"
	PermAuditRead       Permission = "audit:read"
	PermEventRead       Permission = "event:read"
	PermSettingsManage  Permission = "settings:manage"
)

// AllPermissions lists every permission in the order the settings page shows them.
var AllPermissions = []Permission{
	PermUserRead, PermUserManage, PermConnectorRead, PermConnectorManage,
	PermWorkflowRead, PermWorkflowCreate, PermWorkflowUpdate, PermWorkflowPublish, PermWorkflowStart,
	PermRunRead, PermRunCancel, PermTaskRead, PermTaskAssign, PermApprovalDecide,
	PermAuditRead, PermEventRead, PermSettingsManage,
}

// System roles.
const (
	RoleAdmin           = "Admin"
	RoleResourceManager = "Resource Manager"
	RoleApprover        = "Approver"
	RoleRequestor       = "Requestor"
)

// SystemRole is a named bundle of permissions.
type SystemRole struct {
	Name        string       `json:"name"`
	Description string       `json:"description"`
	Permissions []Permission `json:"permissions"`
}

// SystemRoles is the role × permission table of PRODUCT §1.
var SystemRoles = []SystemRole{
	{
		Name:        RoleAdmin,
		Description: "Full access: users and their roles, connectors, workflows, runs, audit and settings.",
		Permissions: AllPermissions,
	},
	{
		Name:        RoleResourceManager,
		Description: "Runs provisioning: connectors and syncs, workflows, runs, tasks, audit and events.",
		Permissions: []Permission{
			PermUserRead, PermConnectorRead, PermConnectorManage,
			PermWorkflowRead, PermWorkflowCreate, PermWorkflowUpdate, PermWorkflowPublish, PermWorkflowStart,
			PermRunRead, PermRunCancel, PermTaskRead, PermTaskAssign, PermApprovalDecide,
			PermAuditRead, PermEventRead,
		},
	},
	{
		Name:        RoleApprover,
		Description: "Decides the approvals assigned to them and reads runs.",
		Permissions: []Permission{PermWorkflowRead, PermRunRead, PermTaskRead, PermApprovalDecide},
	},
	{
		Name:        RoleRequestor,
		Description: "Starts workflows and follows the runs they started.",
		Permissions: []Permission{PermWorkflowRead, PermWorkflowStart, PermTaskRead},
	},
}

// IsSystemRole reports whether name is one of the four system roles.
func IsSystemRole(name string) bool {
	return slices.ContainsFunc(SystemRoles, func(r SystemRole) bool { return r.Name == name })
}

// IsPermission reports whether p names a known permission.
func IsPermission(p string) bool {
	return slices.Contains(AllPermissions, Permission(p))
}

// PermissionSet is the set of permissions an actor holds.
type PermissionSet map[Permission]bool

// PermissionsOf is the union of the permissions of the given roles.
func PermissionsOf(roles []string) PermissionSet {
	set := PermissionSet{}
	for _, r := range SystemRoles {
		if slices.Contains(roles, r.Name) {
			for _, p := range r.Permissions {
				set[p] = true
			}
		}
	}
	return set
}

// Intersect keeps only the permissions also named in grants.
func (s PermissionSet) Intersect(grants []string) PermissionSet {
	out := PermissionSet{}
	for _, g := range grants {
		if s[Permission(g)] {
			out[Permission(g)] = true
		}
	}
	return out
}

// List returns the permissions in the canonical order.
func (s PermissionSet) List() []string {
	out := []string{}
	for _, p := range AllPermissions {
		if s[p] {
			out = append(out, string(p))
		}
	}
	return out
}
