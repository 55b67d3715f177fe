-- alter: alter_stream(stream, setting, value) changes one setting of a
-- stream that is in use; NULL removes it.  Open sessions stay open, a new
-- gap moves their deadlines, and a failed change changes nothing.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';

CREATE FUNCTION settings(stream text)
RETURNS TABLE (gap interval, max_duration interval, max_events int, lateness interval,
               key_field text, ts_field text, last_field text, sink regclass)
LANGUAGE sql AS $$
    SELECT gap, max_duration, max_events, lateness, key_field, ts_field, last_field, sink
      FROM sessionize.streams WHERE name = stream
$$;

-- deadlines: the deadline of each open session (last_ts + gap), and its
-- timer, when the clock next looks at it: the timer is never later than
-- the deadline (an event that extends a session leaves its timer, and the
-- clock moves it when it comes; a new gap sets it to the deadline).
CREATE FUNCTION deadlines(stream text)
RETURNS TABLE (key text, deadline time, timer time, timer_ok boolean)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY EXECUTE format(
        'SELECT key::text, ((last_ts + $1) AT TIME ZONE ''UTC'')::time,
                (deadline AT TIME ZONE ''UTC'')::time, deadline <= last_ts + $1
           FROM sessionize.%I ORDER BY key',
        (SELECT state_table FROM sessionize.streams WHERE name = stream))
    USING (SELECT gap FROM sessionize.streams WHERE name = stream);
END
$$;

SELECT sessionize.create_stream('alt', gap => '30 minutes');
SELECT * FROM feed('alt', '[
  {"id": "a", "n": 1, "ts": "2026-01-01T10:00:00Z"},
  {"id": "b", "n": 1, "ts": "2026-01-01T10:05:00Z"},
  {"id": "c", "n": 1, "ts": "2026-01-01T10:10:00Z"}]');
SELECT * FROM deadlines('alt');

-- A shorter gap moves every open session's deadline (last_ts + gap).
-- Nothing closes in alter_stream itself: the next batch's clock closes
-- what the new gap timed out.  Here the watermark is 10:10, so a
-- (deadline 10:10) and b (10:15) are due once an event reaches 10:15.
SELECT sessionize.alter_stream('alt', 'gap', '10 minutes');
SELECT gap FROM settings('alt');
SELECT * FROM deadlines('alt');
SELECT * FROM still_open('alt');
SELECT * FROM feed('alt', '[{"id": "d", "n": 1, "ts": "2026-01-01T10:15:00Z"}]');
-- The new gap applies to arriving events too: c's next event 10 minutes
-- after its last one starts a new session.
SELECT * FROM feed('alt', '[{"id": "c", "n": 2, "ts": "2026-01-01T10:20:00Z"}]');
SELECT * FROM still_open('alt');

-- A longer gap keeps sessions open that the old one would have closed.
SELECT sessionize.alter_stream('alt', 'gap', '1 hour');
SELECT * FROM deadlines('alt');
SELECT * FROM feed('alt', '[{"id": "e", "n": 1, "ts": "2026-01-01T11:00:00Z"}]');
SELECT * FROM still_open('alt');

-- No gap (on a stream of its own, as expire() moves the watermark far
-- ahead): no deadlines, so nothing times out, not even by expire().  With
-- a gap again, the deadlines are back and the next expire() closes what
-- is due.
SELECT sessionize.create_stream('alt2', gap => '30 minutes');
SELECT * FROM feed('alt2', '[{"id": "a", "n": 1, "ts": "2026-01-01T10:00:00Z"}]');
SELECT sessionize.alter_stream('alt2', 'gap', NULL);
SELECT gap FROM settings('alt2');
SELECT * FROM deadlines('alt2');
SELECT * FROM expire_at('alt2', '2027-01-01T00:00:00Z');
SELECT * FROM still_open('alt2');
SELECT sessionize.alter_stream('alt2', 'gap', '30 minutes');
SELECT * FROM deadlines('alt2');
SELECT * FROM expire_at('alt2', '2027-01-01T00:00:00Z');
SELECT sessionize.drop_stream('alt2');

