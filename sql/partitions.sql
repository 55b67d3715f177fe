-- partitions: a stream of N partitions is N independent sessionizers
-- under one name, one sink and one stats row (SPEC 7).  Each partition has
-- its own open sessions, clock and offsets; the client routes keys.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';

-- 1 to 1024 partitions, and they cannot change.
SELECT label, try(sql) FROM (VALUES
  ('zero',      $$SELECT sessionize.create_stream('x', partitions => 0)$$),
  ('too many',  $$SELECT sessionize.create_stream('x', partitions => 1025)$$),
  ('NULL',      $$SELECT sessionize.create_stream('x', partitions => NULL)$$)
) AS t(label, sql);
SELECT sessionize.create_stream('widest', partitions => 1024);
SELECT count(*), min("partition"), max("partition") FROM sessionize.partition_stats
 WHERE stream = 'widest';
SELECT sessionize.drop_stream('widest');
SELECT count(*) AS partition_rows_left FROM sessionize.partitions p
 WHERE NOT EXISTS (SELECT 1 FROM sessionize.streams s WHERE s.stream_id = p.stream_id);

-- A stream of three partitions, and three streams of one, alike otherwise.
CREATE TABLE part_sink (key text, session_start timestamptz, session_end timestamptz,
                        event_count int, end_reason text, events jsonb);
CREATE TABLE sep_sink (LIKE part_sink);
SELECT sessionize.create_stream('p', gap => '1 hour', max_events => 6,
                                sink => 'part_sink', partitions => 3);
SELECT sessionize.create_stream('p' || i, gap => '1 hour', max_events => 6,
                                sink => 'sep_sink')
  FROM generate_series(0, 2) i;

-- Wrong partitions are refused, naming the range; so is changing them.
SELECT label, try(sql) FROM (VALUES
  ('partition 3',     $$SELECT sessionize.sessionize_batch('p', '[]', "partition" => 3)$$),
  ('partition -1',    $$SELECT sessionize.sessionize_batch('p', '[]', "partition" => -1)$$),
  ('partition NULL',  $$SELECT sessionize.sessionize_batch('p', '[]', "partition" => NULL)$$),
  ('typed, 3',        $$SELECT sessionize.sessionize_batch('p', '{}'::text[], '{}', NULL, '{}', "partition" => 3)$$),
  ('query, 7',        $$SELECT sessionize.sessionize_query('p', 'SELECT 1 AS id, now() AS ts', "partition" => 7)$$),
  ('expire, 3',       $$SELECT sessionize.expire('p', now(), 3)$$),
  ('flush, 3',        $$SELECT sessionize.flush('p', 3)$$),
  ('one partition, 1', $$SELECT sessionize.sessionize_batch('p0', '[]', "partition" => 1)$$),
  ('alter partitions', $$SELECT sessionize.alter_stream('p', 'partitions', '4')$$)
) AS t(label, sql);
SELECT sessionize.sessionize_batch('p', '[]', "partition" => 3);
SELECT sessionize.sessionize_batch('p0', '[]', "partition" => 1);

-- The client routes keys: a key fed to two partitions has a session in
-- each, and each partition ends its own.
SELECT sessionize.create_stream('two', partitions => 2);
SELECT count(*) FROM sessionize.sessionize_batch('two', '[{"id": "a", "n": 1, "ts": "2026-01-01T10:00:00Z"}]', "partition" => 0);
SELECT count(*) FROM sessionize.sessionize_batch('two', '[{"id": "a", "n": 2, "ts": "2026-01-01T10:01:00Z"}]', "partition" => 1);
SELECT key, "partition", event_count FROM sessionize.open_sessions('two') ORDER BY 2;
SELECT key, event_count, end_reason FROM sessionize.sessionize_batch('two',
    '[{"id": "a", "n": 3, "ts": "2026-01-01T10:02:00Z", "isLast": true}]', "partition" => 0);
SELECT key, "partition", event_count FROM sessionize.open_sessions('two') ORDER BY 2;
SELECT sessionize.drop_stream('two');

-- 600 events of 30 keys; a key goes to partition key % 3, except key 30,
-- whose events go to each partition in turn.  Each partition's events come
-- in batches of 15, with that partition's source and offsets.
CREATE TABLE part_events AS
SELECT i, k AS key, CASE WHEN k = 30 THEN (i / 30) % 3 ELSE k % 3 END AS part,
       jsonb_build_object('id', k, 'n', i, 'isLast', i % 41 = 0,
                          'ts', timestamptz '2026-01-01 10:00' + i * interval '37 seconds'
                                + (i / 100) * interval '30 minutes') AS event
  FROM generate_series(1, 600) i, LATERAL (SELECT 1 + (i * 7) % 30 AS k) k;
