-- A clock per source: a partition fed by several sources (Kafka partitions
-- 0 and 2 feeding stream partition 0) has the clock of its slowest active
-- source, so one source ahead of another cannot time out the other's
-- sessions before their events came; a source silent for source_idle stops
-- holding the clock back.
SET TimeZone = 'UTC';

-- The sessions a sink holds, one line each.
CREATE TABLE src_sink (key text, session_start timestamptz, session_end timestamptz,
                       event_count int, end_reason text, events jsonb);
CREATE FUNCTION sunk() RETURNS TABLE (key text, first_ts time, last_ts time, n int, reason text)
LANGUAGE sql AS $$
    SELECT key, (session_start AT TIME ZONE 'UTC')::time, (session_end AT TIME ZONE 'UTC')::time,
           event_count, end_reason
      FROM src_sink ORDER BY key, session_start
$$;
CREATE FUNCTION clock(stream text) RETURNS time LANGUAGE sql AS $$
    SELECT (watermark AT TIME ZONE 'UTC')::time FROM sessionize.stats WHERE stats.stream = clock.stream
$$;

-- Two sources, gap 10 minutes.  Source k0 is ahead: its 10:30 does not
-- time out k1's session of 10:00, whose next event (10:05) is still to
-- come.  The clock is k1's newest, 10:00.
SELECT sessionize.create_stream('two', gap => '10 minutes', sink => 'src_sink', max_future => NULL);
SELECT count(*) FROM sessionize.sessionize_batch('two',
    '[{"id": "a", "ts": "2026-01-01T10:00:00Z"}]', 'k1', 1);
SELECT count(*) FROM sessionize.sessionize_batch('two',
    '[{"id": "b", "ts": "2026-01-01T10:00:00Z"}, {"id": "b", "ts": "2026-01-01T10:30:00Z"}]', 'k0', 2);
SELECT clock('two');
SELECT count(*) FROM sessionize.sessionize_batch('two',
    '[{"id": "a", "ts": "2026-01-01T10:05:00Z"}]', 'k1', 2);
-- Now k1 is at 10:05: the clock too, and nothing is late.
SELECT clock('two'), late_events FROM sessionize.stats WHERE stream = 'two';
SELECT * FROM sunk();
-- k1 reaches 10:40: the clock is k0's 10:30, which times out b's first
-- session and a's (last event 10:05).
SELECT count(*) FROM sessionize.sessionize_batch('two',
    '[{"id": "c", "ts": "2026-01-01T10:40:00Z"}]', 'k1', 3);
SELECT clock('two');
SELECT * FROM sunk();

-- Each source's clock in the sources view.
SELECT source, "partition", committed_offset, newest_ts, idle
  FROM sessionize.sources WHERE stream = 'two' ORDER BY source;

