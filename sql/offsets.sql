-- offsets: exactly-once delivery.  With source and batch_offset, the
-- stream records the offset in the batch's transaction; a batch at or
-- below the recorded offset is skipped whole (NOTICE, no rows, no change).
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';

SELECT sessionize.create_stream('eo', gap => '30 minutes');
SELECT sessionize.committed_offset('eo', 'kafka-0') AS never_seen;

SELECT * FROM feed('eo', '[
  {"id": "a", "n": 1, "ts": "2026-01-01T10:00:00Z"},
  {"id": "a", "n": 2, "ts": "2026-01-01T10:05:00Z", "isLast": true},
  {"id": "b", "n": 1, "ts": "2026-01-01T10:06:00Z"}]', 'kafka-0', 1);
SELECT sessionize.committed_offset('eo', 'kafka-0');
SELECT * FROM counters('eo');

-- The same batch again, and an older one: skipped, nothing changes.
SELECT * FROM feed('eo', '[
  {"id": "a", "n": 1, "ts": "2026-01-01T10:00:00Z"},
  {"id": "a", "n": 2, "ts": "2026-01-01T10:05:00Z", "isLast": true},
  {"id": "b", "n": 1, "ts": "2026-01-01T10:06:00Z"}]', 'kafka-0', 1);
SELECT * FROM feed('eo', '[{"id": "c", "n": 1, "ts": "2026-01-01T12:00:00Z"}]', 'kafka-0', 0);
SELECT * FROM counters('eo');
SELECT * FROM still_open('eo');

-- A skipped batch is not even decoded: a malformed replay is skipped too.
SELECT * FROM feed('eo', '"garbage"', 'kafka-0', 1);

-- Sources are independent; offsets need not be consecutive, and negative
-- offsets order like any other bigint.
SELECT * FROM feed('eo', '[{"id": "b", "n": 2, "ts": "2026-01-01T10:07:00Z"}]', 'kafka-1', -5);
SELECT * FROM feed('eo', '[{"id": "b", "n": 3, "ts": "2026-01-01T10:08:00Z"}]', 'kafka-0', 7);
SELECT * FROM feed('eo', '[{"id": "b", "n": 9, "ts": "2026-01-01T10:09:00Z"}]', 'kafka-1', -6);
SELECT sessionize.committed_offset('eo', 'kafka-0') AS k0,
       sessionize.committed_offset('eo', 'kafka-1') AS k1;
SELECT offsets FROM counters('eo');
SELECT * FROM still_open('eo');

-- An empty batch commits its offset.
SELECT * FROM feed('eo', '[]', 'kafka-0', 8);
SELECT sessionize.committed_offset('eo', 'kafka-0');

-- A batch that fails commits no offset: it can be sent again.
SELECT * FROM feed('eo', '[{"id": "b", "ts": null}]', 'kafka-0', 9);
SELECT sessionize.committed_offset('eo', 'kafka-0');
SELECT * FROM feed('eo', '[{"id": "b", "n": 4, "ts": "2026-01-01T10:10:00Z", "isLast": true}]',
                   'kafka-0', 9);

-- A batch rolled back with its transaction leaves no offset either.
BEGIN;
SELECT * FROM feed('eo', '[{"id": "d", "n": 1, "ts": "2026-01-01T10:11:00Z"}]', 'kafka-0', 10);
ROLLBACK;
SELECT sessionize.committed_offset('eo', 'kafka-0');
SELECT * FROM still_open('eo');

-- source and batch_offset go together.
SELECT label, try(sql) FROM (VALUES
  ('source alone', $$SELECT sessionize.sessionize_batch('eo', '[]', 'kafka-0')$$),
  ('offset alone', $$SELECT sessionize.sessionize_batch('eo', '[]', NULL, 11)$$)
) AS t(label, sql);
