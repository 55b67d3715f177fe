-- streams: create_stream and drop_stream, their checks, names that need
-- quoting, ownership, and the isolation level calls need.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';

-- Settings are stored as given; defaults fill the rest.
SELECT sessionize.create_stream('s1', 'bigint', '30 min', '2 hours', 100, '5 min',
                                'user_id', 'at', 'done');
SELECT sessionize.create_stream('s2');
SELECT name, key_type, gap, max_duration, max_events, lateness, key_field,
       ts_field, last_field, sink, partitions, owner = current_user::regrole AS mine
  FROM sessionize.streams WHERE name IN ('s1', 's2') ORDER BY name;
SELECT stream, watermark FROM sessionize.stats WHERE stream IN ('s1', 's2') ORDER BY 1;

-- Each stream's open sessions live in a table of its own: a row is found
-- by its key (of the stream's key type) through a hash index on it (the
-- partition, which a key may be open in several of, is checked on the
-- row).
SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull
  FROM pg_attribute a
 WHERE a.attrelid = (SELECT format('sessionize.%I', state_table)::regclass
                       FROM sessionize.streams WHERE name = 's1')
   AND a.attnum > 0
 ORDER BY a.attnum;
SELECT replace(indexdef, s.state_table, 'STATE') AS index
  FROM pg_indexes i JOIN sessionize.streams s ON i.tablename = s.state_table
 WHERE s.name = 's1' ORDER BY 1;
-- Its timers are kept apart, in a table of their own, so that no column
-- of a state row is indexed but its key (see src/state.c).
SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull
  FROM pg_attribute a
 WHERE a.attrelid = (SELECT format('sessionize.%I', state_table || '_timers')::regclass
                       FROM sessionize.streams WHERE name = 's1')
   AND a.attnum > 0
 ORDER BY a.attnum;
SELECT replace(indexdef, s.state_table, 'STATE') AS index
  FROM pg_indexes i JOIN sessionize.streams s ON i.tablename = s.state_table || '_timers'
 WHERE s.name = 's1' ORDER BY 1;

