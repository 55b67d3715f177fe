# The clock without feeders: pg_cron runs sessionize.expire_all() every
# minute (the README's recipe), and a quiet stream's session reaches its
# sink with no call from the test.  pg_cron 1.4 schedules by the minute,
# so this waits up to two and a half minutes (about one).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

# pg_cron is a package of its own for each PostgreSQL major (Debian's
# postgresql-15-cron); where the server under test has none, say so.
my $pkglibdir = `pg_config --pkglibdir`;
chomp $pkglibdir;
plan skip_all => "pg_cron is not installed for this PostgreSQL ($pkglibdir/pg_cron.so)"
  unless -e "$pkglibdir/pg_cron.so";

my $node = PostgreSQL::Test::Cluster->new('cron');
$node->init;
$node->append_conf('postgresql.conf',
	"shared_preload_libraries = 'pg_cron'\ncron.database_name = 'postgres'\n"
	  . "cron.use_background_workers = on\nmax_worker_processes = 16\n");
$node->start;

# A role that owns the stream schedules the job, as the README says.
$node->safe_psql('postgres', q{
CREATE EXTENSION pg_cron;
CREATE EXTENSION sessionize;
CREATE ROLE clicks_owner LOGIN;
GRANT USAGE ON SCHEMA cron TO clicks_owner;
GRANT CREATE ON SCHEMA public TO clicks_owner;
SET ROLE clicks_owner;
CREATE TABLE user_sessions (key text, session_start timestamptz, session_end timestamptz,
                            event_count int, end_reason text);
SELECT sessionize.create_stream('clicks', gap => '1 minute', sink => 'user_sessions');
SELECT sessionize.create_stream('no_sink', gap => '1 minute');
});

# Two users' last clicks, five minutes ago: the stream's clock is there, and
# each session waits for a clock that moves on.
my $batch = q{jsonb_build_array(
    jsonb_build_object('id', 'alice', 'ts', now() - interval '5 minutes'),
    jsonb_build_object('id', 'bob', 'ts', now() - interval '5 minutes'))};
$node->safe_psql('postgres', qq{
SET ROLE clicks_owner;
SELECT count(*) FROM sessionize.sessionize_batch('clicks', $batch);
SELECT count(*) FROM sessionize.sessionize_batch('no_sink', $batch);
});
is($node->safe_psql('postgres', 'SELECT count(*) FROM user_sessions'), '0',
	'the sessions are open after the batch');

$node->safe_psql('postgres', q{
SET ROLE clicks_owner;
SELECT cron.schedule('sessionize-clock', '* * * * *', $$SELECT sessionize.expire_all()$$);
});

# No call from here on: wait for the job.
my $sunk = 0;
for (my $waited = 0; $waited < 150; $waited++)
{
	$sunk = $node->safe_psql('postgres', 'SELECT count(*) FROM user_sessions');
	last if $sunk eq '2';
	sleep 1;
}
is($sunk, '2', 'pg_cron closed both quiet sessions into the sink');
is( $node->safe_psql(
		'postgres',
		q{SELECT string_agg(key || ':' || end_reason || ':' || event_count, ',' ORDER BY key)
		    FROM user_sessions}),
	'alice:gap:1,bob:gap:1',
	'by the gap, one event each');
is( $node->safe_psql(
		'postgres',
		q{SELECT count(*) > 0 AND bool_and(status = 'succeeded' AND username = 'clicks_owner')
		    FROM cron.job_run_details}),
	't',
	'the job ran as the owner and succeeded');
is($node->safe_psql('postgres', q{SELECT count(*) FROM sessionize.open_sessions('no_sink')}),
	'2', 'a stream without a sink is left alone');

$node->stop;
done_testing();
