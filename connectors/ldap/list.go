package ldap

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"floh/connectors"
)

// List streams users or groups with the RFC 2696 paging control: each page is requested,
// turned into records, handed to yield and dropped before the next is requested, so memory
// holds one page however large the directory.
//
// A page's NextCursor is the DN of its last entry. Paging cookies belong to the connection
// that made them, so a cursor cannot be one: resuming re-runs the search and skips entries up
// to and including that DN. The server's order is stable while the directory does not change;
// if the cursor's entry is gone, the listing cannot resume and must start again.
func (c *connector) List(ctx context.Context, resource string, opts connectors.ListOptions, yield func(connectors.Page) error) error {
	base, baseField, filter, attrs, what := c.userBaseDN, "userBaseDN", c.userFilter, c.userAttributes(), "users"
	if resource == connectors.ResourceGroup {
		base, baseField, filter, attrs, what = c.groupBaseDN, "groupBaseDN", c.groupFilter, c.groupAttributes(), "groups"
	} else if resource != connectors.ResourceUser {
		return c.unknownResource(resource)
	}
	if opts.Filter != "" {
		extra := strings.TrimSpace(opts.Filter)
		if !strings.HasPrefix(extra, "(") {
			extra = "(" + extra + ")"
		}
		if _, err := goldap.CompileFilter(extra); err != nil {
			return &connectors.Error{Class: connectors.InvalidInput, Code: "INVALID_FILTER", Field: "filter",
				Message: fmt.Sprintf("filter %q is not an LDAP filter such as (department=Sales): %v", opts.Filter, err)}
		}
		filter += extra
	}
	if !opts.Since.IsZero() {
		filter += "(" + c.f.changedAttr + ">=" + escapeFilter(opts.Since.UTC().Format(c.f.timeLayout)) + ")"
	}
	filter = "(&" + filter + ")"
	after, err := decodeCursor(opts.Cursor)
	if err != nil {
		return err
	}
	pageSize := opts.PageSize
	if pageSize < 0 || pageSize > maxPageSize {
		return &connectors.Error{Class: connectors.InvalidInput, Code: "INVALID_PAGE_SIZE", Field: "pageSize",
			Message: fmt.Sprintf("pageSize must be between 1 and %d, not %d", maxPageSize, pageSize)}
	}
	if pageSize == 0 {
		pageSize = c.pageSize
	}

	l, err := c.openLister(ctx)
	if err != nil {
		return err
	}
	defer l.close()
	paging := goldap.NewControlPaging(uint32(pageSize))
	req := searchRequest{base: base, scope: goldap.ScopeWholeSubtree, filter: filter, attrs: attrs, controls: []goldap.Control{paging}}
	for {
		page := connectors.Page{Records: make([]connectors.Record, 0, min(pageSize, 1000))}
		var ranged []rangedAttr
		cookie, err := l.search(req, func(e *rawEntry) error {
			if after != "" {
				if bytes.EqualFold(e.dn, []byte(after)) {
					after = ""
				}
				return nil
			}
			r, more := c.record(resource, e)
			if more != nil {
				more.record = len(page.Records)
				ranged = append(ranged, *more)
			}
			page.Records = append(page.Records, r)
			return nil
		})
		if err != nil {
			if hasCode(err, goldap.LDAPResultNoSuchObject) {
				return l.baseFailed(err, baseField, base)
			}
			return l.fail(err, fmt.Sprintf("list %s under %s with filter %s", what, base, filter))
		}
		for _, m := range ranged {
			if err := l.fetchRest(page.Records[m.record], m); err != nil {
				return err
			}
		}
		last := len(cookie) == 0
		if last && after != "" {
			return &connectors.Error{Class: connectors.InvalidInput, Code: "STALE_CURSOR", Field: "cursor",
				Message: fmt.Sprintf("the listing cannot resume after %s: that entry is no longer among the %s listed; start the listing again without a cursor", after, what)}
		}
		// A page that the cursor skipped entirely is not a page for the caller; the last page
		// always is, even empty, so the caller sees the end.
		if len(page.Records) > 0 || last {
			if !last {
				page.NextCursor = encodeCursor(page.Records[len(page.Records)-1].Attributes["dn"].(string))
			}
			if err := yield(page); err != nil {
				return err
			}
		}
		if last {
			return nil
		}
		paging.SetCookie(cookie)
	}
}

