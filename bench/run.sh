#!/usr/bin/env bash
# bench/run.sh: the sessionize benchmark, on one throwaway cluster.
#
#   bench/run.sh                 throughput, as a user feeds a stream: the same
#                                JSON lines (gen.py --format jsonl) sent from
#                                a client over a Unix socket, each batch its
#                                own transaction, by five contenders: COPY into
#                                a jsonb column, the plain-SQL sessionizer,
#                                sessionize's JSON form and typed form (both
#                                from a psycopg client, bench/client.py) and
#                                sessionize-feed; events/s, ratios, WAL bytes
#                                per event; then the same contenders (no feeder)
#                                server-side, over batches pre-parsed in a
#                                table (the measure until 0.4); checks that
#                                every contender finds plain SQL's sessions
#                                (exits 1 if not)
#   bench/run.sh --scale         latency of 1,000-event batches with 10,000 and
#                                with --open N (10,000,000) open sessions
#   bench/run.sh --aggregate     backfill: sessionize.sessions() against a
#                                window-function query, --agg-events N (1,000,000)
#   bench/run.sh --long          long sessions: per-batch latency as 100
#                                devices' sessions grow to --hours N (6) of
#                                pings every 10 s, sessionize and plain SQL
#   bench/run.sh --parallel      partitions: one feeder on a stream of one
#                                partition against two feeders at once on a
#                                stream of two (the events split by key), and
#                                COPY by one and by two clients; checks both
#                                streams find the same sessions; many-users
#                                workload unless --workload says otherwise
#   bench/run.sh --attach        an attached table: COPY of each batch into it
#                                (one batch each), against COPY into a plain
#                                table plus sessionize_query on the new rows,
#                                and COPY alone; many-users workload unless
#                                --workload says otherwise; checks both find
#                                the same sessions
#   bench/run.sh --eventtime     event time: the throughput workload with its
#                                events' arrival delayed at random by up to
#                                --disorder (10 minutes), fed in that order to
#                                an arrival-order stream and to an event-time
#                                stream (JSON form, lateness = disorder)
#   bench/run.sh --feed          sessionize-feed (installed in the bindir) on a
#                                JSONL file of the events (--workload many-users
#                                unless given) against the same batches sent
#                                by psql (a file of sessionize_batch statements,
#                                psql -f), per batch size; checks both find the
#                                same sessions
#
# Options (throughput and the other modes that feed events):
#                        --events N (200000)  --keys N (20000)  --seed N (42)
#                        --reps N (5)  --sizes "1000 10000"
#                        --workload skewed|many-users|sessions (skewed):
#                        many-users is Zipf 0.8, ts with UTC offsets, ~60-byte
#                        payloads; sessions is whole sessions of 4-8 events
#                        of users drawn by Zipf 0.8, ts with UTC offsets,
#                        80-120-byte payloads with a nested object and escaped
#                        strings (see gen.py)
#                        --no-server-side  throughput: leave out the
#                        server-side table
# Options (scale):       --open N (10000000)  --small N (10000)  --batches N (300)
# Either:                --pg-option guc=value (repeatable; a setting of the
#                        cluster, e.g. shared_buffers=2GB; fsync is on by
#                        default, fsync=off turns it off)
#                        --pg-bindir DIR  run on a cluster made with DIR's
#                        initdb and pg_ctl (a PostgreSQL install where the
#                        extension was installed with make install
#                        PG_CONFIG=DIR/pg_config; sessionize-feed is taken
#                        from DIR too), in a temporary directory, its server
#                        run as postgres when run as root, on a private
#                        socket directory and --pg-port N (5590), no TCP;
#                        stopped and removed at the end
#                        --keep-files  keep the generated files
#                        --no-typed    leave out the typed form (shown as n/a)
#
# Needs the extension installed (make && make install), python3, and for
# throughput psycopg 3 (Debian: python3-psycopg; python3 is used if it has
# it, else /usr/bin/python3).  Without --pg-bindir it needs postgresql-common
# (pg_virtualenv), and runs as root or as a user pg_virtualenv accepts: it
# re-runs itself under `pg_virtualenv -t -v 15`, which makes a temporary
# cluster (its server runs as postgres), and drops it at the end.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PG_MAJOR=15

EVENTS=200000
KEYS=20000
SEED=42
REPS=5
SIZES="1000 10000"
WORKLOAD=
MODE=throughput
DISORDER='10 minutes'
OPEN=10000000
AGG_EVENTS=1000000
HOURS=6
SMALL=10000
SCALE_BATCHES=300
KEEP=
NO_TYPED=
NO_SERVER_SIDE=
PG_BINDIR=
PG_PORT=5590
# pg_virtualenv turns fsync off; sessionize is about durability, so measure
# with it on (a later --pg-option fsync=off overrides).
GUCS=(fsync=on)

# the header above, up to its first line that is not a comment
usage () { awk 'NR > 1 && !/^#/ { exit } NR > 1' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

ARGS=("$@")
while [ $# -gt 0 ]; do
    case $1 in
        --events) EVENTS=$2; shift 2 ;;
        --keys) KEYS=$2; shift 2 ;;
        --seed) SEED=$2; shift 2 ;;
        --reps) REPS=$2; shift 2 ;;
        --sizes) SIZES=$2; shift 2 ;;
        --workload) WORKLOAD=$2; shift 2 ;;
        --scale) MODE=scale; shift ;;
        --aggregate) MODE=aggregate; shift ;;
        --long) MODE=long; shift ;;
        --parallel) MODE=parallel; shift ;;
        --attach) MODE=attach; shift ;;
        --eventtime) MODE=eventtime; shift ;;
        --feed) MODE=feed; shift ;;
        --disorder) DISORDER=$2; shift 2 ;;
        --hours) HOURS=$2; shift 2 ;;
        --agg-events) AGG_EVENTS=$2; shift 2 ;;
        --open) OPEN=$2; shift 2 ;;
        --small) SMALL=$2; shift 2 ;;
        --batches) SCALE_BATCHES=$2; shift 2 ;;
        --pg-option) GUCS+=("$2"); shift 2 ;;
        --pg-bindir) PG_BINDIR=$2; shift 2 ;;
        --pg-port) PG_PORT=$2; shift 2 ;;
        --keep-files) KEEP=1; shift ;;
        --no-typed) NO_TYPED=1; shift ;;
        --no-server-side) NO_SERVER_SIDE=1; shift ;;
        -h|--help) usage 0 ;;
        *) echo "run.sh: unknown argument: $1" >&2; usage 2 ;;
    esac
done
for v in "$EVENTS" "$KEYS" "$SEED" "$REPS" "$OPEN" "$SMALL" "$SCALE_BATCHES" "$AGG_EVENTS" "$HOURS" "$PG_PORT"; do
    case $v in ''|*[!0-9]*) echo "run.sh: not a number: $v" >&2; exit 2 ;; esac
done
# skewed by default; partitions, the attached table and the feeder are
# measured on many users (partitions split the events by key: skewed's
# hot keys leave one half with 55 % of them, which alone caps two feeders
# at 1.8 times one; --parallel prints the split)
if [ -z "$WORKLOAD" ]; then
    case $MODE in parallel|attach|feed) WORKLOAD=many-users ;; *) WORKLOAD=skewed ;; esac
fi
case $WORKLOAD in skewed|many-users|sessions) ;; *) echo "run.sh: unknown workload: $WORKLOAD" >&2; exit 2 ;; esac
for s in $SIZES; do
    case $s in ''|*[!0-9]*|0) echo "run.sh: not a batch size: $s" >&2; exit 2 ;; esac
done

