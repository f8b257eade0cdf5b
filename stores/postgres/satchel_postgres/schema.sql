-- The one table satchel-postgres keeps sessions in, and its two indexes.
--
-- create_schema() runs this file inside a transaction, with the four
-- placeholders replaced by quoted identifiers: the configured schema, the
-- configured table, and the table name followed by _expires_at and by _owner
-- for the indexes. It first creates the schema itself if that does not exist
-- yet. To run the file yourself (from a migration, or psql), replace the
-- placeholders, e.g. with public, satchel_sessions, satchel_sessions_expires_at
-- and satchel_sessions_owner. A table made before the owner column gains it
-- from owner_migration.sql, never from this file.
--
-- key         the store key: a hash of the session ID, never the ID itself.
-- revision    1 when created, one more after every save; saves compare it.
-- expires_at  when the session expires, in POSIX seconds on the application's
--             clock (the database's own now() is never used). A row at or
--             past it is never loaded, and sweep() deletes it.
-- value       the packed session record: opaque bytes.
-- owner       the session's owner (sessions by owner), or NULL. Set when the
--             row is created, never changed.

CREATE TABLE IF NOT EXISTS {schema}.{table} (
    key text PRIMARY KEY,
    revision bigint NOT NULL,
    expires_at double precision NOT NULL,
    value bytea NOT NULL,
    owner text
);

-- sweep() finds expired rows through this index, in bounded batches.
CREATE INDEX IF NOT EXISTS {index} ON {schema}.{table} (expires_at);

-- Listing and ending an owner's sessions, and the cap on how many one owner
-- keeps (latest expiry first), read this index alone. Sessions without an
-- owner are not in it, so they cost it nothing.
CREATE INDEX IF NOT EXISTS {owner_index} ON {schema}.{table} (owner, expires_at)
    WHERE owner IS NOT NULL;
