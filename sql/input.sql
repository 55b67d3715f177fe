-- input: decoding of the JSON form, and every malformed case of SPEC
-- section 6.  Each error names the element (counted from 0, as jsonb's ->
-- operator counts) and the field, and leaves the stream exactly as before.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';

SELECT sessionize.create_stream('typed', key_type => 'bigint', gap => '30 minutes');
SELECT * FROM feed('typed', '[{"id": 1, "n": 0, "ts": "2026-01-01T10:00:00Z"}]');

-- What a stream looks like before the errors; it must look the same after.
CREATE TABLE before AS
SELECT (SELECT row_to_json(c)::text FROM counters('typed') c) AS counters,
       (SELECT json_agg(o)::text FROM sessionize.open_sessions('typed') o) AS open;

-- Every malformed case, with its SQLSTATE.  In the batches with a good
-- element 0 before the bad one, element 0 is not applied either.
SELECT label, try(format('SELECT sessionize.sessionize_batch(%L, %L)', 'typed', batch))
  FROM (VALUES
  ('object, not array',  '{"id": 1}'),
  ('scalar, not array',  '"text"'),
  ('JSON null batch',    'null'),
  ('SQL NULL batch',     NULL),
  ('array element',      '[{"id": 2, "ts": "2026-01-01T10:01:00Z"}, [1, 2]]'),
  ('null element',       '[{"id": 2, "ts": "2026-01-01T10:01:00Z"}, null]'),
  ('number element',     '[3]'),
  ('missing key',        '[{"id": 2, "ts": "2026-01-01T10:01:00Z"}, {"ts": "2026-01-01T10:01:00Z"}]'),
  ('null key',           '[{"id": null, "ts": "2026-01-01T10:01:00Z"}]'),
  ('key not bigint',     '[{"id": "seven", "ts": "2026-01-01T10:01:00Z"}]'),
  ('key fractional',     '[{"id": 1.5, "ts": "2026-01-01T10:01:00Z"}]'),
  ('key out of range',   '[{"id": 99999999999999999999, "ts": "2026-01-01T10:01:00Z"}]'),
  ('missing ts',         '[{"id": 2}]'),
  ('null ts',            '[{"id": 2, "ts": null}]'),
  ('unparsable ts',      '[{"id": 2, "ts": "soon-ish"}]'),
  ('infinity ts',        '[{"id": 2, "ts": "infinity"}]'),
  ('-infinity ts',       '[{"id": 2, "ts": "-infinity"}]'),
  ('epoch too large',    '[{"id": 2, "ts": 1e300}]'),
  ('epoch too small',    '[{"id": 2, "ts": -1e12}]'),
  ('boolean ts',         '[{"id": 2, "ts": true}]'),
  ('unknown time zone',  '[{"id": 2, "ts": "2026-01-01T10:00:00 Mars/Olympus"}]'),
  ('year 300000',        '[{"id": 2, "ts": "300000-01-01T00:00:00Z"}]'),
  ('string isLast',      '[{"id": 2, "ts": "2026-01-01T10:01:00Z", "isLast": "true"}]'),
  ('number isLast',      '[{"id": 2, "ts": "2026-01-01T10:01:00Z", "isLast": 1}]')
  ) AS t(label, batch);

-- The errors of a type's input function keep their SQLSTATE and say
-- which element and field; hints say what is expected.
SELECT * FROM sessionize.sessionize_batch('typed', '[{"id": 2, "ts": "2026-01-01T10:01:00Z"}, {"ts": "2026-01-01T10:01:00Z"}]');
SELECT * FROM sessionize.sessionize_batch('typed', '[{"id": "seven", "ts": "2026-01-01T10:01:00Z"}]');
SELECT * FROM sessionize.sessionize_batch('typed', '[{"id": 2, "ts": "soon-ish"}]');
SELECT * FROM sessionize.sessionize_batch('typed', '{"id": 1}');

-- Nothing of the above changed the stream.
SELECT b.counters = (SELECT row_to_json(c)::text FROM counters('typed') c) AS counters_same,
       b.open = (SELECT json_agg(o)::text FROM sessionize.open_sessions('typed') o) AS open_same
  FROM before b;

-- Keys: a JSON number or a numeric string reach the same bigint key.
SELECT * FROM feed('typed', '[
  {"id": "1", "n": 1, "ts": "2026-01-01T10:02:00Z"},
  {"id": 1, "n": 2, "ts": "2026-01-01T10:03:00Z", "isLast": true}]');

-- Timestamps: epoch seconds, integer or fractional; ISO 8601 with an
-- offset; without a zone, read in the stream's time_zone (UTC by default),
-- whatever the session's TimeZone (05:00 UTC is 00:00 in New York).
SELECT * FROM feed('typed', '[
  {"id": 2, "n": 1, "ts": 1767261600},
  {"id": 2, "n": 2, "ts": 1767261660.5},
  {"id": 2, "n": 3, "ts": "2026-01-01T11:02:00+01:00"},
  {"id": 2, "n": 4, "ts": "2026-01-01 10:03:00", "isLast": null},
  {"id": 2, "n": 5, "ts": "2026-01-01T10:04:00.25Z", "isLast": true}]');
