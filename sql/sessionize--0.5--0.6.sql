/* sessionize--0.5--0.6.sql: from 0.5 to 0.6 (ALTER EXTENSION sessionize UPDATE) */

\echo Use "ALTER EXTENSION sessionize UPDATE TO '0.6'" to load this file. \quit

/*
 * 0.6: several nodes.
 *
 * - The typed form takes each event's own offset (offsets bigint[]): the
 *   events at or before the source's committed offset are skipped, the
 *   rest applied, so a feeder may resume anywhere inside a batch, and a
 *   proxy may split a batch by key across nodes.
 * - A partition can move to another node (export_partition,
 *   import_partition, forget_partition; the sessionize-move program runs
 *   them): sessionize.partitions.moved_at marks one that left this node.
 * - The functions sessionize_proxy (a PL/Proxy database in front of the
 *   nodes) calls on a node: _cluster_batch, _cluster_committed,
 *   _cluster_set_offset, _cluster_partitions.
 */

ALTER TABLE sessionize.partitions ADD COLUMN moved_at timestamptz;

/* ----------------------------------------------------- per-event offsets */

DROP FUNCTION sessionize.sessionize_batch(text, anyarray, timestamptz[], boolean[], jsonb[],
                                          text, bigint, integer, bigint);
CREATE FUNCTION sessionize.sessionize_batch(
    stream        text,
    keys          anyarray,
    ts            timestamptz[],
    is_last       boolean[],
    payloads      jsonb[],
    source        text    DEFAULT NULL,
    batch_offset  bigint  DEFAULT NULL,
    "partition"   integer DEFAULT 0,
    first_offset  bigint  DEFAULT NULL,
    offsets       bigint[] DEFAULT NULL)
RETURNS TABLE (key text, session_start timestamptz, session_end timestamptz,
               event_count integer, end_reason text, events jsonb)
AS 'MODULE_PATHNAME', 'sessionize_batch_arrays'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE ROWS 100;
COMMENT ON FUNCTION sessionize.sessionize_batch(text, anyarray, timestamptz[], boolean[], jsonb[],
                                                text, bigint, integer, bigint, bigint[]) IS
    'apply a batch given as arrays (offsets: each event''s own offset in source) and return the sessions it finished';

/* ------------------------------------------------------- partition moves */

/*
 * A partition's move: see src/move.c.  Each locks the partition as a
 * batch does and needs the caller to be the stream's owner (or a member).
 */
CREATE FUNCTION sessionize.export_partition(stream text, "partition" integer)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'sessionize_export_partition'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;

CREATE FUNCTION sessionize.import_partition(stream text, "partition" integer, exported jsonb)
RETURNS void
AS 'MODULE_PATHNAME', 'sessionize_import_partition'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;

CREATE FUNCTION sessionize.forget_partition(stream text, "partition" integer)
RETURNS void
AS 'MODULE_PATHNAME', 'sessionize_forget_partition'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;

COMMENT ON FUNCTION sessionize.export_partition(text, integer) IS
    'lock a partition for its move to another node and return its clock, counters and offsets';
COMMENT ON FUNCTION sessionize.import_partition(text, integer, jsonb) IS
    'take a partition moved from another node: its clock, counters and offsets (the rows are copied apart)';
COMMENT ON FUNCTION sessionize.forget_partition(text, integer) IS
    'delete a partition that moved to another node from this one, and mark it moved';

/* Per partition: as 0.3's view, and when it moved away from this node. */
CREATE OR REPLACE VIEW sessionize.partition_stats WITH (security_invoker = true) AS
SELECT s.name AS stream,
       p.part AS "partition",
       p.events_in,
       p.late_events,
       p.batches,
       p.sessions_open,
       p.closed_gap + p.closed_max_duration + p.closed_max_events
         + p.closed_last + p.closed_flush AS sessions_closed,
       p.closed_gap,
       p.closed_max_duration,
       p.closed_max_events,
       p.closed_last,
       p.closed_flush,
       p.watermark,
       COALESCE((SELECT pg_catalog.jsonb_object_agg(o.source, o.committed_offset
                                                    ORDER BY o.source)
                   FROM sessionize.offsets o
                  WHERE o.stream_id = s.stream_id AND o.part = p.part), '{}') AS offsets,
       p.future_events,
       p.batches_skipped,
       p.outputs,
       p.last_batch_at,
       p.dead_letters,
       sessionize._oldest_open_session(s.state_table, p.part) AS oldest_open_session,
       p.moved_at
  FROM sessionize.streams s
  JOIN sessionize.partitions p ON p.stream_id = s.stream_id;

/* ------------------------------------------------ calls of sessionize_proxy */

