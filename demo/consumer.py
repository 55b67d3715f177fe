#!/usr/bin/env python3
"""consumer.py: feed a sessionize stream from kcat's output, exactly once.

    kcat -C -b BROKER -t clicks -o beginning -f '%p %o %s\\n' \\
        | python3 demo/consumer.py user_events clicks

Each line is "partition offset message", the message a JSON event.  Every
batch holds messages of one Kafka partition, and is sent with the typed
form of sessionize_batch (keys, ts, is_last and payloads as parallel
arrays), that partition's source ("clicks-<p>"), the offset of its last
message (batch_offset) and of its first (first_offset).  A message at or
before the committed offset is not sent again: killed at any moment and
run again on the same input, every event is applied once.  (With Kafka
itself, seek each partition to committed_offset + 1 when the consumer
starts instead of reading from the beginning.)

The stream's settings say where the key, time and isLast of an event are
(key_field, ts_field, last_field) and how to read them: keys are cast to
the stream's key type from their text, as the JSON form reads them (so a
key that type cannot read fails its batch, even with a dead_letter table);
times are ISO 8601 strings read in the stream's time_zone, or epoch numbers
in its ts_unit.  The payload is the message as it was sent.  The
connection comes from the usual PG* variables.
"""
import datetime
import json
import sys

import psycopg
from psycopg import sql

BATCH_SIZE = 1000
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
MICROSECONDS = {"s": 1000000, "ms": 1000, "us": 1}


def main():
    stream, topic = sys.argv[1], sys.argv[2]
    with psycopg.connect(autocommit=True) as conn:
        settings = conn.execute(
            "SELECT key_type::text, key_field, ts_field, last_field, ts_unit, time_zone"
            "  FROM sessionize.streams WHERE name = %s", (stream,)).fetchone()
        if settings is None:
            sys.exit("consumer.py: no stream %r that this role may use" % stream)
        key_type, key_field, ts_field, last_field, ts_unit, time_zone = settings
        if time_zone is not None:
            conn.execute("SELECT pg_catalog.set_config('TimeZone', %s, false)", (time_zone,))
        # key_type::text is the type's name as SQL reads it, quoted if need be.
        batch_sql = sql.SQL(
            "SELECT key, session_start, event_count, end_reason"
            "  FROM sessionize.sessionize_batch(%s, %s::{}[], %s::timestamptz[], %s, %s::jsonb[],"
            "       source => %s, batch_offset => %s, first_offset => %s)"
        ).format(sql.SQL(key_type))

        committed = {}  # partition -> offset committed for its source
        batches = {}    # partition -> [(offset, key, ts, is_last, message)] not yet sent

        def source(p):
            return "%s-%d" % (topic, p)

        def event_time(ts):
            if isinstance(ts, (int, float)) and not isinstance(ts, bool):
                return (EPOCH + datetime.timedelta(
                    microseconds=ts * MICROSECONDS[ts_unit])).isoformat()
            return ts  # text: the server reads it (NULL: the batch fails, naming it)

        def send(p):
            batch = batches.pop(p, [])
            if not batch:
                return
            offsets, keys, times, is_last, payloads = zip(*batch)
            rows = conn.execute(batch_sql, (
                stream, list(keys), list(times), list(is_last), list(payloads),
                source(p), offsets[-1], offsets[0])).fetchall()
            committed[p] = offsets[-1]
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
            event = json.loads(message)
            last = event.get(last_field)
            if not isinstance(last, bool) and last is not None:
                sys.exit("consumer.py: partition %d offset %d: %s is not a boolean"
                         % (p, offset, last_field))
            key = event.get(key_field)
            if key is not None and not isinstance(key, str):
                key = json.dumps(key)  # a number's text, as the JSON form reads it
            batches.setdefault(p, []).append(
                (offset, key, event_time(event.get(ts_field)), bool(last), message))
            if len(batches[p]) >= BATCH_SIZE:
                send(p)
        for p in list(batches):
            send(p)


if __name__ == "__main__":
    main()