-- max_events: an open session already past the new limit closes with the
-- next event that joins it (rule 5 is checked as an event joins).
SELECT * FROM feed('alt', '[
  {"id": "e", "n": 2, "ts": "2026-01-01T11:01:00Z"},
  {"id": "e", "n": 3, "ts": "2026-01-01T11:02:00Z"}]');
SELECT sessionize.alter_stream('alt', 'max_events', '2');
SELECT * FROM still_open('alt') WHERE key = 'e';
SELECT * FROM feed('alt', '[{"id": "e", "n": 4, "ts": "2026-01-01T11:03:00Z"}]');
SELECT * FROM feed('alt', '[
  {"id": "e", "n": 5, "ts": "2026-01-01T11:04:00Z"},
  {"id": "e", "n": 6, "ts": "2026-01-01T11:05:00Z"}]');
SELECT sessionize.alter_stream('alt', 'max_events', NULL);

-- max_duration applies to the next event: e opened at 11:06 may last 5 minutes.
SELECT sessionize.alter_stream('alt', 'max_duration', '5 minutes');
SELECT * FROM feed('alt', '[
  {"id": "e", "n": 7, "ts": "2026-01-01T11:06:00Z"},
  {"id": "e", "n": 8, "ts": "2026-01-01T11:11:00Z"}]');
SELECT sessionize.alter_stream('alt', 'max_duration', NULL);

-- lateness holds the clock back from the next batch on; the watermark
-- already reached never goes back.  Set back to 0, the clock is the newest
-- ts seen (12:30) from the next batch on, which times e out (11:11 + 1
-- hour) at g's batch.
SELECT watermark FROM counters('alt');
SELECT sessionize.alter_stream('alt', 'lateness', '1 hour');
SELECT * FROM feed('alt', '[{"id": "f", "n": 1, "ts": "2026-01-01T11:50:00Z"}]');
SELECT watermark FROM counters('alt');
SELECT * FROM feed('alt', '[{"id": "f", "n": 2, "ts": "2026-01-01T12:30:00Z"}]');
SELECT watermark FROM counters('alt');
SELECT sessionize.alter_stream('alt', 'lateness', '0');

-- Field names of the JSON form.
SELECT sessionize.alter_stream('alt', 'key_field', 'user');
SELECT sessionize.alter_stream('alt', 'ts_field', 'at');
SELECT sessionize.alter_stream('alt', 'last_field', 'end');
SELECT * FROM feed('alt', '[{"user": "g", "n": 1, "at": "2026-01-01T11:51:00Z", "end": true}]');
SELECT key_field, ts_field, last_field FROM settings('alt');

