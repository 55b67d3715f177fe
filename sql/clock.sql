-- clock: the watermark (newest ts seen minus lateness, never going back)
-- times out open sessions after each batch; expire() moves it by wall
-- clock; flush() ends every open session.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';

-- A key is timed out by another key's event: b at 10:29:59 leaves a open;
-- b at exactly 10:30 (a's last_ts + gap) closes it, in that batch's result.
SELECT sessionize.create_stream('clock', gap => '30 minutes');
SELECT * FROM feed('clock', '[{"id": "a", "n": 1, "ts": "2026-01-01T10:00:00Z"}]');
SELECT * FROM feed('clock', '[{"id": "b", "n": 1, "ts": "2026-01-01T10:29:59Z"}]');
SELECT * FROM feed('clock', '[{"id": "b", "n": 2, "ts": "2026-01-01T10:30:00Z"}]');
SELECT * FROM still_open('clock');

-- The watermark never goes back: a batch of older events leaves it at
-- 10:30, and those events are late (counted, not dropped).  c at 09:00 is
-- late and its session is timed out at once; d at 10:10 stays open.
SELECT * FROM feed('clock', '[
  {"id": "c", "n": 1, "ts": "2026-01-01T09:00:00Z"},
  {"id": "d", "n": 1, "ts": "2026-01-01T10:10:00Z"}]');
SELECT * FROM still_open('clock');
SELECT * FROM counters('clock');

-- An empty batch changes nothing but the batch count.
SELECT * FROM feed('clock', '[]');
SELECT * FROM counters('clock');

-- Lateness holds the clock back: with 10 minutes, an event at 10:35 sets
-- the watermark to 10:25 and a (deadline 10:30) stays open; 10:40 closes it.
SELECT sessionize.create_stream('late', gap => '30 minutes', lateness => '10 minutes');
SELECT * FROM feed('late', '[{"id": "a", "n": 1, "ts": "2026-01-01T10:00:00Z"}]');
SELECT * FROM feed('late', '[{"id": "b", "n": 1, "ts": "2026-01-01T10:35:00Z"}]');
SELECT * FROM feed('late', '[{"id": "b", "n": 2, "ts": "2026-01-01T10:40:00Z"}]');
SELECT watermark FROM counters('late');

-- expire(): the clock by wall time, less lateness.  now = 11:19:59 gives a
-- watermark of 11:09:59, short of b's deadline 11:10; 11:20 reaches it.
-- An earlier now does not move the watermark back.
SELECT * FROM expire_at('late', '2026-01-01T11:19:59Z');
SELECT * FROM expire_at('late', '2026-01-01T11:20:00Z');
SELECT * FROM expire_at('late', '2026-01-01T08:00:00Z');
SELECT watermark, open, gap FROM counters('late');

-- expire() on a stream without gap closes nothing: only gap times out.
SELECT sessionize.create_stream('nogap', max_events => 10);
SELECT * FROM feed('nogap', '[{"id": "a", "n": 1, "ts": "2026-01-01T10:00:00Z"}]');
SELECT * FROM expire_at('nogap', '2027-01-01T00:00:00Z');
SELECT * FROM still_open('nogap');

-- flush(): every open session ends with reason flush; the watermark stays
-- (at 2027, where expire() put it, so these 2026 events count as late).
SELECT * FROM feed('nogap', '[
  {"id": "b", "n": 1, "ts": "2026-01-01T10:00:00Z"},
  {"id": "b", "n": 2, "ts": "2026-01-01T10:01:00Z"}]');
SELECT * FROM flush_all('nogap');
SELECT * FROM still_open('nogap');
SELECT * FROM flush_all('nogap');
SELECT * FROM counters('nogap');

-- expire() and flush() check their arguments.
SELECT * FROM sessionize.expire('nogap', NULL);
SELECT * FROM sessionize.expire('nogap', 'infinity');
SELECT * FROM sessionize.flush('no such stream');

-- The clock finds a session by a timer that an event extending the
-- session leaves where it was (so that the update writes no index entry).
-- At the old timer it is looked at and rescheduled, not closed; it closes
-- exactly at its deadline, last_ts + gap.
SELECT sessionize.create_stream('timer', gap => '30 minutes', lateness => '2 hours');
SELECT * FROM feed('timer', '[{"id": "a", "n": 1, "ts": "2026-01-01T10:00:00Z"}]');
SELECT * FROM feed('timer', '[{"id": "a", "n": 2, "ts": "2026-01-01T10:20:00Z"}]');
SELECT * FROM feed('timer', '[{"id": "a", "n": 3, "ts": "2026-01-01T10:40:00Z"}]');
SELECT * FROM expire_at('timer', '2026-01-01T12:30:00Z');
SELECT * FROM expire_at('timer', '2026-01-01T13:09:59Z');
SELECT * FROM expire_at('timer', '2026-01-01T13:10:00Z');
-- A session that ends, and a new one of the key that the same batch opens
-- earlier than the old timer (the batch's events come out of order): the
-- new session is timed out at its own deadline, not at the old timer.
SELECT * FROM feed('timer', '[{"id": "b", "n": 1, "ts": "2026-01-01T14:00:00Z"}]');
SELECT * FROM feed('timer', '[
  {"id": "b", "n": 2, "ts": "2026-01-01T13:00:00Z", "isLast": true},
  {"id": "b", "n": 3, "ts": "2026-01-01T13:01:00Z"}]');
SELECT * FROM expire_at('timer', '2026-01-01T15:30:59Z');
SELECT * FROM expire_at('timer', '2026-01-01T15:31:00Z');
SELECT sessionize.drop_stream('timer');

-- The clock's scan of the timers starts at the partition's timer floor,
-- kept in its catalog row: when a call is done, no timer is earlier than
-- the clock, which becomes the floor (a late event whose session the
-- clock has passed ends in its call and leaves it as it was).  A new gap
-- moves the timers, earlier too: the floor is forgotten (NULL) and the
-- next call scans them all, so that d, whose timer is now before the
-- floor, ends there.
CREATE VIEW floor AS
SELECT p.watermark, p.timer_floor
  FROM sessionize.partitions p JOIN sessionize.streams s USING (stream_id)
 WHERE s.name = 'floor';
SELECT sessionize.create_stream('floor', gap => '30 minutes', lateness => '3 hours');
SELECT * FROM floor;
SELECT * FROM feed('floor', '[{"id": "a", "n": 1, "ts": "2026-01-01T12:00:00Z"}]');
SELECT * FROM floor;
SELECT * FROM feed('floor', '[{"id": "b", "n": 1, "ts": "2026-01-01T08:00:00Z"}]');
SELECT * FROM floor;
SELECT * FROM feed('floor', '[{"id": "d", "n": 1, "ts": "2026-01-01T08:40:00Z"}]');
SELECT sessionize.alter_stream('floor', 'gap', '15 minutes');
SELECT * FROM floor;
SELECT * FROM feed('floor', '[{"id": "e", "n": 1, "ts": "2026-01-01T12:00:00Z"}]');
SELECT * FROM floor;
SELECT key, session_start FROM sessionize.open_sessions('floor') ORDER BY key;
SELECT sessionize.drop_stream('floor');
DROP VIEW floor;

-- expire_all: the clock of every stream that has a sink (for pg_cron),
-- each on its own: a stream without a sink is left alone (its closed
-- sessions would be lost), one that fails is a WARNING and NULL, and the
-- others go on.
CREATE TABLE ea_sink (key text, end_reason text);
CREATE TABLE ea_bad_sink (key text);
CREATE FUNCTION ea_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'the sink is full'; END $$;
CREATE TRIGGER ea_refuse BEFORE INSERT ON ea_bad_sink FOR EACH ROW EXECUTE FUNCTION ea_refuse();
SELECT sessionize.create_stream('ea_1', gap => '10 minutes', sink => 'ea_sink', max_future => NULL);
SELECT sessionize.create_stream('ea_2', gap => '10 minutes', max_future => NULL);
SELECT sessionize.create_stream('ea_3', gap => '10 minutes', sink => 'ea_bad_sink', max_future => NULL);
SELECT s, count(b.key) FROM unnest(ARRAY['ea_1', 'ea_2', 'ea_3']) s
  LEFT JOIN LATERAL sessionize.sessionize_batch(s, '[{"id": "a", "ts": "2026-01-01T10:50:00Z"},
                                                 {"id": "b", "ts": "2026-01-01T10:55:00Z"}]') b ON true
 GROUP BY s ORDER BY s;
SELECT * FROM sessionize.expire_all('2026-01-01 11:02Z') WHERE stream LIKE 'ea\_%';
SELECT * FROM ea_sink ORDER BY key;
SELECT s, count(*) AS still_open FROM unnest(ARRAY['ea_1', 'ea_2', 'ea_3']) s,
       LATERAL sessionize.open_sessions(s) GROUP BY s ORDER BY s;
SELECT sessionize.drop_stream(s) FROM unnest(ARRAY['ea_1', 'ea_2', 'ea_3']) s;
DROP TABLE ea_sink, ea_bad_sink;
DROP FUNCTION ea_refuse();
