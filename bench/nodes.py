"""nodes.py: sessionize_proxy's cost, client-side (bench/nodes.sh runs it).
    python3 bench/nodes.py EVENTS.jsonl MODE BATCH
EVENTS.jsonl: gen.py's lines (many-users); batches of BATCH events, one per
transaction, sent by psycopg 3 (libpq's PG* settings), direct to the node
(database bnode) or through the proxy (database bproxy, whose cluster of
4 partitions is all bnode, so that only the proxy's own cost shows).
Batches are built before the clock starts.  MODE:
  json-direct, json-proxy: the JSON form by partition: each batch of
    BATCH lines is cut by key into the 4 stream partitions (as Kafka would
    have), one call per partition;
  typed-direct, typed-proxy: the typed form, each event with its offset:
    direct one call into partition 0, through the proxy the same call
    split by key (partition NULL).
Prints events/s, seconds and WAL bytes an event (the node's).
"""
import json, sys, time, zlib
import psycopg
from psycopg.types.json import Jsonb
lines = open(sys.argv[1]).read().splitlines()
mode, B = sys.argv[2], int(sys.argv[3])
N = len(lines)

def key(line):
    return str(json.loads(line)["id"])

if mode.startswith("json"):
    calls = []
    for i in range(0, N, B):
        by = {}
        for l in lines[i:i + B]:
            by.setdefault(zlib.crc32(key(l).encode()) % 4, []).append(l)
        for p, ls in sorted(by.items()):
            calls.append(("[" + ",".join(ls) + "]", f"src{p}", i + B, p))
    sql = "select count(*) from sessionize.sessionize_batch('s', %s::jsonb, %s, %s, %s)"
else:
    calls = []
    for i in range(0, N, B):
        evs = [json.loads(l) for l in lines[i:i + B]]
        keys = [str(e["id"]) for e in evs]
        ts = [e["ts"] for e in evs]
        last = [bool(e.get("isLast", False)) for e in evs]
        pl = [Jsonb(e) for e in evs]
        offs = list(range(i + 1, i + len(evs) + 1))
        calls.append((keys, ts, last, pl, offs))
    part = "0" if mode.endswith("direct") else "NULL"
    sql = ("select count(*) from sessionize.sessionize_batch('k', %s::text[], %s::timestamptz[], "
           "%s::boolean[], %s::jsonb[], 'app', NULL, " + part + ", NULL, %s::bigint[])")

db = "bnode" if mode.endswith("direct") else "bproxy"
with psycopg.connect(f"dbname={db}", autocommit=True) as c, \
     psycopg.connect("dbname=bnode", autocommit=True) as w:
    w.execute("checkpoint")
    lsn0 = w.execute("select pg_current_wal_lsn()").fetchone()[0]
    t = time.perf_counter()
    for args in calls:
        c.execute(sql, args)
    dt = time.perf_counter() - t
    wal = w.execute("select pg_current_wal_lsn() - %s::pg_lsn", (lsn0,)).fetchone()[0]
print(f"{mode:14s} batch {B:6d}: {N/dt:9.0f} events/s  {dt:6.2f} s  {float(wal)/N:6.0f} WAL B/event  {len(calls)} calls", flush=True)
