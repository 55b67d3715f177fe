-- aggregate.sql: backfill, sessionize.sessions() against the usual
-- window-function gaps-and-islands query, on the same events.  Both find
-- the sessions of every key with gap 30 minutes and isLast, with each
-- session's events as a jsonb array.

CREATE TABLE agg_events (
    seq      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key      text NOT NULL,
    ts       timestamptz NOT NULL,
    is_last  boolean NOT NULL,
    payload  jsonb NOT NULL
);

-- islands: the window-function query a skilled user writes.  A session
-- starts at a key's first event, at an event 30 minutes or more after the
-- previous one, and after an isLast event; a running sum numbers them.
CREATE VIEW islands AS
SELECT key, min(ts) AS session_start, max(ts) AS session_end,
       count(*)::integer AS event_count,
       CASE WHEN bool_or(is_last) THEN 'last' ELSE 'gap' END AS end_reason,
       jsonb_agg(payload ORDER BY ts, seq) AS events
  FROM (SELECT *, sum(starts) OVER (PARTITION BY key ORDER BY ts, seq) AS session_no
          FROM (SELECT *,
                       CASE WHEN lag(ts) OVER w IS NULL
                              OR ts - lag(ts) OVER w >= interval '30 minutes'
                              OR lag(is_last) OVER w
                            THEN 1 ELSE 0 END AS starts
                  FROM agg_events
                WINDOW w AS (PARTITION BY key ORDER BY ts, seq)) marked) numbered
 GROUP BY key, session_no;

-- sessionized: the same with the aggregate, as its README shows it: no
-- ORDER BY, since it sorts each key's events by ts itself (ties in input
-- order: here the table's, which is seq order, as the window query's).
CREATE VIEW sessionized AS
SELECT g.key, s.*
  FROM (SELECT key, sessionize.sessions(ts, is_last, payload, '30 minutes') AS ss
          FROM agg_events GROUP BY key) g,
       unnest(g.ss) s;

-- A backfill of a million events is given memory: both queries sort or
-- hash all of them (at the default 4MB both spill to disk).
DO $$ BEGIN
    EXECUTE format('ALTER DATABASE %I SET work_mem = %L', current_database(), '256MB');
END $$;

-- time_query: seconds to read a view on the server (nothing is shipped).
-- Measure 'all' reads every column, as a backfill that stores the sessions
-- does: the window query must build each session's events (jsonb_agg).
-- Measure 'rows' only counts the rows, the bench's measure up to 0.3: the
-- planner then drops every column the count does not use from the window
-- query's subquery, jsonb_agg and the payloads included, while the
-- aggregate must still build its whole array to unnest it.
CREATE FUNCTION time_query(p_view text, p_measure text) RETURNS double precision
LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz := clock_timestamp();
    n  bigint;
BEGIN
    IF p_measure = 'all' THEN
        EXECUTE format('SELECT count(*) FROM %I
                         WHERE key IS NOT NULL AND session_start IS NOT NULL
                           AND session_end IS NOT NULL AND event_count IS NOT NULL
                           AND end_reason IS NOT NULL AND events IS NOT NULL', p_view) INTO n;
    ELSE
        EXECUTE format('SELECT count(*) FROM %I', p_view) INTO n;
    END IF;
    RETURN extract(epoch FROM clock_timestamp() - t0);
END
$$;

CREATE TABLE agg_times (measure text, contender text, secs double precision);
