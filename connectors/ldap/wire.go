package ldap

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	goldap "github.com/go-ldap/ldap/v3"
)

// Listings bypass go-ldap's reader. It decodes every message into a tree of asn1-ber packets
// whose AppendChild re-encodes each child into its parent: about 500 allocations and 28 KB
// per directory entry, which held a listing to 25,000 entries/s, half of what slapd serves.
// A lister reads each search message into one reused buffer and walks the BER in place; only
// the values a record keeps become strings. It speaks just what a listing needs: a simple bind
// and searches with controls.

// BER tags of the LDAP messages a listing reads and writes (RFC 4511 §4.2, §4.5).
const (
	tagSequence     = 0x30
	tagSet          = 0x31
	tagOctetString  = 0x04
	tagInteger      = 0x02
	tagEnumerated   = 0x0a
	tagBoolean      = 0x01
	tagBindResponse = 0x61 // [APPLICATION 1] constructed
	tagSearchEntry  = 0x64 // [APPLICATION 4]
	tagSearchDone   = 0x65 // [APPLICATION 5]
	tagSearchRef    = 0x73 // [APPLICATION 19]
	tagExtendedResp = 0x78 // [APPLICATION 24]: the server's notice of disconnection
	tagControls     = 0xa0 // [0] constructed
	// maxMessage bounds one message: a group with a hundred thousand members is a few MB.
	maxMessage = 256 << 20
)

// lister is one connection for one listing.
type lister struct {
	call
	conn  net.Conn
	r     *bufio.Reader
	id    int64
	buf   []byte
	entry rawEntry
	stop  func() bool
}

// openLister dials, secures and binds like open, for a listing.
func (c *connector) openLister(ctx context.Context) (*lister, error) {
	conn, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	l := &lister{call: call{c, ctx}, conn: conn, r: bufio.NewReaderSize(conn, 64<<10)}
	l.stop = context.AfterFunc(ctx, func() { conn.Close() })
	if err := l.bind(); err != nil {
		l.close()
		return nil, l.bindFailed(err)
	}
	return l, nil
}

func (l *lister) close() {
	l.stop()
	l.conn.Close()
}

// send writes one request; each has its own message ID and a deadline for its answer.
func (l *lister) send(op *ber.Packet, controls []goldap.Control) error {
	l.id++
	msg := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "LDAP Request")
	msg.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, l.id, "MessageID"))
	msg.AppendChild(op)
	if len(controls) > 0 {
		cs := ber.Encode(ber.ClassContext, ber.TypeConstructed, 0, nil, "Controls")
		for _, c := range controls {
			cs.AppendChild(c.Encode())
		}
		msg.AppendChild(cs)
	}
	if err := l.conn.SetDeadline(time.Now().Add(requestTimeout)); err != nil {
		return err
	}
	_, err := l.conn.Write(msg.Bytes())
	return err
}

func (l *lister) bind() error {
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, goldap.ApplicationBindRequest, nil, "Bind Request")
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 3, "Version"))
	op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, l.c.bindDN, "User Name"))
	op.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, l.c.bindPassword, "Password"))
	if err := l.send(op, nil); err != nil {
		return err
	}
	tag, body, _, err := l.receive()
	if err != nil {
		return err
	}
	if tag != tagBindResponse {
		return malformed("a bind answered with tag %#x", tag)
	}
	return resultError(body)
}

// searchRequest is what a listing asks for.
type searchRequest struct {
	base     string
	scope    int
	filter   string
	attrs    []string
	controls []goldap.Control
}

// search runs one search request, calling onEntry for each entry as it arrives (the entry is
// valid only during the call), and returns the paging cookie of the response, if any.
func (l *lister) search(req searchRequest, onEntry func(*rawEntry) error) ([]byte, error) {
	filter, err := goldap.CompileFilter(req.filter)
	if err != nil {
		return nil, err
	}
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, goldap.ApplicationSearchRequest, nil, "Search Request")
	op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, req.base, "Base DN"))
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, req.scope, "Scope"))
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, goldap.NeverDerefAliases, "Deref Aliases"))
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 0, "Size Limit"))
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 0, "Time Limit"))
	op.AppendChild(ber.NewBoolean(ber.ClassUniversal, ber.TypePrimitive, ber.TagBoolean, false, "Types Only"))
	op.AppendChild(filter)
	attrs := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "Attributes")
	for _, a := range req.attrs {
		attrs.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, a, "Attribute"))
	}
	op.AppendChild(attrs)
	if err := l.send(op, req.controls); err != nil {
		return nil, err
	}
	for {
		tag, body, controls, err := l.receive()
		if err != nil {
			return nil, err
		}
		switch tag {
		case tagSearchEntry:
			if err := l.entry.parse(body); err != nil {
				return nil, err
			}
			if err := onEntry(&l.entry); err != nil {
				return nil, err
			}
		case tagSearchRef:
			// AD refers subtree searches at a domain's root to its other naming contexts;
			// the entries asked for are all here.
		case tagSearchDone:
			if err := resultError(body); err != nil {
				return nil, err
			}
			cookie, err := pagingCookie(controls)
			// The cookie points into the buffer the next message overwrites.
			return bytes.Clone(cookie), err
		default:
			return nil, malformed("a search answered with tag %#x", tag)
		}
	}
}

