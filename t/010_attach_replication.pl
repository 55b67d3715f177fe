# Rows applied by logical replication feed an attached table's stream:
# events written on one cluster (the publisher) become sessions in the
# sink of a stream on another (the subscriber), whose copy of the table is
# attached.  The subscription's initial copy, its transactions of one row
# and of many, and the subscriber killed (immediate shutdown) mid-stream
# and started again: every event is applied exactly once, and the sessions
# are those the sessions() aggregate finds in the same rows.  Bad rows go
# to the stream's dead_letter table, labelled with their batch.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $EVENTS = 6000;

my $pub = PostgreSQL::Test::Cluster->new('pub');
$pub->init(allows_streaming => 'logical');
$pub->start;
my $sub = PostgreSQL::Test::Cluster->new('sub');
$sub->init;
$sub->start;

my $table = q{CREATE TABLE clicks (seq bigint PRIMARY KEY, id text NOT NULL,
                                   ts timestamptz NOT NULL, "isLast" boolean NOT NULL)};

# The publisher: 6,000 events of 80 users in ts order (a fixed seed), to
# be inserted into clicks in transactions of 1 to 60 rows.
$pub->safe_psql('postgres', qq{
$table;
CREATE PUBLICATION clicks_pub FOR TABLE clicks;
SELECT setseed(0.17);
CREATE TABLE gen AS
SELECT row_number() OVER (ORDER BY ts, k) AS seq, 'u' || k AS id, ts, last
  FROM (SELECT k, random() < 0.03 AS last,
               timestamptz '2026-01-01 00:00:00+00'
                 + sum((ARRAY[10, 60, 300, 1800, 1800, 2400, 30, 90])[1 + floor(random() * 8)::int])
                     OVER (PARTITION BY k ORDER BY i) * interval '1 second' AS ts
          FROM generate_series(1, 80) k, generate_series(1, $EVENTS / 80 + 1) i) x
 ORDER BY ts, k
 LIMIT $EVENTS;
CREATE PROCEDURE insert_events(p_first bigint, p_last bigint, p_pause float8 DEFAULT 0)
LANGUAGE plpgsql AS \$\$
DECLARE
    i bigint := p_first;
    n int;
BEGIN
    WHILE i <= p_last LOOP
        n := least(1 + floor(random() * 60)::int, p_last - i + 1);
        INSERT INTO clicks SELECT g.seq, g.id, g.ts, g.last FROM gen g
         WHERE g.seq BETWEEN i AND i + n - 1 ORDER BY g.seq;
        COMMIT;
        PERFORM pg_sleep(p_pause);
        i := i + n;
    END LOOP;
END
\$\$;
});

# Rows written before the subscription exists come with its initial copy.
$pub->safe_psql('postgres', 'CALL insert_events(1, 500)');

# The subscriber: the same table, attached to a stream with a sink, owned
# by a role that is no superuser (the batches run as the table's owner).
$sub->safe_psql('postgres', qq{
CREATE EXTENSION sessionize;
CREATE ROLE clicks_owner;
GRANT CREATE ON SCHEMA public TO clicks_owner;
SET ROLE clicks_owner;
$table;
CREATE TABLE sessions (key text, session_start timestamptz, session_end timestamptz,
                       event_count integer, end_reason text, events jsonb);
SELECT sessionize.create_stream('clicks', gap => '30 minutes', sink => 'sessions');
SELECT sessionize.attach('clicks', 'clicks');
RESET ROLE;
});
my $connstr = $pub->connstr . ' dbname=postgres';
$sub->safe_psql('postgres',
	"CREATE SUBSCRIPTION clicks_sub CONNECTION '$connstr' PUBLICATION clicks_pub");
$sub->poll_query_until('postgres',
	q{SELECT count(*) = 0 FROM pg_subscription_rel WHERE srsubstate NOT IN ('r', 's')})
  or die 'the initial copy did not finish';
$pub->wait_for_catchup('clicks_sub');
is($sub->safe_psql('postgres', q{SELECT events_in FROM sessionize.stats}),
	'500', 'the initial copy fed its 500 rows');

# Transactions of 1 to 60 rows, one at a time.
$pub->safe_psql('postgres', 'CALL insert_events(501, 3000)');
$pub->wait_for_catchup('clicks_sub');
is($sub->safe_psql('postgres', q{SELECT events_in FROM sessionize.stats}),
	'3000', 'each replicated transaction fed its rows');
my $batches = $sub->safe_psql('postgres', q{SELECT batches FROM sessionize.stats});
cmp_ok($batches, '>', 40, "in $batches batches of many rows");

