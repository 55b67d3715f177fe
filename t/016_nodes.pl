# One stream over three nodes through sessionize_proxy (PL/Proxy): one
# proxy, nodes A, B and C, a cluster of four partitions (p0 A, p1 B, p2 A,
# p3 C).  The reference is a database "direct" on node A with the same
# streams, fed the same events straight.
#  1. Routing by partition: 16,000 events over 4 Kafka partitions (a key
#     in one), fed through the proxy by sessionize-feed --format kcat in
#     three parts; between the first two, cluster partition 2 moves from A
#     to C (sessionize-move), and during the second it moves again, from C
#     to B, while the feeder runs.  The union of the nodes' sinks equals
#     the direct sink.
#  2. Routing by key: 6,000 events as typed batches of 250 split by key,
#     each event with its offset; node B is stopped (immediate) mid-stream,
#     the feeder's error names it; B is started again and the feeder
#     resumes from the proxy's committed_offset in batches of 97: every
#     session comes out exactly once across the sinks (against the direct
#     run, ignoring why a session ended: each node has its own clock).
#  3. Fan-out: create_stream through the proxy makes the stream on every
#     node with the same settings, alter_stream changes them on every
#     node, drop_stream leaves no state anywhere.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $probe = PostgreSQL::Test::Cluster->new('probe');
my $sharedir = $probe->config_data('--sharedir');
plan skip_all => "PL/Proxy is not installed for this PostgreSQL ($sharedir/extension/plproxy.control)"
  unless -f "$sharedir/extension/plproxy.control";

my %node;
for my $name (qw(a b c proxy))
{
	$node{$name} = PostgreSQL::Test::Cluster->new("node_$name");
	$node{$name}->init;
	$node{$name}->append_conf('postgresql.conf', "max_connections = 40\n");
	$node{$name}->start;
}
my $bindir = $node{a}->config_data('--bindir');
my $tmp = PostgreSQL::Test::Utils::tempdir;

sub conninfo
{
	my ($name) = @_;
	return sprintf('host=%s port=%d dbname=node_%s', $node{$name}->host,
		$node{$name}->port, $name);
}

my $sink_sql = q{
CREATE TABLE sink (key text, session_start timestamptz, session_end timestamptz,
                   event_count integer, end_reason text, events jsonb);
CREATE TABLE keysink (LIKE sink);
};
for my $name (qw(a b c))
{
	$node{$name}->safe_psql('postgres', "CREATE DATABASE node_$name");
	$node{$name}->safe_psql("node_$name", "CREATE EXTENSION sessionize; $sink_sql");
}
$node{a}->safe_psql('postgres', 'CREATE DATABASE direct');
$node{a}->safe_psql('direct', "CREATE EXTENSION sessionize; $sink_sql");

my $proxy = $node{proxy};
$proxy->safe_psql('postgres', sprintf(q{
CREATE EXTENSION sessionize_proxy CASCADE;
CREATE SERVER sessionize FOREIGN DATA WRAPPER plproxy
    OPTIONS (p0 '%s', p1 '%s', p2 '%s', p3 '%s');
CREATE USER MAPPING FOR PUBLIC SERVER sessionize;
}, conninfo('a'), conninfo('b'), conninfo('a'), conninfo('c')));

my $settings = q{gap => '30 minutes', lateness => '0', max_future => NULL};
$proxy->safe_psql('postgres', qq{
SELECT sessionize.create_stream('bypart', $settings, sink => 'sink');
SELECT sessionize.create_stream('bykey', $settings, sink => 'keysink');
});
$node{a}->safe_psql('direct', qq{
SELECT sessionize.create_stream('bypart', $settings, sink => 'sink', partitions => 4);
SELECT sessionize.create_stream('bykey', $settings, sink => 'keysink', partitions => 4);
});

# 4. (first half) The streams are on every node, with the same settings.
my $show = q{SELECT string_agg(format('%s %s %s %s %s', name, partitions, gap, lateness, sink),
                             ', ' ORDER BY name) FROM sessionize.streams};
