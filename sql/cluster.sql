-- Per-event offsets, partition moves and the calls of sessionize_proxy,
-- on one node.
SET client_min_messages = notice;
SELECT sessionize.create_stream('evo', gap => '10 minutes');

-- each event's own offset: the batch commits the last one's
SELECT key, event_count, end_reason FROM sessionize.sessionize_batch('evo',
    ARRAY['a', 'b', 'a'], ARRAY['2026-03-01 10:00Z', '2026-03-01 10:01Z', '2026-03-01 10:02Z']::timestamptz[],
    NULL, ARRAY['{"n":1}', '{"n":2}', '{"n":3}']::jsonb[], 'app', offsets => ARRAY[1, 2, 3]);
SELECT sessionize.committed_offset('evo', 'app');
-- resumed inside that batch, with another cut: offsets 2 and 3 are skipped, 4 and 5 applied
SELECT key, event_count, end_reason FROM sessionize.sessionize_batch('evo',
    ARRAY['b', 'a', 'c', 'b'],
    ARRAY['2026-03-01 10:01Z', '2026-03-01 10:02Z', '2026-03-01 10:03Z', '2026-03-01 10:04Z']::timestamptz[],
    NULL, ARRAY['{"n":2}', '{"n":3}', '{"n":4}', '{"n":5}']::jsonb[], 'app', offsets => ARRAY[2, 3, 4, 5]);
SELECT key, event_count, events FROM sessionize.open_sessions('evo') ORDER BY key;
SELECT sessionize.committed_offset('evo', 'app');
-- offsets need not be dense; batch_offset may cover more than the last event
SELECT count(*) FROM sessionize.sessionize_batch('evo', ARRAY['a'], ARRAY['2026-03-01 10:05Z']::timestamptz[],
    NULL, ARRAY['{"n":9}']::jsonb[], 'app', 12, offsets => ARRAY[9]);
SELECT sessionize.committed_offset('evo', 'app');
-- all at or before it: skipped whole
SELECT count(*) FROM sessionize.sessionize_batch('evo', ARRAY['z'], ARRAY['2026-03-01 10:06Z']::timestamptz[],
    NULL, ARRAY['{}']::jsonb[], 'app', offsets => ARRAY[11]);
-- an empty batch with batch_offset commits it
SELECT count(*) FROM sessionize.sessionize_batch('evo', '{}'::text[], '{}', NULL, '{}', 'app', 20,
    offsets => '{}');
SELECT sessionize.committed_offset('evo', 'app');
SELECT events_in, batches_skipped FROM sessionize.stats WHERE stream = 'evo';

-- errors
SELECT sessionize.sessionize_batch('evo', ARRAY['a', 'b'], ARRAY[now(), now()], NULL,
    ARRAY['{}', '{}']::jsonb[], 'app', offsets => ARRAY[30, 30]);
SELECT sessionize.sessionize_batch('evo', ARRAY['a', 'b'], ARRAY[now(), now()], NULL,
    ARRAY['{}', '{}']::jsonb[], 'app', offsets => ARRAY[31]);
SELECT sessionize.sessionize_batch('evo', ARRAY['a'], ARRAY[now()], NULL,
    ARRAY['{}']::jsonb[], 'app', offsets => ARRAY[NULL::bigint]);
SELECT sessionize.sessionize_batch('evo', ARRAY['a'], ARRAY[now()], NULL,
    ARRAY['{}']::jsonb[], NULL, offsets => ARRAY[31]);
SELECT sessionize.sessionize_batch('evo', ARRAY['a'], ARRAY[now()], NULL,
    ARRAY['{}']::jsonb[], 'app', 40, first_offset => 40, offsets => ARRAY[40]);
SELECT sessionize.sessionize_batch('evo', ARRAY['a'], ARRAY[now()], NULL,
    ARRAY['{}']::jsonb[], 'app', 30, offsets => ARRAY[40]);
SELECT sessionize.sessionize_batch('evo', '{}'::text[], '{}', NULL, '{}', 'app', offsets => '{}');
SELECT sessionize.committed_offset('evo', 'app');

-- moving a partition: here from one stream to another of the same settings
SELECT sessionize.create_stream('mv_a', gap => '10 minutes', partitions => 2);
SELECT sessionize.create_stream('mv_b', gap => '10 minutes', partitions => 2);
SELECT count(*) FROM sessionize.sessionize_batch('mv_a',
    '[{"id": "k1", "ts": "2026-03-01T10:00:00Z"}, {"id": "k2", "ts": "2026-03-01T10:01:00Z"}]',
    'kafka-1', 7, 1);
BEGIN;
SELECT e -> 'partition' ->> 'events_in' AS events_in,
       e -> 'partition' ->> 'sessions_open' AS sessions_open,
       (e -> 'partition' ->> 'watermark')::timestamptz = '2026-03-01 10:01Z' AS watermark,
       jsonb_path_query_array(e, '$.offsets[*].source') AS sources,
       jsonb_path_query_array(e, '$.offsets[*].committed_offset') AS committed
  FROM sessionize.export_partition('mv_a', 1) e;
SELECT sessionize.import_partition('mv_b', 1, sessionize.export_partition('mv_a', 1));
-- the rows are copied apart (sessionize-move uses COPY)
DO $$
DECLARE
    a name := (SELECT state_table FROM sessionize.streams WHERE name = 'mv_a');
    b name := (SELECT state_table FROM sessionize.streams WHERE name = 'mv_b');