# ---------------------------------------------------------------- outside
# Re-run this script inside a throwaway cluster.
if [ -z "${SESSIONIZE_BENCH_INSIDE:-}" ]; then
    command -v python3 >/dev/null || { echo "run.sh: python3 not found" >&2; exit 2; }
    for g in "${GUCS[@]}"; do
        case $g in [a-z]*=*) ;; *) echo "run.sh: --pg-option takes guc=value: $g" >&2; exit 2 ;; esac
    done
    # throughput's client: a python3 that has psycopg 3
    if [ "$MODE" = throughput ]; then
        PY=
        for p in python3 /usr/bin/python3; do
            if command -v "$p" >/dev/null && "$p" -c 'import psycopg' 2>/dev/null; then
                PY=$(command -v "$p")
                break
            fi
        done
        if [ -z "$PY" ]; then
            echo "run.sh: no python3 with psycopg 3 (Debian: apt-get install python3-psycopg)" >&2
            exit 2
        fi
        export SESSIONIZE_BENCH_PYTHON=$PY
    fi
    # the same locale wherever it runs: the cluster takes it from here
    export LANG=C.UTF-8
    unset LC_ALL LANGUAGE
    unset PGHOST PGHOSTADDR PGPORT PGDATABASE PGUSER PGPASSWORD PGSERVICE PGSERVICEFILE PGSYSCONFDIR
    export SESSIONIZE_BENCH_INSIDE=1
    if [ -z "$PG_BINDIR" ]; then
        PGOPTS=()
        for g in "${GUCS[@]}"; do PGOPTS+=(-o "$g"); done
        command -v pg_virtualenv >/dev/null || { echo "run.sh: pg_virtualenv not found (postgresql-common)" >&2; exit 2; }
        # -t: the cluster in a temporary directory even as root, so it never
        # collides with another pg_virtualenv run nor touches /etc/postgresql
        exec pg_virtualenv -t -v "$PG_MAJOR" "${PGOPTS[@]}" bash "$HERE/run.sh" "${ARGS[@]}" </dev/null
    fi

    # --pg-bindir: a cluster of that install's own, in a temporary
    # directory that is also its socket directory (no TCP)
    if [ ! -d "$PG_BINDIR" ]; then
        echo "run.sh: --pg-bindir $PG_BINDIR: no such directory" >&2
        exit 2
    fi
    PG_BINDIR=$(cd "$PG_BINDIR" && pwd)
    for b in initdb pg_ctl postgres psql; do
        [ -x "$PG_BINDIR/$b" ] || { echo "run.sh: $PG_BINDIR/$b not found" >&2; exit 2; }
    done
    CLUSTER=$(mktemp -d -t sessionize-bench-pg.XXXXXX)
    AS=()
    SUPERUSER=$(id -un)
    if [ "$(id -u)" = 0 ]; then
        # initdb refuses root: the cluster is postgres's
        chown postgres: "$CLUSTER"
        AS=(runuser -u postgres --)
        SUPERUSER=postgres
    fi
    CHILD=
    stop_cluster () {
        if [ -n "$CHILD" ]; then
            kill "$CHILD" 2>/dev/null || true
            wait "$CHILD" 2>/dev/null || true
        fi
        if [ -f "$CLUSTER/data/postmaster.pid" ]; then
            (cd "$CLUSTER" && "${AS[@]}" "$PG_BINDIR/pg_ctl" -D "$CLUSTER/data" -m fast -w stop) >/dev/null 2>&1 || true
        fi
        rm -rf "$CLUSTER"
    }
    trap stop_cluster EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    if ! (cd "$CLUSTER" && "${AS[@]}" "$PG_BINDIR/initdb" -D "$CLUSTER/data" -U "$SUPERUSER" \
              -A trust -E UTF8 --locale=C.UTF-8) > "$CLUSTER/initdb.log" 2>&1; then
        cat "$CLUSTER/initdb.log" >&2
        exit 2
    fi
    {
        echo "port = $PG_PORT"
        echo "listen_addresses = ''"
        echo "unix_socket_directories = '$CLUSTER'"
        for g in "${GUCS[@]}"; do
            v=${g#*=}
            printf "%s = '%s'\n" "${g%%=*}" "${v//\'/\'\'}"
        done
    } >> "$CLUSTER/data/postgresql.conf"
    if ! (cd "$CLUSTER" && "${AS[@]}" "$PG_BINDIR/pg_ctl" -D "$CLUSTER/data" -l "$CLUSTER/server.log" \
              -w -t 120 start) >/dev/null 2>&1; then
        echo "run.sh: the server did not start (port $PG_PORT taken? --pg-port N):" >&2
        cat "$CLUSTER/server.log" >&2
        exit 2
    fi
    export PGHOST=$CLUSTER PGPORT=$PG_PORT PGUSER=$SUPERUSER PGDATABASE=postgres
    export SESSIONIZE_BENCH_BINDIR=$PG_BINDIR
    # in the background, so that a signal reaches the trap at once
    PATH="$PG_BINDIR:$PATH" bash "$HERE/run.sh" "${ARGS[@]}" </dev/null &
    CHILD=$!
    rc=0
    wait "$CHILD" || rc=$?
    CHILD=
    exit "$rc"
fi

# ---------------------------------------------------------------- inside
START=$(date +%s)
WORK=$(mktemp -d -t sessionize-bench.XXXXXX)
cleanup () { if [ -z "$KEEP" ]; then rm -rf "$WORK"; else echo "files kept in $WORK"; fi; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# q: run SQL, quiet, tuples only, stop on error
q () { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
now () { date +%s.%N; }

machine () {
    local cpu mem
    cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
    mem=$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
    echo "machine:  $(nproc) CPUs (nproc), ${cpu:-unknown CPU}, $mem RAM, $(uname -sr)"
    echo "server:   $(q -c 'SELECT version()')"
    echo "settings: $(q -c "SELECT string_agg(name || '=' || current_setting(name), ', ' ORDER BY name)
                              FROM pg_settings
                             WHERE name IN ('fsync', 'synchronous_commit', 'shared_buffers',
                                            'wal_level', 'max_wal_size', 'autovacuum', 'jit')")"
    echo "          (fsync is on unless --pg-option fsync=off was given)"
    if [ -n "${SESSIONIZE_BENCH_BINDIR:-}" ]; then
        echo "cluster:  initdb of --pg-bindir $SESSIONIZE_BENCH_BINDIR"
    else
        echo "cluster:  pg_virtualenv -v $PG_MAJOR"
    fi
    load
}
# the machine's load average: other work running beside the benchmark
load () { echo "load:     $(cut -d ' ' -f 1-3 /proc/loadavg) (1, 5, 15 min; $(nproc) CPUs) at $(( $(date +%s) - START )) s"; }

# the bindir of the server's install: sessionize-feed's
BINDIR=${SESSIONIZE_BENCH_BINDIR:-/usr/lib/postgresql/$PG_MAJOR/bin}

q -c "CREATE EXTENSION sessionize"

# ================================================================ aggregate
if [ "$MODE" = aggregate ]; then
    echo "== sessionize backfill: sessionize.sessions() vs a window-function query, same events"
    machine
    q -f "$HERE/aggregate.sql"
    python3 "$HERE/gen.py" --events "$AGG_EVENTS" --keys $((AGG_EVENTS / 10)) --seed "$SEED" \
        -o "$WORK/agg.csv" 2> "$WORK/gen.log"
    sed 's/^/          /' "$WORK/gen.log"
    q -c "\\copy agg_events (key, ts, is_last, payload) FROM '$WORK/agg.csv' (FORMAT csv)" \
      -c "VACUUM ANALYZE agg_events"
    # the same sessions, but the last session of a key: flush for the aggregate
    q -c "SELECT count(*) FROM (
            (SELECT key, session_start, session_end, event_count, md5(events::text) FROM islands
             EXCEPT ALL
             SELECT key, session_start, session_end, event_count, md5(events::text) FROM sessionized)
            UNION ALL
            (SELECT key, session_start, session_end, event_count, md5(events::text) FROM sessionized
             EXCEPT ALL
             SELECT key, session_start, session_end, event_count, md5(events::text) FROM islands)) d" \
        > "$WORK/diff"
    sessions=$(q -c "SELECT count(*) FROM sessionized")
    echo "check: window query and sessions() find the same $sessions sessions: $(cat "$WORK/diff") differences"
    if [ "$(cat "$WORK/diff")" != 0 ]; then
        echo "run.sh: the window query and sessionize.sessions() differ" >&2
        exit 1
    fi
    # Each repetition times both contenders both ways, alternating, each
    # query in a backend of its own (as q runs psql).
    for r in $(seq 1 "$REPS"); do
        for m in all rows; do
            for v in islands sessionized; do
                q -c "INSERT INTO agg_times SELECT '$m', '$v', time_query('$v', '$m')"
            done
        done
    done
    q -F ' ' -c "
        WITH t AS (SELECT measure, contender,
                          percentile_cont(0.5) WITHIN GROUP (ORDER BY secs) AS med,
                          min(secs) AS lo, max(secs) AS hi
                     FROM agg_times GROUP BY measure, contender)
        SELECT line FROM (
            SELECT 0 AS o, format('%-34s %-8s %12s %10s %10s %10s', 'contender', 'reads',
                                  'events/s med', 'min', 'max', 'speed-up') AS line
            UNION ALL
            SELECT CASE measure WHEN 'all' THEN 1 ELSE 3 END
                   + CASE contender WHEN 'islands' THEN 0 ELSE 1 END,
                   format('%-34s %-8s %12s %10s %10s %9sx',
                          CASE contender WHEN 'islands' THEN 'window query (gaps and islands)'
                                         ELSE 'sessionize.sessions() aggregate' END,
                          CASE measure WHEN 'all' THEN 'columns' ELSE 'rows' END,
                          to_char($AGG_EVENTS / med, 'FM999,999,999'),
                          to_char($AGG_EVENTS / hi, 'FM999,999,999'),
                          to_char($AGG_EVENTS / lo, 'FM999,999,999'),
                          round(((SELECT med FROM t w
                                   WHERE w.contender = 'islands' AND w.measure = t.measure) / med)::numeric, 2))
              FROM t) l
         ORDER BY o"
    echo "$REPS repetitions each, on $AGG_EVENTS events, on the server (nothing is shipped)."
    echo "  columns: every column of every session is read (the sessions a backfill stores);"
    echo "  rows:    the rows are only counted, so the window query never builds the events"
    echo "           (the planner drops its unused jsonb_agg; the bench's measure up to 0.3)."
    echo "total run time: $(( $(date +%s) - START )) s"
    exit 0
fi

# ================================================================ long
if [ "$MODE" = long ]; then
    echo "== sessionize long sessions: per-batch latency as sessions grow, 1,000-event JSON batches"
    machine
    q -f "$HERE/plain.sql" -f "$HERE/long.sql"
    nb=$((HOURS * 36))
    q -c "CALL long_build($nb)" -c "VACUUM ANALYZE long_batches"
    q -c "SELECT sessionize.create_stream('long', gap => '30 minutes')" >/dev/null
    for c in json plain; do
        q -c "CHECKPOINT" -c "CALL long_measure('$c')"
    done
    q -c "INSERT INTO long_flushed SELECT 'json', key, session_start, session_end, event_count, md5(events::text)
            FROM sessionize.flush('long')" \
      -c "INSERT INTO long_flushed SELECT 'plain', key, session_start, session_end, event_count, md5(events::text)
            FROM plain_flush()"
    diff=$(q -c "SELECT count(*) FROM (
                   (SELECT key, session_start, session_end, event_count, events_md5 FROM long_flushed WHERE contender = 'json'
                    EXCEPT ALL
                    SELECT key, session_start, session_end, event_count, events_md5 FROM long_flushed WHERE contender = 'plain')
                   UNION ALL
                   (SELECT key, session_start, session_end, event_count, events_md5 FROM long_flushed WHERE contender = 'plain'
                    EXCEPT ALL
                    SELECT key, session_start, session_end, event_count, events_md5 FROM long_flushed WHERE contender = 'json')) d")
    n=$(q -c "SELECT count(*) || ' sessions of ' || min(event_count) || ' events' FROM long_flushed WHERE contender = 'json'")
    echo "check: at the end, flushed, plain SQL and sessionize hold the same $n: $diff differences"
    echo
    q -F ' ' -c "
        SELECT format('%-26s %22s %22s', 'hour of the stream', 'sessionize ms (med)', 'plain SQL ms (med)')
        UNION ALL
        SELECT * FROM (
            SELECT format('%-26s %22s %22s',
                          format('%s (%s-%s events)', b / 36 + 1, (b / 36) * 360 + 10, (b / 36 + 1) * 360),
                          round((percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FILTER (WHERE contender = 'json'))::numeric, 2),
                          round((percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FILTER (WHERE contender = 'plain'))::numeric, 2))
              FROM long_lat GROUP BY b / 36 ORDER BY b / 36) t"
    q -F ' ' -c "SELECT format('%-26s %22s %22s', 'whole run (s)',
                               round((sum(ms) FILTER (WHERE contender = 'json') / 1000)::numeric, 2),
                               round((sum(ms) FILTER (WHERE contender = 'plain') / 1000)::numeric, 2))
                   FROM long_lat"
    echo
    echo "100 devices, a ping every 10 s each, gap 30 minutes: no session ends; each"
    echo "1,000-event batch adds 10 events to every session.  Latency is the batch and its"
    echo "COMMIT, measured inside the server; the events column shows the sessions' length."
    echo "total run time: $(( $(date +%s) - START )) s"
    if [ "$diff" != 0 ]; then
        echo "run.sh: plain SQL and sessionize do not hold the same sessions" >&2
        exit 1
    fi
    exit 0
fi

# ================================================================ scale
if [ "$MODE" = scale ]; then
    echo "== sessionize scale run: per-batch latency, 1,000-event JSON batches"
    machine
    q -f "$HERE/scale.sql"
    STATES=$SMALL
    if [ "$OPEN" != "$SMALL" ]; then STATES="$SMALL $OPEN"; fi
    t0=$(now)
    for n in $STATES; do
        q -c "SELECT setseed(0.42)" -c "CALL scale_build($n, $SCALE_BATCHES)" >/dev/null
    done
    printf 'built %s batches of 1,000 events for each state size in %.1f s (not timed)\n' \
        "$SCALE_BATCHES" "$(awk -v a="$t0" -v b="$(now)" 'BEGIN { print b - a }')"
    for n in $STATES; do
        stream="open_$n"
        q -c "SELECT sessionize.create_stream('$stream', 'text', gap => '30 minutes')" >/dev/null
        load=$(q -c "CALL scale_load('$stream', $n, 100000)")
        state=$(q -c "SELECT 'sessionize.' || quote_ident(state_table) FROM sessionize.streams WHERE name = '$stream'")
        t0=$(now)
        q -c "VACUUM (ANALYZE) $state" -c "CHECKPOINT"
        t1=$(now)
        size=$(q -c "SELECT pg_size_pretty(pg_total_relation_size('$state'))")
        printf 'loaded %s open sessions in %.1f s (%.0f sessions/s, 100,000-key batches); VACUUM + CHECKPOINT %.1f s; state table %s\n' \
            "$n" "$load" "$(awk -v n="$n" -v s="$load" 'BEGIN { print n / s }')" \
            "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" "$size"
        lsn=$(q -c "SELECT pg_current_wal_insert_lsn()")
        finished=$(q -c "CALL scale_measure('$stream', $n)")
        wal=$(q -c "SELECT round(pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '$lsn') / 1024 / $SCALE_BATCHES)")
        open_after=$(q -c "SELECT sessions_open FROM sessionize.stats WHERE stream = '$stream'")
        echo "  $SCALE_BATCHES timed batches: $finished sessions finished, $open_after open after (expected $((SCALE_BATCHES * 500)) and $n); WAL $wal kB per batch"
        if [ "$finished" != "$((SCALE_BATCHES * 500))" ] || [ "$open_after" != "$n" ]; then
            echo "run.sh: unexpected counts in the scale run" >&2
            exit 1
        fi
    done
    echo
    q -F ' ' -c "
        SELECT format('%-16s %8s %10s %10s %10s %10s %14s', 'open sessions', 'batches',
                      'median ms', 'p99 ms', 'max ms', 'mean ms', 'events/s (med)')
        UNION ALL
        SELECT * FROM (
            SELECT format('%-16s %8s %10s %10s %10s %10s %14s',
                          to_char(open, 'FM999,999,999,999'), count(*),
                          round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 2),
                          round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 2),
                          round(max(ms)::numeric, 2), round(avg(ms)::numeric, 2),
                          to_char(1000 * 1000 / percentile_cont(0.5) WITHIN GROUP (ORDER BY ms),
                                  'FM999,999,999'))
              FROM scale_lat GROUP BY open ORDER BY open) t"
    echo
    echo "each batch: 250 events end an open session (isLast), 250 join one, 250 open a new"
    echo "session that stays open, 250 are new keys' single-event sessions (isLast);"
    echo "latency is the batch and its COMMIT, measured inside the server (no client)."
    echo "total run time: $(( $(date +%s) - START )) s"
    exit 0
