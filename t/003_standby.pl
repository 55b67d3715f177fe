# A streaming standby shows the same open sessions, counters and offsets
# as the primary after catch-up; after promotion, a feeder resumes from
# committed_offset on it and gets the same sessions as a stream fed
# without the failover.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->start;

$primary->safe_psql('postgres', q{
CREATE EXTENSION sessionize;
CREATE TABLE sink_main (key text, session_start timestamptz, session_end timestamptz,
                        event_count integer, end_reason text, events jsonb);
CREATE TABLE sink_reference (LIKE sink_main);
SELECT sessionize.create_stream('main', gap => '15 minutes', max_events => 9, sink => 'sink_main');
SELECT sessionize.create_stream('reference', gap => '15 minutes', max_events => 9,
                                sink => 'sink_reference');
CREATE TABLE batches AS
SELECT (i - 1) / 40 + 1 AS b,
       jsonb_agg(jsonb_build_object('id', 'u' || (i * 13) % 57, 'n', i, 'isLast', i % 23 = 0,
                                    'ts', timestamptz '2026-01-01' + i * interval '29 seconds')
                 ORDER BY i) AS events
  FROM generate_series(1, 4000) i GROUP BY 1;
});

sub feed
{
	my ($node, $stream, $first, $last) = @_;
	for my $b ($first .. $last)
	{
		$node->safe_psql('postgres',
			"SELECT count(*) FROM batches, sessionize.sessionize_batch('$stream', events, 'topic', b) WHERE b = $b");
	}
}

$primary->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->start;

feed($primary, 'main', 1, 50);
$primary->wait_for_catchup($standby);

my $state = q{
SELECT (SELECT json_agg(s ORDER BY s.stream)::text FROM (
            SELECT stream, events_in, late_events, batches, sessions_open, sessions_closed,
                   closed_gap, closed_max_events, closed_last, watermark, offsets
              FROM sessionize.stats) s),
       (SELECT json_agg(o ORDER BY o.key)::text FROM sessionize.open_sessions('main') o),
       sessionize.committed_offset('main', 'topic')
};
my $on_primary = $primary->safe_psql('postgres', $state);
like($on_primary, qr/"sessions_open":[1-9]/, 'the primary has open sessions');
is($standby->safe_psql('postgres', $state), $on_primary,
	'the standby shows the same open sessions, counters and offsets');

# The standby refuses to feed: it is read-only.
my ($ret, $stdout, $stderr) = $standby->psql('postgres',
	"SELECT sessionize.sessionize_batch('main', '[]')");
like($stderr, qr/cannot change stream "main" in a read-only transaction/,
	'a standby cannot be fed, and says why');

# Failover: the primary goes away mid-stream; the promoted standby goes on
# from committed_offset.
$primary->stop('immediate');
$standby->promote;
my $resume = $standby->safe_psql('postgres', "SELECT sessionize.committed_offset('main', 'topic')") + 1;
is($resume, 51, 'the feeder resumes after batch 50');
feed($standby, 'main', $resume, 100);
feed($standby, 'reference', 1, 100);
$standby->safe_psql('postgres', q{
SELECT count(*) FROM sessionize.flush('main');
SELECT count(*) FROM sessionize.flush('reference');
});

cmp_ok($standby->safe_psql('postgres', 'SELECT count(*) FROM sink_main'), '>', 100,
	'sessions were finished');
is( $standby->safe_psql(
		'postgres', q{
SELECT count(*) FROM ((TABLE sink_main EXCEPT ALL TABLE sink_reference)
                      UNION ALL (TABLE sink_reference EXCEPT ALL TABLE sink_main)) d}),
	'0',
	'the stream fed across the failover has the same sessions as the reference');

$standby->stop;
done_testing();
