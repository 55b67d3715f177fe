-- eventtime: streams of mode event_time (SPEC 8): a key's sessions are its
-- non-late events in (ts, arrival) order, cut where consecutive events are
-- gap or more apart and after each isLast; they merge when an event falls
-- between them, and come out when the watermark makes them final.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';

-- et_open: still_open, a key's sessions in order.
CREATE FUNCTION et_open(stream text)
RETURNS TABLE (key text, first_ts time, last_ts time, n int, labels jsonb)
LANGUAGE sql AS $$
    SELECT o.key, (o.session_start AT TIME ZONE 'UTC')::time,
           (o.session_end AT TIME ZONE 'UTC')::time, o.event_count,
           jsonb_path_query_array(o.events, '$[*].n')
      FROM sessionize.open_sessions(stream) o
     ORDER BY o.key, o.session_start, o.session_end
$$;

-- What an event-time stream refuses.
SELECT try($$SELECT sessionize.create_stream('et_bad', mode => 'event_time')$$);
SELECT try($$SELECT sessionize.create_stream('et_bad', gap => '10 minutes', max_duration => '1 hour',
                                             mode => 'event_time')$$);
SELECT try($$SELECT sessionize.create_stream('et_bad', gap => '10 minutes', max_events => 5,
                                             mode => 'event_time')$$);
SELECT try($$SELECT sessionize.create_stream('et_bad', gap => '10 minutes', mode => 'event_time',
                                             update_function => 'count_events')$$);
SELECT try($$SELECT sessionize.create_stream('et_bad', gap => '10 minutes', mode => 'wall_clock')$$);
SELECT try($$SELECT sessionize.create_stream('et_bad', gap => '10 minutes', mode => NULL)$$);

-- gap 10 minutes, lateness 30 minutes: the clock trails the newest event
-- by 30 minutes, so events may come in any order within that.
SELECT sessionize.create_stream('et', gap => '10 minutes', lateness => '30 minutes',
                                mode => 'event_time');
SELECT try($$SELECT sessionize.alter_stream('et', 'max_events', '3')$$);
SELECT try($$SELECT sessionize.alter_stream('et', 'max_duration', '1 hour')$$);
SELECT try($$SELECT sessionize.alter_stream('et', 'gap', NULL)$$);
SELECT try($$SELECT sessionize.alter_stream('et', 'mode', 'arrival')$$);

-- An event exactly gap after another starts a new session; one second
-- under joins it.  Key a: 10:00 and 10:10 (two sessions); key b: 10:00 and
-- 10:09:59 (one).
SELECT * FROM feed('et', '[
  {"id": "a", "n": 1, "ts": "2026-01-01T10:00:00Z"},
  {"id": "a", "n": 2, "ts": "2026-01-01T10:10:00Z"},
  {"id": "b", "n": 1, "ts": "2026-01-01T10:00:00Z"},
  {"id": "b", "n": 2, "ts": "2026-01-01T10:09:59Z"}]');
SELECT * FROM et_open('et');
SELECT key, count(*) FROM sessionize.open_sessions('et') GROUP BY key ORDER BY key;

-- An event that bridges two sessions merges them: c has 10:00 and 10:15,
-- then 10:07 arrives (7 and 8 minutes from each).
SELECT * FROM feed('et', '[
  {"id": "c", "n": 1, "ts": "2026-01-01T10:00:00Z"},
  {"id": "c", "n": 3, "ts": "2026-01-01T10:15:00Z"}]');
SELECT key, count(*) FROM sessionize.open_sessions('et') WHERE key = 'c' GROUP BY key;
SELECT * FROM feed('et', '[{"id": "c", "n": 2, "ts": "2026-01-01T10:07:00Z"}]');
SELECT * FROM et_open('et') WHERE key = 'c';

-- One that bridges three: d has 10:00, 10:12 and 10:24; 10:06 and 10:18
-- arrive in one batch.
SELECT * FROM feed('et', '[
  {"id": "d", "n": 1, "ts": "2026-01-01T10:00:00Z"},
  {"id": "d", "n": 3, "ts": "2026-01-01T10:12:00Z"},
  {"id": "d", "n": 5, "ts": "2026-01-01T10:24:00Z"}]');
SELECT key, count(*) FROM sessionize.open_sessions('et') WHERE key = 'd' GROUP BY key;
SELECT * FROM feed('et', '[
  {"id": "d", "n": 4, "ts": "2026-01-01T10:18:00Z"},
  {"id": "d", "n": 2, "ts": "2026-01-01T10:06:00Z"}]');