/*
 * A stream served by a proxy has its partitions spread over the nodes:
 * stream partition p is on the node of the proxy's cluster partition
 * p & (n - 1), n the cluster's partitions (a power of two).  A batch
 * routed by key comes here with each event's hash (the proxy's hash of
 * its key): its stream partition is hash & (partitions - 1), which lands
 * on that node when the stream's partitions are a power of two, n or
 * more.  The key-routed source S keeps its offset per stream partition p,
 * as source "S#p".  Elements with a NULL offset carry no event: they only
 * tell which cluster partitions the call is for, so that each of their
 * stream partitions commits batch_offset even when it got no event.
 */

/*
 * _cluster_parts: the stream partitions of stream that the cluster
 * partitions of hashes (hash & (n - 1)) hold and (unless with_moved) this
 * node has not given away, in order; NULL when the stream is not the
 * caller's (or does not exist).  A batch takes the moved ones too, so
 * that its call on one is the error that tells to send it again, never a
 * silent skip.
 */
CREATE FUNCTION sessionize._cluster_parts(stream text, hashes integer[],
                                          cluster_partitions integer,
                                          with_moved boolean DEFAULT false)
RETURNS integer[]
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_parts integer;
    v_id    bigint;
BEGIN
    SELECT s.partitions, s.stream_id INTO v_parts, v_id
      FROM sessionize.streams s WHERE s.name = stream;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF cluster_partitions IS NULL OR cluster_partitions < 1
       OR cluster_partitions & (cluster_partitions - 1) <> 0 THEN
        RAISE EXCEPTION 'the cluster has % partitions, not a power of two', cluster_partitions
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Give the foreign server sessionize options p0 to pN-1, N a power of two.';
    END IF;
    RETURN ARRAY(
        SELECT p.part FROM sessionize.partitions p
         WHERE p.stream_id = v_id AND (with_moved OR p.moved_at IS NULL)
           AND p.part & (cluster_partitions - 1) IN
               (SELECT DISTINCT h & (cluster_partitions - 1) FROM unnest(hashes) h)
         ORDER BY p.part);
END
$$;

/*
 * _cluster_batch: a typed batch routed by key (see above).  Each stream
 * partition it touches gets its events as one typed call, in partition
 * order, all in the caller's transaction: the batch is atomic on this
 * node.
 */
CREATE FUNCTION sessionize._cluster_batch(
    stream text, keys anyarray, ts timestamptz[], is_last boolean[], payloads jsonb[],
    source text, offsets bigint[], hashes integer[], batch_offset bigint,
    cluster_partitions integer)
RETURNS TABLE (key text, session_start timestamptz, session_end timestamptz,
               event_count integer, end_reason text, events jsonb)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_parts    integer;
    v_serve    integer[] := sessionize._cluster_parts(stream, hashes, cluster_partitions, true);
    v_p        integer;
    v_keys     keys%TYPE;
    v_ts       timestamptz[];
    v_last     boolean[];
    v_payloads jsonb[];
    v_offsets  bigint[];
    v_n        integer := coalesce(cardinality(hashes), 0);
BEGIN
    IF v_serve IS NULL THEN
        /* not the caller's stream: the batch's own error */
        RETURN QUERY SELECT * FROM sessionize.sessionize_batch(stream, keys, ts, is_last,
                                                                payloads, source, batch_offset);
        RETURN;
    END IF;
    SELECT s.partitions INTO v_parts FROM sessionize.streams s WHERE s.name = stream;
    IF v_parts < cluster_partitions OR v_parts & (v_parts - 1) <> 0 THEN
        RAISE EXCEPTION 'stream "%" cannot be routed by key over a cluster of % partitions',
                        stream, cluster_partitions
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('Its partitions (%s) must be a power of two, %s or more.',
                                  v_parts, cluster_partitions),
                  HINT = format('Create the stream with partitions => %s, or feed it by partition.',
                                cluster_partitions);
    END IF;
    IF coalesce(cardinality(keys), 0) <> v_n OR coalesce(cardinality(ts), 0) <> v_n
       OR coalesce(cardinality(payloads), 0) <> v_n
       OR (is_last IS NOT NULL AND cardinality(is_last) <> v_n)
       OR (offsets IS NOT NULL AND cardinality(offsets) <> v_n) THEN
        RAISE EXCEPTION 'the arrays of a batch routed by key differ in length'
            USING ERRCODE = 'array_subscript_error',
                  HINT = 'The arrays are the columns of one batch: element i of each is event i.';
    END IF;
    /* one pass over the batch: each stream partition's events, in batch order */
    FOR v_p, v_keys, v_ts, v_last, v_payloads, v_offsets IN
        SELECT p.p,
               coalesce(g.g_keys, keys[1:0]), coalesce(g.g_ts, '{}'),
               CASE WHEN is_last IS NOT NULL THEN coalesce(g.g_last, '{}') END,
               coalesce(g.g_payloads, '{}'),
               CASE WHEN offsets IS NOT NULL THEN coalesce(g.g_offsets, '{}') END
          FROM unnest(v_serve) p(p)
          LEFT JOIN (SELECT u.h & (v_parts - 1) AS p,
                            array_agg(u.k ORDER BY u.i) AS g_keys,
                            array_agg(u.t ORDER BY u.i) AS g_ts,
                            array_agg(u.l ORDER BY u.i) AS g_last,
                            array_agg(u.pl ORDER BY u.i) AS g_payloads,
                            array_agg(u.o ORDER BY u.i) AS g_offsets
                       FROM unnest(keys, ts, is_last, payloads, offsets, hashes)
                            WITH ORDINALITY AS u(k, t, l, pl, o, h, i)
                      WHERE u.o IS NOT NULL OR (offsets IS NULL AND u.k IS NOT NULL)
                      GROUP BY 1) g ON g.p = p.p
         ORDER BY p.p
    LOOP
        IF source IS NULL AND cardinality(v_ts) = 0 THEN
            CONTINUE;           /* nothing to apply, no offset to commit */
        END IF;
        RETURN QUERY SELECT * FROM sessionize.sessionize_batch(
            stream, v_keys, v_ts, v_last, v_payloads,
            CASE WHEN source IS NOT NULL THEN source || '#' || v_p END,
            CASE WHEN source IS NOT NULL THEN batch_offset END, v_p, NULL, v_offsets);
    END LOOP;
