package scim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"floh/connectors"
)

// Test reads one user: it proves the URL, the credentials and read permission without
// changing anything, and reports how many users the application holds.
func (c *connector) Test(ctx context.Context) (connectors.TestResult, error) {
	var page listResponse
	if err := c.do(ctx, http.MethodGet, "/Users", url.Values{"count": {"1"}}, nil, &page); err != nil {
		var se *statusError
		if errors.As(err, &se) && se.status == http.StatusNotFound {
			e := connectors.Errorf(connectors.NotFound, "NOT_FOUND", "the SCIM app at %s has no /Users (HTTP 404): is baseUrl the SCIM base URL, the one /Users and /Groups are under? %s", c.base, se.detail)
			e.Err = se
			return connectors.TestResult{}, e
		}
		return connectors.TestResult{}, c.explain(err, "the list of users")
	}
	users := fmt.Sprintf("%d users", page.TotalResults)
	if page.TotalResults == 1 {
		users = "1 user"
	}
	return connectors.TestResult{
		Message: fmt.Sprintf("Connected to the SCIM app at %s with %s; it holds %s.", c.base, c.credentials(), users),
		Data:    map[string]any{"users": page.TotalResults},
	}, nil
}

// Execute runs one command with one attempt; the engine owns retries.
func (c *connector) Execute(ctx context.Context, command string, params map[string]any) (map[string]any, error) {
	switch command {
	case "createUser":
		return c.createUser(ctx, params)
	case "getUser":
		return c.getUser(ctx, str(params, "id"))
	case "deleteUser":
		return c.deleteUser(ctx, str(params, "id"))
	case "deactivateUser":
		return c.deactivateUser(ctx, str(params, "id"))
	case "updateUser":
		ops, _ := params["operations"].([]any)
		return c.updateUser(ctx, str(params, "id"), ops)
	case "addGroupMember":
		return c.addGroupMember(ctx, str(params, "groupId"), str(params, "userId"))
	case "removeGroupMember":
		return c.removeGroupMember(ctx, str(params, "groupId"), str(params, "userId"))
	case "listUsers":
		return c.listPageCommand(ctx, connectors.ResourceUser, params)
	case "listGroups":
		return c.listPageCommand(ctx, connectors.ResourceGroup, params)
	}
	return nil, connectors.Errorf(connectors.InvalidInput, "UNKNOWN_COMMAND", "the scim connector has no command %q", command)
}

func (c *connector) createUser(ctx context.Context, params map[string]any) (map[string]any, error) {
	userName := str(params, "userName")
	body := map[string]any{"schemas": []string{userSchema}, "userName": userName}
	if v := str(params, "displayName"); v != "" {
		body["displayName"] = v
	}
	if v := str(params, "externalId"); v != "" {
		body["externalId"] = v
	}
	if v := str(params, "email"); v != "" {
		body["emails"] = []any{map[string]any{"value": v, "type": "work", "primary": true}}
	}
	if v, ok := params["active"].(bool); ok {
		body["active"] = v
	}
	var user map[string]any
	if err := c.do(ctx, http.MethodPost, "/Users", nil, body, &user); err != nil {
		return nil, c.explain(err, "user "+userName)
	}
	return userOutput(user), nil
}

func (c *connector) getUser(ctx context.Context, id string) (map[string]any, error) {
	var user map[string]any
	if err := c.do(ctx, http.MethodGet, userPath(id), nil, nil, &user); err != nil {
		return nil, c.explain(err, "user "+id)
	}
	return userOutput(user), nil
}

func (c *connector) deleteUser(ctx context.Context, id string) (map[string]any, error) {
	if err := c.do(ctx, http.MethodDelete, userPath(id), nil, nil, nil); err != nil {
		return nil, c.explain(err, "user "+id)
	}
	return map[string]any{"id": id}, nil
}

func (c *connector) deactivateUser(ctx context.Context, id string) (map[string]any, error) {
	ops := []any{map[string]any{"op": "replace", "path": "active", "value": false}}
	out, before, err := c.patchUser(ctx, id, ops)
	if err != nil {
		return nil, err
	}
	if active, ok := before["active"].(bool); ok {
		out["previousActive"] = active
	}
	return out, nil
}

func (c *connector) updateUser(ctx context.Context, id string, ops []any) (map[string]any, error) {
	if err := checkOperations(ops); err != nil {
		return nil, err
	}
	if len(ops) == 0 {
		// Nothing to do: the inverse of an update that only set a password, for one.
		return map[string]any{"id": id, "inverseOperations": []any{}}, nil
	}
	out, _, err := c.patchUser(ctx, id, ops)
	return out, err
}

// patchUser reads the user, then patches it, and outputs the user after the patch with the
// operations that would restore it. Reading first is what makes the undo exact; the user may
// change in between, which no SCIM client can rule out (RFC 7644 has no PATCH precondition
// every application supports).
func (c *connector) patchUser(ctx context.Context, id string, ops []any) (out, before map[string]any, err error) {
	subject := "user " + id
	if err := c.do(ctx, http.MethodGet, userPath(id), nil, nil, &before); err != nil {
		return nil, nil, c.explain(err, subject)
	}
	inverse := inverseOperations(before, ops)
	var after map[string]any
	if err := c.do(ctx, http.MethodPatch, userPath(id), nil, patchBody(ops), &after); err != nil {
		return nil, nil, c.explain(err, subject)
	}
	out = map[string]any{"id": id}
	if after != nil {
		// A 204 answer carries no user; the outputs then say only what the call itself knows.
		out = userOutput(after)
	}
	out["inverseOperations"] = inverse
	return out, before, nil
}