-- A source that has sent nothing for source_idle no longer holds the
-- clock back (here k0's last batch is made an hour old): k1's next batch
-- moves the clock to its own 10:50.
UPDATE sessionize.offsets SET committed_at = committed_at - interval '1 hour'
 WHERE source = 'k0';
SELECT source, idle FROM sessionize.sources WHERE stream = 'two' ORDER BY source;
SELECT count(*) FROM sessionize.sessionize_batch('two',
    '[{"id": "c", "ts": "2026-01-01T10:50:00Z"}]', 'k1', 4);
SELECT clock('two');
-- When it sends again it holds the clock once more (the clock never goes
-- back: its events older than the clock are late).
SELECT count(*) FROM sessionize.sessionize_batch('two',
    '[{"id": "b", "ts": "2026-01-01T10:45:00Z"}]', 'k0', 3);
SELECT count(*) FROM sessionize.sessionize_batch('two',
    '[{"id": "c", "ts": "2026-01-01T11:20:00Z"}]', 'k1', 5);
SELECT clock('two'), late_events FROM sessionize.stats WHERE stream = 'two';

-- source_idle NULL: a source never goes idle.
SELECT sessionize.alter_stream('two', 'source_idle', NULL);
SELECT source, idle FROM sessionize.sources WHERE stream = 'two' ORDER BY source;
SELECT source_idle FROM sessionize.streams WHERE name = 'two';

-- Setting the clock forgets what each source sent: each active source
-- holds it where it was set until it sends again.
SELECT sessionize.alter_stream('two', 'watermark', '2026-01-01T11:00:00Z');
SELECT source, newest_ts FROM sessionize.sources WHERE stream = 'two' ORDER BY source;
SELECT count(*) FROM sessionize.sessionize_batch('two',
    '[{"id": "d", "ts": "2026-01-01T11:30:00Z"}]', 'k1', 6);
SELECT clock('two');
SELECT count(*) FROM sessionize.sessionize_batch('two',
    '[{"id": "d", "ts": "2026-01-01T11:25:00Z"}]', 'k0', 4);
SELECT clock('two');
SELECT sessionize.drop_stream('two');
TRUNCATE src_sink;

-- A source registered with set_offset, before its first batch, holds the
-- clock where it is: the other source's batches do not move it.
SELECT sessionize.create_stream('reg', gap => '10 minutes', sink => 'src_sink', max_future => NULL);
SELECT sessionize.set_offset('reg', 'late-starter', 0);
SELECT count(*) FROM sessionize.sessionize_batch('reg',
    '[{"id": "a", "ts": "2026-01-01T10:00:00Z"}, {"id": "a", "ts": "2026-01-01T12:00:00Z"}]',
    'early', 1);
SELECT clock('reg');
SELECT count(*) FROM sessionize.sessionize_batch('reg',
    '[{"id": "b", "ts": "2026-01-01T09:00:00Z"}]', 'late-starter', 1);
SELECT clock('reg'), late_events FROM sessionize.stats WHERE stream = 'reg';
SELECT * FROM sunk();
SELECT sessionize.drop_stream('reg');
TRUNCATE src_sink;

-- Calls without a source are one source of their own: alone, the clock is
-- their newest ts as it always was; beside a named source, the slower one.
SELECT sessionize.create_stream('anon', gap => '10 minutes', sink => 'src_sink', max_future => NULL);
SELECT count(*) FROM sessionize.sessionize_batch('anon',
    '[{"id": "a", "ts": "2026-01-01T10:00:00Z"}]');
SELECT count(*) FROM sessionize.sessionize_batch('anon',
    '[{"id": "a", "ts": "2026-01-01T10:20:00Z"}]');
SELECT clock('anon');
SELECT count(*) FROM sessionize.sessionize_batch('anon',
    '[{"id": "b", "ts": "2026-01-01T11:00:00Z"}]', 'named', 1);
SELECT clock('anon');
SELECT count(*) FROM sessionize.sessionize_batch('anon',
    '[{"id": "a", "ts": "2026-01-01T10:25:00Z"}]');
SELECT clock('anon');
SELECT source, "partition", newest_ts, idle FROM sessionize.sources WHERE stream = 'anon'
 ORDER BY source NULLS FIRST;
-- expire() still moves the clock where it is told, whatever the sources.
SELECT key, end_reason FROM sessionize.expire('anon', '2026-01-01T12:00:00Z');
SELECT sessionize.drop_stream('anon');
TRUNCATE src_sink;

-- source_idle is checked like any duration.
SELECT sessionize.create_stream('bad', source_idle => '0');
SELECT sessionize.create_stream('bad', source_idle => '-1 minute');
SELECT sessionize.create_stream('idle', source_idle => '30 seconds');
SELECT sessionize.alter_stream('idle', 'source_idle', '0');
SELECT sessionize.alter_stream('idle', 'source_idle', '2 minutes');
SELECT source_idle FROM sessionize.streams WHERE name = 'idle';
SELECT sessionize.drop_stream('idle');

-- One answer, whoever feeds it.  The same 2,400 events of 60 keys (one
-- every 11 minutes or so, give or take 8; a 40-minute pause after every
-- 400 events; every 97th is last), each
-- key's events in ts order, split into 1, 2 and 3 sources (a key belongs
-- to one source, as a key belongs to one Kafka partition), each source's
-- events in ts order, are fed in different interleavings and batch cuts:
-- round robin, one source far ahead of the others, random.  Every way
-- gives the same sessions as the events fed in order by one source, in
-- arrival and in event-time mode.  The streams have lateness 0; the sink
-- gets every session once the clock is moved past the last event.
CREATE TABLE src_events AS
SELECT i, 'k' || (i * 7 % 60) AS key,
       timestamptz '2026-01-01 10:00' + i * interval '11 seconds'
         + (i % 5) * interval '1 minute' * (i % 3) + i / 400 * interval '40 minutes' AS ts,
       i % 97 = 0 AS is_last
  FROM generate_series(1, 2400) i;
