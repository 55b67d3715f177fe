/* sessionize--0.1--0.2.sql: from 0.1 to 0.2 (ALTER EXTENSION sessionize UPDATE) */

\echo Use "ALTER EXTENSION sessionize UPDATE TO '0.2'" to load this file. \quit

/*
 * 0.2 adds alter_stream().  Streams, their state tables, offsets and
 * counters are unchanged: an update keeps every open session as it is.
 * A new install runs sessionize--0.1.sql and then this script.
 */

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
