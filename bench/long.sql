-- long.sql: long sessions.  Devices ping every 10 seconds and never pause
-- for the gap (30 minutes), so no session ends until the stream does;
-- each 1,000-event batch (100 devices, 10 pings each) extends every
-- device's session by 10 events.  The per-batch latency, as the sessions
-- grow, of sessionize and of the plain-SQL sessionizer (plain.sql), fed
-- the same batches, each its own transaction.

CREATE TABLE long_batches (
    b       integer PRIMARY KEY,
    events  jsonb NOT NULL
);
ALTER TABLE long_batches ALTER events SET STORAGE EXTERNAL;

CREATE TABLE long_lat (
    contender  text,
    b          integer,
    ms         double precision
);

-- long_build(batches): the batches; payloads like the seed's UserEvent.
CREATE PROCEDURE long_build(p_batches integer)
LANGUAGE sql
AS $$
    INSERT INTO long_batches
    SELECT b, jsonb_agg(jsonb_build_object(
                  'id', d, 'data', 'ping', 'isLast', false,
                  'ts', to_char(timestamptz '2026-01-01 00:00:00+00'
                                  + (b * 10 + t) * interval '10 seconds',
                                'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                  'battery', 100 - (b * 10 + t) / 100, 'rssi', -60 - d % 20)
                ORDER BY t, d)
      FROM generate_series(0, p_batches - 1) b, generate_series(0, 9) t,
           generate_series(1, 100) d
     GROUP BY b;
$$;

-- long_measure(contender): feed every batch, one transaction each, and
-- record each batch's latency (the statement and its COMMIT).
CREATE PROCEDURE long_measure(p_contender text)
LANGUAGE plpgsql
AS $$
DECLARE
    v_n   bigint;
    v_t0  timestamptz;
    r     record;
BEGIN
    FOR r IN SELECT b FROM long_batches ORDER BY b LOOP
        v_t0 := clock_timestamp();
        IF p_contender = 'plain' THEN
            SELECT count(*) INTO v_n
              FROM long_batches l, plain_batch(l.events, 'long', l.b) WHERE l.b = r.b;
        ELSE
            SELECT count(*) INTO v_n
              FROM long_batches l, sessionize.sessionize_batch('long', l.events, 'long', l.b)
             WHERE l.b = r.b;
        END IF;
        IF v_n <> 0 THEN
            RAISE EXCEPTION 'a session finished in batch %', r.b;
        END IF;
        COMMIT;
        INSERT INTO long_lat
        VALUES (p_contender, r.b, extract(epoch FROM clock_timestamp() - v_t0) * 1000);
        COMMIT;
    END LOOP;
END
$$;

-- The sessions at the end of the stream, flushed, for the check.
CREATE TABLE long_flushed (
    contender      text,
    key            text,
    session_start  timestamptz,
    session_end    timestamptz,
    event_count    integer,
    events_md5     text
);
