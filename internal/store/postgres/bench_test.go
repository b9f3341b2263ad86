package postgres_test

import (
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/store/postgres/pgtest"
	"github.com/gatehouse-auth/gatehouse/internal/store/sqldb/sqldbtest"
)

func BenchmarkSessionLookup(b *testing.B) {
	sqldbtest.RunSessionLookupBenchmark(b, pgtest.New(b))
}

func BenchmarkRefreshRotate(b *testing.B) {
	sqldbtest.RunRefreshRotateBenchmark(b, pgtest.New(b))
}

// BenchmarkAdminList: the admin API's user and audit listings on 10k rows
// each (issue 16).
func BenchmarkAdminList(b *testing.B) {
	sqldbtest.RunAdminListBenchmarks(b, pgtest.New(b))
}