SELECT s.session_start, s.session_end
  FROM sessionize.flush('typed') s;
SET TimeZone = 'America/New_York';
SELECT * FROM sessionize.sessionize_batch('typed', '[{"id": 3, "ts": "2026-01-01 05:00:00", "isLast": true}]');
SET TimeZone = 'UTC';

-- Text keys: numbers, booleans and objects are keyed by their JSON text;
-- the empty string is a key like any other.  A key longer than a btree
-- index entry can hold is refused, naming the element.
SELECT sessionize.create_stream('texty', gap => '1 hour');
SELECT key, event_count FROM sessionize.sessionize_batch('texty', '[
  {"id": 7, "ts": "2026-01-01T10:00:00Z"},
  {"id": "7", "ts": "2026-01-01T10:00:01Z"},
  {"id": true, "ts": "2026-01-01T10:00:02Z"},
  {"id": {"user": 1}, "ts": "2026-01-01T10:00:03Z"},
  {"id": "", "ts": "2026-01-01T10:00:04Z"}]');
SELECT key, event_count FROM sessionize.open_sessions('texty');
CREATE TABLE long_keys AS
SELECT substr(string_agg(md5(i::text), ''), 1, 2684) AS longest,
       substr(string_agg(md5(i::text), ''), 1, 2685) AS too_long
  FROM generate_series(1, 90) i;
SELECT * FROM sessionize.sessionize_batch('texty',
  (SELECT jsonb_build_array(jsonb_build_object('id', longest, 'ts', '2026-01-01T10:00:00Z'),
                            jsonb_build_object('id', too_long, 'ts', '2026-01-01T10:00:00Z'))
     FROM long_keys));
SELECT count(*) FROM sessionize.open_sessions('texty');
SELECT * FROM sessionize.sessionize_batch('texty',
  (SELECT jsonb_build_array(jsonb_build_object('id', longest, 'ts', '2026-01-01T10:00:00Z'))
     FROM long_keys));
SELECT length(key), event_count FROM sessionize.open_sessions('texty') ORDER BY 1;
-- The longest key also fits the index of the chunks of a long session.
SELECT count(*) FROM sessionize.sessionize_batch('texty',
  (SELECT jsonb_agg(jsonb_build_object('id', longest, 'ts', '2026-01-01T10:00:00Z'::timestamptz
                                                         + i * interval '1 second'))
     FROM long_keys, generate_series(1, 130) i));
SELECT length(key), event_count FROM sessionize.open_sessions('texty') WHERE length(key) > 100;

-- Other key types: uuid keys are compared as uuids (case does not matter).
SELECT sessionize.create_stream('uuids', key_type => 'uuid');
SELECT key, event_count FROM sessionize.sessionize_batch('uuids', '[
  {"id": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "ts": "2026-01-01T10:00:00Z"},
  {"id": "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", "ts": "2026-01-01T10:01:00Z", "isLast": true}]');

-- Field names come from the stream's settings.
SELECT sessionize.create_stream('fields', key_field => 'user', ts_field => 'at', last_field => 'end');
SELECT key, event_count, end_reason FROM sessionize.sessionize_batch('fields', '[
  {"user": "u", "at": "2026-01-01T10:00:00Z", "end": false, "id": "ignored"},
  {"user": "u", "at": "2026-01-01T10:01:00Z", "end": true}]');
SELECT * FROM sessionize.sessionize_batch('fields', '[{"id": "u", "ts": "2026-01-01T10:00:00Z"}]');

-- Payloads are returned whole, with duplicate fields resolved as jsonb
-- does (the last wins) and nesting kept.
SELECT events FROM sessionize.sessionize_batch('fields', '[
  {"user": "v", "at": "2026-01-01T10:00:00Z", "x": 1, "x": 2, "deep": {"a": [1, {"b": null}]}, "end": true}]');

