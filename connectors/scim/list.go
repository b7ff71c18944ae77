package scim

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"floh/connectors"
)

// defaultCount is the page size when the caller gives none. Applications may cap it lower;
// paging follows what they return.
const defaultCount = 100

// listResponse is a SCIM ListResponse (RFC 7644 §3.4.2). Go's decoder matches field names
// regardless of case, so "resources" works as well as the RFC's "Resources".
type listResponse struct {
	TotalResults int              `json:"totalResults"`
	Resources    []map[string]any `json:"Resources"`
}

// listQuery is one listing: which endpoint, which filter, and where the next page starts.
type listQuery struct {
	resourceType string
	endpoint     string
	filter       string
	start        int // 1-based startIndex
	count        int
}

func newListQuery(resourceType string, opts connectors.ListOptions) (listQuery, error) {
	q := listQuery{resourceType: resourceType, filter: opts.Filter, start: 1, count: opts.PageSize}
	switch resourceType {
	case connectors.ResourceUser:
		q.endpoint = "/Users"
	case connectors.ResourceGroup:
		q.endpoint = "/Groups"
	default:
		return q, connectors.Errorf(connectors.InvalidInput, "UNKNOWN_RESOURCE_TYPE", "the scim connector lists users and groups, not %q", resourceType)
	}
	if q.count <= 0 {
		q.count = defaultCount
	}
	if opts.Cursor != "" {
		n, err := strconv.Atoi(opts.Cursor)
		if err != nil || n < 1 {
			e := connectors.Errorf(connectors.InvalidInput, "INVALID_CURSOR", "cursor %q is not one this connector returned (a startIndex such as 101)", opts.Cursor)
			e.Field = "cursor"
			return q, e
		}
		q.start = n
	}
	if !opts.Since.IsZero() {
		// meta.lastModified is often rendered to the second, so Since is truncated to the
		// second: a sync may fetch a record twice, never miss one. ge, not gt: the contract
		// asks for what changed at or after Since.
		since := "meta.lastModified ge " + quote(opts.Since.UTC().Truncate(time.Second).Format(time.RFC3339))
		if q.filter == "" {
			q.filter = since
		} else {
			q.filter = "(" + q.filter + ") and " + since
		}
	}
	return q, nil
}

// List streams users or groups, one page per request, startIndex following what each page
// actually held (RFC 7644 §3.4.2.4).
func (c *connector) List(ctx context.Context, resourceType string, opts connectors.ListOptions, yield func(connectors.Page) error) error {
	q, err := newListQuery(resourceType, opts)
	if err != nil {
		return err
	}
	for {
		page, _, err := c.listPage(ctx, q)
		if err != nil {
			return err
		}
		if err := yield(page); err != nil {
			return err
		}
		if page.NextCursor == "" {
			return nil
		}
		q.start, _ = strconv.Atoi(page.NextCursor)
	}
}

// listPage fetches one page and returns it with the total the application reported.
func (c *connector) listPage(ctx context.Context, q listQuery) (connectors.Page, int, error) {
	query := url.Values{"startIndex": {strconv.Itoa(q.start)}, "count": {strconv.Itoa(q.count)}}
	if q.filter != "" {
		query.Set("filter", q.filter)
	}
	var resp listResponse
	if err := c.do(ctx, http.MethodGet, q.endpoint, query, nil, &resp); err != nil {
		return connectors.Page{}, 0, c.explain(err, "the list of "+q.resourceType+"s")
	}
	page := connectors.Page{Records: make([]connectors.Record, len(resp.Resources))}
	for i, r := range resp.Resources {
		page.Records[i] = toRecord(q.resourceType, r)
	}
	// An empty page ends the listing even if totalResults says otherwise, so an application
	// that miscounts cannot make us loop.
	if next := q.start + len(resp.Resources); len(resp.Resources) > 0 && next <= resp.TotalResults {
		page.NextCursor = strconv.Itoa(next)
	}
	return page, resp.TotalResults, nil
}

