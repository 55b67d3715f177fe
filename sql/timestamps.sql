-- timestamps: an event's time means one thing, whoever sends it (SPEC 11).
-- A ts string is read as ISO 8601, the same under every DateStyle; any
-- other string is that element's error.  An epoch number, or a string that
-- is one, is read in the stream's ts_unit and must be a time from 1971 to
-- 2199 in it: a number in another unit is refused, with a hint naming the
-- unit it fits.  The same in the JSON form, the query form and an attached
-- table.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';

SELECT sessionize.create_stream('ts_s', key_type => 'integer', gap => '5 minutes',
                                max_future => NULL);
SELECT sessionize.create_stream('ts_ms', key_type => 'integer', gap => '5 minutes',
                                max_future => NULL, ts_unit => 'ms');
SELECT sessionize.create_stream('ts_bounds', key_type => 'integer', max_future => NULL);

-- The issue's batch: epoch milliseconds on a stream of seconds.  Element 0
-- would be the year 57972; it is refused, and the hint names the unit.
SELECT * FROM sessionize.sessionize_batch('ts_s',
  '[{"id": 1, "ts": 1767261600000}, {"id": 2, "ts": 1767261600}]');
-- The reverse mistake, seconds on a stream of milliseconds (January 1970).
SELECT * FROM sessionize.sessionize_batch('ts_ms',
  '[{"id": 1, "ts": 1767261600000}, {"id": 2, "ts": 1767261600}]');
-- Microseconds and nanoseconds on a stream of seconds; numbers that fit
-- no unit; the bounds (on a stream of their own, as try() keeps what
-- succeeds): 1971-01-01 is the first time, 2200-01-01 is out.
SELECT label, try(format('SELECT sessionize.sessionize_batch(%L, %L)', stream, batch))
  FROM (VALUES
  ('us on s',         'ts_s',  '[{"id": 1, "ts": 1767261600000000}]'),
  ('ns on s',         'ts_s',  '[{"id": 1, "ts": 1767261600000000000}]'),
  ('zero',            'ts_s',  '[{"id": 1, "ts": 0}]'),
  ('negative',        'ts_s',  '[{"id": 1, "ts": -1767261600}]'),
  ('1970-12-31 23:59:59', 'ts_bounds', '[{"id": 1, "ts": 31535999}]'),
  ('1971-01-01',      'ts_bounds', '[{"id": 1, "ts": 31536000}]'),
  ('2199-12-31 23:59:59', 'ts_bounds', '[{"id": 1, "ts": 7258118399}]'),
  ('2200-01-01',      'ts_bounds', '[{"id": 1, "ts": 7258118400}]'),
  ('2200-01-01 in ms', 'ts_ms', '[{"id": 1, "ts": 7258118400000}]')
  ) AS t(label, stream, batch);
SELECT * FROM sessionize.sessionize_batch('ts_s', '[{"id": 1, "ts": 1767261600000000000}]');
SELECT * FROM sessionize.sessionize_batch('ts_s', '[{"id": 1, "ts": 0}]');
SELECT count(*) FROM sessionize.open_sessions('ts_s');
SELECT key, session_start, session_end, event_count FROM sessionize.open_sessions('ts_bounds');

-- A quoted epoch, as Kafka payloads often have it, is read in ts_unit like
-- a number (it was refused as "date/time field value out of range"), with
-- the same check; fractions and exponents as in a JSON number, and only
-- what JSON would take as a number ("+1", "1.", hex and NaN are not).
SELECT key, session_start, session_end, event_count FROM sessionize.sessionize_batch('ts_s', '[
  {"id": 1, "ts": "1767261600"},
  {"id": 1, "ts": "1767261660.5"},
  {"id": 1, "ts": "1.76726172e9", "isLast": true}]');
SELECT key, session_start, session_end, event_count FROM sessionize.sessionize_batch('ts_ms', '[
  {"id": 1, "ts": "1767261600000"},
  {"id": 1, "ts": 1767261660500, "isLast": true}]');
