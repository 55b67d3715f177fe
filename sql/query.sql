-- query: sessionize_query(stream, query, source, batch_offset) applies the
-- rows of a query as one batch: the columns named by the stream's
-- key_field, ts_field and (optional) last_field, and the payload: the
-- column "payload" if there is one, else the whole row as jsonb.  The
-- same rules, results, offsets and atomicity as the other forms.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';

CREATE TABLE staged (id int, ts timestamptz, "isLast" boolean, data text, n int);
INSERT INTO staged VALUES
  (7, '2026-01-01 10:00:00+00', false, 'click', 1),
  (8, '2026-01-01 10:00:05+00', NULL, 'view', 1),
  (7, '2026-01-01 10:01:00+00', true, 'buy', 2),
  (7, '2026-01-01 10:00:00+00', false, 'tie', 3);

-- A table: the whole row is the payload; a NULL isLast is false; rows in
-- the query's order, so ties in ts keep it (n 1 before n 3).
SELECT sessionize.create_stream('q', key_type => 'bigint', gap => '30 minutes');
SELECT key, event_count, end_reason, events
  FROM sessionize.sessionize_query('q', 'SELECT * FROM staged ORDER BY n, id', 'staging', 1);
SELECT key, event_count, events FROM sessionize.open_sessions('q');

-- Replays are skipped as in the other forms, before the query runs.
SELECT count(*) FROM sessionize.sessionize_query('q', 'SELECT 1/0 AS id', 'staging', 1);

-- Columns renamed with AS, a payload column, a VALUES list with aliases.
SELECT sessionize.create_stream('q2', key_field => 'user', ts_field => 'at', last_field => 'done');
SELECT key, event_count, end_reason, events
  FROM sessionize.sessionize_query('q2', $$
    SELECT id::text AS "user", ts AS at, "isLast" AS done,
           jsonb_build_object('what', data) AS payload
      FROM staged WHERE id = 7 ORDER BY ts, n$$);
SELECT key, event_count, events FROM sessionize.sessionize_query('q2', $$
    SELECT * FROM (VALUES ('a', timestamptz '2026-01-01 11:00+00', true, '{"v": 1}'::jsonb))
                  AS v("user", at, done, payload)$$);

-- The query runs as the caller: a role that owns a stream but may not
-- read a table cannot feed it from that table.
CREATE ROLE regress_sessionize_carol;
SET ROLE regress_sessionize_carol;
SELECT sessionize.create_stream('carols');
SELECT count(*) FROM sessionize.sessionize_query('carols', 'TABLE staged');
RESET ROLE;
SELECT sessionize.drop_stream('carols');
DROP ROLE regress_sessionize_carol;

-- Errors name the column or the row (counted from 0), and change nothing.
SELECT label, try(format('SELECT sessionize.sessionize_query(%L, %L)', 'q', query))
  FROM (VALUES
  ('no key column',   $$SELECT ts FROM staged$$),
  ('no ts column',    $$SELECT id FROM staged$$),
  ('NULL key',        $$SELECT NULL::int AS id, now() AS ts$$),
  ('NULL ts',         $$SELECT 1 AS id, NULL::timestamptz AS ts$$),
  ('infinite ts',     $$SELECT 1 AS id, 'infinity'::timestamptz AS ts$$),
  ('NULL payload',    $$SELECT 1 AS id, now() AS ts, NULL::jsonb AS payload$$),
  ('scalar payload',  $$SELECT 1 AS id, now() AS ts, '3'::jsonb AS payload$$),
  ('array payload',   $$SELECT 1 AS id, now() AS ts, '[{"a": 1}]'::jsonb AS payload$$),
  ('json array',      $$SELECT 1 AS id, now() AS ts, '[]'::json AS payload$$),
  ('key not bigint',  $$SELECT 'x' AS id, now() AS ts$$),
  ('not a query',     $$DELETE FROM staged$$),
  ('not read-only',   $$WITH d AS (DELETE FROM staged RETURNING *) SELECT * FROM d$$)
  ) AS t(label, query);
SELECT count(*) FROM staged;
SELECT events_in, batches, offsets FROM counters('q');

-- A query may end with a semicolon (and white space), as typed in psql.
SELECT sessionize.create_stream('semi');
SELECT count(*) FROM sessionize.sessionize_query('semi', 'SELECT 1 AS id, now() AS ts;  ');
SELECT count(*) FROM sessionize.open_sessions('semi');
SELECT sessionize.drop_stream('semi');

-- params: a JSON array, element i is $(i + 1), read as the type the query
-- gives it (text where it says none).  Here a window of staged rows.
SELECT sessionize.create_stream('window', key_type => 'bigint', gap => '30 minutes',
                                max_future => NULL);
