// Package demodir is the first-run demo directory: a read-only LDAP server, in-process on a
// free loopback port, holding a few thousand generated people and their departments' groups,
// which `floh serve --demo` puts behind a connector of the ldap type so that a new admin can
// sync a directory without having one.
//
// It looks to a client like OpenLDAP with the inetOrgPerson schema: people under
// ou=people,dc=demo,dc=floh (uid, cn, sn, givenName, displayName, mail, title, ou,
// departmentNumber, l, employeeNumber and the operational entryUUID, createTimestamp,
// modifyTimestamp and memberOf), groupOfNames under ou=groups with member, and a root DSE. It
// answers a simple bind as BindDN with the password generated at Start, searches in the three
// scopes with the RFC 2696 paged results control, and evaluates filters itself (filter.go);
// it refuses every change. The connector's default ldap settings read it as they read slapd.
//
// The people are generated from a seed (people.go), the same on every start, with the cases
// that make matching hard: mail differing only in letter case, two Floh users whose emails
// differ only in case from one person's, two Floh users sharing one person's entryUUID as
// upstream_id, and people without mail. FlohUsers lists the Floh users that go with them.
//
// The server is github.com/jimlambrt/gldap, which does the protocol; everything a directory
// does (the tree, filters, paging, attribute selection) is here.
package demodir

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
	"github.com/hashicorp/go-hclog"
	"github.com/jimlambrt/gldap"
)

const (
	// DefaultPeople is how many people Start generates when Options.People is zero.
	DefaultPeople = 3000
	// DefaultSeed is the seed Start generates with when Options.Seed is zero.
	DefaultSeed = 2026
	// pageSize is the page size the connector config asks for: small enough that a sync of
	// the demo shows its progress moving, page by page.
	pageSize = 250
	// maxPagedSearches bounds the paged searches one connection keeps open; one more abandons
	// the oldest.
	maxPagedSearches = 8
)

// Options configure Start.
type Options struct {
	// People is how many people to generate (DefaultPeople when 0; at least MinPeople).
	People int
	// Seed chooses the people (DefaultSeed when 0).
	Seed uint64
	// Addr is where to listen (127.0.0.1:0, a free loopback port, when empty).
	Addr string
	// Logger receives the server's errors (slog.Default() when nil).
	Logger *slog.Logger
}

// Directory is a running demo directory.
type Directory struct {
	url      string
	password string
	cases    Cases
	users    []FlohUser
	groups   []group
	log      *slog.Logger
	server   *gldap.Server
	ran      chan error

	mu      sync.RWMutex
	people  []Person
	entries []*entry       // in tree order: the base, the two OUs, people, groups
	byDN    map[string]int // normalised DN → index in entries
	byUID   map[string]int // uid → index in people; the person's entry is at entryIndex(i)

	connMu   sync.Mutex
	sessions map[int]*session
	cookies  uint64
}

// session is what the directory remembers of one connection.
type session struct {
	bound bool
	paged map[string]*pagedSearch // by cookie
}

// pagedSearch is a paged search in progress: its matches were taken when its first page was
// asked for, and each page hands out the next ones.
type pagedSearch struct {
	key     string // the search it belongs to: a later page must ask the same
	matches []int  // indices into entries
	next    int
	opened  uint64
}