SELECT * FROM et_open('et') WHERE key = 'd';

-- An isLast event that arrives after later events of its key cuts the
-- session there: e has 10:00, 10:05, 10:08; then 10:03 with isLast.
SELECT * FROM feed('et', '[
  {"id": "e", "n": 1, "ts": "2026-01-01T10:00:00Z"},
  {"id": "e", "n": 3, "ts": "2026-01-01T10:05:00Z"},
  {"id": "e", "n": 4, "ts": "2026-01-01T10:08:00Z"}]');
SELECT * FROM feed('et', '[{"id": "e", "n": 2, "ts": "2026-01-01T10:03:00Z", "isLast": true}]');
SELECT * FROM et_open('et') WHERE key = 'e';

-- Equal ts on both sides of an isLast: an event of the same ts that
-- arrived before it is in its session, one that arrives after starts the
-- next (ties keep arrival order).
SELECT * FROM feed('et', '[
  {"id": "f", "n": 1, "ts": "2026-01-01T10:00:00Z"},
  {"id": "f", "n": 2, "ts": "2026-01-01T10:00:00Z", "isLast": true},
  {"id": "f", "n": 3, "ts": "2026-01-01T10:00:00Z"}]');
SELECT * FROM et_open('et') WHERE key = 'f';

-- So far the newest event is 10:24: the clock is at 9:54, nothing is
-- final.  An event at 10:40 moves it to 10:10: e's and f's first sessions
-- (isLast at 10:03 and 10:00) are final, and a's first and f's second
-- (10:00 + gap = 10:10) exactly then; b's (10:09:59) is not.
SELECT * FROM feed('et', '[{"id": "z", "n": 1, "ts": "2026-01-01T10:40:00Z"}]');
SELECT watermark FROM sessionize.stats WHERE stream = 'et';

-- Late by one microsecond: older than the clock as the batch began (10:10)
-- comes out at once, alone, as late; exactly at the clock is not late.
SELECT * FROM feed('et', '[
  {"id": "g", "n": 1, "ts": "2026-01-01T10:09:59.999999Z"},
  {"id": "g", "n": 2, "ts": "2026-01-01T10:10:00Z"}]');
SELECT * FROM et_open('et') WHERE key = 'g';
SELECT events_in, late_events, sessions_open FROM sessionize.stats WHERE stream = 'et';

-- A late event joins nothing, even a session it falls in (b's is open,
-- 10:00 to 10:09:59; 10:05 is late).
SELECT * FROM feed('et', '[{"id": "b", "n": 9, "ts": "2026-01-01T10:05:00Z"}]');
SELECT * FROM et_open('et') WHERE key = 'b';

-- Emission exactly when the clock reaches last_ts + gap: b ends at
-- 10:09:59, so at 10:19:58 it stays, at 10:19:59 it is final.
SELECT * FROM feed('et', '[{"id": "z", "n": 2, "ts": "2026-01-01T10:49:58Z"}]');
SELECT * FROM feed('et', '[{"id": "z", "n": 3, "ts": "2026-01-01T10:49:59Z"}]');

-- expire moves the clock as in arrival order; what it makes final comes out.
SELECT * FROM expire_at('et', '2026-01-01T11:00:00Z');
SELECT * FROM et_open('et');

-- flush: last if a session ends with an isLast event, gap if the key has a
-- later session, else flush.  h: 12:00, 12:30 (two sessions), i: 12:00
-- with isLast, then 12:01.
SELECT * FROM feed('et', '[
  {"id": "h", "n": 1, "ts": "2026-01-01T12:00:00Z"},
  {"id": "h", "n": 2, "ts": "2026-01-01T12:30:00Z"},
  {"id": "i", "n": 1, "ts": "2026-01-01T12:00:00Z", "isLast": true},
  {"id": "i", "n": 2, "ts": "2026-01-01T12:01:00Z"}]');
SELECT * FROM flush_all('et');
SELECT sessions_open, closed_gap, closed_last, closed_flush, late_events
  FROM sessionize.stats WHERE stream = 'et';

-- A new gap re-cuts the open sessions: two sessions 15 minutes apart
-- merge when the gap becomes 20 minutes, and part again at 10.
SELECT * FROM feed('et', '[
  {"id": "j", "n": 1, "ts": "2026-01-01T13:00:00Z"},
  {"id": "j", "n": 2, "ts": "2026-01-01T13:15:00Z"}]');