fi

# ================================================================ parallel
if [ "$MODE" = parallel ]; then
    echo "== sessionize partitions: one feeder, and two feeders on two partitions of one stream"
    machine
    q -f "$HERE/plain.sql" -f "$HERE/driver.sql" -f "$HERE/parallel.sql"
    python3 "$HERE/gen.py" --events "$EVENTS" --keys "$KEYS" --seed "$SEED" --workload "$WORKLOAD" \
        -o "$WORK/events.csv" 2> "$WORK/gen.log"
    sed 's/^/          /' "$WORK/gen.log"
    q -c "\\copy staging (key, ts, is_last, payload) FROM '$WORK/events.csv' (FORMAT csv)"
    q -c "CREATE TABLE par_results (size integer, contender text, rep integer, secs double precision)"
    for size in $SIZES; do
        q -c "CALL build_batches($size)" -c "CALL build_part_batches($size)"
        # COPY: the same batches of the whole stream, one client; two
        # clients take every other batch file
        mkdir -p "$WORK/copy_$size"
        split -l "$size" -d -a 6 "$WORK/events.csv" "$WORK/copy_$size/b"
        for half in 0 1; do
            {
                i=0
                for f in "$WORK/copy_$size"/b*; do
                    if [ $((i % 2)) = "$half" ]; then
                        printf "\\\\copy copy_target FROM '%s' (FORMAT csv)\n" "$f"
                    fi
                    i=$((i + 1))
                done
            } > "$WORK/copy_${size}_$half.sql"
        done
        cat "$WORK/copy_${size}_0.sql" "$WORK/copy_${size}_1.sql" > "$WORK/copy_${size}_all.sql"
    done
    q -c "VACUUM ANALYZE staging, batches, part_batches" -c "CHECKPOINT"
    echo "events:   $EVENTS, $KEYS keys, seed $SEED, workload $WORKLOAD; batch sizes $SIZES; $REPS repetitions"
    # two feeders take as long as the larger half: at most total / larger
    q -c "SELECT format('split:    by key, %s and %s events: two feeders can reach at most %sx one',
                        to_char(min(n), 'FM999,999,999'), to_char(max(n), 'FM999,999,999'),
                        round(sum(n) / max(n), 2))
            FROM (SELECT part, sum(jsonb_array_length(events)) AS n FROM part_batches
                   WHERE size = (SELECT min(size) FROM part_batches) GROUP BY part) h"

    # at_once CMD...: run the commands at once; prints the wall seconds
    # from before the first starts to after the last ends
    at_once () {
        local t0 t1 pids=()
        t0=$(now)
        for c in "$@"; do bash -c "$c" >/dev/null & pids+=($!); done
        for p in "${pids[@]}"; do wait "$p"; done
        t1=$(now)
        awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f\n", b - a }'
    }
    # fresh SINK1 SINK2: the streams anew (one: one partition, two: two),
    # with these sinks (or none), an empty COPY target, a checkpoint
    fresh () {
        q -c "SELECT sessionize.drop_stream(name) FROM sessionize.streams WHERE name IN ('one', 'two')" \
          -c "SELECT sessionize.create_stream('one', gap => '30 minutes', sink => ${1:-NULL})" \
          -c "SELECT sessionize.create_stream('two', gap => '30 minutes', sink => ${2:-NULL},
                                              partitions => 2)" \
          -c "TRUNCATE copy_target" -c "CHECKPOINT" >/dev/null
    }
    q -c "CREATE PROCEDURE one_run(p_size integer, INOUT secs double precision DEFAULT NULL)
          LANGUAGE plpgsql AS \$\$
          DECLARE v_t0 timestamptz := clock_timestamp(); v_n bigint;
          BEGIN
              FOR i IN 0 .. (SELECT count(*) - 1 FROM batches WHERE size = p_size) LOOP
                  SELECT count(*) INTO v_n FROM batches b,
                         sessionize.sessionize_batch('one', b.events, 'bench', i + 1)
                   WHERE b.size = p_size AND b.b = i;
                  COMMIT;
              END LOOP;
              secs := extract(epoch FROM clock_timestamp() - v_t0);
          END \$\$"
    two_feeders="psql -X -q -c \"CALL part_run('two', 0, SIZE)\""
    for size in $SIZES; do
        feeders=("${two_feeders/SIZE/$size}" "${two_feeders/SIZE/$size}")
        feeders[1]=${feeders[1]/\'two\', 0/\'two\', 1}
        # Check pass, also the warm-up: both streams with a sink, flushed
        # at the end, find the same sessions (a partition's clock follows
        # its own half only, so a session still open at the end of one may
        # have timed out in the other: end reasons are not compared).
        q -c "DROP TABLE IF EXISTS sink_one, sink_two" \
          -c "CREATE TABLE sink_one (key text, session_start timestamptz, session_end timestamptz,
                                     event_count int, end_reason text, events jsonb)" \
          -c "CREATE TABLE sink_two (LIKE sink_one)"
        fresh "'sink_one'" "'sink_two'"
        q -c "CALL one_run($size)" >/dev/null
        at_once "${feeders[@]}" >/dev/null
        q -c "SELECT count(*) FROM sessionize.flush('one')" \
          -c "SELECT count(*) FROM sessionize.flush('two')" >/dev/null
        diff=$(q -c "SELECT count(*) FROM (
                       (SELECT key, session_start, session_end, event_count, events FROM sink_one
                        EXCEPT ALL SELECT key, session_start, session_end, event_count, events FROM sink_two)
                       UNION ALL
                       (SELECT key, session_start, session_end, event_count, events FROM sink_two
                        EXCEPT ALL SELECT key, session_start, session_end, event_count, events FROM sink_one)) d")
        n=$(q -c "SELECT count(*) FROM sink_one")
        echo "check:    batch $size: one stream and its two partitions find the same $n sessions: $diff differences"
        if [ "$diff" != 0 ]; then
            echo "run.sh: the partitioned stream's sessions differ" >&2
            exit 1
        fi
        # Timed passes, the contenders taking turns.
        for rep in $(seq 1 "$REPS"); do
            fresh
            secs=$(q -c "CALL one_run($size)")
            q -c "INSERT INTO par_results VALUES ($size, 'one', $rep, $secs)"
            fresh
            secs=$(at_once "${feeders[@]}")
            q -c "INSERT INTO par_results VALUES ($size, 'two', $rep, $secs)"
            fresh
            secs=$(at_once "psql -X -q -f '$WORK/copy_${size}_all.sql'")
            q -c "INSERT INTO par_results VALUES ($size, 'copy1', $rep, $secs)"
            fresh
            secs=$(at_once "psql -X -q -f '$WORK/copy_${size}_0.sql'" "psql -X -q -f '$WORK/copy_${size}_1.sql'")
            q -c "INSERT INTO par_results VALUES ($size, 'copy2', $rep, $secs)"
            printf '          batch %s: repetition %s of %s done (%s s)\n' "$size" "$rep" "$REPS" "$(( $(date +%s) - START ))"
        done
    done
    echo
    q -F ' ' -c "
        WITH agg AS (
            SELECT size, contender,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY $EVENTS / secs) AS med,
                   min($EVENTS / secs) AS lo, max($EVENTS / secs) AS hi
              FROM par_results GROUP BY size, contender),
        names (contender, label, base, ord) AS (
            VALUES ('one', 'sessionize, 1 feeder', 'one', 1),
                   ('two', 'sessionize, 2 feeders, 2 partitions', 'one', 2),
                   ('copy1', 'COPY, 1 client', 'copy1', 3),
                   ('copy2', 'COPY, 2 clients', 'copy1', 4))
        SELECT format('%-6s %-36s %12s %10s %10s %12s', 'batch', 'contender', 'events/s med',
                      'min', 'max', 'vs 1 feeder')
        UNION ALL
        SELECT * FROM (
            SELECT format('%-6s %-36s %12s %10s %10s %12s', a.size, n.label,
                          to_char(a.med, 'FM999,999,999'), to_char(a.lo, 'FM999,999,999'),
                          to_char(a.hi, 'FM999,999,999'),
                          to_char(a.med / b.med, 'FM990.00') || 'x')
              FROM agg a JOIN names n USING (contender)
              JOIN agg b ON b.size = a.size AND b.contender = n.base
             ORDER BY a.size, n.ord) t"
    echo
    echo "each batch its own transaction; two feeders: one psql each, started together, timed"
    echo "until both are done; COPY clients: every other batch file each."
    echo "total run time: $(( $(date +%s) - START )) s"
    exit 0
