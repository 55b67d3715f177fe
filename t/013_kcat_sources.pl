# Several Kafka partitions feeding one stream partition give the sessions
# of the same events fed in order, however sessionize-feed cuts its batches
# and wherever it is killed.
#
# 30,000 events in time order, 600 keys; a key belongs to one of three
# Kafka partitions (as Kafka's partitioner keeps a key in one), written as
# kcat lines in time order, the partitions interleaved as a consumer reads
# them.  A stream of two partitions with lateness 0 is fed by
# sessionize-feed --format kcat: Kafka partitions 0 and 2 share stream
# partition 0, each its own source, each with its own clock.  The sessions
# (after the clock is moved past the last event) equal those of the same
# events fed in order by one source into a stream of one partition:
#  1. batches of 1000;
#  2. batches of 77;
#  3. batches of 500, the feeder killed with SIGKILL twice and run again;
# and no event is late.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('kcat_sources');
$node->init;
$node->start;

my $feed = $node->config_data('--bindir') . '/sessionize-feed';
my @conn = ('-h', $node->host, '-p', $node->port, '-d', 'postgres');
my $tmp = PostgreSQL::Test::Utils::tempdir;

# The events: event i at 2026-01-01 00:00 + 2 i seconds, key k(i); one
# key's events are 600 events (20 minutes) apart, and every 1,000 events the
# stream pauses 25 minutes, so that gap (30 minutes) closes some sessions;
# every 41st event is last.
my $N = 30000;
my (@json, @kcat);
my @next_offset = (0, 0, 0);
for my $i (1 .. $N)
{
	my $key = ($i * 7919) % 600;
	my $secs = $i * 2 + int($i / 1000) * 1500;
	my $msg = sprintf('{"id": "u%d", "ts": %d, "isLast": %s, "n": %d}',
		$key, 1767225600 + $secs, ($i % 41 == 0 ? 'true' : 'false'), $i);
	push @json, $msg;
	my $p = $key % 3;
	push @kcat, sprintf('%d %d %s', $p, $next_offset[$p]++, $msg);
}

# Each key's events must come in ts order within its partition for the
# claim to hold: check the data, not only the code.
{
	my %last;
	for my $m (@json)
	{
		my ($k, $t) = $m =~ /"id": "(u\d+)", "ts": (\d+)/;
		die "key $k goes back in time" if defined $last{$k} && $t < $last{$k};
		$last{$k} = $t;
	}
}

sub write_file
{
	my ($name, @lines) = @_;
	my $path = "$tmp/$name";
	open(my $fh, '>', $path) or die "could not write $path: $!";
	print $fh map { "$_\n" } @lines;
	close($fh);
	return $path;
}
my $json_file = write_file('events.jsonl', @json);
my $kcat_file = write_file('events.kcat', @kcat);

$node->safe_psql('postgres', q{
CREATE EXTENSION sessionize;
CREATE TABLE sink (stream text DEFAULT current_setting('sessionize_test.stream'),
                   key text, session_start timestamptz, session_end timestamptz,
                   event_count integer, end_reason text, events jsonb);
});

# run(stream, partitions, args): a new stream fed by the feeder with args;
# then its clock moved past the last event.  Returns the feeder's status.
sub run_feeder
{
	my ($args) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ $feed, @conn, @$args ], '<', \'', '>', \$out, '2>', \$err);
	note("sessionize-feed @$args:\n$err");
	return $? >> 8;
}

sub create
{
	my ($stream, $partitions) = @_;
	$node->safe_psql('postgres', qq{
ALTER DATABASE postgres SET sessionize_test.stream = '$stream';
SELECT sessionize.create_stream('$stream', gap => '30 minutes', lateness => '0',
                                partitions => $partitions, max_future => NULL, sink => 'sink');
});
}

sub finish
{
	my ($stream) = @_;
	$node->safe_psql('postgres', qq{
SET sessionize_test.stream = '$stream';
SELECT count(*) FROM sessionize.expire('$stream', '2027-01-01');
});
}

# differ(stream): the sessions of stream that the reference has not, and
# the reverse.
sub differ
{
	my ($stream) = @_;
	return $node->safe_psql('postgres', qq{
SELECT count(*) FROM (
    (SELECT key, session_start, session_end, event_count, end_reason, events
       FROM sink WHERE stream = '$stream'
     EXCEPT SELECT key, session_start, session_end, event_count, end_reason, events
       FROM sink WHERE stream = 'ref')
    UNION ALL
    (SELECT key, session_start, session_end, event_count, end_reason, events
       FROM sink WHERE stream = 'ref'
     EXCEPT SELECT key, session_start, session_end, event_count, end_reason, events
       FROM sink WHERE stream = '$stream')) d});
}

# The reference: one source, in order, one partition.
create('ref', 1);
is(run_feeder([ '--stream', 'ref', '--source', 'all', '--batch-size', '1000', $json_file ]),
	0, 'the reference is fed');
finish('ref');
my ($ref_sessions, $ref_gap, $ref_last) = split /\|/, $node->safe_psql('postgres', q{
SELECT count(*), count(*) FILTER (WHERE end_reason = 'gap'),
       count(*) FILTER (WHERE end_reason = 'last')
  FROM sink WHERE stream = 'ref'});
note("reference: $ref_sessions sessions, $ref_gap by gap, $ref_last by isLast");
cmp_ok($ref_gap, '>', 100, '(the reference has sessions that gap closed)');
cmp_ok($ref_last, '>', 100, '(and sessions that isLast closed)');

# same(stream, what): the stream's sessions are the reference's, none late.
sub same
{
	my ($stream, $what) = @_;
	finish($stream);
	is($node->safe_psql('postgres',
			"SELECT late_events FROM sessionize.stats WHERE stream = '$stream'"),
		'0', "$what: no event is late");
	is(differ($stream), '0', "$what: the sessions of the events fed in order");
	is( $node->safe_psql('postgres', qq{
SELECT string_agg(source || ':' || "partition" || ':' || committed_offset, ',' ORDER BY source)
  FROM sessionize.sources WHERE stream = '$stream'}),
		"$stream-0:0:" . ($next_offset[0] - 1) . ",$stream-1:1:" . ($next_offset[1] - 1)
		  . ",$stream-2:0:" . ($next_offset[2] - 1),
		"$what: Kafka partitions 0 and 2 feed stream partition 0, each its own source");
}

for my $size (1000, 77)
{
	my $stream = "kcat$size";
	create($stream, 2);
	is( run_feeder(
			[ '--stream', $stream, '--source', $stream, '--format', 'kcat',
			  '--batch-size', $size, $kcat_file ]),
		0,
		"batches of $size: the feeder exits 0");
	same($stream, "batches of $size");
}

# Killed twice and run again.
create('killed', 2);
my $seed = int(rand(1_000_000));
srand($seed);
note("kill moments drawn with seed $seed");
for my $k (1 .. 2)
{
	my $h = IPC::Run::start(
		[ $feed, @conn, '--stream', 'killed', '--source', 'killed', '--format', 'kcat',
		  '--batch-size', '500', $kcat_file ],
		'<', \'', '>', \my $out, '2>', \my $err);
	usleep(int(200_000 + rand(1_500_000)));
	$h->signal('KILL');
	$h->finish;
	note("killed run $k");
}
is( run_feeder(
		[ '--stream', 'killed', '--source', 'killed', '--format', 'kcat',
		  '--batch-size', '500', $kcat_file ]),
	0,
	'after two kills, the feeder run again exits 0');
same('killed', 'killed twice');

$node->stop;
done_testing();
