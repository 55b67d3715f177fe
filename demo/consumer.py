#!/usr/bin/env python3
"""consumer.py: feed a sessionize stream from kcat's output, exactly once.

    kcat -C -b BROKER -t clicks -o beginning -f '%p %o %s\\n' \\
        | python3 demo/consumer.py user_events clicks

Each line is "partition offset message".  Every batch holds messages of one
Kafka partition, and is sent with that partition's source ("clicks-<p>"),
the offset of its last message (batch_offset) and of its first
(first_offset).  A message at or before the committed offset is not sent
again: killed at any moment and run again on the same input, every event is
applied once.  (With Kafka itself, seek each partition to
committed_offset + 1 when the consumer starts instead of reading from the
beginning.)  The connection comes from the usual PG* variables.
"""
import json
import sys

import psycopg
from psycopg.types.json import Jsonb

BATCH_SIZE = 1000


def main():
    stream, topic = sys.argv[1], sys.argv[2]
    with psycopg.connect(autocommit=True) as conn:
        committed = {}  # partition -> offset committed for its source
        batches = {}    # partition -> [(offset, message)] not yet sent

        def source(p):
            return "%s-%d" % (topic, p)

        def send(p):
            batch = batches.pop(p, [])
            if not batch:
                return
            rows = conn.execute(
                "SELECT key, session_start, event_count, end_reason"
                "  FROM sessionize.sessionize_batch(%s, %s, source => %s,"
                "       batch_offset => %s, first_offset => %s)",
                (stream, Jsonb([m for _, m in batch]), source(p),
                 batch[-1][0], batch[0][0])).fetchall()
            committed[p] = batch[-1][0]
            for row in rows:
                print(*row, sep="\t")

        for line in sys.stdin:
            p, offset, message = line.rstrip("\n").split(" ", 2)
            p, offset = int(p), int(offset)
            if p not in committed:
                c = conn.execute("SELECT sessionize.committed_offset(%s, %s)",
                                 (stream, source(p))).fetchone()[0]
                committed[p] = -1 if c is None else c
            if offset <= committed[p]:
                continue  # applied before: resume after the committed offset
            batches.setdefault(p, []).append((offset, json.loads(message)))
            if len(batches[p]) >= BATCH_SIZE:
                send(p)
        for p in list(batches):
            send(p)


if __name__ == "__main__":
    main()
