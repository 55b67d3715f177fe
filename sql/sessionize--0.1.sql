/* sessionize--0.1.sql: the catalog and the API of sessionize 0.1 */

\echo Use "CREATE EXTENSION sessionize" to load this file. \quit

/*
 * Everything lives in schema sessionize, created here (not by the control
 * file) so that it belongs to the extension: DROP EXTENSION then refuses
 * to drop the streams' state tables unless told CASCADE.
 */
CREATE SCHEMA sessionize;
GRANT USAGE ON SCHEMA sessionize TO PUBLIC;

/*
 * The catalog of streams: settings, the watermark and the counters behind
 * the stats view.  One row per stream; its open sessions live in the
 * table named by state_table (see _create_stream below).
 */
CREATE TABLE sessionize.streams (
    stream_id            bigserial PRIMARY KEY,
    name                 text NOT NULL UNIQUE,
    owner                regrole NOT NULL,
    key_type             regtype NOT NULL,
    gap                  interval,
    max_duration         interval,
    max_events           integer,
    lateness             interval NOT NULL,
    key_field            text NOT NULL,
    ts_field             text NOT NULL,
    last_field           text NOT NULL,
    sink                 regclass,
    state_table          name NOT NULL,
    watermark            timestamptz,
    update_function      text,
    events_in            bigint NOT NULL DEFAULT 0,
    late_events          bigint NOT NULL DEFAULT 0,
    batches              bigint NOT NULL DEFAULT 0,
    sessions_open        bigint NOT NULL DEFAULT 0,
    closed_gap           bigint NOT NULL DEFAULT 0,
    closed_max_duration  bigint NOT NULL DEFAULT 0,
    closed_max_events    bigint NOT NULL DEFAULT 0,
    closed_last          bigint NOT NULL DEFAULT 0,
    closed_flush         bigint NOT NULL DEFAULT 0,
    created_at           timestamptz NOT NULL DEFAULT pg_catalog.now()
);

/* The last batch offset committed per (stream, source): exactly-once. */
CREATE TABLE sessionize.offsets (
    stream_id         bigint NOT NULL
                      REFERENCES sessionize.streams ON DELETE CASCADE,
    source            text NOT NULL,
    committed_offset  bigint NOT NULL,
    committed_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (stream_id, source)
);

