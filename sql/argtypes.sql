-- argtypes: calls with arguments of their natural types (a number of
-- events as a number, a gap as an interval, a key of its type) resolve to
-- the function meant; those that cannot, and a value that would mean
-- something else than it says, fail with a hint.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';

-- picks: the function a call resolves to, without running it.
CREATE FUNCTION picks(call text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    fn text;
BEGIN
    EXECUTE 'CREATE TEMP VIEW picks_view AS SELECT 1 AS one FROM (SELECT ' || call || ') AS c';
    SELECT string_agg(d.refobjid::regprocedure::text, ', ') INTO fn
      FROM pg_depend d JOIN pg_rewrite r ON d.objid = r.oid
     WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_proc'::regclass
       AND r.ev_class = 'picks_view'::regclass
       AND d.refobjid::regprocedure::text LIKE 'sessionize.%';
    DROP VIEW picks_view;
    RETURN fn;
END
$$;

SELECT sessionize.create_stream('arg', key_type => 'bigint', gap => '30 minutes');
CREATE TABLE arg_sink (key bigint, end_reason text);

-- alter_stream takes a value of the setting's type, besides text.
SELECT sessionize.alter_stream('arg', 'max_events', 50::smallint);
SELECT max_events FROM sessionize.streams WHERE name = 'arg';
SELECT sessionize.alter_stream('arg', 'max_events', 60::bigint);
SELECT max_events FROM sessionize.streams WHERE name = 'arg';
SELECT sessionize.alter_stream('arg', 'max_events', 100);
SELECT sessionize.alter_stream('arg', 'max_duration', interval '2 hours');
SELECT sessionize.alter_stream('arg', 'sink', 'arg_sink'::regclass);
SELECT sessionize.alter_stream('arg', 'watermark', timestamptz '2026-01-01 09:00Z');
-- A duration may be the number 0, as '0' may: it has no unit to miss.
SELECT sessionize.alter_stream('arg', 'lateness', 0);
SELECT gap, max_duration, max_events, lateness, sink FROM sessionize.streams WHERE name = 'arg';
SELECT watermark FROM sessionize.stats WHERE stream = 'arg';
-- NULL of any of these types removes the setting.
SELECT sessionize.alter_stream('arg', 'max_events', NULL::integer);
SELECT sessionize.alter_stream('arg', 'max_duration', NULL::interval);
SELECT sessionize.alter_stream('arg', 'sink', NULL::regclass);
SELECT max_duration, max_events, sink FROM sessionize.streams WHERE name = 'arg';

-- The function each call resolves to.  An untyped literal or NULL is the
-- text form of alter_stream (as before the other forms came), the jsonb
-- form of sessionize_batch, and the text form of open_sessions; a value
-- of a type picks the form of its type (a date is a timestamptz, a
-- varchar text).
SELECT call, picks(call) FROM (VALUES
  ($$sessionize.alter_stream('arg', 'gap', '5 minutes')$$),
  ($$sessionize.alter_stream('arg', 'gap', NULL)$$),
  ($$sessionize.alter_stream('arg', 'max_events', '100')$$),
  ($$sessionize.alter_stream('arg', 'key_field', 'user'::varchar)$$),
  ($$sessionize.alter_stream('arg', 'max_events', 100::smallint)$$),
  ($$sessionize.alter_stream('arg', 'max_events', 100)$$),
  ($$sessionize.alter_stream('arg', 'max_events', 100::bigint)$$),
  ($$sessionize.alter_stream('arg', 'gap', interval '5 minutes')$$),
  ($$sessionize.alter_stream('arg', 'watermark', now())$$),
  ($$sessionize.alter_stream('arg', 'watermark', date '2026-01-01')$$),
  ($$sessionize.alter_stream('arg', 'sink', 'arg_sink'::regclass)$$),
  ($$sessionize.sessionize_batch('arg', '[]')$$),
  ($$sessionize.sessionize_batch('arg', NULL)$$),
  ($$sessionize.open_sessions('arg')$$),
  ($$sessionize.open_sessions('arg', '7')$$),
  ($$sessionize.open_sessions('arg', NULL)$$),
  ($$sessionize.open_sessions('arg', 'k'::varchar)$$),
  ($$sessionize.open_sessions('arg', 7)$$),
  ($$sessionize.open_sessions('arg', 7.5)$$)
) AS t(call);

-- A duration that is a number alone is refused: interval input reads it
-- as seconds, which is rarely what '30' meant.  A number of another type
-- than the setting's is refused too, naming the setting.
SELECT sessionize.alter_stream('arg', 'gap', '30');
SELECT sessionize.alter_stream('arg', 'lateness', ' 1.5 ');
SELECT sessionize.alter_stream('arg', 'gap', 30);
SELECT sessionize.alter_stream('arg', 'key_field', 5);
SELECT label, try(sql) FROM (VALUES
  ('gap -5', $$SELECT sessionize.alter_stream('arg', 'gap', '-5')$$),
  ('max_future 60', $$SELECT sessionize.alter_stream('arg', 'max_future', '60')$$),
  ('gap @ 30', $$SELECT sessionize.alter_stream('arg', 'gap', ' @ 30')$$),
  ('max_duration 2', $$SELECT sessionize.alter_stream('arg', 'max_duration', 2::bigint)$$),
  ('max_events too big', $$SELECT sessionize.alter_stream('arg', 'max_events', 10000000000)$$),
  ('max_events interval', $$SELECT sessionize.alter_stream('arg', 'max_events', interval '1 hour')$$),
  ('sink a number', $$SELECT sessionize.alter_stream('arg', 'sink', 7)$$),
  ('watermark interval', $$SELECT sessionize.alter_stream('arg', 'watermark', interval '1 hour')$$),
  ('gap a table', $$SELECT sessionize.alter_stream('arg', 'gap', 'arg_sink'::regclass)$$)
) AS t(label, sql);
-- A value that its setting's type cannot read names the setting.
SELECT sessionize.alter_stream('arg', 'max_events', 'ten');
SELECT sessionize.alter_stream('arg', 'gap', 'soon');
SELECT gap, max_future, max_duration, max_events, key_field, sink
  FROM sessionize.streams WHERE name = 'arg';

-- Calls the parser finds no function for get a hint: a
-- create_stream whose gap is a number (all its arguments have defaults,
-- so an overload would make every call ambiguous); a value of another
-- type; events as text or json (an overload for them would take the
-- untyped literals from the jsonb form, or make them ambiguous).  The
-- hint needs the library loaded, which any earlier sessionize call in the
-- session did (here create_stream).
SELECT sessionize.create_stream('arg2', gap => 30);
SELECT sessionize.alter_stream('arg', 'gap', 1.5);
SELECT * FROM sessionize.sessionize_batch('arg', '[]'::text);
SELECT * FROM sessionize.sessionize_batch('arg', '[]'::json);
SELECT * FROM sessionize.open_sessions(7);
-- Not ours: the parser's hint.
CREATE FUNCTION my_create_stream(text) RETURNS void LANGUAGE sql AS '';
SELECT my_create_stream(30);
DROP FUNCTION my_create_stream(text);
-- Nor is another schema's function of one of our names, called without a
-- schema while the search_path does not have sessionize; with it, the
-- call may be meant for ours, and has our hint.
CREATE FUNCTION public.open_sessions(integer) RETURNS void LANGUAGE sql AS '';
SELECT open_sessions(1, 2, 3);
SET search_path = public, sessionize;
SELECT open_sessions(1, 2, 3);
RESET search_path;
DROP FUNCTION public.open_sessions(integer);

-- open_sessions takes a key of any type: cast to the key type where the
-- cast is implicit (an integer to bigint), else read from its text (a
-- number on a text key); a key that does not read names the stream and
-- its key type.
SELECT count(*) FROM sessionize.sessionize_batch('arg',
  '[{"id": 7, "ts": "2026-01-01T10:00:00Z"}, {"id": 8, "ts": "2026-01-01T10:01:00Z"}]');
SELECT key, event_count FROM sessionize.open_sessions('arg', 7);
SELECT key, event_count FROM sessionize.open_sessions('arg', 8::smallint);
SELECT key, event_count FROM sessionize.open_sessions('arg', 7::numeric);
SELECT key, event_count FROM sessionize.open_sessions('arg', '7');
SELECT key, event_count FROM sessionize.open_sessions('arg', 9);
SELECT key, event_count FROM sessionize.open_sessions('arg', NULL::bigint) ORDER BY key;
SELECT key, event_count FROM sessionize.open_sessions('arg', 'abc');
SELECT key, event_count FROM sessionize.open_sessions('arg', 7.5);
SELECT key, event_count FROM sessionize.open_sessions('arg', timestamptz '2026-01-01 10:00Z');
-- On a stream of text keys, a number is its text.
SELECT sessionize.create_stream('arg_text', gap => '30 minutes');
SELECT count(*) FROM sessionize.sessionize_batch('arg_text',
  '[{"id": "42", "ts": "2026-01-01T10:00:00Z"}]');
SELECT key, event_count FROM sessionize.open_sessions('arg_text', 42);
-- A composite key may be a ROW(...), typed or not.
CREATE TYPE arg_pair AS (tenant text, id integer);
SELECT sessionize.create_stream('arg_pair', key_type => 'arg_pair');
SELECT count(*) FROM sessionize.sessionize_batch('arg_pair',
  '[{"id": "(acme,1)", "ts": "2026-01-01T10:00:00Z"}]');
SELECT key, event_count FROM sessionize.open_sessions('arg_pair', ROW('acme', 1)::arg_pair);
SELECT key, event_count FROM sessionize.open_sessions('arg_pair', ROW('acme', 1));
SELECT key, event_count FROM sessionize.open_sessions('arg_pair', ROW('acme', 2));

SELECT sessionize.drop_stream('arg');
SELECT sessionize.drop_stream('arg_text');
SELECT sessionize.drop_stream('arg_pair');
DROP TYPE arg_pair;
DROP TABLE arg_sink;
DROP FUNCTION picks(text);
