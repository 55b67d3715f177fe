-- scale.sql: per-batch latency against a small and a large state.
--
-- A stream is loaded with N open sessions (keys 1..N, one event each at
-- 2026-01-01 00:00, fed through sessionize_batch in batches of 100,000
-- distinct keys: nothing finishes, no timeout fires).  Then timed
-- 1,000-event JSON batches, each its own transaction, whose keys are half
-- existing open sessions and half new ones, in four equal parts:
--   close   an existing session ends (isLast)           fetch, delete, emit
--   join    an existing session gets an event            fetch, update
--   open    a new key opens a session that stays open    probe, insert
--   bounce  a new key's only event has isLast            probe, emit
-- so that the state keeps exactly N open sessions.  Existing keys are
-- drawn in a scrambled order (a permutation of 1..N, then the keys the
-- batches opened, first in first out), so the probes land all over the
-- indexes.  Each batch is one second after the one before: the clock
-- never times anything out.

CREATE TABLE scale_batches (
    open    bigint,
    b       integer,
    events  jsonb NOT NULL,
    PRIMARY KEY (open, b)
);
ALTER TABLE scale_batches ALTER events SET STORAGE EXTERNAL;

CREATE TABLE scale_lat (
    open  bigint,
    b     integer,
    ms    double precision
);

-- scale_load(stream, n, batch): open n sessions, keys 1..n; returns the seconds it took.
CREATE PROCEDURE scale_load(p_stream text, p_n bigint, p_batch integer,
                            INOUT secs double precision DEFAULT NULL)
LANGUAGE plpgsql
AS $$
DECLARE
    v_n   bigint;
    v_t0  timestamptz := clock_timestamp();
BEGIN
    FOR i IN 0 .. (p_n - 1) / p_batch LOOP
        SELECT count(*) INTO v_n
          FROM sessionize.sessionize_batch(p_stream,
                 (SELECT jsonb_agg(jsonb_build_object('id', g, 'data', 'view', 'isLast', false,
                                                      'ts', '2026-01-01T00:00:00.000Z',
                                                      'page', '/p/1'))
                    FROM generate_series(i::bigint * p_batch + 1,
                                         least((i + 1)::bigint * p_batch, p_n)) g));
        IF v_n <> 0 THEN
            RAISE EXCEPTION 'a session finished while loading';
        END IF;
        COMMIT;
    END LOOP;
    secs := extract(epoch FROM clock_timestamp() - v_t0);
END
$$;

-- fifo_key(p, n, mult): the key at position p of the queue of open keys:
-- 1..n scrambled (p * mult mod n, mult coprime to n), then the keys the
-- batches opened, n+1, n+2, ...
CREATE FUNCTION fifo_key(p bigint, n bigint, mult bigint) RETURNS bigint
LANGUAGE sql IMMUTABLE
RETURN CASE WHEN p < n THEN (p * mult) % n + 1 ELSE p + 1 END;

-- scale_build(n, nb): nb batches of 1000 events against n open sessions.
CREATE PROCEDURE scale_build(p_n bigint, p_nb integer)
LANGUAGE plpgsql
AS $$
DECLARE
    v_mult bigint := 999983;
BEGIN
    IF p_n < 1000 THEN
        RAISE EXCEPTION 'the scale run needs at least 1000 open sessions';
    END IF;
    WHILE gcd(v_mult, p_n) <> 1 LOOP
        v_mult := v_mult + 2;
    END LOOP;
    DELETE FROM scale_batches WHERE open = p_n;
    INSERT INTO scale_batches (open, b, events)
    SELECT p_n, e.b,
           jsonb_agg(jsonb_build_object(
                         'id', e.id, 'data', 'click', 'isLast', e.is_last,
                         'ts', timestamptz '2026-01-01 00:00:00+00'
                               + make_interval(secs => e.b + 1 + e.j / 1000.0),
                         'page', '/p/2')
                     ORDER BY e.j)
      FROM (SELECT b, j,
                   CASE j % 4
                   WHEN 0 THEN fifo_key(250 * b + j / 4, p_n, v_mult)          -- close
                   WHEN 1 THEN fifo_key(250 * b + 250                           -- join
                                        + floor(random() * (p_n - 250))::bigint,
                                        p_n, v_mult)
                   WHEN 2 THEN p_n + 1 + 250 * b + j / 4                         -- open
                   ELSE 1000000000000 + 250 * b + j / 4                          -- bounce
                   END AS id,
                   j % 4 IN (0, 3) AS is_last
              FROM generate_series(0, p_nb - 1) b, generate_series(0, 999) j) e
     GROUP BY e.b;
END
$$;

-- scale_measure(stream, n): feed the batches built for n, one transaction
-- each, timing each batch with its commit; finished is the rows returned.
CREATE PROCEDURE scale_measure(p_stream text, p_n bigint,
                               INOUT finished bigint DEFAULT NULL)
LANGUAGE plpgsql
AS $$
DECLARE
    v_nb     integer;
    v_n      bigint;
    v_total  bigint := 0;
    v_t0     timestamptz;
    v_lat    double precision[] := '{}';
BEGIN
    SELECT count(*) INTO v_nb FROM scale_batches WHERE open = p_n;
    FOR i IN 0 .. v_nb - 1 LOOP
        v_t0 := clock_timestamp();
        SELECT count(*) INTO v_n
          FROM scale_batches s, sessionize.sessionize_batch(p_stream, s.events, 'scale', i + 1)
         WHERE s.open = p_n AND s.b = i;
        COMMIT;
        v_lat := v_lat || extract(epoch FROM clock_timestamp() - v_t0)::double precision * 1000;
        v_total := v_total + v_n;
    END LOOP;
    DELETE FROM scale_lat WHERE open = p_n;
    INSERT INTO scale_lat SELECT p_n, o::integer - 1, ms
      FROM unnest(v_lat) WITH ORDINALITY AS u (ms, o);
    COMMIT;
    finished := v_total;
END
$$;
