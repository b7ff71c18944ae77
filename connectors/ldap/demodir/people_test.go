package demodir

import (
	"net/mail"
	"reflect"
	"strings"
	"testing"
)

func TestGenerationIsDeterministic(t *testing.T) {
	t.Parallel()
	a, b := generate(1000, 42), generate(1000, 42)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same seed generated two different directories")
	}
	if c := generate(1000, 43); reflect.DeepEqual(a.people, c.people) {
		t.Fatal("another seed generated the same people")
	}
	if n := len(a.users); n != 1+5+2+2+100 {
		t.Errorf("%d Floh users, want one per exact match and the hard cases' 10", n)
	}
	emails := map[string]bool{}
	for _, u := range a.users {
		if addr, err := mail.ParseAddress(u.Email); err != nil || addr.Address != u.Email {
			t.Errorf("Floh user email %q is not an address: %v", u.Email, err)
		}
		if emails[u.Email] {
			t.Errorf("two Floh users have the email %q", u.Email)
		}
		emails[u.Email] = true
	}
	depts := map[string]int{}
	titles := map[string]bool{}
	for _, p := range a.people {
		depts[p.Department]++
		titles[p.Title] = true
		if p.Mail != "" && !strings.EqualFold(p.Mail[strings.IndexByte(p.Mail, '@')+1:], MailDomain) {
			t.Errorf("%s has mail %q outside %s", p.UID, p.Mail, MailDomain)
		}
		if p.Modified.Before(p.Created) || p.Modified.After(Epoch) {
			t.Errorf("%s created %v, modified %v", p.UID, p.Created, p.Modified)
		}
	}
	if len(depts) != len(departments) || depts["Engineering"] < depts["Facilities"]*3 || len(titles) < 40 {
		t.Errorf("departments %v, %d titles: want all, weighted, with their titles", depts, len(titles))
	}
}

func TestASCIIFold(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"Łukasz": "lukasz", "O'Brien": "obrien", "Van der Berg": "vanderberg", "Søren": "soren", "Zoë": "zoe",
		"Dvořák": "dvorak", "Eun-ji": "eunji", "Żukowski": "zukowski", "São Paulo": "saopaulo",
	} {
		if got := asciiFold(in); got != want {
			t.Errorf("asciiFold(%q) = %q, want %q", in, got, want)
		}
	}
}
