-- typed: the typed (columnar) batch form for drivers that bind arrays:
-- keys of the stream's key type, ts, is_last and payloads as parallel
-- arrays.  The same rules, results, offsets and atomicity as the JSON
-- form; errors name the array and the subscript.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';

SELECT sessionize.create_stream('typed_form', key_type => 'bigint', gap => '30 minutes');

-- The JSON form's batch and the same batch as arrays give the same
-- sessions: compare with a twin stream fed the JSON form.
SELECT sessionize.create_stream('json_twin', key_type => 'bigint', gap => '30 minutes');
CREATE TABLE batch (i int, k bigint, ts timestamptz, last boolean, payload jsonb);
INSERT INTO batch VALUES
  (1, 7, '2026-01-01 10:00:00+00', false, '{"id": 7, "n": 1, "data": "click"}'),
  (2, 8, '2026-01-01 10:00:05+00', false, '{"id": 8, "n": 1, "data": "view"}'),
  (3, 7, '2026-01-01 10:00:00+00', false, '{"id": 7, "n": 2, "data": "tie"}'),
  (4, 7, '2026-01-01 10:01:00+00', true,  '{"id": 7, "n": 3, "data": "buy"}'),
  (5, 9, '2026-01-01 09:00:00+00', false, '{"id": 9, "n": 1, "data": "old"}');
SELECT key, (session_start AT TIME ZONE 'UTC')::time AS first_ts,
       (session_end AT TIME ZONE 'UTC')::time AS last_ts, event_count, end_reason, events
  FROM sessionize.sessionize_batch('typed_form',
         (SELECT array_agg(k ORDER BY i) FROM batch),
         (SELECT array_agg(ts ORDER BY i) FROM batch),
         (SELECT array_agg(last ORDER BY i) FROM batch),
         (SELECT array_agg(payload ORDER BY i) FROM batch),
         'src', 1)
 ORDER BY key, session_start;
SELECT key, (session_start AT TIME ZONE 'UTC')::time AS first_ts,
       (session_end AT TIME ZONE 'UTC')::time AS last_ts, event_count, end_reason
  FROM sessionize.sessionize_batch('json_twin',
         (SELECT jsonb_agg(payload || jsonb_build_object('ts', ts, 'isLast', last) ORDER BY i)
            FROM batch))
 ORDER BY key, session_start;
SELECT * FROM still_open('typed_form');
SELECT (SELECT json_agg(o ORDER BY key)::text FROM still_open('typed_form') o)
     = (SELECT json_agg(o ORDER BY key)::text FROM still_open('json_twin') o) AS same_open;

-- Offsets work as in the JSON form.
SELECT count(*) FROM sessionize.sessionize_batch('typed_form', ARRAY[7]::bigint[],
         ARRAY['2026-01-01 10:02:00+00']::timestamptz[], NULL, ARRAY['{}']::jsonb[], 'src', 1);
SELECT sessionize.committed_offset('typed_form', 'src');

-- is_last may be NULL: no event is last.  Keys of a binary-coercible type
-- (varchar for text) are taken as they are.
SELECT sessionize.create_stream('typed_text');
SELECT count(*) FROM sessionize.sessionize_batch('typed_text', ARRAY['a', 'b']::varchar[],
         ARRAY['2026-01-01 10:00:00+00', '2026-01-01 10:01:00+00']::timestamptz[],
         NULL, ARRAY['{"n": 1}', '{"n": 2}']::jsonb[]);
SELECT key, event_count, events FROM sessionize.open_sessions('typed_text');

-- Errors: each names the array and the subscript, and changes nothing.
CREATE TABLE typed_before AS
SELECT (SELECT row_to_json(c)::text FROM counters('typed_form') c) AS counters,
       (SELECT json_agg(o)::text FROM sessionize.open_sessions('typed_form') o) AS open;
