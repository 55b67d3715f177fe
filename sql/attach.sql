-- attach: after sessionize.attach(stream, table), the rows each INSERT or
-- COPY statement adds to the table are one batch of the stream, in that
-- statement's transaction; the sessions go to the stream's sink.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';

CREATE TABLE att_sessions (key text, session_start timestamptz, session_end timestamptz,
                           event_count int, end_reason text, events jsonb);
SELECT sessionize.create_stream('att', gap => '30 minutes', sink => 'att_sessions');
-- The table's columns are found as sessionize_query finds them: id, ts,
-- isLast by the stream's field names; with no column "payload", the whole
-- row is the event.
CREATE TABLE att_clicks (id text, ts timestamptz, "isLast" boolean DEFAULT false, n int);

-- What attach refuses.
SELECT try($$SELECT sessionize.attach('att', NULL)$$);
SELECT try($$SELECT sessionize.attach('no_such_stream', 'att_clicks')$$);
SELECT try($$SELECT sessionize.attach('att', 'att_clicks', 1)$$);
SELECT try($$SELECT sessionize.attach('att', 'att_sessions')$$);
CREATE VIEW att_clicks_view AS SELECT * FROM att_clicks;
SELECT try($$SELECT sessionize.attach('att', 'att_clicks_view')$$);
CREATE TABLE no_ts (id text, at timestamptz);
SELECT try($$SELECT sessionize.attach('att', 'no_ts')$$);
CREATE TABLE point_ts (id text, ts point);
SELECT try($$SELECT sessionize.attach('att', 'point_ts')$$);
SELECT sessionize.create_stream('att_nosink', gap => '30 minutes');
SELECT try($$SELECT sessionize.attach('att_nosink', 'att_clicks')$$);

SELECT sessionize.attach('att', 'att_clicks');
SELECT try($$SELECT sessionize.attach('att', 'att_clicks')$$);
SELECT * FROM sessionize.attachments;

-- A multi-row INSERT is one batch: u1's session ends with its isLast.
INSERT INTO att_clicks VALUES ('u1', '2026-01-01 10:00Z', false, 1),
                          ('u1', '2026-01-01 10:05Z', true, 2),
                          ('u2', '2026-01-01 10:06Z', false, 1);
SELECT key, event_count, end_reason, jsonb_path_query_array(events, '$[*].n') AS labels
  FROM att_sessions ORDER BY key, session_start;
SELECT batches, events_in, sessions_open FROM sessionize.stats WHERE stream = 'att';

-- COPY in two statements: two batches.  The second moves the clock past
-- u2's gap, and past u3's.
COPY att_clicks (id, ts, n) FROM STDIN;
u2	2026-01-01 10:10Z	2
u3	2026-01-01 10:11Z	1
\.
COPY att_clicks (id, ts, n) FROM STDIN;
u4	2026-01-01 11:00Z	1
\.
SELECT key, event_count, end_reason, jsonb_path_query_array(events, '$[*].n') AS labels
  FROM att_sessions ORDER BY key, session_start;
SELECT batches, events_in, sessions_open FROM sessionize.stats WHERE stream = 'att';

-- INSERT ... SELECT of 1,000 rows: one batch of 1,000 events.
INSERT INTO att_clicks (id, ts, n)
SELECT 'v' || i % 100, '2026-01-01 11:01Z'::timestamptz + i * interval '1 second', i
  FROM generate_series(1, 1000) i;
SELECT batches, events_in, sessions_open FROM sessionize.stats WHERE stream = 'att';

-- A rolled-back INSERT leaves no trace: no session, no counter.
BEGIN;
INSERT INTO att_clicks VALUES ('u5', '2026-01-01 11:30Z', true, 1);
SELECT count(*) FROM att_sessions WHERE key = 'u5';
ROLLBACK;
SELECT count(*) FROM att_sessions WHERE key = 'u5';
SELECT batches, events_in, sessions_open FROM sessionize.stats WHERE stream = 'att';

-- A bad row fails its statement, naming the row (with the row shown), and
-- changes nothing: the good rows before it are not applied either.  The
-- error's context names the stream, and its hint the dead_letter table
-- that would set the row aside.
\set VERBOSITY default
INSERT INTO att_clicks VALUES ('u6', '2026-01-01 11:31Z', true, 1),
                          ('u6', NULL, false, 2);
INSERT INTO att_clicks VALUES ('u6', '2026-01-01 11:31Z', true, 1),
                          ('u6', 'infinity', false, 2);
SELECT count(*) FROM att_clicks WHERE id = 'u6';
SELECT count(*) FROM att_sessions WHERE key = 'u6';
SELECT batches, events_in FROM sessionize.stats WHERE stream = 'att';

