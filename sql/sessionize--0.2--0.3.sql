/* sessionize--0.2--0.3.sql: from 0.2 to 0.3 (ALTER EXTENSION sessionize UPDATE) */

\echo Use "ALTER EXTENSION sessionize UPDATE TO '0.3'" to load this file. \quit

/*
 * 0.3 runs no code of a caller with the extension owner's privileges.  The
 * C functions work as their caller and use the owner only for the rows of
 * the catalog and for creating and dropping a stream's tables (see
 * src/catalog.c).  A stream's state and chunk tables now belong to the
 * role that owns the stream, like any table it creates: what PostgreSQL
 * runs as a table's owner (ANALYZE, VACUUM FULL, REINDEX, autovacuum) then
 * runs as that role.  The extension is marked trusted, so a database owner
 * may install it.
 *
 * Partitions: a stream is N independent sessionizers under one name
 * (create_stream(..., partitions => N)), each with its own lock, clock,
 * counters, offsets and open sessions; every changing call takes the
 * partition it works on.  The clock and counters move from streams to a
 * row per partition in sessionize.partitions; offsets record their
 * partition; state tables get a column part, in their keys after the key
 * (so that a stream of one partition compares keys as before) and first
 * in the timer index (so that each partition's clock scans its own).  Every
 * stream there is now becomes a stream of one partition, its state intact.
 *
 * The deadline column of a state table becomes a lazy timer (see
 * src/state.c): an update that extends a session leaves it, and so can be
 * HOT; the tables keep 20 % of each page free for that (fillfactor 80).
 *
 * From here on a stream's owner may add triggers and rules to its tables:
 * a later update script must not run DML on them as the superuser that
 * runs the script (SET ROLE to the table's owner first).
 */

/* ------------------------------------------------------------ catalog */

ALTER TABLE sessionize.streams
    ADD COLUMN partitions integer NOT NULL DEFAULT 1 CHECK (partitions BETWEEN 1 AND 1024);

/* The clock and the counters of each partition of a stream. */
CREATE TABLE sessionize.partitions (
    stream_id            bigint NOT NULL
                         REFERENCES sessionize.streams ON DELETE CASCADE,
    part                 integer NOT NULL,
    watermark            timestamptz,
    events_in            bigint NOT NULL DEFAULT 0,
    late_events          bigint NOT NULL DEFAULT 0,
    batches              bigint NOT NULL DEFAULT 0,
    sessions_open        bigint NOT NULL DEFAULT 0,
    closed_gap           bigint NOT NULL DEFAULT 0,
    closed_max_duration  bigint NOT NULL DEFAULT 0,
    closed_max_events    bigint NOT NULL DEFAULT 0,
    closed_last          bigint NOT NULL DEFAULT 0,
    closed_flush         bigint NOT NULL DEFAULT 0,
    future_events        bigint NOT NULL DEFAULT 0,
    batches_skipped      bigint NOT NULL DEFAULT 0,
    outputs              bigint NOT NULL DEFAULT 0,
    last_batch_at        timestamptz,
    timer_floor          timestamptz,
    PRIMARY KEY (stream_id, part)
);
SELECT pg_catalog.pg_extension_config_dump('sessionize.partitions', '');
ALTER TABLE sessionize.partitions ENABLE ROW LEVEL SECURITY;
CREATE POLICY partitions_owner ON sessionize.partitions
    USING (EXISTS (SELECT 1 FROM sessionize.streams s
                    WHERE s.stream_id OPERATOR(pg_catalog.=) partitions.stream_id));
REVOKE ALL ON sessionize.partitions FROM PUBLIC;
GRANT SELECT ON sessionize.partitions TO PUBLIC;

INSERT INTO sessionize.partitions
       (stream_id, part, watermark, events_in, late_events, batches, sessions_open,
        closed_gap, closed_max_duration, closed_max_events, closed_last, closed_flush)
SELECT stream_id, 0, watermark, events_in, late_events, batches, sessions_open,
       closed_gap, closed_max_duration, closed_max_events, closed_last, closed_flush
  FROM sessionize.streams;

DROP VIEW sessionize.stats;
ALTER TABLE sessionize.streams
    DROP COLUMN watermark, DROP COLUMN events_in, DROP COLUMN late_events,
    DROP COLUMN batches, DROP COLUMN sessions_open, DROP COLUMN closed_gap,
    DROP COLUMN closed_max_duration, DROP COLUMN closed_max_events,
    DROP COLUMN closed_last, DROP COLUMN closed_flush;

