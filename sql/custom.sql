-- custom: a stream with an update_function keeps custom state per key,
-- as Spark's updateStateByKey / mapWithState: the function gets the key,
-- its new events (a jsonb array, ts order), the state (NULL at first) and
-- timed_out, and returns sessionize.state_update(state, output).
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';

-- The seed's updateUserEvents: append the new events to the user's
-- session; when an isLast event arrives, save the session (here: output
-- it) and drop the state.  (The tutorial saves the old state; the new one,
-- which holds the isLast event, is what it means.)
CREATE FUNCTION update_user_events(key text, events jsonb, state jsonb, timed_out boolean)
RETURNS sessionize.state_update LANGUAGE plpgsql AS $$
DECLARE
    new_state jsonb := coalesce(state, '[]') || events;
BEGIN
    IF jsonb_path_exists(events, '$[*] ? (@.isLast == true)') THEN
        RETURN ROW(NULL::jsonb, new_state);
    END IF;
    RETURN ROW(new_state, NULL::jsonb);
END
$$;

SELECT sessionize.create_stream('custom_users', key_type => 'integer',
                                update_function => 'update_user_events(text, jsonb, jsonb, boolean)');
SELECT sessionize.create_stream('builtin_users', key_type => 'integer');
CREATE TABLE user_batches (b int, events jsonb);
INSERT INTO user_batches VALUES
  (1, '[{"id": 7, "data": "click", "isLast": false, "ts": "2026-01-01T10:00:00Z"},
        {"id": 8, "data": "view", "isLast": false, "ts": "2026-01-01T10:00:05Z"},
        {"id": 7, "data": "scroll", "isLast": false, "ts": "2026-01-01T10:00:09Z"}]'),
  (2, '[{"id": 9, "data": "click", "isLast": false, "ts": "2026-01-01T10:01:00Z"},
        {"id": 7, "data": "buy", "isLast": true, "ts": "2026-01-01T10:01:30Z"}]'),
  (3, '[{"id": 7, "data": "click", "isLast": false, "ts": "2026-01-01T10:02:00Z"},
        {"id": 8, "data": "logout", "isLast": true, "ts": "2026-01-01T10:02:10Z"}]');

-- Each batch through both streams: the function's outputs are the
-- built-in rules' sessions (isLast ends a session).
CREATE TABLE custom_out AS SELECT 0 AS b, * FROM sessionize.flush('custom_users') WHERE false;
CREATE TABLE builtin_out AS SELECT * FROM custom_out;
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT * FROM user_batches ORDER BY b LOOP
        INSERT INTO custom_out SELECT r.b, * FROM sessionize.sessionize_batch('custom_users', r.events);
        INSERT INTO builtin_out SELECT r.b, * FROM sessionize.sessionize_batch('builtin_users', r.events);
    END LOOP;
END
$$;
SELECT b, key, session_start, session_end, event_count, end_reason,
       jsonb_path_query_array(events, '$[*].data') AS data
  FROM custom_out ORDER BY b, key;
SELECT (SELECT json_agg(x ORDER BY b, key)::text FROM (SELECT b, key, events FROM custom_out) x)
     = (SELECT json_agg(x ORDER BY b, key)::text FROM (SELECT b, key, events FROM builtin_out) x)
       AS same_as_builtin;