// Start generates the people and serves them until Stop.
func Start(opts Options) (*Directory, error) {
	if opts.People == 0 {
		opts.People = DefaultPeople
	}
	if opts.People < MinPeople {
		return nil, fmt.Errorf("the demo directory needs at least %d people, not %d", MinPeople, opts.People)
	}
	if opts.Seed == 0 {
		opts.Seed = DefaultSeed
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	secret := make([]byte, 24)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("generate the demo directory's password: %w", err)
	}
	gen := generate(opts.People, opts.Seed)
	d := &Directory{
		password: base64.RawURLEncoding.EncodeToString(secret),
		cases:    gen.cases, users: gen.users, groups: gen.groups, people: gen.people,
		log: opts.Logger, sessions: map[int]*session{}, ran: make(chan error, 1),
	}
	d.build()

	sink := &logSink{log: opts.Logger, addr: make(chan net.Addr, 1)}
	logger := hclog.NewInterceptLogger(&hclog.LoggerOptions{Name: "demo-directory", Output: io.Discard, Level: hclog.Error})
	logger.RegisterSink(sink)
	server, err := gldap.NewServer(gldap.WithLogger(logger), gldap.WithOnClose(d.closed))
	if err != nil {
		return nil, fmt.Errorf("demo directory: %w", err)
	}
	mux, err := gldap.NewMux()
	if err != nil {
		return nil, fmt.Errorf("demo directory: %w", err)
	}
	err = errors.Join(
		mux.Bind(d.bind),
		mux.Search(d.search),
		mux.Add(readOnly(gldap.ApplicationAddResponse)),
		mux.Modify(readOnly(gldap.ApplicationModifyResponse)),
		mux.Delete(readOnly(gldap.ApplicationDelResponse)),
		mux.DefaultRoute(unsupported),
		server.Router(mux),
	)
	if err != nil {
		return nil, fmt.Errorf("demo directory: %w", err)
	}
	d.server = server
	go func() { d.ran <- server.Run(opts.Addr) }()
	select {
	case addr := <-sink.addr:
		d.url = "ldap://" + addr.String()
		return d, nil
	case err := <-d.ran:
		return nil, fmt.Errorf("demo directory on %s: %w", opts.Addr, err)
	}
}

// logSink receives gldap's log calls. gldap keeps its listener to itself, so the way to learn
// which port "127.0.0.1:0" became is the listener address it logs, as a net.Addr, once it
// listens: the one net.Addr it ever logs. Its warnings and errors go to slog; its chatter is
// dropped.
type logSink struct {
	log  *slog.Logger
	addr chan net.Addr
}

func (s *logSink) Accept(_ string, level hclog.Level, msg string, args ...any) {
	if level >= hclog.Warn {
		s.log.Warn("demo directory: "+msg, args...)
	}
	for _, a := range args {
		if addr, ok := a.(net.Addr); ok {
			select {
			case s.addr <- addr:
			default:
			}
		}
	}
}

// Stop closes the listener and waits for the open connections to end, or for ctx. gldap
// reads each connection until its client closes it, so a client that keeps one open holds
// Stop until ctx ends.
func (d *Directory) Stop(ctx context.Context) error {
	stopped := make(chan error, 1)
	go func() { stopped <- d.server.Stop() }()
	select {
	case err := <-stopped:
		if err != nil {
			return fmt.Errorf("stop the demo directory: %w", err)
		}
		return <-d.ran
	case <-ctx.Done():
		return fmt.Errorf("stop the demo directory: a client still holds a connection: %w", ctx.Err())
	}
}

// URL is the directory's ldap:// URL.
func (d *Directory) URL() string { return d.url }

// BindPassword is BindDN's password, new on every Start.
func (d *Directory) BindPassword() string { return d.password }

// ConnectorConfig is the config of an ldap connector reading this directory. The connector's
// defaults for OpenLDAP fit it (no filter or attribute is set for them); it also reads the
// people's job attributes (userAttributes), for sync attribute mappings such as
// attributes.title or attributes.ou (the department).
func (d *Directory) ConnectorConfig() map[string]any {
	return map[string]any{
		"url": d.url, "bindDN": BindDN, "bindPassword": d.password,
		"baseDN": BaseDN, "userBaseDN": PeopleDN, "groupBaseDN": GroupsDN, "pageSize": pageSize,
		"userAttributes": slices.Clone(extraAttributes),
	}
}

