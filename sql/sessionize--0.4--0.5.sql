/* sessionize--0.4--0.5.sql: from 0.4 to 0.5 (ALTER EXTENSION sessionize UPDATE) */

\echo Use "ALTER EXTENSION sessionize UPDATE TO '0.5'" to load this file. \quit

/*
 * 0.5: each event written once.
 *
 * An arrival-order stream with the built-in rules created from 0.5 on has
 * a packed state table (see src/state.c, StateLayout): the columns that
 * an event changes sit next to its events, which are kept newest first in
 * a bytea, so that PostgreSQL logs an extended session's update by the new
 * event alone.  Streams created before keep their tables and go on as
 * they were; event-time and custom-state streams keep the layout they had.
 * This script changes no table: as 0.3's script says, a stream's owner may
 * have added triggers and rules to its tables.
 */

DROP FUNCTION sessionize._state_tables(name, regtype, regrole, text, boolean);

/*
 * _state_tables: a stream's state and chunk tables, keyed by (key, part)
 * (the state table's key index made by _key_index), given to the role
 * that owns the stream.  The key column has the key type; keys of a
 * collatable type with a deterministic collation are equal exactly when
 * their bytes are, whatever that collation, so they are indexed and
 * compared in "C", which compares bytes (far cheaper than a locale).  The
 * tables keep room in their pages for HOT updates: a packed table a
 * third of them, so that an update, a timer move too, mostly finds room
 * for the new version on the old one's page, where PostgreSQL logs only
 * what changed.  WAL bytes an event at fillfactor 80, 65 and 50, in
 * batches of 1,000: 342, 304 and 281 on sessions of 4-8 events, 272, 263
 * and 261 on many users' short ones; the emptier pages cost reads and
 * relation extensions (about a tenth more time at 50 than at 80 here).
 * p_packed: the packed layout (an arrival-order stream with the built-in
 * rules), else rows.
 */
CREATE FUNCTION sessionize._state_tables(p_table name, p_key_type regtype, p_owner regrole,
                                         p_stream text, p_event_time boolean,
                                         p_packed boolean)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_key     text := format_type(p_key_type, NULL);
    v_collate text := '';
