# Load: four feeders on one stream with overlapping keys and a fifth
# session calling expire(), all at once, each committing per call.  No
# deadlock and no serialization error reaches anyone; afterwards every
# event is counted and, after flush(), in exactly one session of the sink,
# and every feeder's offsets are committed.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $FEEDERS = 4;
my $BATCHES = 400;    # 100 per feeder, 100 events each
my $EVENTS  = $BATCHES * 100;

my $node = PostgreSQL::Test::Cluster->new('load');
$node->init;
$node->append_conf('postgresql.conf',
	"max_connections = 20\nlog_lock_waits = on\ndeadlock_timeout = '1ms'\n");
$node->start;

$node->safe_psql('postgres', qq{
CREATE EXTENSION sessionize;
CREATE TABLE sink (key text, session_start timestamptz, session_end timestamptz,
                   event_count integer, end_reason text, events jsonb);
SELECT sessionize.create_stream('load', gap => '10 minutes', max_events => 15, sink => 'sink');
CREATE TABLE batches AS
SELECT (i - 1) / 100 AS b,
       jsonb_agg(jsonb_build_object('id', 'u' || (i * 7919) % 97, 'seq', i, 'isLast', i % 41 = 0,
                                    'ts', timestamptz '2026-01-01' + i * interval '3 seconds')
                 ORDER BY i) AS events
  FROM generate_series(1, $EVENTS) i GROUP BY 1;
CREATE PROCEDURE feed(part int) LANGUAGE plpgsql AS \$\$
DECLARE r record;
BEGIN
    FOR r IN SELECT * FROM batches WHERE b % $FEEDERS = part ORDER BY b LOOP
        PERFORM count(*) FROM sessionize.sessionize_batch('load', r.events, 'feeder' || part, r.b);
        COMMIT;
    END LOOP;
END
\$\$;
CREATE PROCEDURE expire_often() LANGUAGE plpgsql AS \$\$
BEGIN
    FOR i IN 1 .. 200 LOOP
        PERFORM count(*) FROM sessionize.expire('load',
            timestamptz '2026-01-01' + i * ($EVENTS * 3 / 200) * interval '1 second');
        COMMIT;
    END LOOP;
END
\$\$;
});

# All five at once.
my @sessions;
for my $part (0 .. $FEEDERS - 1)
{
	my $bg = $node->background_psql('postgres', on_error_stop => 0);
	$bg->query_until(qr/started/, "\\echo started\nCALL feed($part);\n\\echo done\n");
	push @sessions, $bg;
}
my $ex = $node->background_psql('postgres', on_error_stop => 0);
$ex->query_until(qr/started/, "\\echo started\nCALL expire_often();\n\\echo done\n");
push @sessions, $ex;

my $errors = '';
for my $bg (@sessions)
{
	$bg->query_until(qr/done/, '');
	$errors .= $bg->{stderr};
	$bg->quit;
}
is($errors, '', 'no session got an error (no deadlock, no serialization failure)');
my $waits = () = slurp_file($node->logfile) =~ /still waiting for/g;
cmp_ok($waits, '>', 0, "the sessions did wait for each other ($waits waits over 1 ms logged)");

is($node->safe_psql('postgres', q{SELECT events_in FROM sessionize.stats WHERE stream = 'load'}),
	$EVENTS, "all $EVENTS events counted");
is( $node->safe_psql(
		'postgres', q{
SELECT string_agg(source || '=' || committed_offset, ',' ORDER BY source)
  FROM sessionize.offsets}),
	'feeder0=396,feeder1=397,feeder2=398,feeder3=399',
	'every feeder committed its last batch');
$node->safe_psql('postgres', q{SELECT count(*) FROM sessionize.flush('load')});
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) || ' ' || count(DISTINCT e->>'seq')
  FROM sink, jsonb_array_elements(events) e}),
	"$EVENTS $EVENTS",
	'after flush every event is in exactly one session of the sink');
is( $node->safe_psql(
		'postgres', q{
SELECT sessions_open || ' ' || (sessions_closed = (SELECT count(*) FROM sink))
  FROM sessionize.stats WHERE stream = 'load'}),
	'0 true',
	'the counters agree with the sink');

$node->stop;
done_testing();
