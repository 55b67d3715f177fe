# sessionize-feed (SPEC 9), installed in PostgreSQL's bindir:
#  1. killed with SIGKILL at three random moments and run again on the same
#     file, every event is applied once: the sink holds exactly the
#     sessions of an uninterrupted run;
#  2. kcat lines of three Kafka partitions, with holes in the offsets, a
#     message delivered twice and an empty one, into a stream of two
#     partitions: each source commits its partition's last offset, Kafka
#     partition p feeds stream partition p mod 2, every event once;
#  3. the server restarted, then crashed, under a running feeder: it
#     connects again, resumes after the committed offset, exits 0, and
#     every event is applied once;
#  4. bad lines: without --bad-lines the feeder stops at the first, naming
#     it, with the lines before it committed; with --bad-lines every kind
#     is written there once and the rest applied (a bad last line of a
#     batch and of the input included);
#  5. --linger-ms sends a partial batch while the pipe it reads pauses;
#     without it the batch waits, and SIGTERM then commits it and exits 0;
#  6. a source's offset committed into the batch the feeder holds: it sends
#     the lines after it;
#  7. long lines: a batch is sent before a line would take it past 32 MB
#     of JSON (more might never be applied: the server takes a jsonb array
#     of 256 MB at most, and JSON grows up to six times as jsonb); a longer
#     line is a bad line;
#  8. messages: one line, event, batch is counted in the singular, a batch
#     of one line is named as one; libpq's error keeps its line breaks;
#  9. the other format: JSON lines under --format kcat, kcat lines under
#     --format json, stop the feeder at the first line of their file with a
#     hint to the right --format, whatever --bad-lines says;
# 10. input committed before: new input fed under a source already used is
#     skipped with a warning (every line, or its first lines) and a hint,
#     and --new-input makes it an error that applies nothing; for kcat, per
#     Kafka partition;
# 11. progress lines for logs: when stderr is not a terminal, a line every
#     --progress-interval seconds while lines come, also when the input
#     pauses, none while nothing comes; 0 turns them off;
# 12. the manual page, feed/sessionize-feed.1, documents every option that
#     --help lists.
use strict;
use warnings;

use File::Temp;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('feed');
$node->init;
$node->start;

my $feed = $node->config_data('--bindir') . '/sessionize-feed';
ok(-x $feed, "sessionize-feed is installed in the bindir ($feed)");
my @conn = ('-h', $node->host, '-p', $node->port, '-d', 'postgres');
my $tmp = PostgreSQL::Test::Utils::tempdir;

