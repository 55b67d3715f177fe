-- plain.sql: a sessionizer in plain SQL, the baseline of the benchmark.
--
-- What a skilled PostgreSQL user would write without the extension, with
-- the same rules as a sessionize stream created with
--     sessionize.create_stream('s', 'text', gap => '30 minutes')
-- (gap and isLast only; lateness 0):
--   * per key at most one open session, in plain_state, the key the
--     primary key and the timeout deadline (last_ts + gap) indexed;
--   * per batch one set-based statement: gaps-and-islands with window
--     functions (lag(ts) per key in ts order; a new island when the pause
--     is >= gap or the previous event had isLast; a running sum numbers
--     them), the first island of a key merged with its stored open session,
--     the last open island upserted (INSERT ... ON CONFLICT), stored
--     sessions that ended deleted, the finished sessions returned;
--   * then the clock: the stored sessions whose deadline is at or before
--     the watermark (the newest ts seen) end with reason gap, found
--     through the deadline index;
--   * exactly once: the batch's offset is recorded per source in the same
--     transaction, and a batch at or before it is skipped.
--
-- Its one simplification: each key's events must arrive in ts order (no
-- event older than the key's stored session), as they do in the
-- benchmark's stream.  The extension has no such restriction.

CREATE TABLE plain_state (
    key          text PRIMARY KEY,
    first_ts     timestamptz NOT NULL,
    last_ts      timestamptz NOT NULL,
    deadline     timestamptz NOT NULL,
    event_count  integer NOT NULL,
    events       jsonb NOT NULL
);
CREATE INDEX plain_state_deadline ON plain_state (deadline);

-- One row: the watermark; locking it makes batches run one at a time.
CREATE TABLE plain_clock (
    one        boolean PRIMARY KEY DEFAULT true CHECK (one),
    watermark  timestamptz
);
INSERT INTO plain_clock DEFAULT VALUES;

CREATE TABLE plain_offsets (
    source            text PRIMARY KEY,
    committed_offset  bigint NOT NULL
);

CREATE FUNCTION plain_batch(p_events jsonb, p_source text DEFAULT NULL,
                            p_offset bigint DEFAULT NULL)
RETURNS TABLE (key text, session_start timestamptz, session_end timestamptz,
               event_count integer, end_reason text, events jsonb)
LANGUAGE plpgsql
-- Plan each batch with the state table's current size: a plan cached
-- while the table was small (seq scans, nested loops over it) would stay.
SET plan_cache_mode = force_custom_plan
AS $fn$
#variable_conflict use_column
DECLARE
    c_gap        constant interval := '30 minutes';
    v_wm         timestamptz;
    v_committed  bigint;
