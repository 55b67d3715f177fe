-- demo.sql: the seed's UserEvent stream, sessionized with sessionize.
--
-- Events arrive as JSON from a Kafka topic, in micro-batches:
--   case class UserEvent(id: Int, data: String, isLast: Boolean)
-- plus the event time "ts" that Kafka carries.  A session ends on the event
-- with isLast = true, or after 30 minutes without an event.
--
-- Run it on a throwaway cluster:  bash .ci/run demo
-- or on a server of yours:        psql -X -q -f demo/demo.sql
-- (it works in a database of its own, sessionize_demo, which it drops
-- and creates again each time).

\set ON_ERROR_STOP on
\pset null '(null)'

-- A database of its own, made anew each time: nothing else is touched.
SET client_min_messages = warning;
DROP DATABASE IF EXISTS sessionize_demo;
CREATE DATABASE sessionize_demo;
\c sessionize_demo
SET TimeZone = 'UTC';

\echo
\echo '== CREATE EXTENSION sessionize, a sink table, and the stream'
CREATE EXTENSION sessionize;

-- Every finished session lands here, in the transaction that finished it.
CREATE TABLE user_sessions (
    id             bigserial PRIMARY KEY,
    key            integer NOT NULL,
    session_start  timestamptz NOT NULL,
    session_end    timestamptz NOT NULL,
    event_count    integer NOT NULL,
    end_reason     text NOT NULL,
    events         jsonb NOT NULL,
    sunk_at        timestamptz NOT NULL DEFAULT now()
);

SELECT sessionize.create_stream('user_events',
                                key_type => 'integer',
                                gap      => '30 minutes',
                                sink     => 'user_sessions');

\echo
\echo '== batch 1 (offset 1): users 7, 42, 99 and 13 start browsing; nothing finishes yet'
SELECT key, session_start, session_end, event_count, end_reason,
       jsonb_path_query_array(events, '$[*].data') AS data
  FROM sessionize.sessionize_batch('user_events', '[
    {"id": 7,  "data": "page_view",   "isLast": false, "ts": "2026-01-01T10:00:00Z"},
    {"id": 42, "data": "page_view",   "isLast": false, "ts": "2026-01-01T10:00:40Z"},
    {"id": 7,  "data": "click",       "isLast": false, "ts": "2026-01-01T10:01:10Z"},
    {"id": 99, "data": "page_view",   "isLast": false, "ts": "2026-01-01T10:01:30Z"},
    {"id": 42, "data": "click",       "isLast": false, "ts": "2026-01-01T10:02:05Z"},
    {"id": 13, "data": "page_view",   "isLast": false, "ts": "2026-01-01T10:02:30Z"},
    {"id": 7,  "data": "add_to_cart", "isLast": false, "ts": "2026-01-01T10:03:00Z"},
    {"id": 99, "data": "click",       "isLast": false, "ts": "2026-01-01T10:03:45Z"}
  ]', source => 'kafka-topic-0', batch_offset => 1);

\echo
\echo '== batch 2 (offset 2): user 7 checks out (isLast), which ends its session'
SELECT key, session_start, session_end, event_count, end_reason,
       jsonb_path_query_array(events, '$[*].data') AS data
  FROM sessionize.sessionize_batch('user_events', '[
    {"id": 13, "data": "click",       "isLast": false, "ts": "2026-01-01T10:05:00Z"},
    {"id": 7,  "data": "checkout",    "isLast": true,  "ts": "2026-01-01T10:05:20Z"},
    {"id": 42, "data": "add_to_cart", "isLast": false, "ts": "2026-01-01T10:06:00Z"},
    {"id": 99, "data": "add_to_cart", "isLast": false, "ts": "2026-01-01T10:07:10Z"},
    {"id": 13, "data": "page_view",   "isLast": false, "ts": "2026-01-01T10:08:00Z"},
    {"id": 42, "data": "page_view",   "isLast": false, "ts": "2026-01-01T10:09:30Z"},
    {"id": 23, "data": "page_view",   "isLast": false, "ts": "2026-01-01T10:10:00Z"},
    {"id": 99, "data": "page_view",   "isLast": false, "ts": "2026-01-01T10:11:00Z"}
  ]', source => 'kafka-topic-0', batch_offset => 2);

