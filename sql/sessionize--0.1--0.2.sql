/* sessionize--0.1--0.2.sql: from 0.1 to 0.2 (ALTER EXTENSION sessionize UPDATE) */

\echo Use "ALTER EXTENSION sessionize UPDATE TO '0.2'" to load this file. \quit

/*
 * 0.2 adds alter_stream() and chunks: a long open session keeps its older
 * events in rows of a chunk table, written once, instead of rewriting them
 * all whenever its key is touched.  Each state table gets a column chunks
 * (0 for the sessions open now) and a chunk table; every open session,
 * offset and counter is kept as it is.  A new install runs
 * sessionize--0.1.sql and then this script.
 */

/*
 * _chunk_table: a stream's chunk table, beside its state table: chunk seq
 * of the open session of key holds event_ts and events as a state row
 * does.  The key column is the state table's (type and collation).
 */
CREATE FUNCTION sessionize._chunk_table(p_state_table name)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_table    name := p_state_table || '_chunks';
    v_key_type text;
    v_collate  text := '';
BEGIN
    SELECT format_type(a.atttypid, a.atttypmod),
           CASE WHEN a.attcollation = 'pg_catalog."C"'::regcollation
                THEN ' COLLATE pg_catalog."C"' ELSE '' END
      INTO v_key_type, v_collate
      FROM pg_attribute a
     WHERE a.attrelid = format('sessionize.%I', p_state_table)::regclass
       AND a.attname = 'key';
    EXECUTE format(
        'CREATE TABLE sessionize.%I (
             key       %s%s NOT NULL,
             seq       pg_catalog.int4 NOT NULL,
             event_ts  pg_catalog.timestamptz[] NOT NULL,
             events    pg_catalog.jsonb NOT NULL,
             PRIMARY KEY (key, seq))',
        v_table, v_key_type, v_collate);
    BEGIN
        EXECUTE format('ALTER TABLE sessionize.%I ALTER events SET COMPRESSION lz4, '
                       'ALTER event_ts SET COMPRESSION lz4', v_table);
    EXCEPTION WHEN feature_not_supported THEN
        NULL;
    END;
    EXECUTE format('COMMENT ON TABLE sessionize.%I IS %L', v_table,
                   'older events of the long open sessions in sessionize.' || quote_ident(p_state_table));
END
$$;
REVOKE ALL ON FUNCTION sessionize._chunk_table(name) FROM PUBLIC;

/*
 * The streams there are now: the column, and their chunk tables.  A table
 * created in an extension script would belong to the extension, so that
 * pg_dump would leave it out: the chunk tables are given back, as ordinary
 * tables like the state tables (which create_stream makes outside any
 * script).
 */
DO $$
DECLARE
    v_table name;
BEGIN
    FOR v_table IN SELECT state_table FROM sessionize.streams ORDER BY stream_id LOOP
        EXECUTE format('ALTER TABLE sessionize.%I ADD COLUMN chunks pg_catalog.int4 NOT NULL DEFAULT 0',
                       v_table);
        PERFORM sessionize._chunk_table(v_table);
        EXECUTE format('ALTER EXTENSION sessionize DROP TABLE sessionize.%I',
                       v_table || '_chunks');
    END LOOP;
END
$$;

/* _create_stream as in 0.1, with the chunks column and the chunk table. */
CREATE OR REPLACE FUNCTION sessionize._create_stream(
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
             events       pg_catalog.jsonb NOT NULL,
             chunks       pg_catalog.int4 NOT NULL DEFAULT 0)',
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
    PERFORM sessionize._chunk_table(v_table);
END
$$;

/* _drop_stream: the state table and the chunk table. */
CREATE OR REPLACE FUNCTION sessionize._drop_stream(p_stream_id bigint)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_table name;
BEGIN
    DELETE FROM sessionize.streams WHERE stream_id = p_stream_id
    RETURNING state_table INTO v_table;
    EXECUTE format('DROP TABLE IF EXISTS sessionize.%I, sessionize.%I',
                   v_table, v_table || '_chunks');
END
$$;

/*
 * alter_stream: set one setting of a stream, by name; value is read as
 * the setting's type, and NULL removes the setting.
 */
CREATE FUNCTION sessionize.alter_stream(stream text, setting text, value text)
RETURNS void
AS 'MODULE_PATHNAME', 'sessionize_alter_stream'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;

/*
 * sessions(): the final function no longer sorts the state in place, so
 * it is READ_ONLY.  SSPACE tells the planner what a group's state takes
 * (the default for an internal state, 8kB, made a backfill of 64,000 keys
 * spill its hash aggregate to disk at work_mem = 256MB): about 16 events.
 */
CREATE OR REPLACE AGGREGATE sessionize.sessions(ts timestamptz, is_last boolean, payload jsonb,
                                                gap interval, max_duration interval,
                                                max_events integer) (
    SFUNC = sessionize._sessions_add,
    STYPE = internal,
    SSPACE = 2048,
    FINALFUNC = sessionize._sessions_final,
    FINALFUNC_MODIFY = READ_ONLY
);

CREATE OR REPLACE AGGREGATE sessionize.sessions(ts timestamptz, is_last boolean, payload jsonb,
                                                gap interval) (
    SFUNC = sessionize._sessions_add,
    STYPE = internal,
    SSPACE = 2048,
    FINALFUNC = sessionize._sessions_final,
    FINALFUNC_MODIFY = READ_ONLY
);
