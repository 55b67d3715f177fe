# pg_dump mid-stream and restore into a new database: the restored stream
# (its settings, open sessions, watermark, counters and offsets) goes on
# with the same results as the original, for the built-in rules and for
# custom state.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('dump');
$node->init;
$node->start;

$node->safe_psql('postgres', q{
CREATE DATABASE source;
CREATE DATABASE target;
});

# A stream with a sink, custom key type and custom state, fed half its
# batches.
$node->safe_psql('source', q{
CREATE EXTENSION sessionize;
CREATE DOMAIN user_id AS bigint CHECK (VALUE > 0);
CREATE TABLE sink (key text, session_start timestamptz, session_end timestamptz,
                   event_count integer, end_reason text, events jsonb,
                   id bigserial, stored_at timestamptz DEFAULT now());
CREATE FUNCTION count_events(key text, events jsonb, state jsonb, timed_out boolean)
RETURNS sessionize.state_update LANGUAGE sql AS $$
    SELECT ROW(CASE WHEN timed_out THEN NULL
                    ELSE jsonb_build_object('n', coalesce((state->>'n')::int, 0)
                                                 + jsonb_array_length(events)) END,
               CASE WHEN timed_out THEN state END)::sessionize.state_update
$$;
SELECT sessionize.create_stream('we''ird "stream"', 'user_id', gap => '20 minutes',
                                max_events => 7, lateness => '1 minute', sink => 'sink');
SELECT sessionize.create_stream('counts', gap => '20 minutes',
                                update_function => 'count_events(text, jsonb, jsonb, boolean)');
SELECT sessionize.create_stream('long', gap => '1 day', sink => 'sink');
SELECT setseed(0.5);
CREATE TABLE batches AS
SELECT (i - 1) / 50 + 1 AS b,
       jsonb_agg(jsonb_build_object('id', 1 + (i * 7) % 40, 'n', i, 'isLast', i % 31 = 0,
                                    'ts', timestamptz '2026-01-01' + i * interval '37 seconds')
                 ORDER BY i) AS events,
       -- four keys with long sessions, kept partly in chunks
       jsonb_agg(jsonb_build_object('id', 100 + i % 4, 'n', i, 'isLast', i % 300 = 0,
                                    'ts', timestamptz '2026-01-01' + i * interval '37 seconds')
                 ORDER BY i) AS long_events
  FROM generate_series(1, 2000) i GROUP BY 1;
CREATE FUNCTION feed(first int, last int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
    FOR r IN SELECT * FROM batches WHERE b BETWEEN first AND last ORDER BY b LOOP
        PERFORM sessionize.sessionize_batch('we''ird "stream"', r.events, 'topic', r.b);
        PERFORM sessionize.sessionize_batch('counts', r.events, 'topic', r.b);
        PERFORM sessionize.sessionize_batch('long', r.long_events, 'topic', r.b);
    END LOOP;
END
$$;
SELECT feed(1, 20);
-- an attached table, fed by three INSERTs
CREATE TABLE att_sink (key text, event_count integer, end_reason text);
SELECT sessionize.create_stream('attached', gap => '20 minutes', sink => 'att_sink');
CREATE TABLE att_src (id text, ts timestamptz, "isLast" boolean);
SELECT sessionize.attach('attached', 'att_src');
INSERT INTO att_src SELECT 'a' || i % 3, timestamptz '2026-01-01' + i * interval '1 minute', i % 5 = 0
  FROM generate_series(1, 10) i;
INSERT INTO att_src SELECT 'a' || i % 3, timestamptz '2026-01-01' + i * interval '1 minute', i % 5 = 0
  FROM generate_series(11, 20) i;
INSERT INTO att_src SELECT 'a' || i % 3, timestamptz '2026-01-01' + i * interval '1 minute', i % 5 = 0
  FROM generate_series(21, 30) i;
-- event-time streams: one with several open sessions per key (a day of
-- lateness, so none is final), one with a long session partly in chunks
CREATE TABLE et_sink (key text, session_start timestamptz, session_end timestamptz,
                      event_count integer, end_reason text, events jsonb);
SELECT sessionize.create_stream('et', gap => '10 minutes', lateness => '1 day',
                                mode => 'event_time', sink => 'et_sink');
SELECT sessionize.create_stream('etl', gap => '10 minutes', lateness => '5 minutes',
                                mode => 'event_time', sink => 'et_sink');
SELECT count(*) FROM sessionize.sessionize_batch('et',
    (SELECT jsonb_agg(jsonb_build_object('id', 'e' || i % 4, 'n', i,
                                         'ts', timestamptz '2026-01-01' + i * interval '3 minutes')
                      ORDER BY i DESC)
       FROM generate_series(1, 300) i));
SELECT count(*) FROM sessionize.sessionize_batch('etl',
    (SELECT jsonb_agg(jsonb_build_object('id', 'long', 'n', i,
                                         'ts', timestamptz '2026-01-01' + i * interval '10 seconds')
                      ORDER BY i)
       FROM generate_series(1, 1200) i));
});

my $dump = "$PostgreSQL::Test::Utils::tmp_check/source.dump";
$node->command_ok([ 'pg_dump', '-Fc', '-d', $node->connstr('source'), '-f', $dump ],
	'pg_dump of the database mid-stream');
$node->command_ok([ 'pg_restore', '-d', $node->connstr('target'), $dump ],
	'pg_restore into a new database');

my $state = q{
SELECT (SELECT json_agg(s ORDER BY s.stream)::text FROM (
            SELECT stream, events_in, late_events, batches, sessions_open, sessions_closed,
                   watermark, offsets FROM sessionize.stats) s),
       (SELECT json_agg(o ORDER BY o.key)::text FROM sessionize.open_sessions('we''ird "stream"') o),
       (SELECT json_agg(o ORDER BY o.key)::text FROM sessionize.open_sessions('counts') o),
       (SELECT json_agg(o ORDER BY o.key)::text FROM sessionize.open_sessions('long') o),
       sessionize.committed_offset('counts', 'topic')
};
# The rows of the long stream's chunk table (a count by dynamic SQL).
my $chunks = q{
SELECT (xpath('/row/n/text()',
              query_to_xml(format('SELECT count(*) AS n FROM sessionize.%I',
                                  state_table || '_chunks'), false, true, '')))[1]::text
  FROM sessionize.streams WHERE name = 'long'
};
is($node->safe_psql('target', $state), $node->safe_psql('source', $state),
	'the restored streams have the same state, counters and offsets');
my $source_chunks = $node->safe_psql('source', $chunks);
cmp_ok($source_chunks, '>', 0, "(the long stream has $source_chunks chunks at the dump)");
is($node->safe_psql('target', $chunks), $source_chunks, 'the chunks are restored');
is( $node->safe_psql('target', q{
        SELECT string_agg(o.key || ':' || o.event_count, ',' ORDER BY o.key)
          FROM sessionize.open_sessions('long') o}),
	$node->safe_psql('source', q{
        SELECT string_agg(o.key || ':' || o.event_count, ',' ORDER BY o.key)
          FROM sessionize.open_sessions('long') o}),
	'the long sessions, kept partly in chunks, are restored whole');

# Both go on with the second half, a replay of an old batch, and a flush.
my $finish = q{
SELECT feed(15, 40);
SELECT count(*) FROM sessionize.flush('we''ird "stream"');
SELECT count(*) FROM sessionize.flush('counts');
SELECT count(*) FROM sessionize.flush('long');
};
$node->safe_psql('source', $finish);
$node->safe_psql('target', $finish);

my $sink = q{
SELECT count(*), md5(string_agg(concat_ws('|', key, session_start, session_end, event_count,
                                          end_reason, events), ',' ORDER BY id))
  FROM sink
};
is($node->safe_psql('target', $sink), $node->safe_psql('source', $sink),
	'and then finish the same sessions, in the same order');
like($node->safe_psql('target', 'SELECT count(*) FROM sink'), qr/^[1-9][0-9]+$/,
	'(there are sessions)');
is($node->safe_psql('target', $state), $node->safe_psql('source', $state),
	'with the same counters and offsets at the end');
is( $node->safe_psql(
		'target', q{SELECT string_agg(batches::text, ',' ORDER BY stream) FROM sessionize.stats}),
	'3,40,1,1,40,40',
	'the replayed batches 15 to 20 were skipped after the restore');

# The event-time stream: the same open sessions (several per key, one
# long one partly in chunks), and after the same next batch and a flush,
# the same sink.
my $et = q{
SELECT count(*) || ' ' || md5(string_agg(concat_ws('|', s, key, session_start, session_end,
                                                   event_count, events),
                                         ',' ORDER BY s, key, session_start))
  FROM unnest(ARRAY['et', 'etl']) s, sessionize.open_sessions(s)
};
is($node->safe_psql('target', $et), $node->safe_psql('source', $et),
	'the event-time streams have the same open sessions');
like($node->safe_psql('target', $et), qr/^301 /, '(300 of four keys, and a long one)');
my $etl_chunks = $node->safe_psql('target',
	q{SELECT format('sessionize.%I', state_table || '_chunks') FROM sessionize.streams WHERE name = 'etl'});
cmp_ok($node->safe_psql('target', "SELECT count(*) FROM $etl_chunks"), '>', 0,
	'(the long one partly in chunks)');
my $et_finish = q{
SELECT count(*) FROM sessionize.sessionize_batch('et', '[{"id": "e1", "ts": "2026-01-01T09:00:00Z"}]');
SELECT count(*) FROM sessionize.sessionize_batch('etl', '[{"id": "long", "ts": "2026-01-01T03:25:00Z"}]');
SELECT count(*) FROM sessionize.flush('et');
SELECT count(*) FROM sessionize.flush('etl');
};
$node->safe_psql('source', $et_finish);
$node->safe_psql('target', $et_finish);
my $et_sink = q{
SELECT count(*) || ' ' || md5(string_agg(concat_ws('|', key, session_start, session_end,
                                                   event_count, end_reason, events),
                                         ',' ORDER BY key, session_start, end_reason))
  FROM et_sink
};
is($node->safe_psql('target', $et_sink), $node->safe_psql('source', $et_sink),
	'and then the same sessions in its sink');

# The attached table: attached again after the restore, its restored rows
# not fed a second time, and a new INSERT fed.
my $attached = q{
SELECT (SELECT string_agg(stream || ' ' || source_table || ' ' || "partition", ',')
          FROM sessionize.attachments) || ' | '
    || (SELECT events_in || ' ' || batches FROM sessionize.stats WHERE stream = 'attached') || ' | '
    || (SELECT count(*) FROM att_sink)
};
is($node->safe_psql('target', $attached), 'attached att_src 0 | 30 3 | 6',
	'the attached table is restored attached, its rows fed once');
my $insert = q{INSERT INTO att_src VALUES ('a9', '2026-01-01 01:00Z', true)};
$node->safe_psql('source', $insert);
$node->safe_psql('target', $insert);
is($node->safe_psql('target', $attached), 'attached att_src 0 | 31 4 | 9',
	'and a new INSERT into it is fed (its clock closes two open sessions, and it is last)');
is($node->safe_psql('target', $attached), $node->safe_psql('source', $attached),
	'as in the database it came from');

$node->stop;
done_testing();