// receive reads the next message for the current request and returns its operation's tag and
// body, and its controls.
func (l *lister) receive() (byte, []byte, []byte, error) {
	msg, err := readMessage(l.r, &l.buf)
	if err != nil {
		return 0, nil, nil, err
	}
	id, tag, body, controls, err := parseMessage(msg)
	if err != nil {
		return 0, nil, nil, err
	}
	if id == 0 && tag == tagExtendedResp {
		// RFC 4511 §4.4.1: the server is closing the connection and says why.
		if err := resultError(body); err != nil {
			return 0, nil, nil, err
		}
		return 0, nil, nil, goldap.NewError(goldap.ErrorNetwork, errors.New("the directory closed the connection"))
	}
	if id != l.id {
		return 0, nil, nil, malformed("an answer to message %d came while waiting for %d", id, l.id)
	}
	return tag, body, controls, nil
}

// readMessage reads one LDAPMessage into *buf, grown as needed and reused, and returns its
// contents (inside the outer SEQUENCE).
func readMessage(r byteReader, buf *[]byte) ([]byte, error) {
	tag, err := r.ReadByte()
	if err != nil {
		return nil, err
	}
	if tag != tagSequence {
		return nil, malformed("a message starts with tag %#x, not a SEQUENCE", tag)
	}
	first, err := r.ReadByte()
	if err != nil {
		return nil, err
	}
	n := int(first)
	if first&0x80 != 0 {
		k := int(first & 0x7f)
		if k == 0 || k > 4 {
			return nil, malformed("a message has a length of %d bytes", k)
		}
		n = 0
		for range k {
			b, err := r.ReadByte()
			if err != nil {
				return nil, err
			}
			n = n<<8 | int(b)
		}
	}
	if n > maxMessage {
		return nil, malformed("a message of %d bytes is over the %d limit", n, maxMessage)
	}
	if n <= cap(*buf) {
		msg := (*buf)[:n]
		_, err := io.ReadFull(r, msg)
		return msg, err
	}
	// Grow with what arrives rather than with what the length claims, so that a wrong
	// length cannot make us allocate hundreds of MB up front.
	msg := (*buf)[:0]
	for len(msg) < n {
		chunk := min(n-len(msg), 1<<20)
		msg = slices.Grow(msg, chunk)
		if _, err := io.ReadFull(r, msg[len(msg):len(msg)+chunk]); err != nil {
			return nil, err
		}
		msg = msg[:len(msg)+chunk]
	}
	*buf = msg
	return msg, nil
}

type byteReader interface {
	io.Reader
	io.ByteReader
}

// parseMessage splits an LDAPMessage's contents into its ID, operation and controls.
func parseMessage(msg []byte) (id int64, tag byte, body, controls []byte, err error) {
	t, v, rest, err := tlv(msg)
	if err != nil || t != tagInteger {
		return 0, 0, nil, nil, malformed("a message has no message ID")
	}
	if id, err = berInt(v); err != nil {
		return 0, 0, nil, nil, err
	}
	if tag, body, rest, err = tlv(rest); err != nil {
		return 0, 0, nil, nil, err
	}
	if len(rest) > 0 {
		t, controls, _, err = tlv(rest)
		if err != nil || t != tagControls {
			return 0, 0, nil, nil, malformed("a message has %#x where its controls should be", t)
		}
	}
	return id, tag, body, controls, nil
}

// resultError reads an LDAPResult and returns nil for success, or the result as go-ldap's
// error type, so that one classification serves both clients.
func resultError(body []byte) error {
	t, v, rest, err := tlv(body)
	if err != nil || t != tagEnumerated {
		return malformed("a result has no result code")
	}
	code, err := berInt(v)
	if err != nil || code < 0 || code > 0xffff {
		return malformed("a result code does not fit")
	}
	t, matched, rest, err := tlv(rest)
	if err != nil || t != tagOctetString {
		return malformed("a result has no matched DN")
	}
	t, diag, _, err := tlv(rest)
	if err != nil || t != tagOctetString {
		return malformed("a result has no diagnostic message")
	}
	if code == 0 {
		return nil
	}
	return &goldap.Error{ResultCode: uint16(code), MatchedDN: string(matched), Err: errors.New(string(diag))}
}

