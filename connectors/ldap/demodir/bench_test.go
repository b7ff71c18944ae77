package demodir_test

import (
	"context"
	"testing"

	"floh/connectors"
	"floh/connectors/ldap"
	"floh/connectors/ldap/demodir"
)

// BenchmarkStart generates the default directory and starts serving it: what `serve --demo`
// adds to a start.
func BenchmarkStart(b *testing.B) {
	for b.Loop() {
		d, err := demodir.Start(demodir.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if err := d.Stop(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkListAllUsers lists the default directory's people through the ldap connector, in
// the pages the demo connector asks for; it reports people listed per second.
func BenchmarkListAllUsers(b *testing.B) {
	d, err := demodir.Start(demodir.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = d.Stop(context.Background()) })
	cfg, problems := connectors.CheckConfig(ldap.LDAP, d.ConnectorConfig())
	if len(problems) > 0 {
		b.Fatal(problems)
	}
	c, err := ldap.LDAP.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	listed := 0
	for b.Loop() {
		err := c.(connectors.Lister).List(b.Context(), connectors.ResourceUser, connectors.ListOptions{}, func(p connectors.Page) error {
			listed += len(p.Records)
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(listed)/b.Elapsed().Seconds(), "people/s")
}
