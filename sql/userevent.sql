-- userevent: the seed tutorial's example.  UserEvent(id: Int, data:
-- String, isLast: Boolean) arrives as JSON from Kafka; updateUserEvents
-- appends each user's new events to a UserSession and, when an isLast
-- event arrives, saves the session and drops the state.  Here that is a
-- stream keyed by the integer id with no timeout: sessions end at isLast.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';

CREATE TABLE user_sessions (
    key           integer,
    session_start timestamptz,
    session_end   timestamptz,
    event_count   integer,
    end_reason    text,
    events        jsonb
);
SELECT sessionize.create_stream('user_events', key_type => 'integer', sink => 'user_sessions');

-- Micro-batch 1: users 7 and 8 start; nothing ends yet.
SELECT key, event_count, end_reason, events
  FROM sessionize.sessionize_batch('user_events', '[
    {"id": 7, "data": "click", "isLast": false, "ts": "2026-01-01T10:00:00Z"},
    {"id": 8, "data": "view", "isLast": false, "ts": "2026-01-01T10:00:05Z"},
    {"id": 7, "data": "scroll", "isLast": false, "ts": "2026-01-01T10:00:09Z"}]',
    'user-events-topic', 1);

-- The state between batches: Spark's stateSnapshots().
SELECT key, event_count, jsonb_path_query_array(events, '$[*].data') AS data
  FROM sessionize.open_sessions('user_events');

-- Micro-batch 2: user 7's isLast ends the session, and its events come
-- back in order; user 9 starts.
SELECT key, event_count, end_reason, events
  FROM sessionize.sessionize_batch('user_events', '[
    {"id": 9, "data": "click", "isLast": false, "ts": "2026-01-01T10:01:00Z"},
    {"id": 7, "data": "buy", "isLast": true, "ts": "2026-01-01T10:01:30Z"}]',
    'user-events-topic', 2);

-- Micro-batch 3: user 7 comes back (a new session), user 8 ends.
SELECT key, event_count, end_reason, jsonb_path_query_array(events, '$[*].data') AS data
  FROM sessionize.sessionize_batch('user_events', '[
    {"id": 7, "data": "click", "isLast": false, "ts": "2026-01-01T10:02:00Z"},
    {"id": 8, "data": "logout", "isLast": true, "ts": "2026-01-01T10:02:10Z"}]',
    'user-events-topic', 3)
 ORDER BY key;

-- saveUserSession: the finished sessions are in the sink.
SELECT key, session_start, session_end, event_count, end_reason,
       jsonb_path_query_array(events, '$[*].data') AS data
  FROM user_sessions ORDER BY session_end;
SELECT key, event_count, jsonb_path_query_array(events, '$[*].data') AS data
  FROM sessionize.open_sessions('user_events');
SELECT sessionize.committed_offset('user_events', 'user-events-topic');
