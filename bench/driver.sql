-- driver.sql: the benchmark's tables and its timed driver.
--
-- staging   the generated events, loaded once with COPY (not timed)
-- batches   one row per (batch size, batch number): the batch already built
--           in each form a contender takes (not timed), stored uncompressed
--           so that fetching it costs as little as possible
-- bench_run the timed driver: a procedure that feeds every batch of one
--           size to one contender, each batch its own transaction (COMMIT
--           between batches), counting the result rows on the server, and
--           returns the elapsed seconds of the loop and the rows counted
-- bench_check the same loop, untimed, keeping what each contender returned
--           so that run.sh can compare them
--
-- The client-side contenders (bench/client.py, sessionize-feed) use
-- copy_jsonl, feed_sink, check_results and check_line from here.

CREATE TABLE staging (
    seq      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key      text NOT NULL,
    ts       timestamptz NOT NULL,
    is_last  boolean NOT NULL,
    payload  jsonb NOT NULL
);

CREATE TABLE batches (
    size      integer,
    b         integer,
    events    jsonb NOT NULL,         -- the JSON form: an array of payloads
    keys      text[] NOT NULL,        -- the typed form: four arrays
    ts        timestamptz[] NOT NULL,
    is_last   boolean[] NOT NULL,
    payloads  jsonb[] NOT NULL,
    PRIMARY KEY (size, b)
);
ALTER TABLE batches
    ALTER events SET STORAGE EXTERNAL, ALTER keys SET STORAGE EXTERNAL,
    ALTER ts SET STORAGE EXTERNAL, ALTER is_last SET STORAGE EXTERNAL,
    ALTER payloads SET STORAGE EXTERNAL;

-- build_batches(size): cut the staging events, in seq order, into batches.
CREATE PROCEDURE build_batches(p_size integer)
LANGUAGE sql
AS $$
    DELETE FROM batches WHERE size = p_size;
    INSERT INTO batches (size, b, events, keys, ts, is_last, payloads)
    SELECT p_size, (seq - 1) / p_size,
           jsonb_agg(payload ORDER BY seq),
           array_agg(key ORDER BY seq),
           array_agg(ts ORDER BY seq),
           array_agg(is_last ORDER BY seq),
           array_agg(payload ORDER BY seq)
      FROM staging
     GROUP BY (seq - 1) / p_size;
$$;

-- The COPY contender's target: the events merely stored, no index.
CREATE TABLE copy_target (
    key      text,
    ts       timestamptz,
    is_last  boolean,
    payload  jsonb
);

-- The client-side COPY's target: each JSON line as it is, one jsonb column.
CREATE TABLE copy_jsonl (
    doc  jsonb
);

-- sessionize-feed's check pass: the stream's sink.
CREATE TABLE feed_sink (
    key            text,
    session_start  timestamptz,
    session_end    timestamptz,
    event_count    integer,
    end_reason     text,
    events         jsonb
);

-- What each contender returned in its check pass.
CREATE TABLE check_results (
    contender      text,
    size           integer,
    key            text,
    session_start  timestamptz,
    session_end    timestamptz,
    event_count    integer,
    end_reason     text,
    events_md5     text
);

-- reset_contender(contender): empty state, as before the first batch.
CREATE PROCEDURE reset_contender(p_contender text)
LANGUAGE plpgsql
AS $$
BEGIN
    IF p_contender = 'plain' THEN
        TRUNCATE plain_state, plain_offsets;
        UPDATE plain_clock SET watermark = NULL;
    ELSIF p_contender IN ('json', 'typed') THEN
        IF EXISTS (SELECT FROM sessionize.streams WHERE name = 's') THEN
            PERFORM sessionize.drop_stream('s');
        END IF;
        PERFORM sessionize.create_stream('s', 'text', gap => '30 minutes');
    ELSIF p_contender = 'copy' THEN
        TRUNCATE copy_target, copy_jsonl;
    END IF;
END
$$;

-- bench_run(contender, size): feed every batch of that size, one
-- transaction each; secs is the loop's elapsed time, sessions the rows the
-- contender returned.
CREATE PROCEDURE bench_run(p_contender text, p_size integer,
                           INOUT secs double precision DEFAULT NULL,
                           INOUT sessions bigint DEFAULT NULL)