# feed(\@args, input): run the feeder to its end, stdin from the string
# input (or nothing); returns (exit status, stderr).
sub feed
{
	my ($args, $input) = @_;
	my ($out, $err) = ('', '');

	IPC::Run::run([ $feed, @conn, @$args ],
		'<', \($input // ''), '>', \$out, '2>', \$err);
	note(join(' ', 'sessionize-feed', @$args) . ":\n$err");
	return ($? >> 8, $err);
}

# committed(stream, source): its committed offset, '' for none.
sub committed
{
	my ($stream, $source) = @_;
	return $node->safe_psql('postgres',
		"SELECT sessionize.committed_offset('$stream', '$source')");
}

# write_file(name, lines): a file of these lines; returns its path.
sub write_file
{
	my ($name, @lines) = @_;
	my $path = "$tmp/$name";
	open(my $fh, '>', $path) or die "could not write $path: $!";
	print $fh map { "$_\n" } @lines;
	close($fh);
	return $path;
}

my $sink_columns = '(key text, session_start timestamptz, session_end timestamptz,
                     event_count integer, end_reason text, events jsonb)';
$node->safe_psql('postgres', qq{
CREATE EXTENSION sessionize;
CREATE TABLE sink_clean $sink_columns;
CREATE TABLE sink_kill (LIKE sink_clean);
CREATE TABLE sink_restart (LIKE sink_clean);
-- about 1 ms per finished session, some 10 ms per batch: runs last long
-- enough to be killed in the middle
CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS
\$\$BEGIN PERFORM pg_sleep(0.001); RETURN NEW; END\$\$;
CREATE TRIGGER slow BEFORE INSERT ON sink_kill FOR EACH ROW EXECUTE FUNCTION slow();
CREATE TRIGGER slow BEFORE INSERT ON sink_restart FOR EACH ROW EXECUTE FUNCTION slow();
SELECT sessionize.create_stream('clean', gap => '30 minutes', sink => 'sink_clean');
SELECT sessionize.create_stream('kill', gap => '30 minutes', sink => 'sink_kill');
SELECT sessionize.create_stream('restart', gap => '30 minutes', sink => 'sink_restart');
});

# 10,000 events of 300 users in ts order (epoch seconds of 2020), one in
# ten the last of its session; "n" numbers them.
my $N = 10000;
srand(9);
my @events;
my $ts = 1577872800;
for my $n (1 .. $N)
{
	$ts += int(rand(20));
	push @events, sprintf('{"id":"u%d","n":%d,"ts":%d,"isLast":%s}',
		int(rand(300)), $n, $ts, rand() < 0.1 ? 'true' : 'false');
}
my $events = write_file('events.jsonl', @events);

# same_sessions(sink): the sink, flushed, holds the sessions sink_clean
# holds, and each event once.
sub same_sessions
{
	my ($stream, $sink, $what) = @_;
	$node->safe_psql('postgres', "SELECT count(*) FROM sessionize.flush('$stream')");
	is( $node->safe_psql(
			'postgres', qq{
SELECT count(*) FROM ((TABLE sink_clean EXCEPT ALL TABLE $sink)
                      UNION ALL (TABLE $sink EXCEPT ALL TABLE sink_clean)) d}),
		'0', "$what: the same sessions as the uninterrupted run");
	is( $node->safe_psql(
			'postgres', qq{
SELECT count(*) || ' ' || count(DISTINCT e->>'n')
  FROM $sink, jsonb_array_elements(events) e}),
		"$N $N", "$what: each of the $N events in exactly one session");
}

# ---------------------------------------------------------------- 1. kill -9

my ($rc, $err) = feed([ '--stream', 'clean', '--source', 'f', '--batch-size', '100', $events ]);
is($rc, 0, 'the uninterrupted run exits 0');
like($err, qr/done: $N lines read, $N events applied in 100 batches/,
	'and says so in its summary');
is(committed('clean', 'f'), $N, 'its offset is the number of the last line');
$node->safe_psql('postgres', "SELECT count(*) FROM sessionize.flush('clean')");
my $sessions = $node->safe_psql('postgres', 'SELECT count(*) FROM sink_clean');
cmp_ok($sessions, '>', 1000, "the uninterrupted run has $sessions sessions");

my $seed = time() % 100000;
note("kill moments drawn with seed $seed");
srand($seed);
my $before = 0;
for my $k (1 .. 3)
{
	my ($out, $kerr) = ('', '');
	my $h = IPC::Run::start(
		[ $feed, @conn, '--stream', 'kill', '--source', 'f', '--batch-size', '100', $events ],
		'<', \'', '>', \$out, '2>', \$kerr);
	my $delay = 0.2 + rand(0.4);
	usleep(int($delay * 1_000_000));
	$h->signal('KILL');
	$h->finish;
	is(($h->full_results)[0] & 127, 9, sprintf('run %d killed by SIGKILL after %.2f s', $k, $delay));
	my $c = committed('kill', 'f');
	$c = 0 if $c eq '';
	note("committed offset after kill $k: $c");
	cmp_ok($c, '<', $N, "run $k was killed before its end");
	cmp_ok($c, '>=', $before, "run $k kept what the runs before it committed");
	$before = $c;
}
# A killed feeder's last batch may still be committing: the run after it
# sees the offset before it, sends the batch again, and the server skips it.
($rc, $err) = feed([ '--stream', 'kill', '--source', 'f', '--batch-size', '100', $events ]);
is($rc, 0, 'the run after three kills exits 0');
my ($applied) = $err =~ /done: \d+ lines read, (\d+) events? applied/;    # not a progress line's
my ($skipped) = $err =~ /(\d+) lines skipped as committed before/;
my ($again) = $err =~ /(\d+) batch(?:es)? the server had committed already/;
$again //= 0;
cmp_ok($skipped, '>=', $before,
	"it skipped the lines committed before it ($skipped, at least $before)");
if ($skipped > 0)
{
	like($err,
		qr/warning: lines 1 to $skipped of the input were skipped: source "f" had committed up to offset $skipped before this run\n/,
		'it warns that it skipped them, as a resumed run does');
}
else
{
	unlike($err, qr/skipped: source/, 'it skipped nothing, and does not warn');
}
is($skipped + $applied + 100 * $again, $N,
	"it applied the others ($applied), but for $again batches of 100 the server skipped");
is(committed('kill', 'f'), $N, 'the offset is the last line');
same_sessions('kill', 'sink_kill', 'killed three times');

# ---------------------------------------------------- 2. kcat, partitions

# Three Kafka partitions, interleaved; offsets start anywhere and skip
# (compacted topics, transaction markers).  One message comes twice (as
# after a kcat restart) and partition 2 ends with an empty message.
$node->safe_psql('postgres', qq{
CREATE TABLE sink_kc $sink_columns;
SELECT sessionize.create_stream('kc', gap => '30 minutes', sink => 'sink_kc', partitions => 2);
});
srand(11);
my %offset = (0 => 0, 1 => 1000, 2 => 41);
my @kcat;
for my $n (1 .. 3000)
{
	my $p = int(rand(3));
	$offset{$p} += (1, 1, 2, 3, 7)[ int(rand(5)) ];
	push @kcat, sprintf('%d %d {"id":"u%d","n":%d,"ts":%d}',
		$p, $offset{$p}, $n % 97, $n, 1577872800 + $n * 5);
}
push @kcat, $kcat[2000];    # delivered twice
$offset{2} += 4;
push @kcat, "2 $offset{2} ";    # a tombstone: an empty message
my $kc_file = write_file('kcat.txt', @kcat);

($rc, $err) = feed([ '--stream', 'kc', '--source', 'clicks', '--format', 'kcat', '--batch-size', '50' ],
	join('', map { "$_\n" } @kcat[ 0 .. 1199 ]));
is($rc, 0, 'kcat: the first 1,200 lines are applied');
($rc, $err) = feed([ '--stream', 'kc', '--source', 'clicks', '--format', 'kcat', '--batch-size', '50',
	$kc_file ]);
is($rc, 0, 'kcat: then the whole input');
like($err, qr/3002 lines read, 1800 events applied .* 1201 lines skipped as committed before, 1 empty/,
	'the second run skips the 1,200 lines applied and the message sent twice');
for my $p (0 .. 2)
{
	is(committed('kc', "clicks-$p"), $offset{$p},
		"source clicks-$p committed its partition's last offset, $offset{$p}");
}
is( $node->safe_psql(
		'postgres', q{
SELECT string_agg(format('%s:%s', "partition", (SELECT string_agg(k, ',' ORDER BY k)
                                               FROM jsonb_object_keys(offsets) k)), ' '
                  ORDER BY "partition")
  FROM sessionize.partition_stats WHERE stream = 'kc'}),
	'0:clicks-0,clicks-2 1:clicks-1',
	'Kafka partitions 0 and 2 feed stream partition 0, partition 1 feeds 1');
$node->safe_psql('postgres', "SELECT count(*) FROM sessionize.flush('kc')");
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) || ' ' || count(DISTINCT e->>'n') FROM sink_kc, jsonb_array_elements(events) e}),
	'3000 3000', 'every kcat message is in exactly one session');