END
$$;

/*
 * _cluster_committed: what this node has committed of source for the
 * cluster partitions of hashes: ('source', offset) where the source
 * itself is here (fed by partition), and ('key', offset or NULL) for each
 * stream partition of those cluster partitions, its key-routed source's.
 */
CREATE FUNCTION sessionize._cluster_committed(stream text, source text, hashes integer[],
                                              cluster_partitions integer)
RETURNS TABLE (kind text, committed bigint)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT 'source', o.committed_offset
      FROM sessionize.streams s
      JOIN sessionize.offsets o ON o.stream_id = s.stream_id
      JOIN sessionize.partitions p ON p.stream_id = o.stream_id AND p.part = o.part
     WHERE s.name = $1 AND o.source = $2 AND p.moved_at IS NULL
    UNION ALL
    SELECT 'key', (SELECT o.committed_offset
                     FROM sessionize.streams s
                     JOIN sessionize.offsets o ON o.stream_id = s.stream_id
                    WHERE s.name = $1 AND o.source = $2 || '#' || p)
      FROM unnest(sessionize._cluster_parts($1, $3, $4)) p
$$;

/*
 * _cluster_set_offset: set_offset of source where this node has it, for
 * the cluster partitions of hashes: the source itself, and its key-routed
 * offsets of their stream partitions (see above).
 */
CREATE FUNCTION sessionize._cluster_set_offset(stream text, source text, "offset" bigint,
                                               hashes integer[], cluster_partitions integer)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_source text;
BEGIN
    FOR v_source IN
        SELECT o.source
          FROM sessionize.streams s
          JOIN sessionize.offsets o ON o.stream_id = s.stream_id
         WHERE s.name = stream
           AND (o.source = _cluster_set_offset.source
                OR o.source IN (SELECT _cluster_set_offset.source || '#' || p
                                  FROM unnest(sessionize._cluster_parts(stream, hashes,
                                                                        cluster_partitions)) p))
         ORDER BY o.source
    LOOP
        PERFORM sessionize.set_offset(stream, v_source, "offset");
    END LOOP;
END
$$;

/*
 * _cluster_partitions: partition_stats of the stream partitions that the
 * cluster partitions of hashes hold here.
 */
CREATE FUNCTION sessionize._cluster_partitions(hashes integer[], cluster_partitions integer)
RETURNS SETOF sessionize.partition_stats
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ps.* FROM sessionize.partition_stats ps
     WHERE ps.moved_at IS NULL
       AND ps."partition" & ($2 - 1) IN (SELECT DISTINCT h & ($2 - 1) FROM unnest($1) h)
$$;

COMMENT ON FUNCTION sessionize._cluster_parts(text, integer[], integer, boolean) IS
    'internal (sessionize_proxy): the stream partitions this node holds of some cluster partitions';
COMMENT ON FUNCTION sessionize._cluster_batch(text, anyarray, timestamptz[], boolean[], jsonb[],
                                              text, bigint[], integer[], bigint, integer) IS
    'internal (sessionize_proxy): a typed batch routed by key';
COMMENT ON FUNCTION sessionize._cluster_committed(text, text, integer[], integer) IS
    'internal (sessionize_proxy): the offsets this node committed for a source';
COMMENT ON FUNCTION sessionize._cluster_set_offset(text, text, bigint, integer[], integer) IS
    'internal (sessionize_proxy): set_offset of a source where this node has it';
COMMENT ON FUNCTION sessionize._cluster_partitions(integer[], integer) IS
    'internal (sessionize_proxy): partition_stats of the partitions this node holds';
