/* sessionize--0.3--0.4.sql: from 0.3 to 0.4 (ALTER EXTENSION sessionize UPDATE) */

\echo Use "ALTER EXTENSION sessionize UPDATE TO '0.4'" to load this file. \quit

/*
 * 0.4: one right answer, whoever feeds the stream.
 *
 * As 0.3's script says, a stream's owner may have added triggers and rules
 * to its tables: this script runs no DML on them as the superuser that
 * runs it.
 */

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