# Lines ended by CRLF: the messages are read as ever, and a tombstone that
# lost its space ("0 7\r") is an empty message, not a bad line.
$node->safe_psql('postgres', "SELECT sessionize.create_stream('kc_crlf', gap => '30 minutes')");
($rc, $err) = feed([ '--stream', 'kc_crlf', '--source', 'crlf', '--format', 'kcat' ],
	qq(0 5 {"id":"c1","ts":1577872800}\r\n0 6 {"id":"c1","ts":1577872860}\r\n0 7\r\n));
is($rc, 0, 'kcat with CRLF line ends: the run ends');
like($err, qr/3 lines read, 2 events applied .* 1 empty/, 'the tombstone is an empty message');
is(committed('kc_crlf', 'crlf-0'), '7', 'and its offset is committed');

# ------------------------------------------------------ 3. server restart

{
	my ($out, $rerr) = ('', '');
	my $h = IPC::Run::start(
		[ $feed, @conn, '--stream', 'restart', '--source', 'f', '--batch-size', '100', $events ],
		'<', \'', '>', \$out, '2>', \$rerr);
	ok( $node->poll_query_until('postgres',
			"SELECT sessionize.committed_offset('restart', 'f') > 0"),
		'the feeder has committed a batch');
	my $c = committed('restart', 'f');
	cmp_ok($c, '<', $N, "the server restarts while the feeder runs (at offset $c)");
	$node->restart;
	ok( $node->poll_query_until('postgres',
			"SELECT sessionize.committed_offset('restart', 'f') > $c"),
		'the feeder commits again after the restart');
	$c = committed('restart', 'f');
	cmp_ok($c, '<', $N, "the server crashes while the feeder runs (at offset $c)");
	$node->stop('immediate');
	$node->start;
	$h->finish;
	note("sessionize-feed under restarts:\n$rerr");
	is($h->result(0), 0, 'the feeder exits 0');
	my @lost = $rerr =~ /warning: connection lost while sending/g;
	my @again = $rerr =~ /warning: connected again; source "f" resumes after its committed offset/g;
	is(scalar(@lost) . ' ' . scalar(@again), '2 2', 'it lost the connection twice, and connected again');
	is(committed('restart', 'f'), $N, 'the offset is the last line');
	same_sessions('restart', 'sink_restart', 'restarted and crashed');
}

# -------------------------------------------------------------- 4. bad lines

# Batches of 5 events; the bad lines are of every kind the feeder or the
# server finds (two of them, 10 and 15, the last line of their batch, and
# 30 the last of the input), some in one batch (16-21: 17, which the
# server cannot read as jsonb, 19 and 20).
my %bad = (
	4 => [ 'not json', qr/line 4 of \S+ is not JSON: not a JSON value \(at byte 1\)/ ],
	8 => [ '[1, 2]', qr/line 8 of \S+ is a JSON array, not an object/ ],
	10 => [ '{"id": "u1"}', qr/line 10 of \S+ has no "ts" field/ ],
	13 => [ '{"id": "u2", "ts": "yesterday"}',
		qr/line 13 of \S+: "ts" is the word "yesterday", not the time of an event/ ],
	15 => [ '{"id": "u3", "ts": 1577872800, "isLast": 1}',
		qr/line 15 of \S+: "isLast" is a JSON number, not a boolean/ ],
	17 => [ '{"id": "u4", "ts": 1577872800, "x": 1e999999}',
		qr/line 17 of \S+: value overflows numeric format/ ],
	19 => [ '{"id": "u5", "ts": 1577872800} {"id": "u6"}',
		qr/line 19 of \S+ is not JSON: more after the JSON value \(at byte 32\)/ ],
	20 => [ '{"id": null, "ts": 1577872800}', qr/line 20 of \S+: "id" is null/ ],
	22 => [ '{"id": "u7", "ts": "2020-01-01 10:00:00+00", "s": "\u0000"}',
		qr/line 22 of \S+ is not JSON: \\u0000 cannot be stored in jsonb/ ],
	24 => [ '{"id": "u8", "ts": "2020-13-45"}',
		qr/line 24 of \S+: "ts" is invalid: date\/time field value out of range/ ],
	30 => [ '"the last line"', qr/line 30 of \S+ is a JSON string, not an object/ ]);