# The subscriber killed while the publisher writes (a transaction every
# 20 ms, in the background) and it applies, and started again.
my ($out, $err) = ('', '');
my $writer = IPC::Run::start(
	[ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $pub->connstr('postgres'),
	  '-c', 'CALL insert_events(3001, 4500, 0.02)' ],
	'>', \$out, '2>', \$err);
$sub->poll_query_until('postgres', 'SELECT count(*) >= 3300 FROM clicks')
  or die 'the subscriber does not apply';
$sub->stop('immediate');
$writer->finish or die "insert_events failed: $err";
diag('rows applied when the subscriber was killed: at least 3300, of 4500 written');
$pub->safe_psql('postgres', 'CALL insert_events(4501, 6000)');
$sub->start;
$pub->wait_for_catchup('clicks_sub');

is($sub->safe_psql('postgres', q{SELECT count(*) FROM clicks}),
	$EVENTS, 'every row reached the subscriber');
is($sub->safe_psql('postgres', q{SELECT events_in FROM sessionize.stats}),
	$EVENTS, 'every row fed once');

# Close what is open, then compare with the aggregate over the same rows:
# every event in exactly one session, and the same sessions.
$sub->safe_psql('postgres', q{SELECT count(*) FROM sessionize.flush('clicks')});
is( $sub->safe_psql('postgres', q{
        SELECT count(*) || ' ' || count(DISTINCT (e->>'seq')::bigint)
          FROM sessions, jsonb_array_elements(events) e}),
	"$EVENTS $EVENTS", 'each event in exactly one session in the sink');
is( $sub->safe_psql('postgres', q{
        WITH agg AS (
            SELECT id AS key, (s).session_start, (s).session_end, (s).event_count
              FROM (SELECT id, unnest(sessionize.sessions(ts, "isLast", to_jsonb(c), '30 minutes'
                                                          ORDER BY ts, seq)) AS s
                      FROM clicks c GROUP BY id) x),
        sunk AS (SELECT key, session_start, session_end, event_count FROM sessions)
        SELECT (SELECT count(*) FROM agg) || ' '
            || (SELECT count(*) FROM (SELECT * FROM agg EXCEPT SELECT * FROM sunk) d) || ' '
            || (SELECT count(*) FROM (SELECT * FROM sunk EXCEPT SELECT * FROM agg) d)}),
	$sub->safe_psql('postgres', 'SELECT count(*) FROM sessions') . ' 0 0',
	'the sink holds the sessions the aggregate finds');

# The events are the table's rows, by column.
is( $sub->safe_psql('postgres', q{
        SELECT count(*) FROM sessions, jsonb_array_elements(events) e
          JOIN clicks c ON c.seq = (e->>'seq')::bigint
         WHERE e->>'id' <> c.id OR (e->>'ts')::timestamptz <> c.ts
            OR (e->>'isLast')::boolean <> c."isLast"}),
	'0', 'each event is its row');

# A bad row (a ts not finite) applied by the subscription goes to the
# stream's dead_letter table, labelled with the table and the batch: the
# replicated transaction's rows are one batch at commit, so its two bad
# rows share a batch_offset, whose transaction part is the subscriber's
# transaction that applied them (the xmin of the rows it wrote).
$sub->safe_psql('postgres', q{
SET ROLE clicks_owner;
CREATE TABLE bad_clicks (element_index int, element jsonb, sqlstate text, message text,
                         source text, batch_offset bigint);
SELECT sessionize.alter_stream('clicks', 'dead_letter', 'bad_clicks');
});
$pub->safe_psql('postgres', q{
BEGIN;
INSERT INTO clicks VALUES (6001, 'u1', 'infinity', false), (6002, 'u1', '2026-03-01 10:00Z', false);
INSERT INTO clicks VALUES (6003, 'u2', 'infinity', false);
COMMIT;
});
$pub->wait_for_catchup('clicks_sub');
is( $sub->safe_psql('postgres', q{
        SELECT string_agg(format('%s %s %s %s', element->>'seq', element_index, source,
                                 batch_offset / 1000000 % 4294967296 = c.xmin::text::bigint),
                          ', ' ORDER BY element->>'seq')
          || ' ' || count(DISTINCT batch_offset)
          FROM bad_clicks b JOIN clicks c ON c.seq = (b.element->>'seq')::bigint}),
	'6001 0 public.clicks t, 6003 2 public.clicks t 1',
	'a bad replicated row is a dead letter of its table and its transaction');
is($sub->safe_psql('postgres', q{SELECT events_in FROM sessionize.stats}),
	$EVENTS + 1, 'the good row of that transaction is fed');

$sub->stop;
$pub->stop;
done_testing();