SELECT label, try(sql) FROM (VALUES
  ('keys of another type', $$SELECT sessionize.sessionize_batch('typed_form', ARRAY[true, false], ARRAY[now(), now()], NULL, ARRAY['{}', '{}']::jsonb[])$$),
  ('keys NULL',            $$SELECT sessionize.sessionize_batch('typed_form', NULL::bigint[], ARRAY[now()], NULL, ARRAY['{}']::jsonb[])$$),
  ('ts NULL',              $$SELECT sessionize.sessionize_batch('typed_form', ARRAY[1]::bigint[], NULL, NULL, ARRAY['{}']::jsonb[])$$),
  ('payloads NULL',        $$SELECT sessionize.sessionize_batch('typed_form', ARRAY[1]::bigint[], ARRAY[now()], NULL, NULL)$$),
  ('ts too short',         $$SELECT sessionize.sessionize_batch('typed_form', ARRAY[1, 2]::bigint[], ARRAY[now()], NULL, ARRAY['{}', '{}']::jsonb[])$$),
  ('is_last too long',     $$SELECT sessionize.sessionize_batch('typed_form', ARRAY[1]::bigint[], ARRAY[now()], ARRAY[true, false], ARRAY['{}']::jsonb[])$$),
  ('payloads too short',   $$SELECT sessionize.sessionize_batch('typed_form', ARRAY[1, 2]::bigint[], ARRAY[now(), now()], NULL, ARRAY['{}']::jsonb[])$$),
  ('NULL key',             $$SELECT sessionize.sessionize_batch('typed_form', ARRAY[1, NULL]::bigint[], ARRAY[now(), now()], NULL, ARRAY['{}', '{}']::jsonb[])$$),
  ('NULL ts',              $$SELECT sessionize.sessionize_batch('typed_form', ARRAY[1, 2]::bigint[], ARRAY[now(), NULL], NULL, ARRAY['{}', '{}']::jsonb[])$$),
  ('NULL is_last',         $$SELECT sessionize.sessionize_batch('typed_form', ARRAY[1, 2]::bigint[], ARRAY[now(), now()], ARRAY[NULL, true]::boolean[], ARRAY['{}', '{}']::jsonb[])$$),
  ('NULL payload',         $$SELECT sessionize.sessionize_batch('typed_form', ARRAY[1, 2]::bigint[], ARRAY[now(), now()], NULL, ARRAY['{}', NULL]::jsonb[])$$),
  ('infinite ts',          $$SELECT sessionize.sessionize_batch('typed_form', ARRAY[1, 2]::bigint[], ARRAY[now(), 'infinity'], NULL, ARRAY['{}', '{}']::jsonb[])$$),
  ('scalar payload',       $$SELECT sessionize.sessionize_batch('typed_form', ARRAY[1, 2]::bigint[], ARRAY[now(), now()], NULL, ARRAY['{}', '3']::jsonb[])$$),
  ('array payload',        $$SELECT sessionize.sessionize_batch('typed_form', ARRAY[1, 2]::bigint[], ARRAY[now(), now()], NULL, ARRAY['{}', '[{"a": 1}]']::jsonb[])$$),
  ('2-D keys',             $$SELECT sessionize.sessionize_batch('typed_form', ARRAY[[1, 2]]::bigint[], ARRAY[now(), now()], NULL, ARRAY['{}', '{}']::jsonb[])$$),
  ('subscripts from 0',    $$SELECT sessionize.sessionize_batch('typed_form', '[0:1]={1,NULL}'::bigint[], ARRAY[now(), now()], NULL, ARRAY['{}', '{}']::jsonb[])$$),
  ('source alone',         $$SELECT sessionize.sessionize_batch('typed_form', ARRAY[1]::bigint[], ARRAY[now()], NULL, ARRAY['{}']::jsonb[], 'src')$$)
) AS t(label, sql);
SELECT sessionize.sessionize_batch('typed_text', ARRAY[repeat('k', 3000)], ARRAY[now()], NULL, ARRAY['{}']::jsonb[]);
SELECT sessionize.sessionize_batch('typed_form', ARRAY['1', '2']::text[], ARRAY[now(), now()], NULL, ARRAY['{}', '{}']::jsonb[]);
SELECT b.counters = (SELECT row_to_json(c)::text FROM counters('typed_form') c) AS counters_same,
       b.open = (SELECT json_agg(o)::text FROM sessionize.open_sessions('typed_form') o) AS open_same
  FROM typed_before b;

-- Empty arrays are an empty batch.
SELECT count(*) FROM sessionize.sessionize_batch('typed_form', '{}'::bigint[], '{}', '{}', '{}');
SELECT batches FROM counters('typed_form');

-- open_sessions() lists sessions in the key type's order (numeric here).
SELECT count(*) FROM sessionize.sessionize_batch('typed_form', ARRAY[100, 10, 9]::bigint[],
         ARRAY['2026-01-01 10:03:00+00', '2026-01-01 10:03:00+00', '2026-01-01 10:03:00+00']::timestamptz[],
         NULL, ARRAY['{}', '{}', '{}']::jsonb[]);
SELECT key FROM sessionize.open_sessions('typed_form');

-- Keys are grouped by hash where the key type has a hash opclass, and by
-- sorting where it has only btree (varbit): both group equal keys and
-- order events by ts, ties in arrival order, and finish keys in key order.
SELECT sessionize.create_stream('bits', key_type => 'varbit', max_events => 3);
SELECT key, event_count, end_reason, jsonb_path_query_array(events, '$[*].n') AS labels
  FROM sessionize.sessionize_batch('bits', '[
    {"id": "101", "n": 3, "ts": "2026-01-01T10:02:00Z"},
    {"id": "1",   "n": 1, "ts": "2026-01-01T10:00:00Z"},
    {"id": "101", "n": 1, "ts": "2026-01-01T10:00:00Z"},
    {"id": "1",   "n": 2, "ts": "2026-01-01T10:00:00Z"},
    {"id": "101", "n": 2, "ts": "2026-01-01T10:00:00Z"},
    {"id": "1",   "n": 3, "ts": "2026-01-01T09:00:00Z"}]');
