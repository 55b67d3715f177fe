# Exactly once through crashes: a feeder sends a generated stream batch by
# batch with source/batch_offset while the server is killed (immediate
# shutdown) again and again, between batches and in the middle of a
# batch's transaction; after each restart the feeder resumes after
# committed_offset.  At the end the stream's sink must hold exactly the
# sessions of the same stream fed without interruption.  Then the same with
# two feeders at once, each on its partition of one stream.  Also: a batch
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

# Two feeders on two partitions of one stream, at once, through crashes:
# the users split by parity, each partition's events in batches of 100
# with its own source.  Each round starts both feeders (a procedure that
# commits batch by batch from its source's committed_offset, or from three
# batches before it, as a feeder that lost its last answers), and kills the
# server while both are under way.  At the end both partitions hold
# exactly the sessions of an uninterrupted run.
$node->safe_psql('postgres', q{
CREATE TABLE pbatches AS
SELECT part, (row_number() OVER (PARTITION BY part ORDER BY seq) - 1) / 100 + 1 AS b, seq,
       jsonb_build_object('id', 'u' || k, 'seq', seq, 'ts', ts, 'isLast', last) AS ev
  FROM (SELECT *, k % 2 AS part FROM gen) g;
CREATE TABLE pbatch AS
SELECT part, b, jsonb_agg(ev ORDER BY seq) AS events FROM pbatches GROUP BY part, b;
CREATE TABLE psink_clean (LIKE sink_clean);
CREATE TABLE psink_crash (LIKE sink_clean);
SELECT sessionize.create_stream('pclean', gap => '30 minutes', max_events => 25,
                                sink => 'psink_clean', partitions => 2);
SELECT sessionize.create_stream('pcrash', gap => '30 minutes', max_events => 25,
                                sink => 'psink_crash', partitions => 2);
CREATE PROCEDURE feed_part(p_stream text, p int, back int) LANGUAGE plpgsql AS $$
DECLARE
    v_b  int := greatest(coalesce(sessionize.committed_offset(p_stream, 'gen-' || p), 0)
                         + 1 - back, 1);
    v_n  int := (SELECT max(b) FROM pbatch WHERE part = p);
BEGIN
    WHILE v_b <= v_n LOOP
        PERFORM count(*) FROM pbatch pb,
                sessionize.sessionize_batch(p_stream, pb.events, 'gen-' || p, pb.b, p)
          WHERE pb.part = p AND pb.b = v_b;
        COMMIT;
        v_b := v_b + 1;
        IF p_stream = 'pcrash' THEN
            PERFORM pg_sleep(0.003);  -- both feeders long under way when killed
        END IF;
    END LOOP;
END
$$;
CALL feed_part('pclean', 0, 0);
CALL feed_part('pclean', 1, 0);
});
my $pbatches = $node->safe_psql('postgres',
	q{SELECT string_agg(max_b::text, ',' ORDER BY part) FROM
        (SELECT part, max(b) AS max_b FROM pbatch GROUP BY part) m});

sub pcommitted
{
	return $node->safe_psql('postgres', q{
SELECT string_agg(coalesce(sessionize.committed_offset('pcrash', 'gen-' || p), 0)::text, ','
                  ORDER BY p) FROM generate_series(0, 1) p});
}

my $rounds = 0;
my $pkills = 0;
while (pcommitted() ne $pbatches)
{
	my $last_round = ++$rounds > 6;
	my @feeders;
	foreach my $p (0, 1)
	{
		my $psql = $node->background_psql('postgres', on_error_stop => 0);
		my $back = $rounds % 2 ? 0 : 3;
		$psql->query_until(qr/started/, qq{
SELECT 'started';
CALL feed_part('pcrash', $p, $back);
SELECT 'fed';
});
		push @feeders, $psql;
	}
	if ($last_round)
	{
		# no more kills: both run to the end
		$_->query_until(qr/fed/, '') foreach @feeders;
		$_->quit foreach @feeders;
		last;
	}
	# both under way for a while, then killed
	select(undef, undef, undef, 0.05 + rand(0.1));
	$node->stop('immediate');
	$pkills++;
	eval { $_->quit; } foreach @feeders;
	$node->start;
}
cmp_ok($pkills, '>=', 3, "two feeders were killed under way $pkills times");
is(pcommitted(), $pbatches, 'every batch of both partitions committed once');
$node->safe_psql('postgres', q{
SELECT count(*) FROM sessionize.flush('pclean');
SELECT count(*) FROM sessionize.flush('pcrash');
});
my $psessions = $node->safe_psql('postgres', 'SELECT count(*) FROM psink_clean');
cmp_ok($psessions, '>', 1000, "the uninterrupted partitioned run has $psessions sessions");
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) FROM ((TABLE psink_clean EXCEPT ALL TABLE psink_crash)
                      UNION ALL (TABLE psink_crash EXCEPT ALL TABLE psink_clean)) d}),
	'0',
	'the partitioned run with crashes has exactly the same sessions');
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) = count(DISTINCT e->>'seq') AND count(*) = (SELECT count(*) FROM gen)
  FROM psink_crash, jsonb_array_elements(events) e}),
	't',
	'every event in exactly one session');
