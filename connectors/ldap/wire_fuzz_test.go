package ldap

import (
	"bufio"
	"bytes"
	"slices"
	"strings"
	"testing"

	ber "github.com/go-asn1-ber/asn1-ber"
	goldap "github.com/go-ldap/ldap/v3"

	"floh/connectors"
)

// encodeEntry builds a SearchResultEntry message the way a server sends it.
func encodeEntry(id int64, dn string, attrs map[string][]string, names []string) []byte {
	msg := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
	msg.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, ""))
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, goldap.ApplicationSearchResultEntry, nil, "")
	op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, dn, ""))
	list := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
	for _, name := range names {
		a := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
		a.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, name, ""))
		set := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSet, nil, "")
		for _, v := range attrs[name] {
			set.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, v, ""))
		}
		a.AppendChild(set)
		list.AppendChild(a)
	}
	op.AppendChild(list)
	msg.AppendChild(op)
	return msg.Bytes()
}

// encodeDone builds a SearchResultDone with a paging control carrying cookie.
func encodeDone(id int64, code int64, diag string, cookie []byte) []byte {
	msg := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
	msg.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, ""))
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, goldap.ApplicationSearchResultDone, nil, "")
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, code, ""))
	op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", ""))
	op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, diag, ""))
	msg.AppendChild(op)
	paging := goldap.NewControlPaging(1000)
	paging.SetCookie(cookie)
	controls := ber.Encode(ber.ClassContext, ber.TypeConstructed, 0, nil, "")
	controls.AppendChild(paging.Encode())
	msg.AppendChild(controls)
	return msg.Bytes()
}

// FuzzParseEntry checks that any entry a server could send is read back exactly, and that
// the reader never fails on it.
func FuzzParseEntry(f *testing.F) {
	f.Add("uid=jdoe,ou=people,dc=example,dc=test", "mail", "jdoe@example.test", "memberOf", "cn=a,dc=x", "cn=b,dc=x")
	f.Add("", "a", "", "b", "", "")
	f.Add("CN=Jürgen,DC=example", "objectGUID", "\x00\xff\x10", "member;range=0-1499", string(make([]byte, 300)), "x")
	f.Fuzz(func(t *testing.T, dn, name1, value1, name2, value2, value3 string) {
		if name1 == name2 {
			name2 += "2"
		}
		attrs := map[string][]string{name1: {value1}, name2: {value2, value3}}
		names := []string{name1, name2}
		msg := encodeEntry(7, dn, attrs, names)
		var buf []byte
		contents, err := readMessage(bufio.NewReader(bytes.NewReader(msg)), &buf)
		if err != nil {
			t.Fatal(err)
		}
		id, tag, body, controls, err := parseMessage(contents)
		if err != nil || id != 7 || tag != tagSearchEntry || controls != nil {
			t.Fatalf("parseMessage: id %d tag %#x controls %v err %v", id, tag, controls, err)
		}
		var e rawEntry
		if err := e.parse(body); err != nil {
			t.Fatal(err)
		}
		if string(e.dn) != dn || len(e.attrs) != 2 {
			t.Fatalf("dn %q with %d attributes", e.dn, len(e.attrs))
		}
		for i, a := range e.attrs {
			if string(a.name) != names[i] {
				t.Fatalf("attribute %d is %q, want %q", i, a.name, names[i])
			}
			got := make([]string, len(a.values))
			for j, v := range a.values {
				got[j] = string(v)
			}
			if !slices.Equal(got, attrs[names[i]]) {
				t.Fatalf("%s = %q, want %q", a.name, got, attrs[names[i]])
			}
		}
	})
}

// FuzzParseDone checks a result with any code, message and paging cookie reads back exactly.
func FuzzParseDone(f *testing.F) {
	f.Add(int64(0), "", []byte{})
	f.Add(int64(53), "0000052D: Constraint violation", []byte{1, 2, 3})
	f.Add(int64(4), string(make([]byte, 200)), make([]byte, 300))
	f.Fuzz(func(t *testing.T, code int64, diag string, cookie []byte) {
		code &= 0xffff
		var buf []byte
		contents, err := readMessage(bufio.NewReader(bytes.NewReader(encodeDone(3, code, diag, cookie))), &buf)
		if err != nil {
			t.Fatal(err)
		}
		_, tag, body, controls, err := parseMessage(contents)
		if err != nil || tag != tagSearchDone {
			t.Fatalf("tag %#x, %v", tag, err)
		}
		err = resultError(body)
		gotCode, gotDiag, ok := resultCode(err)
		if code == 0 && err != nil || code != 0 && (!ok || int64(gotCode) != code || gotDiag != strings.TrimSpace(diag)) {
			t.Fatalf("result %v (code %d, diag %q), want code %d", err, gotCode, gotDiag, code)
		}
		got, err := pagingCookie(controls)
		if err != nil || !bytes.Equal(got, cookie) {
			t.Fatalf("cookie %x, %v; want %x", got, err, cookie)
		}
	})
}

// FuzzReadMessage feeds arbitrary bytes to the whole reading path: it may refuse them, but
// must neither panic nor read beyond what it was given.
func FuzzReadMessage(f *testing.F) {
	f.Add(encodeEntry(1, "uid=a,dc=x", map[string][]string{"cn": {"a"}}, []string{"cn"}))
	f.Add(encodeDone(1, 0, "", []byte("cookie")))
	f.Add([]byte{0x30, 0x84, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0x30, 0x80, 0x00, 0x00})
	f.Add([]byte{0x30, 0x03, 0x02, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		var buf []byte
		contents, err := readMessage(bufio.NewReader(bytes.NewReader(data)), &buf)
		if err != nil {
			return
		}
		_, tag, body, controls, err := parseMessage(contents)
		if err != nil {
			return
		}
		switch tag {
		case tagSearchEntry:
			var e rawEntry
			if e.parse(body) == nil {
				(&connector{f: adFlavor}).record(connectors.ResourceUser, &e)
				(&connector{f: ldapFlavor}).record(connectors.ResourceGroup, &e)
			}
		case tagSearchDone, tagBindResponse:
			resultError(body)
			pagingCookie(controls)
		}
	})
}

// TestReadMessageTrustsNoLength checks that a length claiming far more than arrives costs no
// more memory than what arrived.
func TestReadMessageTrustsNoLength(t *testing.T) {
	claim := []byte{0x30, 0x84, 0x0c, 0x00, 0x00, 0x00} // 200 MiB
	var buf []byte
	_, err := readMessage(bufio.NewReader(bytes.NewReader(append(claim, make([]byte, 100)...))), &buf)
	if err == nil {
		t.Fatal("a message cut short was read")
	}
	if cap(buf) > 2<<20 {
		t.Errorf("reading a 100-byte remainder allocated %d bytes", cap(buf))
	}
}
