package ldap

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"floh/connectors"
)

var _ connectors.RecordGetter = (*connector)(nil)

// GetRecord fetches one user or group by its externalId. It is List with the id as one more
// assertion of the filter: the base DN and userFilter or groupFilter, the attributes asked for
// and the record made of the entry (AD's ranged members completed) are List's own, so the
// record is the one a listing yields, and an entry the listing would leave out is not found.
func (c *connector) GetRecord(ctx context.Context, resource, externalID string) (connectors.Record, error) {
	base, filter, what := c.userBaseDN, c.userFilter, "user"
	if resource == connectors.ResourceGroup {
		base, filter, what = c.groupBaseDN, c.groupFilter, "group"
	} else if resource != connectors.ResourceUser {
		return connectors.Record{}, c.unknownResource(resource)
	}
	assertion, err := c.idAssertion(resource, externalID)
	if err != nil {
		return connectors.Record{}, err
	}
	var found []connectors.Record
	err = c.List(ctx, resource, connectors.ListOptions{Filter: assertion}, func(p connectors.Page) error {
		found = append(found, p.Records...)
		if len(found) > 1 {
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return connectors.Record{}, err
	}
	switch len(found) {
	case 0:
		return connectors.Record{}, connectors.RecordNotFound("no %s with %s %s in %s under %s matching %s",
			what, c.f.idAttr, externalID, c.f.directory, base, filter)
	case 1:
		return found[0], nil
	}
	// Only a directory that breaks the id's uniqueness (a proxy over two trees) gets here.
	return connectors.Record{}, connectors.Errorf(connectors.Conflict, "AMBIGUOUS_RECORD", "more than one %s in %s under %s has %s %s: %s and %s",
		what, c.f.directory, base, c.f.idAttr, externalID, found[0].Attributes["dn"], found[1].Attributes["dn"])
}

// idAssertion turns an externalId into the filter assertion that finds its entry: entryUUID
// takes the UUID as text; objectGUID is binary, so AD's byte order of the GUID, every byte
// hex-escaped. Both accept the UUID in any of its written forms (upper case, braces).
func (c *connector) idAssertion(resource, externalID string) (string, error) {
	id, err := uuid.Parse(strings.TrimSpace(externalID))
	if err != nil {
		return "", connectors.InvalidExternalID("externalId %q is not the %s of a %s (a GUID such as 6b29fc40-ca47-101b-b31d-00dd010662da)",
			externalID, c.f.idAttr, resource)
	}
	if !c.f.ad {
		return "(entryUUID=" + id.String() + ")", nil
	}
	var b strings.Builder
	b.WriteString("(objectGUID=")
	for _, octet := range guidBytes(id) {
		fmt.Fprintf(&b, `\%02x`, octet)
	}
	b.WriteString(")")
	return b.String(), nil
}

// guidBytes is the inverse of guidString: the GUID as AD stores it, its first three fields
// little-endian.
func guidBytes(id uuid.UUID) []byte {
	b := id[:]
	return []byte{b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]}
}