fi

# ================================================================ attach
if [ "$MODE" = attach ]; then
    echo "== sessionize attach: COPY into an attached table, against COPY + sessionize_query"
    machine
    python3 "$HERE/gen.py" --events "$EVENTS" --keys "$KEYS" --seed "$SEED" --workload "$WORKLOAD" \
        -o "$WORK/events.csv" 2> "$WORK/gen.log"
    sed 's/^/          /' "$WORK/gen.log"
    echo "events:   $EVENTS, $KEYS keys, seed $SEED, workload $WORKLOAD; batch sizes $SIZES; $REPS repetitions"
    q -c "CREATE TABLE att_results (size integer, contender text, rep integer, secs double precision)"
    # fresh: the contenders' tables and streams anew, and a checkpoint
    fresh () {
        q -c "SELECT sessionize.drop_stream(name) FROM sessionize.streams" \
          -c "DROP TABLE IF EXISTS copy_target, att_events, q_events, sink_att, sink_q" \
          -c "CREATE TABLE copy_target (key text, ts timestamptz, is_last boolean, payload jsonb)" \
          -c "CREATE TABLE att_events (LIKE copy_target)" \
          -c "CREATE TABLE q_events (seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                                     LIKE copy_target)" \
          -c "CREATE TABLE sink_att (key text, session_start timestamptz, session_end timestamptz,
                                     event_count int, end_reason text, events jsonb)" \
          -c "CREATE TABLE sink_q (LIKE sink_att)" \
          -c "SELECT sessionize.create_stream(s, gap => '30 minutes', key_field => 'key',
                                              last_field => 'is_last', sink => s::regclass)
                FROM unnest(ARRAY['sink_att', 'sink_q']) s" \
          -c "SELECT sessionize.attach('sink_att', 'att_events')" \
          -c "CHECKPOINT" >/dev/null
    }
    for size in $SIZES; do
        mkdir -p "$WORK/copy_$size"
        split -l "$size" -d -a 6 "$WORK/events.csv" "$WORK/copy_$size/b"
        # each script timed from after psql has connected to its end; each
        # batch one transaction
        for c in copy attached query; do
            {
                echo "SELECT extract(epoch FROM clock_timestamp()) AS t0 \\gset"
                for f in "$WORK/copy_$size"/b*; do
                    case $c in
                        copy) printf "\\\\copy copy_target FROM '%s' (FORMAT csv)\n" "$f" ;;
                        attached) printf "\\\\copy att_events FROM '%s' (FORMAT csv)\n" "$f" ;;
                        query)
                            echo "BEGIN;"
                            echo "SELECT coalesce(max(seq), 0) AS m FROM q_events \\gset"
                            printf "\\\\copy q_events (key, ts, is_last, payload) FROM '%s' (FORMAT csv)\n" "$f"
                            echo "SELECT count(*) FROM sessionize.sessionize_query('sink_q',
                                    'SELECT key, ts, is_last, payload FROM q_events WHERE seq > \$1',
                                    params => jsonb_build_array(:m)) \\g /dev/null"
                            echo "COMMIT;" ;;
                    esac
                done
                echo "SELECT extract(epoch FROM clock_timestamp()) - :t0;"
            } > "$WORK/${c}_$size.sql"
        done
        # Check pass, also the warm-up: both streams, flushed at the end,
        # found the same sessions.
        fresh
        q -f "$WORK/attached_$size.sql" >/dev/null
        q -f "$WORK/query_$size.sql" >/dev/null
        q -c "SELECT count(*) FROM sessionize.flush('sink_att')" \
          -c "SELECT count(*) FROM sessionize.flush('sink_q')" >/dev/null
        diff=$(q -c "SELECT count(*) FROM (
                       (SELECT key, session_start, session_end, event_count, end_reason, events FROM sink_att
                        EXCEPT ALL SELECT key, session_start, session_end, event_count, end_reason, events FROM sink_q)
                       UNION ALL
                       (SELECT key, session_start, session_end, event_count, end_reason, events FROM sink_q
                        EXCEPT ALL SELECT key, session_start, session_end, event_count, end_reason, events FROM sink_att)) d")
        n=$(q -c "SELECT count(*) FROM sink_att")
        b=$(q -c "SELECT batches FROM sessionize.stats WHERE stream = 'sink_att'")
        echo "check:    batch $size: the attached table ($b batches) and COPY + query find the same $n sessions: $diff differences"
        if [ "$diff" != 0 ]; then
            echo "run.sh: the attached table's sessions differ" >&2
            exit 1
        fi
        for rep in $(seq 1 "$REPS"); do
            for c in copy attached query; do
                fresh
                secs=$(q -f "$WORK/${c}_$size.sql")
                q -c "INSERT INTO att_results VALUES ($size, '$c', $rep, $secs)"
            done
            printf '          batch %s: repetition %s of %s done (%s s)\n' "$size" "$rep" "$REPS" "$(( $(date +%s) - START ))"
        done
    done
    echo
    q -F ' ' -c "
        WITH agg AS (
            SELECT size, contender,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY $EVENTS / secs) AS med,
                   min($EVENTS / secs) AS lo, max($EVENTS / secs) AS hi
              FROM att_results GROUP BY size, contender),
        names (contender, label, ord) AS (
            VALUES ('copy', 'COPY into a plain table', 1),
                   ('attached', 'COPY into the attached table', 2),
                   ('query', 'COPY + sessionize_query', 3))
        SELECT format('%-6s %-30s %12s %10s %10s %9s %16s', 'batch', 'contender', 'events/s med',
                      'min', 'max', 'vs COPY', 'vs COPY + query')
        UNION ALL
        SELECT * FROM (
            SELECT format('%-6s %-30s %12s %10s %10s %9s %16s', a.size, n.label,
                          to_char(a.med, 'FM999,999,999'), to_char(a.lo, 'FM999,999,999'),
                          to_char(a.hi, 'FM999,999,999'),
                          to_char(a.med / c.med, 'FM990.00') || 'x',
                          to_char(a.med / q.med, 'FM990.00') || 'x')
              FROM agg a JOIN names n USING (contender)
              JOIN agg c ON c.size = a.size AND c.contender = 'copy'
              JOIN agg q ON q.size = a.size AND q.contender = 'query'
             ORDER BY a.size, n.ord) t"
    echo
    echo "each batch one transaction: a \\copy into the attached table (its statement trigger"
    echo "makes the batch), or BEGIN, \\copy into a plain table, sessionize_query over the rows"
    echo "it added, COMMIT.  Both keep the rows; both streams have a sink."
    echo "total run time: $(( $(date +%s) - START )) s"
    exit 0
