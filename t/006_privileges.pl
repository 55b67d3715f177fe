# No code of a caller runs with the extension owner's privileges, on a
# server as it runs in production: sessionize installed by a database owner
# who is no superuser (the extension is trusted), an attacker who logs in
# with a role that has only a schema of its own, every call in a new
# backend (no plan or cache left by an earlier caller), and again after a
# crash and restart.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('privileges');
$node->init;
$node->start;

$node->safe_psql('postgres', q{
CREATE ROLE app_owner LOGIN;
CREATE ROLE mallory LOGIN;
CREATE DATABASE app OWNER app_owner;
});

# as(role, sql): run sql in database app as a role that logs in, in a new
# backend; returns (exit code, stdout, stderr).
sub as
{
	my ($role, $sql) = @_;
	my ($stdout, $stderr);
	my $rc = $node->psql('app', $sql, stdout => \$stdout, stderr => \$stderr,
		extra_params => [ '-U', $role ]);
	return ($rc, $stdout, $stderr);
}

# The database owner installs sessionize without a superuser.
my ($rc, $out, $err) = as('app_owner', 'CREATE EXTENSION sessionize;');
is($rc, 0, 'a database owner who is no superuser installs sessionize') or diag($err);
is($node->safe_psql('app', q{
SELECT e.extowner::regrole::text || ',' || r.rolsuper
  FROM pg_extension e, pg_class c JOIN pg_roles r ON r.oid = c.relowner
 WHERE e.extname = 'sessionize' AND c.oid = 'sessionize.streams'::regclass}),
	'app_owner,true', '(the extension is the database owner\'s, its catalog a superuser\'s)');

$node->safe_psql('app', 'CREATE SCHEMA mal AUTHORIZATION mallory;');

