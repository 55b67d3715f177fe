-- long: a long open session keeps its older events in chunks, written
-- once, instead of rewriting them all whenever its key is touched.  What
-- the stream returns does not change: every session comes out whole, in
-- ts order (ties in arrival order), however its events were chunked.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';

-- chunk_rows: the chunks of a stream, by key: how many, and their events.
CREATE FUNCTION chunk_rows(stream text)
RETURNS TABLE (key text, chunks bigint, events bigint)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY EXECUTE format(
        'SELECT key::text, count(*), sum(jsonb_array_length(events))::bigint
           FROM sessionize.%I GROUP BY key ORDER BY key',
        (SELECT state_table || '_chunks' FROM sessionize.streams WHERE name = stream));
END
$$;

-- row_events: what the state row itself holds, by key.  The row keeps
-- its events newest first in a bytea (see src/state.c), each an 8-byte ts,
-- a 4-byte length (little-endian on the machines this runs on) and the
-- payload, padded to 4 bytes: in_row counts them.
CREATE FUNCTION packed_count(b bytea) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    pos int := 0;
    n int := 0;
    len int;
BEGIN
    WHILE pos < length(b) LOOP
        len := get_byte(b, pos + 8) + 256 * get_byte(b, pos + 9)
               + 65536 * get_byte(b, pos + 10) + 16777216 * get_byte(b, pos + 11);
        pos := pos + 12 + (len + 3) / 4 * 4;
        n := n + 1;
    END LOOP;
    IF pos <> length(b) THEN
        RAISE EXCEPTION 'events column of % bytes ends mid-event', length(b);
    END IF;
    RETURN n;
END
$$;
CREATE FUNCTION row_events(stream text)
RETURNS TABLE (key text, event_count int, in_row int, chunks int)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY EXECUTE format(
        'SELECT key::text, event_count, packed_count(events), chunks
           FROM sessionize.%I ORDER BY key',
        (SELECT state_table FROM sessionize.streams WHERE name = stream));
END
$$;

