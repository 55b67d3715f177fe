-- names: field and column names match exactly (SPEC 11).  A column or a
-- field that is key_field, ts_field or last_field only when case is
-- ignored is an error naming it, never a silent miss: in attach, in
-- sessionize_query, and in a JSON batch where every element has it.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';

CREATE TABLE names_sink (key text, session_start timestamptz, session_end timestamptz,
                         event_count int, end_reason text, events jsonb);
SELECT sessionize.create_stream('names', gap => '30 minutes', sink => 'names_sink');

-- The issue's table: isLast written without quotes is the column islast.
-- attach refused it (it was accepted, and an INSERT of true never ended a
-- session); so is an "ID" or a "Ts" column.
CREATE TABLE lc (id text, ts timestamptz, isLast boolean, page text);
SELECT attname FROM pg_attribute WHERE attrelid = 'lc'::regclass AND attnum = 3;
SELECT sessionize.attach('names', 'lc');
CREATE TABLE uc ("ID" text, "Ts" timestamptz);
SELECT try($$SELECT sessionize.attach('names', 'uc')$$);
-- Its hint: a column made "ID" with double quotes is renamed to id (the
-- hint of "isLast" above, to write the name in double quotes, does not
-- fit a name that needs none).
SELECT sessionize.attach('names', 'uc');
-- A table with both "isLast" and islast reads "isLast", the exact name.
CREATE TABLE both_cases (id text, ts timestamptz, "isLast" boolean, islast boolean);
SELECT sessionize.attach('names', 'both_cases');
INSERT INTO both_cases VALUES ('b', '2026-01-01 10:00+00', true, false);
SELECT key, event_count, end_reason FROM names_sink;
SELECT sessionize.detach('names', 'both_cases');
-- The fixes the hint names: quote the column, or set the field name.
ALTER TABLE lc RENAME COLUMN islast TO "isLast";
SELECT sessionize.attach('names', 'lc');
INSERT INTO lc VALUES ('u', '2026-01-01 11:00+00', false, '/a'), ('u', '2026-01-01 11:01+00', true, '/b');
SELECT key, event_count, end_reason FROM names_sink WHERE key = 'u';
SELECT sessionize.detach('names', 'lc');

-- sessionize_query: the same, with a hint to rename the column with AS.
SELECT * FROM sessionize.sessionize_query('names',
  $$SELECT 'q' AS id, timestamptz '2026-01-01 12:00+00' AS ts, true AS isLast$$);
SELECT label, try(format('SELECT sessionize.sessionize_query(%L, %L)', 'names', q))
  FROM (VALUES
  ('Id',     $$SELECT 'q' AS "Id", now() AS ts$$),
  ('TS',     $$SELECT 'q' AS id, now() AS "TS"$$),
  ('exact',  $$SELECT 'q' AS id, timestamptz '2026-01-01 12:00+00' AS ts, true AS "isLast"$$)
  ) AS t(label, q);

-- The JSON form: a field islast in every element of a batch is the
-- batch's error (it was not read: no session ended) ...
SELECT * FROM sessionize.sessionize_batch('names', '[
  {"id": "j", "ts": "2026-01-01T13:00:00Z", "islast": false},
  {"id": "j", "ts": "2026-01-01T13:01:00Z", "islast": true}]');
SELECT try($$SELECT sessionize.sessionize_batch('names', '[{"ID": "j", "ts": "2026-01-01T13:00:00Z"}]')$$);
SELECT try($$SELECT sessionize.sessionize_batch('names', '[{"id": "j", "TS": "2026-01-01T13:00:00Z"}, {"id": "k", "TS": "2026-01-01T13:00:00Z"}]')$$);
-- ... but not when some element lacks it or has the exact name: "islast"
-- may be a field of the payload like any other.
SELECT key, event_count, end_reason FROM sessionize.sessionize_batch('names', '[
  {"id": "j", "ts": "2026-01-01T13:00:00Z", "islast": true},
  {"id": "j", "ts": "2026-01-01T13:01:00Z", "isLast": true}]');
SELECT key, event_count FROM sessionize.sessionize_batch('names', '[
  {"id": "k", "ts": "2026-01-01T13:00:00Z", "islast": true},
  {"id": "k", "ts": "2026-01-01T13:01:00Z"}]');
-- A missing key or ts whose twin is in the element: the element's error,
-- whose hint names the twin.
SELECT * FROM sessionize.sessionize_batch('names', '[
  {"id": "m", "ts": "2026-01-01T13:00:00Z"},
  {"Id": "m", "ts": "2026-01-01T13:01:00Z"}]');
SELECT * FROM sessionize.sessionize_batch('names', '[
  {"id": "m", "ts": "2026-01-01T13:00:00Z"},
  {"id": "m", "Ts": "2026-01-01T13:01:00Z"}]');
SELECT * FROM sessionize.sessionize_batch('names', '[
  {"id": "m", "ts": "2026-01-01T13:00:00Z"},
  {"id": "m"}]');
-- The fix the hint names: the stream reads islast (k, left open above,
-- times out).
SELECT sessionize.alter_stream('names', 'last_field', 'islast');
SELECT key, event_count, end_reason FROM sessionize.sessionize_batch('names', '[
  {"id": "n", "ts": "2026-01-01T14:00:00Z", "islast": false},
  {"id": "n", "ts": "2026-01-01T14:01:00Z", "islast": true}]');

SELECT sessionize.drop_stream('names');
DROP TABLE names_sink, lc, uc, both_cases;
