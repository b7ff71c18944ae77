package sync

import (
	"encoding/json"
	"slices"
	"strings"
	"unicode/utf8"
)

// appendJSON appends v as encoding/json encodes it (object keys sorted, <, > and & escaped,
// no space), writing itself the values directory records are made of: strings of plain
// ASCII, booleans, nil, lists and objects of them. encoding/json reaches a map's values by
// reflection and sorts its keys as reflect values, which made encoding the attributes most
// of what staging a record cost. Every other value, and every string with a character
// encoding/json would escape, is encoded by encoding/json itself, so the bytes, and the
// hashes made of them, are encoding/json's.
func appendJSON(b []byte, v any, depth int) ([]byte, error) {
	if depth > maxNesting {
		// Deep enough to be a cycle: encoding/json tells one from a deep value.
		return appendMarshalled(b, v)
	}
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return appendJSONString(b, x), nil
	case bool:
		if x {
			return append(b, "true"...), nil
		}
		return append(b, "false"...), nil
	case []string:
		if x == nil {
			return append(b, "null"...), nil
		}
		b = append(b, '[')
		for i, s := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, s)
		}
		return append(b, ']'), nil
	case []any:
		if x == nil {
			return append(b, "null"...), nil
		}
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendJSON(b, e, depth+1); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case map[string]any:
		if x == nil {
			return append(b, "null"...), nil
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(appendJSONString(b, k), ':')
			var err error
			if b, err = appendJSON(b, x[k], depth+1); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	}
	return appendMarshalled(b, v)
}

// maxNesting is how deep appendJSON goes before handing a value to encoding/json.
const maxNesting = 64

func appendMarshalled(b []byte, v any) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, raw...), nil
}

// appendJSONString appends s quoted: as it is when encoding/json would leave it alone (valid
// UTF-8 without control characters, ", \, <, >, &, U+2028 or U+2029), through encoding/json
// otherwise.
func appendJSONString(b []byte, s string) []byte {
	plain := true
	for i := 0; i < len(s) && plain; i++ {
		c := s[i]
		plain = c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	if plain && !isASCII(s) {
		plain = utf8.ValidString(s) && !strings.ContainsRune(s, '\u2028') && !strings.ContainsRune(s, '\u2029')
	}
	if !plain {
		raw, _ := json.Marshal(s) // a string always encodes
		return append(b, raw...)
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