/* A source belongs to the partition that first committed an offset for it. */
ALTER TABLE sessionize.offsets ADD COLUMN part integer NOT NULL DEFAULT 0;

/*
 * The clock is kept from running ahead of the wall clock: after a batch,
 * the watermark is at most now() + max_future - lateness.  New streams get
 * '0'; the streams there are now keep no limit (NULL), as before, until
 * alter_stream(stream, 'max_future', ...) sets one.  ts_unit: the unit of
 * epoch numbers ('s', 'ms', 'us').
 */
ALTER TABLE sessionize.streams
    ADD COLUMN max_future interval,
    ADD COLUMN ts_unit text NOT NULL DEFAULT 's' CHECK (ts_unit IN ('s', 'ms', 'us'));
ALTER TABLE sessionize.streams ALTER COLUMN max_future SET DEFAULT '0';

/*
 * dead_letter: a table that gets the bad elements of a batch (malformed,
 * uncastable, too long, not finite) while the rest of it is applied;
 * without one, a bad element is the batch's error.  Counted per partition.
 */
ALTER TABLE sessionize.streams ADD COLUMN dead_letter regclass;

/*
 * time_zone: the zone of event times written without an offset (as the
 * TimeZone setting reads them).  New streams get 'UTC'; the streams there
 * are now keep NULL, the connection's TimeZone, as before.
 */
ALTER TABLE sessionize.streams ADD COLUMN time_zone text;
ALTER TABLE sessionize.streams ALTER COLUMN time_zone SET DEFAULT 'UTC';

/*
 * mode: 'arrival' (SPEC 4: one open session per key, in arrival order) or
 * 'event_time' (SPEC 8: session windows that merge, emitted when the
 * watermark makes them final).  Set at creation only.
 */
ALTER TABLE sessionize.streams ADD COLUMN mode text NOT NULL DEFAULT 'arrival'
    CHECK (mode IN ('arrival', 'event_time'));
ALTER TABLE sessionize.partitions ADD COLUMN dead_letters bigint NOT NULL DEFAULT 0;

/* ------------------------------------------------------- state tables */

/*
 * _key_index: give a state table the index its rows are found by, of kind
 * p_kind ('hash' or 'btree'; NULL: the default for its key type), in place
 * of the other.  The default is a hash index on key where the key type (a
 * domain's base type) is a scalar with a default hash operator class
 * (text, bigint, uuid, ...): a probe or an insert reads one bucket page,
 * where a btree descends and compares (see src/state.c).  Otherwise, and
 * on request, a unique btree index on (key, part).  The C code keeps one
 * row per key and partition either way.  Run as the extension's owner by
 * _state_tables (an empty table), by the update from 0.2, and by
 * alter_stream(stream, 'key_index', ...) through catalog.c, under the
 * stream's lock and the table's (taken in C), on a table that belongs to
 * the stream's owner, who may have changed it.  So it locks nothing (LOCK
 * TABLE on a view locks the tables its rules read), checks that it is a
 * table, and only creates and drops indexes, found by what they are, not
 * by name: CREATE INDEX runs the build as the table's owner (and calls
 * only the support functions create_stream checked), and dropping an
 * index runs nothing.  Never ALTER TABLE ... ADD PRIMARY KEY:
 * it would make key and part NOT NULL, which evaluates the table's CHECK
 * constraints, the owner's code, as the extension's owner.
 */