SELECT key, count(*) FROM sessionize.open_sessions('et') WHERE key = 'j' GROUP BY key;
SELECT sessionize.alter_stream('et', 'gap', '20 minutes');
SELECT key, count(*) FROM sessionize.open_sessions('et') WHERE key = 'j' GROUP BY key;
SELECT sessionize.alter_stream('et', 'gap', '10 minutes');
SELECT key, count(*) FROM sessionize.open_sessions('et') WHERE key = 'j' GROUP BY key;
SELECT * FROM flush_all('et');
SELECT sessionize.drop_stream('et');

-- The sink gets every session and every late event; the typed and query
-- forms are the same batches.
CREATE TABLE et_sink (key bigint, session_start timestamptz, event_count int, end_reason text,
                      events jsonb);
SELECT sessionize.create_stream('et_typed', 'bigint', gap => '10 minutes', lateness => '5 minutes',
                                mode => 'event_time', sink => 'et_sink');
SELECT key, event_count, end_reason FROM sessionize.sessionize_batch('et_typed',
    ARRAY[1, 1, 2], ARRAY['2026-01-01 10:00Z', '2026-01-01 10:30Z', '2026-01-01 10:31Z']::timestamptz[],
    NULL, ARRAY['{"n": 1}', '{"n": 3}', '{"n": 1}']::jsonb[]);
SELECT key, event_count, end_reason FROM sessionize.sessionize_query('et_typed', $$
    SELECT * FROM (VALUES (1, '2026-01-01 10:05Z'::timestamptz, '{"n": 2}'::jsonb),
                          (1, '2026-01-01 10:26Z', '{"n": 9}')) v(id, ts, payload)$$);
SELECT count(*) FROM sessionize.flush('et_typed');
SELECT key, event_count, end_reason, jsonb_path_query_array(events, '$[*].n') AS labels
  FROM et_sink ORDER BY key, session_start, end_reason;
SELECT sessionize.drop_stream('et_typed');

-- A partitioned event-time stream: each partition has its own clock.
CREATE TABLE et_psink (LIKE et_sink);
ALTER TABLE et_psink ALTER key TYPE text;
SELECT sessionize.create_stream('et_part', gap => '10 minutes', mode => 'event_time',
                                partitions => 2, sink => 'et_psink');
SELECT key, event_count, end_reason FROM sessionize.sessionize_batch('et_part',
    '[{"id": "p", "ts": "2026-01-01T10:00:00Z"}, {"id": "p", "ts": "2026-01-01T11:00:00Z"}]',
    "partition" => 0);
SELECT key, event_count, end_reason FROM sessionize.sessionize_batch('et_part',
    '[{"id": "q", "ts": "2026-01-01T09:00:00Z"}]', "partition" => 1);
SELECT "partition", key, event_count FROM sessionize.open_sessions('et_part') ORDER BY 1, 2;
SELECT sessionize.drop_stream('et_part');

-- Property: events with disorder bounded by lateness, fed in two arrival
-- orders and cut into batches at random, give the same sessions, which are
-- the aggregate's over the same events (but a key's last session may say
-- gap where the aggregate says flush); and with disorder beyond lateness,
-- every event comes out exactly once, the late ones alone as late.
SELECT setseed(0.77);
CREATE TABLE et_events AS
SELECT row_number() OVER (ORDER BY ts, k) AS seq, 'u' || k AS id, ts, random() < 0.05 AS last
  FROM (SELECT k, timestamptz '2026-01-01 00:00Z'
                    + sum((ARRAY[20, 60, 300, 600, 900, 1200, 30, 120])[1 + floor(random() * 8)::int])
                        OVER (PARTITION BY k ORDER BY i) * interval '1 second' AS ts
          FROM generate_series(1, 40) k, generate_series(1, 50) i) x;
CREATE FUNCTION et_order(p_disorder interval, p_seed float8) RETURNS bigint[]
LANGUAGE plpgsql AS $$
DECLARE
    v_order bigint[];
BEGIN
    PERFORM setseed(p_seed);
    -- arrival order: ts plus a random delay of up to p_disorder
    SELECT array_agg(seq ORDER BY ts + random() * p_disorder, seq) INTO v_order FROM et_events;
    RETURN v_order;