BEGIN
    EXECUTE format('INSERT INTO sessionize.%I SELECT * FROM sessionize.%I WHERE part = 1',
                   b || '_timers', a || '_timers');
    EXECUTE format('INSERT INTO sessionize.%I SELECT * FROM sessionize.%I WHERE part = 1', b, a);
END
$$;
SELECT sessionize.forget_partition('mv_a', 1);
COMMIT;
SELECT stream, "partition", sessions_open, offsets, watermark = '2026-03-01 10:01Z' AS watermark,
       moved_at IS NOT NULL AS moved
  FROM sessionize.partition_stats WHERE stream LIKE 'mv_%' ORDER BY 1, 2;
SELECT key, event_count, "partition" FROM sessionize.open_sessions('mv_b');
SELECT count(*) FROM sessionize.open_sessions('mv_a');
-- the old one refuses calls on the partition, with an error to retry
SELECT count(*) FROM sessionize.sessionize_batch('mv_a', '[]', 'kafka-1', 8, 1);
SELECT count(*) FROM sessionize.flush('mv_a', 1);
SELECT sessionize.export_partition('mv_a', 1);
-- calls on every partition skip it
SELECT count(*) FROM sessionize.expire('mv_a', '2026-03-02');
SELECT count(*) FROM sessionize.flush('mv_a');
-- the new one goes on from the offset that moved
SELECT count(*) FROM sessionize.sessionize_batch('mv_b', '[]', 'kafka-1', 7, 1);
SELECT key, event_count, end_reason FROM sessionize.expire('mv_b', '2026-03-02');
-- a partition moves only into an empty one
SELECT sessionize.sessionize_batch('mv_b', '[{"id": "k3", "ts": "2026-03-02T10:00:00Z"}]', 'kafka-1', 9, 1);
SELECT sessionize.import_partition('mv_a', 1, '{"partition": {}, "offsets": []}');
SELECT sessionize.import_partition('mv_b', 1, '{"partition": {}, "offsets": []}');
SELECT sessionize.import_partition('mv_a', 0, NULL);
SELECT sessionize.import_partition('mv_a', 0, '[]');
-- brought back: the mark goes
SELECT sessionize.import_partition('mv_a', 1, '{"partition": {}, "offsets": [{"source": "x", "committed_offset": 3, "committed_at": "2026-03-01T00:00:00Z"}]}');
SELECT "partition", offsets, events_in, moved_at IS NOT NULL AS moved
  FROM sessionize.partition_stats WHERE stream = 'mv_a' ORDER BY 1;

-- another role's stream: no
CREATE ROLE cluster_other;
SET ROLE cluster_other;
SELECT sessionize.export_partition('mv_a', 0);
SELECT sessionize.forget_partition('mv_a', 0);
RESET ROLE;
DROP ROLE cluster_other;

-- the proxy's calls: a batch routed by key over a cluster of 2 partitions
SELECT sessionize.create_stream('bykey', gap => '10 minutes', partitions => 4);
-- this node holds cluster partition 1 (stream partitions 1 and 3); hashes 5 and 7
-- are stream partitions 1 and 3, the NULL-offset element a call with no event
SELECT key, event_count FROM sessionize._cluster_batch('bykey', ARRAY['p', 'q', 'r', NULL],
    ARRAY['2026-03-01 10:00Z', '2026-03-01 10:00Z', '2026-03-01 10:01Z', NULL]::timestamptz[],
    ARRAY[false, false, true, NULL], ARRAY['{}', '{}', '{}', NULL]::jsonb[], 'app',
    ARRAY[1, 2, 3, NULL], ARRAY[5, 7, 5, 1], 4, 2);
SELECT "partition", sessions_open, offsets FROM sessionize.partition_stats
 WHERE stream = 'bykey' ORDER BY 1;
SELECT * FROM sessionize._cluster_committed('bykey', 'app', ARRAY[1], 2);
SELECT * FROM sessionize._cluster_committed('bykey', 'app', ARRAY[0], 2);
SELECT sessionize._cluster_set_offset('bykey', 'app', 10, ARRAY[1], 2);
SELECT * FROM sessionize._cluster_committed('bykey', 'app', ARRAY[1], 2);
SELECT "partition" FROM sessionize._cluster_partitions(ARRAY[3], 2) WHERE stream = 'bykey';
-- a partition moved away: the batch fails (to be sent again), never skips its events
BEGIN;
SELECT sessionize.forget_partition('bykey', 3);
SELECT key FROM sessionize._cluster_batch('bykey', ARRAY['s'], ARRAY['2026-03-01 10:02Z']::timestamptz[],
    NULL, ARRAY['{}']::jsonb[], 'app', ARRAY[11], ARRAY[7], 11, 2);
ROLLBACK;
SELECT sessionize._cluster_batch('evo', ARRAY['p'], ARRAY[now()], NULL, ARRAY['{}']::jsonb[],
    'app', ARRAY[1], ARRAY[0], 1, 2);
SELECT sessionize._cluster_batch('bykey', ARRAY['p'], ARRAY[now()], NULL, ARRAY['{}']::jsonb[],
    'app', ARRAY[1], ARRAY[0], 1, 3);

SELECT sessionize.drop_stream(s) FROM unnest(ARRAY['evo', 'mv_a', 'mv_b', 'bykey']) s;