CREATE FUNCTION sessionize._key_index(p_table name, p_key_type regtype, p_kind text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_rel      regclass := format('sessionize.%I', p_table)::regclass;
    v_base     oid := p_key_type;
    v_hashable boolean;
    v_kind     text;
    v_key      int2;
    v_part     int2;
    v_btree    oid;
    v_hash     oid;
    v_drop     oid;
    v_con      name;
BEGIN
    WHILE (SELECT t.typtype FROM pg_type t WHERE t.oid = v_base) = 'd' LOOP
        v_base := (SELECT t.typbasetype FROM pg_type t WHERE t.oid = v_base);
    END LOOP;
    v_hashable := EXISTS (SELECT 1 FROM pg_type t
                           WHERE t.oid = v_base AND t.typtype = 'b' AND t.typcategory <> 'A')
              AND EXISTS (SELECT 1 FROM pg_opclass c JOIN pg_am a ON a.oid = c.opcmethod
                           WHERE a.amname = 'hash' AND c.opcdefault
                             AND (c.opcintype = v_base
                                  OR EXISTS (SELECT 1 FROM pg_cast k
                                              WHERE k.castsource = v_base AND k.casttarget = c.opcintype
                                                AND k.castmethod = 'b')));
    v_kind := coalesce(p_kind, CASE WHEN v_hashable THEN 'hash' ELSE 'btree' END);
    IF v_kind = 'hash' AND NOT v_hashable THEN
        RAISE EXCEPTION 'key type % cannot have a hash key index', p_key_type
              USING ERRCODE = 'feature_not_supported',
                    HINT = 'A hash key index needs a scalar key type with a default hash operator class; this stream keeps the btree.';
    END IF;

    -- alter_stream has locked the table (in C, which follows no view's
    -- rules), so a table now cannot become a view meanwhile
    IF (SELECT c.relkind FROM pg_class c WHERE c.oid = v_rel) <> 'r' THEN
        RAISE EXCEPTION 'sessionize.% is not a table', p_table
              USING ERRCODE = 'wrong_object_type';
    END IF;
    v_key := (SELECT a.attnum FROM pg_attribute a
               WHERE a.attrelid = v_rel AND a.attname = 'key' AND NOT a.attisdropped);
    v_part := (SELECT a.attnum FROM pg_attribute a
                WHERE a.attrelid = v_rel AND a.attname = 'part' AND NOT a.attisdropped);
    SELECT i.indexrelid INTO v_btree
      FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
     WHERE i.indrelid = v_rel AND a.amname = 'btree' AND i.indisunique
       AND i.indnatts = 2 AND i.indkey[0] = v_key AND i.indkey[1] = v_part
       AND i.indexprs IS NULL AND i.indpred IS NULL
     LIMIT 1;
    SELECT i.indexrelid INTO v_hash
      FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
     WHERE i.indrelid = v_rel AND a.amname = 'hash'
       AND i.indnatts = 1 AND i.indkey[0] = v_key
       AND i.indexprs IS NULL AND i.indpred IS NULL
     LIMIT 1;

    IF v_kind = 'hash' THEN
        IF v_hash IS NULL THEN
            EXECUTE format('CREATE INDEX %I ON %s USING hash (key)', p_table || '_key', v_rel);
        END IF;
        v_drop := v_btree;
    ELSE
        IF v_btree IS NULL THEN
            EXECUTE format('CREATE UNIQUE INDEX %I ON %s (key, part)', p_table || '_key_btree', v_rel);
        END IF;
        v_drop := v_hash;
    END IF;
    IF v_drop IS NOT NULL THEN
        -- a primary key of a state table of 0.3's first builds is a constraint
        v_con := (SELECT n.conname FROM pg_constraint n WHERE n.conindid = v_drop AND n.conrelid = v_rel);
        IF v_con IS NOT NULL THEN
            EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', v_rel, v_con);
        ELSE
            EXECUTE format('DROP INDEX %s', v_drop::regclass);
        END IF;
    END IF;
END
$$;

/*
 * _state_tables: a stream's state and chunk tables, keyed by (key, part)
 * (the state table's key index made by _key_index), given to the role
 * that owns the stream.  The key column has the key
 * type; keys of a collatable type with a deterministic collation are equal
 * exactly when their bytes are, whatever that collation, so they are
 * indexed and compared in "C", which compares bytes (far cheaper than a
 * locale).  The tables keep room in their pages for HOT updates.
 */
CREATE FUNCTION sessionize._state_tables(p_table name, p_key_type regtype, p_owner regrole,
                                         p_stream text, p_event_time boolean DEFAULT false)
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
    PERFORM sessionize._key_index(p_table, p_key_type);
    EXECUTE format('CREATE INDEX %I ON sessionize.%I (part, deadline)',
                   p_table || '_deadline', p_table);
    EXECUTE format(
        'CREATE TABLE sessionize.%I (
             key       %s%s NOT NULL,
             seq       pg_catalog.int4 NOT NULL,
             event_ts  pg_catalog.timestamptz[] NOT NULL,
             events    pg_catalog.jsonb NOT NULL,
             part      pg_catalog.int4 NOT NULL DEFAULT 0,
             PRIMARY KEY (key, part, seq))',
        p_table || '_chunks', v_key, v_collate);
    /* lz4 where the server has it: a session's row is rewritten as it grows */
    BEGIN
        EXECUTE format('ALTER TABLE sessionize.%I ALTER events SET COMPRESSION lz4, '
                       'ALTER event_ts SET COMPRESSION lz4', p_table);
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
    PERFORM sessionize._give_tables(p_table, p_owner);
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

