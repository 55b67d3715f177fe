-- aggregate: sessionize.sessions(ts, is_last, payload, gap [, max_duration,
-- max_events]) sessionizes one key's events in plain SQL (GROUP BY key),
-- with the rules of a stream; the last session ends with reason flush.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';

CREATE TABLE clicks (user_id int, n int, ts timestamptz, is_last boolean, payload jsonb);
INSERT INTO clicks (user_id, n, ts, is_last) VALUES
  -- user 1: exactly gap (30 min) after the last event starts a new session
  (1, 1, '2026-01-01 10:00:00+00', false),
  (1, 2, '2026-01-01 10:29:59.999999+00', false),
  (1, 3, '2026-01-01 10:59:59.999999+00', false),
  -- user 2: isLast ends a session; the next event opens another
  (2, 1, '2026-01-01 10:00:00+00', false),
  (2, 2, '2026-01-01 10:05:00+00', true),
  (2, 3, '2026-01-01 10:06:00+00', false),
  -- user 3: equal ts keep input order (n 2 before n 3)
  (3, 1, '2026-01-01 09:00:00+00', false),
  (3, 2, '2026-01-01 09:10:00+00', false),
  (3, 3, '2026-01-01 09:10:00+00', false);
UPDATE clicks SET payload = jsonb_build_object('user', user_id, 'n', n);

-- The usual shape: one array of sessions per key, unnested.
SELECT g.user_id, (s.session_start AT TIME ZONE 'UTC')::time AS first_ts,
       (s.session_end AT TIME ZONE 'UTC')::time AS last_ts, s.event_count,
       s.end_reason, jsonb_path_query_array(s.events, '$[*].n') AS labels
  FROM (SELECT user_id,
               sessionize.sessions(ts, is_last, payload, '30 minutes' ORDER BY ts, n) AS ss
          FROM clicks GROUP BY user_id) g,
       unnest(g.ss) s
 ORDER BY g.user_id, s.session_start, s.session_end;

-- The input order does not matter: the events are sorted by ts inside
-- (ties keep the input order, so give an ORDER BY when ts ties matter).
SELECT user_id,
       sessionize.sessions(ts, is_last, payload, '30 minutes' ORDER BY ts DESC, n DESC)::text
     = sessionize.sessions(ts, is_last, payload, '30 minutes' ORDER BY ts, n DESC)::text
       AS same_sessions
  FROM clicks WHERE user_id IN (1, 2) GROUP BY user_id ORDER BY user_id;

-- tiebreak (a seventh argument): ties in ts are taken by it, NULL last,
-- then in input order, so that no ORDER BY is needed inside the call.
SELECT jsonb_path_query_array(s.events, '$[*].x') AS order_of_ties
  FROM unnest((SELECT sessionize.sessions(t, false, jsonb_build_object('x', x), '30 minutes',
                                          NULL, NULL, tb)
                 FROM (VALUES ('2026-01-01 10:00'::timestamptz, 'a', 3),
                              ('2026-01-01 10:00', 'b', NULL),
                              ('2026-01-01 10:00', 'c', 1),
                              ('2026-01-01 10:00', 'e', NULL),
                              ('2026-01-01 09:59', 'd', 9)) v(t, x, tb))) s;
-- It gives every user the sessions of ORDER BY ts, n, from events fed in
-- the reverse order.
SELECT count(*) AS users,
       bool_and(by_order = by_tiebreak) AS same_sessions
  FROM (SELECT user_id,
               sessionize.sessions(ts, is_last, payload, '30 minutes' ORDER BY ts, n)::text
                 AS by_order,
               sessionize.sessions(ts, is_last, payload, '30 minutes', NULL, NULL, n
                                   ORDER BY ts DESC, n DESC)::text AS by_tiebreak
          FROM clicks GROUP BY user_id) g;

-- max_duration and max_events, as in a stream; gap and max_duration both
-- due: gap wins.  NULL settings are off, as in create_stream.
SELECT (s.session_start AT TIME ZONE 'UTC')::time AS first_ts, s.event_count, s.end_reason
  FROM unnest((SELECT sessionize.sessions(t, false, '{}', '30 minutes', '1 hour', NULL ORDER BY t)
                 FROM unnest(ARRAY['2026-01-01 10:00', '2026-01-01 10:20', '2026-01-01 10:40',
                                   '2026-01-01 11:00', '2026-01-01 11:40']::timestamptz[]) t)) s;
SELECT s.event_count, s.end_reason
  FROM unnest((SELECT sessionize.sessions(t, false, '{}', NULL, NULL, 2 ORDER BY t)
                 FROM unnest(ARRAY['2026-01-01 10:00', '2026-01-01 10:01', '2026-01-01 10:02',
                                   '2026-01-01 19:00', '2026-01-01 19:01']::timestamptz[]) t)) s;

-- The final function leaves the group's events as they were: the same
-- aggregate twice in a query (which may share one state) gives the same
-- sessions twice, and as a window function each row's result holds the
-- sessions of the events up to it (the last one ending with flush).
SELECT user_id,
       sessionize.sessions(ts, is_last, payload, '30 minutes')::text
     = sessionize.sessions(ts, is_last, payload, '30 minutes')::text AS same_twice
  FROM clicks WHERE user_id IN (1, 2) GROUP BY user_id ORDER BY user_id;
