package authifi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"floh/connectors"
)

const (
	// maxPageSize is the largest page Authifi serves.
	maxPageSize = 500
	// lookupLimit bounds an email lookup: one email exists once per issuer, so more hits
	// than this would be a tenant to ask questions about, and still a conflict.
	lookupLimit = 50
)

// user is Authifi's user object. A null identityIssuer or externalId decodes as "".
type user struct {
	ID             string   `json:"id"`
	Email          string   `json:"email"`
	DisplayName    string   `json:"displayName"`
	IdentityIssuer string   `json:"identityIssuer"`
	ExternalID     string   `json:"externalId"`
	Federated      bool     `json:"federated"`
	Enabled        bool     `json:"enabled"`
	Roles          []string `json:"roles"`
	CreatedAt      string   `json:"createdAt"`
	UpdatedAt      string   `json:"updatedAt"`
}

func (u user) outputs() map[string]any {
	return map[string]any{
		"id":             u.ID,
		"email":          u.Email,
		"displayName":    u.DisplayName,
		"identityIssuer": u.IdentityIssuer,
		"externalId":     u.ExternalID,
		"federated":      u.Federated,
		"enabled":        u.Enabled,
		"roles":          nonNil(u.Roles),
		"createdAt":      u.CreatedAt,
		"updatedAt":      u.UpdatedAt,
	}
}

// record is the user for sync. Authifi's externalId (the id at the upstream IdP) goes into
// the attributes, since the record's ExternalID is Authifi's own id.
func (u user) record() connectors.Record {
	return connectors.Record{
		ExternalID:  u.ID,
		Email:       u.Email,
		DisplayName: u.DisplayName,
		Attributes: map[string]any{
			"identityIssuer": u.IdentityIssuer,
			"externalId":     u.ExternalID,
			"federated":      u.Federated,
			"enabled":        u.Enabled,
			"roles":          nonNil(u.Roles),
			"createdAt":      u.CreatedAt,
			"updatedAt":      u.UpdatedAt,
		},
	}
}

// group is Authifi's group object.
type group struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	MemberCount int    `json:"memberCount"`
	UpdatedAt   string `json:"updatedAt"`
}

func (g group) record() connectors.Record {
	return connectors.Record{
		ExternalID:  g.ID,
		DisplayName: g.Name,
		Attributes: map[string]any{
			"description": g.Description,
			"memberCount": g.MemberCount,
			"updatedAt":   g.UpdatedAt,
		},
	}
}

