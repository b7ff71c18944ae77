package scim

import (
	"slices"
	"strings"
	"unicode"
)

// inverseOperations returns PATCH operations that put back, as they were in before, the
// attributes ops touch.
//
// It restores whole top-level attributes rather than inverting each operation: that is exact
// whatever paths, value filters and order the operations used, and needs nothing but the user
// as it was. An attribute that was absent is removed; a simple or multi-valued one is replaced
// (replace sets every value of a multi-valued attribute, RFC 7644 §3.5.2.3); a complex one is
// removed and added again, because replace would merge into its sub-attributes and keep any
// the operations added. Attributes no client can restore are left out: password (write-only,
// never returned) and what the application owns (id, meta, schemas).
func inverseOperations(before map[string]any, ops []any) []any {
	inverse := []any{}
	seen := map[string]bool{}
	for _, ref := range touched(ops) {
		key := strings.ToLower(ref.urn + "|" + ref.name)
		if seen[key] || ref.urn == "" && slices.Contains([]string{"password", "id", "meta", "schemas"}, strings.ToLower(ref.name)) {
			continue
		}
		seen[key] = true
		holder, path := before, ref.name
		if ref.urn != "" {
			// Extension attributes live in an object named after their schema.
			_, ext, _ := field(before, ref.urn)
			holder, _ = ext.(map[string]any)
			path = ref.urn + ":" + ref.name
		}
		name, value, ok := field(holder, ref.name)
		if ok && ref.urn == "" {
			path = name
		}
		switch v := value.(type) {
		case nil:
			inverse = append(inverse, map[string]any{"op": "remove", "path": path})
		case map[string]any:
			inverse = append(inverse,
				map[string]any{"op": "remove", "path": path},
				map[string]any{"op": "add", "path": path, "value": v})
		default:
			inverse = append(inverse, map[string]any{"op": "replace", "path": path, "value": v})
		}
	}
	return inverse
}

// attrRef names a top-level attribute: urn is empty for core attributes, else the extension
// schema the attribute belongs to.
type attrRef struct {
	urn, name string
}

// touched lists the attributes ops change, in order. checkOperations has vetted ops.
func touched(ops []any) []attrRef {
	var refs []attrRef
	for _, o := range ops {
		op := o.(map[string]any)
		if path, _ := op["path"].(string); path != "" {
			refs = append(refs, parsePath(path))
			continue
		}
		// Without a path, the value is an object of attribute paths, or of extension schema
		// URNs holding objects of that extension's attributes.
		values, _ := op["value"].(map[string]any)
		for _, k := range sortedKeys(values) {
			if ext, ok := values[k].(map[string]any); ok && isSchemaURN(k) {
				for _, name := range sortedKeys(ext) {
					refs = append(refs, attrRef{urn: k, name: name})
				}
				continue
			}
			refs = append(refs, parsePath(k))
		}
	}
	return refs
}

// parsePath finds the top-level attribute of a PATCH path (RFC 7644 §3.5.2): "name.givenName"
// → name; `emails[type eq "work"].value` → emails;
// "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value" → manager of the
// enterprise extension. Core attributes qualified with the core User URN are core attributes.
func parsePath(path string) attrRef {
	p, _, _ := strings.Cut(path, "[") // a value filter may hold any character
	var ref attrRef
	if strings.HasPrefix(strings.ToLower(p), "urn:") {
		// The URN itself contains dots ("2.0"), so it ends at the last colon.
		i := strings.LastIndex(p, ":")
		ref.urn, p = p[:i], p[i+1:]
		if strings.EqualFold(ref.urn, userSchema) {
			ref.urn = ""
		}
	}
	ref.name, _, _ = strings.Cut(p, ".")
	return ref
}

// isSchemaURN tells a schema URN (…:2.0:User) from an attribute path under one
// (…:2.0:User:department): schema names are capitalised, attribute names are not.
func isSchemaURN(s string) bool {
	if !strings.HasPrefix(strings.ToLower(s), "urn:") {
		return false
	}
	last := s[strings.LastIndex(s, ":")+1:]
	return last != "" && unicode.IsUpper(rune(last[0]))
}

// field looks an attribute up by name, ignoring case as SCIM does (RFC 7643 §2.1), and returns
// the name as the resource spells it.
func field(m map[string]any, name string) (string, any, bool) {
	for k, v := range m {
		if strings.EqualFold(k, name) {
			return k, v, v != nil
		}
	}
	return name, nil, false
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// opName is an operation's op, lowercased: RFC 7644 §3.5.2 operation names are not
// case-sensitive in practice (Azure AD sends "Replace").
func opName(op map[string]any) string {
	name, _ := op["op"].(string)
	return strings.ToLower(name)
}
