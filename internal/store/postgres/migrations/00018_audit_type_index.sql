-- +goose Up
-- Listing the audit trail by event type (gatehouse audit --type, the admin
-- API's and console's type filter) walked the time index backwards over
-- every event of every other type until it found a page of the one asked
-- for: on a busy deployment, millions of logins and refreshes per page.
-- (type, time, id) is ListAudit's order within one type, so the time
-- bounds and the (time, id) row-value cursor are conditions of the index
-- and a page reads only its rows. id is for PostgreSQL, whose indexes do
-- not end in the row ID as SQLite's do; one definition for both. The
-- (time) index stays: the audit purge searches it.
CREATE INDEX IF NOT EXISTS audit_events_type_time ON audit_events (type, time, id);

-- +goose Down
DROP INDEX IF EXISTS audit_events_type_time;