/*
 * The streams there are now: their tables given to their owners, then
 * keyed by (key, part) (their state tables by _key_index), all in
 * partition 0.  Given first, so that the new indexes are built as the
 * table's owner (index builds run as it).  A
 * stream whose owning role was dropped (0.2 kept no dependency on it)
 * keeps its tables with the extension's owner; only a superuser can use
 * such a stream, as before.
 */
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT s.state_table, s.owner, s.key_type,
                    EXISTS (SELECT 1 FROM pg_catalog.pg_roles a WHERE a.oid = s.owner) AS owned
               FROM sessionize.streams s ORDER BY s.stream_id LOOP
        IF r.owned THEN
            PERFORM sessionize._give_tables(r.state_table, r.owner);
        END IF;
        EXECUTE format('ALTER TABLE sessionize.%I ADD COLUMN part pg_catalog.int4 NOT NULL DEFAULT 0, '
                       'DROP CONSTRAINT %I, SET (fillfactor = 80)',
                       r.state_table, r.state_table || '_pkey');
        PERFORM sessionize._key_index(r.state_table, r.key_type);
        EXECUTE format('DROP INDEX sessionize.%I', r.state_table || '_deadline');
        EXECUTE format('CREATE INDEX %I ON sessionize.%I (part, deadline)',
                       r.state_table || '_deadline', r.state_table);
        EXECUTE format('ALTER TABLE sessionize.%I ADD COLUMN part pg_catalog.int4 NOT NULL DEFAULT 0, '
                       'DROP CONSTRAINT %I, ADD PRIMARY KEY (key, part, seq)',
                       r.state_table || '_chunks', r.state_table || '_chunks_pkey');
    END LOOP;
END
$$;

/*
 * _create_stream: the catalog half of create_stream(), run as the
 * extension owner by the C function, which has already checked every
 * setting as the caller.  Inserts the stream and a row per partition, and
 * creates its tables for its owner.
 */
DROP FUNCTION sessionize._create_stream(regrole, text, regtype, interval, interval, integer,
                                        interval, text, text, text, regclass, text);
DROP FUNCTION sessionize._chunk_table(name);
CREATE FUNCTION sessionize._create_stream(
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
                                     p_mode OPERATOR(pg_catalog.=) 'event_time');
END
$$;

REVOKE ALL ON FUNCTION sessionize._create_stream(regrole, text, regtype, interval, interval,
    integer, interval, text, text, text, regclass, text, integer, interval, text, regclass, text,
    text)
    FROM PUBLIC;