LANGUAGE plpgsql
AS $$
DECLARE
    v_nb     integer;
    v_n      bigint;
    v_total  bigint := 0;
    v_t0     timestamptz;
BEGIN
    SELECT count(*) INTO v_nb FROM batches WHERE size = p_size;
    IF v_nb = 0 THEN
        RAISE EXCEPTION 'no batches of size %', p_size;
    END IF;
    v_t0 := clock_timestamp();
    FOR i IN 0 .. v_nb - 1 LOOP
        CASE p_contender
        WHEN 'plain' THEN
            SELECT count(*) INTO v_n
              FROM batches b, plain_batch(b.events, 'bench', i + 1)
             WHERE b.size = p_size AND b.b = i;
        WHEN 'json' THEN
            SELECT count(*) INTO v_n
              FROM batches b, sessionize.sessionize_batch('s', b.events, 'bench', i + 1)
             WHERE b.size = p_size AND b.b = i;
        WHEN 'typed' THEN
            SELECT count(*) INTO v_n
              FROM batches b,
                   sessionize.sessionize_batch('s', b.keys, b.ts, b.is_last, b.payloads,
                                               'bench', (i + 1)::bigint)
             WHERE b.size = p_size AND b.b = i;
        WHEN 'fetch' THEN       -- the driver alone: fetch the batch, no work
            SELECT jsonb_array_length(b.events) INTO v_n
              FROM batches b
             WHERE b.size = p_size AND b.b = i;
            v_n := 0;
        ELSE
            RAISE EXCEPTION 'unknown contender %', p_contender;
        END CASE;
        v_total := v_total + v_n;
        COMMIT;
    END LOOP;
    secs := extract(epoch FROM clock_timestamp() - v_t0);
    sessions := v_total;
END
$$;

-- bench_check(contender, size): the same loop, untimed, keeping every
-- finished session, then the end of the stream (flush).
CREATE PROCEDURE bench_check(p_contender text, p_size integer)
LANGUAGE plpgsql
AS $$
DECLARE
    v_nb integer;
BEGIN
    DELETE FROM check_results WHERE contender = p_contender AND size = p_size;
    SELECT count(*) INTO v_nb FROM batches WHERE size = p_size;
    FOR i IN 0 .. v_nb - 1 LOOP
        CASE p_contender
        WHEN 'plain' THEN
            INSERT INTO check_results
            SELECT p_contender, p_size, r.key, r.session_start, r.session_end,
                   r.event_count, r.end_reason, md5(r.events::text)
              FROM batches b, plain_batch(b.events, 'bench', i + 1) r
             WHERE b.size = p_size AND b.b = i;
        WHEN 'json' THEN
            INSERT INTO check_results
            SELECT p_contender, p_size, r.key, r.session_start, r.session_end,
                   r.event_count, r.end_reason, md5(r.events::text)
              FROM batches b, sessionize.sessionize_batch('s', b.events, 'bench', i + 1) r
             WHERE b.size = p_size AND b.b = i;
        WHEN 'typed' THEN
            INSERT INTO check_results
            SELECT p_contender, p_size, r.key, r.session_start, r.session_end,
                   r.event_count, r.end_reason, md5(r.events::text)
              FROM batches b,
                   sessionize.sessionize_batch('s', b.keys, b.ts, b.is_last, b.payloads,
                                               'bench', (i + 1)::bigint) r
             WHERE b.size = p_size AND b.b = i;
        END CASE;
        COMMIT;
    END LOOP;
    IF p_contender = 'plain' THEN
        INSERT INTO check_results
        SELECT p_contender, p_size, r.key, r.session_start, r.session_end,
               r.event_count, r.end_reason, md5(r.events::text)
          FROM plain_flush() r;
    ELSE
        INSERT INTO check_results
        SELECT p_contender, p_size, r.key, r.session_start, r.session_end,
               r.event_count, r.end_reason, md5(r.events::text)
          FROM sessionize.flush('s') r;
    END IF;
    COMMIT;
END
$$;