CREATE TABLE src_sessions (mode text, split int, feeding text, key text,
                           session_start timestamptz, session_end timestamptz,
                           event_count int, end_reason text, events jsonb);

-- feed_split(mode, nsources, how): feed every event through nsources
-- sources (source of a key: its number mod nsources), each source's events
-- in (ts, i) order cut into batches of a size drawn per batch; "how" picks
-- the source of the next batch: 'round' in turn, 'ahead' source 0 sends
-- half its events before the others begin, 'random' at random.  The
-- sources are registered first (set_offset), as a consumer that knows its
-- topic's partitions does: a source not yet known cannot hold the clock.
CREATE FUNCTION feed_split(p_mode text, nsources int, how text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    stream text := format('split_%s_%s_%s', p_mode, nsources, how);
    pos int[] := array_fill(0, ARRAY[nsources]);
    len int[];
    ready jsonb;
    batch jsonb;
    s int;
    n int;
    turn int := 0;
BEGIN
    PERFORM setseed(0.25 + nsources / 10.0);
    PERFORM sessionize.create_stream(stream, gap => '15 minutes', max_future => NULL,
                                     mode => p_mode, sink => 'src_sink');
    FOR s IN 0 .. nsources - 1 LOOP
        PERFORM sessionize.set_offset(stream, 'src-' || s, 0);
    END LOOP;
    SELECT array_agg(c ORDER BY src) INTO len
      FROM (SELECT substr(key, 2)::int % nsources AS src, count(*)::int AS c
              FROM src_events GROUP BY 1) x;
    LOOP
        -- the next source to send a batch
        SELECT jsonb_agg(g - 1) INTO ready
          FROM generate_series(1, nsources) g WHERE pos[g] < len[g];
        EXIT WHEN ready IS NULL;
        IF how = 'round' THEN
            s := (SELECT min(v::int) FROM jsonb_array_elements_text(ready) v
                   WHERE v::int >= turn % nsources);
            s := coalesce(s, (ready->>0)::int);
            turn := s + 1;
        ELSIF how = 'ahead' AND pos[1] < len[1] / 2 THEN
            s := 0;
        ELSE
            s := (ready->>(floor(random() * jsonb_array_length(ready)))::int)::int;
        END IF;
        n := 1 + floor(random() * 60)::int;
        SELECT jsonb_agg(jsonb_build_object('id', key, 'ts', ts, 'isLast', is_last, 'i', i)
                         ORDER BY ts, i)
          INTO batch
          FROM (SELECT * FROM src_events
                 WHERE substr(key, 2)::int % nsources = s
                 ORDER BY ts, i OFFSET pos[s + 1] LIMIT n) b;
        PERFORM count(*) FROM sessionize.sessionize_batch(stream, batch, 'src-' || s,
                                                          pos[s + 1] + n);
        pos[s + 1] := pos[s + 1] + n;
    END LOOP;
    PERFORM count(*) FROM sessionize.expire(stream, '2026-01-02');
    INSERT INTO src_sessions
    SELECT p_mode, nsources, how, key, session_start, session_end, event_count,
           end_reason, events FROM src_sink;
    TRUNCATE src_sink;
    PERFORM sessionize.drop_stream(stream);
END $$;

SELECT count(feed_split(m, n, h)) AS feedings
  FROM (VALUES ('arrival'), ('event_time')) AS m(m),
       (VALUES (1, 'round'), (2, 'round'), (2, 'ahead'), (2, 'random'),
               (3, 'round'), (3, 'ahead'), (3, 'random')) AS f(n, h);

-- Sessions per feeding: the same count, no late event, and no session
-- that differs from the one-source feeding of its mode; how they ended.
SELECT mode, split, feeding, count(*) AS sessions, sum(event_count) AS events,
       count(*) FILTER (WHERE end_reason = 'gap') AS gap,
       count(*) FILTER (WHERE end_reason = 'last') AS last,
       count(*) FILTER (WHERE end_reason = 'late') AS late,
       (SELECT count(*) FROM (
            (SELECT key, session_start, session_end, event_count, end_reason, events
               FROM src_sessions o WHERE o.mode = x.mode AND o.split = x.split
                                     AND o.feeding = x.feeding
             EXCEPT
             SELECT key, session_start, session_end, event_count, end_reason, events
               FROM src_sessions o WHERE o.mode = x.mode AND o.split = 1)
            UNION ALL
            (SELECT key, session_start, session_end, event_count, end_reason, events
               FROM src_sessions o WHERE o.mode = x.mode AND o.split = 1
             EXCEPT
             SELECT key, session_start, session_end, event_count, end_reason, events
               FROM src_sessions o WHERE o.mode = x.mode AND o.split = x.split
                                     AND o.feeding = x.feeding)) d) AS differ
  FROM src_sessions x
 GROUP BY mode, split, feeding
 ORDER BY mode, split, feeding;
-- And the two modes agree with each other here (no event is late).
SELECT count(*) AS differ FROM (
    SELECT key, session_start, session_end, event_count, end_reason, events
      FROM src_sessions WHERE mode = 'arrival' AND split = 1
    EXCEPT
    SELECT key, session_start, session_end, event_count, end_reason, events
      FROM src_sessions WHERE mode = 'event_time' AND split = 1) d;

-- In event-time mode a key may even be split over sources (registered
-- first): its events merge in ts order whichever source sent them.
CREATE FUNCTION feed_by_event(nsources int) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    stream text := 'byevent_' || nsources;
    s int;
BEGIN
    PERFORM sessionize.create_stream(stream, gap => '15 minutes', max_future => NULL,
                                     mode => 'event_time', sink => 'src_sink');
    FOR s IN 0 .. nsources - 1 LOOP
        PERFORM sessionize.set_offset(stream, 'e-' || s, 0);
    END LOOP;
    FOR s IN SELECT DISTINCT b FROM (SELECT (row_number() OVER (PARTITION BY i % nsources
                                                                ORDER BY ts, i) - 1) / 50 AS b
                                       FROM src_events) x ORDER BY b LOOP
        PERFORM count(*)
           FROM generate_series(0, nsources - 1) src,
                LATERAL (SELECT jsonb_agg(jsonb_build_object('id', key, 'ts', ts,
                                                             'isLast', is_last, 'i', i)
                                          ORDER BY ts, i) AS events
                           FROM (SELECT e.*, (row_number() OVER (ORDER BY ts, i) - 1) / 50 AS b
                                   FROM src_events e WHERE i % nsources = src) y
                          WHERE y.b = s) batch,
                LATERAL sessionize.sessionize_batch(stream, coalesce(batch.events, '[]'),
                                                    'e-' || src, s + 1) r;
    END LOOP;
    PERFORM count(*) FROM sessionize.expire(stream, '2026-01-02');
    INSERT INTO src_sessions
    SELECT 'event_time', nsources, 'by event', key, session_start, session_end, event_count,
           end_reason, events FROM src_sink;
    TRUNCATE src_sink;
    PERFORM sessionize.drop_stream(stream);
END $$;
SELECT feed_by_event(3);
SELECT count(*) AS sessions,
       count(*) FILTER (WHERE end_reason = 'late') AS late,
       (SELECT count(*) FROM (
            SELECT key, session_start, session_end, event_count, end_reason, events
              FROM src_sessions WHERE feeding = 'by event'
            EXCEPT
            SELECT key, session_start, session_end, event_count, end_reason, events
              FROM src_sessions WHERE mode = 'event_time' AND split = 1) d) AS differ
  FROM src_sessions WHERE feeding = 'by event';

DROP FUNCTION feed_split(text, int, text), feed_by_event(int), sunk(), clock(text);
DROP TABLE src_events, src_sessions, src_sink;
