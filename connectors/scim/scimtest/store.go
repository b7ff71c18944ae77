package scimtest

import (
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/elimity-com/scim"
	scimerrors "github.com/elimity-com/scim/errors"
	"github.com/elimity-com/scim/filter"
	"github.com/elimity-com/scim/optional"
	"github.com/elimity-com/scim/schema"
	"github.com/google/uuid"
	"github.com/jonboulle/clockwork"
)

// store holds both collections under one lock, because deleting a user also changes the groups
// it belonged to.
type store struct {
	mu     sync.Mutex
	clock  clockwork.Clock
	users  *collection
	groups *collection
}

func newStore(clock clockwork.Clock) *store {
	return &store{
		clock:  clock,
		users:  &collection{resourceType: "User", schema: withCommon(schema.CoreUserSchema()), byID: map[string]*resource{}},
		groups: &collection{resourceType: "Group", schema: withCommon(schema.CoreGroupSchema()), byID: map[string]*resource{}},
	}
}

// withCommon adds the common attributes id, externalId and meta (RFC 7643 §3.1) to a core
// schema. The library validates filters against the resource type's schema alone, so without
// them `externalId eq "..."` and `meta.lastModified gt "..."` would be refused as invalid
// filters. id is declared here rather than taken from schema.CommonAttributes because that one
// is required, and the library would then refuse every POST, which carries no id.
func withCommon(s schema.Schema) schema.Schema {
	common := schema.CommonAttributes()
	s.Attributes = append(s.Attributes,
		schema.SimpleCoreAttribute(schema.SimpleStringParams(schema.StringParams{
			CaseExact:   true,
			Description: optional.NewString("A unique identifier for a SCIM resource as defined by the service provider."),
			Mutability:  schema.AttributeMutabilityReadOnly(),
			Name:        "id",
			Returned:    schema.AttributeReturnedAlways(),
			Uniqueness:  schema.AttributeUniquenessServer(),
		})),
		common[2], // externalId
		common[3], // meta
	)
	return s
}

type collection struct {
	resourceType string // meta.resourceType: "User" or "Group"
	schema       schema.Schema
	order        []string // ids in creation order, so pages are stable
	byID         map[string]*resource
}

type resource struct {
	id string
	// attrs holds every attribute a client may write, externalId included; id and meta are
	// the server's.
	attrs    map[string]any
	created  time.Time
	modified time.Time
	version  int
}

func (c *collection) remove(id string) {
	delete(c.byID, id)
	for i, o := range c.order {
		if o == id {
			c.order = append(c.order[:i], c.order[i+1:]...)
			return
		}
	}
}

// handler serves one collection as a scim.ResourceHandler.
type handler struct {
	store *store
	coll  *collection
}

func (h *handler) Create(_ *http.Request, attributes scim.ResourceAttributes) (scim.Resource, error) {
	h.store.mu.Lock()
	defer h.store.mu.Unlock()
	attrs := clone(map[string]any(attributes)).(map[string]any)
	// password is write-only and never returned (RFC 7643 §4.1.1); this provider has no use
	// for it, so it keeps none.
	delete(attrs, "password")
	if err := h.check(attrs, ""); err != nil {
		return scim.Resource{}, err
	}
	now := h.store.clock.Now().UTC()
	res := &resource{id: uuid.NewString(), attrs: attrs, created: now, modified: now, version: 1}
	h.coll.byID[res.id] = res
	h.coll.order = append(h.coll.order, res.id)
	return h.resource(res), nil
}

func (h *handler) Get(_ *http.Request, id string) (scim.Resource, error) {
	h.store.mu.Lock()
	defer h.store.mu.Unlock()
	res, ok := h.coll.byID[id]
	if !ok {
		return scim.Resource{}, scimerrors.ScimErrorResourceNotFound(id)
	}
	return h.resource(res), nil
}