my @lines = map {
	$bad{$_}
	  ? $bad{$_}[0]
	  : sprintf('{"id": "u%d", "n": %d, "ts": %d}', $_ % 4, $_, 1577872800 + $_ * 60)
} 1 .. 30;
my $bad_input = write_file('bad.jsonl', @lines);
my $bad_out = "$tmp/bad-lines.jsonl";
$node->safe_psql('postgres', qq{
CREATE TABLE sink_bad $sink_columns;
SELECT sessionize.create_stream('bad', gap => '30 minutes', sink => 'sink_bad');
SELECT sessionize.create_stream('bad2', gap => '30 minutes');
});

($rc, $err) = feed([ '--stream', 'bad', '--source', 'f', '--batch-size', '5', $bad_input ]);
is($rc, 1, 'without --bad-lines, a bad line is an error');
like($err, qr/error: line 4 of \S+ is not JSON/, 'naming the line');
like($err, qr/hint: Fix the line, or run with --bad-lines FILE/, 'with a hint');
is(committed('bad', 'f'), '3', 'the lines before it are committed');

# A line the server refuses: lines 1-5 are one batch, 6-10 the next, of
# which line 7 is refused; line 6 is committed, then the feeder stops.
my @bad2 = @lines[ 0 .. 2, 4 .. 6, 10 .. 13 ];    # lines 1-3, 5-7, 11-14 of bad.jsonl
($rc, $err) = feed([ '--stream', 'bad2', '--source', 'f', '--batch-size', '5' ],
	join('', map { "$_\n" } @bad2));
is($rc, 1, 'a line the server refuses is an error too');
like($err, qr/error: line 9 of standard input: "ts" is the word "yesterday"/,
	'naming the line (its number in the input), with the server\'s reason');
is(committed('bad2', 'f'), '8', 'the lines before it in its batch are committed');

($rc, $err) = feed([ '--stream', 'bad', '--source', 'f', '--batch-size', '5', '--bad-lines', $bad_out,
	$bad_input ]);
is($rc, 0, 'with --bad-lines, the run goes on to the end');
for my $n (sort { $a <=> $b } keys %bad)
{
	like($err, $bad{$n}[1], "line $n is set aside, with its reason");
}
like($err, qr/30 lines read, 16 events applied .* 3 lines skipped as committed before, 11 bad lines set aside/,
	'the summary counts them');
is(committed('bad', 'f'), '30', 'the offset is the last line, bad as it is');
is(slurp_file($bad_out), join('', map { "$bad{$_}[0]\n" } sort { $a <=> $b } keys %bad),
	'the bad lines file holds each bad line once, as read');
$node->safe_psql('postgres', "SELECT count(*) FROM sessionize.flush('bad')");
is( $node->safe_psql(
		'postgres', q{
SELECT string_agg(e->>'n', ',' ORDER BY (e->>'n')::int) FROM sink_bad, jsonb_array_elements(events) e}),
	join(',', grep { !$bad{$_} } 1 .. 30),
	'every good line is in a session, once');
($rc, $err) = feed([ '--stream', 'bad', '--source', 'f', '--batch-size', '5', '--bad-lines', $bad_out,
	$bad_input ]);
is($rc, 0, 'run again on the same input');
like($err, qr/30 lines read, 0 events applied .* 30 lines skipped as committed before/,
	'it skips every line');
is(scalar(() = slurp_file($bad_out) =~ /\n/g), scalar(keys %bad),
	'and sets no line aside again');

# ------------------------------------------------- 5. --linger-ms, SIGTERM

# wait_for_input(h, in): until the feeder has read all of $$in.
sub wait_for_input
{
	my ($h, $in) = @_;
	$h->pump while length $$in;
}

{
	my ($in, $out, $lerr) = ('', '', '');
	my $h = IPC::Run::start(
		[ $feed, @conn, '--stream', 'clean', '--source', 'linger', '--batch-size', '100',
			'--linger-ms', '200' ],
		'<', \$in, '>', \$out, '2>', \$lerr);
	$in .= join('', map { "$_\n" } @events[ 0 .. 4 ]);
	wait_for_input($h, \$in);
	ok( $node->poll_query_until('postgres',
			"SELECT sessionize.committed_offset('clean', 'linger') = 5"),
		'--linger-ms: 5 lines and a pause commit a batch of 5 (of 100)');
	ok($h->pumpable, 'while the pipe is still open');
	$in .= join('', map { "$_\n" } @events[ 5 .. 7 ]);
	wait_for_input($h, \$in);
	ok( $node->poll_query_until('postgres',
			"SELECT sessionize.committed_offset('clean', 'linger') = 8"),
		'and 3 more lines and a pause another batch');
	$h->finish;
	is($h->result(0), 0, 'the feeder exits 0 at the end of its input');
	like($lerr, qr/8 lines read, 8 events applied in 2 batches/, 'having sent 2 batches');
}
{
	my ($in, $out, $serr) = ('', '', '');
	my $h = IPC::Run::start(
		[ $feed, @conn, '--stream', 'clean', '--source', 'nolinger', '--batch-size', '100' ],
		'<', \$in, '>', \$out, '2>', \$serr);
	$in .= join('', map { "$_\n" } @events[ 0 .. 4 ]);
	wait_for_input($h, \$in);
	usleep(1_000_000);
	is(committed('clean', 'nolinger'), '',
		'without --linger-ms, 5 lines and a pause of 1 s commit nothing');
	$h->signal('TERM');
	$h->finish;
	is($h->result(0), 0, 'SIGTERM: the feeder exits 0');
	like($serr, qr/terminated \(SIGTERM\), every line read committed: 5 lines read, 5 events applied/,
		'after committing the lines it had read');
	is(committed('clean', 'nolinger'), '5', 'the offset is their last line');
}