func (c *connector) unknownResource(resource string) error {
	return connectors.Errorf(connectors.InvalidInput, "UNKNOWN_RESOURCE", "the %s connector lists users and groups, not %q", c.f.directory, resource)
}

// maxPageSize bounds a page, which List holds in memory whole.
const maxPageSize = 100_000

func encodeCursor(dn string) string { return base64.RawURLEncoding.EncodeToString([]byte(dn)) }

func decodeCursor(cursor string) (string, error) {
	if cursor == "" {
		return "", nil
	}
	dn, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || !isDN(string(dn)) {
		return "", &connectors.Error{Class: connectors.InvalidInput, Code: "INVALID_CURSOR", Field: "cursor",
			Message: fmt.Sprintf("cursor %q is not a cursor this connector returned", cursor)}
	}
	return string(dn), nil
}

func (c *connector) userAttributes() []string {
	if c.f.ad {
		return append([]string{"objectGUID", "sAMAccountName", "userPrincipalName", "mail", "displayName", "cn", "givenName", "sn",
			"memberOf", "userAccountControl", "whenCreated", "whenChanged"}, c.extraAttrs...)
	}
	return append([]string{"entryUUID", "uid", "mail", "displayName", "cn", "givenName", "sn",
		"memberOf", "pwdAccountLockedTime", "createTimestamp", "modifyTimestamp"}, c.extraAttrs...)
}

func (c *connector) groupAttributes() []string {
	if c.f.ad {
		return []string{"objectGUID", "sAMAccountName", "cn", "displayName", "mail", "description", "member", "whenCreated", "whenChanged"}
	}
	return []string{"entryUUID", "cn", "displayName", "mail", "description", "member", "createTimestamp", "modifyTimestamp"}
}

// rangedAttr is a multi-valued attribute Active Directory sent only the first values of. AD
// sends at most MaxValRange values (1500 by default) of an attribute such as member in a
// search, named "member;range=0-1499", and expects the client to ask for the rest.
type rangedAttr struct {
	record int    // index of the record in its page
	dn     string // the entry
	attr   string // "member"
	next   string // the range to ask for next: "1500-*"
}

// record turns an entry into a Record: the fields every connector reports, and in attributes
// the DN, memberships, the change times (RFC 3339) and what else the entry says. When the
// memberships came in ranges, it also says what to fetch to complete them.
func (c *connector) record(resource string, e *rawEntry) (connectors.Record, *rangedAttr) {
	get := func(name string) string {
		if a := e.attr(name); a != nil && len(a.values) > 0 {
			return string(a.values[0])
		}
		return ""
	}
	dn := string(e.dn)
	r := connectors.Record{Email: get("mail"), DisplayName: get("displayName")}
	if c.f.ad {
		if a := e.attr("objectGUID"); a != nil && len(a.values) > 0 {
			r.ExternalID = guidString(a.values[0])
		}
	} else {
		r.ExternalID = get("entryUUID")
	}
	if r.DisplayName == "" {
		r.DisplayName = get("cn")
	}
	attrs := map[string]any{"dn": dn}
	for _, name := range []string{"whenCreated", "whenChanged", "createTimestamp", "modifyTimestamp"} {
		if v := get(name); v != "" {
			attrs[name] = generalizedTime(v)
		}
	}
	links := "memberOf"
	if resource == connectors.ResourceGroup {
		links = "member"
		r.Username = get("cn")
		if c.f.ad && get("sAMAccountName") != "" {
			r.Username = get("sAMAccountName")
		}
		if v := get("description"); v != "" {
			attrs["description"] = v
		}
	} else {
		r.Username = get(c.f.usernameAttr)
		for _, name := range []string{"givenName", "sn", "userPrincipalName", "cn"} {
			if v := get(name); v != "" {
				attrs[name] = v
			}
		}
		for _, name := range c.extraAttrs {
			if a := e.attr(name); a != nil && len(a.values) == 1 {
				attrs[name] = string(a.values[0])
			} else if a != nil && len(a.values) > 1 {
				vs := make([]any, len(a.values))
				for i, v := range a.values {
					vs[i] = string(v)
				}
				attrs[name] = vs
			}
		}
		if c.f.ad {
			uac, err := strconv.Atoi(get("userAccountControl"))
			attrs["enabled"] = err == nil && uac&uacAccountDisable == 0
		} else {
			attrs["enabled"] = get("pwdAccountLockedTime") == ""
		}
	}
	values := []string{}
	var more *rangedAttr
	for i := range e.attrs {
		a := &e.attrs[i]
		name, option, ranged := strings.Cut(string(a.name), ";")
		if !strings.EqualFold(name, links) {
			continue
		}
		for _, v := range a.values {
			values = append(values, string(v))
		}
		if next, ok := nextRange(option); ranged && ok {
			more = &rangedAttr{dn: dn, attr: links, next: next}
		}
	}
	attrs[links] = values
	r.Attributes = attrs
	return r, more
}