func (h *handler) GetAll(_ *http.Request, params scim.ListRequestParams) (scim.Page, error) {
	h.store.mu.Lock()
	defer h.store.mu.Unlock()
	var matched []*resource
	for _, id := range h.coll.order {
		res := h.coll.byID[id]
		if params.FilterValidator != nil {
			ok, err := matches(*params.FilterValidator, h.view(res))
			if err != nil {
				return scim.Page{}, scimerrors.ScimErrorInvalidFilter
			}
			if !ok {
				continue
			}
		}
		matched = append(matched, res)
	}
	// startIndex is 1-based; the library has already clamped it to ≥ 1 and count to
	// [0, MaxResults].
	start := min(params.StartIndex-1, len(matched))
	end := min(start+params.Count, len(matched))
	page := scim.Page{TotalResults: len(matched), Resources: []scim.Resource{}}
	for _, res := range matched[start:end] {
		page.Resources = append(page.Resources, h.resource(res))
	}
	return page, nil
}

func (h *handler) Replace(_ *http.Request, id string, attributes scim.ResourceAttributes) (scim.Resource, error) {
	h.store.mu.Lock()
	defer h.store.mu.Unlock()
	res, ok := h.coll.byID[id]
	if !ok {
		return scim.Resource{}, scimerrors.ScimErrorResourceNotFound(id)
	}
	attrs := clone(map[string]any(attributes)).(map[string]any)
	delete(attrs, "password")
	if err := h.check(attrs, id); err != nil {
		return scim.Resource{}, err
	}
	res.attrs = attrs
	h.touch(res)
	return h.resource(res), nil
}

func (h *handler) Delete(_ *http.Request, id string) error {
	h.store.mu.Lock()
	defer h.store.mu.Unlock()
	if _, ok := h.coll.byID[id]; !ok {
		return scimerrors.ScimErrorResourceNotFound(id)
	}
	h.coll.remove(id)
	// A deleted user or group leaves every group it was a member of.
	for _, g := range h.store.groups.byID {
		members, _ := g.attrs["members"].([]any)
		kept := members[:0:0]
		for _, m := range members {
			if m.(map[string]any)["value"] != id {
				kept = append(kept, m)
			}
		}
		if len(kept) != len(members) {
			setList(g.attrs, "members", kept)
			h.touch(g)
		}
	}
	return nil
}

func (h *handler) Patch(_ *http.Request, id string, operations []scim.PatchOperation) (scim.Resource, error) {
	h.store.mu.Lock()
	defer h.store.mu.Unlock()
	res, ok := h.coll.byID[id]
	if !ok {
		return scim.Resource{}, scimerrors.ScimErrorResourceNotFound(id)
	}
	// Operations apply to a copy: if one fails, the resource is left as it was (RFC 7644
	// §3.5.2: the operations are atomic).
	attrs := clone(res.attrs).(map[string]any)
	for _, op := range operations {
		if err := h.apply(attrs, op); err != nil {
			return scim.Resource{}, err
		}
	}
	delete(attrs, "password")
	if err := h.check(attrs, id); err != nil {
		return scim.Resource{}, err
	}
	if reflect.DeepEqual(attrs, res.attrs) {
		// Nothing changed (an add of a value already present, for one): 204 No Content, and
		// meta.lastModified stays as it was (RFC 7644 §3.5.2.1).
		return scim.Resource{}, nil
	}
	res.attrs = attrs
	h.touch(res)
	return h.resource(res), nil
}

func (h *handler) touch(res *resource) {
	res.modified = h.store.clock.Now().UTC()
	res.version++
}