-- The state between batches (Spark's stateSnapshots): the function's.
SELECT key, session_start, session_end, event_count, events
  FROM sessionize.open_sessions('custom_users');

-- mapWithState's timeout: a state that sees no event for gap is offered
-- to the function once more, with timed_out, and removed; so is every
-- state at flush().  This function counts clicks and says why it ended.
CREATE FUNCTION count_clicks(key text, events jsonb, state jsonb, timed_out boolean)
RETURNS sessionize.state_update LANGUAGE sql AS $$
    SELECT CASE WHEN timed_out
                THEN ROW(NULL, jsonb_build_object('clicks', state->'clicks', 'ended', 'timeout'))::sessionize.state_update
                ELSE ROW(jsonb_build_object('clicks',
                           coalesce((state->>'clicks')::int, 0) + jsonb_array_length(events)), NULL)::sessionize.state_update
           END
$$;
SELECT sessionize.create_stream('clicks', gap => '30 minutes',
                                update_function => 'count_clicks(text, jsonb, jsonb, boolean)');
SELECT key, event_count, end_reason, events FROM sessionize.sessionize_batch('clicks', '[
  {"id": "a", "ts": "2026-01-01T10:00:00Z"}, {"id": "a", "ts": "2026-01-01T10:05:00Z"},
  {"id": "b", "ts": "2026-01-01T10:06:00Z"}]');
SELECT key, events FROM sessionize.open_sessions('clicks');
SELECT key, event_count, end_reason, events FROM sessionize.sessionize_batch('clicks', '[
  {"id": "b", "ts": "2026-01-01T10:35:00Z"}, {"id": "c", "ts": "2026-01-01T10:40:00Z"}]');
SELECT key, event_count, end_reason, events FROM sessionize.flush('clicks') ORDER BY key;
SELECT sessions_open, closed_gap, closed_last, closed_flush, outputs FROM sessionize.stats
 WHERE stream = 'clicks';

-- Outputs go to the sink as sessions do, and expire() times states out
-- as the clock does.
CREATE TABLE clicks_sink (key text, session_start timestamptz, session_end timestamptz,
                          event_count integer, end_reason text, events jsonb);
SELECT sessionize.create_stream('clicks2', gap => '30 minutes', sink => 'clicks_sink',
                                update_function => 'count_clicks(text, jsonb, jsonb, boolean)');
SELECT count(*) FROM sessionize.sessionize_batch('clicks2', '[
  {"id": "a", "ts": "2026-01-01T10:00:00Z"}, {"id": "b", "ts": "2026-01-01T10:20:00Z"}]');
SELECT key, end_reason, events FROM sessionize.expire('clicks2', '2026-01-01T10:30:00Z');
SELECT key, end_reason, events FROM sessionize.expire('clicks2', '2026-01-01T10:50:00Z');
SELECT key, session_start, session_end, event_count, end_reason, events
  FROM clicks_sink ORDER BY key;

-- An error in the function fails the batch and leaves the state as it was.
-- Its context names the stream and the key the function was called for.
CREATE FUNCTION picky(key text, events jsonb, state jsonb, timed_out boolean)
RETURNS sessionize.state_update LANGUAGE plpgsql AS $$
BEGIN
    IF key = 'bad' THEN
        RAISE EXCEPTION 'picky refuses key %', key;
    END IF;
    RETURN ROW(coalesce(state, '[]') || events, NULL::jsonb);
END
$$;
SELECT sessionize.create_stream('picky', update_function => 'picky(text, jsonb, jsonb, boolean)');
SELECT count(*) FROM sessionize.sessionize_batch('picky', '[{"id": "good", "n": 1, "ts": "2026-01-01T10:00:00Z"}]');
SELECT * FROM sessionize.sessionize_batch('picky', '[
  {"id": "good", "n": 2, "ts": "2026-01-01T10:01:00Z"}, {"id": "bad", "ts": "2026-01-01T10:01:00Z"}]');
SELECT key, event_count, events FROM sessionize.open_sessions('picky');

-- So does an error of a timeout call (here by flush), with an integer key
-- and a text key longer than a context line shows: its first 100 bytes.
CREATE FUNCTION no_timeouts(key text, events jsonb, state jsonb, timed_out boolean)
RETURNS sessionize.state_update LANGUAGE plpgsql AS $$
BEGIN
    IF timed_out THEN
        RAISE EXCEPTION 'no_timeouts keeps its % events', state->>'n';
    END IF;
    RETURN ROW(jsonb_build_object('n', jsonb_array_length(events)), NULL::jsonb);
END
$$;
SELECT sessionize.create_stream('no_timeouts_int', key_type => 'bigint', update_function => 'no_timeouts');
SELECT count(*) FROM sessionize.sessionize_batch('no_timeouts_int', '[{"id": 4242, "ts": "2026-01-01T10:00:00Z"}]');
SELECT * FROM sessionize.flush('no_timeouts_int');
SELECT sessionize.create_stream('no_timeouts_text', update_function => 'no_timeouts');
SELECT count(*) FROM sessionize.sessionize_batch('no_timeouts_text',
    jsonb_build_array(jsonb_build_object('id', 'k' || repeat('0123456789', 12), 'ts', '2026-01-01T10:00:00Z'),
                      jsonb_build_object('id', 'k' || repeat('0123456789', 12), 'ts', '2026-01-01T10:00:01Z')));
SELECT * FROM sessionize.flush('no_timeouts_text');
SELECT key = 'k' || repeat('0123456789', 12) AS whole_key, event_count
  FROM sessionize.open_sessions('no_timeouts_text');
SELECT sessionize.drop_stream('no_timeouts_int'), sessionize.drop_stream('no_timeouts_text');
DROP FUNCTION no_timeouts(text, jsonb, jsonb, boolean);

-- The function runs as the caller, not as the extension's owner.
CREATE FUNCTION who(key text, events jsonb, state jsonb, timed_out boolean)
RETURNS sessionize.state_update LANGUAGE sql AS $$
    SELECT ROW(NULL, jsonb_build_object('current_user', current_user))::sessionize.state_update
$$;
CREATE ROLE regress_sessionize_dave;
GRANT EXECUTE ON FUNCTION who(text, jsonb, jsonb, boolean) TO regress_sessionize_dave;
SET ROLE regress_sessionize_dave;
SELECT sessionize.create_stream('daves', update_function => 'who(text, jsonb, jsonb, boolean)');
SELECT key, end_reason, events FROM sessionize.sessionize_batch('daves', '[{"id": "x", "ts": "2026-01-01T10:00:00Z"}]');
RESET ROLE;
SELECT sessionize.drop_stream('daves');
REVOKE EXECUTE ON FUNCTION who(text, jsonb, jsonb, boolean) FROM regress_sessionize_dave;
DROP ROLE regress_sessionize_dave;

-- Refused settings.
CREATE FUNCTION wrong(key text, events jsonb) RETURNS jsonb LANGUAGE sql AS 'SELECT events';
SELECT label, try(sql) FROM (VALUES
  ('wrong signature', $$SELECT sessionize.create_stream('x', update_function => 'wrong(text, jsonb)')$$),
  ('with max_events', $$SELECT sessionize.create_stream('x', max_events => 3, update_function => 'picky(text, jsonb, jsonb, boolean)')$$),
  ('no such function', $$SELECT sessionize.create_stream('x', update_function => 'nope(text, jsonb, jsonb, boolean)')$$)
) AS t(label, sql);

-- A stream whose function was dropped says so; it can still be dropped.
DROP FUNCTION picky(text, jsonb, jsonb, boolean);
SELECT * FROM sessionize.sessionize_batch('picky', '[]');
SELECT sessionize.drop_stream('picky');

-- update_function by its name alone, when it is unambiguous (as regproc
-- reads it, with the caller's search_path); a signature works as ever.
SELECT sessionize.create_stream('by_name', update_function => 'count_clicks');
SELECT update_function FROM sessionize.streams WHERE name = 'by_name';
SELECT sessionize.drop_stream('by_name');
CREATE FUNCTION count_clicks(key text, events jsonb, state jsonb, timed_out boolean, extra int)
RETURNS sessionize.state_update LANGUAGE sql AS 'SELECT NULL::sessionize.state_update';
SELECT label, try(sql) FROM (VALUES
  ('ambiguous', $$SELECT sessionize.create_stream('x', update_function => 'count_clicks')$$),
  ('missing',   $$SELECT sessionize.create_stream('x', update_function => 'no_such_function')$$),
  ('signature', $$SELECT sessionize.create_stream('x', update_function => 'count_clicks(text, jsonb, jsonb, boolean)')$$)
) AS t(label, sql);
SELECT sessionize.drop_stream('x');
DROP FUNCTION count_clicks(text, jsonb, jsonb, boolean, int);

-- mapWithState: a function may return sessionize.state_outputs, and each
-- element of its outputs is a result row (one per event here, counted in
-- stats.outputs; a NULL element is none).  Its timeout call may return
-- several too.  A state_update's output that is a JSON array stays one
-- row.
CREATE FUNCTION running_total(key text, events jsonb, state jsonb, timed_out boolean)
RETURNS sessionize.state_outputs LANGUAGE sql AS $$
    SELECT CASE WHEN timed_out
                THEN ROW(NULL, ARRAY[jsonb_build_object('final', state->'total'),
                                     NULL, jsonb_build_object('bye', key)])::sessionize.state_outputs
                ELSE (SELECT ROW(jsonb_build_object('total', coalesce((state->>'total')::int, 0)
                                                              + count(*)::int),
                                 array_agg(jsonb_build_object('n', coalesce((state->>'total')::int, 0)
                                                                   + o::int)
                                           ORDER BY o))::sessionize.state_outputs
                        FROM jsonb_array_elements(events) WITH ORDINALITY AS e(ev, o))
           END
$$;
SELECT sessionize.create_stream('running', gap => '10 minutes', update_function => 'running_total');
SELECT key, end_reason, events FROM sessionize.sessionize_batch('running', '[
  {"id": "a", "ts": "2026-01-01T10:00:00Z"},
  {"id": "a", "ts": "2026-01-01T10:01:00Z"},
  {"id": "b", "ts": "2026-01-01T10:01:00Z"}]') ORDER BY key, events->>'n';
SELECT key, end_reason, events FROM sessionize.sessionize_batch('running', '[
  {"id": "a", "ts": "2026-01-01T10:02:00Z"},
  {"id": "c", "ts": "2026-01-01T10:30:00Z"}]') ORDER BY key, end_reason, events::text;
SELECT outputs, sessions_open FROM sessionize.stats WHERE stream = 'running';
SELECT sessionize.drop_stream('running');

CREATE FUNCTION array_once(key text, events jsonb, state jsonb, timed_out boolean)
RETURNS sessionize.state_update LANGUAGE sql AS $$
    SELECT ROW(NULL, jsonb_build_array(1, 2, 3))::sessionize.state_update
$$;
SELECT sessionize.create_stream('array_once', update_function => 'array_once');
SELECT key, end_reason, events FROM sessionize.sessionize_batch('array_once',
    '[{"id": "a", "ts": "2026-01-01T10:00:00Z"}]');
SELECT sessionize.drop_stream('array_once');
DROP FUNCTION running_total(text, jsonb, jsonb, boolean), array_once(text, jsonb, jsonb, boolean);
