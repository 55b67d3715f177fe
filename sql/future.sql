-- future: one bad timestamp cannot ruin a stream's clock (SPEC 10).  The
-- clock never runs ahead of the wall clock (max_future); epoch numbers are
-- read in the stream's unit (ts_unit); the owner sets the clock back with
-- alter_stream(stream, 'watermark', ...); the words that are no time of an
-- event are refused.  now() is the transaction's start: each check runs
-- in the transaction of its batch.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';

-- clock(stream): how far the clock is from now(), and the counters.
CREATE FUNCTION clock(stream text)
RETURNS TABLE (ahead interval, events_in bigint, future_events bigint, late_events bigint)
LANGUAGE sql AS $$
    SELECT watermark - now(), events_in, future_events, late_events
      FROM sessionize.stats WHERE stats.stream = clock.stream
$$;
-- at(offset): a one-event batch of key k at now() + offset.
CREATE FUNCTION at(k text, offset_ interval) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_array(jsonb_build_object('id', k, 'ts', now() + offset_))
$$;

-- By default (max_future '0') the clock stops at now(): an event an hour
-- ahead is kept (its session is open) and counted, it only does not move
-- the clock past now().
SELECT sessionize.create_stream('fut', gap => '30 minutes');
BEGIN;
SELECT count(*) FROM sessionize.sessionize_batch('fut', at('a', '1 hour'));
SELECT * FROM clock('fut');
SELECT key, session_start - now() AS start_ahead FROM sessionize.open_sessions('fut');
COMMIT;

-- The boundary: an event at exactly now() + max_future moves the clock
-- there (less lateness); one a microsecond later is ahead of it.
SELECT sessionize.create_stream('edge', gap => '30 minutes', max_future => '10 minutes',
                                lateness => '1 minute');
BEGIN;
SELECT count(*) FROM sessionize.sessionize_batch('edge', at('a', '10 minutes'));
SELECT * FROM clock('edge');
SELECT count(*) FROM sessionize.sessionize_batch('edge', at('b', '10 minutes 0.000001 seconds'));
SELECT * FROM clock('edge');
COMMIT;

-- NULL: no limit, for simulations with future data.
SELECT sessionize.create_stream('sim', gap => '30 minutes', max_future => NULL);
BEGIN;
SELECT count(*) FROM sessionize.sessionize_batch('sim', at('a', '100 days'));
SELECT * FROM clock('sim');
COMMIT;

-- Epoch milliseconds read as seconds would be the year 58133: a number
-- that is no time from 1971 to 2199 in the stream's unit is refused, with
-- a hint naming the unit it fits (it used to be taken, and max_future only
-- kept it from moving the clock).  With ts_unit 'ms' or 'us' such numbers
-- are read right.
SELECT sessionize.create_stream('seconds', gap => '30 minutes');
SELECT sessionize.create_stream('millis', gap => '30 minutes', ts_unit => 'ms');
SELECT sessionize.create_stream('micros', gap => '30 minutes', ts_unit => 'us');
SELECT count(*) FROM sessionize.sessionize_batch('seconds', '[{"id": 1, "ts": 1772359200000}]');
SELECT count(*) FROM sessionize.open_sessions('seconds');
-- An event an hour ahead moves the clock of 'seconds' to now() (below).
BEGIN;
SELECT count(*) FROM sessionize.sessionize_batch('seconds', at('1', '1 hour'));
SELECT ahead <= '0', future_events FROM clock('seconds');
COMMIT;
SELECT key, session_start > now() AS ahead_of_now FROM sessionize.open_sessions('seconds');
SELECT count(*) FROM sessionize.sessionize_batch('millis', '[{"id": 1, "ts": 1772359200123}]');
SELECT count(*) FROM sessionize.sessionize_batch('micros', '[{"id": 1, "ts": 1772359200123456}]');
SELECT key, session_start FROM sessionize.open_sessions('millis');
SELECT key, session_start FROM sessionize.open_sessions('micros');
-- ... in the query form too, from a column of numbers.
SELECT count(*) FROM sessionize.sessionize_query('millis',
    'SELECT 2 AS id, 1772359260000::bigint AS ts');
SELECT key, session_start FROM sessionize.open_sessions('millis') ORDER BY key;
-- A ts that is no time says which numbers the stream reads.
SELECT count(*) FROM sessionize.sessionize_batch('millis', '[{"id": 1, "ts": true}]');
SELECT count(*) FROM sessionize.sessionize_batch('micros', '[{"id": 1, "ts": "soon"}]');