// extraAttributes are the person attributes the demo connector reads beyond the ones the
// ldap connector always reads.
var extraAttributes = []string{"title", "ou", "departmentNumber", "l", "employeeNumber"}

// People returns the people as they are now.
func (d *Directory) People() []Person {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return slices.Clone(d.people)
}

// Groups returns each group's cn and its members' uids.
func (d *Directory) Groups() map[string][]string {
	out := map[string][]string{}
	for _, g := range d.groups {
		uids := make([]string, len(g.members))
		for i, dn := range g.members {
			uids[i] = strings.TrimPrefix(strings.SplitN(dn, ",", 2)[0], "uid=")
		}
		out[g.cn] = uids
	}
	return out
}

// Cases names the people of the hard matching cases.
func (d *Directory) Cases() Cases { return d.cases }

// FlohUsers are the Floh users to seed for the people to be matched against: the exact
// matches and the hard cases.
func (d *Directory) FlohUsers() []FlohUser { return slices.Clone(d.users) }

// Touch sets a person's modifyTimestamp, as a change upstream would, for incremental syncs
// to find. It fails for an unknown uid.
func (d *Directory) Touch(uid string, at time.Time) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	i, ok := d.byUID[uid]
	if !ok {
		return fmt.Errorf("the demo directory has no person with uid %q", uid)
	}
	at = at.UTC().Truncate(time.Second)
	d.people[i].Modified = at
	j := entryIndex(i)
	d.entries[j] = d.entries[j].with("modifytimestamp", at.Format(timeLayout))
	return nil
}

// entryIndex is where the i-th person's entry is in entries: after the base and the two OUs.
func entryIndex(person int) int { return 3 + person }

// build makes the entries from the people and groups.
func (d *Directory) build() {
	start := Epoch.Add(-6 * 365 * 24 * time.Hour)
	top := []*entry{
		newEntry(BaseDN, "objectClass", []string{"top", "dcObject", "organization"}, "dc", "demo", "o", "Floh demo",
			"entryUUID", "5f0c1c1e-4b1a-4d0e-9a57-0d3a1c0f2a01", "createTimestamp", start, "modifyTimestamp", start),
		newEntry(PeopleDN, "objectClass", []string{"top", "organizationalUnit"}, "ou", "people", "description", "Everyone who works here",
			"entryUUID", "5f0c1c1e-4b1a-4d0e-9a57-0d3a1c0f2a02", "createTimestamp", start, "modifyTimestamp", start),
		newEntry(GroupsDN, "objectClass", []string{"top", "organizationalUnit"}, "ou", "groups", "description", "Departments",
			"entryUUID", "5f0c1c1e-4b1a-4d0e-9a57-0d3a1c0f2a03", "createTimestamp", start, "modifyTimestamp", start),
	}
	d.entries = append(d.entries, top...)
	d.byUID = make(map[string]int, len(d.people))
	groupOf := map[string]string{}
	for _, g := range d.groups {
		for _, m := range g.members {
			groupOf[m] = g.DN()
		}
	}
	for i := range d.people {
		p := &d.people[i]
		d.byUID[p.UID] = i
		d.entries = append(d.entries, newEntry(p.DN(),
			"objectClass", []string{"top", "person", "organizationalPerson", "inetOrgPerson"},
			"uid", p.UID, "cn", p.CommonName, "sn", p.Surname, "givenName", p.GivenName, "displayName", p.DisplayName,
			"mail", p.Mail, "title", p.Title, "ou", p.Department, "departmentNumber", p.DepartmentNumber,
			"l", p.Location, "employeeNumber", p.EmployeeNumber,
			"entryUUID", p.EntryUUID, "createTimestamp", p.Created, "modifyTimestamp", p.Modified,
			"memberOf", groupOf[p.DN()]))
	}
	for _, g := range d.groups {
		d.entries = append(d.entries, newEntry(g.DN(),
			"objectClass", []string{"top", "groupOfNames"}, "cn", g.cn, "description", g.description, "member", g.members,
			"entryUUID", g.entryUUID, "createTimestamp", g.created, "modifyTimestamp", g.modified))
	}
	d.byDN = make(map[string]int, len(d.entries))
	for i, e := range d.entries {
		d.byDN[e.ndn] = i
	}
}