# --------------------------------------- 6. an offset moved under the feeder

# A killed run's last batch may commit after the next run read the offset,
# in a cut of other lines (another --batch-size): the server refuses the
# batch that overlaps it, and the feeder sends the lines after it.
{
	my ($in, $out, $oerr) = ('', '', '');
	my $h = IPC::Run::start(
		[ $feed, @conn, '--stream', 'clean', '--source', 'moved', '--batch-size', '100' ],
		'<', \$in, '>', \$out, '2>', \$oerr);
	ok( $node->poll_query_until('postgres', q{
SELECT count(*) = 1 FROM pg_stat_activity
 WHERE state = 'idle' AND query LIKE 'SELECT sessionize.committed_offset($1::pg_catalog.text%'}),
		'the feeder has read the offset of its source (none)');
	$in .= join('', map { "$_\n" } @events[ 0 .. 4 ]);
	wait_for_input($h, \$in);
	$node->safe_psql('postgres', "SELECT sessionize.set_offset('clean', 'moved', 3)");
	$h->finish;
	is($h->result(0), 0, 'the feeder of lines 1-5, whose source moved to offset 3, exits 0');
	like($oerr, qr/warning: source "moved" was committed up to offset 3 meanwhile/,
		'it says why');
	like($oerr, qr/5 lines read, 2 events applied in 1 batch/, 'it applied lines 4 and 5 only');
	is(committed('clean', 'moved'), '5', 'the offset is the last line');
}

# A key a PL/pgSQL CHECK of its domain refuses (P0001) is a bad line too.
{
	$node->safe_psql('postgres', q{
CREATE FUNCTION allowed_key(k text) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS
$$BEGIN IF k = 'BAD' THEN RAISE EXCEPTION 'key % is not allowed', k; END IF; RETURN true; END$$;
CREATE DOMAIN checked_key AS text CHECK (allowed_key(VALUE));
SELECT sessionize.create_stream('raise', key_type => 'checked_key', gap => '30 minutes');});
	my $raise_out = "$tmp/raise-bad-lines.jsonl";
	($rc, $err) = feed([ '--stream', 'raise', '--source', 'f', '--bad-lines', $raise_out ],
		qq({"id": "good", "ts": 1577872800}
{"id": "BAD", "ts": 1577872860}
{"id": "good", "ts": 1577872920}
));
	is($rc, 0, 'a key its domain\'s PL/pgSQL CHECK refuses: the run ends');
	like($err, qr/line 2 of standard input: "id" is invalid: key BAD is not allowed/,
		'the line is set aside, with the server\'s reason');
	is($node->safe_psql('postgres', q{
SELECT key || ':' || event_count FROM sessionize.open_sessions('raise')}),
		'good:2', 'the other lines are applied');
}

# ------------------------------------------------------------ 7. long lines

{
	my $mb = 1024 * 1024;
	my $line = sub {
		my ($n, $bytes) = @_;
		my $head = sprintf('{"id": "l%d", "n": %d, "ts": %d, "d": "', $n, $n, 1577872800 + $n);
		return $head . ('y' x ($bytes - length($head) - 2)) . '"}';
	};
	# lines 2-4 of 12 MB (1-3 fit in one batch, 4 does not), 5 of 33 MB
	my $long = write_file('long.jsonl', $line->(1, 100), $line->(2, 12 * $mb),
		$line->(3, 12 * $mb), $line->(4, 12 * $mb), $line->(5, 33 * $mb), $line->(6, 100));
	my $long_out = "$tmp/long-bad-lines.jsonl";
	$node->safe_psql('postgres', q{
SELECT sessionize.create_stream('long_lines', gap => '30 minutes');
SELECT sessionize.create_stream('long_lines2', gap => '30 minutes');});

	($rc, $err) = feed([ '--stream', 'long_lines', '--source', 'f', '--bad-lines', $long_out, $long ]);
	is($rc, 0, 'long lines: the run ends');
	like($err, qr/line 5 of \S+ is 34603008 bytes long, more than a batch may hold \(32 MB\)/,
		'a line longer than a batch may hold is set aside, with its reason');
	like($err, qr/6 lines read, 5 events applied in 3 batches .* 1 bad line set aside/,
		'the others are applied, in three batches: 1-3, 4 (ended by the bad line 5), 6');
	is(committed('long_lines', 'f'), '6', 'the offset is the last line');
	is(-s $long_out, 33 * $mb + 1, 'the bad lines file holds the long line');
	is( $node->safe_psql('postgres', q{
SELECT string_agg(key || ':' || event_count, ',' ORDER BY key)
  FROM sessionize.open_sessions('long_lines')}),
		'l1:1,l2:1,l3:1,l4:1,l6:1', 'each other line is an open session');

	($rc, $err) = feed([ '--stream', 'long_lines2', '--source', 'f', $long ]);
	is($rc, 1, 'without --bad-lines, the long line is an error');
	like($err, qr/error: line 5 of \S+ is 34603008 bytes long/, 'naming it');
	is(committed('long_lines2', 'f'), '4', 'the lines before it are committed');
	unlink $long, $long_out;
}

