-- The one table satchel-postgres keeps sessions in, and its expiry index.
--
-- create_schema() runs this file inside a transaction, with the three
-- placeholders replaced by quoted identifiers: the configured schema, the
-- configured table, and the table name followed by _expires_at for the index.
-- It first creates the schema itself if that does not exist yet. To run the
-- file yourself (from a migration, or psql), replace the placeholders, e.g.
-- with public, satchel_sessions and satchel_sessions_expires_at.
--
-- key         the store key: a hash of the session ID, never the ID itself.
-- revision    1 when created, one more after every save; saves compare it.
-- expires_at  when the session expires, in POSIX seconds on the application's
--             clock (the database's own now() is never used). A row at or
--             past it is never loaded, and sweep() deletes it.
-- value       the packed session record: opaque bytes.

CREATE TABLE IF NOT EXISTS {schema}.{table} (
    key text PRIMARY KEY,
    revision bigint NOT NULL,
    expires_at double precision NOT NULL,
    value bytea NOT NULL
);

-- sweep() finds expired rows through this index, in bounded batches.
CREATE INDEX IF NOT EXISTS {index} ON {schema}.{table} (expires_at);