is( $node->safe_psql(
		'postgres', q{
SELECT (SELECT string_agg(row("partition", events_in, batches, sessions_open, sessions_closed)::text, ','
                          ORDER BY "partition")
          FROM sessionize.partition_stats WHERE stream = 'pclean')
     = (SELECT string_agg(row("partition", events_in, batches, sessions_open, sessions_closed)::text, ','
                          ORDER BY "partition")
          FROM sessionize.partition_stats WHERE stream = 'pcrash')}),
	't',
	'and the same counters in each partition');

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

# Dead letters commit with their batch, exactly once: each batch with a
# bad element is committed, the server is killed, and the batch is sent
# again after the restart (skipped whole).
$node->safe_psql('postgres', q{
CREATE TABLE dl (element_index int, element jsonb, sqlstate text, source text,
                 batch_offset bigint);
SELECT sessionize.create_stream('dead', gap => '30 minutes', max_future => NULL,
                                dead_letter => 'dl');
});
my $DEAD_BATCHES = 5;
for my $b (1 .. $DEAD_BATCHES)
{
	my $feed = qq{SELECT count(*) FROM sessionize.sessionize_batch('dead', jsonb_build_array(
	    jsonb_build_object('id', 'u$b', 'ts', '2026-01-01T10:00:00Z'),
	    jsonb_build_object('id', 'u$b', 'ts', 'yesterday'),
	    jsonb_build_object('id', 'v$b', 'ts', '2026-01-01T10:01:00Z')), 'k', $b)};
	$node->safe_psql('postgres', $feed);
	$node->stop('immediate');
	$node->start;
	$node->safe_psql('postgres', $feed);
}
is( $node->safe_psql(
		'postgres', q{
SELECT (SELECT string_agg(format('%s:%s:%s', batch_offset, element_index, sqlstate), ','
                          ORDER BY batch_offset) FROM dl),
       (SELECT format('%s|%s|%s|%s', events_in, batches, batches_skipped, dead_letters)
          FROM sessionize.stats WHERE stream = 'dead'),
       (SELECT count(*) FROM sessionize.open_sessions('dead'))}),
	'1:1:22007,2:1:22007,3:1:22007,4:1:22007,5:1:22007|10|5|5|5|10',
	'each dead letter once, with its batch, through a crash after each commit');

# A cancel is no dead letter: a batch of bad elements cancelled by
# statement_timeout while they are set aside leaves no trace either.
$node->safe_psql('postgres', q{
CREATE TABLE dl_cancelled (element jsonb);
SELECT sessionize.create_stream('cancelled_dl', gap => '30 minutes',
                                dead_letter => 'dl_cancelled');
});
($ret, $stdout, $stderr) = $node->psql('postgres', q{
CREATE TEMP TABLE bad_batch AS
SELECT jsonb_agg(jsonb_build_object('id', i, 'ts', 'not a time')) AS events
  FROM generate_series(1, 500000) i;
SET statement_timeout = '200ms';
SELECT count(*) FROM bad_batch, sessionize.sessionize_batch('cancelled_dl', events, 'big', 1);
});
like($stderr, qr/canceling statement due to statement timeout/,
	'the batch of bad elements was cancelled');
is( $node->safe_psql(
		'postgres', q{
SELECT (SELECT count(*) FROM dl_cancelled),
       (SELECT dead_letters FROM sessionize.stats WHERE stream = 'cancelled_dl'),
       sessionize.committed_offset('cancelled_dl', 'big') IS NULL}),
	'0|0|t',
	'and set nothing aside');

$node->stop;
done_testing();