fi

# ================================================================ eventtime
if [ "$MODE" = eventtime ]; then
    echo "== sessionize event time: an event-time stream against an arrival-order one, same events"
    machine
    q -f "$HERE/plain.sql" -f "$HERE/driver.sql"
    python3 "$HERE/gen.py" --events "$EVENTS" --keys "$KEYS" --seed "$SEED" --workload "$WORKLOAD" \
        -o "$WORK/events.csv" 2> "$WORK/gen.log"
    sed 's/^/          /' "$WORK/gen.log"
    q -c "\\copy staging (key, ts, is_last, payload) FROM '$WORK/events.csv' (FORMAT csv)"
    # the disorder: each event arrives up to DISORDER after its ts
    q -c "SELECT setseed(0.5)" \
      -c "CREATE TABLE arrived AS SELECT key, ts, is_last, payload,
                  row_number() OVER (ORDER BY ts + random() * interval '$DISORDER', seq) AS ord
            FROM staging" \
      -c "TRUNCATE staging RESTART IDENTITY" \
      -c "INSERT INTO staging (key, ts, is_last, payload)
          SELECT key, ts, is_last, payload FROM arrived ORDER BY ord" >/dev/null
    moved=$(q -c "SELECT count(*) FROM (SELECT ts < max(ts) OVER (ORDER BY seq ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS back
                                          FROM staging) x WHERE back")
    echo "events:   $EVENTS, $KEYS keys, seed $SEED, workload $WORKLOAD; disorder up to $DISORDER"
    echo "          ($moved events arrive after a newer one); batch sizes $SIZES; $REPS repetitions"
    for size in $SIZES; do q -c "CALL build_batches($size)"; done
    q -c "VACUUM ANALYZE staging, batches" -c "CHECKPOINT"
    q -c "CREATE TABLE et_results (size integer, mode text, rep integer, secs double precision,
                                   late bigint)"
    # fresh MODE: stream s anew in that mode, as bench_run('json') feeds it
    fresh () {
        q -c "SELECT sessionize.drop_stream('s') FROM sessionize.streams WHERE name = 's'" \
          -c "SELECT sessionize.create_stream('s', gap => '30 minutes',
                                              lateness => '$DISORDER', mode => '$1')" \
          -c "CHECKPOINT" >/dev/null
    }
    for size in $SIZES; do
        for rep in $(seq 0 "$REPS"); do
            for m in arrival event_time; do
                fresh "$m"
                out=$(q -c "CALL bench_run('json', $size)")
                late=$(q -c "SELECT late_events FROM sessionize.stats WHERE stream = 's'")
                # repetition 0 is the warm-up
                if [ "$rep" -gt 0 ]; then
                    q -c "INSERT INTO et_results VALUES ($size, '$m', $rep, ${out%%|*}, $late)"
                fi
            done
            printf '          batch %s: repetition %s of %s done (%s s)\n' "$size" "$rep" "$REPS" "$(( $(date +%s) - START ))"
        done
    done
    echo
    q -F ' ' -c "
        WITH agg AS (
            SELECT size, mode, percentile_cont(0.5) WITHIN GROUP (ORDER BY $EVENTS / secs) AS med,
                   min($EVENTS / secs) AS lo, max($EVENTS / secs) AS hi, max(late) AS late
              FROM et_results GROUP BY size, mode)
        SELECT format('%-6s %-22s %12s %10s %10s %12s %12s', 'batch', 'stream', 'events/s med',
                      'min', 'max', 'late events', 'cost')
        UNION ALL
        SELECT * FROM (
            SELECT format('%-6s %-22s %12s %10s %10s %12s %12s', a.size, a.mode,
                          to_char(a.med, 'FM999,999,999'), to_char(a.lo, 'FM999,999,999'),
                          to_char(a.hi, 'FM999,999,999'), a.late,
                          to_char(r.med / a.med, 'FM990.00') || 'x')
              FROM agg a JOIN agg r ON r.size = a.size AND r.mode = 'arrival'
             ORDER BY a.size, a.mode) t"
    echo
    echo "cost: the stream's time per event over the arrival-order stream's (1.00x: the same)."
    echo "Both: JSON form, gap 30 minutes, lateness $DISORDER, no sink, one transaction per batch."
    echo "total run time: $(( $(date +%s) - START )) s"
    exit 0
