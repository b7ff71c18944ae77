package scimtest

import (
	"net/http"
	"reflect"

	"github.com/elimity-com/scim"
	scimerrors "github.com/elimity-com/scim/errors"
	"github.com/elimity-com/scim/filter"
	"github.com/elimity-com/scim/schema"
	filterparser "github.com/scim2/filter-parser/v2"
)

// apply carries out one PATCH operation (RFC 7644 §3.5.2) on attrs. The library has already
// checked the operation against the schema and shaped its value: a list for a multi-valued
// target, a map for a complex one, and for an operation without a path, a map from attribute
// path to such a value.
func (h *handler) apply(attrs map[string]any, op scim.PatchOperation) error {
	if op.Path == nil {
		values, ok := op.Value.(map[string]any)
		if !ok {
			return invalidValue("an operation without a path needs an object of attributes as its value")
		}
		for p, v := range values {
			path, err := filterparser.ParsePath([]byte(p))
			if err != nil {
				return scimerrors.ScimErrorInvalidPath
			}
			if err := h.apply(attrs, scim.PatchOperation{Op: op.Op, Path: &path, Value: v}); err != nil {
				return err
			}
		}
		return nil
	}
	attr, ok := h.coll.schema.Attributes.ContainsAttribute(op.Path.AttributePath.AttributeName)
	if !ok {
		return scimerrors.ScimErrorInvalidPath
	}
	if attr.Mutability() == "readOnly" {
		return scimerrors.ScimErrorMutability
	}
	switch {
	case op.Path.ValueExpression != nil:
		return h.applyFiltered(attrs, attr, op)
	case op.Path.AttributePath.SubAttributeName() != "":
		return applySub(attrs, attr, op.Path.AttributePath.SubAttributeName(), op)
	}
	name := attr.Name()
	switch op.Op {
	case scim.PatchOperationRemove:
		if op.Value != nil && attr.MultiValued() {
			// Some clients (Azure AD among them) remove members by value instead of by filter.
			setList(attrs, name, without(list(attrs[name]), list(op.Value)))
			return nil
		}
		delete(attrs, name)
	case scim.PatchOperationAdd:
		switch {
		case attr.MultiValued():
			setList(attrs, name, union(list(attrs[name]), list(op.Value)))
		case attr.HasSubAttributes():
			merge(attrs, name, op.Value)
		default:
			attrs[name] = op.Value
		}
	case scim.PatchOperationReplace:
		switch {
		case attr.MultiValued():
			setList(attrs, name, list(op.Value))
		case attr.HasSubAttributes():
			merge(attrs, name, op.Value)
		default:
			attrs[name] = op.Value
		}
	}
	return nil
}

// applySub handles a path to a sub-attribute without a filter: name.givenName, or, on a
// multi-valued attribute, the sub-attribute of every value.
func applySub(attrs map[string]any, attr schema.CoreAttribute, sub string, op scim.PatchOperation) error {
	subAttr, ok := attr.SubAttributes().ContainsAttribute(sub)
	if !ok {
		return scimerrors.ScimErrorInvalidPath
	}
	set := func(m map[string]any) {
		if op.Op == scim.PatchOperationRemove {
			delete(m, subAttr.Name())
			return
		}
		m[subAttr.Name()] = op.Value
	}
	name := attr.Name()
	if attr.MultiValued() {
		for _, e := range list(attrs[name]) {
			set(e.(map[string]any))
		}
		return nil
	}
	m, ok := attrs[name].(map[string]any)
	if !ok {
		if op.Op == scim.PatchOperationRemove {
			return nil
		}
		m = map[string]any{}
		attrs[name] = m
	}
	set(m)
	if len(m) == 0 {
		delete(attrs, name)
	}
	return nil
}

// applyFiltered handles a value path such as members[value eq "42"] or
// emails[type eq "work"].value. A filter that selects nothing is a noTarget error (RFC 7644
// §3.5.2.2, §3.5.2.3).
func (h *handler) applyFiltered(attrs map[string]any, attr schema.CoreAttribute, op scim.PatchOperation) error {
	name := attr.Name()
	values := list(attrs[name])
	v := filter.NewFilterValidator(op.Path.ValueExpression, schema.Schema{ID: h.coll.schema.ID, Attributes: filter.MultiValuedFilterAttributes(attr)})
	selected := make([]bool, len(values))
	hit := false
	for i, e := range values {
		m, ok := e.(map[string]any)
		if !ok {
			// A multi-valued simple attribute is filtered on "value" (RFC 7644 §3.5.2).
			m = map[string]any{"value": e}
		}
		ok, err := matches(v, m)
		if err != nil {
			return scimerrors.ScimErrorInvalidFilter
		}
		selected[i], hit = ok, hit || ok
	}
	if !hit {
		return scimerrors.ScimError{Status: http.StatusBadRequest, ScimType: scimerrors.ScimTypeNoTarget, Detail: "no value of " + name + " matches " + op.Path.String()}
	}
	sub := op.Path.SubAttributeName()
	var subName string
	if sub != "" {
		subAttr, ok := attr.SubAttributes().ContainsAttribute(sub)
		if !ok {
			return scimerrors.ScimErrorInvalidPath
		}
		subName = subAttr.Name()
	}
	var kept []any
	for i, e := range values {
		switch {
		case !selected[i]:
		case op.Op == scim.PatchOperationRemove && subName == "":
			continue
		case op.Op == scim.PatchOperationRemove:
			delete(e.(map[string]any), subName)
		case subName != "":
			e.(map[string]any)[subName] = op.Value
		default:
			for _, with := range list(op.Value) {
				for k, w := range with.(map[string]any) {
					e.(map[string]any)[k] = w
				}
			}
		}
		kept = append(kept, e)
	}
	setList(attrs, name, kept)
	return nil
}

// merge sets the given sub-attributes of a single-valued complex attribute, leaving the
// others as they are (RFC 7644 §3.5.2.1 and §3.5.2.3).
func merge(attrs map[string]any, name string, value any) {
	m, ok := attrs[name].(map[string]any)
	if !ok {
		m = map[string]any{}
		attrs[name] = m
	}
	for k, v := range value.(map[string]any) {
		m[k] = v
	}
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

// union appends the values not already present: adding a value a multi-valued attribute holds
// changes nothing (RFC 7644 §3.5.2.1).
func union(have, add []any) []any {
	for _, a := range add {
		if indexOf(have, a) < 0 {
			have = append(have, a)
		}
	}
	return have
}

func without(have, remove []any) []any {
	var kept []any
	for _, h := range have {
		if indexOf(remove, h) < 0 {
			kept = append(kept, h)
		}
	}
	return kept
}

// indexOf finds v in values. Complex values with a "value" sub-attribute are the same value
// when those agree (a member is its id, whatever display name came with it).
func indexOf(values []any, v any) int {
	key := func(x any) any {
		if m, ok := x.(map[string]any); ok {
			if id, ok := m["value"]; ok {
				return id
			}
		}
		return x
	}
	for i, e := range values {
		if reflect.DeepEqual(key(e), key(v)) {
			return i
		}
	}
	return -1
}