// addGroupMember first asks whether the user is already a member: SCIM treats adding an
// existing member as success, but then undoing this call would remove a membership it did not
// create, so an existing membership is a conflict, as for every other connector.
func (c *connector) addGroupMember(ctx context.Context, groupID, userID string) (map[string]any, error) {
	subject := fmt.Sprintf("group %s", groupID)
	query := url.Values{
		"filter": {fmt.Sprintf("id eq %s and members[value eq %s]", quote(groupID), quote(userID))},
		"count":  {"1"},
	}
	var page listResponse
	if err := c.do(ctx, http.MethodGet, "/Groups", query, nil, &page); err != nil {
		return nil, c.explain(err, subject)
	}
	if page.TotalResults > 0 {
		return nil, connectors.Errorf(connectors.Conflict, "ALREADY_MEMBER", "user %s is already a member of group %s in the SCIM app at %s", userID, groupID, c.base)
	}
	ops := []any{map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": userID}}}}
	if err := c.do(ctx, http.MethodPatch, groupPath(groupID), nil, patchBody(ops), nil); err != nil {
		return nil, c.explain(err, fmt.Sprintf("user %s in %s", userID, subject))
	}
	return map[string]any{"groupId": groupID, "userId": userID}, nil
}

func (c *connector) removeGroupMember(ctx context.Context, groupID, userID string) (map[string]any, error) {
	ops := []any{map[string]any{"op": "remove", "path": fmt.Sprintf("members[value eq %s]", quote(userID))}}
	err := c.do(ctx, http.MethodPatch, groupPath(groupID), nil, patchBody(ops), nil)
	var se *statusError
	if errors.As(err, &se) && se.status == http.StatusBadRequest && se.scimType == "noTarget" {
		// The filter selected no member (RFC 7644 §3.5.2.2).
		e := connectors.Errorf(connectors.NotFound, "NOT_A_MEMBER", "user %s is not a member of group %s in the SCIM app at %s", userID, groupID, c.base)
		e.Err = se
		return nil, e
	}
	if err != nil {
		return nil, c.explain(err, fmt.Sprintf("group %s", groupID))
	}
	return map[string]any{"groupId": groupID, "userId": userID}, nil
}

// checkOperations rejects operations that are not SCIM PATCH operations before any call, so
// the inverse can be computed from well-formed ones.
func checkOperations(ops []any) error {
	for i, o := range ops {
		bad := func(format string, args ...any) error {
			e := connectors.Errorf(connectors.InvalidInput, "INVALID_OPERATIONS", "updateUser was not called: operation %d %s", i+1, fmt.Sprintf(format, args...))
			e.Field = "operations"
			return e
		}
		op, ok := o.(map[string]any)
		if !ok {
			return bad("must be an object with op, path and value")
		}
		name, _ := op["op"].(string)
		path, _ := op["path"].(string)
		if v := op["path"]; v != nil && path == "" {
			return bad("has a path that is empty or not text")
		}
		hasPath := path != ""
		switch opName(op) {
		case "add", "replace":
			if op["value"] == nil {
				return bad("(%s) needs a value", name)
			}
			if _, ok := op["value"].(map[string]any); !hasPath && !ok {
				return bad("(%s) without a path needs an object of attributes as its value", name)
			}
		case "remove":
			if !hasPath {
				return bad("(remove) needs a path")
			}
		default:
			return bad("has op %q; it must be add, replace or remove", name)
		}
	}
	return nil
}

func patchBody(ops []any) map[string]any {
	return map[string]any{"schemas": []string{patchOp}, "Operations": ops}
}

// userOutput is what user commands return: the common fields flat, the whole user as
// resource.
func userOutput(user map[string]any) map[string]any {
	out := map[string]any{"resource": user}
	for _, name := range []string{"id", "userName", "displayName", "externalId", "active"} {
		if v, ok := user[name]; ok {
			out[name] = v
		}
	}
	if email := primaryEmail(user); email != "" {
		out["email"] = email
	}
	return out
}

// primaryEmail returns the email marked primary, or else the first.
func primaryEmail(user map[string]any) string {
	emails, _ := user["emails"].([]any)
	first := ""
	for _, e := range emails {
		m, _ := e.(map[string]any)
		v, _ := m["value"].(string)
		if primary, _ := m["primary"].(bool); primary && v != "" {
			return v
		}
		if first == "" {
			first = v
		}
	}
	return first
}

func userPath(id string) string  { return "/Users/" + url.PathEscape(id) }
func groupPath(id string) string { return "/Groups/" + url.PathEscape(id) }

// quote makes a SCIM filter string literal, which is a JSON string (RFC 7644 §3.4.2.2), so an
// id cannot break out of it.
func quote(s string) string {
	b, _ := json.Marshal(s) // a string always encodes
	return string(b)
}

func str(params map[string]any, name string) string {
	s, _ := params[name].(string)
	return s
}
