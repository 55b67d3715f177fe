# Exactly once through crashes: a feeder sends a generated stream batch by
# batch with source/batch_offset while the server is killed (immediate
# shutdown) again and again, between batches and in the middle of a
# batch's transaction; after each restart the feeder resumes after
# committed_offset.  At the end the stream's sink must hold exactly the
# sessions of the same stream fed without interruption.  Also: a batch
# cancelled by statement_timeout leaves no trace.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $EVENTS  = 20000;
my $BATCH   = 100;
my $BATCHES = $EVENTS / $BATCH;
my $KILLS   = 12;

my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init;
$node->start;

# The stream: 20,000 events of 300 users in ts order (a fixed seed), and
# two streams with the same settings, each with its sink.
$node->safe_psql('postgres', qq{
CREATE EXTENSION sessionize;
SELECT setseed(0.31);
CREATE TABLE gen AS
SELECT row_number() OVER (ORDER BY ts, k) AS seq, k, ts, last
  FROM (SELECT k, random() < 0.02 AS last,
               timestamptz '2026-01-01 00:00:00+00'
                 + sum((ARRAY[10, 60, 300, 1800, 1800, 2400, 30, 90])[1 + floor(random() * 8)::int])
                     OVER (PARTITION BY k ORDER BY i) * interval '1 second' AS ts
          FROM generate_series(1, 300) k, generate_series(1, $EVENTS / 300 + 1) i) x
 ORDER BY ts, k
 LIMIT $EVENTS;
CREATE TABLE batches AS
SELECT (seq - 1) / $BATCH + 1 AS b,
       jsonb_agg(jsonb_build_object('id', 'u' || k, 'seq', seq, 'ts', ts, 'isLast', last)
                 ORDER BY seq) AS events
  FROM gen GROUP BY 1;
CREATE TABLE sink_clean (key text, session_start timestamptz, session_end timestamptz,
                         event_count integer, end_reason text, events jsonb);
CREATE TABLE sink_crash (LIKE sink_clean);
SELECT sessionize.create_stream('clean', gap => '30 minutes', max_events => 25, sink => 'sink_clean');
SELECT sessionize.create_stream('crash', gap => '30 minutes', max_events => 25, sink => 'sink_crash');
});
is($node->safe_psql('postgres', 'SELECT count(*) FROM batches'), $BATCHES, "$BATCHES batches");

# The uninterrupted run.
$node->safe_psql('postgres', q{
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT * FROM batches ORDER BY b LOOP
        PERFORM count(*) FROM sessionize.sessionize_batch('clean', r.events, 'gen', r.b);
    END LOOP;
END
$$;
});

# The run with crashes.  Kill points are batch numbers; at odd-numbered
# kills the batch is in flight (applied, not committed) when the server
# dies.  After every third kill the feeder, as one that lost the answers
# of its last batches, resumes three batches before committed_offset: those
# must be skipped.
srand(42);
my %kill_at;
while (keys %kill_at < $KILLS)
{
	$kill_at{ 2 + int(rand($BATCHES - 2)) } = 1;
}
my ($kills, $sent, $skipped) = (0, 0, 0);

sub send_batch
{
	my ($b) = @_;
	my ($stdout, $stderr);

	$sent++;
	$node->psql('postgres',
		"SELECT count(*) FROM batches, sessionize.sessionize_batch('crash', events, 'gen', b) WHERE b = $b",
		stdout => \$stdout, stderr => \$stderr, on_error_die => 1);
	$skipped++ if $stderr =~ /already committed; skipped/;
}

sub committed
{
	my $c = $node->safe_psql('postgres', "SELECT sessionize.committed_offset('crash', 'gen')");
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
			# In flight: the batch is applied in an open transaction when the
			# server dies, so it must not count.
			my $psql = $node->background_psql('postgres', on_error_stop => 0);
			$psql->query_until(qr/applied/, qq{
BEGIN;
SELECT count(*) FROM batches, sessionize.sessionize_batch('crash', events, 'gen', b) WHERE b = $b;
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
	send_batch($b);
	$b++;
}

is($kills, $KILLS, "the server was killed $KILLS times");
note("batches sent: $sent for $BATCHES batches, $skipped of them skipped as already committed");
cmp_ok($sent, '>', $BATCHES, 'some batches were sent twice');
cmp_ok($skipped, '>', 0, 'some were skipped as already committed');
is(committed(), $BATCHES, 'every batch committed once');

# Flush both and compare: the same sessions, none lost, none twice.
$node->safe_psql('postgres', q{
SELECT count(*) FROM sessionize.flush('clean');
SELECT count(*) FROM sessionize.flush('crash');
});
my $sessions = $node->safe_psql('postgres', 'SELECT count(*) FROM sink_clean');
cmp_ok($sessions, '>', 1000, "the uninterrupted run has $sessions sessions");
is($node->safe_psql('postgres', 'SELECT count(*) FROM sink_crash'), $sessions,
	'the run with crashes has as many');
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) FROM ((TABLE sink_clean EXCEPT ALL TABLE sink_crash)
                      UNION ALL (TABLE sink_crash EXCEPT ALL TABLE sink_clean)) d}),
	'0',
	'and exactly the same ones');
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) = count(DISTINCT e->>'seq') AND count(*) = (SELECT count(*) FROM gen)
  FROM sink_crash, jsonb_array_elements(events) e}),
	't',
	'every event in exactly one session');
is( $node->safe_psql(
		'postgres', q{
SELECT (SELECT row(events_in, late_events, batches, sessions_open, sessions_closed)::text
          FROM sessionize.stats WHERE stream = 'clean')
     = (SELECT row(events_in, late_events, batches, sessions_open, sessions_closed)::text
          FROM sessionize.stats WHERE stream = 'crash')}),
	't',
	'and the same counters');

# A large batch cancelled by statement_timeout leaves no trace.
$node->safe_psql('postgres',
	"SELECT sessionize.create_stream('cancelled', gap => '30 minutes')");
my ($ret, $stdout, $stderr) = $node->psql('postgres', q{
SET statement_timeout = '20ms';
SELECT count(*) FROM sessionize.sessionize_batch('cancelled',
    (SELECT jsonb_agg(ev) FROM (SELECT jsonb_build_object('id', i % 5000, 'ts',
        timestamptz '2026-01-01' + i * interval '1 second', 'pad', repeat('x', 200)) AS ev
       FROM generate_series(1, 200000) i) x), 'big', 1);
});
like($stderr, qr/canceling statement due to statement timeout/, 'the big batch was cancelled');
is( $node->safe_psql(
		'postgres', q{
SELECT (SELECT events_in FROM sessionize.stats WHERE stream = 'cancelled'),
       (SELECT count(*) FROM sessionize.open_sessions('cancelled')),
       sessionize.committed_offset('cancelled', 'big') IS NULL}),
	'0|0|t',
	'and left no trace');

$node->stop;
done_testing();