SELECT sessionize.create_stream('hashed', max_events => 3);
SELECT key, event_count, end_reason, jsonb_path_query_array(events, '$[*].n') AS labels
  FROM sessionize.sessionize_batch('hashed', '[
    {"id": "101", "n": 3, "ts": "2026-01-01T10:02:00Z"},
    {"id": "1",   "n": 1, "ts": "2026-01-01T10:00:00Z"},
    {"id": "101", "n": 1, "ts": "2026-01-01T10:00:00Z"},
    {"id": "1",   "n": 2, "ts": "2026-01-01T10:00:00Z"},
    {"id": "101", "n": 2, "ts": "2026-01-01T10:00:00Z"},
    {"id": "1",   "n": 3, "ts": "2026-01-01T09:00:00Z"}]');

-- Keys of a type with an implicit or assignment cast to the key type are
-- cast, as an INSERT would cast them: drivers send a list of numbers as
-- int2[], int4[] or int8[] by its largest value, so the same code works
-- batch by batch.  A key that does not fit is the error of its element.
SELECT sessionize.create_stream('driver_keys', key_type => 'integer', gap => '30 minutes',
                                max_future => NULL);
SELECT count(*) FROM sessionize.sessionize_batch('driver_keys', ARRAY[1, 2]::int2[],
    ARRAY['2026-01-01 10:00Z', '2026-01-01 10:01Z']::timestamptz[], NULL, ARRAY['{}', '{}']::jsonb[]);
SELECT count(*) FROM sessionize.sessionize_batch('driver_keys', ARRAY[1, 70000]::int8[],
    ARRAY['2026-01-01 10:02Z', '2026-01-01 10:03Z']::timestamptz[], NULL, ARRAY['{}', '{}']::jsonb[]);
SELECT key, event_count FROM sessionize.open_sessions('driver_keys') ORDER BY key::int;
SELECT try($$SELECT sessionize.sessionize_batch('driver_keys', ARRAY[3, 9999999999]::int8[],
    ARRAY['2026-01-01 10:04Z', '2026-01-01 10:05Z']::timestamptz[], NULL, ARRAY['{}', '{}']::jsonb[])$$);
SELECT count(*) AS unchanged FROM sessionize.open_sessions('driver_keys');
-- With a dead_letter table, that element is set aside.
CREATE TABLE driver_dead (element_index int, element jsonb, sqlstate text, message text);
SELECT sessionize.alter_stream('driver_keys', 'dead_letter', 'driver_dead');
SELECT count(*) FROM sessionize.sessionize_batch('driver_keys', ARRAY[3, 9999999999]::int8[],
    ARRAY['2026-01-01 10:04Z', '2026-01-01 10:05Z']::timestamptz[], NULL,
    ARRAY['{"n": 3}', '{"n": "big"}']::jsonb[]);
SELECT element_index, element, sqlstate, message FROM driver_dead;
SELECT key, event_count FROM sessionize.open_sessions('driver_keys') ORDER BY key::int;
SELECT sessionize.alter_stream('driver_keys', 'dead_letter', NULL);
-- Numbers for a text key are their text, as in the JSON form.
SELECT count(*) FROM sessionize.sessionize_batch('typed_text', ARRAY[42]::int4[],
    ARRAY['2026-01-01 10:00Z']::timestamptz[], NULL, ARRAY['{}']::jsonb[]);
SELECT key FROM sessionize.open_sessions('typed_text', '42');
SELECT sessionize.drop_stream('driver_keys');
DROP TABLE driver_dead;
-- Keys of type unknown (node-postgres sends every parameter so, psycopg a
-- list of str) cannot be taken by the polymorphic keys argument: the
-- parser's error gets a hint naming the cast; with it, the batch goes in.
\set VERBOSITY default
PREPARE unknown_keys AS
    SELECT count(*) FROM sessionize.sessionize_batch('typed_text', $1,
        ARRAY['2026-01-01 10:01Z']::timestamptz[], NULL, ARRAY['{}']::jsonb[]);
PREPARE cast_keys AS
    SELECT count(*) FROM sessionize.sessionize_batch('typed_text', $1::text[],
        ARRAY['2026-01-01 10:01Z']::timestamptz[], NULL, ARRAY['{}']::jsonb[]);
EXECUTE cast_keys('{"43"}');
SELECT key FROM sessionize.open_sessions('typed_text', '43');
-- Another function's polymorphic error keeps its own words.
SELECT array_length($$x$$, 1);
