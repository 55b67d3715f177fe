#!/usr/bin/env python3
"""client.py: one pass of one contender of bench/run.sh, from a client.

    client.py CONTENDER FILE SIZE [--check]

Reads FILE (JSON lines, one event each, as `gen.py --format jsonl` writes
them), connects (libpq's PG* environment variables, psycopg 3), and sends
its lines in batches of SIZE, in file order, each batch its own
transaction (statement, then COMMIT), as a consumer of a topic would:

  copy   COPY copy_jsonl (doc) FROM STDIN: the batch's lines as they are
         (CSV with a quote and a delimiter that JSON never holds, so that
         no character is special; text format would read backslashes)
  plain  SELECT count(*) FROM plain_batch($1::jsonb, 'bench', $2): the
         batch's lines joined into a JSON array, bound as text
  json   SELECT count(*) FROM sessionize.sessionize_batch('s', $1::jsonb,
         'bench', $2): the same array
  typed  SELECT count(*) FROM sessionize.sessionize_batch('s', $1::text[],
         $2::timestamptz[], $3::boolean[], $4::jsonb[], 'bench', $5): each
         line parsed (json.loads) for its id, ts and isLast, the four
         arrays written as array literals and bound as text; the parsing
         is the client's work, part of this contender's time
  parse  SELECT jsonb_array_length($1::jsonb): the JSON form's array, bound
         and parsed into jsonb, and nothing else (no --check): the floor
         of plain SQL, the JSON form and sessionize-feed

$2 (the batch offset) is the batch's last line number, as sessionize-feed
sends it.  The statements are prepared (as the feeder's is).  With
--check the sessions returned are inserted on the server into
check_results (contender CONTENDER/client, SIZE) instead of counted.

Prints one line: the seconds from before it connects to after the last
COMMIT, and the rows the batches returned (for copy: the lines stored).
Python's start, its imports and reading the file into a list of lines come
before the clock starts.
"""

import json
import sys
import time

import psycopg

GOOD = {"copy", "plain", "json", "typed", "parse"}


def quote(s):
    """An element of an array literal: s, double-quoted."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def key_elem(k):
    if isinstance(k, bool) or not isinstance(k, (int, str)):
        return quote(json.dumps(k))
    return str(k) if isinstance(k, int) else quote(k)


def main():
    args = sys.argv[1:]
    check = "--check" in args
    args = [a for a in args if a != "--check"]
    if (len(args) != 3 or args[0] not in GOOD or not args[2].isdigit() or int(args[2]) < 1
            or (check and args[0] in ("copy", "parse"))):
        sys.exit(__doc__)
    contender, path, size = args[0], args[1], int(args[2])

    # The lines in memory before the clock starts, as a consumer receives
    # its messages: reading and splitting the file is Python's slow part
    # (0.3 s for 18 MB), not the server's.
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    t0 = time.perf_counter()
    conn = psycopg.connect("")
    cur = conn.cursor()
    rows = 0
    if check:
        into = ("INSERT INTO check_results SELECT '%s/client', %d, r.key, r.session_start,"
                " r.session_end, r.event_count, r.end_reason, md5(r.events::text) FROM "
                % (contender, size))
        tail = " r"
    else:
        into = "SELECT pg_catalog.count(*) FROM "
        tail = ""
    if contender == "plain":
        stmt = into + "plain_batch(%s::jsonb, 'bench', %s)" + tail
    elif contender == "json":
        stmt = into + "sessionize.sessionize_batch('s', %s::jsonb, 'bench', %s)" + tail
    elif contender == "parse":
        stmt = "SELECT pg_catalog.jsonb_array_length(%s::jsonb)"
    elif contender == "typed":
        stmt = (into + "sessionize.sessionize_batch('s', %s::text[], %s::timestamptz[],"
                " %s::boolean[], %s::jsonb[], 'bench', %s)" + tail)
    copy = ("COPY copy_jsonl (doc) FROM STDIN"
            " (FORMAT csv, QUOTE e'\\x01', DELIMITER e'\\x02')")

    for first in range(0, len(lines), size):
        batch = lines[first:first + size]
        last = first + len(batch)          # the last line's number (from 1)
        if contender == "copy":
            with cur.copy(copy) as cp:
                cp.write("\n".join(batch) + "\n")
            rows += len(batch)
        elif contender in ("plain", "json"):
            cur.execute(stmt, ("[" + ",".join(batch) + "]", last), prepare=True)
        elif contender == "parse":
            cur.execute(stmt, ("[" + ",".join(batch) + "]",), prepare=True)
        else:
            keys, ts, is_last = [], [], []
            for line in batch:
                ev = json.loads(line)
                keys.append(key_elem(ev["id"]))
                ts.append(quote(ev["ts"]))
                is_last.append("t" if ev.get("isLast") else "f")
            cur.execute(stmt, ("{" + ",".join(keys) + "}", "{" + ",".join(ts) + "}",
                               "{" + ",".join(is_last) + "}",
                               "{" + ",".join(quote(line) for line in batch) + "}", last),
                        prepare=True)
        if contender == "parse":
            cur.fetchone()
        elif contender != "copy":
            rows += cur.rowcount if check else cur.fetchone()[0]
        conn.commit()
    conn.close()
    t1 = time.perf_counter()
    print("%.6f %d" % (t1 - t0, rows))


if __name__ == "__main__":
    main()