// GetRecord fetches one user or group by its SCIM id (GET /Users/{id}, /Groups/{id}) and makes
// the record List makes of it. A scim connector has no filter of its own, so nothing narrows
// what it finds. The application's 404 is RECORD_NOT_FOUND: SCIM gives no way to tell a
// missing resource from a missing endpoint, and a wrong baseUrl fails Test and every listing.
func (c *connector) GetRecord(ctx context.Context, resourceType, externalID string) (connectors.Record, error) {
	q, err := newListQuery(resourceType, connectors.ListOptions{})
	if err != nil {
		return connectors.Record{}, err
	}
	if err := connectors.CheckPathID(resourceType, externalID); err != nil {
		return connectors.Record{}, err
	}
	if externalID == "bulkId" {
		// RFC 7643 §3.1 reserves it: no resource has this id.
		return connectors.Record{}, connectors.InvalidExternalID(`externalId "bulkId" is reserved by SCIM and is no %s's id`, resourceType)
	}
	var res map[string]any
	if err := c.do(ctx, http.MethodGet, q.endpoint+"/"+url.PathEscape(externalID), nil, nil, &res); err != nil {
		e := c.explain(err, resourceType+" "+externalID)
		switch e.Class {
		case connectors.NotFound:
			e.Code = connectors.CodeRecordNotFound
		case connectors.InvalidInput:
			// A GET by id has nothing else to reject.
			e.Field = "externalId"
		}
		return connectors.Record{}, e
	}
	return toRecord(resourceType, res), nil
}

// toRecord maps a SCIM resource of the listing's type.
func toRecord(resourceType string, res map[string]any) connectors.Record {
	if resourceType == connectors.ResourceGroup {
		return groupRecord(res)
	}
	return userRecord(res)
}

// listPageCommand is listUsers and listGroups in the execute console: one page.
func (c *connector) listPageCommand(ctx context.Context, resourceType string, params map[string]any) (map[string]any, error) {
	opts := connectors.ListOptions{Filter: str(params, "filter"), Cursor: str(params, "cursor")}
	if n, ok := params["count"].(int); ok {
		if n < 1 {
			e := connectors.Errorf(connectors.InvalidInput, "INVALID_PARAMS", "count must be at least 1, not %d", n)
			e.Field = "count"
			return nil, e
		}
		opts.PageSize = n
	}
	if s := str(params, "since"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			e := connectors.Errorf(connectors.InvalidInput, "INVALID_PARAMS", "since must be an RFC 3339 time such as 2024-05-01T00:00:00Z, not %q", s)
			e.Field = "since"
			return nil, e
		}
		opts.Since = t
	}
	q, err := newListQuery(resourceType, opts)
	if err != nil {
		return nil, err
	}
	page, total, err := c.listPage(ctx, q)
	if err != nil {
		return nil, err
	}
	records := make([]any, len(page.Records))
	for i, r := range page.Records {
		records[i] = recordOutput(r)
	}
	return map[string]any{"records": records, "count": len(records), "totalResults": total, "nextCursor": page.NextCursor}, nil
}

// userRecord maps a SCIM user: the SCIM id is the record's externalId (what identifies it in
// this system), and everything but the fields the record names goes to attributes.
func userRecord(u map[string]any) connectors.Record {
	return connectors.Record{
		ExternalID:  text(u["id"]),
		Username:    text(u["userName"]),
		Email:       primaryEmail(u),
		DisplayName: text(u["displayName"]),
		Attributes:  rest(u, "userName", "displayName"),
	}
}

// groupRecord maps a SCIM group; its members become a list of member ids, so a renamed member
// does not make the group look changed.
func groupRecord(g map[string]any) connectors.Record {
	attrs := rest(g, "displayName", "members")
	if members, ok := g["members"].([]any); ok {
		ids := make([]string, 0, len(members))
		for _, m := range members {
			if m, ok := m.(map[string]any); ok && text(m["value"]) != "" {
				ids = append(ids, text(m["value"]))
			}
		}
		attrs["members"] = ids
	}
	return connectors.Record{ExternalID: text(g["id"]), DisplayName: text(g["displayName"]), Attributes: attrs}
}

// rest returns the attributes a record does not name, without id and schemas, and with meta
// cut to created and lastModified: location and version say nothing about the user.
func rest(res map[string]any, named ...string) map[string]any {
	attrs := map[string]any{}
	for k, v := range res {
		attrs[k] = v
	}
	for _, k := range append(named, "id", "schemas", "meta") {
		delete(attrs, k)
	}
	if meta, ok := res["meta"].(map[string]any); ok {
		kept := map[string]any{}
		for _, k := range []string{"created", "lastModified"} {
			if v, ok := meta[k]; ok {
				kept[k] = v
			}
		}
		attrs["meta"] = kept
	}
	return attrs
}

// recordOutput renders a record as the JSON-shaped map outputs are made of.
func recordOutput(r connectors.Record) map[string]any {
	out := map[string]any{"externalId": r.ExternalID, "attributes": r.Attributes}
	for k, v := range map[string]string{"username": r.Username, "email": r.Email, "displayName": r.DisplayName} {
		if v != "" {
			out[k] = v
		}
	}
	return out
}

func text(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}