my $want = 'bykey 4 00:30:00 00:00:00 keysink, bypart 4 00:30:00 00:00:00 sink';
is($node{$_}->safe_psql("node_$_", $show), $want, "create_stream through the proxy: node $_")
  for qw(a b c);

# The events: event i at 2026-02-01 00:00 + 2 i seconds, key k(i), 800
# keys, a key's events in ts order; a pause of 40 minutes every 2,000
# events closes sessions by gap; every 37th event is last.
sub events
{
	my ($n, $seed) = @_;
	my @ev;
	for my $i (1 .. $n)
	{
		my $key = ($i * 7919 + $seed) % 800;
		my $secs = $i * 2 + int($i / 2000) * 2400;
		push @ev, [ "u$key", 1769904000 + $secs, ($i % 37 == 0 ? 'true' : 'false'), $i ];
	}
	return @ev;
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

# the union of the nodes' sinks less the direct one, both ways
sub differ
{
	my ($table, $columns) = @_;
	my %rows;
	for my $name (qw(a b c))
	{
		$rows{nodes} .= $node{$name}->safe_psql("node_$name",
			"SELECT $columns FROM $table ORDER BY 1, 2, 3");
		$rows{nodes} .= "\n";
	}
	$rows{direct} = $node{a}->safe_psql('direct', "SELECT $columns FROM $table ORDER BY 1, 2, 3");
	my @nodes = sort grep { $_ ne '' } split /\n/, $rows{nodes};
	my @direct = sort grep { $_ ne '' } split /\n/, $rows{direct};
	note("$table: " . scalar(@nodes) . " sessions on the nodes, " . scalar(@direct) . " direct");
	return join("\n", @nodes) eq join("\n", @direct) ? 'same' : 'different';
}

# ---------------------------------------------------------------- 1 and 3
my @kcat;
my @next = (0, 0, 0, 0);
for my $e (events(16000, 11))
{
	my ($key, $ts, $last, $n) = @$e;
	my ($k) = $key =~ /(\d+)/;
	my $p = $k % 4;
	push @kcat, sprintf('%d %d {"id": "%s", "ts": %d, "isLast": %s, "n": %d}',
		$p, $next[$p]++, $key, $ts, $last, $n);
}
my @parts = (write_file('part1.kcat', @kcat[0 .. 5999]),
	write_file('part2.kcat', @kcat[6000 .. 11999]),
	write_file('part3.kcat', @kcat[12000 .. $#kcat]));
my $all = write_file('all.kcat', @kcat);

my @feed = ("$bindir/sessionize-feed", '--stream', 'bypart', '--source', 'topic',
	'--format', 'kcat', '--batch-size', '300');
sub feed_through_proxy
{
	my ($file) = @_;
	my ($out, $err) = ('', '');
	my $ok = IPC::Run::run([ @feed, '-h', $proxy->host, '-p', $proxy->port, '-d', 'postgres', $file ],
		'<', \'', '>', \$out, '2>', \$err);
	note("sessionize-feed $file:\n$err");
	return $ok;
}
my $move = "$bindir/sessionize-move";
my $proxy_conn = sprintf('host=%s port=%d dbname=postgres', $proxy->host, $proxy->port);

ok(feed_through_proxy($parts[0]), 'partition routing: the feeder through the proxy exits 0');
my ($out, $err) = ('', '');
ok( IPC::Run::run([ $move, '--proxy', $proxy_conn, '--partition', '2', '--to', conninfo('c') ],
		'>', \$out, '2>', \$err),
	'move 2 from A to C between two batches');
note($out . $err);
is($node{c}->safe_psql('node_c', q{SELECT string_agg(stream || ':' || "partition" || ':' || sessions_open::text, ',' ORDER BY 1)
  FROM sessionize.partition_stats WHERE "partition" = 2}) =~ /bypart:2:[1-9]/ ? 1 : 0, 1,
	'partition 2 has its open sessions on C');
is($node{a}->safe_psql('node_a', q{SELECT string_agg(stream, ',' ORDER BY stream) FROM sessionize.partition_stats
  WHERE "partition" = 2 AND moved_at IS NOT NULL AND sessions_open = 0 AND offsets = '{}'}),
	'bykey,bypart', 'A keeps nothing of partition 2, marked moved');

# the second part while partition 2 moves from C to B
{
	my ($fout, $ferr) = ('', '');
	my $h = IPC::Run::start([ @feed, '-h', $proxy->host, '-p', $proxy->port, '-d', 'postgres',
			'--batch-size', '50', $parts[1] ], '<', \'', '>', \$fout, '2>', \$ferr);
	# wait until it has sent some of the part
	my $t0 = time;
	while (time - $t0 < 60)
	{
		last if $proxy->safe_psql('postgres',
			q{SELECT coalesce(sum(events_in), 0) FROM sessionize.stats WHERE stream = 'bypart'}) > 6500;
		select(undef, undef, undef, 0.05);
	}
	($out, $err) = ('', '');
	ok( IPC::Run::run([ $move, '--proxy', $proxy_conn, '--partition', '2', '--to', conninfo('b') ],
			'>', \$out, '2>', \$err),
		'move 2 from C to B while a feeder runs');
	note($out . $err);
	ok($h->finish, 'the feeder running through the move exits 0');
	note("sessionize-feed during the move:\n$ferr");
}
# sessionize-move's refusals
($out, $err) = ('', '');
IPC::Run::run([ $move, '--proxy', $proxy_conn, '--partition', '9', '--to', conninfo('c') ],
	'>', \$out, '2>', \$err);
is($? >> 8, 1, 'sessionize-move of a partition the cluster lacks exits 1');
like($err, qr/the cluster has no partition 9\n.*hint: Its partitions are 0 to 3\./s,
	'... and says which partitions there are');
($out, $err) = ('', '');
ok( IPC::Run::run([ $move, '--proxy', $proxy_conn, '--partition', '2', '--to', conninfo('b') ],
		'>', \$out, '2>', \$err),
	'sessionize-move to the node that has the partition exits 0');
like($out, qr/cluster partition 2 is already on/, '... and does nothing');

ok(feed_through_proxy($parts[2]), 'the third part through the proxy');
is($proxy->safe_psql('postgres', q{SELECT node FROM sessionize.partition_stats
  WHERE stream = 'bypart' AND "partition" = 2}), conninfo('b'), 'partition 2 is on B');

# the direct run: the whole file at once
{
	my ($fout, $ferr) = ('', '');
	ok( IPC::Run::run([ @feed, '-h', $node{a}->host, '-p', $node{a}->port, '-d', 'direct', $all ],
			'<', \'', '>', \$fout, '2>', \$ferr),
		'the direct run');
}
$proxy->safe_psql('postgres', q{SELECT count(*) FROM sessionize.flush('bypart')});
$node{a}->safe_psql('direct', q{SELECT count(*) FROM sessionize.flush('bypart')});
is(differ('sink', 'key, session_start, session_end, event_count, end_reason, events'), 'same',
	'partition routing with two moves: the nodes\' sinks equal the direct run');
is( $proxy->safe_psql('postgres', q{SELECT string_agg(source || ':' || "partition" || ':' || committed_offset
  || ':' || (node = '} . conninfo('b') . q{')::text, ',' ORDER BY source) FROM sessionize.sources WHERE stream = 'bypart'}),
	join(',', map { "topic-$_:$_:" . ($next[$_] - 1) . ':' . ($_ == 1 || $_ == 2 ? 'true' : 'false') } 0 .. 3),
	'the proxy\'s sources: each Kafka partition once, partitions 1 and 2 on B (2 moved there)');
is($proxy->safe_psql('postgres', q{SELECT sessionize.committed_offset('bypart', 'topic-0')}),
	$next[0] - 1, "committed_offset through the proxy: Kafka partition 0's last offset");

# ---------------------------------------------------------------------- 2
my @key_events = events(6000, 5);
# typed batch (from, to) of events, offsets from 1: the SQL
sub typed_batch
{
	my ($from, $to) = @_;
	my @e = @key_events[ $from - 1 .. $to - 1 ];
	my $keys = join(',', map { "\"$_->[0]\"" } @e);
	my $ts = join(',', map { "\"$_->[1]\"" } @e);
	my $last = join(',', map { $_->[2] } @e);
	my $payloads = join(',', map { "\"{\\\"n\\\": $_->[3]}\"" } @e);
	my $offsets = join(',', $from .. $to);
	return qq{SELECT count(*) FROM sessionize.sessionize_batch('bykey', '{$keys}'::text[],
  ARRAY(SELECT to_timestamp(t) FROM unnest('{$ts}'::float8[]) WITH ORDINALITY u(t, i) ORDER BY i),
  '{$last}'::boolean[], '{$payloads}'::jsonb[], 'app', offsets => '{$offsets}'::bigint[])};
}

my $sent = 0;
my $stopped_error;
for (my $from = 1; $from <= 6000; $from += 250)
{
	if ($from == 3001)
	{
		$node{b}->stop('immediate');
		my ($rc, $o, $e) = $proxy->psql('postgres', typed_batch($from, $from + 249));
		$stopped_error = $e;
		last;
	}
	$proxy->safe_psql('postgres', typed_batch($from, $from + 249));
	$sent = $from + 249;
}
like($stopped_error, qr/node_b/, 'with node B down, the batch fails with an error that names it');
note("the error: $stopped_error");
$node{b}->start;
my $resume = $proxy->safe_psql('postgres', q{SELECT sessionize.committed_offset('bykey', 'app')});
is($resume, 3000, 'the proxy\'s committed_offset is where every node is');
for (my $from = $resume + 1; $from <= 6000; $from += 97)
{
	my $to = $from + 96 > 6000 ? 6000 : $from + 96;
	$proxy->safe_psql('postgres', typed_batch($from, $to));
}
# and a resend of a stretch already applied, cut another way: nothing doubles
for (my $from = 2900; $from <= 3300; $from += 133)
{
	my $to = $from + 132;
	$proxy->safe_psql('postgres', typed_batch($from, $to));
}
is($proxy->safe_psql('postgres', q{SELECT sessionize.committed_offset('bykey', 'app')}), 6000,
	'committed_offset after the resume');
for (my $from = 1; $from <= 6000; $from += 1000)
{
	$node{a}->safe_psql('direct', typed_batch($from, $from + 999) =~ s/offsets =>/"partition" => 0, offsets =>/r);
}
$proxy->safe_psql('postgres', q{SELECT count(*) FROM sessionize.flush('bykey')});
$node{a}->safe_psql('direct', q{SELECT count(*) FROM sessionize.flush('bykey')});
is(differ('keysink', 'key, session_start, session_end, event_count, events'), 'same',
	'routing by key, a node stopped and the feeder resumed in other batch sizes: each session once');
is( $proxy->safe_psql('postgres', q{SELECT sum(events_in) FROM sessionize.stats WHERE stream = 'bykey'}),
	6000, 'every event applied once across the nodes');

# ---------------------------------------------------------------------- 4
$proxy->safe_psql('postgres', q{SELECT sessionize.alter_stream('bykey', 'gap', interval '45 minutes');
SELECT sessionize.alter_stream('bykey', 'max_events', 500)});
is($node{$_}->safe_psql("node_$_", q{SELECT gap || ' ' || max_events FROM sessionize.streams WHERE name = 'bykey'}),
	'00:45:00 500', "alter_stream through the proxy: node $_")
  for qw(a b c);
$proxy->safe_psql('postgres', q{SELECT sessionize.drop_stream('bypart'); SELECT sessionize.drop_stream('bykey')});
for my $name (qw(a b c))
{
	is( $node{$name}->safe_psql("node_$name", q{
SELECT (SELECT count(*) FROM sessionize.streams) + (SELECT count(*) FROM sessionize.offsets)
     + (SELECT count(*) FROM pg_tables WHERE schemaname = 'sessionize' AND tablename LIKE 'state%')}),
		0, "drop_stream through the proxy: nothing left on node $name");
}

done_testing();
