-- timers: an arrival-order stream keeps its sessions' timers apart from
-- their rows, in state_<id>_timers: each call appends one row per
-- partition with the timers it set (keys, dues, earliest due); the clock
-- reads and deletes the rows that are due, finishes the sessions whose
-- deadline has passed, and sets again the timers of those extended since
-- (lazy timers).  An entry whose session finished, or whose timer was set
-- again, is stale and skipped.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
SELECT sessionize.create_stream('tm', gap => '10 minutes', partitions => 2);

-- timers(): the stream's timer table, one line per entry, and its rows.
CREATE FUNCTION timers(stream text)
RETURNS TABLE ("partition" int, row_due timestamptz, key text, due timestamptz)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY EXECUTE format(
        'SELECT t.part, t.due, k.key::text, k.due
           FROM sessionize.%I t, unnest(t.keys, t.dues) AS k(key, due)
          ORDER BY 1, 3, 4, 2',
        (SELECT state_table || '_timers' FROM sessionize.streams WHERE name = stream));
END
$$;
CREATE FUNCTION timer_rows(stream text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    EXECUTE format('SELECT count(*) FROM sessionize.%I',
                   (SELECT state_table || '_timers' FROM sessionize.streams WHERE name = stream))
       INTO n;
    RETURN n;
END
$$;
CREATE FUNCTION feed(stream text, part int, events jsonb)
RETURNS TABLE (key text, session_start timestamptz, session_end timestamptz,
               event_count int, end_reason text)
LANGUAGE sql AS $$
    SELECT key, session_start, session_end, event_count, end_reason
      FROM sessionize.sessionize_batch(stream, events, "partition" => part)
     ORDER BY 1, 2
$$;

-- Two new sessions: one row, their timers at their deadlines.
SELECT * FROM feed('tm', 0, '[{"id": "a", "ts": "2026-01-01T10:00:00Z"},
                              {"id": "b", "ts": "2026-01-01T10:00:00Z"}]');
SELECT * FROM timers('tm');
-- a is extended: its timer stays (lazy); c is new: a second row.
SELECT * FROM feed('tm', 0, '[{"id": "a", "ts": "2026-01-01T10:05:00Z"},
                              {"id": "c", "ts": "2026-01-01T10:05:00Z"}]');
SELECT * FROM timers('tm');
-- The clock passes 10:10: b times out; a was extended, so its timer moves
-- to 10:15 (in this call's row, with d's); the first row is deleted.
SELECT * FROM feed('tm', 0, '[{"id": "d", "ts": "2026-01-01T10:12:00Z"}]');
SELECT * FROM timers('tm');
-- a ends by isLast: its row is gone, its timer stale.  At 10:16, c times
-- out, a's timer is skipped, d's is not due.
SELECT * FROM feed('tm', 0, '[{"id": "a", "ts": "2026-01-01T10:13:00Z", "isLast": true}]');
SELECT * FROM feed('tm', 0, '[{"id": "e", "ts": "2026-01-01T10:16:00Z"}]');
SELECT * FROM timers('tm');
SELECT key, session_start, session_end, event_count FROM sessionize.open_sessions('tm')
 ORDER BY 1;

-- A key that starts again after its session ended keeps one timer that
-- counts: the old entry is stale, whatever it finds.
SELECT * FROM feed('tm', 0, '[{"id": "d", "ts": "2026-01-01T10:17:00Z", "isLast": true},
                              {"id": "d", "ts": "2026-01-01T10:18:00Z"}]');
SELECT * FROM timers('tm');
SELECT * FROM feed('tm', 0, '[{"id": "f", "ts": "2026-01-01T10:40:00Z"}]');
SELECT * FROM timers('tm');

-- A new gap sets every timer anew; flush deletes the partition's.
SELECT * FROM feed('tm', 0, '[{"id": "g", "ts": "2026-01-01T10:45:00Z"}]');
SELECT sessionize.alter_stream('tm', 'gap', '1 hour');
SELECT * FROM timers('tm');
SELECT key, end_reason FROM sessionize.flush('tm', "partition" => 0) ORDER BY 1;
SELECT timer_rows('tm') AS timer_rows_left;

-- Partitions keep their own timer rows; expire (the clock at the wall
-- clock) reads only its own.
SELECT * FROM feed('tm', 1, '[{"id": "p", "ts": "2026-01-01T10:00:00Z"}]');
SELECT count(*) FROM sessionize.expire('tm', "partition" => 0);
SELECT * FROM timers('tm');
SELECT key, end_reason FROM sessionize.expire('tm', "partition" => 1);
SELECT * FROM timers('tm');

-- A state table a stream's owner altered is refused: the timer table too.
SELECT * FROM feed('tm', 0, '[{"id": "h", "ts": "2026-01-01T12:00:00Z"}]');
SELECT format('sessionize.%I', state_table || '_timers') AS tm_timers
  FROM sessionize.streams WHERE name = 'tm' \gset
ALTER TABLE :tm_timers ALTER COLUMN dues TYPE text[];
DO $$
DECLARE detail text;
BEGIN
    PERFORM * FROM feed('tm', 0, '[{"id": "h", "ts": "2026-01-01T12:01:00Z"}]');
EXCEPTION WHEN data_corrupted THEN
    GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
    RAISE NOTICE '%: % %', SQLSTATE, regexp_replace(SQLERRM, 'state_[0-9]+', 'state_N'), detail;
END
$$;
ALTER TABLE :tm_timers ALTER COLUMN dues TYPE timestamptz[] USING dues::timestamptz[];
SELECT * FROM feed('tm', 0, '[{"id": "h", "ts": "2026-01-01T12:01:00Z"}]');
SELECT sessionize.drop_stream('tm');
SELECT to_regclass(:'tm_timers') AS timer_table_left;