-- The common ISO 8601 shape of ts is read by a fast path, the other ISO
-- 8601 forms by timestamptz_in: either way the instant is the one a cast
-- gives.  (Fractions beyond microseconds, zone-less strings, a date alone,
-- 24:00:00 and other forms take timestamptz_in's path; a non-UTC
-- time_zone, the session's TimeZone too, shows that zones are honoured.)
-- Strings that are not ISO 8601 are refused (timestamps.sql).
SET TimeZone = 'Asia/Kolkata';
SELECT sessionize.create_stream('iso', time_zone => 'Asia/Kolkata');
CREATE TABLE iso_strings (s text);
INSERT INTO iso_strings VALUES
  ('2026-01-01T10:00:00Z'), ('2026-01-01 10:00:00z'), ('2026-01-01T10:00:00.5Z'),
  ('2026-01-01T10:00:00.123456+05:30'), ('2026-01-01T10:00:00.000001-08:00'),
  ('2026-01-01T10:00:00+0530'), ('2026-01-01T10:00:00-03'), ('2024-02-29T23:59:59.999999+14:00'),
  ('1999-12-31T23:59:59-15:59'), ('0001-01-01T00:00:00Z'), ('9999-12-31T23:59:59Z'),
  ('2026-01-01T10:00:00.1234567Z'), ('2026-01-01T10:00:00'), ('2026-01-01T24:00:00Z'),
  ('2026-01-01T10:00Z'), ('2026-01-01t10:00:00+00'), ('2026-01-01 10:00:00.5+05:30'),
  ('2026-01-01T10:00:00+05:30:15'), ('2026-01-01T10:00'), ('2026-01-01'),
  (' 2026-01-02T10:00:00Z ');
SELECT i.s, b.session_start = i.s::timestamptz AS same_instant
  FROM iso_strings i
  LEFT JOIN sessionize.sessionize_batch('iso',
         (SELECT jsonb_agg(jsonb_build_object('id', s, 'ts', s, 'isLast', true)) FROM iso_strings)) b
    ON b.key = i.s
 ORDER BY i.s;
SELECT label, try(format('SELECT sessionize.sessionize_batch(%L, %L)', 'iso', batch))
  FROM (VALUES
  ('February 30',   '[{"id": 1, "ts": "2026-02-30T00:00:00Z"}]'),
  ('hour 25',       '[{"id": 1, "ts": "2026-01-01T25:00:00Z"}]'),
  ('zone +16:00',   '[{"id": 1, "ts": "2026-01-01T10:00:00+16:00"}]'),
  ('year 0',        '[{"id": 1, "ts": "0000-01-01T00:00:00Z"}]')
  ) AS t(label, batch);
SET TimeZone = 'UTC';

-- Keys of a deterministic collation are indexed and compared in "C"
-- (equal bytes, equal keys, whatever the collation); a key type whose
-- collation is nondeterministic keeps it, and its equal keys share a
-- session: here a case-insensitive ICU collation.
SELECT s.name, c.collname
  FROM sessionize.streams s
  JOIN pg_attribute a ON a.attrelid = format('sessionize.%I', s.state_table)::regclass
                     AND a.attnum = 1
  LEFT JOIN pg_collation c ON c.oid = a.attcollation
 WHERE s.name IN ('typed', 'texty', 'uuids') ORDER BY s.name;
CREATE COLLATION case_insensitive (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE DOMAIN ci_text AS text COLLATE case_insensitive;
SELECT sessionize.create_stream('ci', key_type => 'ci_text');
SELECT key, event_count, jsonb_path_query_array(events, '$[*].n') AS labels
  FROM sessionize.sessionize_batch('ci', '[
    {"id": "Alice", "n": 1, "ts": "2026-01-01T10:00:00Z"},
    {"id": "ALICE", "n": 2, "ts": "2026-01-01T10:01:00Z"},
    {"id": "bob",   "n": 1, "ts": "2026-01-01T10:01:00Z"}]');
SELECT key, event_count, jsonb_path_query_array(events, '$[*].n') AS labels
  FROM sessionize.sessionize_batch('ci', '[
    {"id": "alice", "n": 3, "ts": "2026-01-01T10:02:00Z", "isLast": true}]');
SELECT key, event_count FROM sessionize.open_sessions('ci');

-- Odd but legitimate input: a payload nested 1,000 levels deep, a 1 MB
-- payload, a batch of about 10 MB (40,000 events of 1,000 keys: the 25
-- keys whose every event is isLast finish 1,000 one-event sessions, the
-- rest stay open), year 10000; and a ts of "NaN" (refused).
SELECT sessionize.create_stream('odd', gap => '1 hour');
SELECT key, event_count, end_reason,
       length(events::text) AS json_length
  FROM sessionize.sessionize_batch('odd', jsonb_build_array(
         jsonb_build_object('id', 'deep', 'ts', '2026-01-01T10:00:00Z', 'isLast', true,
                            'nest', (SELECT repeat('[', 1000) || repeat(']', 1000))::jsonb),
         jsonb_build_object('id', 'big', 'ts', '2026-01-01T10:00:00Z', 'isLast', true,
                            'blob', repeat('x', 1024 * 1024))));
SELECT count(*) AS sessions, sum(event_count) AS events,
       pg_size_pretty(sum(length(events::text))::bigint) AS returned
  FROM sessionize.sessionize_batch('odd',
         (SELECT jsonb_agg(jsonb_build_object('id', 'k' || i % 1000, 'ts',
                              timestamptz '2026-01-02' + i * interval '1 second',
                              'isLast', i % 40 = 39, 'pad', repeat('p', 200)))
            FROM generate_series(0, 39999) i));
SELECT count(*) AS open_after FROM sessionize.open_sessions('odd');
SELECT sessionize.create_stream('far');
SELECT key, session_start FROM sessionize.sessionize_batch('far',
  '[{"id": "far", "ts": "10000-01-01T00:00:00Z", "isLast": true}]');
SELECT try($$SELECT sessionize.sessionize_batch('odd', '[{"id": "nan", "ts": "NaN"}]')$$);
