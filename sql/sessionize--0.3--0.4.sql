/* sessionize--0.3--0.4.sql: from 0.3 to 0.4 (ALTER EXTENSION sessionize UPDATE) */

\echo Use "ALTER EXTENSION sessionize UPDATE TO '0.4'" to load this file. \quit

/*
 * 0.4: one right answer, whoever feeds the stream.
 *
 * As 0.3's script says, a stream's owner may have added triggers and rules
 * to its tables: this script runs no DML on them as the superuser that
 * runs it.
 */

/* ------------------------------------------------- a clock per source */

/*
 * A partition fed by several sources (Kafka partitions 0 and 2 feeding
 * stream partition 0) has the clock of its slowest active source: the
 * oldest of their newest event times, less lateness (see src/offsets.c).
 * Each source's row in sessionize.offsets keeps the newest ts it has sent;
 * the calls without a source are one source more, whose clock is in the
 * partition's row.  A source that has sent nothing for source_idle (wall
 * clock; NULL: never) stops holding the clock back until it sends again.
 *
 * The sources there are now start from their partition's clock (the
 * newest ts each may have sent, as far as is known); has_sources tells a
 * call without a source whether there are other sources to read.
 */
ALTER TABLE sessionize.streams
    ADD COLUMN source_idle interval DEFAULT '5 minutes'
        CHECK (source_idle > interval '0');
ALTER TABLE sessionize.offsets ADD COLUMN newest_ts timestamptz;
ALTER TABLE sessionize.partitions
    ADD COLUMN unsourced_newest timestamptz,
    ADD COLUMN unsourced_at timestamptz,
    ADD COLUMN has_sources boolean NOT NULL DEFAULT false;
CREATE INDEX offsets_partition ON sessionize.offsets (stream_id, part);

UPDATE sessionize.offsets o
   SET newest_ts = p.watermark
  FROM sessionize.partitions p
 WHERE p.stream_id OPERATOR(pg_catalog.=) o.stream_id
   AND p.part OPERATOR(pg_catalog.=) o.part;
UPDATE sessionize.partitions p
   SET has_sources = true
 WHERE EXISTS (SELECT FROM sessionize.offsets o
                WHERE o.stream_id OPERATOR(pg_catalog.=) p.stream_id
                  AND o.part OPERATOR(pg_catalog.=) p.part);

DROP FUNCTION sessionize.create_stream(text, regtype, interval, interval, integer, interval,
                                       text, text, text, regclass, text, integer,
                                       interval, text, regclass, text, text);
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
    mode          text     DEFAULT 'arrival',
    source_idle   interval DEFAULT '5 minutes')
RETURNS void
AS 'MODULE_PATHNAME', 'sessionize_create_stream'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;
COMMENT ON FUNCTION sessionize.create_stream(text, regtype, interval, interval, integer, interval,
                                             text, text, text, regclass, text, integer,
                                             interval, text, regclass, text, text, interval) IS
    'create a stream owned by the calling role, in arrival order or (mode => ''event_time'') with sessions that merge in event time';

/*
 * Each source of each stream the role may see: its offset, its clock and
 * whether it is idle; a row with a NULL source for the calls without one.
 */
CREATE VIEW sessionize.sources WITH (security_invoker = true) AS
SELECT s.name AS stream,
       o.source,
       o.part AS "partition",
       o.committed_offset,
       o.committed_at AS last_batch_at,
       o.newest_ts,
       COALESCE(o.committed_at OPERATOR(pg_catalog.<) (pg_catalog.now() OPERATOR(pg_catalog.-) s.source_idle),
                false) AS idle
  FROM sessionize.streams s
  JOIN sessionize.offsets o ON o.stream_id OPERATOR(pg_catalog.=) s.stream_id
UNION ALL
SELECT s.name, NULL, p.part, NULL, p.unsourced_at, p.unsourced_newest,
       COALESCE(p.unsourced_at OPERATOR(pg_catalog.<) (pg_catalog.now() OPERATOR(pg_catalog.-) s.source_idle),
                false)
  FROM sessionize.streams s
  JOIN sessionize.partitions p ON p.stream_id OPERATOR(pg_catalog.=) s.stream_id
 WHERE p.unsourced_at IS NOT NULL;
GRANT SELECT ON sessionize.sources TO PUBLIC;
COMMENT ON VIEW sessionize.sources IS
    'the sources of each stream: offset, newest event time (their clock) and whether idle; NULL source: the calls without one';

/* ------------------------------------------------ settings by their type */

/*
 * alter_stream takes the value as a value of the setting's type, besides
 * text: alter_stream('s', 'max_events', 100), alter_stream('s', 'gap',
 * interval '30 minutes'), alter_stream('s', 'watermark', now()),
 * alter_stream('s', 'sink', 't'::regclass).  An untyped literal ('5
 * minutes', '2026-01-01', NULL) still resolves to the text form, as the
 * parser prefers text for it.  smallint, integer and bigint each have an
 * overload: each casts implicitly to the wider ones and to regclass, so a
 * call with one would be ambiguous without its own (psycopg 3 sends a
 * small Python int as a smallint).  All of them run the same C function as
 * the text form (see setting_arg in src/ddl.c), which refuses a value of a
 * type the setting does not take.
 */