-- The clock set by hand: the one way back, e.g. after a wrong batch on a
-- stream without a limit.  Every partition's clock is set.
SELECT sessionize.create_stream('reset', gap => '30 minutes', max_future => NULL, partitions => 2);
SELECT count(*) FROM sessionize.sessionize_batch('reset',
    '[{"id": "a", "ts": "2999-01-01T00:00:00Z"}]', "partition" => 1);
SELECT "partition", watermark FROM sessionize.partition_stats WHERE stream = 'reset' ORDER BY 1;
SELECT sessionize.alter_stream('reset', 'watermark', '2026-01-01T10:00:00Z');
SELECT "partition", watermark FROM sessionize.partition_stats WHERE stream = 'reset' ORDER BY 1;
-- Correct events are no longer late, and time out as they should.
SELECT key, event_count, end_reason FROM sessionize.sessionize_batch('reset',
    '[{"id": "b", "ts": "2026-01-01T10:05:00Z"}, {"id": "c", "ts": "2026-01-01T11:00:00Z"}]',
    "partition" => 0);
SELECT late_events, future_events FROM sessionize.stats WHERE stream = 'reset';

-- max_future and ts_unit can change, from the next batch on.  A limit
-- below the clock stops it where it is: it never goes back by itself.
SELECT sessionize.alter_stream('sim', 'max_future', '1 hour');
BEGIN;
SELECT count(*) FROM sessionize.sessionize_batch('sim', at('b', '200 days'));
SELECT ahead > '99 days' AS clock_stays_ahead, future_events FROM clock('sim');
COMMIT;
-- With ts_unit 'ms' the same number is March 2026, older than the clock
-- (now()): a late event, timed out at once, as the rules say.
SELECT sessionize.alter_stream('seconds', 'ts_unit', 'ms');
SELECT key, session_start, end_reason FROM sessionize.sessionize_batch('seconds',
    '[{"id": 2, "ts": 1772359200000}]');

-- The words timestamptz reads as times of the call are refused, alone or
-- with a time, with the element or row that has one; so is a zone name
-- (not ISO 8601: a time is written with an offset, or in the stream's
-- time_zone).
SELECT label, try(sql) FROM (VALUES
  ('now',         $$SELECT sessionize.sessionize_batch('fut', '[{"id": "w", "ts": "now"}]')$$),
  ('Today',       $$SELECT sessionize.sessionize_batch('fut', '[{"id": "w", "ts": "2026-01-01T10:00:00Z"}, {"id": "w", "ts": " Today "}]')$$),
  ('yesterday',   $$SELECT sessionize.sessionize_batch('fut', '[{"id": "w", "ts": "yesterday"}]')$$),
  ('tomorrow',    $$SELECT sessionize.sessionize_batch('fut', '[{"id": "w", "ts": "TOMORROW"}]')$$),
  ('epoch',       $$SELECT sessionize.sessionize_batch('fut', '[{"id": "w", "ts": "epoch"}]')$$),
  ('today 10:00', $$SELECT sessionize.sessionize_batch('fut', '[{"id": "w", "ts": "today 10:00"}]')$$),
  ('epoch 10:00', $$SELECT sessionize.sessionize_batch('fut', '[{"id": "w", "ts": "10:00 Epoch"}]')$$),
  ('yesterday allballs', $$SELECT sessionize.sessionize_batch('fut', '[{"id": "w", "ts": "yesterday allballs"}]')$$),
  ('query, now',  $$SELECT sessionize.sessionize_query('fut', 'SELECT ''w'' AS id, ''now''::text AS ts')$$),
  ('query, today 10:00', $$SELECT sessionize.sessionize_query('fut', 'SELECT ''w'' AS id, ''today 10:00''::text AS ts')$$),
  ('query, name', $$SELECT sessionize.sessionize_query('fut', 'SELECT ''w'' AS id, ''today 10:00''::name AS ts')$$),
  ('zone names',  $$SELECT count(*) FROM sessionize.sessionize_batch('fut', '[{"id": "w", "ts": "2026-01-01 10:00 America/New_York"}]')$$),
  ('query, text', $$SELECT sessionize.sessionize_query('fut', 'SELECT ''w'' AS id, ''2026-01-01 10:00+02''::text AS ts')$$)
) AS t(label, sql);
SELECT sessionize.sessionize_batch('fut', '[{"id": "w", "ts": "2026-01-01T10:00:00Z"}, {"id": "w", "ts": " Today "}]');