REVOKE ALL ON FUNCTION sessionize._state_tables(name, regtype, regrole, text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION sessionize._give_tables(name, regrole) FROM PUBLIC;
REVOKE ALL ON FUNCTION sessionize._key_index(name, regtype, text) FROM PUBLIC;

/*
 * _refuse_drop: a table that is the sink or the dead_letter table of a
 * stream cannot be dropped (as a table a view reads cannot), whoever drops
 * it: the stream would fail at its next session.  An event trigger, since
 * a stream is a row, not an object pg_depend could record.  It reads the
 * catalog as the extension's owner (the dropping role may not see the
 * stream), and nothing else.  When the catalog itself is being dropped
 * (DROP EXTENSION), there is nothing to protect.
 */
CREATE FUNCTION sessionize._refuse_drop()
RETURNS event_trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
BEGIN
    IF pg_catalog.to_regclass('sessionize.streams') IS NULL THEN
        RETURN;
    END IF;
    SELECT d.object_identity, s.name,
           CASE WHEN s.sink OPERATOR(pg_catalog.=) d.objid THEN 'sink' ELSE 'dead_letter' END AS setting
      INTO r
      FROM pg_catalog.pg_event_trigger_dropped_objects() d
      JOIN sessionize.streams s
        ON s.sink OPERATOR(pg_catalog.=) d.objid OR s.dead_letter OPERATOR(pg_catalog.=) d.objid
     WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
       AND d.objsubid OPERATOR(pg_catalog.=) 0
     ORDER BY s.name
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'cannot drop table % because it is the % of stream "%"',
                        r.object_identity,
                        CASE r.setting WHEN 'sink' THEN 'sink' ELSE 'dead_letter table' END, r.name
            USING ERRCODE = 'dependent_objects_still_exist',
                  HINT = format('Give the stream another table, or none, first: SELECT sessionize.alter_stream(%L, %L, NULL);',
                                r.name, r.setting);
    END IF;
END
$$;
REVOKE ALL ON FUNCTION sessionize._refuse_drop() FROM PUBLIC;
CREATE EVENT TRIGGER sessionize_refuse_drop ON sql_drop
    EXECUTE FUNCTION sessionize._refuse_drop();

/*
 * state_outputs: what an update function may return instead of a
 * state_update: the new state and any number of outputs, each a result
 * row (mapWithState's output per record).
 */
CREATE TYPE sessionize.state_outputs AS (state jsonb, outputs jsonb[]);

/*
 * _drop_stream: as in 0.2, but a stream's tables are its owner's now, who
 * may have made one a view (see _oldest_open_session): each is dropped as
 * what it is, so that such a stream can still be dropped.
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
                AND c.relname OPERATOR(pg_catalog.=) ANY (ARRAY[v_table, v_table || '_chunks']::name[])
    LOOP
        EXECUTE format('DROP %s IF EXISTS %s',
                       CASE r.relkind WHEN 'v' THEN 'VIEW' ELSE 'TABLE' END, r.rel);
    END LOOP;
END
$$;

/* ---------------------------------------------------------------- API */

DROP FUNCTION sessionize.create_stream(text, regtype, interval, interval, integer, interval,
                                       text, text, text, regclass, regprocedure);
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
    update_function text     DEFAULT NULL,
    partitions    integer  DEFAULT 1,
    max_future    interval DEFAULT '0',
    ts_unit       text     DEFAULT 's',
    dead_letter   regclass DEFAULT NULL,
    time_zone     text     DEFAULT 'UTC',
    mode          text     DEFAULT 'arrival')
RETURNS void
AS 'MODULE_PATHNAME', 'sessionize_create_stream'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;

DROP FUNCTION sessionize.sessionize_batch(text, jsonb, text, bigint);
CREATE FUNCTION sessionize.sessionize_batch(
    stream        text,
    events        jsonb,
    source        text    DEFAULT NULL,
    batch_offset  bigint  DEFAULT NULL,
    "partition"   integer DEFAULT 0,
    first_offset  bigint  DEFAULT NULL)
RETURNS TABLE (key text, session_start timestamptz, session_end timestamptz,
               event_count integer, end_reason text, events jsonb)
AS 'MODULE_PATHNAME', 'sessionize_batch_json'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE ROWS 100;

DROP FUNCTION sessionize.sessionize_batch(text, anyarray, timestamptz[], boolean[], jsonb[],
                                          text, bigint);
CREATE FUNCTION sessionize.sessionize_batch(
    stream        text,
    keys          anyarray,
    ts            timestamptz[],
    is_last       boolean[],
    payloads      jsonb[],
    source        text    DEFAULT NULL,
    batch_offset  bigint  DEFAULT NULL,
    "partition"   integer DEFAULT 0,
    first_offset  bigint  DEFAULT NULL)
RETURNS TABLE (key text, session_start timestamptz, session_end timestamptz,
               event_count integer, end_reason text, events jsonb)
AS 'MODULE_PATHNAME', 'sessionize_batch_arrays'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE ROWS 100;

DROP FUNCTION sessionize.sessionize_query(text, text, text, bigint);
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
AS 'MODULE_PATHNAME', 'sessionize_batch_query'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE ROWS 100;

DROP FUNCTION sessionize.expire(text, timestamptz);
CREATE FUNCTION sessionize.expire(stream text, now timestamptz DEFAULT pg_catalog.now(),
                                  "partition" integer DEFAULT NULL)
RETURNS TABLE (key text, session_start timestamptz, session_end timestamptz,
               event_count integer, end_reason text, events jsonb)
AS 'MODULE_PATHNAME', 'sessionize_expire'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE ROWS 100;

/*
 * expire_all: the clock without feeders, e.g. from pg_cron: expire() of
 * every stream the caller may use that has a sink (one without would lose
 * the sessions it closes), each in its own subtransaction, so that one
 * failing stream (a dropped update function, a sink trigger's error) is
 * a WARNING and the others go on.  Runs as the caller.
 */