SELECT * FROM sessionize.sessionize_batch('ts_ms', '[{"id": 2, "ts": "1767261600"}]');
SELECT label, try(format('SELECT sessionize.sessionize_batch(%L, %L)', 'ts_s', batch))
  FROM (VALUES
  ('1e999',     '[{"id": 1, "ts": "1e999"}]'),
  ('+1767261600', '[{"id": 1, "ts": "+1767261600"}]'),
  ('1767261600.', '[{"id": 1, "ts": "1767261600."}]'),
  ('0x69',      '[{"id": 1, "ts": "0x69"}]'),
  ('NaN',       '[{"id": 1, "ts": "NaN"}]')
  ) AS t(label, batch);

-- DateStyle does not change what a string means.  '01/02/2025 10:00' was
-- 2 January under MDY and 1 February under DMY; it is refused under both,
-- with a hint, and ISO 8601 strings give the same instant under every
-- DateStyle (here each style feeds its own key).
SELECT sessionize.create_stream('ts_style', gap => '5 minutes', max_future => NULL);
SET DateStyle = 'ISO, MDY';
SELECT * FROM sessionize.sessionize_batch('ts_style', '[{"id": "mdy", "ts": "01/02/2025 10:00"}]');
SELECT key, session_start FROM sessionize.sessionize_batch('ts_style', '[
  {"id": "mdy", "ts": "2025-01-02 10:00"},
  {"id": "mdy", "ts": "2025-01-02T10:01:00+00", "isLast": true}]');
SET DateStyle = 'ISO, DMY';
SELECT * FROM sessionize.sessionize_batch('ts_style', '[{"id": "dmy", "ts": "01/02/2025 10:00"}]');
SELECT key, session_start FROM sessionize.sessionize_batch('ts_style', '[
  {"id": "dmy", "ts": "2025-01-02 10:00"},
  {"id": "dmy", "ts": "2025-01-02T10:01:00+00", "isLast": true}]');
SET DateStyle = 'SQL, DMY';
SELECT key, session_start::text FROM sessionize.sessionize_batch('ts_style', '[
  {"id": "sql", "ts": "2025-01-02"},
  {"id": "sql", "ts": "2025-01-02 00:01:00.000001+00", "isLast": true}]');
SET DateStyle = 'Postgres, MDY';
SELECT key, session_start::text FROM sessionize.sessionize_batch('ts_style', '[
  {"id": "postgres", "ts": "2025-01-02"},
  {"id": "postgres", "ts": "2025-01-02t00:01Z", "isLast": true}]');
SET DateStyle = 'ISO, YMD';

-- What is refused: the other forms timestamptz_in reads (DateStyle's
-- orders, month names, the Postgres and SQL styles, ISO 8601's basic
-- form, zone names, a space before the offset), and broken ISO shapes.
SELECT label, try(format('SELECT sessionize.sessionize_batch(%L, %L)', 'ts_style',
                         jsonb_build_array(jsonb_build_object('id', 'x', 'ts', ts))))
  FROM (VALUES
  ('MDY/DMY',        '01/02/2025 10:00'),
  ('dotted',         '02.01.2025 10:00'),
  ('two-digit year', '25-01-02 10:00:00Z'),
  ('month name',     'January 2, 2025 10:00'),
  ('Postgres style', 'Thu Jan 02 10:00:00 2025 UTC'),
  ('SQL style',      '01/02/2025 10:00:00.00 UTC'),
  ('basic form',     '20250102T100000Z'),
  ('zone name',      '2025-01-02 10:00:00 Europe/Paris'),
  ('space, offset',  '2025-01-02T10:00:00 +05:30'),
  ('BC',             '2025-01-02 10:00:00+00 BC'),
  ('no minutes',     '2025-01-02T10Z'),
  ('one-digit day',  '2025-01-2T10:00:00Z'),
  ('zone, no time',  '2025-01-02Z'),
  ('comma fraction', '2025-01-02T10:00:00,5Z'),
  ('empty',          ''),
  ('a long one',     repeat('é', 80))
  ) AS t(label, ts);
SELECT * FROM sessionize.sessionize_batch('ts_style', '[{"id": "x", "ts": "2025-01-02T10:00:00 +05:30"}]');
-- A zoneless time is still in the stream's time_zone; out of range fields
-- are timestamptz_in's errors, naming the element.
SELECT sessionize.alter_stream('ts_style', 'time_zone', 'Asia/Kolkata');
SELECT key, session_start FROM sessionize.sessionize_batch('ts_style', '[
  {"id": "kolkata", "ts": "2025-01-02T10:00"},
  {"id": "kolkata", "ts": "2025-01-02", "isLast": true}]');