fi

# ================================================================ feed
if [ "$MODE" = feed ]; then
    echo "== sessionize-feed against psql: the same events, the same batches, one transaction each"
    machine
    FEED=$BINDIR/sessionize-feed
    if [ ! -x "$FEED" ]; then
        echo "run.sh: $FEED not found: make install" >&2
        exit 2
    fi
    python3 "$HERE/gen.py" --events "$EVENTS" --keys "$KEYS" --seed "$SEED" --workload "$WORKLOAD" \
        --format jsonl -o "$WORK/events.jsonl" 2> "$WORK/gen.log"
    sed 's/^/          /' "$WORK/gen.log"
    if grep -q '\$feed\$' "$WORK/events.jsonl"; then
        echo "run.sh: the events hold \$feed\$, the quote of psql's statements" >&2
        exit 1
    fi
    # psql's input: the batches the feeder sends (offsets: line numbers),
    # one statement each, as the feeder's own statement
    for size in $SIZES; do
        awk -v size="$size" -v q="'" '
            function end_batch() {
                printf "]$feed$, %sbench%s, %d, 0, %d);\n", q, q, NR, first
                n = 0
            }
            n == 0 {
                printf "SELECT pg_catalog.count(*) FROM sessionize.sessionize_batch(%sfeedbench%s, $feed$[%s", q, q, $0
                first = NR; n = 1
                if (n == size) end_batch()
                next
            }
            { printf ",%s", $0; n++ }
            n == size { end_batch() }
            END { if (n > 0) end_batch() }
        ' "$WORK/events.jsonl" > "$WORK/psql_$size.sql"
    done
    echo "events:   $EVENTS, $KEYS keys, seed $SEED, workload $WORKLOAD; batch sizes $SIZES; $REPS repetitions"
    q -c "CREATE TABLE feed_results (size integer, contender text, rep integer, secs double precision)"

    # fresh SINK: the stream anew (with that sink, or none), a checkpoint
    fresh () {
        q -c "SELECT sessionize.drop_stream(name) FROM sessionize.streams WHERE name = 'feedbench'" \
          -c "SELECT sessionize.create_stream('feedbench', 'text', gap => '30 minutes', sink => ${1:-NULL})" \
          -c "CHECKPOINT" >/dev/null
    }
    # run CONTENDER SIZE: one pass over the file; prints its seconds, from
    # before the program starts (it connects) to after it exits
    run () {
        local t0 t1
        t0=$(now)
        if [ "$1" = feed ]; then
            "$FEED" --stream feedbench --source bench --batch-size "$2" "$WORK/events.jsonl" \
                2> "$WORK/feed.log" || { cat "$WORK/feed.log" >&2; exit 1; }
        else
            psql -X -q -v ON_ERROR_STOP=1 -o /dev/null -f "$WORK/psql_$2.sql" \
                2> "$WORK/psql.log" || { cat "$WORK/psql.log" >&2; exit 1; }
        fi
        t1=$(now)
        awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f\n", b - a }'
    }
    q -c "CREATE TABLE sink_feed (key text, session_start timestamptz, session_end timestamptz,
                                  event_count int, end_reason text, events jsonb)" \
      -c "CREATE TABLE sink_psql (LIKE sink_feed)"
    for size in $SIZES; do
        # Check pass, also the warm-up: both, with a sink, flushed at the
        # end, find the same sessions, and commit the last line's offset.
        q -c "TRUNCATE sink_feed, sink_psql"
        for c in feed psql; do
            fresh "'sink_$c'"
            run "$c" "$size" >/dev/null
            off=$(q -c "SELECT sessionize.committed_offset('feedbench', 'bench')")
            if [ "$off" != "$EVENTS" ]; then
                echo "run.sh: $c committed offset $off, not $EVENTS" >&2
                exit 1
            fi
            q -c "SELECT count(*) FROM sessionize.flush('feedbench')" >/dev/null
        done
        diff=$(q -c "SELECT count(*) FROM ((TABLE sink_feed EXCEPT ALL TABLE sink_psql)
                                           UNION ALL (TABLE sink_psql EXCEPT ALL TABLE sink_feed)) d")
        n=$(q -c "SELECT count(*) FROM sink_feed")
        echo "check:    batch $size: sessionize-feed and psql find the same $n sessions: $diff differences"
        if [ "$diff" != 0 ]; then
            echo "run.sh: sessionize-feed and psql do not find the same sessions" >&2
            exit 1
        fi
        # Timed passes, taking turns, each from an empty stream without sink.
        for rep in $(seq 1 "$REPS"); do
            for c in feed psql; do
                fresh
                secs=$(run "$c" "$size")
                q -c "INSERT INTO feed_results VALUES ($size, '$c', $rep, $secs)"
            done
            printf '          batch %s: repetition %s of %s done (%s s)\n' "$size" "$rep" "$REPS" "$(( $(date +%s) - START ))"
        done
    done
    echo
    q -F ' ' -c "
        WITH agg AS (
            SELECT size, contender,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY $EVENTS / secs) AS med,
                   min($EVENTS / secs) AS lo, max($EVENTS / secs) AS hi
              FROM feed_results GROUP BY size, contender)
        SELECT format('%-6s %-34s %12s %10s %10s %10s', 'batch', 'contender', 'events/s med',
                      'min', 'max', 'vs psql')
        UNION ALL
        SELECT * FROM (
            SELECT format('%-6s %-34s %12s %10s %10s %10s', a.size,
                          CASE a.contender WHEN 'feed' THEN 'sessionize-feed (JSON lines file)'
                                           ELSE 'psql (file of SELECT statements)' END,
                          to_char(a.med, 'FM999,999,999'), to_char(a.lo, 'FM999,999,999'),
                          to_char(a.hi, 'FM999,999,999'),
                          to_char(a.med / p.med, 'FM990.00') || 'x')
              FROM agg a JOIN agg p ON p.size = a.size AND p.contender = 'psql'
             ORDER BY a.size, a.contender) t"
    echo
    echo "each: a new stream without sink, the whole file, one transaction per batch, timed"
    echo "from the program's start (connecting included) to its exit; the psql statements are"
    echo "the feeder's (sessionize_batch with source, batch_offset and first_offset, counting"
    echo "the sessions returned), written out beforehand (not timed)."
    echo "total run time: $(( $(date +%s) - START )) s"
    exit 0