CREATE FUNCTION sessionize.expire_all(now timestamptz DEFAULT pg_catalog.now())
RETURNS TABLE (stream text, sessions_closed bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_now timestamptz := now;
BEGIN
    FOR stream IN SELECT s.name FROM sessionize.streams s
                   WHERE s.sink IS NOT NULL ORDER BY s.name LOOP
        BEGIN
            SELECT count(*) INTO sessions_closed FROM sessionize.expire(stream, v_now);
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'sessionize.expire_all: stream "%" failed: %', stream, SQLERRM
                USING ERRCODE = SQLSTATE;
            sessions_closed := NULL;
        END;
        RETURN NEXT;
    END LOOP;
END
$$;

DROP FUNCTION sessionize.flush(text);
CREATE FUNCTION sessionize.flush(stream text, "partition" integer DEFAULT NULL)
RETURNS TABLE (key text, session_start timestamptz, session_end timestamptz,
               event_count integer, end_reason text, events jsonb)
AS 'MODULE_PATHNAME', 'sessionize_flush'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE ROWS 100;

DROP FUNCTION sessionize.open_sessions(text);
CREATE FUNCTION sessionize.open_sessions(stream text, key text DEFAULT NULL)
RETURNS TABLE (key text, session_start timestamptz, session_end timestamptz,
               event_count integer, events jsonb, "partition" integer)
AS 'MODULE_PATHNAME', 'sessionize_open_sessions'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL UNSAFE ROWS 1000;

/*
 * set_offset: the owner moves a source's committed offset (NULL forgets
 * the source), e.g. after the topic was recreated.
 */
CREATE FUNCTION sessionize.set_offset(stream text, source text, "offset" bigint,
                                      "partition" integer DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'sessionize_set_offset'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;

/*
 * _oldest_open_session: the earliest session_start of the open sessions
 * of one partition of a stream, run as the caller; NULL when it has none,
 * or when the caller may not read them (a member of the owning role
 * without INHERIT).  The table is its owner's, who could make it run code
 * as whoever reads the stats views (a superuser among them): it is read
 * only while it is a plain table, without rules (a view) or row security,
 * with the column types sessionize gave it, so that reading it runs
 * nothing but built-in code; else NULL.  In C (src/readers.c), which
 * releases the table's lock on return: a transaction that read the views
 * may then feed the stream while drop_stream waits for it.
 */
CREATE FUNCTION sessionize._oldest_open_session(p_state_table name, p_part integer)
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'sessionize_oldest_open_session'
LANGUAGE C STABLE STRICT PARALLEL UNSAFE;

/* Per partition of each stream: its traffic, sessions, clock and offsets. */
CREATE VIEW sessionize.partition_stats WITH (security_invoker = true) AS
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
       sessionize._oldest_open_session(s.state_table, p.part) AS oldest_open_session
  FROM sessionize.streams s
  JOIN sessionize.partitions p ON p.stream_id = s.stream_id;

/*
 * Per stream: the sums of its partitions' counters, the oldest of their
 * clocks, all their offsets (as before 0.3 for a stream of one partition).
 */
CREATE VIEW sessionize.stats WITH (security_invoker = true) AS
SELECT ps.stream,
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
       COALESCE((SELECT pg_catalog.jsonb_object_agg(o.key, o.value ORDER BY o.key)
                   FROM sessionize.partition_stats p, pg_catalog.jsonb_each(p.offsets) o
                  WHERE p.stream = ps.stream), '{}') AS offsets,
       sum(ps.future_events)::bigint AS future_events,
       sum(ps.batches_skipped)::bigint AS batches_skipped,
       sum(ps.outputs)::bigint AS outputs,
       max(ps.last_batch_at) AS last_batch_at,
       sum(ps.dead_letters)::bigint AS dead_letters,
       min(ps.oldest_open_session) AS oldest_open_session
  FROM sessionize.partition_stats ps
 GROUP BY ps.stream;

GRANT SELECT ON sessionize.stats, sessionize.partition_stats TO PUBLIC;

/*
 * attach / detach: the rows each INSERT or COPY statement adds to a table
 * are one batch of a stream (see src/attach.c).  attach makes two triggers
 * on the table, as the caller, carrying the stream and partition:
 * _feed_statement (the statement's rows, from its transition table) and
 * _feed_replica (rows applied by a subscription, at commit).
 */
CREATE FUNCTION sessionize.attach(stream text, source_table regclass,
                                  "partition" integer DEFAULT 0)
RETURNS void
AS 'MODULE_PATHNAME', 'sessionize_attach'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;

CREATE FUNCTION sessionize.detach(stream text, source_table regclass)
RETURNS void
AS 'MODULE_PATHNAME', 'sessionize_detach'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;

CREATE FUNCTION sessionize._feed_statement()
RETURNS trigger
AS 'MODULE_PATHNAME', 'sessionize_feed_statement'
LANGUAGE C;

CREATE FUNCTION sessionize._feed_replica()
RETURNS trigger
AS 'MODULE_PATHNAME', 'sessionize_feed_replica'
LANGUAGE C;

CREATE FUNCTION sessionize._replica_row()
RETURNS boolean
AS 'MODULE_PATHNAME', 'sessionize_replica_row'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

/* The tables attached to streams: the arguments of their statement triggers. */
CREATE VIEW sessionize.attachments AS
SELECT pg_catalog.convert_from(pg_catalog.substring(t.tgargs, 1, a.stop - 1),
                               pg_catalog.getdatabaseencoding()) AS stream,
       t.tgrelid::pg_catalog.regclass AS source_table,
       -- a trigger that any role made with this function on a table of
       -- its own, with other arguments, shows NULL, not an error for all
       CASE WHEN p.part OPERATOR(pg_catalog.~) '^[0-9]{1,9}$'
            THEN p.part::pg_catalog.int4 END AS "partition"
  FROM pg_catalog.pg_trigger t,
       LATERAL (SELECT pg_catalog.position(t.tgargs, pg_catalog.decode('00', 'hex')) AS stop) a,
       LATERAL (SELECT pg_catalog.convert_from(pg_catalog.substring(t.tgargs, a.stop + 1,
                                               pg_catalog.length(t.tgargs) - a.stop - 1),
                                               pg_catalog.getdatabaseencoding()) AS part) p
 WHERE t.tgfoid OPERATOR(pg_catalog.=) 'sessionize._feed_statement()'::pg_catalog.regprocedure
   AND t.tgnargs OPERATOR(pg_catalog.=) 2;

GRANT SELECT ON sessionize.attachments TO PUBLIC;

/* ----------------------------------------------------------- comments */

COMMENT ON SCHEMA sessionize IS
    'sessionize: stateful sessionization of event streams';
COMMENT ON TABLE sessionize.streams IS
    'one row per stream: its settings (change them with sessionize.alter_stream)';
COMMENT ON TABLE sessionize.partitions IS
    'one row per partition of each stream: its clock and counters';
COMMENT ON TABLE sessionize.offsets IS
    'the last batch offset committed per stream and source, and the partition the source belongs to';
COMMENT ON FUNCTION sessionize.create_stream(text, regtype, interval, interval, integer, interval,
                                             text, text, text, regclass, text, integer,
                                             interval, text, regclass, text, text) IS
    'create a stream owned by the calling role, in arrival order or (mode => ''event_time'') with sessions that merge in event time';
COMMENT ON FUNCTION sessionize.alter_stream(text, text, text) IS
    'change one setting of a stream in use (gap, max_duration, max_events, lateness, key_field, ts_field, last_field, sink, max_future, ts_unit, dead_letter, time_zone, key_index), or set its clock (watermark)';
COMMENT ON FUNCTION sessionize.drop_stream(text) IS
    'drop a stream, its open sessions and its offsets';
COMMENT ON FUNCTION sessionize.sessionize_batch(text, jsonb, text, bigint, integer, bigint) IS
    'apply a batch of JSON events to a partition of a stream; returns the sessions it finished';
COMMENT ON FUNCTION sessionize.sessionize_batch(text, anyarray, timestamptz[], boolean[], jsonb[],
                                                text, bigint, integer, bigint) IS
    'apply a batch given as parallel arrays (keys, ts, is_last, payloads); returns the sessions it finished';
COMMENT ON FUNCTION sessionize.sessionize_query(text, text, text, bigint, integer, bigint, jsonb) IS
    'apply the rows of a query, run as the caller, as one batch; returns the sessions it finished';
COMMENT ON FUNCTION sessionize.expire(text, timestamptz, integer) IS
    'advance the clock of a partition (NULL: of each) to now - lateness; returns the sessions that time out';
COMMENT ON FUNCTION sessionize.expire_all(timestamptz) IS
    'expire every stream the caller may use that has a sink (for pg_cron); returns the sessions each closed, NULL for one that failed';
COMMENT ON FUNCTION sessionize.flush(text, integer) IS
    'end every open session of a partition (NULL: of each); returns them';
COMMENT ON FUNCTION sessionize.open_sessions(text, text) IS
    'the open sessions of a stream (Spark''s stateSnapshots), or of one key';
COMMENT ON FUNCTION sessionize.set_offset(text, text, bigint, integer) IS
    'the owner sets the committed offset of a source (NULL forgets it)';
COMMENT ON FUNCTION sessionize.committed_offset(text, text) IS
    'the last batch offset committed for a source, NULL if none: a consumer resumes after it';
COMMENT ON AGGREGATE sessionize.sessions(timestamptz, boolean, jsonb, interval) IS
    'the sessions of one key''s events (GROUP BY key), with a gap: for backfill';
COMMENT ON AGGREGATE sessionize.sessions(timestamptz, boolean, jsonb, interval, interval, integer) IS
    'the sessions of one key''s events (GROUP BY key), with gap, max_duration and max_events: for backfill';
COMMENT ON FUNCTION sessionize._sessions_add(internal, timestamptz, boolean, jsonb, interval) IS
    'transition function of sessionize.sessions';
COMMENT ON FUNCTION sessionize._sessions_add(internal, timestamptz, boolean, jsonb, interval,
                                             interval, integer) IS
    'transition function of sessionize.sessions';
COMMENT ON FUNCTION sessionize._sessions_final(internal) IS
    'final function of sessionize.sessions';
COMMENT ON FUNCTION sessionize._create_stream(regrole, text, regtype, interval, interval, integer,
                                              interval, text, text, text, regclass, text, integer,
                                              interval, text, regclass, text, text) IS
    'internal: the catalog half of create_stream, run as the extension owner';
COMMENT ON FUNCTION sessionize._oldest_open_session(name, integer) IS
    'internal: the earliest start of the open sessions of a partition of a stream, for the stats views';
COMMENT ON FUNCTION sessionize._refuse_drop() IS
    'internal: refuses to drop a table that is the sink or dead_letter table of a stream';
COMMENT ON EVENT TRIGGER sessionize_refuse_drop IS
    'refuses to drop a table that is the sink or dead_letter table of a stream';
COMMENT ON FUNCTION sessionize._drop_stream(bigint) IS
    'internal: the catalog half of drop_stream, run as the extension owner';
COMMENT ON FUNCTION sessionize._state_tables(name, regtype, regrole, text, boolean) IS
    'internal: create a stream''s state and chunk tables for its owner';
COMMENT ON FUNCTION sessionize._give_tables(name, regrole) IS
    'internal: give a stream''s tables to the role that owns it';
COMMENT ON FUNCTION sessionize._key_index(name, regtype, text) IS
    'internal: give a state table the index its rows are found by: hash on key or a unique btree on (key, part); by default hash where the key type allows';
COMMENT ON TYPE sessionize.state_outputs IS
    'what an update function may return instead of state_update: the new state (NULL ends it) and its outputs, one result row each';
COMMENT ON TYPE sessionize.state_update IS
    'what an update function returns: the key''s new state (NULL ends it) and an output';
COMMENT ON TYPE sessionize.session IS
    'a session, as sessionize.sessions returns them';
COMMENT ON VIEW sessionize.stats IS
    'per stream: events, sessions open and closed by reason, the clock, offsets';
COMMENT ON FUNCTION sessionize.attach(text, regclass, integer) IS
    'the rows each INSERT or COPY statement adds to the table are a batch of a partition of the stream, whose sessions go to its sink';
COMMENT ON FUNCTION sessionize.detach(text, regclass) IS
    'the rows added to the table no longer feed the stream';
COMMENT ON FUNCTION sessionize._feed_statement() IS
    'internal: the trigger attach makes: the rows a statement added are a batch';
COMMENT ON FUNCTION sessionize._feed_replica() IS
    'internal: the trigger attach makes: rows a subscription applied are fed at commit';
COMMENT ON FUNCTION sessionize._replica_row() IS
    'internal: the WHEN clause of the replica trigger attach makes';
COMMENT ON VIEW sessionize.attachments IS
    'the tables attached to streams, and the partition each feeds';
COMMENT ON VIEW sessionize.partition_stats IS
    'per partition of each stream: events, sessions open and closed by reason, the clock, offsets';