CREATE TABLE clicks_in (user_id bigint, at timestamptz, page text);
INSERT INTO clicks_in VALUES (1, '2026-01-01 10:00Z', 'home'), (1, '2026-01-01 10:05Z', 'cart'),
                             (2, '2026-01-01 10:06Z', 'home'), (1, '2026-01-01 11:00Z', 'home');
SELECT count(*) FROM sessionize.sessionize_query('window',
    'SELECT user_id AS id, at AS ts, page FROM clicks_in WHERE at >= $1 AND at < $2 AND page <> $3',
    params => '["2026-01-01 10:00Z", "2026-01-01 10:30Z", "cart"]');
SELECT key, event_count FROM sessionize.open_sessions('window') ORDER BY key;
-- A number, a boolean and null; the same $1 twice.
SELECT count(*) FROM sessionize.sessionize_query('window',
    'SELECT user_id AS id, at AS ts FROM clicks_in WHERE user_id = $1 AND $2 AND at > $3::timestamptz - interval ''1 day'' AND $4::text IS NULL AND user_id < $1 + 1',
    params => '[1, true, "2026-01-01 12:00Z", null]');
SELECT key, event_count FROM sessionize.open_sessions('window') ORDER BY key;
SELECT label, try(format('SELECT count(*) FROM sessionize.sessionize_query(%L, %L, params => %L)',
                         'window', query, params)) FROM (VALUES
  ('too few',        'SELECT user_id AS id, at AS ts FROM clicks_in WHERE user_id = $1', NULL),
  ('too many',       'SELECT user_id AS id, at AS ts FROM clicks_in', '[1]'),
  ('not an array',   'SELECT user_id AS id, at AS ts FROM clicks_in WHERE user_id = $1', '{"a": 1}'),
  ('wrong type',     'SELECT user_id AS id, at AS ts FROM clicks_in WHERE user_id = $1', '["one"]'),
  ('two statements', 'SELECT 1 AS id, now() AS ts; SELECT 2 AS id, now() AS ts', NULL),
  ('returning',      'INSERT INTO clicks_in VALUES (3, now(), ''x'') RETURNING user_id AS id, at AS ts', NULL),
  ('for update',     'SELECT user_id AS id, at AS ts FROM clicks_in FOR UPDATE', NULL)
  ) AS t(label, query, params);
SELECT count(*) FROM clicks_in;

-- An error in the query is shown in the query's own text.
SELECT count(*) FROM sessionize.sessionize_query('window', 'SELECT user_idd AS id, at AS ts FROM clicks_in');
SELECT count(*) FROM sessionize.sessionize_query('window', 'SELECT user_id AS id, at AS ts FROM clicks_in WHERE');
SELECT sessionize.drop_stream('window');
DROP TABLE clicks_in;

-- A key the query reads compressed or out of line (TOAST) is measured and
-- kept whole: over the limit (2688 bytes) it is refused, naming its row,
-- as in the other forms; under it, it is stored and found whole.
SELECT sessionize.create_stream('qlong', gap => '30 minutes');
CREATE TABLE query_long_keys (n int, id text, ts timestamptz);
ALTER TABLE query_long_keys ALTER id SET STORAGE EXTERNAL;
INSERT INTO query_long_keys VALUES (1, 'short', '2026-01-01 10:00Z'), (2, repeat('k', 4000), '2026-01-01 10:00Z');
SELECT pg_relation_size(reltoastrelid) > 0 AS stored_out_of_line FROM pg_class WHERE oid = 'query_long_keys'::regclass;
SELECT count(*) FROM sessionize.sessionize_query('qlong', 'SELECT id, ts FROM query_long_keys ORDER BY n');
ALTER TABLE query_long_keys ALTER id SET STORAGE MAIN;
TRUNCATE query_long_keys;
INSERT INTO query_long_keys VALUES (1, repeat('c', 2686), '2026-01-01 10:00Z'),
                             (2, repeat('c', 2600), '2026-01-01 10:00Z');
SELECT n, pg_column_size(id) < octet_length(id) AS stored_compressed FROM query_long_keys ORDER BY n;
SELECT count(*) FROM sessionize.sessionize_query('qlong', 'SELECT id, ts FROM query_long_keys WHERE n = 1');
SELECT count(*) FROM sessionize.sessionize_query('qlong', 'SELECT id, ts FROM query_long_keys WHERE n = 2');
SELECT octet_length(key), event_count FROM sessionize.open_sessions('qlong');
SELECT count(*) FROM sessionize.open_sessions('qlong', repeat('c', 2600));
SELECT sessionize.drop_stream('qlong');
DROP TABLE query_long_keys;