END
$$;
CREATE FUNCTION et_run(p_stream text, p_disorder interval, p_seed float8)
RETURNS TABLE (key text, session_start timestamptz, session_end timestamptz,
               event_count integer, end_reason text, seqs jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    v_order bigint[];
    v_i int := 1;
    v_n int;
BEGIN
    v_order := et_order(p_disorder, p_seed);
    CREATE TEMP TABLE IF NOT EXISTS et_out (LIKE et_sink INCLUDING ALL);
    TRUNCATE et_out;
    WHILE v_i <= array_length(v_order, 1) LOOP
        v_n := 1 + floor(random() * 150)::int;
        INSERT INTO et_out
        SELECT b.key, b.session_start, b.event_count, b.end_reason, b.events
          FROM sessionize.sessionize_batch(p_stream,
                 (SELECT jsonb_agg(jsonb_build_object('id', e.id, 'ts', e.ts, 'isLast', e.last,
                                                      'seq', e.seq) ORDER BY o.ord)
                    FROM unnest(v_order[v_i:v_i + v_n - 1]) WITH ORDINALITY o(seq, ord)
                    JOIN et_events e ON e.seq = o.seq)) b;
        v_i := v_i + v_n;
    END LOOP;
    INSERT INTO et_out
    SELECT f.key, f.session_start, f.event_count, f.end_reason, f.events
      FROM sessionize.flush(p_stream) f;
    RETURN QUERY
    SELECT o.key::text, o.session_start, (SELECT max((e->>'ts')::timestamptz)
                                          FROM jsonb_array_elements(o.events) e),
           o.event_count, o.end_reason,
           (SELECT jsonb_agg((e->>'seq')::int ORDER BY (e->>'ts')::timestamptz, (e->>'seq')::int)
              FROM jsonb_array_elements(o.events) e)
      FROM et_out o;
END
$$;
DROP TABLE et_sink;
CREATE TABLE et_sink (key text, session_start timestamptz, event_count int, end_reason text,
                      events jsonb);
SELECT sessionize.create_stream(s, gap => '10 minutes', lateness => '40 minutes',
                                mode => 'event_time')
  FROM unnest(ARRAY['et_one', 'et_two', 'et_far']) s;
CREATE TABLE et_one AS SELECT * FROM et_run('et_one', '30 minutes', 0.1);
CREATE TABLE et_two AS SELECT * FROM et_run('et_two', '30 minutes', 0.2);
CREATE TABLE et_agg AS
SELECT g.id AS key, s.session_start, s.session_end, s.event_count, s.end_reason,
       (SELECT jsonb_agg((e->>'seq')::int ORDER BY (e->>'ts')::timestamptz, (e->>'seq')::int)
          FROM jsonb_array_elements(s.events) e) AS seqs
  FROM (SELECT id, sessionize.sessions(ts, last, jsonb_build_object('seq', seq, 'ts', ts),
                                       '10 minutes' ORDER BY ts, seq) AS ss
          FROM et_events GROUP BY id) g, unnest(g.ss) s;
-- the two arrival orders differ, each far from ts order, and no event was late
SELECT et_order('30 minutes', 0.1) <> et_order('30 minutes', 0.2) AS orders_differ,
       (SELECT count(*) FROM unnest(et_order('30 minutes', 0.1)) WITH ORDINALITY o(seq, pos)
         WHERE o.seq <> o.pos) > 1000 AS out_of_ts_order;
SELECT (SELECT count(*) FROM et_events) AS events,
       (SELECT late_events FROM sessionize.stats WHERE stream = 'et_one') AS late_one,
       (SELECT late_events FROM sessionize.stats WHERE stream = 'et_two') AS late_two,
       (SELECT count(*) FROM et_agg) AS sessions;
SELECT count(*) AS differences FROM (
    (SELECT key, session_start, session_end, event_count, end_reason, seqs FROM et_one
     EXCEPT ALL SELECT key, session_start, session_end, event_count, end_reason, seqs FROM et_two)
    UNION ALL
    (SELECT key, session_start, session_end, event_count, end_reason, seqs FROM et_two
     EXCEPT ALL SELECT key, session_start, session_end, event_count, end_reason, seqs FROM et_one)) d;
SELECT count(*) AS differences_from_aggregate FROM (
    (SELECT key, session_start, session_end, event_count, seqs FROM et_one
     EXCEPT ALL SELECT key, session_start, session_end, event_count, seqs FROM et_agg)
    UNION ALL
    (SELECT key, session_start, session_end, event_count, seqs FROM et_agg
     EXCEPT ALL SELECT key, session_start, session_end, event_count, seqs FROM et_one)) d;
-- end reasons: the same but where the aggregate says flush
SELECT a.end_reason AS aggregate, o.end_reason AS stream, count(*)
  FROM et_agg a JOIN et_one o USING (key, session_start)
 WHERE a.end_reason <> o.end_reason GROUP BY 1, 2;
-- Disorder of up to 3 hours, beyond lateness: every event exactly once;
-- the late ones alone, as late, and counted.
CREATE TABLE et_far AS SELECT * FROM et_run('et_far', '3 hours', 0.3);
SELECT (SELECT count(*) FROM et_far, jsonb_array_elements(seqs) s) AS events_out,
       (SELECT count(DISTINCT s::int) FROM et_far, jsonb_array_elements(seqs) s) AS distinct_out,
       (SELECT count(*) FROM et_far WHERE end_reason = 'late') AS late_rows,
       (SELECT late_events FROM sessionize.stats WHERE stream = 'et_far') AS late_counted,
       (SELECT count(*) FROM et_far WHERE end_reason = 'late' AND event_count <> 1) AS late_not_alone;
SELECT sessionize.drop_stream(s) FROM unnest(ARRAY['et_one', 'et_two', 'et_far']) s;

-- Long sessions: the events of a first session the clock has passed move
-- to chunks, and come back whole, in order (open_sessions, flush), also
-- after a new gap re-cut them.  600 events 10 s apart, in batches of 50,
-- each batch in reverse order.
SELECT sessionize.create_stream('et_long', gap => '10 minutes', lateness => '5 minutes',
                                mode => 'event_time');
DO $$
BEGIN
    FOR b IN 0 .. 11 LOOP
        PERFORM count(*) FROM sessionize.sessionize_batch('et_long',
            (SELECT jsonb_agg(jsonb_build_object('id', 'L', 'n', i,
                                                 'ts', timestamptz '2026-01-01 10:00Z'
                                                       + i * interval '10 seconds') ORDER BY i DESC)
               FROM generate_series(b * 50, b * 50 + 49) i));
    END LOOP;
END
$$;
SELECT format('sessionize.%I', state_table || '_chunks') AS chunks
  FROM sessionize.streams WHERE name = 'et_long' \gset
SELECT count(*) > 0 AS has_chunks, sum(jsonb_array_length(events)) > 300 AS most_in_chunks
  FROM :chunks;
SELECT key, event_count, jsonb_path_query_array(events, '$[*].n') = to_jsonb(ARRAY(SELECT generate_series(0, 599)))
       AS all_in_order
  FROM sessionize.open_sessions('et_long');
SELECT late_events, sessions_open FROM sessionize.stats WHERE stream = 'et_long';
SELECT sessionize.alter_stream('et_long', 'gap', '5 seconds');
SELECT count(*) AS open_sessions, count(*) FILTER (WHERE event_count = 1) AS of_one_event,
       (SELECT count(*) FROM :chunks) AS chunks_left
  FROM sessionize.open_sessions('et_long');
SELECT sessions_open FROM sessionize.stats WHERE stream = 'et_long';
SELECT sessionize.alter_stream('et_long', 'gap', '10 minutes');
SELECT sessions_open FROM sessionize.stats WHERE stream = 'et_long';
SELECT key, event_count, end_reason,
       jsonb_path_query_array(events, '$[*].n') = to_jsonb(ARRAY(SELECT generate_series(0, 599)))
       AS all_in_order
  FROM sessionize.flush('et_long');
SELECT count(*) AS chunks_left FROM :chunks;
SELECT sessionize.drop_stream('et_long');

-- The clock set back (alter_stream watermark) lets older events in again:
-- an event an hour before a long session partly in chunks is a session of
-- its own, not part of that one.
SELECT sessionize.create_stream('et_back', gap => '10 minutes', lateness => '5 minutes',
                                mode => 'event_time');
SELECT count(*) FROM sessionize.sessionize_batch('et_back',
    (SELECT jsonb_agg(jsonb_build_object('id', 'L', 'n', i,
                                         'ts', timestamptz '2026-01-01 10:00Z' + i * interval '10 seconds')
                      ORDER BY i)
       FROM generate_series(1, 600) i));
SELECT format('sessionize.%I', state_table || '_chunks') AS chunks
  FROM sessionize.streams WHERE name = 'et_back' \gset
SELECT count(*) > 0 AS has_chunks FROM :chunks;
SELECT sessionize.alter_stream('et_back', 'watermark', '2026-01-01 08:00Z');
SELECT * FROM feed('et_back', '[{"id": "L", "n": 0, "ts": "2026-01-01T09:00:00Z"}]');
SELECT key, first_ts, last_ts, n FROM et_open('et_back');
SELECT sessionize.drop_stream('et_back');
