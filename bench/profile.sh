#!/usr/bin/env bash
# bench/profile.sh: where a contender's time goes, on one throwaway cluster.
#
#   bench/profile.sh [--contender json|typed|plain] [--size N] [--workload W]
#                    [--events N] [--keys N] [--top N] [--no-perf]
#                    [--event cycles|minor-faults] [--perf-data FILE]
#
# Feeds the events of bench/run.sh's throughput test (same generator, same
# driver) to one contender in batches of --size, once to warm up and once
# under `perf record -a -g`, and prints:
#   - the hottest symbols of the server (perf report, self time, --top N),
#     and sessionize's functions with what they call (inclusive);
#   - the minor page faults of the backend per batch, read from
#     /proc/<backend>/stat around each batch, over two passes in one backend
#     (the first pass also maps the shared buffers it touches first; the
#     second shows what a batch costs once they are mapped: a batch that
#     reuses its memory faults no more than the one before).
# Needs the extension installed, perf (Debian: linux-perf), python3 and
# postgresql-common.  Run as root.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CONTENDER=json
SIZE=1000
WORKLOAD=many-users
EVENTS=200000
KEYS=20000
TOP=30
PERF=1
EVENT=cycles
PERF_DATA=
ARGS=("$@")
while [ $# -gt 0 ]; do
    case $1 in
        --contender) CONTENDER=$2; shift 2 ;;
        --size) SIZE=$2; shift 2 ;;
        --workload) WORKLOAD=$2; shift 2 ;;
        --events) EVENTS=$2; shift 2 ;;
        --keys) KEYS=$2; shift 2 ;;
        --top) TOP=$2; shift 2 ;;
        --no-perf) PERF=; shift ;;
        --perf-data) PERF_DATA=$(realpath -m "$2"); shift 2 ;;
        --event) EVENT=$2; shift 2 ;;
        -h|--help) sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "profile.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
done

if [ -z "${SESSIONIZE_PROFILE_INSIDE:-}" ]; then
    export LANG=C.UTF-8
    unset LC_ALL LANGUAGE PGHOST PGPORT PGDATABASE PGUSER
    export SESSIONIZE_PROFILE_INSIDE=1
    exec pg_virtualenv -t -v 15 -o fsync=on bash "$HERE/profile.sh" "${ARGS[@]}" </dev/null
fi

WORK=$(mktemp -d -t sessionize-profile.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
q () { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }

q -c "CREATE EXTENSION sessionize" -f "$HERE/plain.sql" -f "$HERE/driver.sql"
python3 "$HERE/gen.py" --events "$EVENTS" --keys "$KEYS" --workload "$WORKLOAD" \
    -o "$WORK/events.csv" 2>/dev/null
q -c "\\copy staging (key, ts, is_last, payload) FROM '$WORK/events.csv' (FORMAT csv)" \
  -c "CALL build_batches($SIZE)" -c "VACUUM ANALYZE staging, batches" -c "CHECKPOINT"

# The warm-up pass, then the profiled one.
q -c "CALL reset_contender('$CONTENDER')" -c "CALL bench_run('$CONTENDER', $SIZE)" >/dev/null
q -c "CALL reset_contender('$CONTENDER')" -c "CHECKPOINT"
echo "== $CONTENDER, batches of $SIZE, workload $WORKLOAD, $EVENTS events over $KEYS keys"
if [ -n "$PERF" ]; then
    perf record -q -a -g -e "$EVENT" -o "$WORK/perf.data" -- \
        psql -X -q -At -c "CALL bench_run('$CONTENDER', $SIZE)" 2>/dev/null | sed 's/^/pass (secs|sessions): /'
    perf report -i "$WORK/perf.data" --comm postgres --no-children --sort dso,symbol --percentage relative \
        --stdio --percent-limit 0.5 -g none 2>/dev/null \
      | { grep -E '^ +[0-9]' || true; } | head -n "$TOP"
    echo "-- inclusive (self and callees), sessionize's functions:"
    perf report -i "$WORK/perf.data" --comm postgres --children --sort symbol --percentage relative \
        --stdio -g none 2>/dev/null \
      | { grep -E '^ +[0-9]' || true; } \
      | { grep -wE "$(nm "$(pg_config --pkglibdir)/sessionize.so" | awk '$2 ~ /^[tT]$/ && $3 ~ /^[a-z]/ {print $3}' | paste -sd'|')" || true; } \
      | head -n "$TOP"
    if [ -n "$PERF_DATA" ]; then
        cp "$WORK/perf.data" "$PERF_DATA"
    fi
fi

# Minor faults per batch, inside one backend, one transaction a batch as
# bench_run: the procedure reads its own /proc entry around each batch.
if [ "$CONTENDER" = json ] || [ "$CONTENDER" = typed ]; then
    q -c "CALL reset_contender('$CONTENDER')" -c "CHECKPOINT"
    q <<'EOF'
CREATE FUNCTION minflt() RETURNS bigint LANGUAGE sql AS $$
    SELECT (string_to_array(split_part(pg_read_file('/proc/' || pg_backend_pid() || '/stat'),
                                       ') ', 2), ' '))[8]::bigint
$$;
CREATE TABLE faults (pass int, b int, faults bigint);
CREATE PROCEDURE fault_run(p_contender text, p_size int) LANGUAGE plpgsql AS $$
DECLARE
    f0 bigint;
    n bigint;
BEGIN
    FOR pass IN 1 .. 2 LOOP
    CALL reset_contender(p_contender);
    COMMIT;
    FOR i IN 0 .. (SELECT count(*) - 1 FROM batches WHERE size = p_size) LOOP
        f0 := minflt();
        IF p_contender = 'typed' THEN
            SELECT count(*) INTO n FROM batches b,
                   sessionize.sessionize_batch('s', b.keys, b.ts, b.is_last, b.payloads)
             WHERE b.size = p_size AND b.b = i;
        ELSE
            SELECT count(*) INTO n FROM batches b, sessionize.sessionize_batch('s', b.events)
             WHERE b.size = p_size AND b.b = i;
        END IF;
        INSERT INTO faults VALUES (pass, i, minflt() - f0);
        COMMIT;
    END LOOP;
    END LOOP;
END
$$;
EOF
    q -c "CALL fault_run('$CONTENDER', $SIZE)"
    q -F ' ' -c "
        SELECT format('minor faults per batch, pass %s of a backend: batch 0: %s; 1-20: median %s, max %s; last 20: median %s, max %s; all: %s',
                      pass, min(faults) FILTER (WHERE b = 0),
                      percentile_disc(0.5) WITHIN GROUP (ORDER BY faults) FILTER (WHERE b BETWEEN 1 AND 20),
                      max(faults) FILTER (WHERE b BETWEEN 1 AND 20),
                      percentile_disc(0.5) WITHIN GROUP (ORDER BY faults) FILTER (WHERE b > (SELECT max(b) - 20 FROM faults)),
                      max(faults) FILTER (WHERE b > (SELECT max(b) - 20 FROM faults)),
                      sum(faults))
          FROM faults GROUP BY pass ORDER BY pass"
fi