-- A key type (a domain's base type) that is a scalar with a default hash
-- operator class gets the hash index; any other (a composite, bit
-- strings) a btree primary key on (key, part). Both find the same
-- sessions.
CREATE TYPE key_pair AS (tenant text, id integer);
CREATE DOMAIN key_dom AS bigint;
SELECT sessionize.create_stream('k_' || replace(t, ' ', '_'), key_type => t::regtype)
  FROM unnest(ARRAY['bigint', 'uuid', 'key_dom', 'bit varying', 'key_pair']) t;
SELECT s.key_type, am.amname, i.indisunique,
       (SELECT string_agg(a.attname, ', ' ORDER BY k.n)
          FROM unnest(i.indkey) WITH ORDINALITY k(attnum, n)
          JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum) AS columns
  FROM sessionize.streams s
  JOIN pg_index i ON i.indrelid = format('sessionize.%I', s.state_table)::regclass
  JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam
 WHERE s.name LIKE 'k\_%' AND c.relname NOT LIKE '%\_deadline'
 ORDER BY s.stream_id;
SELECT count(*) FROM sessionize.sessionize_batch('k_key_pair',
  '[{"id": "(acme,1)", "ts": "2026-01-01T10:00:00Z"}, {"id": "(acme,2)", "ts": "2026-01-01T10:01:00Z"},
    {"id": "(acme,1)", "ts": "2026-01-01T10:02:00Z"}]');
SELECT count(*) FROM sessionize.sessionize_batch('k_key_dom',
  '[{"id": 7, "ts": "2026-01-01T10:00:00Z"}, {"id": 8, "ts": "2026-01-01T10:01:00Z"},
    {"id": 7, "ts": "2026-01-01T10:02:00Z"}]');
SELECT 'k_key_pair' AS stream, key, event_count FROM sessionize.open_sessions('k_key_pair')
UNION ALL
SELECT 'k_key_dom', key, event_count FROM sessionize.open_sessions('k_key_dom');
SELECT sessionize.drop_stream('k_' || replace(t, ' ', '_'))
  FROM unnest(ARRAY['bigint', 'uuid', 'key_dom', 'bit varying', 'key_pair']) t;
DROP TYPE key_pair;
DROP DOMAIN key_dom;

-- Hash values collide: two keys of the same hash are two sessions, each
-- probe and open_sessions(stream, key) finds its own, and open_sessions
-- lists them in key order. The pair is found here, among generated keys.
SELECT k[1] AS key_a, k[2] AS key_b
  FROM (SELECT array_agg(k ORDER BY k) AS k
          FROM (SELECT 'user-' || i AS k FROM generate_series(1, 300000) i) g
         GROUP BY hashtext(k COLLATE "C") HAVING count(*) = 2
         ORDER BY 1 LIMIT 1) pairs \gset
SELECT sessionize.create_stream('collide', gap => '30 minutes');
SELECT count(*) FROM sessionize.sessionize_batch('collide', jsonb_build_array(
  jsonb_build_object('id', :'key_a', 'ts', '2026-01-01T10:00:00Z', 'n', 1),
  jsonb_build_object('id', :'key_b', 'ts', '2026-01-01T10:01:00Z', 'n', 2),
  jsonb_build_object('id', :'key_a', 'ts', '2026-01-01T10:02:00Z', 'n', 3)));
SELECT key = :'key_a' AS is_a, key = :'key_b' AS is_b, event_count,
       jsonb_path_query_array(events, '$[*].n') AS n
  FROM sessionize.open_sessions('collide');
SELECT key = :'key_a' AS is_a, event_count, end_reason, jsonb_path_query_array(events, '$[*].n') AS n
  FROM sessionize.sessionize_batch('collide', jsonb_build_array(
  jsonb_build_object('id', :'key_b', 'ts', '2026-01-01T10:03:00Z', 'n', 4),
  jsonb_build_object('id', :'key_a', 'ts', '2026-01-01T10:04:00Z', 'n', 5, 'isLast', true)));
SELECT key = :'key_b' AS is_b, event_count, jsonb_path_query_array(events, '$[*].n') AS n
  FROM sessionize.open_sessions('collide', :'key_b');
SELECT count(*) AS a_open FROM sessionize.open_sessions('collide', :'key_a');
SELECT key = :'key_b' AS is_b, event_count, end_reason, jsonb_path_query_array(events, '$[*].n') AS n
  FROM sessionize.flush('collide');
SELECT sessionize.drop_stream('collide');

-- The stream's owner, not a superuser, may give its state table the btree
-- primary key instead (alter_stream's key_index, see the README), and
-- back; sessionize uses the index there is, and the stream goes on with
-- the same sessions.  A key type without a hash operator class cannot
-- have the hash index.
CREATE ROLE regress_sessionize_keys;
SET ROLE regress_sessionize_keys;
SELECT sessionize.create_stream('to_btree', gap => '30 minutes');
SELECT count(*) FROM sessionize.sessionize_batch('to_btree',
  '[{"id": "a", "ts": "2026-01-01T10:00:00Z"}, {"id": "b", "ts": "2026-01-01T10:01:00Z"}]');
SELECT format('sessionize.%I', state_table) AS bt_table FROM sessionize.streams WHERE name = 'to_btree' \gset
CREATE TEMP VIEW key_index AS
SELECT am.amname, i.indisprimary, i.indisunique,
       (SELECT string_agg(a.attname, ', ' ORDER BY k.n)
          FROM unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
          JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum) AS columns
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam
 WHERE i.indrelid = to_regclass(:'bt_table') AND c.relname NOT LIKE '%\_deadline';
SELECT * FROM key_index;
SELECT sessionize.alter_stream('to_btree', 'key_index', 'BTree');
SELECT * FROM key_index;
SELECT count(*) FROM sessionize.sessionize_batch('to_btree',
  '[{"id": "a", "ts": "2026-01-01T10:02:00Z"}, {"id": "c", "ts": "2026-01-01T10:03:00Z"}]');
SELECT key, event_count FROM sessionize.open_sessions('to_btree');
SELECT key, event_count FROM sessionize.open_sessions('to_btree', 'a');
SELECT sessionize.alter_stream('to_btree', 'key_index', 'btree');
SELECT sessionize.alter_stream('to_btree', 'key_index', NULL);
SELECT * FROM key_index;
SELECT key, event_count, end_reason FROM sessionize.sessionize_batch('to_btree',
  '[{"id": "b", "ts": "2026-01-01T10:04:00Z", "isLast": true}, {"id": "d", "ts": "2026-01-01T10:05:00Z"}]');
SELECT key, event_count FROM sessionize.open_sessions('to_btree');
SELECT try($$SELECT sessionize.alter_stream('to_btree', 'key_index', 'gist')$$);
SELECT sessionize.create_stream('bits_btree', 'bit varying');
SELECT try($$SELECT sessionize.alter_stream('bits_btree', 'key_index', 'hash')$$);
SELECT sessionize.alter_stream('bits_btree', 'key_index', 'btree');
DROP VIEW key_index;
RESET ROLE;
SELECT sessionize.drop_stream('to_btree'), sessionize.drop_stream('bits_btree');
DROP ROLE regress_sessionize_keys;

-- And the older events of its long sessions in a chunk table beside it,
-- keyed by (key, chunk number).
SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull
  FROM pg_attribute a
 WHERE a.attrelid = (SELECT format('sessionize.%I', state_table || '_chunks')::regclass
                       FROM sessionize.streams WHERE name = 's1')
   AND a.attnum > 0
 ORDER BY a.attnum;
SELECT replace(indexdef, s.state_table, 'STATE') AS index
  FROM pg_indexes i JOIN sessionize.streams s ON i.tablename = s.state_table || '_chunks'
 WHERE s.name = 's1' ORDER BY 1;

-- Bad settings: each is refused with an SQLSTATE, and creates nothing.
CREATE TABLE not_a_sink (id int);
CREATE TABLE sink_bad_type (key text, session_start text, session_end timestamptz,
                            event_count point, end_reason text, events jsonb);
CREATE TABLE sink_notnull (key text, session_start timestamptz, session_end timestamptz,
                           event_count int, end_reason text, events jsonb,
                           tenant int NOT NULL);
CREATE VIEW sink_view AS SELECT * FROM sink_notnull;
SELECT label, try(sql) FROM (VALUES
  ('existing name',     $$SELECT sessionize.create_stream('s1')$$),
  ('NULL name',         $$SELECT sessionize.create_stream(NULL)$$),
  ('empty name',        $$SELECT sessionize.create_stream('')$$),
  ('gap zero',          $$SELECT sessionize.create_stream('x', gap => '0')$$),
  ('gap negative',      $$SELECT sessionize.create_stream('x', gap => '-1 minute')$$),
  ('gap huge',          $$SELECT sessionize.create_stream('x', gap => '300000 years')$$),
  ('max_duration zero', $$SELECT sessionize.create_stream('x', max_duration => '0')$$),
  ('max_events zero',   $$SELECT sessionize.create_stream('x', max_events => 0)$$),
  ('lateness negative', $$SELECT sessionize.create_stream('x', lateness => '-1 second')$$),
  ('lateness NULL',     $$SELECT sessionize.create_stream('x', lateness => NULL)$$),
  ('lateness huge',     $$SELECT sessionize.create_stream('x', lateness => '300000 years')$$),
  ('key type point',    $$SELECT sessionize.create_stream('x', key_type => 'point')$$),
  ('key type xml',      $$SELECT sessionize.create_stream('x', key_type => 'xml')$$),
  ('key type record',   $$SELECT sessionize.create_stream('x', key_type => 'record')$$),
  ('key type text[]',   $$SELECT sessionize.create_stream('x', key_type => 'text[]')$$),
  ('key type NULL',     $$SELECT sessionize.create_stream('x', key_type => NULL)$$),
  ('empty key_field',   $$SELECT sessionize.create_stream('x', key_field => '')$$),
  ('NULL ts_field',     $$SELECT sessionize.create_stream('x', ts_field => NULL)$$),
  ('sink no columns',   $$SELECT sessionize.create_stream('x', sink => 'not_a_sink')$$),
  ('sink bad type',     $$SELECT sessionize.create_stream('x', sink => 'sink_bad_type')$$),
  ('sink NOT NULL col', $$SELECT sessionize.create_stream('x', sink => 'sink_notnull')$$),
  ('sink is a view',    $$SELECT sessionize.create_stream('x', sink => 'sink_view')$$)
) AS t(label, sql);
SELECT count(*) AS streams, count(*) FILTER (WHERE name = 'x') AS named_x
  FROM sessionize.streams;

-- Hints say what to do.
SELECT sessionize.create_stream('s1');
SELECT sessionize.create_stream('x', gap => '0');

-- Calls on a stream that does not exist.
SELECT label, try(sql) FROM (VALUES
  ('batch', $$SELECT sessionize.sessionize_batch('nope', '[]')$$),
  ('expire', $$SELECT sessionize.expire('nope')$$),
  ('flush', $$SELECT sessionize.flush('nope')$$),
  ('open_sessions', $$SELECT sessionize.open_sessions('nope')$$),
  ('drop', $$SELECT sessionize.drop_stream('nope')$$),
  ('committed_offset', $$SELECT sessionize.committed_offset('nope', 'src')$$),
  ('NULL stream', $$SELECT sessionize.sessionize_batch(NULL, '[]')$$)
) AS t(label, sql);

-- A name that would break any SQL it was spliced into works everywhere.
SELECT sessionize.create_stream($$we'ird "stream"; DROP TABLE x; --$$, gap => '1 hour');
SELECT * FROM feed($$we'ird "stream"; DROP TABLE x; --$$,
                   '[{"id": "a", "n": 1, "ts": "2026-01-01T10:00:00Z"}]', $$so'urce$$, 1);
SELECT * FROM still_open($$we'ird "stream"; DROP TABLE x; --$$);
SELECT sessionize.committed_offset($$we'ird "stream"; DROP TABLE x; --$$, $$so'urce$$);
SELECT * FROM counters($$we'ird "stream"; DROP TABLE x; --$$);
SELECT * FROM expire_at($$we'ird "stream"; DROP TABLE x; --$$, '2026-01-01T11:00:00Z');
SELECT * FROM flush_all($$we'ird "stream"; DROP TABLE x; --$$);
SELECT sessionize.drop_stream($$we'ird "stream"; DROP TABLE x; --$$);

-- drop_stream removes the stream, its state and chunk tables and its offsets.
SELECT * FROM feed('s2', '[{"id": "a", "n": 1, "ts": "2026-01-01T10:00:00Z"}]', 'src', 1);
CREATE TEMP TABLE s2_table AS SELECT state_table FROM sessionize.streams WHERE name = 's2';
SELECT sessionize.drop_stream('s2');
SELECT count(*) AS streams FROM sessionize.streams WHERE name = 's2';
SELECT count(*) AS tables FROM pg_class c JOIN s2_table t
    ON c.relname IN (t.state_table, t.state_table || '_chunks');
SELECT count(*) AS offsets FROM sessionize.offsets o
 WHERE NOT EXISTS (SELECT 1 FROM sessionize.streams s WHERE s.stream_id = o.stream_id);
SELECT sessionize.sessionize_batch('s2', '[]');

-- A stream belongs to its creator.  Another role can neither use it nor
-- see it; the owner can, without any grant on the extension's tables.
CREATE ROLE regress_sessionize_alice;
CREATE ROLE regress_sessionize_bob;
SET ROLE regress_sessionize_alice;
SELECT sessionize.create_stream('alices', gap => '1 hour');
SELECT * FROM feed('alices', '[{"id": "a", "n": 1, "ts": "2026-01-01T10:00:00Z"}]', 'src', 1);
SELECT * FROM still_open('alices');
SELECT stream, events_in FROM sessionize.stats;
SELECT sessionize.committed_offset('alices', 'src');
SELECT state_table AS alices_table FROM sessionize.streams WHERE name = 'alices' \gset
SET ROLE regress_sessionize_bob;
SELECT label, regexp_replace(try(sql), 'state_\d+', 'state_N') FROM (VALUES
  ('batch', $$SELECT sessionize.sessionize_batch('alices', '[]')$$),
  ('expire', $$SELECT sessionize.expire('alices')$$),
  ('flush', $$SELECT sessionize.flush('alices')$$),
  ('open_sessions', $$SELECT sessionize.open_sessions('alices')$$),
  ('drop', $$SELECT sessionize.drop_stream('alices')$$),
  ('committed_offset', $$SELECT sessionize.committed_offset('alices', 'src')$$),
  ('write streams', $$UPDATE sessionize.streams SET gap = '1 second'$$),
  ('read a state table', format('SELECT * FROM sessionize.%I', :'alices_table'))
) AS t(label, sql);
SELECT count(*) AS visible_streams FROM sessionize.stats;
RESET ROLE;
SELECT sessionize.drop_stream('alices');
DROP ROLE regress_sessionize_alice;
DROP ROLE regress_sessionize_bob;

-- Streams are shared through a group role: a member may use the group's
-- streams.
CREATE ROLE regress_sessionize_group NOLOGIN;
CREATE ROLE regress_sessionize_member;
GRANT regress_sessionize_group TO regress_sessionize_member;
SET ROLE regress_sessionize_group;
SELECT sessionize.create_stream('shared');
SET ROLE regress_sessionize_member;
SELECT count(*) FROM sessionize.sessionize_batch('shared', '[{"id": "a", "ts": "2026-01-01T10:00:00Z"}]');
SELECT stream, events_in FROM sessionize.stats;
SELECT sessionize.drop_stream('shared');
RESET ROLE;
DROP ROLE regress_sessionize_member;
DROP ROLE regress_sessionize_group;

-- Who may create streams is the database's choice: with EXECUTE on
-- create_stream revoked from PUBLIC, only the roles granted it may; a
-- member of a stream's owner still does everything the owner can.
CREATE ROLE regress_sessionize_creator;
CREATE ROLE regress_sessionize_nobody;
CREATE ROLE regress_sessionize_other;
CREATE ROLE regress_sessionize_team NOLOGIN;
GRANT regress_sessionize_team TO regress_sessionize_other;
BEGIN;
REVOKE EXECUTE ON FUNCTION sessionize.create_stream(text, regtype, interval, interval, integer,
    interval, text, text, text, regclass, text, integer, interval, text, regclass, text, text,
    interval)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sessionize.create_stream(text, regtype, interval, interval, integer,
    interval, text, text, text, regclass, text, integer, interval, text, regclass, text, text,
    interval)
    TO regress_sessionize_creator, regress_sessionize_team;
SET LOCAL ROLE regress_sessionize_nobody;
SELECT try($$SELECT sessionize.create_stream('not_mine')$$);
SET LOCAL ROLE regress_sessionize_team;
SELECT sessionize.create_stream('teams');
SET LOCAL ROLE regress_sessionize_other;
SELECT count(*) FROM sessionize.sessionize_batch('teams', '[{"id": "a", "ts": "2026-01-01T10:00:00Z"}]');
SELECT sessionize.alter_stream('teams', 'gap', '1 hour');
SELECT key FROM sessionize.open_sessions('teams');
SELECT sessionize.drop_stream('teams');
SET LOCAL ROLE regress_sessionize_creator;
SELECT sessionize.create_stream('creators');
SELECT sessionize.drop_stream('creators');
ROLLBACK;
DROP ROLE regress_sessionize_creator, regress_sessionize_nobody, regress_sessionize_other,
          regress_sessionize_team;

-- stats: when the last batch was applied (the time of its transaction);
-- a batch skipped as a replay does not count.
SELECT sessionize.create_stream('mon', 'bigint', gap => '1 hour');
SELECT last_batch_at FROM sessionize.stats WHERE stream = 'mon';
BEGIN;
SELECT count(*) FROM sessionize.sessionize_batch('mon', '[{"id": 42, "ts": "2026-01-01T10:00:00Z"}]', 'src', 1);
SELECT last_batch_at = now() AS at_this_batch FROM sessionize.stats WHERE stream = 'mon';
COMMIT;
SELECT count(*) FROM sessionize.sessionize_batch('mon', '[]', 'src', 1);
SELECT last_batch_at < now() AS unchanged_by_a_replay, batches_skipped
  FROM sessionize.stats WHERE stream = 'mon';
-- open_sessions(stream, key): one key's session, the key read as the key
-- type (here bigint, so ' 42' is 42); a key that is not one is an error.
SELECT key, event_count FROM sessionize.open_sessions('mon', ' 42');
SELECT count(*) FROM sessionize.open_sessions('mon', '7');
SELECT try($$SELECT sessionize.open_sessions('mon', 'forty-two')$$);
SELECT sessionize.drop_stream('mon');

-- Calls on a stream wait for each other and must see what the one before
-- committed, so they need READ COMMITTED.
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT * FROM sessionize.sessionize_batch('s1', '[]');
ROLLBACK;

-- DROP EXTENSION does not silently drop the streams' state.
\set VERBOSITY terse
BEGIN;
DROP EXTENSION sessionize;
ROLLBACK;
\set VERBOSITY default

-- A read-only transaction cannot change a stream (as on a standby).
BEGIN READ ONLY;
SELECT * FROM sessionize.sessionize_batch('s1', '[]');
ROLLBACK;
