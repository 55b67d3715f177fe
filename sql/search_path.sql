-- search_path: nothing sessionize runs depends on the caller's
-- search_path.  A schema first on the path holds look-alikes of what our
-- statements use (functions, operators, a table named like ours), each
-- raising an error if called; every call still works.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';

CREATE SCHEMA evil;
CREATE FUNCTION evil.trap() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'evil look-alike called';
END
$$;
CREATE FUNCTION evil.eq(text, text) RETURNS boolean LANGUAGE sql AS 'SELECT evil.trap()';
CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.eq);
CREATE FUNCTION evil.eq8(bigint, bigint) RETURNS boolean LANGUAGE sql AS 'SELECT evil.trap()';
CREATE OPERATOR evil.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.eq8);
CREATE FUNCTION evil.plus8(bigint, bigint) RETURNS bigint LANGUAGE sql AS 'SELECT evil.trap()::int::bigint';
CREATE OPERATOR evil.+ (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.plus8);
CREATE FUNCTION evil.unnest(anyarray) RETURNS SETOF anyelement LANGUAGE sql AS 'SELECT NULL WHERE evil.trap()';
CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE sql AS 'SELECT NULL::timestamptz WHERE evil.trap()';
CREATE FUNCTION evil.to_jsonb(anyelement) RETURNS jsonb LANGUAGE sql AS 'SELECT NULL::jsonb WHERE evil.trap()';
CREATE FUNCTION evil.format_type(oid, integer) RETURNS text LANGUAGE sql AS 'SELECT NULL::text WHERE evil.trap()';
CREATE FUNCTION evil.jsonb_object_agg(text, bigint) RETURNS jsonb LANGUAGE sql AS 'SELECT NULL::jsonb WHERE evil.trap()';
CREATE TABLE evil.streams (name text);
CREATE TABLE evil.offsets (stream_id bigint);
CREATE TABLE evil.sink (key text, session_start timestamptz, session_end timestamptz,
                        event_count integer, end_reason text, events jsonb);
CREATE TABLE public.sink_sp (LIKE evil.sink);

-- The traps work: an unqualified = on text calls one.
SET search_path = evil, public, pg_catalog;
SELECT try($$SELECT 'a' = 'a'$$);

-- Every call of the API, through the traps (this test qualifies its own
-- operators: the traps catch unqualified ones, as shown above).
SELECT sessionize.create_stream('sp', 'bigint', gap => '30 minutes', sink => 'public.sink_sp');
SELECT key, event_count, end_reason FROM sessionize.sessionize_batch('sp', '[
  {"id": 1, "ts": "2026-01-01T10:00:00Z"},
  {"id": 1, "ts": "2026-01-01T10:01:00Z", "isLast": true},
  {"id": 2, "ts": "2026-01-01T10:02:00Z"}]', 'src', 1);
SELECT count(*) FROM sessionize.sessionize_batch('sp', '[]', 'src', 1);
SELECT count(*) FROM sessionize.sessionize_batch('sp', ARRAY[3]::bigint[],
    ARRAY['2026-01-01 10:03:00+00']::timestamptz[], NULL, ARRAY['{}']::jsonb[], 'src', 2);
SELECT count(*) FROM sessionize.sessionize_query('sp',
    'SELECT 4::bigint AS id, timestamptz ''2026-01-01 10:04:00+00'' AS ts', 'src', 3);
SELECT key, event_count FROM sessionize.open_sessions('sp');
SELECT sessionize.committed_offset('sp', 'src');
SELECT stream, events_in, offsets FROM sessionize.stats WHERE stream OPERATOR(pg_catalog.=) 'sp';
SELECT key, end_reason FROM sessionize.expire('sp', '2026-01-01T10:33:00Z');
SELECT key, end_reason FROM sessionize.flush('sp');
SELECT array_length(sessionize.sessions(ts, false, '{}', '1 hour'), 1)
  FROM (VALUES (timestamptz '2026-01-01 10:00+00')) v(ts);
SELECT count(*) AS sunk, count(*) FILTER (WHERE key OPERATOR(pg_catalog.=) '1') AS key_1 FROM public.sink_sp;
SELECT count(*) AS untouched FROM evil.sink;
SELECT sessionize.drop_stream('sp');
RESET search_path;