-- An INSERT of no row is no batch.
INSERT INTO att_clicks SELECT * FROM att_clicks WHERE false;
SELECT batches FROM sessionize.stats WHERE stream = 'att';

-- UPDATE and DELETE feed nothing; the rows stay in the table.
UPDATE att_clicks SET n = n + 1 WHERE id = 'u1';
DELETE FROM att_clicks WHERE id = 'u2';
SELECT batches, (SELECT count(*) FROM att_clicks) AS rows_in_table FROM sessionize.stats
 WHERE stream = 'att';

-- With a dead_letter table, the bad row is set aside and the rest applied.
CREATE TABLE att_bad (element jsonb, element_index int, sqlstate text, message text);
SELECT sessionize.alter_stream('att', 'dead_letter', 'att_bad');
INSERT INTO att_clicks VALUES ('u7', '2026-01-01 11:32Z', true, 1),
                          ('u7', NULL, false, 2);
SELECT element_index, sqlstate, message, element FROM att_bad;
SELECT key, event_count, end_reason FROM att_sessions WHERE key = 'u7';

-- A dead_letter table with source and batch_offset tells the bad rows of
-- each statement apart: source is the table, qualified; batch_offset the
-- transaction's id (pg_current_xact_id()) times 1,000,000 plus the
-- number of the batch in the transaction (1, 2, ...).  Here two
-- statements of one transaction, then one of another.
CREATE TABLE att_bad_full (element_index int, element jsonb, sqlstate text, message text,
                           source text, batch_offset bigint);
SELECT sessionize.alter_stream('att', 'dead_letter', 'att_bad_full');
BEGIN;
INSERT INTO att_clicks VALUES ('u7', NULL, false, 3), ('u7', '2026-01-01 11:32Z', false, 4);
INSERT INTO att_clicks VALUES ('u7', '2026-01-01 11:32Z', false, 5), ('u7', NULL, false, 6);
SELECT pg_current_xact_id()::text::bigint AS first_xact \gset
COMMIT;
INSERT INTO att_clicks VALUES ('u7', NULL, false, 7);
SELECT element->'n' AS n, element_index, source,
       batch_offset / 1000000 = :first_xact AS in_first_xact, batch_offset % 1000000 AS batch
  FROM att_bad_full ORDER BY element->'n';
-- source reads back as the table.
SELECT DISTINCT source::regclass = 'att_clicks'::regclass AS is_the_table FROM att_bad_full;
SELECT sessionize.alter_stream('att', 'dead_letter', NULL);
DROP TABLE att_bad_full;

-- The stream must still have a sink when rows come.
SELECT sessionize.alter_stream('att', 'sink', NULL);
SELECT try($$INSERT INTO att_clicks VALUES ('u8', '2026-01-01 11:33Z', true, 1)$$);
SELECT sessionize.alter_stream('att', 'sink', 'att_sessions');

-- A second role: inserting needs the right to use the stream (membership
-- of its owner), which the batch checks as the inserting role; detach
-- needs the right to drop the table's triggers (its owner's).
CREATE ROLE regress_att_writer;
GRANT INSERT, SELECT ON att_clicks TO regress_att_writer;
SET ROLE regress_att_writer;
SELECT try($$INSERT INTO att_clicks VALUES ('u9', '2026-01-01 11:34Z', true, 1)$$);
SELECT try($$SELECT sessionize.detach('att', 'att_clicks')$$);
RESET ROLE;
DO $$BEGIN EXECUTE format('GRANT %I TO regress_att_writer', current_user); END$$;
SET ROLE regress_att_writer;
INSERT INTO att_clicks VALUES ('u9', '2026-01-01 11:34Z', true, 1);
RESET ROLE;
SELECT key, event_count, end_reason FROM att_sessions WHERE key = 'u9';

-- detach: rows no longer feed the stream.
SELECT sessionize.detach('att', 'att_clicks');
SELECT try($$SELECT sessionize.detach('att', 'att_clicks')$$);
INSERT INTO att_clicks VALUES ('u10', '2026-01-01 11:35Z', true, 1);
SELECT count(*) FROM att_sessions WHERE key = 'u10';
SELECT count(*) FROM sessionize.attachments;

-- One table may feed two streams (here with different gaps, the second
-- into its partition 1), each statement a batch of each.
CREATE TABLE att2_sessions (LIKE att_sessions);
SELECT sessionize.create_stream('att2', gap => '1 minute', partitions => 2,
                                sink => 'att2_sessions');
