-- setup: the extension, and helpers the other tests use to show results
-- compactly.  Every event in the tests carries a label "n"; a session is
-- shown by its key, first and last ts (time of day, UTC), event count,
-- end reason and the labels of its events in session order.
CREATE EXTENSION sessionize;

-- The objects the extension created.  (PostgreSQL 17 on also lists the
-- row types of its tables and views, and the array types of its types, as
-- members: they come with the table, view or type listed here, and are
-- left out so that every version shows the same list.)
CREATE VIEW extension_members AS
SELECT d.classid, d.objid, d.objsubid
  FROM pg_depend d
  LEFT JOIN pg_type t ON d.classid = 'pg_type'::regclass AND t.oid = d.objid
  LEFT JOIN pg_class r ON r.oid = t.typrelid
 WHERE d.refclassid = 'pg_extension'::regclass
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'sessionize')
   AND d.deptype = 'e'
   AND NOT coalesce(r.relkind IN ('r', 'v') OR t.typcategory = 'A', false);
SELECT pg_describe_object(classid, objid, objsubid) AS object
  FROM extension_members
 ORDER BY 1;


-- Each of its functions, aggregates, tables and views has a comment.
SELECT pg_describe_object(classid, objid, objsubid) AS without_comment
  FROM extension_members
 WHERE classid IN ('pg_proc'::regclass, 'pg_class'::regclass, 'pg_type'::regclass,
                   'pg_namespace'::regclass)
   AND obj_description(objid, classid::regclass::name) IS NULL
   AND NOT (classid = 'pg_class'::regclass AND
            (SELECT relkind FROM pg_class WHERE oid = objid) = 'S')
 ORDER BY 1;

-- feed: a batch, its finished sessions ordered by key and start.
CREATE FUNCTION feed(stream text, events jsonb, source text DEFAULT NULL,
                     batch_offset bigint DEFAULT NULL)
RETURNS TABLE (key text, first_ts time, last_ts time, n int, reason text, labels jsonb)
LANGUAGE sql AS $$
    SELECT b.key, (b.session_start AT TIME ZONE 'UTC')::time,
           (b.session_end AT TIME ZONE 'UTC')::time, b.event_count, b.end_reason,
           jsonb_path_query_array(b.events, '$[*].n')
      FROM sessionize.sessionize_batch(stream, events, source, batch_offset) b
     ORDER BY b.key, b.session_start, b.session_end
$$;

-- expire_at / flush_all / still_open: the same view of expire(), flush(), open_sessions().
CREATE FUNCTION expire_at(stream text, now timestamptz)
RETURNS TABLE (key text, first_ts time, last_ts time, n int, reason text, labels jsonb)
LANGUAGE sql AS $$
    SELECT b.key, (b.session_start AT TIME ZONE 'UTC')::time,
           (b.session_end AT TIME ZONE 'UTC')::time, b.event_count, b.end_reason,
           jsonb_path_query_array(b.events, '$[*].n')
      FROM sessionize.expire(stream, now) b
     ORDER BY b.key, b.session_start, b.session_end
$$;

CREATE FUNCTION flush_all(stream text)
RETURNS TABLE (key text, first_ts time, last_ts time, n int, reason text, labels jsonb)
LANGUAGE sql AS $$
    SELECT b.key, (b.session_start AT TIME ZONE 'UTC')::time,
           (b.session_end AT TIME ZONE 'UTC')::time, b.event_count, b.end_reason,
           jsonb_path_query_array(b.events, '$[*].n')
      FROM sessionize.flush(stream) b
     ORDER BY b.key, b.session_start, b.session_end
$$;

CREATE FUNCTION still_open(stream text)
RETURNS TABLE (key text, first_ts time, last_ts time, n int, labels jsonb)
LANGUAGE sql AS $$
    SELECT o.key, (o.session_start AT TIME ZONE 'UTC')::time,
           (o.session_end AT TIME ZONE 'UTC')::time, o.event_count,
           jsonb_path_query_array(o.events, '$[*].n')
      FROM sessionize.open_sessions(stream) o
     ORDER BY o.key
$$;

-- counters: a stream's stats in one line.
CREATE FUNCTION counters(stream text)
RETURNS TABLE (events_in bigint, late bigint, batches bigint, open bigint,
               gap bigint, max_dur bigint, max_ev bigint, last bigint, flush bigint,
               watermark timestamptz, offsets jsonb)
LANGUAGE sql AS $$
    SELECT events_in, late_events, batches, sessions_open, closed_gap,
           closed_max_duration, closed_max_events, closed_last, closed_flush,
           watermark, offsets
      FROM sessionize.stats WHERE stats.stream = counters.stream
$$;

-- try: run a statement and show its SQLSTATE and message, or ok.  Each
-- call runs in a subtransaction, rolled back on error.
CREATE FUNCTION try(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
