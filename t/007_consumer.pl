# demo/consumer.py, the README's "Writing a consumer" (the typed form of
# sessionize_batch): fed kcat's output (partition offset message) of two
# Kafka partitions, stopped part way, then run again on the whole input,
# and a third time, every event is applied once, and the third run applies
# nothing.  Then a stream with other settings (bigint keys sent as JSON
# numbers, up to 2^40; epoch times in milliseconds; other field names).
use strict;
use warnings;

use File::Basename;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $python = '/usr/bin/python3';
my $consumer = dirname(__FILE__) . '/../demo/consumer.py';

my $node = PostgreSQL::Test::Cluster->new('consumer');
$node->init;
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION sessionize;
CREATE TABLE s (key text, session_start timestamptz, session_end timestamptz,
                event_count int, end_reason text, events jsonb);
SELECT sessionize.create_stream('user_events', gap => '30 minutes', sink => 's');
});

# 5,000 events of 97 users, alternating between partitions 0 and 1.
my $input = $node->safe_psql('postgres', q{
SELECT string_agg(format('%s %s %s', i % 2, i / 2,
                         jsonb_build_object('id', 'u' || i % 97, 'n', i, 'isLast', i % 31 = 0,
                                            'ts', timestamptz '2026-01-01 10:00+00'
                                                  + i * interval '13 seconds')), E'\n' ORDER BY i)
  FROM generate_series(0, 4999) i});
my @lines = split /\n/, $input;

# run(lines[, stream, topic]): the consumer on these lines; returns the
# number of rows it printed.
sub run
{
	my ($lines, $stream, $topic) = @_;
	my ($out, $err);
	local $ENV{PGHOST} = $node->host;
	local $ENV{PGPORT} = $node->port;
	local $ENV{PGDATABASE} = 'postgres';
	IPC::Run::run([ $python, $consumer, $stream // 'user_events', $topic // 'clicks' ],
		'<', \(join("\n", @$lines) . "\n"), '>', \$out, '2>', \$err)
	  or die "consumer failed: $err";
	return scalar(() = $out =~ /\n/g);
}

my $first = run([ @lines[ 0 .. 3099 ] ]);
my $second = run(\@lines);
my $third = run(\@lines);
cmp_ok($first + $second, '>', 1000, "the first two runs returned sessions ($first and $second)");
is($third, 0, 'the third run, on input already applied, applies nothing');
is($node->safe_psql('postgres', q{SELECT offsets FROM sessionize.stats}),
	'{"clicks-0": 2499, "clicks-1": 2499}', "each partition's source committed to its last offset");
$node->safe_psql('postgres', q{SELECT count(*) FROM sessionize.flush('user_events')});
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) = 5000 AND count(DISTINCT e->>'n') = 5000
  FROM s, jsonb_array_elements(events) e}),
	't', 'every event in exactly one session');

$node->safe_psql('postgres', q{
CREATE TABLE n (key bigint, session_start timestamptz, event_count int, events jsonb);
SELECT sessionize.create_stream('numbers', key_type => 'bigint', gap => '1 minute', sink => 'n',
                                key_field => 'user', ts_field => 'at', last_field => 'done',
                                ts_unit => 'ms');
});
my @numbers = split /\n/, $node->safe_psql('postgres', q{
SELECT string_agg(format('0 %s %s', i,
                         jsonb_build_object('user', (i % 7) * (1::bigint << 40) + i % 3, 'n', i,
                                            'done', i % 11 = 0, 'at', 1767261600000 + i * 5000)),
                  E'\n' ORDER BY i)
  FROM generate_series(0, 1999) i});
run([ @numbers[ 0 .. 1200 ] ], 'numbers', 'numbers');
run(\@numbers, 'numbers', 'numbers');
$node->safe_psql('postgres', q{SELECT count(*) FROM sessionize.flush('numbers')});
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) = 2000 AND count(DISTINCT e->>'n') = 2000
       AND bool_and(key = (e->>'user')::bigint)
       AND min(session_start) = '2026-01-01 10:00+00'
  FROM n, jsonb_array_elements(events) e}),
	't', 'bigint keys and epoch times: every event in exactly one session of its key');

$node->stop;
done_testing();
