package engine_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"floh/engine"
)

// BenchmarkAuditedWrite measures audited changes per second: each is a transaction with a
// user row and a hash-chained audit entry. The chain serialises writers on one lock, so this
// is the ceiling for configuration changes, whatever the parallelism.
func BenchmarkAuditedWrite(b *testing.B) {
	for _, par := range []int{1, 8} {
		b.Run(fmt.Sprintf("writers=%d", par), func(b *testing.B) {
			f := setup(b)
			var n atomic.Int64
			b.SetParallelism(par)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					email := fmt.Sprintf("u%d@example.test", n.Add(1))
					if _, _, err := f.eng.CreateUser(f.ctx, f.actor(), engine.CreateUserInput{Email: email}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
		})
	}
}
