package sqlite_test

import (
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/store/sqldb/sqldbtest"
)

func BenchmarkSessionLookup(b *testing.B) {
	sqldbtest.RunSessionLookupBenchmark(b, newStore(b))
}

func BenchmarkRefreshRotate(b *testing.B) {
	sqldbtest.RunRefreshRotateBenchmark(b, newStore(b))
}