-- a contender's name in the checks: 'json', or 'json/client' for the
-- client-side pass
CREATE FUNCTION contender_label(p_contender text) RETURNS text
LANGUAGE sql IMMUTABLE
RETURN CASE split_part(p_contender, '/', 1)
            WHEN 'plain' THEN 'plain SQL' WHEN 'copy' THEN 'COPY'
            WHEN 'json' THEN 'sessionize (JSON)'
            WHEN 'typed' THEN 'sessionize (typed)'
            WHEN 'feed' THEN 'sessionize-feed'
            ELSE split_part(p_contender, '/', 1) END
       || CASE WHEN p_contender LIKE '%/client' THEN ', client' ELSE '' END;

-- check_line(a, b, size_a, size_b): whether contenders a (its pass with
-- batches of size_a) and b (size_b, default size_a) returned the same
-- multiset of sessions, first as (key, session_start, session_end,
-- event_count, end_reason), then with the events arrays too.  One line of
-- text, with "identical" or "DIFFER".
CREATE FUNCTION check_line(p_a text, p_b text, p_size_a integer, p_size_b integer DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql
AS $$
DECLARE
    v_size_b  integer := coalesce(p_size_b, p_size_a);
    v_na      bigint;
    v_nb      bigint;
    v_only_a  bigint;
    v_only_b  bigint;
    v_ev_a    bigint;
    v_ev_b    bigint;
    v_reasons text;
    v_label   text;
BEGIN
    SELECT count(*) INTO v_na FROM check_results WHERE contender = p_a AND size = p_size_a;
    SELECT count(*) INTO v_nb FROM check_results WHERE contender = p_b AND size = v_size_b;
    SELECT count(*) INTO v_only_a FROM (
        SELECT key, session_start, session_end, event_count, end_reason
          FROM check_results WHERE contender = p_a AND size = p_size_a
        EXCEPT ALL
        SELECT key, session_start, session_end, event_count, end_reason
          FROM check_results WHERE contender = p_b AND size = v_size_b) d;
    SELECT count(*) INTO v_only_b FROM (
        SELECT key, session_start, session_end, event_count, end_reason
          FROM check_results WHERE contender = p_b AND size = v_size_b
        EXCEPT ALL
        SELECT key, session_start, session_end, event_count, end_reason
          FROM check_results WHERE contender = p_a AND size = p_size_a) d;
    SELECT count(*) INTO v_ev_a FROM (
        SELECT key, session_start, session_end, event_count, end_reason, events_md5
          FROM check_results WHERE contender = p_a AND size = p_size_a
        EXCEPT ALL
        SELECT key, session_start, session_end, event_count, end_reason, events_md5
          FROM check_results WHERE contender = p_b AND size = v_size_b) d;
    SELECT count(*) INTO v_ev_b FROM (
        SELECT key, session_start, session_end, event_count, end_reason, events_md5
          FROM check_results WHERE contender = p_b AND size = v_size_b
        EXCEPT ALL
        SELECT key, session_start, session_end, event_count, end_reason, events_md5
          FROM check_results WHERE contender = p_a AND size = p_size_a) d;
    SELECT string_agg(end_reason || ' ' || n, ', ' ORDER BY end_reason) INTO v_reasons
      FROM (SELECT end_reason, count(*) AS n FROM check_results
             WHERE contender = p_a AND size = p_size_a GROUP BY end_reason) r;
    v_label := CASE WHEN p_a = p_b
                    THEN format('%s, batch %s vs batch %s', contender_label(p_a), p_size_a, v_size_b)
                    ELSE format('%s vs %s, batch %s', contender_label(p_a),
                                contender_label(p_b), p_size_a) END;
    RETURN format('%s: %s vs %s sessions (%s): ', v_label, v_na, v_nb, v_reasons)
        || CASE WHEN v_na = 0 THEN 'DIFFER (no sessions at all)'
                WHEN v_only_a = 0 AND v_only_b = 0 THEN 'identical'
                ELSE format('DIFFER: %s only in the first, %s only in the second', v_only_a, v_only_b)
           END
        || CASE WHEN v_ev_a = 0 AND v_ev_b = 0 THEN '; events arrays identical'
                ELSE format('; events arrays DIFFER in %s / %s sessions', v_ev_a, v_ev_b)
           END;
END
$$;