// listAnswer is a page of a list endpoint.
type listAnswer[T any] struct {
	Data       []T     `json:"data"`
	NextCursor *string `json:"nextCursor"`
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func str(params map[string]any, name string) string {
	s, _ := params[name].(string)
	return s
}

// Execute runs one command once.
func (c *Connector) Execute(ctx context.Context, command string, params map[string]any) (map[string]any, error) {
	switch command {
	case "createUser":
		return c.createUser(ctx, params)
	case "deleteUser":
		return c.deleteUser(ctx, params)
	case "assignRoles":
		return c.assignRoles(ctx, params)
	case "removeRoles":
		return c.removeRoles(ctx, params)
	case "addToGroup":
		return c.addToGroup(ctx, params)
	case "removeFromGroup":
		return c.removeFromGroup(ctx, params)
	case "checkGroupMembership":
		return c.checkGroupMembership(ctx, params)
	case "setPassword":
		return c.setPassword(ctx, params)
	case "linkExternalIdentity":
		return c.linkExternalIdentity(ctx, params)
	case "unlinkExternalIdentity":
		return c.unlinkExternalIdentity(ctx, params)
	case "listUsers":
		return c.listOnePage(ctx, connectors.ResourceUser, params)
	case "listGroups":
		return c.listOnePage(ctx, connectors.ResourceGroup, params)
	}
	return nil, connectors.Errorf(connectors.InvalidInput, "UNKNOWN_COMMAND", "the Authifi connector has no command %q", command)
}

// subject is the user a command names: an email, narrowed by an issuer when given.
type subject struct {
	email       string
	issuer      string
	issuerParam string // the param holding the issuer, to name in messages
}

func subjectOf(params map[string]any, issuerParam string) (subject, error) {
	s := subject{email: str(params, "email"), issuer: str(params, issuerParam), issuerParam: issuerParam}
	if s.email == "" {
		return s, &connectors.Error{Class: connectors.InvalidInput, Code: "INVALID_PARAMS", Field: "email", Message: "email is required"}
	}
	return s, nil
}

func (s subject) String() string { return userName(s.email, s.issuer) }

// userName names a user in messages, with the issuer that tells same-email users apart.
func userName(email, issuer string) string {
	if issuer == "" {
		return email
	}
	return fmt.Sprintf("%s (issuer %s)", email, issuer)
}

// find resolves a subject to exactly one user with GET /users?email= (and issuer).
func (c *Connector) find(ctx context.Context, s subject) (user, error) {
	q := url.Values{"email": {s.email}, "limit": {strconv.Itoa(lookupLimit)}}
	if s.issuer != "" {
		q.Set("issuer", s.issuer)
	}
	var page listAnswer[user]
	if err := c.call(ctx, request{method: http.MethodGet, path: "/users", query: q, what: "look up Authifi user " + s.String()}, &page); err != nil {
		return user{}, err
	}
	// Only exact matches count, whatever the filter's matching rules: acting on the wrong
	// user (a delete above all) cannot be undone.
	var hits []user
	for _, u := range page.Data {
		if strings.EqualFold(u.Email, s.email) && (s.issuer == "" || u.IdentityIssuer == s.issuer) {
			hits = append(hits, u)
		}
	}
	switch len(hits) {
	case 0:
		return user{}, connectors.Errorf(connectors.NotFound, "USER_NOT_FOUND", "no Authifi user has the email %s", s)
	case 1:
		return hits[0], nil
	}
	issuers := make([]string, len(hits))
	for i, u := range hits {
		issuers[i] = u.IdentityIssuer
		if issuers[i] == "" {
			issuers[i] = "none (a local user)"
		}
	}
	return user{}, &connectors.Error{
		Class: connectors.Conflict, Code: "AMBIGUOUS_EMAIL", Field: s.issuerParam,
		Message: fmt.Sprintf("%d Authifi users have the email %s, with issuers %s; give %s to choose one",
			len(hits), s.email, strings.Join(issuers, ", "), s.issuerParam),
	}
}

func (c *Connector) createUser(ctx context.Context, params map[string]any) (map[string]any, error) {
	email, issuer := str(params, "email"), str(params, "issuer")
	body := map[string]any{"email": email, "displayName": str(params, "displayName")}
	if issuer != "" {
		body["identityIssuer"] = issuer
	}
	if ext := str(params, "externalId"); ext != "" {
		body["externalId"] = ext
	}
	var u user
	err := c.call(ctx, request{method: http.MethodPost, path: "/users", body: body, what: "create Authifi user " + userName(email, issuer)}, &u)
	if err != nil {
		where := "a local user, no issuer"
		if issuer != "" {
			where = "issuer " + issuer
		}
		return nil, explain(err, "USER_EXISTS", "user %s already exists in Authifi (%s)", email, where)
	}
	return u.outputs(), nil
}

// deleteUser returns the user as Authifi deleted it, for the audit trail.
func (c *Connector) deleteUser(ctx context.Context, params map[string]any) (map[string]any, error) {
	s, err := subjectOf(params, "issuer")
	if err != nil {
		return nil, err
	}
	u, err := c.find(ctx, s)
	if err != nil {
		return nil, err
	}
	var deleted user
	if err := c.call(ctx, request{method: http.MethodDelete, path: "/users/" + url.PathEscape(u.ID), what: "delete Authifi user " + s.String()}, &deleted); err != nil {
		return nil, err
	}
	return deleted.outputs(), nil
}

func (c *Connector) assignRoles(ctx context.Context, params map[string]any) (map[string]any, error) {
	s, err := subjectOf(params, "issuer")
	if err != nil {
		return nil, err
	}
	u, err := c.find(ctx, s)
	if err != nil {
		return nil, err
	}
	roles, _ := params["roles"].([]string)
	var answer struct {
		Roles []string `json:"roles"`
	}
	r := request{method: http.MethodPost, path: "/users/" + url.PathEscape(u.ID) + "/roles", body: map[string]any{"roles": roles},
		what: "assign roles " + strings.Join(roles, ", ") + " to Authifi user " + s.String()}
	if err := c.call(ctx, r, &answer); err != nil {
		return nil, err
	}
	return map[string]any{"userId": u.ID, "roles": nonNil(answer.Roles)}, nil
}

// removeRoles is idempotent like Authifi's endpoint: a user that no longer exists has no roles
// to remove, so cleanup after deleteUser succeeds (the runbook relies on it) and says so in
// userFound.
func (c *Connector) removeRoles(ctx context.Context, params map[string]any) (map[string]any, error) {
	s, err := subjectOf(params, "issuer")
	if err != nil {
		return nil, err
	}
	u, err := c.find(ctx, s)
	if hasCode(err, "USER_NOT_FOUND") {
		return map[string]any{"userId": "", "roles": []string{}, "userFound": false}, nil
	}
	if err != nil {
		return nil, err
	}
	roles, _ := params["roles"].([]string)
	var answer struct {
		Roles []string `json:"roles"`
	}
	r := request{method: http.MethodDelete, path: "/users/" + url.PathEscape(u.ID) + "/roles", body: map[string]any{"roles": roles},
		what: "remove roles " + strings.Join(roles, ", ") + " from Authifi user " + s.String()}
	if err := c.call(ctx, r, &answer); err != nil {
		return nil, err
	}
	return map[string]any{"userId": u.ID, "roles": nonNil(answer.Roles), "userFound": true}, nil
}

// membership resolves the user and group of a membership command.
func (c *Connector) membership(ctx context.Context, params map[string]any) (user, string, subject, error) {
	s, err := subjectOf(params, "issuer")
	if err != nil {
		return user{}, "", s, err
	}
	u, err := c.find(ctx, s)
	return u, str(params, "groupId"), s, err
}

// explainGroup gives the membership codes a message naming the user and the group.
func explainGroup(err error, s subject, groupID string) error {
	err = explain(err, "GROUP_NOT_FOUND", "Authifi has no group with id %s", groupID)
	err = explain(err, "MEMBER_EXISTS", "user %s is already a member of Authifi group %s", s, groupID)
	return explain(err, "NOT_A_MEMBER", "user %s is not a member of Authifi group %s", s, groupID)
}

func (c *Connector) addToGroup(ctx context.Context, params map[string]any) (map[string]any, error) {
	u, groupID, s, err := c.membership(ctx, params)
	if err != nil {
		return nil, err
	}
	r := request{method: http.MethodPost, path: "/groups/" + url.PathEscape(groupID) + "/members", body: map[string]any{"userId": u.ID},
		what: "add Authifi user " + s.String() + " to group " + groupID}
	if err := c.call(ctx, r, nil); err != nil {
		return nil, explainGroup(err, s, groupID)
	}
	return map[string]any{"userId": u.ID, "groupId": groupID, "member": true}, nil
}

func (c *Connector) removeFromGroup(ctx context.Context, params map[string]any) (map[string]any, error) {
	u, groupID, s, err := c.membership(ctx, params)
	if err != nil {
		return nil, err
	}
	r := request{method: http.MethodDelete, path: "/groups/" + url.PathEscape(groupID) + "/members/" + url.PathEscape(u.ID),
		what: "remove Authifi user " + s.String() + " from group " + groupID}
	if err := c.call(ctx, r, nil); err != nil {
		return nil, explainGroup(err, s, groupID)
	}
	return map[string]any{"userId": u.ID, "groupId": groupID, "member": false}, nil
}

func (c *Connector) checkGroupMembership(ctx context.Context, params map[string]any) (map[string]any, error) {
	u, groupID, s, err := c.membership(ctx, params)
	if err != nil {
		return nil, err
	}
	r := request{method: http.MethodGet, path: "/groups/" + url.PathEscape(groupID) + "/members/" + url.PathEscape(u.ID),
		what: "check Authifi user " + s.String() + " in group " + groupID}
	err = c.call(ctx, r, nil)
	if hasCode(err, "NOT_A_MEMBER") {
		return map[string]any{"userId": u.ID, "groupId": groupID, "member": false}, nil
	}
	if err != nil {
		return nil, explainGroup(err, s, groupID)
	}
	return map[string]any{"userId": u.ID, "groupId": groupID, "member": true}, nil
}

func (c *Connector) setPassword(ctx context.Context, params map[string]any) (map[string]any, error) {
	s, err := subjectOf(params, "issuer")
	if err != nil {
		return nil, err
	}
	u, err := c.find(ctx, s)
	if err != nil {
		return nil, err
	}
	r := request{method: http.MethodPut, path: "/users/" + url.PathEscape(u.ID) + "/password", body: map[string]any{"password": str(params, "password")},
		what: "set the password of Authifi user " + s.String()}
	if err := c.call(ctx, r, nil); err != nil {
		err = explain(err, "AUTHIFI_FEDERATED_NO_LOCAL_PASSWORD",
			"user %s signs in through %s, so Authifi holds no password for them; set it at that identity provider", s.email, u.IdentityIssuer)
		var ce *connectors.Error
		if errors.As(err, &ce) && ce.Code == "PASSWORD_POLICY" {
			ce.Field = "password"
		}
		return nil, err
	}
	return map[string]any{"userId": u.ID}, nil
}

func (c *Connector) linkExternalIdentity(ctx context.Context, params map[string]any) (map[string]any, error) {
	s, err := subjectOf(params, "userIssuer")
	if err != nil {
		return nil, err
	}
	u, err := c.find(ctx, s)
	if err != nil {
		return nil, err
	}
	issuer, ext := str(params, "issuer"), str(params, "externalId")
	r := request{method: http.MethodPost, path: "/users/" + url.PathEscape(u.ID) + "/identities", body: map[string]any{"issuer": issuer, "externalId": ext},
		what: "link the " + issuer + " identity to Authifi user " + s.String()}
	if err := c.call(ctx, r, nil); err != nil {
		return nil, err
	}
	return map[string]any{"userId": u.ID, "issuer": issuer, "externalId": ext}, nil
}

func (c *Connector) unlinkExternalIdentity(ctx context.Context, params map[string]any) (map[string]any, error) {
	s, err := subjectOf(params, "userIssuer")
	if err != nil {
		return nil, err
	}
	u, err := c.find(ctx, s)
	if err != nil {
		return nil, err
	}
	issuer := str(params, "issuer")
	r := request{method: http.MethodDelete, path: "/users/" + url.PathEscape(u.ID) + "/identities", query: url.Values{"issuer": {issuer}},
		what: "unlink the " + issuer + " identity from Authifi user " + s.String()}
	if err := c.call(ctx, r, nil); err != nil {
		return nil, explain(err, "IDENTITY_NOT_FOUND", "Authifi user %s has no identity linked from %s", s, issuer)
	}
	return map[string]any{"userId": u.ID, "issuer": issuer}, nil
}

// listOnePage is listUsers and listGroups from the console or a step: one page, and the
// cursor to ask for the next.
func (c *Connector) listOnePage(ctx context.Context, resource string, params map[string]any) (map[string]any, error) {
	size, _ := params["pageSize"].(int)
	if size < 1 || size > maxPageSize {
		return nil, &connectors.Error{Class: connectors.InvalidInput, Code: "INVALID_PARAMS", Field: "pageSize",
			Message: fmt.Sprintf("pageSize must be from 1 to %d, not %d", maxPageSize, size)}
	}
	var since time.Time
	if v := str(params, "since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return nil, &connectors.Error{Class: connectors.InvalidInput, Code: "INVALID_PARAMS", Field: "since",
				Message: fmt.Sprintf("since must be an RFC 3339 time such as 2025-01-31T00:00:00Z, not %q", v)}
		}
		since = t
	}
	page, err := c.page(ctx, resource, size, str(params, "cursor"), since)
	if err != nil {
		return nil, err
	}
	records := make([]any, len(page.Records))
	for i, r := range page.Records {
		records[i] = map[string]any{"externalId": r.ExternalID, "email": r.Email, "displayName": r.DisplayName, "attributes": r.Attributes}
	}
	return map[string]any{"records": records, "count": len(records), "nextCursor": page.NextCursor}, nil
}

