# The documentation is run: every SQL block of README.md and doc/*.md, in
# order, one psql session per file in a fresh database, and every block
# that shows output is compared with what psql printed (exact text, but
# for trailing whitespace), so the docs cannot drift from the code.
#
# How a page is read (the same rules for every page):
#
#   ```sql          a block that is run;
#   ```             a fence without a language right after a sql block
#                   (only blank lines between) is that block's output, as
#                   psql prints it: every line compared;
#   <!-- not run --> on the line before a ```sql fence: a sketch or a
#                   snippet with placeholders, not run (nothing is skipped
#                   silently: a sql block is run unless marked so);
#   ```sh, ```yaml, ```python, ... other languages are not run.
#
# A fence without a language anywhere else is an error, so output cannot
# be shown for nothing, and so is SQL in an indented code block (it would
# be skipped silently) and a sql block that leaves a statement open (it
# would run with the next block).  A block that shows no output must not raise an
# ERROR or a WARNING.
#
# psql runs as a user would run it, with fixed settings: TimeZone UTC,
# DateStyle ISO, messages in English, -X (no psqlrc) and -q (no command
# tags).  A database per page, made from template0 (UTF8, C locale); in
# the databases of doc/ pages, sessionize is created first (README.md
# shows CREATE EXTENSION itself).
#
# When a page differs, the test prints a diff, and writes each page with
# the output psql really printed in place of the one shown (and an output
# block filled in wherever an empty one was) to tmp_check/docs/, to help
# write the docs: read every line of it before you copy it.
use strict;
use warnings;

use File::Basename qw(basename);
use File::Path qw(make_path);
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my @pages = ('README.md', sort glob('doc/*.md'));

