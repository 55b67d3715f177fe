/* sessionize_proxy--0.6.sql: sessionize over several nodes, through PL/Proxy */

\echo Use "CREATE EXTENSION sessionize_proxy" to load this file. \quit

/*
 * A proxy database: the functions of sessionize, with the same names and
 * arguments, each run by PL/Proxy on the nodes of cluster 'sessionize'
 * (a foreign server of that name, options p0 .. pN-1, N a power of two,
 * each a node's connection string).  Each node is an ordinary database
 * with sessionize 0.6 or later.  See doc/nodes.md.
 *
 * Routing:
 *   - a call that names a stream partition p runs on the node of cluster
 *     partition p & (N - 1) (RUN ON p): the three batch forms, expire,
 *     flush, set_offset with a partition;
 *   - a typed batch without a partition is split by its keys' hashes
 *     (SPLIT ... RUN ON hashes), each node's part applied there by
 *     sessionize._cluster_batch;
 *   - the rest runs once on each node (SPLIT over the cluster's
 *     partitions: PL/Proxy sends the partitions of one connection string
 *     as one call), and reads come back with a node column.
 */

CREATE SCHEMA sessionize;
GRANT USAGE ON SCHEMA sessionize TO PUBLIC;

/* ------------------------------------------------------------- the cluster */

/*
 * _cluster: the cluster's partitions and their connection strings, from
 * the foreign server sessionize (PL/Proxy's SQL/MED form); the node label
 * is the connection string without its password.
 */
CREATE FUNCTION sessionize._cluster(OUT part integer, OUT node text)
RETURNS SETOF record
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT substr(o.option_name, 2)::integer,
           btrim(regexp_replace(o.option_value, '\s*password\s*=\s*\S+', '', 'g'))
      FROM pg_foreign_server s,
           pg_options_to_table(s.srvoptions) o
     WHERE s.srvname = 'sessionize' AND o.option_name ~ '^p[0-9]+$'
     ORDER BY 1
$$;

/* _cluster_size: N, the cluster's partitions; an error when there is no cluster. */
CREATE FUNCTION sessionize._cluster_size()
RETURNS integer
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_n integer;
BEGIN
    SELECT count(*) INTO v_n FROM sessionize._cluster();
    IF v_n = 0 THEN
        RAISE EXCEPTION 'the cluster "sessionize" has no partitions'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'CREATE SERVER sessionize FOREIGN DATA WRAPPER plproxy OPTIONS (p0 ''host=... dbname=...'', p1 ...), a power of two of them.';
    END IF;
    RETURN v_n;
END
$$;