// List streams users or groups page by page, following Authifi's cursor.
func (c *Connector) List(ctx context.Context, resourceType string, opts connectors.ListOptions, yield func(connectors.Page) error) error {
	if opts.Filter != "" {
		return connectors.Errorf(connectors.InvalidInput, "INVALID_PARAMS", "Authifi listings take no filter; leave it empty")
	}
	if opts.PageSize < 0 {
		return connectors.Errorf(connectors.InvalidInput, "INVALID_PARAMS", "page size must be positive, not %d", opts.PageSize)
	}
	// A sync wants the fewest calls, and Authifi refuses pages over its maximum rather than
	// shortening them, so the default and the ceiling are both the maximum.
	size := opts.PageSize
	if size == 0 || size > maxPageSize {
		size = maxPageSize
	}
	cursor := opts.Cursor
	for {
		page, err := c.page(ctx, resourceType, size, cursor, opts.Since)
		if err != nil {
			return err
		}
		if err := yield(page); err != nil {
			return err
		}
		if page.NextCursor == "" {
			return nil
		}
		cursor = page.NextCursor
	}
}

// GetRecord fetches one user (GET /users/{id}) or group (GET /groups/{id}) by Authifi's id,
// the record's externalId, and makes of it the record a listing makes. Authifi listings take
// no filter, so nothing narrows what GetRecord finds. Authifi's 404 for the id itself
// (USER_NOT_FOUND, GROUP_NOT_FOUND) is RECORD_NOT_FOUND; other 404s, such as an unknown
// tenant, keep their code, since they say nothing about the record.
func (c *Connector) GetRecord(ctx context.Context, resourceType, externalID string) (connectors.Record, error) {
	if resourceType != connectors.ResourceUser && resourceType != connectors.ResourceGroup {
		return connectors.Record{}, connectors.Errorf(connectors.InvalidInput, "INVALID_PARAMS", "Authifi lists users and groups, not %q", resourceType)
	}
	if err := connectors.CheckPathID(resourceType, externalID); err != nil {
		return connectors.Record{}, err
	}
	if resourceType == connectors.ResourceGroup {
		var g group
		err := c.call(ctx, request{method: http.MethodGet, path: "/groups/" + url.PathEscape(externalID), what: "fetch Authifi group " + externalID}, &g)
		if err != nil {
			return connectors.Record{}, c.recordNotFound(err, "GROUP_NOT_FOUND", resourceType, externalID)
		}
		return g.record(), nil
	}
	var u user
	err := c.call(ctx, request{method: http.MethodGet, path: "/users/" + url.PathEscape(externalID), what: "fetch Authifi user " + externalID}, &u)
	if err != nil {
		return connectors.Record{}, c.recordNotFound(err, "USER_NOT_FOUND", resourceType, externalID)
	}
	return u.record(), nil
}

