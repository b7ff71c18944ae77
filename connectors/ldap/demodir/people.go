package demodir

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"
	"golang.org/x/text/unicode/norm"
)

// Epoch is the moment the generated directory describes: every createTimestamp and
// modifyTimestamp lies before it, spread over the years before, the recent ones the most
// frequent. It is fixed rather than the start time so that the same seed gives the same
// directory on every start, and an incremental sync after a restart finds nothing changed.
var Epoch = time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC)

// MailDomain is the domain of the people's mail.
const MailDomain = "corp.example.test"

// Person is one generated user (an inetOrgPerson under ou=people).
type Person struct {
	UID, EntryUUID                 string
	GivenName, Surname, CommonName string
	DisplayName                    string
	// Mail is empty for the people without one.
	Mail                                string
	Title, Department, DepartmentNumber string
	Location, EmployeeNumber            string
	Created, Modified                   time.Time
}

// DN is the person's entry.
func (p *Person) DN() string { return "uid=" + p.UID + "," + PeopleDN }

// FlohUser is a Floh user the demo seeds for matching against the people: a pre-provisioned,
// unconfirmed user. UpstreamID is empty when the user carries none.
type FlohUser struct {
	Email, DisplayName, UpstreamID string
}

// Cases names, by uid, the people that make matching hard or interesting. The Floh users
// that go with them are in Directory.FlohUsers.
type Cases struct {
	// Exact people have a Floh user with the very same email; every other one of them also
	// carries the person's entryUUID as upstream_id, so Upstream identity finds half of them
	// and a fallback to Email the other half.
	Exact []string
	// CaseOnly people's mail differs only in letter case from their Floh user's email
	// (Ada.Lovelace@CORP.EXAMPLE.TEST against ada.lovelace@corp.example.test): Email matches.
	CaseOnly []string
	// AmbiguousEmail's mail is held, up to letter case, by two Floh users whose emails differ
	// from each other and from the person's only in case: ambiguous under Email.
	AmbiguousEmail string
	// SharedUpstreamID's entryUUID is the upstream_id of two Floh users (with other emails):
	// ambiguous under Upstream identity, unmatched under Email.
	SharedUpstreamID string
	// NoMail people have no mail attribute (about 2 %).
	NoMail []string
	// NoMailUpstreamID is one of NoMail whose entryUUID a Floh user carries as upstream_id:
	// unmatched under Email, matched under Upstream identity.
	NoMailUpstreamID string
}

// MinPeople is the fewest people a directory is generated with: enough for every case and
// every department.
const MinPeople = 30

// generation is what generate makes.
type generation struct {
	people []Person
	cases  Cases
	users  []FlohUser
	groups []group
}

// group is one department's groupOfNames.
type group struct {
	cn, entryUUID, description string
	members                    []string // DNs
	created, modified          time.Time
}

// DN is the group's entry.
func (g *group) DN() string { return "cn=" + g.cn + "," + GroupsDN }

