-- rules: each session rule of SPEC section 4 where it is the deciding
-- rule, with its boundaries.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';

-- Rule 1, the gap boundary: an event exactly gap after the last starts a
-- new session (reason gap); one a microsecond sooner joins.
SELECT sessionize.create_stream('gap', gap => '30 minutes');
SELECT * FROM feed('gap', '[
  {"id": "a", "n": 1, "ts": "2026-01-01T10:00:00Z"},
  {"id": "a", "n": 2, "ts": "2026-01-01T10:29:59.999999Z"},
  {"id": "a", "n": 3, "ts": "2026-01-01T10:59:59.999999Z"}]');
SELECT * FROM still_open('gap');

-- Rule 2: max_duration closes a session when an event comes max_duration
-- or more after its first (here exactly one hour), and that event opens
-- the next.  Key b: both gap and max_duration are due, and gap wins.
SELECT sessionize.create_stream('dur', gap => '30 minutes', max_duration => '1 hour');
SELECT * FROM feed('dur', '[
  {"id": "a", "n": 1, "ts": "2026-01-01T10:00:00Z"},
  {"id": "a", "n": 2, "ts": "2026-01-01T10:20:00Z"},
  {"id": "a", "n": 3, "ts": "2026-01-01T10:40:00Z"},
  {"id": "a", "n": 4, "ts": "2026-01-01T11:00:00Z"},
  {"id": "a", "n": 5, "ts": "2026-01-01T11:10:00Z"},
  {"id": "b", "n": 1, "ts": "2026-01-01T10:00:00Z"},
  {"id": "b", "n": 2, "ts": "2026-01-01T10:20:00Z"},
  {"id": "b", "n": 3, "ts": "2026-01-01T11:00:00Z"}]');
SELECT * FROM still_open('dur');

-- Rule 5: a session closes when it holds exactly max_events (key a: 3
-- events, then 2 open).  An isLast event that is also the max_events'th
-- closes with reason last (key b).  Events after a last in the same batch
-- open a new session; nothing is dropped (key c).
SELECT sessionize.create_stream('maxev', max_events => 3);
SELECT * FROM feed('maxev', '[
  {"id": "a", "n": 1, "ts": "2026-01-01T10:00:00Z"},
  {"id": "a", "n": 2, "ts": "2026-01-01T10:01:00Z"},
  {"id": "a", "n": 3, "ts": "2026-01-01T10:02:00Z"},
  {"id": "a", "n": 4, "ts": "2026-01-01T10:03:00Z"},
  {"id": "a", "n": 5, "ts": "2026-01-01T10:04:00Z"},
  {"id": "b", "n": 1, "ts": "2026-01-01T10:00:00Z"},
  {"id": "b", "n": 2, "ts": "2026-01-01T10:01:00Z"},
  {"id": "b", "n": 3, "ts": "2026-01-01T10:02:00Z", "isLast": true},
  {"id": "c", "n": 1, "ts": "2026-01-01T10:00:00Z", "isLast": true},
  {"id": "c", "n": 2, "ts": "2026-01-01T10:01:00Z"}]');
SELECT * FROM still_open('maxev');

-- A session spans batches: the max_events count goes on where it was.
SELECT * FROM feed('maxev', '[{"id": "a", "n": 6, "ts": "2026-01-01T10:05:00Z"}]');

-- Ties in ts keep batch order: three events at one instant, listed after a
-- later one; with max_events 2 the first two in batch order close.
SELECT sessionize.create_stream('ties', max_events => 2);
SELECT * FROM feed('ties', '[
  {"id": "a", "n": 4, "ts": "2026-01-01T10:05:00Z"},
  {"id": "a", "n": 1, "ts": "2026-01-01T10:00:00Z"},
  {"id": "a", "n": 2, "ts": "2026-01-01T10:00:00Z"},
  {"id": "a", "n": 3, "ts": "2026-01-01T10:00:00Z"}]');
SELECT * FROM still_open('ties');

-- Equal ts across batches keep arrival order too: the later-arriving event
-- goes after the open session's events of the same ts.
SELECT sessionize.create_stream('ties2');
SELECT * FROM feed('ties2', '[
  {"id": "a", "n": 1, "ts": "2026-01-01T10:00:00Z"},
  {"id": "a", "n": 2, "ts": "2026-01-01T10:05:00Z"}]');
SELECT * FROM feed('ties2', '[{"id": "a", "n": 3, "ts": "2026-01-01T10:00:00Z"}]');
SELECT * FROM still_open('ties2');

-- Out-of-order events join the open session in ts order, and are never
-- judged by rule 1 (first_ts/last_ts are the oldest and newest).  Key b:
-- an event two hours older than the session, more than gap, still joins
-- (arrival order; lateness is 3 hours here, so it is not late either).
SELECT sessionize.create_stream('ooo', gap => '30 minutes', lateness => '3 hours');
SELECT * FROM feed('ooo', '[
  {"id": "a", "n": 1, "ts": "2026-01-01T12:10:00Z"},
  {"id": "b", "n": 1, "ts": "2026-01-01T12:00:00Z"}]');
SELECT * FROM feed('ooo', '[
  {"id": "a", "n": 2, "ts": "2026-01-01T12:05:00Z"},
  {"id": "a", "n": 3, "ts": "2026-01-01T12:20:00Z"},
  {"id": "b", "n": 2, "ts": "2026-01-01T10:00:00Z"}]');
SELECT * FROM still_open('ooo');
SELECT events_in, late, watermark FROM counters('ooo');