-- ev: event n of key k at minute m after 10:00.
CREATE FUNCTION ev(k text, n int, m numeric, last boolean DEFAULT false) RETURNS jsonb
LANGUAGE sql AS $$
    SELECT jsonb_build_object('id', k, 'n', n, 'isLast', last,
                              'ts', to_char(timestamptz '2026-01-01 10:00:00+00'
                                            + m * interval '1 minute',
                                            'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
$$;

CREATE TABLE long_sink (key text, session_start timestamptz, session_end timestamptz,
                        event_count int, end_reason text, events jsonb);
SELECT sessionize.create_stream('long', gap => '30 minutes', sink => 'long_sink');

-- Each event here takes 96 bytes of a row (its payload, its ts and its
-- jsonb entry), so a row's events move to a chunk at 16 of them (1,520
-- bytes: the row stays under the 2 kB at which PostgreSQL compresses it).
-- Key a gets 10 events a batch, one a minute; b one.  After the second
-- batch a's row holds 20 events: they move to chunk 0, and the row starts
-- again with none; the third batch's 10 stay in the row.
SELECT count(*) FROM sessionize.sessionize_batch('long',
    (SELECT jsonb_agg(ev('a', n, n) ORDER BY n) FROM generate_series(1, 10) n)
    || jsonb_build_array(ev('b', 1, 0)));
SELECT count(*) FROM sessionize.sessionize_batch('long',
    (SELECT jsonb_agg(ev('a', n, n) ORDER BY n) FROM generate_series(11, 20) n));
SELECT * FROM row_events('long');
SELECT * FROM chunk_rows('long');
SELECT count(*) FROM sessionize.sessionize_batch('long',
    (SELECT jsonb_agg(ev('a', n, n) ORDER BY n) FROM generate_series(21, 30) n));
SELECT * FROM row_events('long');
SELECT * FROM chunk_rows('long');

-- open_sessions shows a's 30 events, chunks and row, in order.
SELECT key, event_count, session_start, session_end,
       jsonb_path_query_array(events, '$[*].n')
         = (SELECT jsonb_agg(n ORDER BY n) FROM generate_series(1, 30) n) AS all_in_order
  FROM sessionize.open_sessions('long') WHERE key = 'a';

-- Out of order: event 31 at minute 5.5 (inside chunk 0) and event 32 at
-- minute 15 (the ts of event 15, so after it: arrival order breaks ties).
SELECT count(*) FROM sessionize.sessionize_batch('long',
    jsonb_build_array(ev('a', 31, 5.5), ev('a', 32, 15)));
SELECT jsonb_path_query_array(events, '$[*].n') -> 4 AS at_5,
       jsonb_path_query_array(events, '$[*].n') -> 5 AS at_6,
       jsonb_path_query_array(events, '$[*].n') -> 15 AS at_16,
       jsonb_path_query_array(events, '$[*].n') -> 16 AS at_17
  FROM sessionize.open_sessions('long') WHERE key = 'a';

-- isLast ends a: the session comes out whole and in order, its chunks are
-- deleted, and the sink gets the same.
SELECT key, event_count, end_reason,
       jsonb_path_query_array(events, '$[*].n')
         = (SELECT jsonb_agg(n ORDER BY m, n)
              FROM (SELECT n, n::numeric AS m FROM generate_series(1, 30) n
                    UNION ALL VALUES (31, 5.5), (32, 15)
                    UNION ALL VALUES (33, 31)) e) AS all_in_order
  FROM sessionize.sessionize_batch('long', jsonb_build_array(ev('a', 33, 31, true)));
SELECT * FROM chunk_rows('long');
SELECT key, event_count, end_reason, jsonb_array_length(events) FROM long_sink;

-- The clock and expire() return chunked sessions whole too.  c gets 140
-- events in one batch (a chunk at once); d gets 10 in that batch and 10
-- in the next (a chunk then), whose clock closes c.
SELECT count(*) FROM sessionize.sessionize_batch('long',
    (SELECT jsonb_agg(ev('c', n, 220 + n) ORDER BY n) FROM generate_series(1, 140) n)
    || (SELECT jsonb_agg(ev('d', n, 220 + 14 * n) ORDER BY n) FROM generate_series(1, 10) n));
SELECT * FROM row_events('long');
SELECT key, event_count, end_reason,
       jsonb_path_query_array(events, '$[*].n')
         = (SELECT jsonb_agg(n ORDER BY n) FROM generate_series(1, 140) n) AS all_in_order
  FROM sessionize.sessionize_batch('long',
    (SELECT jsonb_agg(ev('d', n, 220 + 14 * n) ORDER BY n) FROM generate_series(11, 20) n));
SELECT * FROM row_events('long');
SELECT key, event_count, end_reason,
       jsonb_path_query_array(events, '$[*].n')
         = (SELECT jsonb_agg(n ORDER BY n) FROM generate_series(1, 20) n) AS all_in_order
  FROM sessionize.expire('long', '2026-01-01 19:00:00+00');
SELECT count(*) FROM sessionize.sessionize_batch('long',
    (SELECT jsonb_agg(ev('e', n, 600 + n / 10.0) ORDER BY n) FROM generate_series(1, 200) n));
SELECT key, event_count, end_reason,
       jsonb_path_query_array(events, '$[*].n')
         = (SELECT jsonb_agg(n ORDER BY n) FROM generate_series(1, 200) n) AS all_in_order
  FROM sessionize.flush('long');
SELECT * FROM chunk_rows('long');

-- A session chunked and timed out in one call: f's 140 events are stored
-- as a chunk, then g's event an hour later moves the clock past f.
SELECT key, event_count, end_reason, jsonb_array_length(events)
  FROM sessionize.sessionize_batch('long',
    (SELECT jsonb_agg(ev('f', n, 630 + n / 10.0) ORDER BY n) FROM generate_series(1, 140) n)
    || jsonb_build_array(ev('g', 1, 700)));
SELECT * FROM chunk_rows('long');

-- max_events counts the events in chunks: h closes at exactly 200.
SELECT sessionize.alter_stream('long', 'max_events', '200');
SELECT count(*) FROM sessionize.sessionize_batch('long',
    (SELECT jsonb_agg(ev('h', n, 700 + n / 20.0) ORDER BY n) FROM generate_series(1, 150) n));
SELECT * FROM row_events('long') WHERE key = 'h';
SELECT key, event_count, end_reason,
       jsonb_path_query_array(events, '$[*].n')
         = (SELECT jsonb_agg(n ORDER BY n) FROM generate_series(1, 200) n) AS all_in_order
  FROM sessionize.sessionize_batch('long',
    (SELECT jsonb_agg(ev('h', n, 700 + n / 20.0) ORDER BY n) FROM generate_series(151, 205) n));
SELECT * FROM row_events('long') WHERE key = 'h';
SELECT sessionize.alter_stream('long', 'max_events', NULL);

-- Payload bytes count, not events: two events of 700 bytes stay in the
-- row; a third would make it too long, and the three move to a chunk.
SELECT count(*) FROM sessionize.sessionize_batch('long',
    (SELECT jsonb_agg(ev('i', n, 711 + n) || jsonb_build_object('blob', repeat('x', 600))
                      ORDER BY n) FROM generate_series(1, 2) n));
SELECT * FROM row_events('long') WHERE key = 'i';
SELECT count(*) FROM sessionize.sessionize_batch('long',
    jsonb_build_array(ev('i', 3, 714) || jsonb_build_object('blob', repeat('x', 600))));
SELECT * FROM row_events('long') WHERE key = 'i';
SELECT * FROM chunk_rows('long');

-- A batch that made chunks and rolled back leaves none.
BEGIN;
SELECT count(*) FROM sessionize.sessionize_batch('long',
    (SELECT jsonb_agg(ev('j', n, 717 + n / 100.0) ORDER BY n) FROM generate_series(1, 140) n));
SELECT * FROM chunk_rows('long') WHERE key = 'j';
ROLLBACK;
SELECT * FROM chunk_rows('long');
SELECT count(*) FILTER (WHERE key = 'j') AS j_open FROM sessionize.open_sessions('long');

-- A stream fed in batches of 7, one long session per key with events up
-- to 40 minutes out of order (within lateness), landing in chunks already
-- written: the same sessions, events in the same order, as the aggregate
-- finds (which sorts each key's events by ts, ties in input order).
SELECT setseed(0.25);
CREATE TABLE long_events AS
SELECT i AS n, 'k' || (i % 3) AS k,
       (i * 0.2 - CASE WHEN i % 7 = 0 THEN floor(random() * 40) ELSE 0 END)::numeric AS m
  FROM generate_series(1, 1500) i;
SELECT sessionize.create_stream('long_cut', gap => '2 hours', lateness => '1 hour');
CREATE TABLE long_all (key text, session_start timestamptz, session_end timestamptz,
                       event_count int, end_reason text, events jsonb);
CREATE TABLE long_chunks_seen (chunks bigint);
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT (n - 1) / 7 AS b, jsonb_agg(ev(k, n, m) ORDER BY n) AS events
               FROM long_events GROUP BY 1 ORDER BY 1 LOOP
        INSERT INTO long_all SELECT * FROM sessionize.sessionize_batch('long_cut', r.events);
        INSERT INTO long_chunks_seen SELECT coalesce(max(chunks), 0) FROM chunk_rows('long_cut');
    END LOOP;
    INSERT INTO long_all SELECT * FROM sessionize.flush('long_cut');
END
$$;
SELECT max(chunks) AS most_chunks_of_a_key FROM long_chunks_seen;
WITH agg AS (
    SELECT k, s.*
      FROM (SELECT k, sessionize.sessions((ev(k, n, m)->>'ts')::timestamptz, false,
                                          ev(k, n, m), '2 hours' ORDER BY n) AS ss
              FROM long_events GROUP BY k) g, unnest(g.ss) s)
SELECT (SELECT count(*) FROM long_all) AS stream_sessions,
       (SELECT count(*) FROM agg) AS aggregate_sessions,
       (SELECT sum(event_count) FROM long_all) AS events,
       (SELECT count(*) FROM (
            SELECT key, session_start, session_end, event_count, events FROM long_all
            EXCEPT ALL
            SELECT k, session_start, session_end, event_count, events FROM agg) d) AS differences,
       (SELECT bool_and(jsonb_path_query_array(events, '$[*].n')
                        <> (SELECT jsonb_agg(n ORDER BY n) FROM long_events e WHERE e.k = l.key))
          FROM long_all l) AS out_of_arrival_order;

SELECT sessionize.drop_stream('long');
SELECT sessionize.drop_stream('long_cut');
DROP TABLE long_sink, long_events, long_all, long_chunks_seen;