CREATE FUNCTION feed_both()
RETURNS TABLE (part int, batches bigint, returned bigint, returned_separately bigint)
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    CREATE TEMP TABLE fed (part int, b bigint, n bigint, m bigint);
    FOR r IN WITH cut AS (
                 SELECT e.part, (row_number() OVER (PARTITION BY e.part ORDER BY e.i) - 1) / 15 + 1 AS b,
                        e.i, e.event
                   FROM part_events e)
             SELECT c.part, c.b, jsonb_agg(c.event ORDER BY c.i) AS events
               FROM cut c GROUP BY c.part, c.b ORDER BY min(c.i) LOOP
        INSERT INTO fed VALUES (r.part, r.b,
            (SELECT count(*) FROM sessionize.sessionize_batch('p', r.events, 'topic-' || r.part,
                                                              r.b, r.part)),
            (SELECT count(*) FROM sessionize.sessionize_batch('p' || r.part, r.events,
                                                              'topic-' || r.part, r.b)));
    END LOOP;
    RETURN QUERY SELECT f.part, count(*), sum(f.n)::bigint, sum(f.m)::bigint FROM fed f GROUP BY 1 ORDER BY 1;
    DROP TABLE fed;
END
$$;
SELECT * FROM feed_both();

-- Each partition has its own clock and counters; stats sums them, its
-- watermark being the oldest partition's.
SELECT "partition", events_in, batches, sessions_open, sessions_closed, watermark, offsets
  FROM sessionize.partition_stats WHERE stream = 'p' ORDER BY 1;
SELECT stream, events_in, batches, sessions_open, sessions_closed, watermark, offsets
  FROM sessionize.stats WHERE stream IN ('p', 'p0', 'p1', 'p2') ORDER BY 1;

-- The open sessions show their partition.
SELECT "partition", count(*), sum(event_count) FROM sessionize.open_sessions('p')
 GROUP BY 1 ORDER BY 1;
-- One key's, by a probe of the key: key 30 went to each partition in turn.
SELECT key, "partition", event_count FROM sessionize.open_sessions('p', '30');
SELECT count(*) FROM sessionize.open_sessions('p', '999');

-- A source belongs to the partition that first committed an offset for it.
SELECT try($$SELECT sessionize.sessionize_batch('p', '[]', 'topic-0', 100, 1)$$);
SELECT sessionize.sessionize_batch('p', '[]', 'topic-0', 100, 1);
SELECT sessionize.committed_offset('p', 'topic-0');
-- A replay on its own partition is skipped as ever.
SELECT count(*) FROM sessionize.sessionize_batch('p', '[]', 'topic-0', 3, 0);

-- expire() of one partition moves that partition's clock only.
SELECT count(*) AS expired FROM sessionize.expire('p', '2026-01-01 21:00', 1);
SELECT count(*) AS expired FROM sessionize.expire('p1', '2026-01-01 21:00');
SELECT "partition", watermark, sessions_open FROM sessionize.partition_stats
 WHERE stream = 'p' ORDER BY 1;

-- oldest_open_session: the earliest start of an open session, per
-- partition and for the stream (the earliest of its partitions), compared
-- with open_sessions; NULL for a partition with none.
SELECT ps."partition", ps.oldest_open_session,
       ps.oldest_open_session IS NOT DISTINCT FROM
         (SELECT min(session_start) FROM sessionize.open_sessions('p') o
           WHERE o."partition" = ps."partition") AS agrees
  FROM sessionize.partition_stats ps WHERE stream = 'p' ORDER BY 1;
SELECT oldest_open_session,
       oldest_open_session = (SELECT min(session_start) FROM sessionize.open_sessions('p'))
         AS agrees
  FROM sessionize.stats WHERE stream = 'p';

-- flush() of one partition, then of all (NULL, the default).
SELECT count(*) AS flushed FROM sessionize.flush('p', 2);
SELECT count(*) AS flushed FROM sessionize.flush('p2');
SELECT count(*) AS flushed FROM sessionize.flush('p');
SELECT count(*) AS flushed FROM sessionize.flush('p0');
SELECT count(*) AS flushed FROM sessionize.flush('p1');
SELECT count(*) AS still_open FROM sessionize.open_sessions('p');
SELECT oldest_open_session FROM sessionize.stats WHERE stream = 'p';

-- The partitioned stream's sink holds exactly the sessions of the three
-- separate streams.
SELECT (SELECT count(*) FROM part_sink) AS partitioned, (SELECT count(*) FROM sep_sink) AS separate,
       (SELECT count(*) FROM (
          (SELECT key, session_start, session_end, event_count, end_reason, events FROM part_sink
           EXCEPT ALL
           SELECT key, session_start, session_end, event_count, end_reason, events FROM sep_sink)
          UNION ALL
          (SELECT key, session_start, session_end, event_count, end_reason, events FROM sep_sink
           EXCEPT ALL
           SELECT key, session_start, session_end, event_count, end_reason, events FROM part_sink)) d)
       AS differences;
SELECT end_reason, count(*) FROM part_sink GROUP BY 1 ORDER BY 1;

SELECT sessionize.drop_stream(s) FROM unnest(ARRAY['p', 'p0', 'p1', 'p2']) s;
DROP TABLE part_sink, sep_sink, part_events;
DROP FUNCTION feed_both();