CREATE FUNCTION sessionize.alter_stream(stream text, setting text, value smallint)
RETURNS void
AS 'MODULE_PATHNAME', 'sessionize_alter_stream'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;

CREATE FUNCTION sessionize.alter_stream(stream text, setting text, value integer)
RETURNS void
AS 'MODULE_PATHNAME', 'sessionize_alter_stream'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;

CREATE FUNCTION sessionize.alter_stream(stream text, setting text, value bigint)
RETURNS void
AS 'MODULE_PATHNAME', 'sessionize_alter_stream'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;

CREATE FUNCTION sessionize.alter_stream(stream text, setting text, value interval)
RETURNS void
AS 'MODULE_PATHNAME', 'sessionize_alter_stream'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;

CREATE FUNCTION sessionize.alter_stream(stream text, setting text, value timestamptz)
RETURNS void
AS 'MODULE_PATHNAME', 'sessionize_alter_stream'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;

CREATE FUNCTION sessionize.alter_stream(stream text, setting text, value regclass)
RETURNS void
AS 'MODULE_PATHNAME', 'sessionize_alter_stream'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;

/*
 * open_sessions(stream, key) with a key of any type, cast to the stream's
 * key type as an INSERT would assign it: open_sessions('s', 7).  No
 * default: open_sessions('s') stays the text form's, and so does an
 * untyped literal key ('7').
 */
CREATE FUNCTION sessionize.open_sessions(stream text, key anyelement)
RETURNS TABLE (key text, session_start timestamptz, session_end timestamptz,
               event_count integer, events jsonb, "partition" integer)
AS 'MODULE_PATHNAME', 'sessionize_open_sessions'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL UNSAFE ROWS 1000;

COMMENT ON FUNCTION sessionize.alter_stream(text, text, smallint) IS
    'change one setting of a stream in use to a number (such as max_events)';
COMMENT ON FUNCTION sessionize.alter_stream(text, text, integer) IS
    'change one setting of a stream in use to a number (such as max_events)';
COMMENT ON FUNCTION sessionize.alter_stream(text, text, bigint) IS
    'change one setting of a stream in use to a number (such as max_events)';
COMMENT ON FUNCTION sessionize.alter_stream(text, text, interval) IS
    'change one setting of a stream in use to an interval (a duration, such as gap or lateness)';
COMMENT ON FUNCTION sessionize.alter_stream(text, text, timestamptz) IS
    'change one setting of a stream in use to an instant (the clock: watermark)';
COMMENT ON FUNCTION sessionize.alter_stream(text, text, regclass) IS
    'change one setting of a stream in use to a table (sink, dead_letter)';
COMMENT ON FUNCTION sessionize.open_sessions(text, anyelement) IS
    'the open sessions of one key of a stream, the key given as a value of any type that casts to the key type';

/* ------------------------------------------- attached tables' replica triggers */

/*
 * The trigger that feeds the rows a subscription applies to an attached
 * table was a deferred constraint trigger; from PostgreSQL 16 on, the
 * apply worker applies rows as the table's owner in a security-restricted
 * operation, where no deferred trigger may be queued, so no replicated row
 * could be applied.  It is now an ordinary AFTER INSERT row trigger (see
 * src/attach.c).  Each one is made again, with the same name, stream and
 * partition.  Only triggers are dropped and made: nothing of the table's
 * owner runs.
 */
DO $$
DECLARE
    t record;
BEGIN
    FOR t IN
        SELECT tg.tgrelid::pg_catalog.regclass AS tbl, tg.tgname,
               pg_catalog.convert_from(pg_catalog.substring(tg.tgargs, 1, a.stop - 1),
                                       pg_catalog.getdatabaseencoding()) AS stream,
               pg_catalog.convert_from(pg_catalog.substring(tg.tgargs, a.stop + 1,
                                       pg_catalog.length(tg.tgargs) - a.stop - 1),
                                       pg_catalog.getdatabaseencoding()) AS part
          FROM pg_catalog.pg_trigger tg,
               LATERAL (SELECT pg_catalog.position(tg.tgargs, pg_catalog.decode('00', 'hex')) AS stop) a
         WHERE tg.tgfoid OPERATOR(pg_catalog.=) 'sessionize._feed_replica()'::pg_catalog.regprocedure
           AND tg.tgnargs OPERATOR(pg_catalog.=) 2
           AND tg.tgconstraint OPERATOR(pg_catalog.<>) 0
    LOOP
        EXECUTE pg_catalog.format('DROP TRIGGER %I ON %s', t.tgname, t.tbl);
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER %I AFTER INSERT ON %s FOR EACH ROW'
            ' WHEN (sessionize._replica_row())'
            ' EXECUTE FUNCTION sessionize._feed_replica(%L, %L)',
            t.tgname, t.tbl, t.stream, t.part);
        EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I', t.tbl, t.tgname);
    END LOOP;
END
$$;
