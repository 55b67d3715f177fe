# From PostgreSQL 15 to the version under test (18 in CI): a database of
# sessionize 0.3 on a PostgreSQL 15 server, dumped mid-stream with the new
# version's pg_dump and restored into a server of the new version, keeps
# its streams (settings, open sessions, clock, counters, offsets), and goes
# on with the same results as the database it came from.  It needs a
# PostgreSQL 15 with sessionize installed (/usr/lib/postgresql/15, as
# `bash .ci/run` leaves it), and runs when the version under test is
# another.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $old_install = $ENV{SESSIONIZE_PG15_INSTALL} // '/usr/lib/postgresql/15';
my $new = PostgreSQL::Test::Cluster->new('new');
my $new_major = int($new->pg_version->major);
plan skip_all => 'the version under test is 15: there is no other version to restore into'
  if $new_major == 15;
plan skip_all => "no PostgreSQL 15 with sessionize in $old_install"
  unless -x "$old_install/bin/postgres" && -e "$old_install/lib/sessionize.so";

my $old = PostgreSQL::Test::Cluster->new('old', install_path => $old_install);
$old->init;
$old->start;
$new->init;
$new->start;

# Streams of 0.3 (the catalog of 0.3, one clock per partition), fed half
# their batches: one with a sink and two partitions, one with custom state.
$old->safe_psql('postgres', q{
CREATE EXTENSION sessionize VERSION '0.3';
CREATE TABLE sink (key text, session_start timestamptz, session_end timestamptz,
                   event_count integer, end_reason text, events jsonb, id bigserial);
CREATE FUNCTION count_events(key text, events jsonb, state jsonb, timed_out boolean)
RETURNS sessionize.state_update LANGUAGE sql AS $$
    SELECT ROW(CASE WHEN timed_out THEN NULL
                    ELSE jsonb_build_object('n', coalesce((state->>'n')::int, 0)
                                                 + jsonb_array_length(events)) END,
               CASE WHEN timed_out THEN state END)::sessionize.state_update
$$;
SELECT sessionize.create_stream('clicks', 'bigint', gap => '20 minutes', max_events => 7,
                                lateness => '1 minute', sink => 'sink', partitions => 2);
SELECT sessionize.create_stream('counts', gap => '20 minutes',
                                update_function => 'count_events(text, jsonb, jsonb, boolean)');
CREATE TABLE batches AS
SELECT (i - 1) / 50 + 1 AS b,
       jsonb_agg(jsonb_build_object('id', 1 + (i * 7) % 40, 'n', i, 'isLast', i % 31 = 0,
                                    'ts', timestamptz '2026-01-01' + i * interval '37 seconds')
                 ORDER BY i) AS events
  FROM generate_series(1, 2000) i GROUP BY 1;
CREATE FUNCTION feed(first int, last int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
    FOR r IN SELECT * FROM batches WHERE b BETWEEN first AND last ORDER BY b LOOP
        PERFORM sessionize.sessionize_batch('clicks', r.events, 'topic-' || r.b % 2, r.b,
                                            r.b % 2);
        PERFORM sessionize.sessionize_batch('counts', r.events, 'topic', r.b);
    END LOOP;
END
$$;
SELECT feed(1, 20);
});
is($old->safe_psql('postgres',
		q{SELECT extversion FROM pg_extension WHERE extname = 'sessionize'}),
	'0.3', 'the PostgreSQL 15 database runs sessionize 0.3');

# A plain dump, restored with psql.  The PostgreSQL 15 of Debian 12 here
# (15.18-0+deb12u1) gives every column an attribute option pg_attver,
# which pg_dump dumps and no other version knows ("unrecognized parameter
# "pg_attver""): those lines are left out of the restore.
my $dump = "$PostgreSQL::Test::Utils::tmp_check/pg15.sql";
$new->command_ok([ 'pg_dump', '-Fp', '-d', $old->connstr('postgres'), '-f', $dump ],
	"pg_dump of $new_major dumps the PostgreSQL 15 database mid-stream");
my $sql = PostgreSQL::Test::Utils::slurp_file($dump);
my $attver = () = $sql =~ /^ALTER TABLE ONLY .* SET \(pg_attver=\d+\);\n/mg;
$sql =~ s/^ALTER TABLE ONLY .* SET \(pg_attver=\d+\);\n//mg;
note("left out $attver ALTER TABLE ... SET (pg_attver=...)");
$new->safe_psql('postgres', $sql, on_error_stop => 1);
pass("the dump restored into PostgreSQL $new_major");

my $state = q{
SELECT (SELECT json_agg(s ORDER BY s.stream, s."partition")::text FROM (
            SELECT stream, "partition", events_in, late_events, batches, sessions_open,
                   sessions_closed, watermark, offsets FROM sessionize.partition_stats) s),
       (SELECT json_agg(o ORDER BY o.key)::text FROM sessionize.open_sessions('clicks') o),
       (SELECT json_agg(o ORDER BY o.key)::text FROM sessionize.open_sessions('counts') o),
       sessionize.committed_offset('counts', 'topic')
};
my $old_state = $old->safe_psql('postgres', $state);
like($old_state, qr/"sessions_open":[1-9]/, '(sessions are open mid-stream)');
is($new->safe_psql('postgres', $state), $old_state,
	"on PostgreSQL $new_major the streams have the same open sessions, clocks, counters and offsets");

# The restored database is at the version the new server installs; both
# are brought to it, then go on alike: the second half (with a replay of
# batches 15 to 20, skipped) and a flush.
$_->safe_psql('postgres', 'ALTER EXTENSION sessionize UPDATE') for ($old, $new);
is($new->safe_psql('postgres',
		q{SELECT extversion FROM pg_extension WHERE extname = 'sessionize'}),
	$old->safe_psql('postgres',
		q{SELECT extversion FROM pg_extension WHERE extname = 'sessionize'}),
	'both at the same version of sessionize');
my $finish = q{
SELECT feed(15, 40);
SELECT count(*) FROM sessionize.flush('clicks');
SELECT count(*) FROM sessionize.flush('counts');
};
$_->safe_psql('postgres', $finish) for ($old, $new);
my $sink = q{
SELECT count(*), md5(string_agg(concat_ws('|', key, session_start, session_end, event_count,
                                          end_reason, events), ',' ORDER BY id))
  FROM sink
};
my $old_sink = $old->safe_psql('postgres', $sink);
like($old_sink, qr/^[1-9][0-9]+\|/, '(the sink holds sessions)');
is($new->safe_psql('postgres', $sink), $old_sink,
	"on PostgreSQL $new_major the streams finish the same sessions, in the same order");
is($new->safe_psql('postgres', $state), $old->safe_psql('postgres', $state),
	'with the same counters and offsets at the end');

$old->stop;
$new->stop;
done_testing();