// rootDSE describes the server (RFC 4512 §5.1): where its tree is and that it pages.
var rootDSE = newEntry("", "objectClass", "top", "namingContexts", BaseDN,
	"supportedControl", "1.2.840.113556.1.4.319", "supportedLDAPVersion", "3", "vendorName", "Floh demo directory")

// schemaTypes are the attribute types of the schema the directory follows (core, cosine,
// inetorgperson, and the operational ones). A filter on one of them that an entry lacks is
// False; on any other type it is Undefined, as in slapd.
var schemaTypes = map[string]bool{}

func init() {
	for _, name := range strings.Fields(`objectclass cn sn givenname initials generationqualifier uid mail
		title ou o dc l st street postalcode postaladdress postofficebox physicaldeliveryofficename
		telephonenumber facsimiletelephonenumber mobile pager homephone homepostaladdress description
		displayname employeenumber employeetype departmentnumber businesscategory manager secretary
		member uniquemember memberof seealso roomnumber carlicense preferredlanguage labeleduri
		jpegphoto photo userpassword usercertificate x500uniqueidentifier audio registeredaddress
		destinationindicator internationalisdnnumber teletexterminalidentifier telexnumber
		x121address preferreddeliverymethod owner roleoccupant entryuuid entrydn
		createtimestamp modifytimestamp creatorsname modifiersname pwdaccountlockedtime
		namingcontexts supportedcontrol supportedldapversion vendorname`) {
		schemaTypes[name] = true
	}
}

func known(key string) bool { return schemaTypes[key] }

// session returns a connection's session, made on first use. The caller holds connMu.
func (d *Directory) session(conn int) *session {
	s := d.sessions[conn]
	if s == nil {
		s = &session{paged: map[string]*pagedSearch{}}
		d.sessions[conn] = s
	}
	return s
}

func (d *Directory) closed(conn int) {
	d.connMu.Lock()
	defer d.connMu.Unlock()
	delete(d.sessions, conn)
}

func (d *Directory) bound(conn int) bool {
	d.connMu.Lock()
	defer d.connMu.Unlock()
	return d.session(conn).bound
}

// bind accepts BindDN with the password, and an anonymous bind (which may read only the root
// DSE). Any other bind fails and leaves the connection anonymous (RFC 4511 §4.2.1).
func (d *Directory) bind(w *gldap.ResponseWriter, r *gldap.Request) {
	resp := r.NewBindResponse(gldap.WithResponseCode(gldap.ResultInvalidCredentials))
	bound := false
	m, err := r.GetSimpleBindMessage()
	switch {
	case err != nil:
		resp.SetResultCode(gldap.ResultProtocolError)
		resp.SetDiagnosticMessage(err.Error())
	case m.UserName == "" && m.Password == "":
		resp.SetResultCode(gldap.ResultSuccess)
	case m.Password == "":
		// RFC 4513 §5.1.2: an unauthenticated bind; slapd refuses them too.
		resp.SetResultCode(gldap.ResultUnwillingToPerform)
		resp.SetDiagnosticMessage("unauthenticated bind (DN with no password) disallowed")
	case normDN(m.UserName) == normDN(BindDN) && subtle.ConstantTimeCompare([]byte(m.Password), []byte(d.password)) == 1:
		resp.SetResultCode(gldap.ResultSuccess)
		bound = true
	}
	d.connMu.Lock()
	d.session(r.ConnectionID()).bound = bound
	d.connMu.Unlock()
	_ = w.Write(resp)
}

