# Exactly once through crashes, in event time: a feeder sends a stream
# whose events arrive out of order (within the stream's lateness, and a few
# beyond it, which come out as late) batch by batch with source and
# batch_offset, while the server is killed again and again, between
# batches and with a batch applied but not committed.  After each restart
# it resumes after committed_offset (after every third kill, three batches
# before it, as a feeder that lost its last answers).  At the end the sink
# holds exactly what the same stream fed without interruption holds: every
# event once, late ones alone.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $EVENTS  = 15000;
my $BATCH   = 100;
my $BATCHES = $EVENTS / $BATCH;
my $KILLS   = 10;

my $node = PostgreSQL::Test::Cluster->new('etcrash');
$node->init;
$node->start;

# 15,000 events of 200 users, each arriving up to 20 minutes after its ts
# (1 % of them up to 3 hours: late), in arrival order in batches of 100.
$node->safe_psql('postgres', qq{
CREATE EXTENSION sessionize;
SELECT setseed(0.23);
CREATE TABLE gen AS
SELECT row_number() OVER (ORDER BY arrival, k, ts) AS seq, k, ts, last
  FROM (SELECT k, ts, last,
               ts + CASE WHEN random() < 0.01 THEN random() * interval '3 hours'
                         ELSE random() * interval '20 minutes' END AS arrival
          FROM (SELECT k, random() < 0.02 AS last,
                       timestamptz '2026-01-01 00:00:00+00'
                         + sum((ARRAY[10, 60, 300, 900, 1800, 2400, 30, 90])[1 + floor(random() * 8)::int])
                             OVER (PARTITION BY k ORDER BY i) * interval '1 second' AS ts
                  FROM generate_series(1, 200) k, generate_series(1, $EVENTS / 200 + 1) i) x) y
 ORDER BY arrival, k, ts
 LIMIT $EVENTS;
CREATE TABLE batches AS
SELECT (seq - 1) / $BATCH + 1 AS b,
       jsonb_agg(jsonb_build_object('id', 'u' || k, 'seq', seq, 'ts', ts, 'isLast', last)
                 ORDER BY seq) AS events
  FROM gen GROUP BY 1;
CREATE TABLE sink_clean (key text, session_start timestamptz, session_end timestamptz,
                         event_count integer, end_reason text, events jsonb);
CREATE TABLE sink_crash (LIKE sink_clean);
SELECT sessionize.create_stream(s, gap => '15 minutes', lateness => '30 minutes',
                                mode => 'event_time', sink => (s || '')::regclass)
  FROM unnest(ARRAY['sink_clean', 'sink_crash']) s;
DO \$\$
DECLARE r record;
BEGIN
    FOR r IN SELECT * FROM batches ORDER BY b LOOP
        PERFORM count(*) FROM sessionize.sessionize_batch('sink_clean', r.events, 'gen', r.b);
    END LOOP;
END
\$\$;
});

srand(7);
my %kill_at;
while (keys %kill_at < $KILLS)
{
	$kill_at{ 2 + int(rand($BATCHES - 2)) } = 1;
}
my ($kills, $sent) = (0, 0);

sub committed
{
	my $c = $node->safe_psql('postgres',
		"SELECT sessionize.committed_offset('sink_crash', 'gen')");
	return $c eq '' ? 0 : $c;
}

my $b = committed() + 1;
while ($b <= $BATCHES)
{
	if (delete $kill_at{$b})
	{
		$kills++;
		if ($kills % 2)
		{
			my $psql = $node->background_psql('postgres', on_error_stop => 0);
			$psql->query_until(qr/applied/, qq{
BEGIN;
SELECT count(*) FROM batches, sessionize.sessionize_batch('sink_crash', events, 'gen', b) WHERE b = $b;
\\echo applied
});
			$sent++;
			$node->stop('immediate');
			eval { $psql->quit; };
		}
		else
		{
			$node->stop('immediate');
		}
		$node->start;
		$b = committed() + 1;
		$b = $b > 3 ? $b - 3 : 1 if $kills % 3 == 0;
		next;
	}
	$node->safe_psql('postgres',
		"SELECT count(*) FROM batches, sessionize.sessionize_batch('sink_crash', events, 'gen', b) WHERE b = $b"
	);
	$sent++;
	$b++;
}

is($kills, $KILLS, "the server was killed $KILLS times");
cmp_ok($sent, '>', $BATCHES, "batches sent: $sent for $BATCHES");
is(committed(), $BATCHES, 'every batch committed once');

$node->safe_psql('postgres', q{
SELECT count(*) FROM sessionize.flush('sink_clean');
SELECT count(*) FROM sessionize.flush('sink_crash');
});
my $late = $node->safe_psql('postgres',
	q{SELECT count(*) FROM sink_clean WHERE end_reason = 'late'});
cmp_ok($late, '>', 10, "the uninterrupted run has $late late events");
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) FROM ((TABLE sink_clean EXCEPT ALL TABLE sink_crash)
                      UNION ALL (TABLE sink_crash EXCEPT ALL TABLE sink_clean)) d}),
	'0',
	'the run with crashes has exactly the same sessions');
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) = count(DISTINCT e->>'seq') AND count(*) = (SELECT count(*) FROM gen)
  FROM sink_crash, jsonb_array_elements(events) e}),
	't',
	'every event in exactly one session');
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) FROM sink_crash WHERE end_reason = 'late' AND event_count <> 1}),
	'0',
	'late events alone');
is( $node->safe_psql(
		'postgres', q{
SELECT (SELECT row(events_in, late_events, batches, sessions_open, sessions_closed)::text
          FROM sessionize.stats WHERE stream = 'sink_clean')
     = (SELECT row(events_in, late_events, batches, sessions_open, sessions_closed)::text
          FROM sessionize.stats WHERE stream = 'sink_crash')}),
	't',
	'and the same counters');

$node->stop;
done_testing();