SELECT try($$SELECT sessionize.sessionize_batch('ts_style', '[{"id": "x", "ts": "2025-02-30"}]')$$);

-- The query form: a text ts column is read as the JSON form reads a ts
-- string, a numeric one in ts_unit with the same check; a timestamptz
-- column is a time already.  Under DMY, '01/02/2025' is refused, not read
-- as 1 February.
SET DateStyle = 'ISO, DMY';
SELECT label, try(format('SELECT sessionize.sessionize_query(%L, %L)', stream, q))
  FROM (VALUES
  ('text, MDY/DMY',   'ts_style', $$SELECT 'q' AS id, '01/02/2025 10:00'::text AS ts$$),
  ('varchar, month',  'ts_style', $$SELECT 'q' AS id, 'Jan 2 2025'::varchar AS ts$$),
  ('text, ms on s',   'ts_s',     $$SELECT 5 AS id, '1767261600000' AS ts$$),
  ('bigint, ms on s', 'ts_s',     $$SELECT 5 AS id, 1767261600000 AS ts$$),
  ('numeric, s on ms', 'ts_ms',   $$SELECT 5 AS id, 1767261600.0 AS ts$$),
  ('float, NaN',      'ts_s',     $$SELECT 5 AS id, 'NaN'::float8 AS ts$$)
  ) AS t(label, stream, q);
SELECT * FROM sessionize.sessionize_query('ts_ms', $$SELECT 5 AS id, 1767261600 AS ts$$);
SELECT key, session_start, event_count FROM sessionize.sessionize_query('ts_ms', $$
  SELECT 6 AS id, '1767261600000' AS ts, false AS "isLast"
  UNION ALL SELECT 6, '2026-01-01 10:01:00+00', true$$);
SELECT key, session_start, event_count FROM sessionize.sessionize_query('ts_style', $$
  SELECT 'q' AS id, '2025-01-02 10:00:00+00'::text AS ts, true AS "isLast"$$);
SET DateStyle = 'ISO, YMD';

-- A dead_letter table receives the implausible epoch; the rest is applied.
CREATE TABLE ts_dead (element_index int, element jsonb, sqlstate text, message text,
                      source text, batch_offset bigint);
SELECT sessionize.alter_stream('ts_s', 'dead_letter', 'ts_dead');
SELECT key, event_count FROM sessionize.sessionize_batch('ts_s', '[
  {"id": 3, "ts": 1767261600000},
  {"id": 3, "ts": "1767261600000"},
  {"id": 3, "ts": 1767261600, "isLast": true}]', 'topic', 1);
SELECT element_index, sqlstate, message, element FROM ts_dead ORDER BY element_index;

-- An attached table with a text ts column: an implausible epoch or a
-- string that is not ISO 8601 fails the statement (a dead letter here).
CREATE TABLE ts_sink (key text, session_start timestamptz, session_end timestamptz,
                      event_count int, end_reason text, events jsonb);
CREATE TABLE ts_rows (id int, ts text, "isLast" boolean DEFAULT false);
SELECT sessionize.alter_stream('ts_s', 'sink', 'ts_sink');
SELECT sessionize.attach('ts_s', 'ts_rows');
TRUNCATE ts_dead;
INSERT INTO ts_rows VALUES (7, '1767261600000', false), (7, '02/01/2026 10:00', false),
                           (7, '1767261600', false), (7, '2026-01-01 10:01:00+00', true);
SELECT element_index, sqlstate, message, element FROM ts_dead ORDER BY element_index;
SELECT key, session_start, session_end, event_count FROM ts_sink;
SELECT sessionize.alter_stream('ts_s', 'dead_letter', NULL);
SELECT try($$INSERT INTO ts_rows VALUES (8, '1767261600000')$$);

SELECT sessionize.drop_stream(s) FROM unnest(ARRAY['ts_s', 'ts_ms', 'ts_bounds', 'ts_style']) s;
DROP TABLE ts_dead, ts_sink, ts_rows;