BEGIN
    SELECT c.watermark INTO v_wm FROM plain_clock c FOR UPDATE;

    IF p_source IS NOT NULL THEN
        SELECT o.committed_offset INTO v_committed
          FROM plain_offsets o WHERE o.source = p_source;
        IF v_committed >= p_offset THEN
            RAISE NOTICE 'batch % from source "%" is already committed; skipped',
                p_offset, p_source;
            RETURN;
        END IF;
        INSERT INTO plain_offsets (source, committed_offset)
        VALUES (p_source, p_offset)
        ON CONFLICT (source) DO UPDATE SET committed_offset = EXCLUDED.committed_offset;
    END IF;

    RETURN QUERY
    WITH ev AS (
        SELECT e ->> 'id' AS key,
               (e ->> 'ts')::timestamptz AS ts,
               coalesce((e ->> 'isLast')::boolean, false) AS is_last,
               e AS payload,
               o AS ord
          FROM jsonb_array_elements(p_events) WITH ORDINALITY AS t (e, o)
    ),
    wm AS (
        SELECT greatest(v_wm, max(ev.ts)) AS wm FROM ev
    ),
    st AS (             -- the stored open sessions of the batch's keys
        SELECT s.*
          FROM plain_state s
         WHERE s.key = ANY (ARRAY(SELECT DISTINCT ev.key FROM ev))
    ),
    lagged AS (
        SELECT ev.*, st.last_ts AS st_last,
               lag(ev.ts) OVER w AS prev_ts,
               lag(ev.is_last) OVER w AS prev_last
          FROM ev LEFT JOIN st ON st.key = ev.key
        WINDOW w AS (PARTITION BY ev.key ORDER BY ev.ts, ev.ord)
    ),
    numbered AS (       -- island 0 continues the stored session
        SELECT l.*,
               sum(CASE WHEN l.prev_ts IS NULL
                        THEN CASE WHEN l.st_last IS NULL OR l.ts >= l.st_last + c_gap
                                  THEN 1 ELSE 0 END
                        WHEN l.prev_last OR l.ts >= l.prev_ts + c_gap THEN 1
                        ELSE 0 END)
                   OVER (PARTITION BY l.key ORDER BY l.ts, l.ord) AS island
          FROM lagged l
    ),
    islands AS (
        SELECT n.key, n.island,
               min(n.ts) AS first_ts, max(n.ts) AS last_ts,
               count(*)::integer AS n,
               bool_or(n.is_last) AS ended_last,
               jsonb_agg(n.payload ORDER BY n.ts, n.ord) AS evs,
               max(n.island) OVER (PARTITION BY n.key) AS last_island
          FROM numbered n
         GROUP BY n.key, n.island
    ),
    sessions AS (
        SELECT i.key,
               CASE WHEN i.island = 0 THEN st.first_ts ELSE i.first_ts END AS first_ts,
               i.last_ts,
               CASE WHEN i.island = 0 THEN st.event_count + i.n ELSE i.n END AS n,
               CASE WHEN i.island = 0 THEN st.events || i.evs ELSE i.evs END AS evs,
               CASE WHEN i.ended_last THEN 'last'
                    WHEN i.island < i.last_island THEN 'gap'
                    WHEN i.last_ts + c_gap <= (SELECT wm FROM wm) THEN 'gap'
               END AS reason
          FROM islands i
          LEFT JOIN st ON st.key = i.key AND i.island = 0
        UNION ALL       -- stored sessions the key's next event came too late for
        SELECT st.key, st.first_ts, st.last_ts, st.event_count, st.events, 'gap'
          FROM st
         WHERE NOT EXISTS (SELECT 1 FROM islands i
                            WHERE i.key = st.key AND i.island = 0)
    ),
    upserted AS (
        INSERT INTO plain_state AS p (key, first_ts, last_ts, deadline, event_count, events)
        SELECT s.key, s.first_ts, s.last_ts, s.last_ts + c_gap, s.n, s.evs
          FROM sessions s
         WHERE s.reason IS NULL
        ON CONFLICT (key) DO UPDATE
           SET first_ts = EXCLUDED.first_ts, last_ts = EXCLUDED.last_ts,
               deadline = EXCLUDED.deadline, event_count = EXCLUDED.event_count,
               events = EXCLUDED.events
    ),
    deleted AS (
        DELETE FROM plain_state p
         WHERE p.key = ANY (ARRAY(
                   SELECT st.key FROM st
                    WHERE NOT EXISTS (SELECT 1 FROM sessions s
                                       WHERE s.key = st.key AND s.reason IS NULL)))
    ),
    clock AS (
        UPDATE plain_clock SET watermark = (SELECT wm FROM wm)
    )
    SELECT s.key, s.first_ts, s.last_ts, s.n, s.reason, s.evs
      FROM sessions s
     WHERE s.reason IS NOT NULL;

    -- the clock: stored sessions of other keys that timed out
    SELECT c.watermark INTO v_wm FROM plain_clock c;
    RETURN QUERY
    DELETE FROM plain_state p
     WHERE p.deadline <= v_wm
    RETURNING p.key, p.first_ts, p.last_ts, p.event_count, 'gap'::text, p.events;
END
$fn$;

-- The end of the stream: every open session, with reason flush.
CREATE FUNCTION plain_flush()
RETURNS TABLE (key text, session_start timestamptz, session_end timestamptz,
               event_count integer, end_reason text, events jsonb)
LANGUAGE sql
AS $fn$
    DELETE FROM plain_state
    RETURNING key, first_ts, last_ts, event_count, 'flush'::text, events;
$fn$;