// search answers a search: the root DSE to anyone, the tree to a bound connection, paged
// when the request carries the paging control.
func (d *Directory) search(w *gldap.ResponseWriter, r *gldap.Request) {
	done := r.NewSearchDoneResponse()
	finish := func(code int, format string, args ...any) {
		done.SetResultCode(code)
		done.SetDiagnosticMessage(fmt.Sprintf(format, args...))
		_ = w.Write(done)
	}
	m, err := r.GetSearchMessage()
	if err != nil {
		finish(gldap.ResultProtocolError, "%v", err)
		return
	}
	match, err := compileFilter(m.Filter, known)
	if err != nil {
		finish(gldap.ResultProtocolError, "filter %s: %v", m.Filter, err)
		return
	}
	attrs := selectAttributes(m.Attributes)
	if strings.TrimSpace(m.BaseDN) == "" && m.Scope == gldap.BaseObject {
		if match(rootDSE) == isTrue {
			if !d.send(w, r, rootDSE, attrs, m.TypesOnly) {
				return
			}
		}
		finish(gldap.ResultSuccess, "")
		return
	}
	if !d.bound(r.ConnectionID()) {
		finish(gldap.ResultInsufficientAccessRights, "bind as %s first: the demo directory answers only bound connections", BindDN)
		return
	}

	var paging *gldap.ControlPaging
	for _, c := range m.Controls {
		if p, ok := c.(*gldap.ControlPaging); ok {
			paging = p
		}
	}
	key := strings.Join([]string{normDN(m.BaseDN), strconv.FormatInt(int64(m.Scope), 10), m.Filter, strings.Join(m.Attributes, ",")}, "\x00")
	var ps *pagedSearch
	if paging != nil && len(paging.Cookie) > 0 {
		if ps = d.resume(r.ConnectionID(), string(paging.Cookie), key); ps == nil {
			finish(gldap.ResultUnwillingToPerform, "paged results cookie is invalid or old")
			return
		}
	} else {
		if _, err := goldap.ParseDN(m.BaseDN); err != nil {
			finish(gldap.ResultInvalidDNSyntax, "invalid DN %q: %v", m.BaseDN, err)
			return
		}
		base := normDN(m.BaseDN)
		d.mu.RLock()
		_, exists := d.byDN[base]
		d.mu.RUnlock()
		if !exists {
			done.SetMatchedDN(d.matchedDN(base))
			finish(gldap.ResultNoSuchObject, "no such object: %s", m.BaseDN)
			return
		}
		ps = &pagedSearch{key: key, matches: d.matching(base, int64(m.Scope), match)}
	}

	// Without paging every match goes at once, up to the client's size limit.
	limit := len(ps.matches) - ps.next
	sizeExceeded := false
	if paging != nil {
		limit = min(limit, int(paging.PagingSize))
	} else if m.SizeLimit > 0 && int64(limit) > m.SizeLimit {
		limit, sizeExceeded = int(m.SizeLimit), true
	}
	d.mu.RLock()
	page := make([]*entry, limit)
	for i := range page {
		page[i] = d.entries[ps.matches[ps.next+i]]
	}
	d.mu.RUnlock()
	for _, e := range page {
		if !d.send(w, r, e, attrs, m.TypesOnly) {
			return
		}
	}
	ps.next += limit
	if paging != nil {
		// A page size of 0 abandons the search (RFC 2696 §3); so does reaching its end.
		cookie := ""
		if paging.PagingSize > 0 && ps.next < len(ps.matches) {
			cookie = d.keep(r.ConnectionID(), ps)
		}
		ctrl, _ := gldap.NewControlPaging(uint32(len(ps.matches)))
		ctrl.SetCookie([]byte(cookie))
		done.SetControls(ctrl)
	}
	if sizeExceeded {
		finish(gldap.ResultSizeLimitExceeded, "size limit of %d entries exceeded", m.SizeLimit)
		return
	}
	finish(gldap.ResultSuccess, "")
}