BEGIN
    IF EXISTS (SELECT 1 FROM pg_type t JOIN pg_collation c ON c.oid = t.typcollation
                WHERE t.oid = p_key_type AND c.collisdeterministic) THEN
        v_collate := ' COLLATE pg_catalog."C"';
    END IF;
    IF p_packed THEN
        /* the order matters: see src/state.c, StateLayout */
        EXECUTE format(
            'CREATE TABLE sessionize.%I (
                 key          %s%s NOT NULL,
                 part         pg_catalog.int4 NOT NULL DEFAULT 0,
                 first_ts     pg_catalog.timestamptz NOT NULL,
                 chunks       pg_catalog.int4 NOT NULL DEFAULT 0,
                 deadline     pg_catalog.timestamptz,
                 last_ts      pg_catalog.timestamptz NOT NULL,
                 event_count  pg_catalog.int4 NOT NULL,
                 events       pg_catalog.bytea NOT NULL)
             WITH (fillfactor = 65)',
            p_table, v_key, v_collate);
    ELSE
        EXECUTE format(
            'CREATE TABLE sessionize.%I (
                 key          %s%s NOT NULL,
                 first_ts     pg_catalog.timestamptz NOT NULL,
                 last_ts      pg_catalog.timestamptz NOT NULL,
                 deadline     pg_catalog.timestamptz,
                 event_count  pg_catalog.int4 NOT NULL,
                 event_ts     pg_catalog.timestamptz[] NOT NULL,
                 events       pg_catalog.jsonb NOT NULL,
                 chunks       pg_catalog.int4 NOT NULL DEFAULT 0,
                 part         pg_catalog.int4 NOT NULL DEFAULT 0%s)
             WITH (fillfactor = 80)',
            p_table, v_key, v_collate,
            /* event time: a key's open sessions in one row, see src/state.c */
            CASE WHEN p_event_time THEN ',
                 event_last   pg_catalog.bool[] NOT NULL,
                 chunk_last   pg_catalog.timestamptz' ELSE '' END);
    END IF;
    PERFORM sessionize._key_index(p_table, p_key_type);
    IF p_packed THEN
        /* its timers, apart from its rows (see src/state.c, Timers) */
        EXECUTE format(
            'CREATE TABLE sessionize.%I (
                 part  pg_catalog.int4 NOT NULL,
                 due   pg_catalog.timestamptz NOT NULL,
                 keys  %s[]%s NOT NULL,
                 dues  pg_catalog.timestamptz[] NOT NULL)',
            p_table || '_timers', v_key, v_collate);
        EXECUTE format('CREATE INDEX %I ON sessionize.%I (part, due)',
                       p_table || '_timers_due', p_table || '_timers');
    ELSE
        EXECUTE format('CREATE INDEX %I ON sessionize.%I (part, deadline)',
                       p_table || '_deadline', p_table);
    END IF;
    EXECUTE format(
        'CREATE TABLE sessionize.%I (
             key       %s%s NOT NULL,
             seq       pg_catalog.int4 NOT NULL,
             event_ts  pg_catalog.timestamptz[] NOT NULL,
             events    pg_catalog.jsonb NOT NULL,
             part      pg_catalog.int4 NOT NULL DEFAULT 0,
             PRIMARY KEY (key, part, seq))',
        p_table || '_chunks', v_key, v_collate);
    /*
     * lz4 where the server has it.  A packed row stops short of the size
     * at which PostgreSQL compresses (its events move to a chunk first),
     * but a long key may take it there.
     */
    BEGIN
        IF p_packed THEN
            EXECUTE format('ALTER TABLE sessionize.%I ALTER events SET COMPRESSION lz4',
                           p_table);
            EXECUTE format('ALTER TABLE sessionize.%I ALTER keys SET COMPRESSION lz4, '
                           'ALTER dues SET COMPRESSION lz4', p_table || '_timers');
        ELSE
            EXECUTE format('ALTER TABLE sessionize.%I ALTER events SET COMPRESSION lz4, '
                           'ALTER event_ts SET COMPRESSION lz4', p_table);
        END IF;
        EXECUTE format('ALTER TABLE sessionize.%I ALTER events SET COMPRESSION lz4, '
                       'ALTER event_ts SET COMPRESSION lz4', p_table || '_chunks');
    EXCEPTION WHEN feature_not_supported THEN
        NULL;
    END;
    EXECUTE format('COMMENT ON TABLE sessionize.%I IS %L', p_table,
                   'open sessions of sessionize stream ' || quote_literal(p_stream));
    EXECUTE format('COMMENT ON TABLE sessionize.%I IS %L', p_table || '_chunks',
                   'older events of the long open sessions of sessionize stream '
                   || quote_literal(p_stream));
    IF p_packed THEN
        EXECUTE format('COMMENT ON TABLE sessionize.%I IS %L', p_table || '_timers',
                       'timers of the open sessions of sessionize stream '
                       || quote_literal(p_stream));
    END IF;
    PERFORM sessionize._give_tables(p_table, p_owner);
END
$$;

REVOKE ALL ON FUNCTION sessionize._state_tables(name, regtype, regrole, text, boolean, boolean)
    FROM PUBLIC;
COMMENT ON FUNCTION sessionize._state_tables(name, regtype, regrole, text, boolean, boolean) IS
    'internal: create a stream''s state and chunk tables for its owner (packed: the layout of an arrival-order stream with the built-in rules)';

/*
 * _create_stream: the catalog half of create_stream(), run as the
 * extension owner by the C function, which has already checked every
 * setting as the caller.  Inserts the stream and a row per partition, and
 * creates its tables for its owner.
 */