# The attack of the issue, literally: a domain key type whose CHECK makes
# its owner superuser.  It now runs as mallory, who may not: the batch fails.
($rc, $out, $err) = as('mallory', q{
CREATE FUNCTION mal.chk(text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN EXECUTE 'ALTER ROLE mallory SUPERUSER'; RETURN true; END $$;
CREATE DOMAIN mal.dkey AS text CHECK (mal.chk(VALUE));
SELECT sessionize.create_stream('d', key_type => 'mal.dkey');
});
is($rc, 0, 'mallory creates a stream with a domain key type') or diag($err);
($rc, $out, $err) = as('mallory',
	q{SELECT * FROM sessionize.sessionize_batch('d', '[{"id":"a","ts":"2026-01-01T00:00:00Z"}]');});
isnt($rc, 0, 'the batch fails ...');
# (PostgreSQL 16 words the refusal "permission denied to alter role")
like($err,
	qr/event 0 of the batch: "id" is invalid: (must be superuser to alter superuser roles|permission denied to alter role)/,
	'... because the CHECK runs as mallory');

# probes: every piece of mallory's code records who ran it, and tries
# to make mallory superuser (which only succeeds as a superuser).
($rc, $out, $err) = as('mallory', q{
CREATE TABLE mal.log (what text, who name);
CREATE FUNCTION mal.probe(what text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        EXECUTE 'ALTER ROLE mallory SUPERUSER';
    EXCEPTION WHEN insufficient_privilege THEN
        NULL;
    END;
    INSERT INTO mal.log VALUES (what, current_user);
    RETURN true;
END $$;
CREATE DOMAIN mal.pkey AS text CHECK (mal.probe('domain check'));
CREATE TYPE mal.ckey AS (tenant mal.pkey, id integer);
CREATE TABLE mal.sink (key text, session_start timestamptz, session_end timestamptz,
                       event_count integer, end_reason text, events jsonb,
                       probed boolean DEFAULT mal.probe('sink default'));
CREATE FUNCTION mal.sink_probe() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM mal.probe('sink trigger'); RETURN NEW; END $$;
CREATE TRIGGER probe BEFORE INSERT ON mal.sink FOR EACH ROW EXECUTE FUNCTION mal.sink_probe();
CREATE FUNCTION mal.upd(key text, events jsonb, state jsonb, timed_out boolean)
RETURNS sessionize.state_update LANGUAGE plpgsql AS $$
BEGIN
    PERFORM mal.probe('update function');
    RETURN ROW(CASE WHEN NOT timed_out THEN '{}'::jsonb END, '{}'::jsonb)::sessionize.state_update;
END $$;
SELECT sessionize.create_stream('p', key_type => 'mal.pkey', gap => '1 hour', sink => 'mal.sink');
SELECT sessionize.create_stream('c', key_type => 'mal.ckey', gap => '1 hour', sink => 'mal.sink');
SELECT sessionize.create_stream('u', key_type => 'mal.pkey', gap => '1 hour', sink => 'mal.sink',
                                update_function => 'mal.upd(text, jsonb, jsonb, boolean)');
});
is($rc, 0, 'mallory sets up her probes and streams') or diag($err);

# Each entry point, each in a new backend.
my @calls = (
	q{SELECT * FROM sessionize.sessionize_batch('p', '[{"id":"a","ts":"2026-01-01T10:00:00Z"},
	  {"id":"b","ts":"2026-01-01T10:00:00Z","isLast":true}]', 'src', 1)},
	q{SELECT * FROM sessionize.sessionize_batch('c', '[{"id":"(t,1)","ts":"2026-01-01T10:00:00Z"}]')},
	q{SELECT * FROM sessionize.sessionize_batch('u', '[{"id":"a","ts":"2026-01-01T10:00:00Z"}]')},
	q{SELECT * FROM sessionize.sessionize_batch('p', ARRAY['c']::mal.pkey[],
	  ARRAY['2026-01-01T10:01:00Z']::timestamptz[], ARRAY[true], ARRAY['{}']::jsonb[])},
	q{SELECT * FROM sessionize.sessionize_query('p',
	  'SELECT ''d'' AS id, timestamptz ''2026-01-01T10:02:00Z'' AS ts, true AS "isLast"')},
	q{SELECT * FROM sessionize.open_sessions('p')},
	q{SELECT sessionize.committed_offset('p', 'src')},
	q{SELECT sessionize.alter_stream('p', 'gap', '2 hours')},
	q{SELECT * FROM sessionize.expire('p', '2026-01-01T13:00:00Z')},
	q{SELECT * FROM sessionize.expire('u', '2026-01-01T13:00:00Z')},
	q{SELECT * FROM sessionize.flush('c')},
	q{SELECT k, sessionize.sessions(ts, false, '{}', '1 hour')
	    FROM (VALUES ('a'::mal.pkey, now())) e(k, ts) GROUP BY k},
);
sub run_calls
{
	my ($when) = @_;
	foreach my $call (@calls)
	{
		my ($rc, $out, $err) = as('mallory', $call);
		is($rc, 0, "$when: mallory's call succeeds: " . (split /\n/, $call)[0])
		  or diag($err);
	}
}

my $log = q{SELECT string_agg(DISTINCT what || ' as ' || who, ', ') FROM mal.log};
my $all_probes = 'domain check as mallory, sink default as mallory, '
  . 'sink trigger as mallory, update function as mallory';
my $superuser = q{SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'};

run_calls('first run');
is($node->safe_psql('app', $log), $all_probes,
	'every probe ran, each as mallory');
is($node->safe_psql('app', $superuser), 'f', 'mallory is no superuser');

# A crash and restart: every backend starts anew, nothing cached.
$node->stop('immediate');
$node->start;
$node->safe_psql('app', 'TRUNCATE mal.log');
run_calls('after a restart');
is($node->safe_psql('app', $log), $all_probes,
	'after a restart, every probe ran, each as mallory');
is($node->safe_psql('app', $superuser), 'f', 'mallory is still no superuser');

# What PostgreSQL runs as a table's owner runs as the stream's owner: her
# state tables are hers.
is($node->safe_psql('app', q{
SELECT string_agg(DISTINCT pg_get_userbyid(c.relowner), ',')
  FROM sessionize.streams s JOIN pg_class c
    ON c.relname IN (s.state_table, s.state_table || '_chunks')}),
	'mallory', "the streams' tables belong to mallory");

# The database owner (who installed sessionize) gets no way into mallory's
# streams either.
($rc, $out, $err) = as('app_owner', q{SELECT * FROM sessionize.flush('p')});
like($err, qr/permission denied for stream "p"/, 'the database owner cannot use mallory\'s stream');

# Mallory drops her streams; the database owner drops the extension.
($rc, $out, $err) = as('mallory', q{
SELECT sessionize.drop_stream('p'); SELECT sessionize.drop_stream('c');
SELECT sessionize.drop_stream('u'); SELECT sessionize.drop_stream('d');
DROP FUNCTION mal.upd(text, jsonb, jsonb, boolean);});
is($rc, 0, 'mallory drops her streams and her update function') or diag($err);
($rc, $out, $err) = as('app_owner', 'DROP EXTENSION sessionize;');
is($rc, 0, 'the database owner drops the extension') or diag($err);

$node->stop;
done_testing();