// check enforces what the schema cannot: a unique userName for users, existing members for
// groups. It normalises group members to {"value": id}, dropping repeats.
func (h *handler) check(attrs map[string]any, self string) error {
	if h.coll == h.store.users {
		name, _ := attrs["userName"].(string)
		if name == "" {
			return invalidValue("userName is required")
		}
		for _, u := range h.store.users.byID {
			// userName is not case-exact (RFC 7643 §4.1.1), so neither is its uniqueness.
			if u.id != self && strings.EqualFold(u.attrs["userName"].(string), name) {
				return scimerrors.ScimError{Status: http.StatusConflict, ScimType: scimerrors.ScimTypeUniqueness, Detail: fmt.Sprintf("userName %q is already in use", name)}
			}
		}
		return nil
	}
	if name, _ := attrs["displayName"].(string); name == "" {
		return invalidValue("displayName is required")
	}
	members, _ := attrs["members"].([]any)
	seen := map[string]bool{}
	var kept []any
	for _, m := range members {
		value, _ := m.(map[string]any)["value"].(string)
		if value == "" {
			return invalidValue("every member needs a value: the id of a user or group")
		}
		if h.store.users.byID[value] == nil && h.store.groups.byID[value] == nil {
			return invalidValue(fmt.Sprintf("member %q is not a user or group of this service provider", value))
		}
		if !seen[value] {
			seen[value] = true
			kept = append(kept, map[string]any{"value": value})
		}
	}
	setList(attrs, "members", kept)
	return nil
}

// resource is what the library renders: the stored attributes plus, for groups, each member's
// type and display name as they are now.
func (h *handler) resource(res *resource) scim.Resource {
	attrs := clone(res.attrs).(map[string]any)
	var externalID optional.String
	if v, ok := attrs["externalId"].(string); ok {
		externalID = optional.NewString(v)
		delete(attrs, "externalId")
	}
	if members, ok := attrs["members"].([]any); ok {
		for _, m := range members {
			m := m.(map[string]any)
			id := m["value"].(string)
			if u, ok := h.store.users.byID[id]; ok {
				m["type"] = "User"
				m["display"] = u.attrs["userName"]
				if dn, ok := u.attrs["displayName"]; ok {
					m["display"] = dn
				}
			} else if g, ok := h.store.groups.byID[id]; ok {
				m["type"] = "Group"
				m["display"] = g.attrs["displayName"]
			}
		}
	}
	created, modified := res.created, res.modified
	return scim.Resource{
		ID:         res.id,
		ExternalID: externalID,
		Attributes: attrs,
		Meta:       scim.Meta{Created: &created, LastModified: &modified, Version: fmt.Sprintf(`W/"%d"`, res.version)},
	}
}

// view is a resource as a client sees it, for filters to run against.
func (h *handler) view(res *resource) map[string]any {
	r := h.resource(res)
	v := map[string]any(r.Attributes)
	v["id"] = r.ID
	if r.ExternalID.Present() {
		v["externalId"] = r.ExternalID.Value()
	}
	// The same format the library renders meta in, so a filter compares what clients see.
	v["meta"] = map[string]any{
		"resourceType": h.coll.resourceType,
		"created":      r.Meta.Created.Format(time.RFC3339),
		"lastModified": r.Meta.LastModified.Format(time.RFC3339),
	}
	return v
}

// matches runs a library filter. The library panics on values it cannot compare; that is the
// client's filter at fault, so it becomes an error rather than a dropped connection.
func matches(v filter.Validator, resource map[string]any) (ok bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the filter cannot be evaluated: %v", r)
		}
	}()
	return v.PassesFilter(resource) == nil, nil
}

func invalidValue(detail string) scimerrors.ScimError {
	return scimerrors.ScimError{Status: http.StatusBadRequest, ScimType: scimerrors.ScimTypeInvalidValue, Detail: detail}
}

// setList stores a multi-valued attribute, removing it when it has no values left.
func setList(attrs map[string]any, name string, values []any) {
	if len(values) == 0 {
		delete(attrs, name)
		return
	}
	attrs[name] = values
}

// clone deep-copies decoded JSON, so stored resources never share maps with what the library
// or a client holds.
func clone(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[k] = clone(e)
		}
		return m
	case []any:
		l := make([]any, len(v))
		for i, e := range v {
			l[i] = clone(e)
		}
		return l
	}
	return v
}
