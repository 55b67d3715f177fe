#!/usr/bin/env python3
"""gen.py: a reproducible, realistic event stream for the sessionize benchmark.

    python3 bench/gen.py --events 200000 --keys 20000 --seed 42 > events.csv
    python3 bench/gen.py --format jsonl ... > events.jsonl

Events look like the seed's UserEvent, plus a short "page" field (about 80
bytes of compact JSON each):

    {"id":7,"data":"click","isLast":false,"ts":"2026-01-01T10:00:00.000Z","page":"/p/12"}

The model (stdlib only, one random.Random(seed), so the same arguments give
the same bytes):

  * keys: each event's key is drawn from a Zipf law of exponent --zipf over
    --keys ranks; ranks are mapped to user ids 1..keys by a fixed shuffle.
    With the defaults the hottest key has ~15% of the events (a bot),
    thousands of keys have one or two.
  * time: the stream covers --span-hours.  Each key spreads its events over
    that span: its pauses are drawn from a mixture whose mean is about
    span / events-of-the-key, so hot keys pause for seconds and cold ones for
    hours.  The mixture has
      - seconds (1-59 s) and minutes (1-25 min): within a session,
      - exactly the gap (30 min): starts a new session (rule 1 is >=),
      - just under the gap (gap - 1 ms .. 2 s): stays in the session,
      - just over the gap (gap + 1 ms .. 2 s): starts a new session,
      - hours (1-6 h): a new session, and the clock times the old one out.
    Timestamps have millisecond precision; all pauses are whole milliseconds.
  * isLast: each event is the last of its session with probability
    --last-rate (1.5%).
  * order: the stream is in global ts order (ties: by key rank, then by the
    key's own order), so each key's events are in ts order and no event is
    late: any cut into batches gives the same sessions.

--workload many-users (issue 11) changes three things: Zipf 0.8 (many
users, each with a few events a batch), isLast 3%, and each event's ts
written in its user's local time with that UTC offset (+05:30, -08:00,
+01:00, ...) rather than Z, in a smaller payload (about 60 bytes, isLast
only where true), and no user pauses less than 3 minutes within a session:

    {"id":7,"ev":"click","ts":"2026-01-01T15:30:00.000+05:30"}

--workload sessions (issue 24) is built from whole sessions rather than
from a stream of pauses: each session has 4 to 8 events (uniform) and
belongs to a user drawn by Zipf 0.8 over --keys (many users: the hottest
has ~3 % of the sessions), whose sessions share the span evenly.  Within a
session the pauses are 1 s to 5 min (shorter for the busiest users); a
session ends with isLast (always when the user's next session comes less
than the gap later, else with probability 0.4), or by the gap: the pause
to the next session is then exactly the gap (10 %) or longer.  So every
generated session is one session under gap 30 minutes and isLast, and the
last one generated is cut to what --events leaves.  Each ts is written in
its user's local time with its UTC offset, as in many-users.  Payloads are
80 to 120 bytes (uniform, but never less than their fields take: 102 on
average) of compact JSON with a nested object (a page
with its referrer, a search, or a cart line) and a string holding
escapes: quotes, backslashes, tabs and \\u escapes (written with
ensure_ascii, so every non-ASCII character is one, an emoji a surrogate
pair of them):

    {"id":710,"ts":"2026-01-01T05:30:27.199+05:30","ev":"search","q":{"s":"mid_j\\u2713h0 \\"z\\"\\t8-3v","n":22}}

Output: CSV (default) with the columns key, ts, is_last, payload, no
header, ready for COPY ... (FORMAT csv); or --format jsonl, one payload
per line.  A summary goes to stderr.
"""

import argparse
import bisect
import csv
import datetime
import json
import random
import sys

GAP_MS = 30 * 60 * 1000
DATA = ["view", "click", "scroll", "search", "add_to_cart", "purchase"]
DATA_W = [40, 30, 15, 8, 5, 2]
# many-users: a user's pauses within a session (a page read) are 3-6 min.
THINK_MS = 180_000
# UTC offsets (minutes) of the many-users workload's users: user id modulo.
OFFSETS_MIN = [330, -480, 60, 0, -300, 540, 120, -180, 480, 345]
# sessions workload: the characters its strings are drawn from; each
# special one is written escaped by json.dumps (ensure_ascii)
PLAIN_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789 -_/."
SPECIAL_CHARS = ['"', "\\", "\t", "\u00e9", "\u00fc", "\u20ac", "\u2713", "\u00df",
                 "\U0001F600", "\u65e5"]
