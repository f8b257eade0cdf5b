-- Brings a table made before the owner column up to date, without blocking
-- the sessions it serves. create_schema() never alters an existing table:
-- run this yourself (psql, or a migration tool), as the table's owner, with
-- the placeholders replaced as in schema.sql, e.g. public, satchel_sessions
-- and satchel_sessions_owner.
--
-- Run the two statements one at a time, outside a transaction block:
-- CREATE INDEX CONCURRENTLY refuses to run inside one.
--
-- 1. A column without a default: PostgreSQL records it in the catalog and
--    rewrites no row, so the ACCESS EXCLUSIVE lock it takes is held for
--    milliseconds. lock_timeout makes it give up, rather than make every
--    session read queue behind it, while a long transaction holds the table;
--    run it again if it does.
SET lock_timeout = '2s';
ALTER TABLE {schema}.{table} ADD COLUMN IF NOT EXISTS owner text;
RESET lock_timeout;

-- 2. The index, built without blocking writes. Existing rows have no owner,
--    so it starts empty, but the build still reads the whole table: give it
--    time (statement_timeout). If it fails, it leaves an INVALID index
--    behind: DROP INDEX CONCURRENTLY {schema}.{owner_index}; and run it again.
CREATE INDEX CONCURRENTLY IF NOT EXISTS {owner_index} ON {schema}.{table} (owner, expires_at)
    WHERE owner IS NOT NULL;