# ------------------------------------------------------------- 8. messages

# One of each thing is said in the singular: "1 line read", not "1 lines".
$node->safe_psql('postgres', "SELECT sessionize.create_stream('singular', gap => '30 minutes')");
($rc, $err) = feed([ '--stream', 'singular', '--source', 'one', '--bad-lines', "$tmp/one-bad.jsonl" ],
	"$events[0]\n{\"id\": \"u1\"}\n");
is($rc, 0, 'a run of one good line and one bad line');
like($err,
	qr/done: 2 lines read, 1 event applied in 1 batch \(0 sessions finished\), 0 lines skipped as committed before, 1 bad line set aside;/,
	'its summary counts one event, one batch and one bad line in the singular');
($rc, $err) = feed([ '--stream', 'singular', '--source', 'one_more' ], "$events[0]\n");
($rc, $err) = feed([ '--stream', 'singular', '--source', 'one_more' ], "$events[0]\n$events[1]\n");
is($rc, 0, 'a line fed, then run again with one more line');
like($err, qr/done: 2 lines read, 1 event applied in 1 batch \(0 sessions finished\), 1 line skipped as committed before;/,
	'it skipped one line, in the singular');

# A batch of one line that the server refuses is named as one line.
$node->safe_psql('postgres',
	"SELECT sessionize.create_stream('two_parts', gap => '30 minutes', partitions => 2)");
($rc, $err) = feed([ '--stream', 'two_parts', '--source', 'p' ], "$events[0]\n");
is($rc, 0, 'source "p" feeds partition 0');
($rc, $err) = feed([ '--stream', 'two_parts', '--source', 'p', '--partition', '1' ],
	"$events[0]\n$events[1]\n");
is($rc, 1, 'fed to partition 1, its batch of line 2 is refused');
like($err, qr/error: could not apply line 2 of source "p": source "p" of stream "two_parts" belongs to partition 0, not 1\n/,
	'the error names "line 2", not "lines 2 to 2"');

# libpq's message of a failed connection keeps its line break, as psql
# shows it (it was joined into one line: "... directory Is the server ...").
($rc, $err) = feed([ '--stream', 'clean', '--source', 'f', '-h', $tmp ]);
is($rc, 1, 'no server where -h points: an error');
like($err,
	qr/^sessionize-feed: error: could not connect: connection to server on socket "\Q$tmp\E\/\.s\.PGSQL\.\d+" failed: No such file or directory\n\tIs the server running locally and accepting connections on that socket\?\n\z/,
	'libpq\'s two sentences on two lines, the second indented');

# -------------------------------------------------------- 9. the other format

# A file of JSON lines fed with --format kcat (or kcat run without -f) and
# kcat output fed as JSON lines: every line would be a bad line, and with
# --bad-lines the whole input set aside and the run "done".  The first line
# of the file tells, and the feeder stops there.
{
	my $json = write_file('format.jsonl', @events[ 0 .. 4 ]);
	my $kcat = write_file('format.kcat', map { "0 $_ $events[$_]" } 0 .. 4);
	my $format_out = "$tmp/format-bad-lines.jsonl";
	$node->safe_psql('postgres', "SELECT sessionize.create_stream('format', gap => '30 minutes')");

	($rc, $err) = feed([ '--stream', 'format', '--source', 'fk', '--format', 'kcat',
		'--bad-lines', $format_out, $json ]);
	is($rc, 1, 'JSON lines fed with --format kcat: an error, even with --bad-lines');
	like($err, qr/error: line 1 of \S+format\.jsonl is a JSON object, not a kcat line \("PARTITION OFFSET MESSAGE"\)\n/,
		'it names the line');
	like($err, qr/hint: The input looks like JSON lines: feed them with --format json \(the default\), or run kcat with -f '%p %o %s\\n'\./,
		'and suggests --format json');

	($rc, $err) = feed([ '--stream', 'format', '--source', 'fj', '--bad-lines', $format_out, $kcat ]);
	is($rc, 1, 'kcat lines fed as JSON lines: an error, even with --bad-lines');
	like($err, qr/error: line 1 of \S+format\.kcat is not JSON: it looks like a kcat line \("PARTITION OFFSET MESSAGE"\)\n/,
		'it names the line');
	like($err, qr/hint: The input looks like kcat output: run with --format kcat\./,
		'and suggests --format kcat');
	is(-s $format_out, 0, 'neither run set a line aside');
	is( $node->safe_psql('postgres', q{
SELECT count(*) FROM sessionize.open_sessions('format')}),
		'0', 'and neither applied an event');
	is(committed('format', 'fj'), '', 'nor committed an offset');

	# a kcat file after a file of JSON lines: the lines before it are committed
	($rc, $err) = feed([ '--stream', 'format', '--source', 'fj', $json, $kcat ]);
	is($rc, 1, 'JSON lines, then a kcat file: an error at the kcat file');
	like($err, qr/error: line 6 \(line 1 of \S+format\.kcat\) is not JSON: it looks like a kcat line/,
		'at its first line');
	like($err, qr/detail: The lines before it are committed: source "fj" is at offset 5\./,
		'after the lines of the first file, committed');
	is(committed('format', 'fj'), '5', 'whose last line is the offset');
}