SKUS = ["A-%03d" % i for i in range(1, 200)]


def key_counts(rng, n_events, n_keys, s):
    """Events per Zipf rank (rank 0 is the hottest), and each event's rank."""
    cum = []
    total = 0.0
    for r in range(1, n_keys + 1):
        total += r ** -s
        cum.append(total)
    ranks = [bisect.bisect_left(cum, rng.random() * total) for _ in range(n_events)]
    ranks = [min(r, n_keys - 1) for r in ranks]
    counts = [0] * n_keys
    for r in ranks:
        counts[r] += 1
    return counts


def zipf_ranks(rng, n, n_keys, s):
    """n ranks drawn by a Zipf law of exponent s over n_keys (0: hottest)."""
    cum = []
    total = 0.0
    for r in range(1, n_keys + 1):
        total += r ** -s
        cum.append(total)
    return [min(bisect.bisect_left(cum, rng.random() * total), n_keys - 1) for _ in range(n)]


def session_recs(rng, n_events, n_keys, span_ms):
    """The sessions workload: (ts_ms, rank, i, is_last) of every event,
    made of whole sessions of 4-8 events; and the number of sessions."""
    sizes = []
    left = n_events
    while left > 0:
        k = min(rng.randint(4, 8), left)
        sizes.append(k)
        left -= k
    owners = zipf_ranks(rng, len(sizes), n_keys, 0.8)
    per_key = {}
    for k, r in zip(sizes, owners):
        per_key.setdefault(r, []).append(k)
    recs = []
    for rank in sorted(per_key):
        sess = per_key[rank]
        slot = span_ms // len(sess)            # each session's share of the span
        within = max(2_000, min(300_000, slot // 20))
        t = None
        plan = []                               # (pauses within, is_last, pause after)
        for j, k in enumerate(sess):
            ps = [rng.randint(1_000, within) for _ in range(k - 1)]
            room = slot - sum(ps)
            if room >= 2 * GAP_MS:
                after = GAP_MS if rng.random() < 0.1 else rng.randint(GAP_MS + 1, room)
                last = rng.random() < 0.4
            else:
                after = rng.randint(1_000, max(1_000, room))
                last = True                     # the next session comes within the gap
            if j == len(sess) - 1:
                last = rng.random() < 0.4
            plan.append((ps, last, after))
        length = sum(sum(ps) + after for ps, _, after in plan[:-1]) + sum(plan[-1][0])
        t = rng.randint(0, max(0, span_ms - length))
        i = 0
        for ps, last, after in plan:
            for e in range(len(ps) + 1):
                if e > 0:
                    t += ps[e - 1]
                recs.append((t, rank, i, last and e == len(ps)))
                i += 1
            t += after
    return recs, len(sizes)


def fill_string(rng, room):
    """A string whose compact JSON (quotes excluded) takes exactly room
    bytes, about one character in six a special one (escaped)."""
    out = []
    while room > 0:
        c = rng.choice(SPECIAL_CHARS) if rng.random() < 0.17 else rng.choice(PLAIN_CHARS)
        n = len(json.dumps(c)) - 2
        if n > room:
            c, n = rng.choice(PLAIN_CHARS), 1
        out.append(c)
        room -= n
    return "".join(out)


def session_payload(rng, key, ts_text, is_last):
    """A sessions-workload payload: 80-120 bytes (uniform, or the least its
    fields take), a nested object, a string with escapes."""
    target = rng.randint(80, 120)
    ev = rng.choices(["view", "search", "cart"], [55, 30, 15])[0]
    obj = {"id": key, "ts": ts_text, "ev": ev}
    if is_last:
        obj["isLast"] = True
    if ev == "view":
        hole = obj["pg"] = {"u": "/p/%d" % rng.randint(1, 999), "ref": ""}
        field = "ref"
    elif ev == "search":
        hole = obj["q"] = {"s": "", "n": rng.randint(0, 50)}
        field = "s"
    else:
        hole = obj["item"] = {"sku": rng.choice(SKUS), "qty": rng.randint(1, 5), "t": ""}
        field = "t"
    base = len(json.dumps(obj, separators=(",", ":")))
    hole[field] = fill_string(rng, max(0, target - base))
    return json.dumps(obj, separators=(",", ":"))


def pauses_for(rng, count, span_ms, think_ms=0):
    """count-1 pauses (ms) for a key with count events over span_ms; with
    think_ms, no pause within a session is shorter than that."""
    n = count - 1
    if n <= 0:
        return []
    mean = span_ms / count  # target mean pause
    # each boundary kind (exact, under, over) is rarer for fast keys
    q = min(0.02, 0.1 * mean / GAP_MS)
    budget = max(mean - 3 * q * GAP_MS, 1.0)
    sec_mean, min_mean, hour_mean = 30_000, 780_000, 12_600_000
    if budget <= sec_mean:
        p_min, p_hour = 0.0, 0.0
        sec_hi = max(2 * budget, 2.0)  # fast key: sub-second to a few seconds
    else:
        sec_hi = 59_000
        p_min = min(0.3, (budget - sec_mean) / (min_mean - sec_mean))
        short_mean = (1 - p_min) * sec_mean + p_min * min_mean
        p_hour = min(0.9, max(0.0, (budget - short_mean) / (hour_mean - short_mean)))
    out = []
    kinds = []  # True: a boundary pause, kept exact when scaling
    for _ in range(n):
        u = rng.random()
        if u < q:
            out.append(GAP_MS)
            kinds.append(True)
        elif u < 2 * q:
            out.append(GAP_MS - rng.randint(1, 2000))
            kinds.append(True)
        elif u < 3 * q:
            out.append(GAP_MS + rng.randint(1, 2000))
            kinds.append(True)
        else:
            v = rng.random()
            if v < p_hour:
                out.append(rng.randint(3_600_000, 21_600_000))
            elif v < p_hour + (1 - p_hour) * p_min:
                out.append(rng.randint(60_000, 1_500_000))
            elif think_ms:
                out.append(rng.randint(think_ms, 2 * think_ms))
            else:
                out.append(int(rng.uniform(0 if sec_hi < 1000 else 1000, sec_hi)))
            kinds.append(False)
    total = sum(out)
    if total > span_ms:
        fixed = sum(p for p, k in zip(out, kinds) if k)
        free = total - fixed
        if free > 0 and span_ms > fixed:
            f = (span_ms - fixed) / free
            out = [p if k else int(p * f) for p, k in zip(out, kinds)]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--keys", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--zipf", type=float, default=1.1, help="Zipf exponent (1.1)")
    ap.add_argument("--span-hours", type=float, default=24.0,
                    help="stream time the events cover (24)")
    ap.add_argument("--last-rate", type=float, default=0.015,
                    help="probability that an event has isLast (0.015)")
    ap.add_argument("--start", default="2026-01-01T00:00:00",
                    help="UTC instant the stream starts at")
    ap.add_argument("--workload", choices=["skewed", "many-users", "sessions"], default="skewed",
                    help="skewed (the defaults above), many-users or sessions")
    ap.add_argument("--format", choices=["csv", "jsonl"], default="csv")
    ap.add_argument("-o", "--output", default="-")
    args = ap.parse_args()
    if args.events < 1 or args.keys < 1:
        ap.error("--events and --keys must be positive")
    many = args.workload == "many-users"
    sess = args.workload == "sessions"
    if many:
        args.zipf = 0.8
        args.last_rate = 0.03

    rng = random.Random(args.seed)
    span_ms = int(args.span_hours * 3_600_000)
    n_sessions = None
    if sess:
        # (ts_ms, rank, i, is_last): whole sessions
        recs, n_sessions = session_recs(rng, args.events, args.keys, span_ms)
        counts = [0] * args.keys
        for _, rank, _, _ in recs:
            counts[rank] += 1
    else:
        counts = key_counts(rng, args.events, args.keys, args.zipf)
    ids = list(range(1, args.keys + 1))
    rng.shuffle(ids)

    if not sess:
        # (ts_ms, rank, i, None): each key's events; isLast drawn below
        recs = []
        for rank, c in enumerate(counts):
            if c == 0:
                continue
            ps = pauses_for(rng, c, span_ms, THINK_MS if many else 0)
            length = sum(ps)
            t = rng.randint(0, max(0, span_ms - length))
            recs.append((t, rank, 0, None))
            for i, p in enumerate(ps, 1):
                t += p
                recs.append((t, rank, i, None))
    # sorted, they are the stream
    recs.sort()

    start = datetime.datetime.fromisoformat(args.start).replace(tzinfo=datetime.timezone.utc)
    out = sys.stdout if args.output == "-" else open(args.output, "w", newline="")
    writer = csv.writer(out, lineterminator="\n") if args.format == "csv" else None
    n_last = 0
    n_bytes = 0
    prev_ts = {}
    pause_hist = {"< 1 min": 0, "1-29.9 min": 0, "gap - (1ms..2s)": 0, "= gap": 0,
                  "gap + (1ms..2s)": 0, "> gap + 2s": 0}
    for t, rank, _, last in recs:
        key = ids[rank]
        ts = start + datetime.timedelta(milliseconds=t)
        if many or sess:
            # the user's local time, with its offset
            off_min = OFFSETS_MIN[key % len(OFFSETS_MIN)]
            local = ts + datetime.timedelta(minutes=off_min)
            ts_text = local.strftime("%Y-%m-%dT%H:%M:%S.") + "%03d" % (local.microsecond // 1000) \
                + "%s%02d:%02d" % ("-" if off_min < 0 else "+", abs(off_min) // 60, abs(off_min) % 60)
        else:
            ts_text = ts.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ts.microsecond // 1000)
        is_last = last if sess else rng.random() < args.last_rate
        n_last += is_last
        if sess:
            payload = session_payload(rng, key, ts_text, is_last)
        elif many:
            ev = {"id": key, "ev": rng.choices(DATA, DATA_W)[0], "ts": ts_text}
            if is_last:
                ev["isLast"] = True  # absent means false
            payload = json.dumps(ev, separators=(",", ":"))
        else:
            payload = json.dumps({"id": key,
                                  "data": rng.choices(DATA, DATA_W)[0],
                                  "isLast": is_last,
                                  "ts": ts_text,
                                  "page": "/p/%d" % rng.randint(1, 999)},
                                 separators=(",", ":"))
        n_bytes += len(payload)
        if key in prev_ts:
            d = t - prev_ts[key]
            if d < 60_000:
                pause_hist["< 1 min"] += 1
            elif d < GAP_MS - 2000:
                pause_hist["1-29.9 min"] += 1
            elif d < GAP_MS:
                pause_hist["gap - (1ms..2s)"] += 1
            elif d == GAP_MS:
                pause_hist["= gap"] += 1
            elif d <= GAP_MS + 2000:
                pause_hist["gap + (1ms..2s)"] += 1
            else:
                pause_hist["> gap + 2s"] += 1
        prev_ts[key] = t
        if writer:
            writer.writerow([key, ts_text, "true" if is_last else "false", payload])
        else:
            out.write(payload + "\n")
    if out is not sys.stdout:
        out.close()

    n = len(recs)
    top = sorted(counts, reverse=True)
    print("gen.py: %d events, %d distinct keys (of %d), seed %d; hottest key %.1f%% of events,"
          " top 1%% of keys %.1f%%; isLast %.2f%%; payload %.1f bytes on average; %s .. %s"
          % (n, sum(1 for c in counts if c), args.keys, args.seed, 100.0 * top[0] / n,
             100.0 * sum(top[:max(1, args.keys // 100)]) / n, 100.0 * n_last / n,
             n_bytes / n, start.isoformat(),
             (start + datetime.timedelta(milliseconds=recs[-1][0])).isoformat()),
          file=sys.stderr)
    if n_sessions is not None:
        print("gen.py: %d sessions generated (4-8 events each, the last cut to --events),"
              " %.2f events each on average" % (n_sessions, n / n_sessions), file=sys.stderr)
    print("gen.py: pauses between a key's events: "
          + ", ".join("%s %d" % kv for kv in pause_hist.items()), file=sys.stderr)


if __name__ == "__main__":
    main()