// matching returns the indices of the entries in scope that the filter selects.
func (d *Directory) matching(base string, scope int64, match matcher) []int {
	d.mu.RLock()
	defer d.mu.RUnlock()
	var out []int
	for i, e := range d.entries {
		if inScope(e.ndn, base, scope) && match(e) == isTrue {
			out = append(out, i)
		}
	}
	return out
}

// matchedDN is the nearest existing entry above a DN that does not exist.
func (d *Directory) matchedDN(ndn string) string {
	d.mu.RLock()
	defer d.mu.RUnlock()
	for {
		_, parent, ok := strings.Cut(ndn, ",")
		if !ok {
			return ""
		}
		if i, exists := d.byDN[parent]; exists {
			return d.entries[i].dn
		}
		ndn = parent
	}
}

// resume takes the paged search a cookie names, if it belongs to this connection and to this
// same search.
func (d *Directory) resume(conn int, cookie, key string) *pagedSearch {
	d.connMu.Lock()
	defer d.connMu.Unlock()
	s := d.session(conn)
	ps := s.paged[cookie]
	delete(s.paged, cookie)
	if ps == nil || ps.key != key {
		return nil
	}
	return ps
}

// keep stores a paged search for its next page under a new cookie.
func (d *Directory) keep(conn int, ps *pagedSearch) string {
	d.connMu.Lock()
	defer d.connMu.Unlock()
	s := d.session(conn)
	if len(s.paged) >= maxPagedSearches {
		oldest := ""
		for c, p := range s.paged {
			if oldest == "" || p.opened < s.paged[oldest].opened {
				oldest = c
			}
		}
		delete(s.paged, oldest)
	}
	d.cookies++
	ps.opened = d.cookies
	cookie := strconv.FormatUint(d.cookies, 36)
	s.paged[cookie] = ps
	return cookie
}

// send writes one entry with the attributes asked for; false when the client is gone.
func (d *Directory) send(w *gldap.ResponseWriter, r *gldap.Request, e *entry, attrs selection, typesOnly bool) bool {
	resp := r.NewSearchResponseEntry(e.dn)
	for i := range e.attrs {
		a := &e.attrs[i]
		if !attrs.wants(a) {
			continue
		}
		values := a.values
		if typesOnly {
			values = []string{}
		}
		resp.AddAttribute(a.name, values)
	}
	return w.Write(resp) == nil
}

// selection is the attribute list of a search (RFC 4511 §4.5.1.8).
type selection struct {
	user, operational bool
	named             map[string]bool
}

func selectAttributes(requested []string) selection {
	s := selection{user: len(requested) == 0, named: map[string]bool{}}
	for _, name := range requested {
		switch name {
		case "*":
			s.user = true
		case "+":
			s.operational = true
		default:
			s.named[attrKey(name)] = true
		}
	}
	return s
}

func (s selection) wants(a *attribute) bool {
	if s.named[a.lname] {
		return true
	}
	if a.operational {
		return s.operational
	}
	return s.user
}

// readOnly answers a change with the response its operation takes.
func readOnly(application int) gldap.HandlerFunc {
	return func(w *gldap.ResponseWriter, r *gldap.Request) {
		_ = w.Write(r.NewResponse(gldap.WithApplicationCode(application), gldap.WithResponseCode(gldap.ResultUnwillingToPerform),
			gldap.WithDiagnosticMessage("the demo directory is read-only")))
	}
}

// unsupported answers the extended operations (StartTLS, Who am I?, password modify): the
// demo directory serves plain LDAP on loopback only.
func unsupported(w *gldap.ResponseWriter, r *gldap.Request) {
	_ = w.Write(r.NewResponse(gldap.WithResponseCode(gldap.ResultProtocolError),
		gldap.WithDiagnosticMessage("the demo directory supports no extended operation, StartTLS included: connect with ldap:// and startTLS off")))
}