-- A sink from now on (its name read with the caller's search_path), then none.
CREATE TABLE alt_sink (key text, session_start timestamptz, session_end timestamptz,
                       event_count int, end_reason text, events jsonb);
SELECT sessionize.alter_stream('alt', 'sink', 'alt_sink');
SELECT sink FROM settings('alt');
SELECT * FROM feed('alt', '[{"user": "h", "n": 1, "at": "2026-01-01T11:52:00Z", "end": true}]');
SELECT sessionize.alter_stream('alt', 'sink', NULL);
SELECT * FROM feed('alt', '[{"user": "i", "n": 1, "at": "2026-01-01T11:53:00Z", "end": true}]');
SELECT key, event_count, end_reason FROM alt_sink;

-- Refused, each with its SQLSTATE, and the stream unchanged.
CREATE TABLE alt_bad_sink (user_id text, session_start timestamptz);
SELECT * FROM settings('alt') \gset before_
SELECT label, try(sql) FROM (VALUES
  ('NULL stream', $$SELECT sessionize.alter_stream(NULL, 'gap', '1 hour')$$),
  ('NULL setting', $$SELECT sessionize.alter_stream('alt', NULL, '1 hour')$$),
  ('no such stream', $$SELECT sessionize.alter_stream('nope', 'gap', '1 hour')$$),
  ('unknown setting', $$SELECT sessionize.alter_stream('alt', 'window', '1 hour')$$),
  ('key_type', $$SELECT sessionize.alter_stream('alt', 'key_type', 'bigint')$$),
  ('update_function', $$SELECT sessionize.alter_stream('alt', 'update_function', NULL)$$),
  ('gap not an interval', $$SELECT sessionize.alter_stream('alt', 'gap', 'soon')$$),
  ('gap zero', $$SELECT sessionize.alter_stream('alt', 'gap', '0')$$),
  ('gap negative', $$SELECT sessionize.alter_stream('alt', 'gap', '-5 minutes')$$),
  ('gap too long', $$SELECT sessionize.alter_stream('alt', 'gap', '300000 years')$$),
  ('max_duration zero', $$SELECT sessionize.alter_stream('alt', 'max_duration', '0')$$),
  ('max_events zero', $$SELECT sessionize.alter_stream('alt', 'max_events', '0')$$),
  ('max_events not a number', $$SELECT sessionize.alter_stream('alt', 'max_events', 'ten')$$),
  ('lateness NULL', $$SELECT sessionize.alter_stream('alt', 'lateness', NULL)$$),
  ('lateness negative', $$SELECT sessionize.alter_stream('alt', 'lateness', '-1 second')$$),
  ('key_field empty', $$SELECT sessionize.alter_stream('alt', 'key_field', '')$$),
  ('ts_field NULL', $$SELECT sessionize.alter_stream('alt', 'ts_field', NULL)$$),
  ('sink missing', $$SELECT sessionize.alter_stream('alt', 'sink', 'no_such_table')$$),
  ('sink lacks key', $$SELECT sessionize.alter_stream('alt', 'sink', 'alt_bad_sink')$$)
) AS t(label, sql);
SELECT (s.*) IS NOT DISTINCT FROM
       ROW(:'before_gap'::interval, NULL::interval, NULL::int, :'before_lateness'::interval,
           :'before_key_field'::text, :'before_ts_field'::text, :'before_last_field'::text,
           NULL::regclass)
       AS unchanged
  FROM settings('alt') s;
SELECT * FROM deadlines('alt');

-- The setting's name is matched in any case.
SELECT sessionize.alter_stream('alt', 'GAP', '45 minutes');
SELECT gap FROM settings('alt');

-- Custom state: the gap (its timeout) can change, max_duration and
-- max_events cannot be set.
CREATE FUNCTION keep_all(key text, events jsonb, state jsonb, timed_out boolean)
RETURNS sessionize.state_update LANGUAGE sql AS $$
    SELECT ROW(CASE WHEN timed_out THEN NULL ELSE coalesce(state, '[]') || events END,
               CASE WHEN timed_out THEN state END)::sessionize.state_update
$$;
SELECT sessionize.create_stream('alt_custom', gap => '30 minutes',
                                update_function => 'keep_all(text, jsonb, jsonb, boolean)');
SELECT count(*) FROM sessionize.sessionize_batch('alt_custom',
    '[{"id": "a", "n": 1, "ts": "2026-01-01T10:00:00Z"}]');
SELECT sessionize.alter_stream('alt_custom', 'gap', '5 minutes');
SELECT * FROM deadlines('alt_custom');
SELECT key, end_reason, events FROM sessionize.sessionize_batch('alt_custom',
    '[{"id": "b", "n": 1, "ts": "2026-01-01T10:05:00Z"}]');
SELECT try($$SELECT sessionize.alter_stream('alt_custom', 'max_events', '3')$$);
SELECT try($$SELECT sessionize.alter_stream('alt_custom', 'max_duration', '1 hour')$$);

-- Only the owner (or a member of it) alters a stream.
CREATE ROLE regress_sessionize_alterer;
SET ROLE regress_sessionize_alterer;
SELECT try($$SELECT sessionize.alter_stream('alt', 'gap', '1 minute')$$);
RESET ROLE;
SELECT gap FROM settings('alt');
DROP ROLE regress_sessionize_alterer;

-- As every call that changes a stream, it needs READ COMMITTED.
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT sessionize.alter_stream('alt', 'gap', '1 minute');
ROLLBACK;

-- A change rolled back leaves the setting and the deadlines as they were.
BEGIN;
SELECT sessionize.alter_stream('alt', 'gap', '1 minute');
ROLLBACK;
SELECT gap FROM settings('alt');
SELECT * FROM deadlines('alt');

SELECT sessionize.drop_stream('alt');
SELECT sessionize.drop_stream('alt_custom');
DROP TABLE alt_sink, alt_bad_sink;
DROP FUNCTION keep_all(text, jsonb, jsonb, boolean);
