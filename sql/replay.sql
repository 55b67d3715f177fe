-- replay: one generated stream (3,000 events of 40 users, a fixed seed)
-- fed whole, in batches of 7, and in batches of random sizes gives the
-- same sessions all three times, and after flush() every event comes
-- back exactly once.  The stream is in ts order, so no event is late:
-- then, by SPEC section 4, the result must not depend on the cuts.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';

-- Per user, 75 events with pauses drawn from a mix that includes exactly
-- the gap (30 min), just under and over it, and long ones; about 3% of
-- events (never a user's last, so that flush() finds sessions) are isLast.
-- Merged in ts order.
SELECT setseed(0.4242);
CREATE TABLE gen AS
WITH raw AS (
    SELECT k, i,
           (ARRAY[30, 30, 30, 30, 60, 60, 60, 60, 120, 120, 120, 300, 300, 600, 600,
                  1799, 1799, 1800, 1801, 5400])
               [1 + floor(random() * 20)::int] AS pause,
           random() < 0.03 AND i < 75 AS last
      FROM generate_series(1, 40) k, generate_series(1, 75) i
)
SELECT k, i, last,
       timestamptz '2026-01-01 00:00:00+00'
         + sum(pause) OVER (PARTITION BY k ORDER BY i) * interval '1 second' AS ts
  FROM raw;
CREATE TABLE gen_events AS
SELECT row_number() OVER (ORDER BY ts, k, i) AS seq,
       jsonb_build_object('id', 'u' || k, 'seq', row_number() OVER (ORDER BY ts, k, i),
                          'ts', ts, 'isLast', last, 'data', 'event ' || i) AS ev
  FROM gen;
SELECT count(*) AS events, count(DISTINCT ev->>'id') AS users,
       count(*) FILTER (WHERE (ev->>'isLast')::boolean) AS last_events
  FROM gen_events;

-- feed_cut: feed the generated stream in batches of the given sizes (in
-- turn), each with its offset; returns the number of batches.
CREATE FUNCTION feed_cut(stream text, sizes int[]) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    pos   int := 0;
    b     int := 0;
    total int := (SELECT count(*) FROM gen_events);
    size  int;
BEGIN
    WHILE pos < total LOOP
        b := b + 1;
        size := sizes[1 + (b - 1) % array_length(sizes, 1)];
        PERFORM sessionize.sessionize_batch(stream,
            (SELECT jsonb_agg(ev ORDER BY seq) FROM gen_events
              WHERE seq > pos AND seq <= pos + size), 'gen', b);
        pos := pos + size;
    END LOOP;
    RETURN b;
END
$$;

CREATE TABLE sink_whole (key text, session_start timestamptz, session_end timestamptz,
                         event_count integer, end_reason text, events jsonb);
CREATE TABLE sink_seven (LIKE sink_whole);
CREATE TABLE sink_random (LIKE sink_whole);
SELECT sessionize.create_stream(s, gap => '30 minutes', max_duration => '1 hour',
                                max_events => 20, sink => ('sink_' || s)::regclass)
  FROM unnest(ARRAY['whole', 'seven', 'random']) s;

SELECT setseed(0.17);
SELECT feed_cut('whole', ARRAY[3000]) AS batches_whole,
       feed_cut('seven', ARRAY[7]) AS batches_seven,
       feed_cut('random', (SELECT array_agg(1 + floor(random() * 300)::int)
                             FROM generate_series(1, 50))) AS batches_random;
SELECT count(*) FROM sessionize.flush('whole');
SELECT count(*) FROM sessionize.flush('seven');
SELECT count(*) FROM sessionize.flush('random');

-- The three sinks hold the same sessions: none differs either way.
SELECT 'seven' AS cut, count(*) AS differences
  FROM ((TABLE sink_whole EXCEPT ALL TABLE sink_seven)
        UNION ALL (TABLE sink_seven EXCEPT ALL TABLE sink_whole)) d
UNION ALL
SELECT 'random', count(*)
  FROM ((TABLE sink_whole EXCEPT ALL TABLE sink_random)
        UNION ALL (TABLE sink_random EXCEPT ALL TABLE sink_whole)) d;

-- Every rule had a say, and every event is in exactly one session.
SELECT end_reason, count(*) AS sessions, sum(event_count) AS events
  FROM sink_whole GROUP BY end_reason ORDER BY end_reason;
SELECT count(*) AS events_out, count(DISTINCT e->>'seq') AS distinct_events,
       bool_and(e->>'seq' IS NOT NULL) AS all_labelled
  FROM sink_random, jsonb_array_elements(events) e;
SELECT count(*) AS missing
  FROM gen_events g
 WHERE NOT EXISTS (SELECT 1 FROM sink_seven s, jsonb_array_elements(s.events) e
                    WHERE (e->>'seq')::bigint = g.seq);

-- Sessions obey the rules: at most 20 events, no pause of 30 minutes or
-- more inside one, and shorter than an hour.
SELECT max(event_count) AS max_events,
       max(session_end - session_start) AS longest,
       (SELECT max(p) FROM (
            SELECT (e->>'ts')::timestamptz
                   - lag((e->>'ts')::timestamptz) OVER (PARTITION BY s.key, s.session_start
                                                        ORDER BY (e->>'ts')::timestamptz) AS p
              FROM sink_whole s, jsonb_array_elements(s.events) e) x) AS longest_pause
  FROM sink_whole;

SELECT stream, events_in, late_events, sessions_open, sessions_closed, offsets
  FROM sessionize.stats WHERE stream IN ('whole', 'seven', 'random') ORDER BY stream;

-- The streaming result equals the batch result: sessionize.sessions(),
-- the aggregate, over each user's events with the same settings, gives
-- the same sessions as the stream fed in random cuts (sink_random) and
-- flushed, and the same end reasons but for one thing: a user's last
-- session, which the stream's clock may have closed (reason gap) when other
-- users' events moved it on, ends with reason flush in the aggregate, which
-- sees one user alone.
CREATE TABLE backfill AS
SELECT g.key, s.*
  FROM (SELECT ev->>'id' AS key,
               sessionize.sessions((ev->>'ts')::timestamptz, (ev->>'isLast')::boolean, ev,
                                   '30 minutes', '1 hour', 20 ORDER BY seq) AS ss
          FROM gen_events GROUP BY 1) g,
       unnest(g.ss) s;
CREATE TABLE streamed AS
SELECT key, session_start, session_end, event_count,
       CASE WHEN end_reason = 'gap' AND session_start = max(session_start) OVER (PARTITION BY key)
            THEN 'flush' ELSE end_reason END AS end_reason,
       events
  FROM sink_random;
SELECT (SELECT count(*) FROM backfill) AS sessions,
       (SELECT count(*) FROM ((TABLE backfill EXCEPT ALL TABLE streamed)
                              UNION ALL (TABLE streamed EXCEPT ALL TABLE backfill)) d) AS differences,
       (SELECT count(*) FROM sink_random s
         WHERE s.end_reason = 'gap'
           AND s.session_start = (SELECT max(session_start) FROM sink_random l WHERE l.key = s.key))
         AS last_sessions_closed_by_the_clock;
