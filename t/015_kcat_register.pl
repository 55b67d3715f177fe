# sessionize-feed --format kcat registers a Kafka partition new to the
# stream when it reads its first line, so that it holds its stream
# partition's clock from then on.  The registration is an empty batch of
# the new source at the offset before that line:
#  1. it waits only for the calls on its own stream partition: a
#     transaction that fed stream partition 1 and is still open does not
#     hold up a feeder of partition 0 (set_offset, which it was, waits for
#     every call on the stream, and the feeder hung until that transaction
#     ended);
#  2. the registered source holds the clock: a batch of another source of
#     that stream partition does not move it;
#  3. it never moves a committed offset back: a source another feeder has
#     committed is resumed after its offset.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('kcat_register');
$node->init;
$node->start;

my $feed = $node->config_data('--bindir') . '/sessionize-feed';
my @conn = ('-h', $node->host, '-p', $node->port, '-d', 'postgres');
my $tmp = PostgreSQL::Test::Utils::tempdir;

$node->safe_psql('postgres', q{
CREATE EXTENSION sessionize;
SELECT sessionize.create_stream('reg', gap => '10 minutes', max_future => NULL, partitions => 2);
});

# feed(input lines, seconds, options): run the feeder on them, killed
# after that long; its exit status (undef if it was killed) and stderr.
sub feed
{
	my ($lines, $seconds, @options) = @_;
	my $file = "$tmp/input.kcat";
	open my $fh, '>', $file or die "could not write $file: $!";
	print $fh map { "$_\n" } @$lines;
	close $fh;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start([ $feed, @conn, '--stream', 'reg', '--source', 'k',
			'--format', 'kcat', '--progress-interval', '0', @options, $file ],
		'>', \$out, '2>', \$err,
		IPC::Run::timeout($seconds));
	my $status = eval { $h->finish; $h->result(0) };
	if ($@)
	{
		$h->kill_kill;
		return (undef, $err);
	}
	return ($status, $err);
}

# 1. A transaction on stream partition 1, left open.
my $bg = $node->background_psql('postgres');
$bg->query_safe(q{BEGIN});
$bg->query_safe(q{SELECT count(*) FROM sessionize.sessionize_batch('reg',
    '[{"id": "x", "ts": "2026-01-01T10:00:00Z"}]', 'other', 1, 1)});

# Kafka partition 0 feeds stream partition 0: registered and fed while
# that transaction is open.
my ($status, $err) = feed(['0 5 {"id": "a", "ts": "2026-01-01T10:00:00Z"}'], 30);
is($status, 0, 'a new Kafka partition of stream partition 0 is fed while partition 1 is busy')
  or diag($err);
$bg->query_safe(q{COMMIT});
$bg->quit;
is($node->safe_psql('postgres', q{SELECT sessionize.committed_offset('reg', 'k-0')}),
	'5', 'its offset is committed');

# 2. Kafka partition 2 also feeds stream partition 0: registered on its
# first line, it holds the clock until it sends events.  Here its first
# line is a bad one, set aside, so it registers and sends nothing; k-0's
# next batch leaves the clock where it was (10:00).
($status, $err) = feed([
		'2 40 not json',
		'0 6 {"id": "a", "ts": "2026-01-01T11:00:00Z"}' ], 30,
	'--bad-lines', "$tmp/bad.txt");
is($status, 0, 'the feeder sets the bad line aside and exits 0') or diag($err);
is($node->safe_psql('postgres',
		q{SELECT source || ' ' || committed_offset || ' ' || coalesce(newest_ts::text, 'none')
		    FROM sessionize.sources WHERE stream = 'reg' AND source = 'k-2'}),
	'k-2 40 none', 'Kafka partition 2 is registered, its bad line set aside, with no clock');
is($node->safe_psql('postgres',
		q{SELECT watermark FROM sessionize.partition_stats WHERE stream = 'reg' AND "partition" = 0}),
	'2026-01-01 10:00:00+00', 'the registered source holds stream partition 0\'s clock');

# 3. A source committed by another feeder (here at 50) is resumed after its
# offset: its lines up to 50 are skipped, not applied again, and the
# offset stays.
$node->safe_psql('postgres', q{SELECT count(*) FROM sessionize.sessionize_batch('reg',
    '[{"id": "c", "ts": "2026-01-01T10:00:00Z"}]', 'k-3', 50, 1)});
($status, $err) = feed(['3 49 {"id": "c", "ts": "2026-01-01T10:00:00Z"}'], 30);
is($status, 0, 'the feeder of a committed source exits 0') or diag($err);
is($node->safe_psql('postgres', q{SELECT sessionize.committed_offset('reg', 'k-3')}),
	'50', 'a committed offset never moves back');

$node->stop;
done_testing();
