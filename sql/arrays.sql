-- arrays: an event (a payload) is a JSON object in every form.  One that
-- is a JSON array (or a scalar) is that element's error, a dead letter
-- where the stream has a dead_letter table, in the same words whichever
-- form sent it: the JSON form, the typed form, sessionize_query and an
-- attached table with a "payload" column (these three took arrays), and
-- the sessions() aggregate (which took them too).
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';

CREATE TABLE arr_sink (key text, session_start timestamptz, session_end timestamptz,
                       event_count int, end_reason text, events jsonb);
SELECT sessionize.create_stream('arr', gap => '30 minutes', sink => 'arr_sink');
CREATE TABLE arr_rows (id text, ts timestamptz, payload jsonb);
SELECT sessionize.attach('arr', 'arr_rows');

SELECT * FROM sessionize.sessionize_batch('arr', '[[{"id": "a", "ts": "2026-01-01T10:00:00Z"}]]');
SELECT * FROM sessionize.sessionize_batch('arr', ARRAY['a'], ARRAY[timestamptz '2026-01-01 10:00Z'],
                                          NULL, ARRAY['[{"id": "a"}]'::jsonb]);
SELECT * FROM sessionize.sessionize_query('arr',
  $$SELECT 'a' AS id, timestamptz '2026-01-01 10:00Z' AS ts, '[{"id": "a"}]'::jsonb AS payload$$);
INSERT INTO arr_rows VALUES ('a', '2026-01-01 10:00Z', '[{"id": "a"}]');
SELECT sessionize.sessions(timestamptz '2026-01-01 10:00Z', false, '[{"id": "a"}]', '30 minutes');
SELECT count(*) AS nothing_applied FROM sessionize.open_sessions('arr');

-- With a dead_letter table each form sets the array aside and applies the
-- rest; the messages agree.
CREATE TABLE arr_dead (element_index int, element jsonb, sqlstate text, message text,
                       source text, batch_offset bigint);
SELECT sessionize.alter_stream('arr', 'dead_letter', 'arr_dead');
SELECT count(*) FROM sessionize.sessionize_batch('arr',
  '[{"id": "a", "ts": "2026-01-01T10:00:00Z"}, [1, 2], "text"]');
SELECT count(*) FROM sessionize.sessionize_batch('arr', ARRAY['b', 'b', 'b'],
  ARRAY[timestamptz '2026-01-01 10:00Z', '2026-01-01 10:01Z', '2026-01-01 10:02Z'],
  NULL, ARRAY['{}', '[1, 2]', '"text"']::jsonb[]);
SELECT count(*) FROM sessionize.sessionize_query('arr', $$
  SELECT 'c' AS id, timestamptz '2026-01-01 10:00Z' AS ts, '{}'::jsonb AS payload
  UNION ALL SELECT 'c', '2026-01-01 10:01Z', '[1, 2]'
  UNION ALL SELECT 'c', '2026-01-01 10:02Z', '"text"'$$);
INSERT INTO arr_rows VALUES ('d', '2026-01-01 10:00Z', '{}'), ('d', '2026-01-01 10:01Z', '[1, 2]'),
                            ('d', '2026-01-01 10:02Z', '"text"');
SELECT element_index, sqlstate, message FROM arr_dead ORDER BY message;
SELECT key, event_count FROM sessionize.open_sessions('arr') ORDER BY key;

SELECT sessionize.drop_stream('arr');
DROP TABLE arr_sink, arr_rows, arr_dead;