# ------------------------------------------------- 10. input committed before

# JSON lines' offsets are line numbers from 1, so a new file fed under a
# source already used is skipped, whole or in part: the feeder warns.
{
	$node->safe_psql('postgres', "SELECT sessionize.create_stream('again', gap => '30 minutes')");
	my $events_in = sub {
		return $node->safe_psql('postgres',
			"SELECT sum(events_in) FROM sessionize.partition_stats WHERE stream = 'again'");
	};
	my $day1 = write_file('day1.jsonl', @events[ 0 .. 9 ]);
	my $day3 = write_file('day3.jsonl', @events[ 10 .. 19 ]);
	my $day1_more = write_file('day1-more.jsonl', @events[ 0 .. 14 ]);

	($rc, $err) = feed([ '--stream', 'again', '--source', 'import', $day1 ]);
	is($rc, 0, 'day 1 fed under source "import"');
	unlike($err, qr/warning/, 'without a warning');

	($rc, $err) = feed([ '--stream', 'again', '--source', 'import', $day3 ]);
	is($rc, 0, 'day 3 fed under the same source: the run ends');
	like($err,
		qr/warning: every line of the input \(lines 1 to 10\) was skipped, and nothing of it applied: source "import" had committed up to offset 10 before this run\n/,
		'with a warning that nothing of it was applied');
	like($err,
		qr/hint: That is right when this run resumes one that stopped, or feeds again what was fed\. New input needs a --source name not used before \(or the source's offset moved with sessionize\.set_offset\(\)\); --new-input makes input that starts at or below the committed offset an error\.\n/,
		'and a hint: a new --source, set_offset, --new-input');
	is($events_in->(), '10', 'indeed nothing of day 3 was applied');

	($rc, $err) = feed([ '--stream', 'again', '--source', 'import', '--new-input', $day3 ]);
	is($rc, 1, '--new-input: day 3 under the same source is an error');
	like($err,
		qr/error: input committed before: line 1 of \S+day3\.jsonl is at or below offset 10, which source "import" committed before this run\n/,
		'naming the line, the source and its offset');
	like($err, qr/detail: With --new-input, input whose first line is committed is refused; nothing of it was applied\.\n/,
		'saying that nothing was applied');
	like($err, qr/hint: Feed new input under a --source name not used before\. To resume a run that stopped, run again without --new-input\.\n/,
		'and what to do');
	is($events_in->() . ' ' . committed('again', 'import'), '10 10',
		'nothing was applied, the offset is unchanged');

	($rc, $err) = feed([ '--stream', 'again', '--source', 'import-day3', '--new-input', $day3 ]);
	is($rc, 0, '--new-input: day 3 under a new source is fed');
	unlike($err, qr/warning/, 'without a warning');
	is($events_in->(), '20', 'all of it');

	($rc, $err) = feed([ '--stream', 'again', '--source', 'import', $day1_more ]);
	is($rc, 0, 'day 1 and 5 more lines under source "import"');
	like($err,
		qr/warning: lines 1 to 10 of the input were skipped: source "import" had committed up to offset 10 before this run\n/,
		'warns that its first 10 lines were skipped');
	is($events_in->() . ' ' . committed('again', 'import'), '25 15', 'and applies the 5 after them');
}

# kcat: each Kafka partition is a source, its offsets Kafka's.
{
	$node->safe_psql('postgres', "SELECT sessionize.create_stream('again_kc', gap => '30 minutes')");
	my $kc = sub { my ($p, $o, $n) = @_; return "$p $o $events[$n]\n"; };
	($rc, $err) = feed([ '--stream', 'again_kc', '--source', 'kq', '--format', 'kcat' ],
		join('', map { $kc->(0, $_, $_) } 5 .. 7));
	is($rc, 0, 'kcat: offsets 5 to 7 of Kafka partition 0 fed');

	my $more = join('', map { $kc->(0, $_, $_) } 5 .. 8) . $kc->(1, 1, 9) . $kc->(1, 2, 10);
	($rc, $err) = feed([ '--stream', 'again_kc', '--source', 'kq', '--format', 'kcat', '--new-input' ],
		$more);
	is($rc, 1, 'kcat --new-input: partition 0 from offset 5 again is an error');
	like($err,
		qr/error: input committed before: line 1 of standard input \(partition 0, offset 5\) is at or below offset 7, which source "kq-0" committed before this run\n/,
		'naming the line, its partition and offset');
	like($err, qr/detail: With --new-input, a Kafka partition whose first message read is committed is refused; nothing of it was applied\.\n/,
		'saying that nothing of the partition was applied');
	like($err, qr/hint: Start kcat after the committed offset \(kcat -p 0 -o 8\), or feed new input under a --source name not used before\. To resume from before that offset, run without --new-input\.\n/,
		'and where kcat should start');
	is(committed('again_kc', 'kq-0') . ' ' . committed('again_kc', 'kq-1'), '7 ',
		'nothing was committed');

	($rc, $err) = feed([ '--stream', 'again_kc', '--source', 'kq', '--format', 'kcat' ], $more);
	is($rc, 0, 'kcat without --new-input: the run ends');
	like($err,
		qr/warning: the 3 messages at offsets 5 to 7 of Kafka partition 0 were skipped: source "kq-0" had committed up to offset 7 before this run\n/,
		'with a warning for partition 0, whose first messages were committed');
	unlike($err, qr/Kafka partition 1/, 'none for partition 1, which is new');
	like($err, qr/6 lines read, 3 events applied/, 'offset 8 and partition 1 are applied');

	($rc, $err) = feed([ '--stream', 'again_kc', '--source', 'kq', '--format', 'kcat' ],
		$kc->(1, 2, 10));
	like($err,
		qr/warning: every message read from Kafka partition 1 \(the message at offset 2\) was skipped, and nothing of it applied: source "kq-1" had committed up to offset 2 before this run\n/,
		'every message of a partition skipped: said so, in the singular for one');
}

# ------------------------------------------------------- 11. progress lines

# wait_for_stderr(h, err, re): until $$err matches re (10 s at most).
sub wait_for_stderr
{
	my ($h, $err, $re) = @_;
	for (1 .. 200)
	{
		$h->pump_nb;
		return 1 if $$err =~ $re;
		usleep(50_000);
	}
	return 0;
}

# progress_lines(err): the progress lines in err.
sub progress_lines
{
	my ($err) = @_;
	return grep { /^sessionize-feed: progress: / } split /\n/, $err;
}

{
	$node->safe_psql('postgres', "SELECT sessionize.create_stream('progress', gap => '30 minutes')");
	my ($in, $out, $perr) = ('', '', '');
	my $h = IPC::Run::start(
		[ $feed, @conn, '--stream', 'progress', '--source', 'p', '--linger-ms', '0',
			'--progress-interval', '1' ],
		'<', \$in, '>', \$out, '2>', \$perr);
	$in .= join('', map { "$_\n" } @events[ 0 .. 4 ]);
	wait_for_input($h, \$in);
	ok(wait_for_stderr($h, \$perr, qr/progress: 5 lines/),
		'--progress-interval 1, stderr a pipe: a progress line comes while the input pauses');
	like($perr,
		qr/^sessionize-feed: progress: 5 lines read, 0 skipped, 5 events applied in 1 batch, 0 bad; \d+ events\/s over the last \d+ s\n\z/,
		'a line of its own, with the counts of the run');
	usleep(2_500_000);
	$h->pump_nb;
	is(scalar(progress_lines($perr)), 1, 'no other while nothing comes (2.5 s)');
	$in .= join('', map { "$_\n" } @events[ 5 .. 7 ]);
	wait_for_input($h, \$in);
	ok(wait_for_stderr($h, \$perr, qr/progress: 8 lines/), 'lines come again: progress lines again');
	like((progress_lines($perr))[-1],
		qr/^sessionize-feed: progress: 8 lines read, 0 skipped, 8 events applied in 2 batches, 0 bad; /,
		'the last counts all 8 lines');
	$h->finish;
	is($h->result(0), 0, 'the feeder exits 0 at the end of its input');
	like($perr, qr/progress: [^\n]*\nsessionize-feed: done: 8 lines read/, 'the summary follows');

	($in, $out, $perr) = ('', '', '');
	$h = IPC::Run::start(
		[ $feed, @conn, '--stream', 'progress', '--source', 'p0', '--linger-ms', '0',
			'--progress-interval', '0' ],
		'<', \$in, '>', \$out, '2>', \$perr);
	$in .= join('', map { "$_\n" } @events[ 0 .. 4 ]);
	wait_for_input($h, \$in);
	usleep(1_500_000);
	$h->finish;
	is($h->result(0), 0, '--progress-interval 0: the run ends');
	is(scalar(progress_lines($perr)), 0, 'with no progress line');
	like($perr, qr/^sessionize-feed: done: 5 lines read/, 'only the summary');

	($rc, $err) = feed([ '--stream', 'progress', '--source', 'p', '--progress-interval', '-1' ]);
	is($rc, 1, 'a negative --progress-interval is an error');
	like($err,
		qr/error: invalid value "-1" for option --progress-interval: an integer from 0 to 86400 is needed/,
		'that says what is needed');
}

# -------------------------------------------------------- 12. the manual page

{
	my $help = '';
	IPC::Run::run([ $feed, '--help' ], '>', \$help);
	my %seen;
	my @options = grep { !$seen{$_}++ } $help =~ /(--[a-z][a-z-]*)/g;
	cmp_ok(scalar(@options), '>=', 15, 'sessionize-feed --help lists its options: ' . "@options");
	my $man = slurp_file('feed/sessionize-feed.1');
	# roff writes each hyphen of an option as \-
	my @missing = grep { index($man, s/-/\\-/gr) < 0 } @options;
	is("@missing", '', 'the manual page, feed/sessionize-feed.1, documents every one');
}

$node->stop;
done_testing();
