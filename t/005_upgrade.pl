# ALTER EXTENSION sessionize UPDATE from 0.1, 0.2, 0.3 and 0.4 keeps
# every stream's settings, open sessions, watermark, counters and offsets,
# and the streams go on with the same results as on a fresh install of the
# new version (with chunks for long sessions, which 0.1 had not; the
# streams there were keep their state tables, while a fresh install's
# arrival-order streams have packed ones, so the two layouts are compared
# on the same stream).  The
# upgraded extension has the same objects as a fresh one, and the streams'
# tables belong to the role that owns each stream (since 0.3), here a role
# that is no superuser and feeds the streams.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('upgrade');
$node->init;
$node->start;

my $default_version = $node->safe_psql('postgres',
	q{SELECT default_version FROM pg_available_extensions WHERE name = 'sessionize'});
isnt($default_version, '0.1', "the version under test ($default_version) is not 0.1");

$node->safe_psql('postgres', 'CREATE ROLE feeder;');
my $as_feeder = 'GRANT CREATE ON SCHEMA public TO feeder; SET ROLE feeder;';

# The same streams in both databases: built-in rules with a sink, and
# custom state; the first 20 of 40 batches fed.  "upgraded" starts at 0.1.
my $setup = q{
CREATE TABLE sink (key text, session_start timestamptz, session_end timestamptz,
                   event_count integer, end_reason text, events jsonb,
                   id bigserial);
CREATE FUNCTION count_events(key text, events jsonb, state jsonb, timed_out boolean)
RETURNS sessionize.state_update LANGUAGE sql AS $$
    SELECT ROW(CASE WHEN timed_out THEN NULL
                    ELSE jsonb_build_object('n', coalesce((state->>'n')::int, 0)
                                                 + jsonb_array_length(events)) END,
               CASE WHEN timed_out THEN state END)::sessionize.state_update
$$;
SELECT sessionize.create_stream('clicks', 'bigint', gap => '20 minutes', max_events => 7,
                                lateness => '1 minute', sink => 'sink');
SELECT sessionize.create_stream('counts', gap => '20 minutes',
                                update_function => 'count_events(text, jsonb, jsonb, boolean)');
SELECT sessionize.create_stream('long', gap => '1 day', sink => 'sink');
CREATE TABLE batches AS
SELECT (i - 1) / 50 + 1 AS b,
       jsonb_agg(jsonb_build_object('id', 1 + (i * 7) % 40, 'n', i, 'isLast', i % 31 = 0,
                                    'ts', timestamptz '2026-01-01' + i * interval '37 seconds')
                 ORDER BY i) AS events,
       -- four keys, 500 events each; every 300th event (all of key 100) is last
       jsonb_agg(jsonb_build_object('id', 100 + i % 4, 'n', i, 'isLast', i % 300 = 0,
                                    'ts', timestamptz '2026-01-01' + i * interval '37 seconds')
                 ORDER BY i) AS long_events
  FROM generate_series(1, 2000) i GROUP BY 1;
CREATE FUNCTION feed(first int, last int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
    FOR r IN SELECT * FROM batches WHERE b BETWEEN first AND last ORDER BY b LOOP
        PERFORM sessionize.sessionize_batch('clicks', r.events, 'topic', r.b);
        PERFORM sessionize.sessionize_batch('counts', r.events, 'topic', r.b);
        PERFORM sessionize.sessionize_batch('long', r.long_events, 'topic', r.b);
    END LOOP;
END
$$;
SELECT feed(1, 20);
};
# upgrade_from(from): two new databases, one starting at version from, one
# at the version under test, fed alike; the first is updated mid-stream.
sub upgrade_from
{
	my ($from) = @_;
	my ($up, $fresh) = ("upgraded_$from", "fresh_$from");
	$up =~ s/\./_/g;
	$fresh =~ s/\./_/g;
	$node->safe_psql('postgres', "CREATE DATABASE $up; CREATE DATABASE $fresh;");

	$node->safe_psql($up, "CREATE EXTENSION sessionize VERSION '$from';" . $as_feeder . $setup);
	$node->safe_psql($fresh, 'CREATE EXTENSION sessionize;' . $as_feeder . $setup);

	is($node->safe_psql($up, q{SELECT extversion FROM pg_extension WHERE extname = 'sessionize'}),
		$from, "the first database runs $from");

	my $state = q{
	SELECT (SELECT json_agg(s ORDER BY s.stream)::text FROM (
	            SELECT stream, events_in, late_events, batches, sessions_open, sessions_closed,
	                   watermark, offsets FROM sessionize.stats) s),
	       (SELECT json_agg(s ORDER BY s.name)::text FROM (
	            SELECT name, key_type, gap, max_duration, max_events, lateness, key_field,
	                   ts_field, last_field, sink, update_function FROM sessionize.streams) s),
	       (SELECT json_agg(o ORDER BY o.key)::text FROM (SELECT key, session_start, session_end,
	                     event_count, events FROM sessionize.open_sessions('clicks')) o),
	       (SELECT json_agg(o ORDER BY o.key)::text FROM (SELECT key, session_start, session_end,
	                     event_count, events FROM sessionize.open_sessions('counts')) o),
	       (SELECT json_agg(o ORDER BY o.key)::text FROM (SELECT key, session_start, session_end,
	                     event_count, events FROM sessionize.open_sessions('long')) o)
	};
	# The new library feeds the streams of a database still at 0.1 as 0.1
	# did (no chunks, one partition), so streams go on between installing it
	# and the update.  (open_sessions gains a column "partition" with 0.3:
	# the state compared is that of both.)
	my $before = $node->safe_psql($up, $state);
	like($before, qr/"sessions_open":[1-9]/, '(sessions are open mid-stream)');
	is($before, $node->safe_psql($fresh, $state),
		"$from and the new version reach the same state mid-stream");
	my $chunks = q{
	SELECT count(*) FROM pg_class
	 WHERE relnamespace = 'sessionize'::regnamespace AND relname LIKE 'state\_%\_chunks'
	};
	is($node->safe_psql($up, $chunks), $from eq '0.1' ? '0' : '3',
		"($from has " . ($from eq '0.1' ? 'no chunk tables' : 'a chunk table per stream') . ')');
	if ($from ne '0.1')
	{
		is( $node->safe_psql(
				$up, q{
SELECT (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM sessionize.%I',
                                                   state_table || '_chunks'), false, true, '')))[1]::text
  FROM sessionize.streams WHERE name = 'long'}) > 0,
			1, "($from wrote the older events of the long sessions to chunks before the update)");
	}
	my $owners = q{
	SELECT string_agg(DISTINCT pg_get_userbyid(c.relowner), ',')
	  FROM sessionize.streams s
	  JOIN pg_class c ON c.relnamespace = 'sessionize'::regnamespace
	                 AND c.relname IN (s.state_table, s.state_table || '_chunks')
	};
	if ($from lt '0.3')
	{
		isnt($node->safe_psql($up, $owners), 'feeder',
			"(under $from the state tables belong to the extension owner)");
	}

	# An attached table (since 0.3), in both: its replica trigger was a
	# deferred constraint trigger until 0.4.
	my $attach = q{
	CREATE TABLE att_src (id bigint, ts timestamptz, "isLast" boolean);
	SELECT sessionize.attach('clicks', 'att_src');
	};
	my $att_triggers = q{
	SELECT string_agg(pg_get_triggerdef(oid) || ' ' || tgenabled::text, E'\n' ORDER BY tgname)
	  FROM pg_trigger WHERE tgrelid = 'att_src'::regclass
	};
	if ($from ge '0.3')
	{
		$node->safe_psql($_, $attach) for ($up, $fresh);
		if ($from eq '0.3')
		{
			# as 0.3's attach made it (this library makes the trigger of 0.4)
			$node->safe_psql($up, q{
			DROP TRIGGER sessionize_feed_1_replica ON att_src;
			CREATE CONSTRAINT TRIGGER sessionize_feed_1_replica AFTER INSERT ON att_src
			    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (sessionize._replica_row())
			    EXECUTE FUNCTION sessionize._feed_replica('clicks', '0');
			ALTER TABLE att_src ENABLE ALWAYS TRIGGER sessionize_feed_1_replica;
			});
		}
	}

	$node->safe_psql($up, 'ALTER EXTENSION sessionize UPDATE');
	is($node->safe_psql($up, q{SELECT extversion FROM pg_extension WHERE extname = 'sessionize'}),
		$default_version, "ALTER EXTENSION sessionize UPDATE reaches $default_version");
	is($node->safe_psql($up, $state), $before,
		"from $from, the update keeps settings, open sessions, watermark, counters and offsets");
	is($node->safe_psql($up, $chunks), '3', 'the update gives each stream a chunk table');
	my $layouts = q{
	SELECT string_agg(s.name || ':' || format_type(a.atttypid, NULL), ',' ORDER BY s.name)
	  FROM sessionize.streams s
	  JOIN pg_attribute a ON a.attrelid = format('sessionize.%I', s.state_table)::regclass
	                     AND a.attname = 'events'
	};
	is($node->safe_psql($fresh, $layouts), 'clicks:bytea,counts:jsonb,long:bytea',
		'(a fresh install packs the state of arrival-order streams with the built-in rules)');
	is($node->safe_psql($up, $layouts), 'clicks:jsonb,counts:jsonb,long:jsonb',
		"the update keeps the state tables of the streams there were, as $from made them");
	my $sources = q{
	SELECT count(*) || ' ' || bool_and(o.newest_ts = p.watermark)
	  FROM sessionize.sources o
	  JOIN sessionize.partition_stats p ON p.stream = o.stream AND p."partition" = o."partition"};
	if ($from lt '0.4')
	{
		is($node->safe_psql($up, $sources), '3 true',
			"the update starts each source's clock at its partition's clock");
	}
	else
	{
		my $same_sources = q{
		SELECT stream, source, "partition", committed_offset, newest_ts, idle
		  FROM sessionize.sources ORDER BY 1, 2, 3};
		is($node->safe_psql($up, $same_sources),
			$node->safe_psql($fresh, $same_sources),
			"the update keeps each source's clock");
	}
	is($node->safe_psql($up, $owners), 'feeder',
		"the update gives each stream's tables to the stream's owner");
	is($node->safe_psql($fresh, $owners), 'feeder',
		"(as a fresh install gives them)");

	# The state tables find their rows as a fresh install's do: their text
	# keys by a hash index.  (Their timers differ: a packed table's are in
	# its timer table, the others' in an index on the table.)
	my $indexes = q{
	SELECT string_agg(s.name || ': ' || def, E'\n' ORDER BY s.name, def)
	  FROM sessionize.streams s
	  JOIN pg_index i ON i.indrelid = format('sessionize.%I', s.state_table)::regclass,
	       LATERAL regexp_replace(pg_get_indexdef(i.indexrelid), 'state_[0-9]+', 'STATE', 'g') def
	 WHERE def !~ '_deadline'
	};
	my $fresh_indexes = $node->safe_psql($fresh, $indexes);
	like($fresh_indexes, qr/clicks: CREATE INDEX STATE_key ON sessionize\.STATE USING hash \(key\)/,
		'(a fresh install finds the rows of a text key by a hash index)');
	is($node->safe_psql($up, $indexes), $fresh_indexes,
		"the update indexes each stream's state table as a fresh install does");

	# The upgraded extension has exactly the objects of a fresh install, with
	# the same definitions.
	my $objects = q{
	SELECT string_agg(object, E'\n' ORDER BY object) FROM (
	    SELECT pg_describe_object(d.classid, d.objid, 0)
	           || coalesce(' = ' || md5(pg_get_functiondef(p.oid)), '')
	           || coalesce(' = ' || md5(CASE c.relkind WHEN 'v' THEN pg_get_viewdef(c.oid) END), '')
	           || coalesce(' (' || (SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod),
	                                                  ', ' ORDER BY attnum)
	                                  FROM pg_attribute
	                                 WHERE attrelid = c.oid AND attnum > 0 AND NOT attisdropped)
	                       || ')', '') AS object
	      FROM pg_depend d
	      LEFT JOIN pg_proc p ON d.classid = 'pg_proc'::regclass AND p.oid = d.objid
	                          AND p.prokind <> 'a'
	      LEFT JOIN pg_class c ON d.classid = 'pg_class'::regclass AND c.oid = d.objid
	     WHERE d.refclassid = 'pg_extension'::regclass
	       AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'sessionize')
	       AND d.deptype = 'e') o
	};
	my $fresh_objects = $node->safe_psql($fresh, $objects);
	like($fresh_objects, qr/function sessionize\.alter_stream/, '(a fresh install has alter_stream)');
	is($node->safe_psql($up, $objects), $fresh_objects,
		'the upgraded extension has the objects of a fresh install');

	if ($from ge '0.3')
	{
		is($node->safe_psql($up, $att_triggers), $node->safe_psql($fresh, $att_triggers),
			"the update makes an attached table's triggers as a fresh attach makes them");
		my $replicated = q{
		BEGIN;
		SET LOCAL session_replication_role = replica;
		INSERT INTO att_src VALUES (4242, '2026-01-01 09:00Z', false), (4242, '2026-01-01 09:01Z', true);
		COMMIT;
		SELECT count(*) || ' ' || sum(event_count) FROM sink WHERE key = '4242';
		};
		is($node->safe_psql($_, $replicated), '1 2',
			"after the update from $from, rows applied as replica feed the stream ($_)")
		  for ($up, $fresh);
	}

	# Both go on: a setting changed with the new alter_stream, the second
	# half (with a replay of batches 15 to 20, skipped), and a flush.  The
	# upgraded long stream now chunks its long sessions.
	my $more = q{
	SET ROLE feeder;
	SELECT sessionize.alter_stream('clicks', 'gap', '15 minutes');
	SELECT feed(15, 30);
	};
	$node->safe_psql($up, $more);
	$node->safe_psql($fresh, $more);

	# The settings of 0.3 on the upgraded stream: a dead_letter table gets
	# a batch's bad elements, max_future, ts_unit and time_zone are taken;
	# the upgraded stream reads times without an offset as before, in the
	# connection's TimeZone (time_zone NULL).
	my $dead = q{
	CREATE TABLE dead (element_index int, element jsonb, sqlstate text);
	GRANT INSERT ON dead TO feeder;
	SET ROLE feeder;
	SELECT sessionize.alter_stream('clicks', 'dead_letter', 'dead');
	SELECT sessionize.alter_stream('clicks', 'max_future', NULL);
	SELECT sessionize.alter_stream('clicks', 'ts_unit', 'ms');
	SELECT sessionize.alter_stream('clicks', 'time_zone', 'Europe/Berlin');
	SELECT count(*) FROM sessionize.sessionize_batch('clicks', '[42, {"ts": 1}]');
	SELECT sessionize.alter_stream('clicks', 'ts_unit', 's');
	SELECT sessionize.alter_stream('clicks', 'time_zone', NULL);
	SELECT sessionize.alter_stream('clicks', 'dead_letter', NULL);
	};
	$node->safe_psql($up, $dead);
	$node->safe_psql($fresh, $dead);
	is( $node->safe_psql(
			$up, q{
	SELECT string_agg(format('%s:%s', element_index, sqlstate), ',' ORDER BY element_index)
	       || '|' || (SELECT dead_letters FROM sessionize.stats WHERE stream = 'clicks')
	  FROM dead}),
		'0:2203C,1:2203A|2',
		"after the update from $from, a dead_letter table gets a batch's bad elements");
	is( $node->safe_psql(
			$up, q{SELECT string_agg(name || '=' || coalesce(time_zone, 'NULL'), ',' ORDER BY name)
	                 FROM sessionize.streams}),
		$from lt '0.3' ? 'clicks=NULL,counts=NULL,long=NULL' : 'clicks=NULL,counts=UTC,long=UTC',
		"after the update from $from, the streams there were keep their time zone");
	my $chunk_rows = q{
	SELECT count(*) > 0 FROM sessionize.streams s,
	       LATERAL (SELECT * FROM ROWS FROM (pg_catalog.pg_relation_size(
	                    format('sessionize.%I', s.state_table || '_chunks')::regclass))) r(size)
	 WHERE s.name = 'long' AND r.size > 0
	};
	is($node->safe_psql($up, $chunk_rows), 't',
		"after the update from $from, the long sessions of the upgraded stream use chunks");

	my $finish = q{
	SET ROLE feeder;
	SELECT feed(31, 40);
	SELECT count(*) FROM sessionize.flush('clicks');
	SELECT count(*) FROM sessionize.flush('counts');
	SELECT count(*) FROM sessionize.flush('long');
	};
	$node->safe_psql($up, $finish);
	$node->safe_psql($fresh, $finish);

	my $sink = q{
	SELECT count(*), md5(string_agg(concat_ws('|', key, session_start, session_end, event_count,
	                                          end_reason, events), ',' ORDER BY id))
	  FROM sink
	};
	my $fresh_sink = $node->safe_psql($fresh, $sink);
	like($fresh_sink, qr/^[1-9][0-9]+\|/, '(the sink holds sessions)');
	is($node->safe_psql($up, $sink), $fresh_sink,
		"the stream upgraded from $from finishes the same sessions, in the same order");
	is($node->safe_psql($up, $state), $node->safe_psql($fresh, $state),
		'with the same counters and offsets at the end');
	is($node->safe_psql($up, q{SELECT max(event_count) FROM sink WHERE key::int >= 100}),
		'500', '(the long stream had sessions of up to 500 events, in several chunks)');
}

# From 0.1 (no chunks then), from 0.2, whose chunk tables already hold
# the older events of the long sessions when 0.3 re-keys them, and from 0.3
# (one clock per partition; a clock per source from 0.4 on), and from 0.4,
# whose state tables are not packed.
upgrade_from('0.1');
upgrade_from('0.2');
upgrade_from('0.3');
upgrade_from('0.4');

$node->stop;
done_testing();
