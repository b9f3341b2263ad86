// Package pgtest gives each test its own PostgreSQL schema (empty, for
// tests that migrate) or database (a copy of a template migrated once per
// set of migrations, for everything else), so that tests and test packages
// running in parallel never see each other's rows. It is for tests only.
// Templates are named gh_template_<hash of the migrations> and kept from
// one run to the next; those of migrations no checkout has any more can be
// dropped by hand.
package pgtest