// pagingCookie finds the RFC 2696 control among a response's controls and returns its cookie;
// none, or an empty one, means the last page.
func pagingCookie(controls []byte) ([]byte, error) {
	for len(controls) > 0 {
		t, control, rest, err := tlv(controls)
		if err != nil || t != tagSequence {
			return nil, malformed("a control is not a SEQUENCE")
		}
		controls = rest
		t, oid, control, err := tlv(control)
		if err != nil || t != tagOctetString {
			return nil, malformed("a control has no type")
		}
		if string(oid) != goldap.ControlTypePaging {
			continue
		}
		if len(control) > 0 && control[0] == tagBoolean {
			_, _, control, err = tlv(control) // criticality
			if err != nil {
				return nil, err
			}
		}
		t, value, _, err := tlv(control)
		if err != nil || t != tagOctetString {
			return nil, malformed("the paging control has no value")
		}
		t, seq, _, err := tlv(value)
		if err != nil || t != tagSequence {
			return nil, malformed("the paging control's value is not a SEQUENCE")
		}
		t, _, seq, err = tlv(seq) // the server's size estimate
		if err != nil || t != tagInteger {
			return nil, malformed("the paging control has no size")
		}
		t, cookie, _, err := tlv(seq)
		if err != nil || t != tagOctetString {
			return nil, malformed("the paging control has no cookie")
		}
		return cookie, nil
	}
	return nil, nil
}

// rawEntry is a search result entry as it lies in the read buffer: DN, attribute names and
// values are slices of it. One is reused for every entry of a listing.
type rawEntry struct {
	dn    []byte
	attrs []rawAttr
}

type rawAttr struct {
	name   []byte
	values [][]byte
}

// parse reads a SearchResultEntry body: objectName, then a SEQUENCE of (type, SET of values).
func (e *rawEntry) parse(body []byte) error {
	t, dn, rest, err := tlv(body)
	if err != nil || t != tagOctetString {
		return malformed("an entry has no DN")
	}
	t, attrs, _, err := tlv(rest)
	if err != nil || t != tagSequence {
		return malformed("entry %q has no attribute list", dn)
	}
	e.dn, e.attrs = dn, e.attrs[:0]
	for len(attrs) > 0 {
		var one []byte
		if t, one, attrs, err = tlv(attrs); err != nil || t != tagSequence {
			return malformed("entry %q has a malformed attribute", dn)
		}
		t, name, one, err := tlv(one)
		if err != nil || t != tagOctetString {
			return malformed("entry %q has an attribute without a type", dn)
		}
		t, set, _, err := tlv(one)
		if err != nil || t != tagSet {
			return malformed("attribute %q of entry %q has no value set", name, dn)
		}
		// Grow by reslicing where possible, so the values slices of earlier entries are reused.
		if len(e.attrs) < cap(e.attrs) {
			e.attrs = e.attrs[:len(e.attrs)+1]
		} else {
			e.attrs = append(e.attrs, rawAttr{})
		}
		a := &e.attrs[len(e.attrs)-1]
		a.name, a.values = name, a.values[:0]
		for len(set) > 0 {
			var v []byte
			if t, v, set, err = tlv(set); err != nil || t != tagOctetString {
				return malformed("attribute %q of entry %q has a malformed value", name, dn)
			}
			a.values = append(a.values, v)
		}
	}
	return nil
}

// tlv splits the first BER element off b: its tag, its value and what follows. LDAP uses
// only low tag numbers and definite lengths (RFC 4511 §5.1); anything else is refused.
func tlv(b []byte) (tag byte, value, rest []byte, err error) {
	if len(b) < 2 {
		return 0, nil, nil, malformed("an element is cut short")
	}
	tag = b[0]
	if tag&0x1f == 0x1f {
		return 0, nil, nil, malformed("an element has a high tag number")
	}
	n, header := int(b[1]), 2
	if n&0x80 != 0 {
		k := n & 0x7f
		if k == 0 || k > 4 || len(b) < 2+k {
			return 0, nil, nil, malformed("an element has a bad length")
		}
		n = 0
		for _, c := range b[2 : 2+k] {
			n = n<<8 | int(c)
		}
		header += k
	}
	if n > len(b)-header {
		return 0, nil, nil, malformed("an element is longer than its message")
	}
	return tag, b[header : header+n], b[header+n:], nil
}

// berInt reads a BER INTEGER or ENUMERATED (two's complement, big-endian).
func berInt(v []byte) (int64, error) {
	if len(v) == 0 || len(v) > 8 {
		return 0, malformed("an integer has %d bytes", len(v))
	}
	n := int64(int8(v[0]))
	for _, c := range v[1:] {
		n = n<<8 | int64(c)
	}
	return n, nil
}

// malformed reports an answer that is not valid LDAP.
func malformed(format string, args ...any) error {
	return goldap.NewError(goldap.ErrorUnexpectedResponse, fmt.Errorf("malformed answer from the directory: "+format, args...))
}