CREATE OR REPLACE FUNCTION sessionize._create_stream(
    p_owner regrole, p_stream text, p_key_type regtype, p_gap interval,
    p_max_duration interval, p_max_events integer, p_lateness interval,
    p_key_field text, p_ts_field text, p_last_field text, p_sink regclass,
    p_update_function text, p_partitions integer, p_max_future interval, p_ts_unit text,
    p_dead_letter regclass, p_time_zone text, p_mode text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_id      bigint;
    v_table   name;
BEGIN
    v_id := nextval('sessionize.streams_stream_id_seq');
    v_table := 'state_' || v_id;
    BEGIN
        INSERT INTO sessionize.streams
               (stream_id, name, owner, key_type, gap, max_duration, max_events,
                lateness, key_field, ts_field, last_field, sink, state_table,
                update_function, partitions, max_future, ts_unit, dead_letter, time_zone,
                mode)
        VALUES (v_id, p_stream, p_owner, p_key_type, p_gap, p_max_duration,
                p_max_events, p_lateness, p_key_field, p_ts_field, p_last_field,
                p_sink, v_table, p_update_function, p_partitions, p_max_future, p_ts_unit,
                p_dead_letter, p_time_zone, p_mode);
    EXCEPTION WHEN unique_violation THEN
        /* created by a concurrent create_stream since the caller looked */
        RAISE EXCEPTION 'stream "%" already exists', p_stream
            USING ERRCODE = 'duplicate_object',
                  HINT = 'Drop it first with sessionize.drop_stream(), or choose another name.';
    END;
    INSERT INTO sessionize.partitions (stream_id, part)
    SELECT v_id, p FROM generate_series(0, p_partitions - 1) AS p;
    PERFORM sessionize._state_tables(v_table, p_key_type, p_owner, p_stream,
                                     p_mode OPERATOR(pg_catalog.=) 'event_time',
                                     p_mode OPERATOR(pg_catalog.<>) 'event_time'
                                     AND p_update_function IS NULL
                                     AND (SELECT t.typarray FROM pg_catalog.pg_type t
                                           WHERE t.oid OPERATOR(pg_catalog.=) p_key_type)
                                         OPERATOR(pg_catalog.<>) 0);
END
$$;

/*
 * _give_tables: a stream's tables (with their indexes) to the role that
 * owns the stream: its state and chunk tables, and a packed stream's
 * timer table.
 */
CREATE OR REPLACE FUNCTION sessionize._give_tables(p_state_table name, p_owner regrole)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    EXECUTE format('ALTER TABLE sessionize.%I OWNER TO %I',
                   p_state_table, pg_get_userbyid(p_owner));
    EXECUTE format('ALTER TABLE sessionize.%I OWNER TO %I',
                   p_state_table || '_chunks', pg_get_userbyid(p_owner));
    IF to_regclass(format('sessionize.%I', p_state_table || '_timers')) IS NOT NULL THEN
        EXECUTE format('ALTER TABLE sessionize.%I OWNER TO %I',
                       p_state_table || '_timers', pg_get_userbyid(p_owner));
    END IF;
END
$$;

/*
 * _drop_stream: as in 0.4, and a packed stream's timer table too.  A
 * stream's tables are its owner's, who may have made one a view (see
 * _oldest_open_session): each is dropped as what it is.
 */
CREATE OR REPLACE FUNCTION sessionize._drop_stream(p_stream_id bigint)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_table name;
    r       record;
BEGIN
    DELETE FROM sessionize.streams WHERE stream_id OPERATOR(pg_catalog.=) p_stream_id
    RETURNING state_table INTO v_table;
    FOR r IN SELECT c.oid::pg_catalog.regclass AS rel, c.relkind
               FROM pg_class c
              WHERE c.relnamespace OPERATOR(pg_catalog.=) 'sessionize'::pg_catalog.regnamespace
                AND c.relname OPERATOR(pg_catalog.=)
                    ANY (ARRAY[v_table, v_table || '_chunks', v_table || '_timers']::name[])
    LOOP
        EXECUTE format('DROP %s IF EXISTS %s',
                       CASE r.relkind WHEN 'v' THEN 'VIEW' ELSE 'TABLE' END, r.rel);
    END LOOP;
END
$$;

/*
 * sessions(..., tiebreak): ties in ts taken by tiebreak (NULL last), then
 * in input order, so that a backfill needs no ORDER BY inside the call
 * (which makes PostgreSQL 15 sort every group's events a second time).
 */
CREATE FUNCTION sessionize._sessions_add(internal, timestamptz, boolean, jsonb, interval,
                                         interval, integer, bigint)
RETURNS internal
AS 'MODULE_PATHNAME', 'sessionize_sessions_add'
LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;

CREATE AGGREGATE sessionize.sessions(ts timestamptz, is_last boolean, payload jsonb,
                                     gap interval, max_duration interval,
                                     max_events integer, tiebreak bigint) (
    SFUNC = sessionize._sessions_add,
    STYPE = internal,
    SSPACE = 2048,
    FINALFUNC = sessionize._sessions_final,
    FINALFUNC_MODIFY = READ_ONLY
);

COMMENT ON AGGREGATE sessionize.sessions(timestamptz, boolean, jsonb, interval, interval, integer,
                                         bigint) IS
    'the sessions of one key''s events (GROUP BY key), with gap, max_duration and max_events, ties in ts by tiebreak: for backfill';
COMMENT ON FUNCTION sessionize._sessions_add(internal, timestamptz, boolean, jsonb, interval,
                                             interval, integer, bigint) IS
    'transition function of sessionize.sessions';
