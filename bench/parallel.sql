-- parallel.sql: feeders at once on the partitions of one stream
-- (bench/run.sh --parallel).  Needs driver.sql's staging table.
--
-- part_batches  the staging events split into two halves by key (as a
--               Kafka producer partitions a topic by key), each half cut
--               in seq order into batches of a size: one row per (size,
--               partition, batch)
-- part_run      the timed feeder of one partition: every batch of its
--               half, each its own transaction

CREATE TABLE part_batches (
    size    integer,
    part    integer,
    b       integer,
    events  jsonb NOT NULL,
    PRIMARY KEY (size, part, b)
);
ALTER TABLE part_batches ALTER events SET STORAGE EXTERNAL;

-- build_part_batches(size): the two halves, cut into batches of size.
CREATE PROCEDURE build_part_batches(p_size integer)
LANGUAGE sql
AS $$
    DELETE FROM part_batches WHERE size = p_size;
    INSERT INTO part_batches (size, part, b, events)
    SELECT p_size, part, (n - 1) / p_size, jsonb_agg(payload ORDER BY seq)
      FROM (SELECT seq, payload, abs(hashtext(key)) % 2 AS part,
                   row_number() OVER (PARTITION BY abs(hashtext(key)) % 2 ORDER BY seq) AS n
              FROM staging) s
     GROUP BY part, (n - 1) / p_size;
$$;

-- part_run(stream, partition, size): feed the partition's batches of that
-- size to its partition of the stream, each batch its own transaction;
-- secs is the loop's elapsed time.
CREATE PROCEDURE part_run(p_stream text, p_part integer, p_size integer,
                          INOUT secs double precision DEFAULT NULL)
LANGUAGE plpgsql
AS $$
DECLARE
    v_nb  integer;
    v_n   bigint;
    v_t0  timestamptz := clock_timestamp();
BEGIN
    SELECT count(*) INTO v_nb FROM part_batches WHERE size = p_size AND part = p_part;
    FOR i IN 0 .. v_nb - 1 LOOP
        SELECT count(*) INTO v_n
          FROM part_batches pb,
               sessionize.sessionize_batch(p_stream, pb.events, 'bench-' || p_part, i + 1, p_part)
         WHERE pb.size = p_size AND pb.part = p_part AND pb.b = i;
        COMMIT;
    END LOOP;
    secs := extract(epoch FROM clock_timestamp() - v_t0);
END
$$;
