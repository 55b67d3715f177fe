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

-- first_offset: a batch of the messages first_offset to batch_offset that
-- overlaps the committed range (a consumer that resumed at the committed
-- offset instead of after it) is refused rather than applied again; one
-- wholly at or before it is skipped as ever, and counted.
SELECT sessionize.committed_offset('eo', 'kafka-0');
SELECT label, try(sql) FROM (VALUES
  ('overlaps',        $$SELECT sessionize.sessionize_batch('eo', '[]', 'kafka-0', 12, first_offset => 5)$$),
  ('starts at it',    $$SELECT sessionize.sessionize_batch('eo', '[]', 'kafka-0', 12, first_offset => 9)$$),
  ('first after last', $$SELECT sessionize.sessionize_batch('eo', '[]', 'kafka-0', 12, first_offset => 13)$$),
  ('no source',       $$SELECT sessionize.sessionize_batch('eo', '[]', first_offset => 1)$$)
) AS t(label, sql);
SELECT sessionize.sessionize_batch('eo', '[]', 'kafka-0', 12, first_offset => 8);
SELECT batches_skipped FROM sessionize.stats WHERE stream = 'eo';
SELECT * FROM feed('eo', '[]', 'kafka-0', 7);
SELECT count(*) FROM sessionize.sessionize_batch('eo', '[]', 'kafka-0', 9, first_offset => 5);
SELECT batches_skipped FROM sessionize.stats WHERE stream = 'eo';
-- The batch right after the committed offset goes in, in each form.
SELECT count(*) FROM sessionize.sessionize_batch('eo', '[]', 'kafka-0', 11, first_offset => 10);
SELECT count(*) FROM sessionize.sessionize_batch('eo', '{}'::text[], '{}', NULL, '{}',
                                                 'kafka-0', 12, first_offset => 12);
SELECT count(*) FROM sessionize.sessionize_query('eo', 'SELECT 1 AS id, now() AS ts WHERE false',
                                                 'kafka-0', 13, first_offset => 13);
SELECT sessionize.committed_offset('eo', 'kafka-0');

-- set_offset: the owner moves a source's offset (the topic was recreated,
-- or its history is reprocessed), and NULL forgets the source.
SELECT sessionize.set_offset('eo', 'kafka-0', 2);
SELECT sessionize.committed_offset('eo', 'kafka-0');
SELECT count(*) FROM sessionize.sessionize_batch('eo', '[]', 'kafka-0', 3);
SELECT sessionize.set_offset('eo', 'kafka-0', NULL);
SELECT sessionize.committed_offset('eo', 'kafka-0') IS NULL AS forgotten;
SELECT offsets FROM counters('eo');
-- A source it names first belongs to the partition it says (0 by default).
SELECT sessionize.create_stream('eo2', partitions => 2);
SELECT sessionize.set_offset('eo2', 'topic-1', 99, "partition" => 1);
SELECT "partition", offsets FROM sessionize.partition_stats WHERE stream = 'eo2' ORDER BY 1;
SELECT count(*) FROM sessionize.sessionize_batch('eo2', '[]', 'topic-1', 100, 1);
SELECT label, try(sql) FROM (VALUES
  ('other partition', $$SELECT sessionize.sessionize_batch('eo2', '[]', 'topic-1', 101, 0)$$),
  ('no partition 2',  $$SELECT sessionize.set_offset('eo2', 'topic-2', 1, "partition" => 2)$$),
  ('NULL source',     $$SELECT sessionize.set_offset('eo2', NULL, 1)$$)
) AS t(label, sql);
-- Only the owner (or a member of it) sets offsets.
CREATE ROLE regress_sessionize_offsetter;
SET ROLE regress_sessionize_offsetter;
SELECT try($$SELECT sessionize.set_offset('eo2', 'topic-1', 1)$$);
RESET ROLE;
DROP ROLE regress_sessionize_offsetter;
SELECT sessionize.committed_offset('eo2', 'topic-1');
SELECT sessionize.drop_stream('eo2');