SELECT w.user_id, w.n,
       (SELECT string_agg(s.event_count || ' ' || s.end_reason, ', ')
          FROM unnest(w.ss) s) AS sessions_so_far
  FROM (SELECT user_id, n, ts,
               sessionize.sessions(ts, is_last, payload, '30 minutes')
                   OVER (PARTITION BY user_id ORDER BY ts, n) AS ss
          FROM clicks WHERE user_id IN (1, 2)) w
 ORDER BY w.user_id, w.ts, w.n;

-- No rows: NULL, as other aggregates.
SELECT sessionize.sessions(ts, is_last, payload, '30 minutes') IS NULL AS no_sessions
  FROM clicks WHERE false;

-- Errors.
SELECT label, try(sql) FROM (VALUES
  ('NULL ts',        $$SELECT sessionize.sessions(ts, false, '{}', '1 hour') FROM (VALUES (now()), (NULL)) v(ts)$$),
  ('NULL payload',   $$SELECT sessionize.sessions(now(), false, NULL, '1 hour')$$),
  ('scalar payload', $$SELECT sessionize.sessions(now(), false, '1', '1 hour')$$),
  ('array payload',  $$SELECT sessionize.sessions(now(), false, '[{"a": 1}]', '1 hour')$$),
  ('infinite ts',    $$SELECT sessionize.sessions('infinity', false, '{}', '1 hour')$$),
  ('gap zero',       $$SELECT sessionize.sessions(now(), false, '{}', '0')$$),
  ('max_events 0',   $$SELECT sessionize.sessions(now(), false, '{}', NULL, NULL, 0)$$)
) AS t(label, sql);

-- A group that outgrows its first allocation (its state, 4 events and a
-- few hundred bytes of payload): 1,000 events whose payloads fill many
-- blocks of the group's arena, some larger than a block (8 kB); every
-- payload comes out whole and in order.
WITH e AS (
  SELECT i, timestamptz '2026-01-01 00:00+00' + i * interval '1 minute' AS ts,
         jsonb_build_object('i', i, 'pad',
                            repeat('x', CASE WHEN i % 100 = 0 THEN 10000 ELSE i % 50 END)) AS payload
    FROM generate_series(1, 1000) i)
SELECT s.event_count, s.end_reason,
       s.events = (SELECT jsonb_agg(payload ORDER BY i) FROM e) AS events_intact
  FROM unnest((SELECT sessionize.sessions(ts, false, payload, '30 minutes') FROM e)) s;

-- The final function writes the array's rows in place: rows of every size
-- side by side (a session of one empty event, whose events column is
-- stored with a one-byte header, next to sessions of many large events)
-- keep their fields, also once the array is stored in a table and read
-- back, and each session's events are exactly its own, in order.
CREATE TEMP TABLE agg_sizes AS
SELECT i, timestamptz '2026-01-01 00:00+00'
          + (i / 10) * interval '1 hour' + (i % 10) * interval '1 minute' AS ts,
       CASE WHEN i % 30 = 0 THEN '{}'::jsonb
            ELSE jsonb_build_object('i', i, 'pad', repeat('y', (i * 37) % 300)) END AS payload
  FROM generate_series(1, 300) i
 WHERE i % 10 < CASE WHEN i / 10 % 3 = 0 THEN 1 ELSE 10 END;
CREATE TEMP TABLE agg_kept AS
SELECT sessionize.sessions(ts, false, payload, '30 minutes') AS ss FROM agg_sizes;
SELECT count(*) AS sessions,
       count(*) FILTER (WHERE s.event_count = 1) AS one_event,
       count(*) FILTER (WHERE pg_column_size(s.events) < 127) AS small,
       bool_and(s.events = (SELECT jsonb_agg(a.payload ORDER BY a.ts, a.i) FROM agg_sizes a
                             WHERE a.ts BETWEEN s.session_start AND s.session_end))
         AS events_intact,
       bool_and(s.event_count = jsonb_array_length(s.events)) AS counts_agree,
       string_agg(DISTINCT s.end_reason, ',') AS reasons
  FROM agg_kept k, unnest(k.ss) s;

-- The row type belongs to the extension: altered by hand (an attribute
-- added, retyped or dropped), it is refused with an error rather than
-- written past its columns.
BEGIN;
ALTER TYPE sessionize.session ADD ATTRIBUTE extra integer;
SELECT sessionize.sessions(now(), false, '{}', '30 minutes');
ROLLBACK;
BEGIN;
DROP TABLE agg_kept;
ALTER TYPE sessionize.session ALTER ATTRIBUTE event_count TYPE bigint;
SELECT sessionize.sessions(now(), false, '{}', '30 minutes');
ROLLBACK;
BEGIN;
DROP TABLE agg_kept;
ALTER TYPE sessionize.session DROP ATTRIBUTE end_reason;
SELECT sessionize.sessions(now(), false, '{}', '30 minutes');
ROLLBACK;
SELECT (s).event_count FROM unnest((SELECT sessionize.sessions(now(), false, '{}', '30 minutes'))) s;