SELECT sessionize.attach('att', 'att_clicks');
SELECT sessionize.attach('att2', 'att_clicks', 1);
SELECT stream, source_table, "partition" FROM sessionize.attachments ORDER BY stream;
-- A trigger made by hand with the feeding function and other arguments
-- (any table's owner can) shows with no partition; the view still reads.
CREATE TABLE att_forged (x int);
CREATE TRIGGER forged AFTER INSERT ON att_forged REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION sessionize._feed_statement('att', 'not a number');
SELECT stream, source_table, "partition" FROM sessionize.attachments ORDER BY stream, source_table::text;
DROP TABLE att_forged;
INSERT INTO att_clicks VALUES ('w1', '2026-01-01 12:00Z', false, 1),
                          ('w1', '2026-01-01 12:05Z', false, 2);
SELECT key, event_count, end_reason FROM att_sessions WHERE key = 'w1';
SELECT key, event_count, end_reason FROM att2_sessions WHERE key = 'w1';
SELECT "partition", batches, events_in FROM sessionize.partition_stats WHERE stream = 'att2'
 ORDER BY 1;

-- Rows applied as replica (as a subscription's apply worker applies them,
-- row by row, with session_replication_role = replica): the statement
-- trigger does not fire; the row trigger gathers the transaction's rows,
-- fed as one batch just before it commits.  A savepoint rolled back takes
-- its rows with it.  (TAP 010 runs a real subscription.)
CREATE TABLE att_replica_sessions (LIKE att_sessions);
CREATE TABLE att_replica (id text, ts timestamptz, "isLast" boolean);
SELECT sessionize.create_stream('att_rep', gap => '1 hour', sink => 'att_replica_sessions');
SELECT sessionize.attach('att_rep', 'att_replica');
BEGIN;
SET LOCAL session_replication_role = replica;
INSERT INTO att_replica VALUES ('r1', '2026-01-01 10:00Z', false);
INSERT INTO att_replica VALUES ('r1', '2026-01-01 10:01Z', false);
SAVEPOINT s;
INSERT INTO att_replica VALUES ('r1', '2026-01-01 10:02Z', false);
ROLLBACK TO SAVEPOINT s;
INSERT INTO att_replica VALUES ('r1', '2026-01-01 10:03Z', true);
-- nothing fed yet: the rows wait for the commit
SELECT batches FROM sessionize.stats WHERE stream = 'att_rep';
COMMIT;
SELECT key, event_count, end_reason, jsonb_path_query_array(events, '$[*].ts') AS ts
  FROM att_replica_sessions;
SELECT batches, events_in FROM sessionize.stats WHERE stream = 'att_rep';
-- A rolled-back transaction feeds nothing.
BEGIN;
SET LOCAL session_replication_role = replica;
INSERT INTO att_replica VALUES ('r2', '2026-01-01 10:05Z', true);
ROLLBACK;
SELECT batches, events_in FROM sessionize.stats WHERE stream = 'att_rep';
-- A sink with a deferred trigger that fires in replica mode too (ENABLE
-- ALWAYS; the others do not fire there): its event would fire at commit as
-- the subscription's owner, not as the table's, so PostgreSQL refuses it
-- in the batch, which runs as the table's owner in a security-restricted
-- operation, and the transaction fails.
CREATE FUNCTION att_note() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE CONSTRAINT TRIGGER att_later AFTER INSERT ON att_replica_sessions
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION att_note();
ALTER TABLE att_replica_sessions ENABLE ALWAYS TRIGGER att_later;
BEGIN;
SET LOCAL session_replication_role = replica;
INSERT INTO att_replica VALUES ('r3', '2026-01-01 10:06Z', true);
COMMIT;
SELECT count(*) FROM att_replica_sessions WHERE key = 'r3';
-- Not deferred, it is fine.
DROP TRIGGER att_later ON att_replica_sessions;
CREATE CONSTRAINT TRIGGER att_later AFTER INSERT ON att_replica_sessions
    DEFERRABLE INITIALLY IMMEDIATE FOR EACH ROW EXECUTE FUNCTION att_note();
ALTER TABLE att_replica_sessions ENABLE ALWAYS TRIGGER att_later;
BEGIN;
SET LOCAL session_replication_role = replica;
INSERT INTO att_replica VALUES ('r3', '2026-01-01 10:06Z', true);
COMMIT;
SELECT count(*) FROM att_replica_sessions WHERE key = 'r3';
SELECT sessionize.drop_stream('att_rep');
DROP TABLE att_replica, att_replica_sessions;
DROP FUNCTION att_note();

-- drop_stream detaches; DROP TABLE takes the attachment with it.
SELECT sessionize.drop_stream('att2');
SELECT stream, source_table FROM sessionize.attachments;
DROP TABLE att_clicks CASCADE;
SELECT count(*) FROM sessionize.attachments;

SELECT sessionize.drop_stream('att');
SELECT sessionize.drop_stream('att_nosink');

DROP ROLE regress_att_writer;
