package ldap

import (
	"fmt"
	"io"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"

	"floh/connectors"
	"floh/connectors/ldap/ldaptest"
)

// BenchmarkListUsers100k lists every user of a local slapd holding 100,000 people (loaded
// with slapadd -q) over LDAPS, 1,000 per page, and reports entries per second and the peak Go
// heap. The same listing of a 10,000-people directory shows whether memory grows with the
// number of entries: it should not, since List holds one page at a time. slapd runs on the
// same machine and shares its cores.
func BenchmarkListUsers100k(b *testing.B) {
	for _, total := range []int{10_000, 100_000} {
		start := time.Now()
		s, err := ldaptest.StartLoaded(b.TempDir(), func(w io.Writer) error { return ldaptest.WriteUsers(w, total) })
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		load := time.Since(start)
		cfg, problems := connectors.CheckConfig(LDAP, connectors.Config{
			"url": s.LDAPSURL, "caCert": string(s.CAPEM), "bindDN": s.BindDN, "bindPassword": s.BindPassword,
			"baseDN": s.BaseDN, "userBaseDN": s.UserBaseDN,
		})
		if len(problems) > 0 {
			b.Fatal(problems)
		}
		c, err := newConnector(ldapFlavor, cfg)
		if err != nil {
			b.Fatal(err)
		}

		b.Run(fmt.Sprintf("entries=%d", total), func(b *testing.B) {
			b.ReportAllocs()
			sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
			runtime.GC()
			var peak uint64
			listed := 0
			for b.Loop() {
				n := 0
				err := c.List(b.Context(), connectors.ResourceUser, connectors.ListOptions{}, func(p connectors.Page) error {
					n += len(p.Records)
					// Read once per page, while the page is still held: the heap at its
					// fullest. runtime/metrics reads without stopping the world.
					metrics.Read(sample)
					peak = max(peak, sample[0].Value.Uint64())
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
				if n != total {
					b.Fatalf("listed %d entries, want %d", n, total)
				}
				listed += n
			}
			b.ReportMetric(float64(listed)/b.Elapsed().Seconds(), "entries/s")
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
			b.ReportMetric(load.Seconds(), "slapadd+start-s")
		})
	}
}
