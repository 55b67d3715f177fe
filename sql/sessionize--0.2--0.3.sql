/* sessionize--0.2--0.3.sql: from 0.2 to 0.3 (ALTER EXTENSION sessionize UPDATE) */

\echo Use "ALTER EXTENSION sessionize UPDATE TO '0.3'" to load this file. \quit

/*
 * 0.3 runs no code of a caller with the extension owner's privileges.  The
 * C functions work as their caller and use the owner only for the rows of
 * sessionize.streams and sessionize.offsets and for creating and dropping
 * a stream's tables (see src/catalog.c).  A stream's state and chunk
 * tables now belong to the role that owns the stream, like any table it
 * creates: what PostgreSQL runs as a table's owner (ANALYZE, VACUUM FULL,
 * REINDEX, autovacuum) then runs as that role.  The extension is marked
 * trusted, so a database owner may install it.
 *
 * The deadline column of a state table becomes a lazy timer (see
 * src/state.c): an update that extends a session leaves it, and so can be
 * HOT; the tables keep 20 % of each page free for that (fillfactor 80).
 *
 * From here on a stream's owner may add triggers and rules to its tables:
 * a later update script must not run DML on them as the superuser that
 * runs the script (SET ROLE to the table's owner first).
 */

/* _create_stream as in 0.2, the stream's tables then given to its owner. */
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
    /* room in each page for the new version of a session a batch extends (HOT) */
    EXECUTE format('ALTER TABLE sessionize.%I SET (fillfactor = 80)', v_table);
    EXECUTE format('COMMENT ON TABLE sessionize.%I IS %L',
                   v_table, 'open sessions of sessionize stream ' || quote_literal(p_stream));
    PERFORM sessionize._chunk_table(v_table);
    PERFORM sessionize._give_tables(v_table, p_owner);
END
$$;

/*
 * _give_tables: a stream's state and chunk tables (with their indexes) to
 * the role that owns the stream.
 */
CREATE FUNCTION sessionize._give_tables(p_state_table name, p_owner regrole)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    EXECUTE format('ALTER TABLE sessionize.%I OWNER TO %I',
                   p_state_table, pg_get_userbyid(p_owner));
    EXECUTE format('ALTER TABLE sessionize.%I OWNER TO %I',
                   p_state_table || '_chunks', pg_get_userbyid(p_owner));
END
$$;
REVOKE ALL ON FUNCTION sessionize._give_tables(name, regrole) FROM PUBLIC;

/*
 * The streams there are now.  A stream whose owning role was dropped (0.2
 * kept no dependency on it) keeps its tables with the extension's owner;
 * only a superuser can use such a stream, as before.
 */
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT s.state_table, s.owner
               FROM sessionize.streams s
              WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_roles a WHERE a.oid = s.owner)
              ORDER BY s.stream_id LOOP
        PERFORM sessionize._give_tables(r.state_table, r.owner);
    END LOOP;
    FOR r IN SELECT s.state_table FROM sessionize.streams s ORDER BY s.stream_id LOOP
        EXECUTE format('ALTER TABLE sessionize.%I SET (fillfactor = 80)', r.state_table);
    END LOOP;
END
$$;