\echo
\echo '== batch 3 (offset 3): 42 and 99 check out; 7 is back (a new session); 13 goes quiet'
SELECT key, session_start, session_end, event_count, end_reason,
       jsonb_path_query_array(events, '$[*].data') AS data
  FROM sessionize.sessionize_batch('user_events', '[
    {"id": 23, "data": "click",       "isLast": false, "ts": "2026-01-01T10:12:00Z"},
    {"id": 42, "data": "checkout",    "isLast": true,  "ts": "2026-01-01T10:13:00Z"},
    {"id": 7,  "data": "page_view",   "isLast": false, "ts": "2026-01-01T10:15:00Z"},
    {"id": 99, "data": "add_to_cart", "isLast": false, "ts": "2026-01-01T10:16:30Z"},
    {"id": 23, "data": "add_to_cart", "isLast": false, "ts": "2026-01-01T10:18:00Z"},
    {"id": 7,  "data": "click",       "isLast": false, "ts": "2026-01-01T10:21:00Z"},
    {"id": 99, "data": "checkout",    "isLast": true,  "ts": "2026-01-01T10:22:00Z"}
  ]', source => 'kafka-topic-0', batch_offset => 3);

\echo
\echo '== batch 3 again: the consumer crashed before committing to Kafka and re-sends it'
\echo '   (skipped whole, with a NOTICE: no rows, no change)'
SELECT key, session_start, session_end, event_count, end_reason,
       jsonb_path_query_array(events, '$[*].data') AS data
  FROM sessionize.sessionize_batch('user_events', '[
    {"id": 23, "data": "click",       "isLast": false, "ts": "2026-01-01T10:12:00Z"},
    {"id": 42, "data": "checkout",    "isLast": true,  "ts": "2026-01-01T10:13:00Z"},
    {"id": 7,  "data": "page_view",   "isLast": false, "ts": "2026-01-01T10:15:00Z"},
    {"id": 99, "data": "add_to_cart", "isLast": false, "ts": "2026-01-01T10:16:30Z"},
    {"id": 23, "data": "add_to_cart", "isLast": false, "ts": "2026-01-01T10:18:00Z"},
    {"id": 7,  "data": "click",       "isLast": false, "ts": "2026-01-01T10:21:00Z"},
    {"id": 99, "data": "checkout",    "isLast": true,  "ts": "2026-01-01T10:22:00Z"}
  ]', source => 'kafka-topic-0', batch_offset => 3);

\echo
\echo '== batch 4 (offset 4): events up to 10:45 move the clock past 10:08 + 30 min,'
\echo '   so user 13, idle since 10:08, times out (end_reason gap)'
SELECT key, session_start, session_end, event_count, end_reason,
       jsonb_path_query_array(events, '$[*].data') AS data
  FROM sessionize.sessionize_batch('user_events', '[
    {"id": 23, "data": "checkout",    "isLast": true,  "ts": "2026-01-01T10:25:00Z"},
    {"id": 7,  "data": "add_to_cart", "isLast": false, "ts": "2026-01-01T10:31:00Z"},
    {"id": 42, "data": "page_view",   "isLast": false, "ts": "2026-01-01T10:38:00Z"},
    {"id": 5,  "data": "page_view",   "isLast": false, "ts": "2026-01-01T10:40:00Z"},
    {"id": 42, "data": "click",       "isLast": false, "ts": "2026-01-01T10:41:30Z"},
    {"id": 5,  "data": "click",       "isLast": false, "ts": "2026-01-01T10:43:00Z"},
    {"id": 7,  "data": "click",       "isLast": false, "ts": "2026-01-01T10:45:00Z"}
  ]', source => 'kafka-topic-0', batch_offset => 4);

\echo
\echo '== sessionize.open_sessions: the state kept between batches (Spark''s stateSnapshots)'
SELECT key, session_start, session_end, event_count,
       jsonb_path_query_array(events, '$[*].data') AS data
  FROM sessionize.open_sessions('user_events');

\echo
\echo '== sessionize.stats'
-- (last_batch_at is the time the demo ran: shown as how long ago)
SELECT stream, events_in, late_events, batches, sessions_open, sessions_closed,
       closed_gap, closed_max_duration, closed_max_events, closed_last, closed_flush,
       watermark, offsets, future_events, batches_skipped, outputs,
       now() - last_batch_at < interval '1 minute' AS last_batch_recent
  FROM sessionize.stats \gx

\echo
\echo '== sessionize.committed_offset: where the consumer resumes after a restart'
SELECT sessionize.committed_offset('user_events', 'kafka-topic-0');

\echo
\echo '== sessionize.expire: the topic went quiet; at 11:12 the clock times out user 42 (idle since 10:41:30)'
SELECT key, session_start, session_end, event_count, end_reason,
       jsonb_path_query_array(events, '$[*].data') AS data
  FROM sessionize.expire('user_events', '2026-01-01T11:12:00Z');

\echo
\echo '== sessionize.flush: shutting down, end every open session'
SELECT key, session_start, session_end, event_count, end_reason,
       jsonb_path_query_array(events, '$[*].data') AS data
  FROM sessionize.flush('user_events');

\echo
\echo '== the sink: every session, exactly once, whichever call finished it'
SELECT id, key, session_start, session_end, event_count, end_reason,
       jsonb_path_query_array(events, '$[*].data') AS data
  FROM user_sessions
 ORDER BY id;
