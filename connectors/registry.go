package connectors

import (
	"fmt"
	"slices"
	"strings"
)

// Registry holds the connector types Floh offers, in the order the create wizard shows them.
type Registry struct {
	types []*Type
}

// NewRegistry builds a registry and checks each type's schema, so a mistake in a type's
// declaration fails at start-up rather than on an admin's first call.
func NewRegistry(types ...*Type) (*Registry, error) {
	r := &Registry{}
	for _, t := range types {
		if err := t.check(); err != nil {
			return nil, fmt.Errorf("connector type %q: %w", t.Name, err)
		}
		if r.Type(t.Name) != nil {
			return nil, fmt.Errorf("connector type %q is registered twice", t.Name)
		}
		r.types = append(r.types, t)
	}
	return r, nil
}

// Types lists the registered types.
func (r *Registry) Types() []*Type { return r.types }

// Type returns the type named name, or nil.
func (r *Registry) Type(name string) *Type {
	for _, t := range r.types {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// Names lists the registered type names.
func (r *Registry) Names() []string {
	names := make([]string, len(r.types))
	for i, t := range r.types {
		names[i] = t.Name
	}
	return names
}

// check verifies a type's declaration is coherent.
func (t *Type) check() error {
	if t.Name == "" || t.Label == "" || t.New == nil {
		return fmt.Errorf("needs a name, a label and a constructor")
	}
	if err := checkFields(t.Config); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	seen := map[string]bool{}
	for _, c := range t.Commands {
		if seen[c.Name] {
			return fmt.Errorf("command %q declared twice", c.Name)
		}
		seen[c.Name] = true
		if err := checkFields(c.Params); err != nil {
			return fmt.Errorf("command %s: %w", c.Name, err)
		}
		if c.SyncCapable != "" && c.SyncCapable != ResourceUser && c.SyncCapable != ResourceGroup {
			return fmt.Errorf("command %s: syncCapable %q is not user or group", c.Name, c.SyncCapable)
		}
	}
	for _, c := range t.Commands {
		comp := c.Compensation
		if comp == nil {
			continue
		}
		if comp.Command != "" && t.Command(comp.Command) == nil {
			return fmt.Errorf("command %s: compensation names unknown command %q", c.Name, comp.Command)
		}
		if comp.SubsumedBy != "" && t.Command(comp.SubsumedBy) == nil {
			return fmt.Errorf("command %s: subsumedBy names unknown command %q", c.Name, comp.SubsumedBy)
		}
		if comp.Command != "" {
			undo := t.Command(comp.Command)
			for p := range comp.Params {
				if undo.Param(p) == nil {
					return fmt.Errorf("command %s: compensation param %q is not a param of %s", c.Name, p, undo.Name)
				}
			}
		}
	}
	return nil
}

func checkFields(fields []Field) error {
	seen := map[string]bool{}
	for _, f := range fields {
		if f.Name == "" || seen[f.Name] {
			return fmt.Errorf("field %q is empty or declared twice", f.Name)
		}
		seen[f.Name] = true
		kinds := []Kind{KindString, KindText, KindInteger, KindBoolean, KindStringList, KindObject, KindArray, KindDuration}
		if !slices.Contains(kinds, f.Kind) {
			return fmt.Errorf("field %s has unknown type %q", f.Name, f.Kind)
		}
		if f.Default != nil {
			if _, msg := coerce(f, f.Default); msg != "" {
				return fmt.Errorf("field %s default %s", f.Name, strings.TrimSpace(msg))
			}
		}
	}
	return nil
}