// recordNotFound turns Authifi's not-found code for a record into GetRecord's, keeping
// Authifi's error as the cause.
func (c *Connector) recordNotFound(err error, code, resourceType, externalID string) error {
	if !hasCode(err, code) {
		return err
	}
	e := connectors.RecordNotFound("Authifi tenant %s has no %s with id %s (%s)", c.tenant, resourceType, externalID, code)
	e.Err = err
	return e
}

// page fetches one page of users or groups.
func (c *Connector) page(ctx context.Context, resourceType string, size int, cursor string, since time.Time) (connectors.Page, error) {
	q := url.Values{"limit": {strconv.Itoa(size)}}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if !since.IsZero() {
		q.Set("updatedSince", since.UTC().Format(time.RFC3339))
	}
	var out connectors.Page
	var next *string
	switch resourceType {
	case connectors.ResourceUser:
		var a listAnswer[user]
		if err := c.call(ctx, request{method: http.MethodGet, path: "/users", query: q, what: "list Authifi users"}, &a); err != nil {
			return out, err
		}
		for _, u := range a.Data {
			out.Records = append(out.Records, u.record())
		}
		next = a.NextCursor
	case connectors.ResourceGroup:
		var a listAnswer[group]
		if err := c.call(ctx, request{method: http.MethodGet, path: "/groups", query: q, what: "list Authifi groups"}, &a); err != nil {
			return out, err
		}
		for _, g := range a.Data {
			out.Records = append(out.Records, g.record())
		}
		next = a.NextCursor
	default:
		return out, connectors.Errorf(connectors.InvalidInput, "INVALID_PARAMS", "Authifi lists users and groups, not %q", resourceType)
	}
	if next != nil {
		out.NextCursor = *next
	}
	return out, nil
}

// Test fetches a token of its own, so that a changed secret shows at once rather than when the
// cached token expires, and lists one user with it: the admin API scope is what every command
// needs. It changes nothing, the token cache included.
func (c *Connector) Test(ctx context.Context) (connectors.TestResult, error) {
	tok, ttl, err := c.fetchToken(ctx)
	if err != nil {
		return connectors.TestResult{}, err
	}
	r := request{method: http.MethodGet, path: "/users", query: url.Values{"limit": {"1"}}, what: "list Authifi users"}
	var page listAnswer[user]
	if err := c.classify(ctx, c.send(ctx, tok, r, &page), r.what); err != nil {
		return connectors.TestResult{}, err
	}
	return connectors.TestResult{
		Message: fmt.Sprintf("Signed in to Authifi tenant %s (id %s) as client %s, which can read the tenant's users.", c.tenant, c.tenantID, c.clientID),
		Data:    map[string]any{"tenant": c.tenant, "tenantId": c.tenantID, "clientId": c.clientID, "tokenLifetime": ttl.String()},
	}, nil
}
