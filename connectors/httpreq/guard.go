package httpreq

import (
	"fmt"
	"net/netip"
	"syscall"
)

// refusal is the dialer's answer to a destination outside the public internet.
type refusal struct {
	addr string
	kind string
}

func (r *refusal) Error() string {
	return fmt.Sprintf("%s is not a public address (%s)", r.addr, r.kind)
}

// guard returns a net.Dialer Control function that refuses every address for which kind
// names a kind. Control sees the IP actually being dialled, after DNS resolution, for the first
// request and for every redirect alike, so neither a hostname that resolves to 127.0.0.1 nor
// a DNS answer that changes between a check and the connection (rebinding) gets through.
func guard(kind func(netip.Addr) string) func(network, address string, _ syscall.RawConn) error {
	return func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return &refusal{addr: address, kind: "unrecognised"}
		}
		if k := kind(ap.Addr()); k != "" {
			return &refusal{addr: ap.Addr().String(), kind: k}
		}
		return nil
	}
}

// special lists the IANA special-purpose ranges that netip's predicates do not cover and that
// are not reachable on the public internet.
var special = []struct {
	prefix netip.Prefix
	kind   string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "this-network"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared (carrier-grade NAT)"},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol"},
	{netip.MustParsePrefix("192.0.2.0/24"), "documentation"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
	{netip.MustParsePrefix("198.51.100.0/24"), "documentation"},
	{netip.MustParsePrefix("203.0.113.0/24"), "documentation"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"}, // and 255.255.255.255, broadcast
	{netip.MustParsePrefix("64:ff9b:1::/48"), "local NAT64"},
	{netip.MustParsePrefix("100::/64"), "discard"},
	{netip.MustParsePrefix("2001::/23"), "IETF protocol"}, // Teredo, ORCHID, benchmarking
	{netip.MustParsePrefix("2001:db8::/32"), "documentation"},
	{netip.MustParsePrefix("fec0::/10"), "site-local"},
}

var (
	nat64  = netip.MustParsePrefix("64:ff9b::/96")
	sixto4 = netip.MustParsePrefix("2002::/16")
)

// nonPublic names the kind of a non-public address ("loopback", "private", ...), or returns ""
// for an address on the public internet.
func nonPublic(a netip.Addr) string {
	// ::ffff:127.0.0.1 is 127.0.0.1, and a zone only qualifies a link-local address.
	a = a.Unmap().WithZone("")
	switch {
	case !a.IsValid():
		return "invalid"
	case a.IsLoopback():
		return "loopback"
	case a.IsPrivate():
		return "private"
	case a.IsLinkLocalUnicast():
		return "link-local" // 169.254.169.254, the cloud metadata service, among them
	case a.IsUnspecified():
		return "unspecified"
	case a.IsMulticast(), a.IsLinkLocalMulticast(), a.IsInterfaceLocalMulticast():
		return "multicast"
	}
	for _, s := range special {
		if s.prefix.Contains(a) {
			return s.kind
		}
	}
	// NAT64 and 6to4 addresses carry an IPv4 address that a translator or relay connects to:
	// judge that one.
	b := a.As16()
	switch {
	case nat64.Contains(a):
		return nonPublic(netip.AddrFrom4([4]byte(b[12:16])))
	case sixto4.Contains(a):
		return nonPublic(netip.AddrFrom4([4]byte(b[2:6])))
	}
	return ""
}
