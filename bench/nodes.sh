#!/bin/bash
# nodes.sh: what sessionize_proxy costs, and how long a partition move takes.
#
#   bash bench/nodes.sh [--reps N] [--sessions N]
#
# On a throwaway PostgreSQL 15 cluster (pg_virtualenv), with sessionize,
# sessionize_proxy and PL/Proxy installed:
#  1. the proxy against the node fed directly: gen.py's many-users
#     workload (200,000 events, 20,000 keys, seed 42), batches of 1,000
#     and 10,000, each way --reps times (3) from a client (bench/nodes.py):
#     the JSON form by partition, and the typed form (direct: one call;
#     through the proxy: split by key).  The proxy's cluster has 4
#     partitions, all on the node's database: on one machine only the
#     proxy's own cost shows;
#  2. sessionize-move of a partition holding --sessions (1,000,000) open
#     sessions to a new node (another database), and back.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPS=3
SESSIONS=1000000
while [ $# -gt 0 ]; do
    case $1 in
        --reps) REPS=$2; shift 2 ;;
        --sessions) SESSIONS=$2; shift 2 ;;
        *) echo "usage: bash bench/nodes.sh [--reps N] [--sessions N]" >&2; exit 2 ;;
    esac
done
PY=/usr/bin/python3
"$PY" -c 'import psycopg' 2>/dev/null || { echo "nodes.sh: needs python3-psycopg" >&2; exit 2; }

if [ -z "${SESSIONIZE_NODES_INSIDE:-}" ]; then
    export SESSIONIZE_NODES_INSIDE=1 LANG=C.UTF-8
    unset PGHOST PGPORT PGDATABASE PGUSER PGPASSWORD
    exec pg_virtualenv -t -v 15 -o shared_buffers=1GB -o max_wal_size=8GB \
        bash "$0" --reps "$REPS" --sessions "$SESSIONS" </dev/null
fi

export PGOPTIONS="-c client_min_messages=warning"
BINDIR=$(pg_config --bindir)
q () { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
NODE="host=$PGHOST port=$PGPORT"
# a proxy database over a cluster of 4 partitions, all on database $2
proxy () {
    q -c "CREATE DATABASE $1"
    q -d "$1" -c "CREATE EXTENSION sessionize_proxy CASCADE" \
      -c "CREATE SERVER sessionize FOREIGN DATA WRAPPER plproxy OPTIONS (p0 '$NODE dbname=$2', p1 '$NODE dbname=$2', p2 '$NODE dbname=$2', p3 '$NODE dbname=$2')" \
      -c "CREATE USER MAPPING FOR PUBLIC SERVER sessionize OPTIONS (user '$PGUSER', password '$PGPASSWORD')"
}
EVENTS=$(mktemp -t sessionize-nodes.XXXXXX.jsonl)
trap 'rm -f "$EVENTS"' EXIT
"$PY" "$HERE/gen.py" --events 200000 --keys 20000 --seed 42 --workload many-users \
    --format jsonl >"$EVENTS" 2>/dev/null

echo "== the proxy against the node fed directly (many-users, 200,000 events)"
for rep in $(seq "$REPS"); do
    for batch in 1000 10000; do
        for mode in json-direct json-proxy typed-direct typed-proxy; do
            q -c "DROP DATABASE IF EXISTS bproxy" -c "DROP DATABASE IF EXISTS bnode" -c "CREATE DATABASE bnode"
            q -d bnode -c "CREATE EXTENSION sessionize" \
              -c "SELECT sessionize.create_stream('s', gap => '30 minutes', partitions => 4)" \
              -c "SELECT sessionize.create_stream('k', gap => '30 minutes', partitions => 4)" >/dev/null
            proxy bproxy bnode
            "$PY" "$HERE/nodes.py" "$EVENTS" "$mode" "$batch"
        done
    done
done

echo "== moving a partition of $SESSIONS open sessions"
q -c "CREATE DATABASE mva" -c "CREATE DATABASE mvc"
q -d mva -c "CREATE EXTENSION sessionize" \
  -c "SELECT sessionize.create_stream('big', gap => '30 minutes', partitions => 4)" >/dev/null
q -d mvc -c "CREATE EXTENSION sessionize"
proxy mvproxy mva
for b in $(seq 0 $(( (SESSIONS + 9999) / 10000 - 1 ))); do
    q -d mva -c "SELECT count(*) FROM sessionize.sessionize_batch('big',
        ARRAY(SELECT 'user-' || i FROM generate_series($b * 10000 + 1, $b * 10000 + 10000) i),
        ARRAY(SELECT '2026-02-01 10:00Z'::timestamptz + i * interval '1 ms' FROM generate_series($b * 10000 + 1, $b * 10000 + 10000) i),
        NULL,
        ARRAY(SELECT jsonb_build_object('page', '/p/' || (i % 97), 'ref', 'campaign-' || (i % 13)) FROM generate_series($b * 10000 + 1, $b * 10000 + 10000) i),
        'load', ($b + 1) * 10000, 2)" >/dev/null
done
q -d mva -At -c "SELECT 'partition 2: ' || sessions_open || ' open sessions, state table ' || pg_size_pretty(pg_total_relation_size('sessionize.' || s.state_table)) FROM sessionize.partition_stats p JOIN sessionize.streams s ON s.name = p.stream WHERE p.partition = 2"
PROXY="$NODE dbname=mvproxy user=$PGUSER"
"$BINDIR/sessionize-move" --proxy "$PROXY" --partition 2 --to "$NODE dbname=mvc"
"$BINDIR/sessionize-move" --proxy "$PROXY" --partition 2 --to "$NODE dbname=mva"
q -d mvproxy -At -c "SELECT node || ': ' || sessions_open FROM sessionize.partition_stats WHERE sessions_open > 0"