# Parse one page: its lines, its sql blocks ({text, line, run, and the
# output shown: output, output_from, output_end}), and what is wrong in it.
sub parse_page
{
	my ($file) = @_;
	open my $fh, '<', $file or die "$file: $!";
	my @lines = <$fh>;
	close $fh;

	my (@blocks, @errors);
	my $i = 0;
	my $last_sql;    # the sql block an output block may follow
	while ($i < @lines)
	{
		my $line = $lines[$i];
		if ($line =~ /^(\s*)(```+)\s*(\S*)\s*$/)
		{
			my ($indent, $fence, $lang) = ($1, $2, $3);
			my $start = $i;
			my @text;
			$i++;
			while ($i < @lines && $lines[$i] !~ /^\s*\Q$fence\E\s*$/)
			{
				my $l = $lines[$i];
				$l =~ s/^\Q$indent\E// if length $indent;
				push @text, $l;
				$i++;
			}
			push @errors, "$file:" . ($start + 1) . ": fence never closed"
			  if $i >= @lines;
			$i++;
			my $text = join '', @text;
			if ($lang eq 'sql')
			{
				my $prev = $start > 0 ? $lines[ $start - 1 ] : '';
				my $block = {
					text => $text,
					line => $start + 1,
					run  => ($prev !~ /^\s*<!--\s*not run\s*-->\s*$/)
				};
				push @blocks, $block;
				$last_sql = $block;

				# A statement left open would run with the next block's.
				(my $sql = $text) =~ s/--[^\n]*//g;
				push @errors,
				  "$file:" . ($start + 1) . ": a sql block that does not end with ; or \\g"
				  if $block->{run} && $sql !~ /(;|\\g\w*)\s*\z/;
			}
			elsif ($lang eq '')
			{
				if ($last_sql && !defined $last_sql->{output} && $last_sql->{run})
				{
					$last_sql->{output}      = $text;
					$last_sql->{output_line} = $start + 1;
					$last_sql->{output_end}  = $i;    # the line after the fence
					$last_sql->{output_from} = $start + 1;    # first line inside
				}
				else
				{
					push @errors,
					  "$file:"
					  . ($start + 1)
					  . ": an output block (a fence without a language) that follows no sql block that is run";
				}
				$last_sql = undef;
			}
			else
			{
				$last_sql = undef;
			}
			next;
		}
		# SQL in an indented code block would be skipped silently: fence it.
		push @errors,
		  "$file:" . ($i + 1) . ": SQL in an indented code block; put it in a fence"
		  if $line =~ /^ {4,}(SELECT|CREATE|ALTER|INSERT|UPDATE|DELETE|DROP|SET|WITH|COPY|GRANT|REVOKE|TABLE|VALUES|BEGIN|COMMIT)\b/i
		  && $i > 0
		  && $lines[ $i - 1 ] !~ /\S/;
		# Only blank lines may stand between a sql block and its output.
		$last_sql = undef if $line =~ /\S/;
		$i++;
	}
	return (\@lines, \@blocks, \@errors);
}

# Trailing whitespace of each line, and blank lines at the end, do not count.
sub normalize
{
	my ($text) = @_;
	my @l = map { s/\s+$//r } split /\n/, $text, -1;
	pop @l while @l && $l[-1] eq '';
	return join("\n", @l) . (@l ? "\n" : '');
}

my $node = PostgreSQL::Test::Cluster->new('docs');
$node->init;
$node->start;

my $outdir = "$PostgreSQL::Test::Utils::tmp_check/docs";
make_path($outdir);

local $ENV{PGTZ}             = 'UTC';
local $ENV{PGDATESTYLE}      = 'ISO, MDY';
local $ENV{PGCLIENTENCODING} = 'UTF8';
local $ENV{PGOPTIONS} = '-c lc_messages=C -c intervalstyle=postgres -c extra_float_digits=1';

my $n = 0;
foreach my $page (@pages)
{
	my ($lines, $blocks, $errors) = parse_page($page);
	is_deeply($errors, [], "$page: every fence is read") or diag join "\n", @$errors;
	my @run = grep { $_->{run} } @$blocks;
	next unless @run;

	$n++;
	my $db = "docs_$n";
	$node->safe_psql('postgres',
		"CREATE DATABASE $db TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C'");
	# README.md creates the extension itself; the pages of doc/ assume it.
	$node->safe_psql($db, 'CREATE EXTENSION sessionize') if $page ne 'README.md';

	# One psql session for the whole page, a marker before each block.
	my $script = '';
	for my $k (0 .. $#run)
	{
		$script .= "\\echo '\@\@docs block $k\@\@'\n" . $run[$k]{text};
		$script .= "\n" unless $script =~ /\n$/;
	}
	$script .= "\\echo '\@\@docs end\@\@'\n";
	my $out = '';
	IPC::Run::run([ 'psql', '-X', '-q', '-d', $node->connstr($db) ],
		'<', \$script, '>', \$out, '2>&1')
	  or note "$page: psql exited with status $?";

	my @parts = split /^\@\@docs (?:block \d+|end)\@\@\n/m, $out, -1;
	my $head = shift @parts;
	my $tail = pop @parts // '';
	is(scalar @parts, scalar @run, "$page: every block ran to its end")
	  or diag "psql printed:\n$out";
	is($head . $tail, '', "$page: nothing printed outside the blocks");

	my %actual;    # output_from line => actual text
	for my $k (0 .. $#run)
	{
		my $b   = $run[$k];
		my $got = $parts[$k] // '';
		my $where = "$page:$b->{line}";
		if (defined $b->{output})
		{
			$actual{ $b->{output_from} } = [ $b->{output_end}, $got ];
			my ($want, $have) = (normalize($b->{output}), normalize($got));
			if ($want eq $have)
			{
				pass("$where: output as shown");
			}
			else
			{
				my ($wf, $hf) = ("$outdir/want", "$outdir/have");
				open my $w, '>', $wf or die; print $w $want; close $w;
				open my $h, '>', $hf or die; print $h $have; close $h;
				my $diff = `diff -u --label shown --label psql '$wf' '$hf'`;
				fail("$where: output as shown");
				diag "$where: the block's output differs from what psql printed:\n$diff";
			}
		}
		else
		{
			unlike($got, qr/^(ERROR|WARNING|FATAL|PANIC):/m,
				"$where: runs without an error")
			  or diag "psql printed:\n$got";
		}
	}

	# The page with the output psql printed, for whoever writes the docs.
	my $file = "$outdir/" . ($page =~ s{/}{_}gr);
	open my $fh, '>', $file or die "$file: $!";
	my $l = 0;
	while ($l < @$lines)
	{
		if (my $act = delete $actual{$l})
		{
			my ($end, $text) = @$act;
			print $fh normalize($text);
			$l = $end - 1;    # the closing fence
			print $fh $lines->[$l];
			$l++;
			next;
		}
		print $fh $lines->[$l];
		$l++;
	}
	close $fh;
	note "$page: ran " . scalar(@run) . " blocks; as run: $file";
}

$node->stop;
done_testing();