/* pg_dump keeps the catalog; the state tables are ordinary tables. */
SELECT pg_catalog.pg_extension_config_dump('sessionize.streams', '');
SELECT pg_catalog.pg_extension_config_dump('sessionize.streams_stream_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('sessionize.offsets', '');

/*
 * A role sees the rows of the streams it owns (or is a member of the
 * owner of).  Writes go through the functions below only.
 */
ALTER TABLE sessionize.streams ENABLE ROW LEVEL SECURITY;
ALTER TABLE sessionize.offsets ENABLE ROW LEVEL SECURITY;
CREATE POLICY streams_owner ON sessionize.streams
    USING (pg_catalog.pg_has_role(owner, 'USAGE'));
CREATE POLICY offsets_owner ON sessionize.offsets
    USING (EXISTS (SELECT 1 FROM sessionize.streams s
                    WHERE s.stream_id = offsets.stream_id));
REVOKE ALL ON sessionize.streams, sessionize.offsets FROM PUBLIC;
GRANT SELECT ON sessionize.streams, sessionize.offsets TO PUBLIC;

/*
 * _create_stream: the catalog half of create_stream(), run as the
 * extension owner by the C function, which has already checked every
 * setting (intervals, max_events, field names, the key type, the sink,
 * that the name is free).
 * Inserts the stream and creates its state table: one row per open
 * session, the key unique, the timeout deadline indexed.
 */
CREATE FUNCTION sessionize._create_stream(
    p_owner regrole, p_stream text, p_key_type regtype, p_gap interval,
    p_max_duration interval, p_max_events integer, p_lateness interval,
    p_key_field text, p_ts_field text, p_last_field text, p_sink regclass,
    p_update_function text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_id      bigint;
    v_table   name;
    v_collate text := '';
BEGIN
    /*
     * Keys of a collatable type with a deterministic collation are equal
     * exactly when their bytes are, whatever that collation: index and
     * compare them in "C", which compares bytes (far cheaper than a locale).
     */
    IF EXISTS (SELECT 1 FROM pg_type t JOIN pg_collation c ON c.oid = t.typcollation
                WHERE t.oid = p_key_type AND c.collisdeterministic) THEN
        v_collate := ' COLLATE pg_catalog."C"';
    END IF;

    v_id := nextval('sessionize.streams_stream_id_seq');
    v_table := 'state_' || v_id;
    BEGIN
        INSERT INTO sessionize.streams
               (stream_id, name, owner, key_type, gap, max_duration, max_events,
                lateness, key_field, ts_field, last_field, sink, state_table,
                update_function)
        VALUES (v_id, p_stream, p_owner, p_key_type, p_gap, p_max_duration,
                p_max_events, p_lateness, p_key_field, p_ts_field, p_last_field,
                p_sink, v_table, p_update_function);
    EXCEPTION WHEN unique_violation THEN
        /* created by a concurrent create_stream since the caller looked */
        RAISE EXCEPTION 'stream "%" already exists', p_stream
            USING ERRCODE = 'duplicate_object',
                  HINT = 'Drop it first with sessionize.drop_stream(), or choose another name.';
    END;

    EXECUTE format(
        'CREATE TABLE sessionize.%I (
             key          %s%s NOT NULL PRIMARY KEY,
             first_ts     pg_catalog.timestamptz NOT NULL,
             last_ts      pg_catalog.timestamptz NOT NULL,
             deadline     pg_catalog.timestamptz,
             event_count  pg_catalog.int4 NOT NULL,
             event_ts     pg_catalog.timestamptz[] NOT NULL,
             events       pg_catalog.jsonb NOT NULL)',
        v_table, format_type(p_key_type, NULL), v_collate);
    /* lz4 where the server has it: sessions are rewritten as they grow */
    BEGIN
        EXECUTE format('ALTER TABLE sessionize.%I ALTER events SET COMPRESSION lz4, '
                       'ALTER event_ts SET COMPRESSION lz4', v_table);
    EXCEPTION WHEN feature_not_supported THEN
        NULL;
    END;
    EXECUTE format('CREATE INDEX %I ON sessionize.%I (deadline)',
                   v_table || '_deadline', v_table);
    EXECUTE format('COMMENT ON TABLE sessionize.%I IS %L',
                   v_table, 'open sessions of sessionize stream ' || quote_literal(p_stream));
END
$$;

/* _drop_stream: the catalog half of drop_stream(), run as the extension owner. */
CREATE FUNCTION sessionize._drop_stream(p_stream_id bigint)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_table name;
BEGIN
    DELETE FROM sessionize.streams WHERE stream_id = p_stream_id
    RETURNING state_table INTO v_table;
    EXECUTE format('DROP TABLE IF EXISTS sessionize.%I', v_table);
END
$$;

REVOKE ALL ON FUNCTION sessionize._create_stream(regrole, text, regtype, interval, interval,
    integer, interval, text, text, text, regclass, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION sessionize._drop_stream(bigint) FROM PUBLIC;

/*
 * What a custom state's update function returns: the key's new state
 * (NULL ends it) and an output for the caller (NULL for none).
 */
CREATE TYPE sessionize.state_update AS (state jsonb, output jsonb);

/* ---------------------------------------------------------------- API */

CREATE FUNCTION sessionize.create_stream(
    stream        text,
    key_type      regtype  DEFAULT 'text',
    gap           interval DEFAULT NULL,
    max_duration  interval DEFAULT NULL,
    max_events    integer  DEFAULT NULL,
    lateness      interval DEFAULT '0',
    key_field     text     DEFAULT 'id',
    ts_field      text     DEFAULT 'ts',
    last_field    text     DEFAULT 'isLast',
    sink          regclass DEFAULT NULL,
    update_function regprocedure DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'sessionize_create_stream'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;

CREATE FUNCTION sessionize.drop_stream(stream text)
RETURNS void
AS 'MODULE_PATHNAME', 'sessionize_drop_stream'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;

CREATE FUNCTION sessionize.sessionize_batch(
    stream        text,
    events        jsonb,
    source        text   DEFAULT NULL,
    batch_offset  bigint DEFAULT NULL)
RETURNS TABLE (key text, session_start timestamptz, session_end timestamptz,
               event_count integer, end_reason text, events jsonb)
AS 'MODULE_PATHNAME', 'sessionize_batch_json'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE ROWS 100;

CREATE FUNCTION sessionize.sessionize_batch(
    stream        text,
    keys          anyarray,
    ts            timestamptz[],
    is_last       boolean[],
    payloads      jsonb[],
    source        text   DEFAULT NULL,
    batch_offset  bigint DEFAULT NULL)
RETURNS TABLE (key text, session_start timestamptz, session_end timestamptz,
               event_count integer, end_reason text, events jsonb)
AS 'MODULE_PATHNAME', 'sessionize_batch_arrays'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE ROWS 100;

CREATE FUNCTION sessionize.sessionize_query(
    stream        text,
    query         text,
    source        text   DEFAULT NULL,
    batch_offset  bigint DEFAULT NULL)
RETURNS TABLE (key text, session_start timestamptz, session_end timestamptz,
               event_count integer, end_reason text, events jsonb)
AS 'MODULE_PATHNAME', 'sessionize_batch_query'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE ROWS 100;

CREATE FUNCTION sessionize.expire(stream text, now timestamptz DEFAULT pg_catalog.now())
RETURNS TABLE (key text, session_start timestamptz, session_end timestamptz,
               event_count integer, end_reason text, events jsonb)
AS 'MODULE_PATHNAME', 'sessionize_expire'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE ROWS 100;

CREATE FUNCTION sessionize.flush(stream text)
RETURNS TABLE (key text, session_start timestamptz, session_end timestamptz,
               event_count integer, end_reason text, events jsonb)
AS 'MODULE_PATHNAME', 'sessionize_flush'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE ROWS 100;

CREATE FUNCTION sessionize.open_sessions(stream text)
RETURNS TABLE (key text, session_start timestamptz, session_end timestamptz,
               event_count integer, events jsonb)
AS 'MODULE_PATHNAME', 'sessionize_open_sessions'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL UNSAFE ROWS 1000;

/* The offset last committed for source, NULL if none (a consumer resumes after it). */
CREATE FUNCTION sessionize.committed_offset(stream text, source text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'sessionize_committed_offset'
LANGUAGE C STABLE STRICT PARALLEL UNSAFE;

/*
 * sessions(): one key's events in, its sessions out, with a stream's
 * rules, for backfill in plain SQL (GROUP BY key).  gap, max_duration and
 * max_events are taken from each group's first row.  The last session of
 * a group ends with reason flush.
 */
CREATE TYPE sessionize.session AS (
    session_start  timestamptz,
    session_end    timestamptz,
    event_count    integer,
    end_reason     text,
    events         jsonb
);

CREATE FUNCTION sessionize._sessions_add(internal, timestamptz, boolean, jsonb,
                                         interval, interval, integer)
RETURNS internal
AS 'MODULE_PATHNAME', 'sessionize_sessions_add'
LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;

CREATE FUNCTION sessionize._sessions_add(internal, timestamptz, boolean, jsonb, interval)
RETURNS internal
AS 'MODULE_PATHNAME', 'sessionize_sessions_add'
LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;

CREATE FUNCTION sessionize._sessions_final(internal)
RETURNS sessionize.session[]
AS 'MODULE_PATHNAME', 'sessionize_sessions_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE sessionize.sessions(ts timestamptz, is_last boolean, payload jsonb,
                                     gap interval, max_duration interval,
                                     max_events integer) (
    SFUNC = sessionize._sessions_add,
    STYPE = internal,
    FINALFUNC = sessionize._sessions_final,
    FINALFUNC_MODIFY = READ_WRITE
);

CREATE AGGREGATE sessionize.sessions(ts timestamptz, is_last boolean, payload jsonb,
                                     gap interval) (
    SFUNC = sessionize._sessions_add,
    STYPE = internal,
    FINALFUNC = sessionize._sessions_final,
    FINALFUNC_MODIFY = READ_WRITE
);

/* Per stream: traffic, open and closed sessions by reason, the clock, offsets. */
CREATE VIEW sessionize.stats WITH (security_invoker = true) AS
SELECT s.name AS stream,
       s.events_in,
       s.late_events,
       s.batches,
       s.sessions_open,
       s.closed_gap + s.closed_max_duration + s.closed_max_events
         + s.closed_last + s.closed_flush AS sessions_closed,
       s.closed_gap,
       s.closed_max_duration,
       s.closed_max_events,
       s.closed_last,
       s.closed_flush,
       s.watermark,
       COALESCE((SELECT pg_catalog.jsonb_object_agg(o.source, o.committed_offset
                                                    ORDER BY o.source)
                   FROM sessionize.offsets o
                  WHERE o.stream_id = s.stream_id), '{}') AS offsets
  FROM sessionize.streams s;

GRANT SELECT ON sessionize.stats TO PUBLIC;