-- Bad settings are refused, with their SQLSTATE.
SELECT label, try(sql) FROM (VALUES
  ('max_future negative', $$SELECT sessionize.create_stream('x', max_future => '-1 minute')$$),
  ('ts_unit minutes',     $$SELECT sessionize.create_stream('x', ts_unit => 'min')$$),
  ('ts_unit NULL',        $$SELECT sessionize.create_stream('x', ts_unit => NULL)$$),
  ('alter ts_unit',       $$SELECT sessionize.alter_stream('fut', 'ts_unit', 'ns')$$),
  ('alter max_future',    $$SELECT sessionize.alter_stream('fut', 'max_future', '-1 second')$$),
  ('watermark NULL',      $$SELECT sessionize.alter_stream('fut', 'watermark', NULL)$$),
  ('watermark infinity',  $$SELECT sessionize.alter_stream('fut', 'watermark', 'infinity')$$)
) AS t(label, sql);
SELECT count(*) AS streams_named_x FROM sessionize.streams WHERE name = 'x';

SELECT sessionize.drop_stream(s)
  FROM unnest(ARRAY['fut', 'edge', 'sim', 'seconds', 'millis', 'micros', 'reset']) s;
DROP FUNCTION clock(text);
DROP FUNCTION at(text, interval);

-- time_zone: event times written without an offset are read in the
-- stream's zone ('UTC' by default), not in the connection's TimeZone;
-- NULL is the connection's.  Times with an offset, and epoch numbers, are
-- the same instant in any.
SET TimeZone = 'America/New_York';
SELECT sessionize.create_stream('tz_utc', max_future => NULL);
SELECT sessionize.create_stream('tz_berlin', max_future => NULL, time_zone => 'Europe/Berlin');
SELECT sessionize.create_stream('tz_conn', max_future => NULL, time_zone => NULL);
SELECT s, count(*) FROM unnest(ARRAY['tz_utc', 'tz_berlin', 'tz_conn']) s,
       sessionize.sessionize_batch(s, '[{"id": "local", "ts": "2026-01-01T10:00:00"},
                                         {"id": "offset", "ts": "2026-01-01T10:00:00+05:00"},
                                         {"id": "epoch", "ts": 1767261600}]') GROUP BY s ORDER BY s;
SELECT sessionize_query FROM (VALUES (1)) v,
       LATERAL (SELECT count(*) FROM sessionize.sessionize_query('tz_berlin',
                $$SELECT 'summer' AS id, '2026-07-01 10:00' AS ts$$)) AS sessionize_query;
SHOW TimeZone;
SET TimeZone = 'UTC';
SELECT s AS stream, o.key, o.session_start
  FROM unnest(ARRAY['tz_utc', 'tz_berlin', 'tz_conn']) s, sessionize.open_sessions(s) o
 ORDER BY 1, 2;
SELECT name, time_zone FROM sessionize.streams WHERE name LIKE 'tz\_%' ORDER BY 1;
-- Changed with alter_stream; a zone TimeZone does not take is refused.
SELECT sessionize.alter_stream('tz_utc', 'time_zone', 'Asia/Tokyo');
SELECT count(*) FROM sessionize.sessionize_batch('tz_utc', '[{"id": "tokyo", "ts": "2026-01-02 09:00"}]');
SELECT session_start FROM sessionize.open_sessions('tz_utc', 'tokyo');
SELECT label, try(sql) FROM (VALUES
  ('alter', $$SELECT sessionize.alter_stream('tz_utc', 'time_zone', 'Mars/Olympus_Mons')$$),
  ('create', $$SELECT sessionize.create_stream('tz_bad', time_zone => 'nowhere')$$)
) AS t(label, sql);
SELECT time_zone FROM sessionize.streams WHERE name = 'tz_utc';
-- NULL: the connection's TimeZone from then on.
SELECT sessionize.alter_stream('tz_utc', 'time_zone', NULL);
SET TimeZone = 'Asia/Tokyo';
SELECT count(*) FROM sessionize.sessionize_batch('tz_utc', '[{"id": "conn", "ts": "2026-01-02 09:00"}]');
SET TimeZone = 'UTC';
SELECT session_start FROM sessionize.open_sessions('tz_utc', 'conn');
SELECT time_zone IS NULL AS connections FROM sessionize.streams WHERE name = 'tz_utc';
SELECT sessionize.drop_stream(s) FROM unnest(ARRAY['tz_utc', 'tz_berlin', 'tz_conn']) s;