fi

# ================================================================ throughput
echo "== sessionize benchmark: events/s per contender, same events, one transaction per batch"
machine
PY=${SESSIONIZE_BENCH_PYTHON:-python3}
echo "client:   $("$PY" -c 'import sys, psycopg
print("Python %d.%d.%d, psycopg %s (%s implementation, libpq %d)" % (sys.version_info[:3]
      + (psycopg.__version__, psycopg.pq.__impl__, psycopg.pq.version())))'); Unix socket"

q -f "$HERE/plain.sql" -f "$HERE/driver.sql"

# The typed form is optional: skipped (n/a) while it does not exist.
TYPED=$(q -c "SELECT EXISTS (SELECT FROM pg_proc WHERE oid::regprocedure::text LIKE
                                'sessionize.sessionize_batch(text,anyarray,%')")
if [ -n "$NO_TYPED" ]; then
    TYPED=f
fi
FEED=$BINDIR/sessionize-feed
if [ ! -x "$FEED" ]; then
    echo "run.sh: $FEED not found: make install (it installs sessionize-feed in the bindir)" >&2
    exit 2
fi
CLIENT_CONTENDERS="plain copy json"
SERVER_CONTENDERS="plain copy json"
if [ "$TYPED" = t ]; then
    CLIENT_CONTENDERS="$CLIENT_CONTENDERS typed"
    SERVER_CONTENDERS="$SERVER_CONTENDERS typed"
fi
CLIENT_CONTENDERS="$CLIENT_CONTENDERS feed"

python3 "$HERE/gen.py" --events "$EVENTS" --keys "$KEYS" --seed "$SEED" --workload "$WORKLOAD" \
    --format jsonl -o "$WORK/events.jsonl" 2> "$WORK/gen.log"
sed 's/^/          /' "$WORK/gen.log"
echo "events:   $EVENTS, $KEYS keys, seed $SEED, workload $WORKLOAD; batch sizes $SIZES; $REPS repetitions"

q -c "CREATE TABLE results (side text, size integer, contender text, rep integer,
                            secs double precision, sessions bigint, wal numeric)"
FAILED=
CHECKS=()
# check A B SIZE_A [SIZE_B]: compare two check passes (check_line, driver.sql)
check () {
    local line
    line=$(q -c "SELECT check_line('$1', '$2', $3${4:+, $4})")
    CHECKS+=("$line")
    case $line in *DIFFER*) FAILED=1 ;; esac
}
lsn () { q -c "SELECT pg_current_wal_lsn()"; }

# ---------------------------------------------------------------- client-side
# reset_client CONTENDER [SINK]: empty state; feed and the two sessionize
# forms share stream s (with that sink, or none)
reset_client () {
    case $1 in
        plain|copy) q -c "CALL reset_contender('$1')" ;;
        *) q -c "SELECT sessionize.drop_stream('s') FROM sessionize.streams WHERE name = 's'" \
             -c "SELECT sessionize.create_stream('s', 'text', gap => '30 minutes', sink => ${2:-NULL})" >/dev/null ;;
    esac
}
# client_pass CONTENDER SIZE [--check]: one pass over the JSON lines file
# from a client, each batch its own transaction; prints "seconds sessions"
client_pass () {
    local t0 t1 off n
    if [ "$1" = feed ]; then
        t0=$(now)
        "$FEED" --stream s --source bench --batch-size "$2" "$WORK/events.jsonl" \
            2> "$WORK/feed.log" || { cat "$WORK/feed.log" >&2; return 1; }
        t1=$(now)
        off=$(q -c "SELECT sessionize.committed_offset('s', 'bench')")
        if [ "$off" != "$EVENTS" ]; then
            echo "run.sh: sessionize-feed committed offset $off, not $EVENTS" >&2
            return 1
        fi
        # the sessions the feeder counted, from its last words
        n=$(sed -n 's/.*(\([0-9]*\) sessions finished).*/\1/p' "$WORK/feed.log" | tail -n 1)
        awk -v a="$t0" -v b="$t1" -v n="${n:-NULL}" 'BEGIN { printf "%.6f %s\n", b - a, n }'
    else
        "$PY" "$HERE/client.py" "$1" "$WORK/events.jsonl" "$2" ${3:-}
    fi
}

for size in $SIZES; do
    # Check pass, also the warm-up: untimed, every finished session kept,
    # the open ones flushed at the end.
    q -c "DELETE FROM check_results WHERE contender LIKE '%/client' AND size = $size"
    for c in $CLIENT_CONTENDERS; do
        case $c in
            copy)
                reset_client copy
                client_pass copy "$size" >/dev/null
                n=$(q -c "SELECT count(*) FROM copy_jsonl")
                if [ "$n" != "$EVENTS" ]; then
                    echo "run.sh: COPY stored $n rows, not $EVENTS" >&2
                    exit 1
                fi ;;
            feed)
                q -c "TRUNCATE feed_sink"
                reset_client feed "'feed_sink'"
                client_pass feed "$size" >/dev/null
                q -c "SELECT count(*) FROM sessionize.flush('s')" \
                  -c "INSERT INTO check_results
                      SELECT 'feed/client', $size, key, session_start, session_end, event_count,
                             end_reason, md5(events::text) FROM feed_sink" >/dev/null ;;
            plain)
                reset_client plain
                client_pass plain "$size" --check >/dev/null
                q -c "INSERT INTO check_results
                      SELECT 'plain/client', $size, key, session_start, session_end, event_count,
                             end_reason, md5(events::text) FROM plain_flush()" ;;
            *)
                reset_client "$c"
                client_pass "$c" "$size" --check >/dev/null
                q -c "INSERT INTO check_results
                      SELECT '$c/client', $size, key, session_start, session_end, event_count,
                             end_reason, md5(events::text) FROM sessionize.flush('s')" ;;
        esac
    done
    for c in $CLIENT_CONTENDERS; do
        case $c in plain|copy) continue ;; esac
        check plain/client "$c/client" "$size"
    done
    # Timed passes, the contenders taking turns, each from an empty state
    # after a CHECKPOINT; the WAL between the pass's first and last LSN.
    for rep in $(seq 1 "$REPS"); do
        for c in $CLIENT_CONTENDERS; do
            reset_client "$c"
            q -c "CHECKPOINT"
            l0=$(lsn)
            out=$(client_pass "$c" "$size")
            wal=$(q -c "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$l0')")
            q -c "INSERT INTO results VALUES ('client', $size, '$c', $rep, ${out% *}, ${out#* }, $wal)"
        done
        printf '          client-side, batch %s: repetition %s of %s done (%s s)\n' \
            "$size" "$rep" "$REPS" "$(( $(date +%s) - START ))"
    done
    # The JSON array's parsing alone, for scale: the same batches bound
    # and parsed into jsonb, nothing else (client.py parse; twice, the
    # faster kept).
    for rep in 1 2; do
        out=$(client_pass parse "$size")
        q -c "INSERT INTO results VALUES ('client', $size, 'parse', $rep, ${out% *}, NULL, NULL)"
    done
done