// attr returns the attribute named name (without options), or nil.
func (e *rawEntry) attr(name string) *rawAttr {
	for i := range e.attrs {
		if len(e.attrs[i].name) == len(name) && strings.EqualFold(string(e.attrs[i].name), name) {
			return &e.attrs[i]
		}
	}
	return nil
}

// fetchRest asks for the remaining ranges of an attribute and appends them to the record.
func (l *lister) fetchRest(r connectors.Record, m rangedAttr) error {
	for m.next != "" {
		want := m.attr + ";range=" + m.next
		var got []string
		next := ""
		_, err := l.search(searchRequest{base: m.dn, scope: goldap.ScopeBaseObject, filter: "(objectClass=*)", attrs: []string{want}}, func(e *rawEntry) error {
			for _, a := range e.attrs {
				name, option, ok := strings.Cut(string(a.name), ";")
				if !ok || !strings.EqualFold(name, m.attr) {
					continue
				}
				for _, v := range a.values {
					got = append(got, string(v))
				}
				next, _ = nextRange(option)
			}
			return nil
		})
		if err != nil {
			return l.fail(err, fmt.Sprintf("read %s of %s", want, m.dn))
		}
		r.Attributes[m.attr] = append(r.Attributes[m.attr].([]string), got...)
		m.next = next
	}
	return nil
}

// nextRange reads a "range=0-1499" option and returns the range to ask next ("1500-*"), or
// false once the option ends in "*" (the last values).
func nextRange(option string) (string, bool) {
	low, high, ok := strings.Cut(strings.TrimPrefix(strings.ToLower(option), "range="), "-")
	if !ok || low == "" || high == "*" {
		return "", false
	}
	n, err := strconv.Atoi(high)
	if err != nil {
		return "", false
	}
	return strconv.Itoa(n+1) + "-*", true
}

// externalID is objectGUID in its registry form on AD, entryUUID elsewhere.
func (c *connector) externalID(e *goldap.Entry) string {
	if c.f.ad {
		return guidString(e.GetEqualFoldRawAttributeValue("objectGUID"))
	}
	return e.GetEqualFoldAttributeValue("entryUUID")
}

// guidString formats an objectGUID as Windows does: the first three fields are little-endian.
func guidString(b []byte) string {
	if len(b) != 16 {
		return hex.EncodeToString(b)
	}
	return fmt.Sprintf("%08x-%04x-%04x-%x-%x", binary.LittleEndian.Uint32(b[0:4]), binary.LittleEndian.Uint16(b[4:6]),
		binary.LittleEndian.Uint16(b[6:8]), b[8:10], b[10:16])
}

// generalizedTime turns an LDAP GeneralizedTime (20250131120000Z, or AD's 20250131120000.0Z)
// into RFC 3339; a value it cannot read passes through unchanged.
func generalizedTime(v string) string {
	digits, _, _ := strings.Cut(strings.TrimSuffix(v, "Z"), ".")
	t, err := time.Parse("20060102150405", digits)
	if err != nil || !strings.HasSuffix(v, "Z") {
		return v
	}
	return t.UTC().Format(time.RFC3339)
}
