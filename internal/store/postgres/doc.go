// Package postgres is gatehouse's shared store for several instances: every
// store interface on PostgreSQL through pgx v5's database/sql driver. The SQL
// lives in store/sqldb; this package opens the pool, maps PostgreSQL errors
// onto auth's sentinels and carries the PostgreSQL migrations. Package
// pgtest gives tests a private schema each.
package postgres