/* _parts, _labels: the arguments that make a call run once on each node. */
CREATE FUNCTION sessionize._parts()
RETURNS integer[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT array_agg(c.part ORDER BY c.part) FROM sessionize._cluster() c $$;

CREATE FUNCTION sessionize._labels()
RETURNS text[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT array_agg(c.node ORDER BY c.part) FROM sessionize._cluster() c $$;

/* --------------------------------------------------------------- streams */

CREATE FUNCTION sessionize._create_stream(
    parts integer[], labels text[], stream text, key_type text, gap interval,
    max_duration interval, max_events integer, lateness interval, key_field text,
    ts_field text, last_field text, sink text, update_function text,
    partitions integer, max_future interval, ts_unit text, dead_letter text,
    time_zone text, mode text, source_idle interval)
RETURNS SETOF text
LANGUAGE plproxy
AS $$
    CLUSTER 'sessionize';
    SPLIT parts, labels;
    RUN ON parts;
    SELECT (SELECT l__ FROM unnest(labels) l__ LIMIT 1)
     WHERE CASE WHEN EXISTS (SELECT 1 FROM sessionize.streams s__ WHERE s__.name = stream)
                THEN true
                ELSE (SELECT true FROM sessionize.create_stream(
                          stream, key_type::regtype, gap, max_duration, max_events,
                          lateness, key_field, ts_field, last_field, sink::regclass,
                          update_function, partitions, max_future, ts_unit,
                          dead_letter::regclass, time_zone, mode, source_idle)) END;
$$;

/*
 * create_stream: the stream on every node, with the same settings (a node
 * that has a stream of that name already keeps it: running it again after
 * a node failed completes the others).  partitions defaults to the
 * cluster's, so that routing by key works; sink and dead_letter name
 * tables of the nodes.
 */
CREATE FUNCTION sessionize.create_stream(
    stream        text,
    key_type      text     DEFAULT 'text',
    gap           interval DEFAULT NULL,
    max_duration  interval DEFAULT NULL,
    max_events    integer  DEFAULT NULL,
    lateness      interval DEFAULT '0',
    key_field     text     DEFAULT 'id',
    ts_field      text     DEFAULT 'ts',
    last_field    text     DEFAULT 'isLast',
    sink          text     DEFAULT NULL,
    update_function text   DEFAULT NULL,
    partitions    integer  DEFAULT NULL,
    max_future    interval DEFAULT '0',
    ts_unit       text     DEFAULT 's',
    dead_letter   text     DEFAULT NULL,
    time_zone     text     DEFAULT 'UTC',
    mode          text     DEFAULT 'arrival',
    source_idle   interval DEFAULT '5 minutes')
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT count(*) FROM sessionize._create_stream(
        sessionize._parts(), sessionize._labels(), $1, $2, $3, $4, $5, $6, $7, $8, $9,
        $10, $11, coalesce($12, sessionize._cluster_size()), $13, $14, $15, $16, $17, $18);
    SELECT;
$$;

CREATE FUNCTION sessionize._drop_stream(parts integer[], labels text[], stream text)
RETURNS SETOF text
LANGUAGE plproxy
AS $$
    CLUSTER 'sessionize';
    SPLIT parts, labels;
    RUN ON parts;
    SELECT (SELECT l__ FROM unnest(labels) l__ LIMIT 1)
     WHERE CASE WHEN NOT EXISTS (SELECT 1 FROM sessionize.streams s__ WHERE s__.name = stream)
                THEN true
                ELSE (SELECT true FROM sessionize.drop_stream(stream)) END;
$$;

/* drop_stream: the stream on every node (one that has none is skipped). */
CREATE FUNCTION sessionize.drop_stream(stream text)
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT count(*) FROM sessionize._drop_stream(sessionize._parts(), sessionize._labels(), $1);
    SELECT;
$$;

/*
 * alter_stream: the setting on every node, in the type given (smallint and
 * integer as bigint, as a node takes them alike).
 */
DO $do$
DECLARE
    v_type text;
    v_sent text;
BEGIN
    FOR v_type IN VALUES ('text'), ('bigint'), ('interval'), ('timestamptz') LOOP
        EXECUTE format($f$
            CREATE FUNCTION sessionize._alter_stream(parts integer[], labels text[], stream text,
                                                     setting text, value %1$s)
            RETURNS SETOF text LANGUAGE plproxy AS $$
                CLUSTER 'sessionize'; SPLIT parts, labels; RUN ON parts;
                SELECT (SELECT l__ FROM unnest(labels) l__ LIMIT 1)
                  FROM sessionize.alter_stream(stream, setting, value::%1$s) a__;
            $$;
        $f$, v_type);
    END LOOP;
    FOR v_type, v_sent IN VALUES ('text', 'text'), ('smallint', 'bigint'), ('integer', 'bigint'),
                                 ('bigint', 'bigint'), ('interval', 'interval'),
                                 ('timestamptz', 'timestamptz') LOOP
        EXECUTE format($f$
            CREATE FUNCTION sessionize.alter_stream(stream text, setting text, value %1$s)
            RETURNS void LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
                SELECT count(*) FROM sessionize._alter_stream(
                    sessionize._parts(), sessionize._labels(), $1, $2, $3::%2$s);
                SELECT;
            $$;
        $f$, v_type, v_sent);
    END LOOP;
END
$do$;

/* streams: the streams of the node of cluster partition 0 (all nodes have the same). */
CREATE FUNCTION sessionize._streams(
    OUT name text, OUT key_type text, OUT gap interval, OUT max_duration interval,
    OUT max_events integer, OUT lateness interval, OUT partitions integer, OUT mode text,
    OUT sink text, OUT created_at timestamptz)
RETURNS SETOF record
LANGUAGE plproxy
AS $$
    CLUSTER 'sessionize';
    RUN ON 0;
    SELECT s__.name, s__.key_type::text AS key_type, s__.gap, s__.max_duration,
           s__.max_events, s__.lateness, s__.partitions, s__.mode, s__.sink::text AS sink,
           s__.created_at
      FROM sessionize.streams s__;
$$;
CREATE VIEW sessionize.streams AS SELECT * FROM sessionize._streams();

/* --------------------------------------------------------------- batches */

/* The JSON form: on the node of its partition (0 unless given). */
CREATE FUNCTION sessionize.sessionize_batch(
    stream        text,
    events        jsonb,
    source        text    DEFAULT NULL,
    batch_offset  bigint  DEFAULT NULL,
    "partition"   integer DEFAULT 0,
    first_offset  bigint  DEFAULT NULL)
RETURNS TABLE (key text, session_start timestamptz, session_end timestamptz,
               event_count integer, end_reason text, events jsonb)
LANGUAGE plproxy
AS $$
    CLUSTER 'sessionize';
    RUN ON $5;
$$;

/* The query form: on the node of its partition; the query runs there. */
CREATE FUNCTION sessionize.sessionize_query(
    stream        text,
    query         text,
    source        text    DEFAULT NULL,
    batch_offset  bigint  DEFAULT NULL,
    "partition"   integer DEFAULT 0,
    first_offset  bigint  DEFAULT NULL,
    params        jsonb   DEFAULT NULL)
RETURNS TABLE (key text, session_start timestamptz, session_end timestamptz,
               event_count integer, end_reason text, events jsonb)
LANGUAGE plproxy
AS $$
    CLUSTER 'sessionize';
    RUN ON $5;
$$;

/*
 * The typed form, for keys of type text, bigint, integer and uuid (a
 * proxy function has fixed types).  With a partition, on that partition's
 * node.  Without (the default here), split by key: each event goes to the
 * node of its key's hash, with its own offset, so that exactly once holds
 * however a feeder cuts its batches when it sends again (a node skips the
 * events it has committed).  offsets may be left out when first_offset
 * and batch_offset span the batch's events one by one.  Every node gets
 * the call, with no event if none of its keys came, so that each commits
 * batch_offset: committed_offset moves on everywhere.
 */
DO $do$
DECLARE
    v_type text;
    v_hash text;
BEGIN
    FOR v_type, v_hash IN VALUES ('text', 'hashtext'), ('bigint', 'hashint8'),
                                 ('integer', 'hashint4'), ('uuid', 'uuid_hash') LOOP
        EXECUTE format($f$
            CREATE FUNCTION sessionize._batch_on_partition(
                stream text, keys %1$s[], ts timestamptz[], is_last boolean[],
                payloads jsonb[], source text, batch_offset bigint, part integer,
                first_offset bigint, offsets bigint[])
            RETURNS TABLE (key text, session_start timestamptz, session_end timestamptz,
                           event_count integer, end_reason text, events jsonb)
            LANGUAGE plproxy
            AS $$
                CLUSTER 'sessionize';
                RUN ON part;
                TARGET sessionize.sessionize_batch;
            $$;

            CREATE FUNCTION sessionize._batch_by_key(
                stream text, keys %1$s[], ts timestamptz[], is_last boolean[],
                payloads jsonb[], source text, offsets bigint[], hashes integer[],
                batch_offset bigint, cluster_partitions integer)
            RETURNS TABLE (key text, session_start timestamptz, session_end timestamptz,
                           event_count integer, end_reason text, events jsonb)
            LANGUAGE plproxy
            AS $$
                CLUSTER 'sessionize';
                SPLIT keys, ts, is_last, payloads, offsets, hashes;
                RUN ON hashes;
                TARGET sessionize._cluster_batch;
            $$;

            CREATE FUNCTION sessionize.sessionize_batch(
                stream        text,
                keys          %1$s[],
                ts            timestamptz[],
                is_last       boolean[],
                payloads      jsonb[],
                source        text     DEFAULT NULL,
                batch_offset  bigint   DEFAULT NULL,
                "partition"   integer  DEFAULT NULL,
                first_offset  bigint   DEFAULT NULL,
                offsets       bigint[] DEFAULT NULL)
            RETURNS TABLE (key text, session_start timestamptz, session_end timestamptz,
                           event_count integer, end_reason text, events jsonb)
            LANGUAGE plpgsql
            SET search_path = pg_catalog, pg_temp
            AS $$
            DECLARE
                v_cluster integer;
                v_n       integer := coalesce(cardinality(keys), 0);
                v_hashes  integer[];
                v_missing integer[];
                v_m       integer;
            BEGIN
                IF "partition" IS NOT NULL THEN
                    RETURN QUERY SELECT * FROM sessionize._batch_on_partition(
                        stream, keys, ts, is_last, payloads, source, batch_offset,
                        "partition", first_offset, offsets);
                    RETURN;
                END IF;
                IF keys IS NULL OR ts IS NULL OR payloads IS NULL THEN
                    RAISE EXCEPTION '%% must not be NULL',
                        CASE WHEN keys IS NULL THEN 'keys' WHEN ts IS NULL THEN 'ts'
                             ELSE 'payloads' END
                        USING ERRCODE = 'null_value_not_allowed',
                              HINT = 'Pass empty arrays for a batch with no events.';
                END IF;
                IF cardinality(ts) <> v_n OR cardinality(payloads) <> v_n
                   OR cardinality(is_last) <> v_n OR cardinality(offsets) <> v_n THEN
                    RAISE EXCEPTION 'the arrays of the batch differ in length: keys has %% elements',
                                    v_n
                        USING ERRCODE = 'array_subscript_error',
                              HINT = 'The arrays are the columns of one batch: element i of each is event i.';
                END IF;
                IF source IS NOT NULL AND offsets IS NULL THEN
                    IF first_offset IS NOT NULL AND batch_offset IS NOT NULL
                       AND batch_offset - first_offset + 1 = v_n THEN
                        offsets := ARRAY(SELECT generate_series(first_offset, batch_offset));
                    ELSE
                        RAISE EXCEPTION 'a batch from source "%%" routed by key needs offsets', source
                            USING ERRCODE = 'invalid_parameter_value',
                                  HINT = 'Give each event''s offset (offsets => ...), or first_offset and batch_offset of consecutive offsets, or the batch''s partition.';
                    END IF;
                ELSIF source IS NULL AND (offsets IS NOT NULL OR batch_offset IS NOT NULL) THEN
                    RAISE EXCEPTION 'offsets and batch_offset need source'
                        USING ERRCODE = 'invalid_parameter_value';
                ELSIF first_offset IS NOT NULL THEN
                    RAISE EXCEPTION 'first_offset and offsets cannot be given together'
                        USING ERRCODE = 'invalid_parameter_value',
                              HINT = 'offsets gives each event''s offset; leave first_offset NULL.';
                END IF;
                IF source IS NOT NULL AND batch_offset IS NULL THEN
                    IF v_n = 0 THEN
                        RAISE EXCEPTION 'a batch with no events and offsets needs batch_offset'
                            USING ERRCODE = 'invalid_parameter_value';
                    END IF;
                    batch_offset := offsets[v_n];
                END IF;
                v_cluster := sessionize._cluster_size();
                v_hashes := ARRAY(SELECT %2$s(k) FROM unnest(keys) WITH ORDINALITY u(k, i)
                                   ORDER BY u.i);
                is_last := coalesce(is_last, array_fill(false, ARRAY[v_n]));
                IF source IS NOT NULL THEN
                    /* a call for every cluster partition: each commits batch_offset */
                    v_missing := ARRAY(SELECT q FROM generate_series(0, v_cluster - 1) q
                                       EXCEPT SELECT h & (v_cluster - 1) FROM unnest(v_hashes) h);
                    v_m := cardinality(v_missing);
                    IF v_m > 0 THEN
                        keys := keys || array_fill(NULL::%1$s, ARRAY[v_m]);
                        ts := ts || array_fill(NULL::timestamptz, ARRAY[v_m]);
                        is_last := is_last || array_fill(NULL::boolean, ARRAY[v_m]);
                        payloads := payloads || array_fill(NULL::jsonb, ARRAY[v_m]);
                        offsets := offsets || array_fill(NULL::bigint, ARRAY[v_m]);
                        v_hashes := v_hashes || v_missing;
                    END IF;
                ELSIF v_n = 0 THEN
                    RETURN;
                END IF;
                RETURN QUERY SELECT * FROM sessionize._batch_by_key(
                    stream, keys, ts, is_last, payloads, source, offsets, v_hashes,
                    batch_offset, v_cluster);
            END
            $$;
        $f$, v_type, v_hash);
    END LOOP;
END
$do$;

/* ----------------------------------------------------------------- clock */

CREATE FUNCTION sessionize._expire_on(stream text, now timestamptz, part integer)
RETURNS TABLE (key text, session_start timestamptz, session_end timestamptz,
               event_count integer, end_reason text, events jsonb)
LANGUAGE plproxy AS $$
    CLUSTER 'sessionize';
    RUN ON part;
    TARGET sessionize.expire;
$$;
CREATE FUNCTION sessionize._expire_all_nodes(parts integer[], stream text, now timestamptz)
RETURNS TABLE (key text, session_start timestamptz, session_end timestamptz,
               event_count integer, end_reason text, events jsonb)
LANGUAGE plproxy AS $$
    CLUSTER 'sessionize';
    SPLIT parts;
    RUN ON parts;
    SELECT b__.key, b__.session_start, b__.session_end, b__.event_count, b__.end_reason,
           b__.events
      FROM sessionize.expire(stream, now, NULL) b__;
$$;

/*
 * expire: the clock of one partition's node, or (partition NULL) of every
 * node, at the proxy's now() unless given: each node has its own clock,
 * which its batches move; one without traffic needs this.
 */
CREATE FUNCTION sessionize.expire(stream text, now timestamptz DEFAULT pg_catalog.now(),
                                  "partition" integer DEFAULT NULL)
RETURNS TABLE (key text, session_start timestamptz, session_end timestamptz,
               event_count integer, end_reason text, events jsonb)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF "partition" IS NOT NULL THEN
        RETURN QUERY SELECT * FROM sessionize._expire_on(stream, now, "partition");
    ELSE
        RETURN QUERY SELECT * FROM sessionize._expire_all_nodes(sessionize._parts(), stream, now);
    END IF;
END
$$;

CREATE FUNCTION sessionize._flush_on(stream text, part integer)
RETURNS TABLE (key text, session_start timestamptz, session_end timestamptz,
               event_count integer, end_reason text, events jsonb)
LANGUAGE plproxy AS $$
    CLUSTER 'sessionize';
    RUN ON part;
    TARGET sessionize.flush;
$$;
CREATE FUNCTION sessionize._flush_all_nodes(parts integer[], stream text)
RETURNS TABLE (key text, session_start timestamptz, session_end timestamptz,
               event_count integer, end_reason text, events jsonb)
LANGUAGE plproxy AS $$
    CLUSTER 'sessionize';
    SPLIT parts;
    RUN ON parts;
    SELECT b__.key, b__.session_start, b__.session_end, b__.event_count, b__.end_reason,
           b__.events
      FROM sessionize.flush(stream, NULL) b__;
$$;

/* flush: one partition's open sessions, or (partition NULL) every node's. */
CREATE FUNCTION sessionize.flush(stream text, "partition" integer DEFAULT NULL)
RETURNS TABLE (key text, session_start timestamptz, session_end timestamptz,
               event_count integer, end_reason text, events jsonb)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF "partition" IS NOT NULL THEN
        RETURN QUERY SELECT * FROM sessionize._flush_on(stream, "partition");
    ELSE
        RETURN QUERY SELECT * FROM sessionize._flush_all_nodes(sessionize._parts(), stream);
    END IF;
END
$$;

CREATE FUNCTION sessionize._expire_all(parts integer[], labels text[], now timestamptz)
RETURNS TABLE (node text, stream text, sessions_closed bigint)
LANGUAGE plproxy AS $$
    CLUSTER 'sessionize';
    SPLIT parts, labels;
    RUN ON parts;
    SELECT (SELECT l__ FROM unnest(labels) l__ LIMIT 1) AS node, e__.stream, e__.sessions_closed
      FROM sessionize.expire_all(now) e__;
$$;

/* expire_all: every node's expire_all(), at the proxy's now() unless given. */
CREATE FUNCTION sessionize.expire_all(now timestamptz DEFAULT pg_catalog.now())
RETURNS TABLE (node text, stream text, sessions_closed bigint)
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT * FROM sessionize._expire_all(sessionize._parts(), sessionize._labels(), $1)
     ORDER BY 2, 1
$$;

/* --------------------------------------------------------------- offsets */

CREATE FUNCTION sessionize._committed(parts integer[], stream text, source text,
                                      cluster_partitions integer)
RETURNS TABLE (kind text, committed bigint)
LANGUAGE plproxy AS $$
    CLUSTER 'sessionize';
    SPLIT parts;
    RUN ON parts;
    SELECT c__.kind, c__.committed
      FROM sessionize._cluster_committed(stream, source, parts, cluster_partitions) c__;
$$;

/*
 * committed_offset: the offset from which a feeder resumes, the least
 * over the nodes: a source fed by partition, where it is; one routed by
 * key, the least of its offsets in every stream partition (NULL while one
 * has none: nothing is committed everywhere yet).
 */
CREATE FUNCTION sessionize.committed_offset(stream text, source text)
RETURNS bigint
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN bool_or(c.kind = 'source') THEN min(c.committed) FILTER (WHERE c.kind = 'source')
                WHEN bool_or(c.committed IS NULL) THEN NULL
                ELSE min(c.committed) END
      FROM sessionize._committed(sessionize._parts(), $1, $2, sessionize._cluster_size()) c
$$;

CREATE FUNCTION sessionize._set_offset_on(stream text, source text, off bigint,
                                          part integer)
RETURNS SETOF integer LANGUAGE plproxy AS $$
    CLUSTER 'sessionize';
    RUN ON part;
    SELECT 1 FROM sessionize.set_offset(stream, source, off, part) s__;
$$;
CREATE FUNCTION sessionize._set_offset_all(parts integer[], stream text, source text,
                                           off bigint, cluster_partitions integer)
RETURNS SETOF integer LANGUAGE plproxy AS $$
    CLUSTER 'sessionize';
    SPLIT parts;
    RUN ON parts;
    SELECT 1 FROM sessionize._cluster_set_offset(stream, source, off, parts,
                                                  cluster_partitions) s__;
$$;

/*
 * set_offset: with a partition, on its node (a new source belongs to it);
 * without, the source's offsets wherever the nodes have them, its
 * per-partition offsets too when it is routed by key.
 */
CREATE FUNCTION sessionize.set_offset(stream text, source text, "offset" bigint,
                                      "partition" integer DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF "partition" IS NOT NULL THEN
        PERFORM count(*) FROM sessionize._set_offset_on(stream, source, "offset", "partition");
    ELSE
        PERFORM count(*) FROM sessionize._set_offset_all(sessionize._parts(), stream, source,
                                                         "offset", sessionize._cluster_size());
    END IF;
END
$$;

/* --------------------------------------------------------------- reading */

CREATE FUNCTION sessionize._open_sessions(parts integer[], labels text[], stream text, key text)
RETURNS TABLE (node text, key text, session_start timestamptz, session_end timestamptz,
               event_count integer, events jsonb, "partition" integer)
LANGUAGE plproxy AS $$
    CLUSTER 'sessionize';
    SPLIT parts, labels;
    RUN ON parts;
    SELECT (SELECT l__ FROM unnest(labels) l__ LIMIT 1) AS node, o__.key, o__.session_start, o__.session_end, o__.event_count,
           o__.events, o__."partition"
      FROM sessionize.open_sessions(stream, key) o__;
$$;

/* open_sessions: every node's, with the node each is on. */
CREATE FUNCTION sessionize.open_sessions(stream text, key text DEFAULT NULL)
RETURNS TABLE (node text, key text, session_start timestamptz, session_end timestamptz,
               event_count integer, events jsonb, "partition" integer)
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT * FROM sessionize._open_sessions(sessionize._parts(), sessionize._labels(), $1, $2)
     ORDER BY 2, 3
$$;

CREATE FUNCTION sessionize._partition_stats(parts integer[], labels text[],
                                            cluster_partitions integer)
RETURNS TABLE (node text, stream text, "partition" integer, events_in bigint,
               late_events bigint, batches bigint, sessions_open bigint,
               sessions_closed bigint, closed_gap bigint, closed_max_duration bigint,
               closed_max_events bigint, closed_last bigint, closed_flush bigint,
               watermark timestamptz, offsets jsonb, future_events bigint,
               batches_skipped bigint, outputs bigint, last_batch_at timestamptz,
               dead_letters bigint, oldest_open_session timestamptz)
LANGUAGE plproxy AS $$
    CLUSTER 'sessionize';
    SPLIT parts, labels;
    RUN ON parts;
    SELECT (SELECT l__ FROM unnest(labels) l__ LIMIT 1) AS node, p__.stream, p__."partition", p__.events_in, p__.late_events,
           p__.batches, p__.sessions_open, p__.sessions_closed, p__.closed_gap,
           p__.closed_max_duration, p__.closed_max_events, p__.closed_last,
           p__.closed_flush, p__.watermark, p__.offsets, p__.future_events,
           p__.batches_skipped, p__.outputs, p__.last_batch_at, p__.dead_letters,
           p__.oldest_open_session
      FROM sessionize._cluster_partitions(parts, cluster_partitions) p__;
$$;

/* partition_stats: each stream partition, on the node that holds it. */
CREATE VIEW sessionize.partition_stats AS
SELECT * FROM sessionize._partition_stats(sessionize._parts(), sessionize._labels(),
                                          sessionize._cluster_size());

/* stats: per stream and node, the sums of the partitions it holds there. */
CREATE VIEW sessionize.stats AS
SELECT g.node, g.stream, g.events_in, g.late_events, g.batches, g.sessions_open,
       g.sessions_closed, g.closed_gap, g.closed_max_duration, g.closed_max_events,
       g.closed_last, g.closed_flush, g.watermark,
       COALESCE((SELECT jsonb_object_agg(o.key, o.value ORDER BY o.key)
                   FROM unnest(g.offsets) x, jsonb_each(x) o), '{}') AS offsets,
       g.future_events, g.batches_skipped, g.outputs, g.last_batch_at, g.dead_letters,
       g.oldest_open_session
  FROM (SELECT ps.node,
               ps.stream,
               sum(ps.events_in)::bigint AS events_in,
               sum(ps.late_events)::bigint AS late_events,
               sum(ps.batches)::bigint AS batches,
               sum(ps.sessions_open)::bigint AS sessions_open,
               sum(ps.sessions_closed)::bigint AS sessions_closed,
               sum(ps.closed_gap)::bigint AS closed_gap,
               sum(ps.closed_max_duration)::bigint AS closed_max_duration,
               sum(ps.closed_max_events)::bigint AS closed_max_events,
               sum(ps.closed_last)::bigint AS closed_last,
               sum(ps.closed_flush)::bigint AS closed_flush,
               min(ps.watermark) AS watermark,
               array_agg(ps.offsets) AS offsets,
               sum(ps.future_events)::bigint AS future_events,
               sum(ps.batches_skipped)::bigint AS batches_skipped,
               sum(ps.outputs)::bigint AS outputs,
               max(ps.last_batch_at) AS last_batch_at,
               sum(ps.dead_letters)::bigint AS dead_letters,
               min(ps.oldest_open_session) AS oldest_open_session
          FROM sessionize.partition_stats ps
         GROUP BY ps.node, ps.stream) g;

CREATE FUNCTION sessionize._sources(parts integer[], labels text[])
RETURNS TABLE (node text, stream text, source text, "partition" integer,
               committed_offset bigint, last_batch_at timestamptz, newest_ts timestamptz,
               idle boolean)
LANGUAGE plproxy AS $$
    CLUSTER 'sessionize';
    SPLIT parts, labels;
    RUN ON parts;
    SELECT (SELECT l__ FROM unnest(labels) l__ LIMIT 1) AS node, s__.stream, s__.source,
           s__."partition", s__.committed_offset, s__.last_batch_at, s__.newest_ts, s__.idle
      FROM sessionize.sources s__;
$$;

/*
 * sources: every node's sources (a partition that moved away keeps none
 * there); a key-routed source S appears once per stream partition, as S#p.
 */
CREATE VIEW sessionize.sources AS
SELECT * FROM sessionize._sources(sessionize._parts(), sessionize._labels());

GRANT SELECT ON sessionize.streams, sessionize.partition_stats, sessionize.stats,
                sessionize.sources TO PUBLIC;