# ---------------------------------------------------------------- server-side
# The measure until 0.4: the batches pre-parsed in a table, fed by a
# PL/pgSQL loop inside the server; COPY is psql's \copy of CSV files.
if [ -z "$NO_SERVER_SIDE" ]; then
    python3 "$HERE/gen.py" --events "$EVENTS" --keys "$KEYS" --seed "$SEED" --workload "$WORKLOAD" \
        -o "$WORK/events.csv" 2>/dev/null
    q -c "\\copy staging (key, ts, is_last, payload) FROM '$WORK/events.csv' (FORMAT csv)"
    for size in $SIZES; do
        q -c "CALL build_batches($size)"
        # COPY's batches: the same events, pre-split, one \copy (one transaction) each
        mkdir "$WORK/copy_$size"
        split -l "$size" -d -a 6 "$WORK/events.csv" "$WORK/copy_$size/b"
        # timed from after psql has connected to after the last COPY returned
        {
            echo "SELECT extract(epoch FROM clock_timestamp()) AS t0 \\gset"
            for f in "$WORK/copy_$size"/b*; do
                printf "\\\\copy copy_target FROM '%s' (FORMAT csv)\n" "$f"
            done
            echo "SELECT extract(epoch FROM clock_timestamp()) - :t0;"
        } > "$WORK/copy_$size.sql"
    done
    q -c "VACUUM ANALYZE staging, batches" -c "CHECKPOINT"

    # run_one CONTENDER SIZE REP: one timed pass over all batches of SIZE,
    # from an empty state; its seconds go into results.
    run_one () {
        local c=$1 size=$2 rep=$3 secs out n l0 wal
        q -c "CALL reset_contender('$c')" -c "CHECKPOINT"
        l0=$(lsn)
        if [ "$c" = copy ]; then
            secs=$(q -f "$WORK/copy_$size.sql")
            out="$secs|$EVENTS"
        else
            out=$(q -c "CALL bench_run('$c', $size)")
        fi
        wal=$(q -c "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$l0')")
        if [ "$c" = copy ]; then
            n=$(q -c "SELECT count(*) FROM copy_target")
            if [ "$n" != "$EVENTS" ]; then
                echo "run.sh: COPY stored $n rows, not $EVENTS" >&2
                exit 1
            fi
        fi
        q -c "INSERT INTO results VALUES ('server', $size, '$c', $rep, ${out%%|*}, ${out##*|}, $wal)"
    }

    for size in $SIZES; do
        # Check pass, also the warm-up: untimed, every finished session kept.
        for c in $SERVER_CONTENDERS; do
            if [ "$c" = copy ]; then
                q -c "CALL reset_contender('copy')"
                q -f "$WORK/copy_$size.sql" >/dev/null
            else
                q -c "CALL reset_contender('$c')" -c "CALL bench_check('$c', $size)"
            fi
        done
        check plain/client plain "$size"
        for c in $SERVER_CONTENDERS; do
            case $c in plain|copy) continue ;; esac
            check plain "$c" "$size"
        done
        # Timed passes, the contenders taking turns.
        for rep in $(seq 1 "$REPS"); do
            for c in $SERVER_CONTENDERS; do
                run_one "$c" "$size" "$rep"
            done
            printf '          server-side, batch %s: repetition %s of %s done (%s s)\n' \
                "$size" "$rep" "$REPS" "$(( $(date +%s) - START ))"
        done
        # The driver alone, for scale: fetching each batch and nothing else.
        out=$(q -c "CALL bench_run('fetch', $size)")
        q -c "INSERT INTO results VALUES ('server', $size, 'fetch', 1, ${out%%|*}, 0, NULL)"
    done
fi
# The same stream cut differently gives the same sessions.
set -- $SIZES
if [ $# -ge 2 ]; then
    check json/client json/client "$1" "$2"
fi

# table SIDE: the medians of one side's passes, and their ratios
table () {
    q -v events="$EVENTS" -v side="$1" -f - <<'EOF'
WITH rates AS (
    SELECT size, contender, :events / secs AS rate, wal / :events AS walpe, sessions
      FROM results WHERE side = :'side' AND contender NOT IN ('fetch', 'parse')
),
agg AS (
    SELECT size, contender,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY rate) AS med,
           min(rate) AS lo, max(rate) AS hi,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY walpe) AS wal
      FROM rates GROUP BY size, contender
),
sizes AS (SELECT DISTINCT size FROM results WHERE side = :'side'),
names (contender, label, ord) AS (
    VALUES ('plain', 'plain SQL', 1), ('copy', 'COPY', 2),
           ('json', 'sessionize (JSON)', 3), ('typed', 'sessionize (typed)', 4),
           ('feed', 'sessionize-feed', 5)
),
lines AS (
    SELECT s.size, n.ord,
           CASE WHEN a.med IS NULL THEN
               format('%-6s %-19s %12s', s.size, n.label, 'n/a')
           ELSE
               format('%-6s %-19s %12s %10s %10s %9s %8s %10s %8s', s.size, n.label,
                      to_char(a.med, 'FM999,999,999'), to_char(a.lo, 'FM999,999,999'),
                      to_char(a.hi, 'FM999,999,999'),
                      to_char(a.med / p.med, 'FM990.00') || 'x',
                      to_char(a.med / c.med, 'FM990.00') || 'x',
                      to_char(a.wal, 'FM999,990.0'),
                      to_char(a.wal / c.wal, 'FM990.00') || 'x')
           END AS line
      FROM sizes s CROSS JOIN names n
      LEFT JOIN agg a ON a.size = s.size AND a.contender = n.contender
      LEFT JOIN agg p ON p.size = s.size AND p.contender = 'plain'
      LEFT JOIN agg c ON c.size = s.size AND c.contender = 'copy'
     WHERE :'side' = 'client' OR n.contender <> 'feed'
)
SELECT format('%-6s %-19s %12s %10s %10s %9s %8s %10s %8s', 'batch', 'contender',
              'events/s med', 'min', 'max', 'vs plain', 'vs COPY', 'WAL B/ev', 'WAL/COPY')
UNION ALL
SELECT line FROM (SELECT line FROM lines ORDER BY size, ord) l;
EOF
}

echo
echo "checks (multisets of (key, session_start, session_end, event_count, end_reason), and with"
echo "the events array too, after flushing both at the end of the stream):"
for line in "${CHECKS[@]}"; do echo "  $line"; done
echo
echo "client-side: every contender from a client over a Unix socket, the same JSON lines, each"
echo "batch its own transaction (fsync and synchronous_commit on):"
table client
echo
echo "  COPY:   COPY ... FROM STDIN of the batch's lines into a table of one jsonb column"
echo "  plain SQL, sessionize (JSON): the batch's lines joined into a JSON array, bound as a"
echo "          parameter of a prepared statement (plain_batch, sessionize_batch)"
echo "  sessionize (typed): the client parses each line (Python json.loads) for id, ts and"
echo "          isLast and binds four arrays; that parsing is part of its time"
echo "  sessionize-feed: $FEED --batch-size N on the file"
echo "  each pass one process (bench/client.py, psycopg 3; or sessionize-feed), timed on the"
echo "  client from before it connects to its last COMMIT, the file's lines already in a list"
echo "  (sessionize-feed: from its start to its exit, reading the file as it goes)."
echo "  WAL B/ev: pg_current_wal_lsn() after the pass minus before it, per event, median; a"
echo "  CHECKPOINT before every pass, so each pays the full-page images of the pages it"
echo "  touches first.  Ratios are of medians (events/s: >1 faster; WAL: >1 more than COPY)."
q -c "SELECT format('  %s repetitions each; sessions returned per pass: %s (the rest are flushed at the end)',
                    max(rep), string_agg(DISTINCT sessions::text, ', '))
        FROM results WHERE side = 'client' AND contender NOT IN ('copy', 'parse')"
q -c "SELECT format('  parsing alone (jsonb_array_length(\$1::jsonb), each batch): batch %s: %s s a pass,'
                    || ' %s %% of sessionize (JSON)''s median',
                    p.size, round(min(p.secs)::numeric, 3),
                    round((100 * min(p.secs) / (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY j.secs)
                                                  FROM results j WHERE j.side = 'client'
                                                   AND j.contender = 'json' AND j.size = p.size))::numeric))
        FROM results p WHERE p.side = 'client' AND p.contender = 'parse' GROUP BY p.size ORDER BY p.size"
if [ -z "$NO_SERVER_SIDE" ]; then
    echo
    echo "server-side (no client, no parsing; for comparison with earlier runs): the batches"
    echo "pre-parsed in a table (jsonb, and the typed form's arrays), fed by a PL/pgSQL loop"
    echo "inside the server, each batch its own transaction (bench_run, driver.sql); COPY is"
    echo "psql's \\copy of CSV files (key, ts, is_last, payload) from the client, as before:"
    table server
    echo
    q -c "SELECT format('  driver overhead (fetching each batch, no work): batch %s: %s ms for all %s batches',
                        size, round((secs * 1000)::numeric, 1),
                        (SELECT count(*) FROM batches b WHERE b.size = r.size))
            FROM results r WHERE side = 'server' AND contender = 'fetch' ORDER BY size"
    q -c "SELECT format('  %s repetitions each; sessions returned per pass: %s',
                        max(rep), string_agg(DISTINCT sessions::text, ', '))
            FROM results WHERE side = 'server' AND contender IN ('plain', 'json', 'typed')"
fi
load
echo "total run time: $(( $(date +%s) - START )) s"
if [ -n "$FAILED" ]; then
    echo "run.sh: plain SQL and another contender do not find the same sessions" >&2
    exit 1
fi