// generate makes n people, their departments' groups and the Floh users of the hard cases,
// the same for the same seed.
func generate(n int, seed uint64) generation {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	g := generation{people: make([]Person, n)}
	uids := map[string]int{}
	mails := map[string]int{}
	totalWeight := 0
	for _, d := range departments {
		totalWeight += d.weight
	}
	members := make([][]string, len(departments))
	for i := range g.people {
		p := &g.people[i]
		// The first people go one to each department, so that every group has a member.
		dept := i
		if i >= len(departments) {
			dept = weighted(rng, totalWeight)
		}
		d := departments[dept]
		p.GivenName = givenNames[rng.IntN(len(givenNames))]
		p.Surname = surnames[rng.IntN(len(surnames))]
		p.CommonName = p.GivenName + " " + p.Surname
		p.DisplayName = p.CommonName
		given, sur := asciiFold(p.GivenName), asciiFold(p.Surname)
		p.UID = unique(uids, given[:1]+sur)
		p.Mail = unique(mails, given+"."+sur) + "@" + MailDomain
		p.EntryUUID = randomUUID(rng)
		p.Title = d.titles[pickSkewed(rng, len(d.titles))]
		p.Department, p.DepartmentNumber = d.name, d.number
		p.Location = locations[rng.IntN(len(locations))]
		p.EmployeeNumber = fmt.Sprintf("E%05d", i+1)
		// Created one to six years before the epoch; modified since, mostly recently.
		p.Created = Epoch.Add(-time.Duration(365+rng.IntN(5*365)) * 24 * time.Hour).Add(-time.Duration(rng.IntN(86400)) * time.Second)
		age := Epoch.Sub(p.Created)
		u := rng.Float64()
		p.Modified = Epoch.Add(-time.Duration(u * u * float64(age))).Truncate(time.Second)
		members[dept] = append(members[dept], p.DN())
	}

	// The hard cases are drawn without overlap from one shuffle of the people.
	order := rng.Perm(n)
	take := func(k int) []int {
		picked := order[:k]
		order = order[k:]
		return picked
	}
	local := func(p *Person) string { return strings.TrimSuffix(p.Mail, "@"+MailDomain) }
	for _, i := range take(max(1, n/50)) {
		g.cases.NoMail = append(g.cases.NoMail, g.people[i].UID)
		g.people[i].Mail = ""
	}
	noMail := &g.people[indexOf(g.people, g.cases.NoMail[0])]
	g.cases.NoMailUpstreamID = noMail.UID
	g.users = append(g.users, FlohUser{Email: asciiFold(noMail.GivenName) + "." + asciiFold(noMail.Surname) + "@home.example.test",
		DisplayName: noMail.DisplayName, UpstreamID: noMail.EntryUUID})

	for _, i := range take(5) {
		p := &g.people[i]
		g.cases.CaseOnly = append(g.cases.CaseOnly, p.UID)
		g.users = append(g.users, FlohUser{Email: p.Mail, DisplayName: p.DisplayName})
		p.Mail = titleCase(local(p)) + "@" + strings.ToUpper(MailDomain)
	}

	amb := &g.people[take(1)[0]]
	g.cases.AmbiguousEmail = amb.UID
	g.users = append(g.users,
		FlohUser{Email: titleCase(local(amb)) + "@" + MailDomain, DisplayName: amb.DisplayName},
		FlohUser{Email: strings.ToUpper(amb.Mail), DisplayName: amb.DisplayName + " (duplicate account)"})

	shared := &g.people[take(1)[0]]
	g.cases.SharedUpstreamID = shared.UID
	g.users = append(g.users,
		FlohUser{Email: local(shared) + "@alumni.example.test", DisplayName: shared.DisplayName, UpstreamID: shared.EntryUUID},
		FlohUser{Email: local(shared) + "@contractors.example.test", DisplayName: shared.DisplayName, UpstreamID: shared.EntryUUID})

	for k, i := range take(max(1, n/10)) {
		p := &g.people[i]
		g.cases.Exact = append(g.cases.Exact, p.UID)
		u := FlohUser{Email: p.Mail, DisplayName: p.DisplayName}
		if k%2 == 0 {
			u.UpstreamID = p.EntryUUID
		}
		g.users = append(g.users, u)
	}

	for i, d := range departments {
		created := Epoch.Add(-6 * 365 * 24 * time.Hour).Add(time.Duration(i) * time.Hour)
		g.groups = append(g.groups, group{
			cn: d.name, entryUUID: randomUUID(rng), description: "Everyone in " + d.name + " (department " + d.number + ")",
			members: members[i], created: created, modified: Epoch.Add(-time.Duration(1+rng.IntN(300)) * 24 * time.Hour),
		})
	}
	return g
}

// weighted picks a department index by weight.
func weighted(rng *rand.Rand, total int) int {
	r := rng.IntN(total)
	for i, d := range departments {
		if r < d.weight {
			return i
		}
		r -= d.weight
	}
	return len(departments) - 1
}

// pickSkewed picks an index below n, the low ones the most often.
func pickSkewed(rng *rand.Rand, n int) int {
	u := rng.Float64()
	return int(u * u * float64(n))
}

// unique returns base, or base with a number when base was taken: jsmith, jsmith2, ...
func unique(seen map[string]int, base string) string {
	seen[base]++
	if k := seen[base]; k > 1 {
		return base + strconv.Itoa(k)
	}
	return base
}

func randomUUID(rng *rand.Rand) string {
	var u uuid.UUID
	for i := range u {
		u[i] = byte(rng.Uint32())
	}
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	return u.String()
}

func indexOf(people []Person, uid string) int {
	for i := range people {
		if people[i].UID == uid {
			return i
		}
	}
	return -1
}

// foldExtra maps the letters that do not decompose into a base letter and a mark.
var foldExtra = map[rune]string{'ł': "l", 'Ł': "l", 'ø': "o", 'Ø': "o", 'ß': "ss", 'æ': "ae", 'Æ': "ae", 'đ': "d", 'Đ': "d"}

// asciiFold lowercases a name into the letters and digits of a uid or mail local part:
// "Łukasz" → "lukasz", "O'Brien" → "obrien", "Van der Berg" → "vanderberg".
func asciiFold(s string) string {
	var b strings.Builder
	for _, r := range norm.NFD.String(s) {
		switch {
		case foldExtra[r] != "":
			b.WriteString(foldExtra[r])
		case r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// titleCase capitalises each dot-separated part: ada.lovelace → Ada.Lovelace.
func titleCase(s string) string {
	parts := strings.Split(s, ".")
	for i, p := range parts {
		if p != "" {
			parts[i] = strings.ToUpper(p[:1]) + p[1:]
		}
	}
	return strings.Join(parts, ".")
}
