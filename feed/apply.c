/*-------------------------------------------------------------------------
 *
 * apply.c
 *	  Committing a source's batch exactly once, whatever the server says.
 *
 * A batch carries its source and the offsets of its first and last lines
 * (first_offset, batch_offset).  The server records batch_offset with the
 * batch's changes in one transaction, so the outcome is all or nothing and
 * the committed offset says which:
 *
 *	- the connection is lost (the server restarted, crashed, failed over):
 *	  the batch may or may not have committed.  Connect again, read every
 *	  source's committed offset, drop what each batch holds at or below it,
 *	  and send what is left.
 *	- the server names a bad element ("event N of the batch ..."): the
 *	  batch changed nothing.  With --bad-lines the line is written there
 *	  and the batch sent again without it, with the same offsets; without,
 *	  the lines before it are committed and the feeder stops, naming it.
 *	- a data error that names no element: if the source's committed offset
 *	  moved into the batch meanwhile (the server refuses an overlap), only
 *	  the lines after it are sent again; if the server cannot read the
 *	  array (a number too large for numeric, nesting too deep, a character
 *	  the database's encoding lacks), each line is tried alone as jsonb,
 *	  and those it cannot read are bad lines as above.
 *	- anything else is the batch's own error: the feeder stops.
 *	- a batch the server skips as committed already: done; the offset
 *	  committed is read again, as it may be past the batch.
 *
 * A batch that lost all its lines to --bad-lines is still sent, empty: it
 * commits its offsets, so that a run after it does not meet them again.
 *
 *-------------------------------------------------------------------------
 */
#include "feed.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * source_where: where line (number, offset) of source is, for messages:
 * "line 7 of in.jsonl", with "(partition 2, offset 1234)" for kcat lines.
 */
const char *
source_where(Feed *feed, Source *source, int64_t number, int64_t offset,
			 char *buf, size_t size)
{
	char		where[256];

	reader_where(feed->reader, number, where, sizeof(where));
	if (source->kafka_partition < 0)
		snprintf(buf, size, "%s", where);
	else
		snprintf(buf, size, "%s (partition %d, offset %lld)", where,
				 (int) source->kafka_partition, (long long) offset);
	return buf;
}

/*
 * server_says: the server's message about element N, said of the line
 * instead: "event 3 of the batch: \"ts\" is invalid: ..." becomes
 * "<where>: \"ts\" is invalid: ...".  malloc'd.
 */
static char *
server_says(const char *where, const char *message)
{
	const char *rest = message;
	char	   *out;
	size_t		n;

	if (strncmp(rest, "event ", 6) == 0)
	{
		rest = strstr(rest, " of the batch");
		rest = rest ? rest + strlen(" of the batch") : message;
	}
	if (rest == message)
	{
		/* a message that does not name the element (from jsonb) */
		n = strlen(where) + strlen(message) + 3;
		out = feed_malloc(n);
		snprintf(out, n, "%s: %s", where, message);
		return out;
	}
	n = strlen(where) + strlen(rest) + 1;
	out = feed_malloc(n);
	snprintf(out, n, "%s%s", where, rest);
	return out;
}

/*
 * report_server_error: show a failed statement's error, with its detail
 * and hint, as PostgreSQL's tools do.
 */
static void
report_server_error(const char *what, const ApplyResult *r)
{
	feed_error("%s: %s", what, r->message ? r->message : "unknown error");
	if (r->detail)
		feed_detail("%s", r->detail);
	if (r->hint)
		feed_hint("%s", r->hint);
}

/*
 * batch_lines_text: "lines 7 to 1006 of source \"f\"" (with "(offsets
 * 12 to 2040)" for kcat lines; "line 7", "(offset 12)" for a batch of one
 * line), for messages.
 */
static const char *
batch_lines_text(Source *source, char *buf, size_t size)
{
	Batch	   *b = &source->batch;
	char		numbers[64];
	char		offsets[80];

	if (b->first_number == b->last_number)
		snprintf(numbers, sizeof(numbers), "line %lld", (long long) b->first_number);
	else
		snprintf(numbers, sizeof(numbers), "lines %lld to %lld",
				 (long long) b->first_number, (long long) b->last_number);
	if (source->kafka_partition < 0)
		offsets[0] = '\0';
	else if (b->first == b->last)
		snprintf(offsets, sizeof(offsets), " (offset %lld)", (long long) b->first);
	else
		snprintf(offsets, sizeof(offsets), " (offsets %lld to %lld)",
				 (long long) b->first, (long long) b->last);
	snprintf(buf, size, "%s%s of source \"%s\"", numbers, offsets, source->name);
	return buf;
}

/*
 * report_batch_error: the batch of source failed with error r, its own.
 */
static void
report_batch_error(Source *source, const ApplyResult *r)
{
	char		lines[512];
	char		what[600];

	snprintf(what, sizeof(what), "could not apply %s",
			 batch_lines_text(source, lines, sizeof(lines)));
	report_server_error(what, r);
}

/*
 * write_all: write len bytes of buf to the --bad-lines file, or exit.
 */
static void
write_all(Feed *feed, const char *buf, size_t len)
{
	while (len > 0)
	{
		ssize_t		n = write(feed->bad_lines, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
		{
			feed_error("could not write to file \"%s\": %s", feed->bad_lines_path,
					   strerror(errno));
			exit(1);
		}
		buf += n;
		len -= n;
	}
}

/*
 * apply_write_line: append a bad line of no source (not a kcat line) to
 * the --bad-lines file at once: no commit covers it.
 */
void
apply_write_line(Feed *feed, const char *line, size_t len)
{
	write_all(feed, line, len);
	write_all(feed, "\n", 1);
}

/*
 * write_aside: before a batch is sent, write the lines it set aside to the
 * --bad-lines file, in input order, and make them durable: a bad line is
 * then in the file before the batch that covers it commits, so it is there
 * at least once however the feeder is stopped.  A batch sent again (after
 * the server found another bad line in it, or a lost connection) writes
 * them all again, over what it wrote before.
 */
static void
write_aside(Feed *feed, Batch *b)
{
	if (feed->bad_lines < 0 || (b->nasides == 0 && !b->aside_written))
		return;
	if (b->aside_written)
	{
		if (ftruncate(feed->bad_lines, (off_t) b->aside_at) != 0)
		{
			feed_error("could not truncate file \"%s\": %s", feed->bad_lines_path,
					   strerror(errno));
			exit(1);
		}
	}
	else
	{
		off_t		end = lseek(feed->bad_lines, 0, SEEK_END);

		if (end < 0)
		{
			feed_error("could not seek in file \"%s\": %s", feed->bad_lines_path,
					   strerror(errno));
			exit(1);
		}
		b->aside_at = (int64_t) end;
		b->aside_written = true;
	}
	for (int i = 0; i < b->nasides; i++)
		apply_write_line(feed, b->aside + b->asides[i].start, b->asides[i].len);
	if (fsync(feed->bad_lines) != 0)
	{
		feed_error("could not fsync file \"%s\": %s", feed->bad_lines_path,
				   strerror(errno));
		exit(1);
	}
}

/*
 * apply_bad_line: a line of source (NULL for a line of no source) is bad,
 * for reason why: with --bad-lines a warning (the caller sets it aside),
 * without an error (the caller stops).
 */
void
apply_bad_line(Feed *feed, Source *source, const char *why)
{
	if (feed->bad_lines < 0)
	{
		feed_error("%s", why);
		return;
	}
	feed_warning("%s; set aside in \"%s\"", why, feed->bad_lines_path);
	feed->bad++;
	if (source != NULL)
		source->bad++;
}

/*
 * apply_stop: the feeder stops at a line of source that is not in its
 * batch: a bad line (without --bad-lines), or one it refuses whatever
 * --bad-lines says.  The batch, the lines before it, is committed first,
 * so that the committed offset is right before that line and a run after
 * it is fixed goes on from there.  hint says what to do (NULL: fix the bad
 * line, or use --bad-lines).  Returns false.
 */
bool
apply_stop(Feed *feed, Source *source, const char *hint)
{
	if (source != NULL)
	{
		if (source->batch.taken && !apply_batch(feed, source))
			return false;
		if (source->has_committed)
			feed_detail("The lines before it are committed: source \"%s\" is at offset %lld.",
						source->name, (long long) source->committed);
	}
	feed_hint("%s", hint ? hint : "Fix the line, or run with --bad-lines FILE to set bad lines aside.");
	return false;
}

/*
 * set_aside_element: element index of source's batch is bad (the server
 * said why): take it out of the batch, which keeps its offsets, and keep
 * it aside; false if the feeder must stop (no --bad-lines).
 */
static bool
set_aside_element(Feed *feed, Source *source, int index, const char *message)
{
	Batch	   *b = &source->batch;
	BatchLine	line = b->lines[index];
	char		where[512];
	char	   *why;

	source_where(feed, source, line.number, line.offset, where, sizeof(where));
	why = server_says(where, message);
	apply_bad_line(feed, source, why);
	free(why);
	if (feed->bad_lines < 0)
	{
		batch_truncate(b, index);
		return apply_stop(feed, source, NULL);
	}
	batch_aside_element(b, index);
	return true;
}

/*
 * refresh_all: after connecting again, read every source's committed
 * offset and drop from its batch what is at or below it.  Its status in
 * *r (APPLY_OK when done).
 */
static void
refresh_all(Feed *feed, ApplyResult *r)
{
	for (int i = 0; i < feed->nsources; i++)
	{
		Source	   *s = feed->sources[i];
		bool		found;
		int64_t		committed;

		if (!server_committed(feed->server, s->name, &found, &committed, r))
			return;
		if (!found)
			continue;
		s->has_committed = true;
		s->committed = committed;
		if (!s->has_seen || s->seen < committed)
		{
			s->seen = committed;
			s->has_seen = true;
		}
		batch_trim(&s->batch, committed);
	}
	r->status = APPLY_OK;
}

/*
 * reconnect: the connection was lost (why): connect again and refresh
 * every source.  false (with the error shown) if that cannot be done.
 */
static bool
reconnect(Feed *feed, Source *source, const char *why)
{
	char		lines[512];

	feed_warning("connection lost while sending %s, connecting again: %s",
				 batch_lines_text(source, lines, sizeof(lines)), why);
	for (;;)
	{
		ApplyResult r;

		feed->reconnects++;
		if (!server_reconnect(feed->server, feed->stop))
		{
			if (*feed->stop)
				feed_error("interrupted while connecting again: %s may not be committed; run again to resume after the committed offset",
						   lines);
			return false;
		}
		refresh_all(feed, &r);
		if (r.status == APPLY_OK)
		{
			if (source->has_committed)
				feed_warning("connected again; source \"%s\" resumes after its committed offset %lld",
							 source->name, (long long) source->committed);
			else
				feed_warning("connected again; source \"%s\" has no committed offset yet",
							 source->name);
			return true;
		}
		if (r.status != APPLY_LOST)
		{
			report_server_error("could not read the committed offsets", &r);
			apply_result_clear(&r);
			return false;
		}
		apply_result_clear(&r);
	}
}

/*
 * find_unreadable: a data error that names no element (batch_error): if
 * the server cannot read the batch's array as jsonb, try each line alone
 * and set aside those it cannot read; else it is the batch's own error (an
 * offset refused, say).  true to send the batch again, false to stop.
 */
static bool
find_unreadable(Feed *feed, Source *source, const ApplyResult *batch_error)
{
	Batch	   *b = &source->batch;
	int			found = 0;
	int			i = 0;
	const char *array;
	size_t		len;
	ApplyResult whole;

	array = batch_json(b, &len);
	if (server_check_json(feed->server, array, len, &whole))
	{
		report_batch_error(source, batch_error);
		return false;
	}
	if (whole.status == APPLY_LOST)
	{
		bool		again = reconnect(feed, source, whole.message);

		apply_result_clear(&whole);
		return again;
	}
	apply_result_clear(&whole);

	while (i < b->nlines)
	{
		ApplyResult r;
		bool		go_on = true;

		if (server_check_json(feed->server, b->text + b->lines[i].start,
							  b->lines[i].len, &r))
			i++;
		else if (r.status == APPLY_LOST)
		{
			go_on = reconnect(feed, source, r.message);
			apply_result_clear(&r);
			return go_on;
		}
		else if (r.status == APPLY_DATA || r.status == APPLY_ELEMENT)
		{
			/* set aside (and taken out: i is the next line now) or stop */
			found++;
			go_on = set_aside_element(feed, source, i, r.message);
		}
		else
		{
			report_server_error("could not check a line", &r);
			go_on = false;
		}
		apply_result_clear(&r);
		if (!go_on)
			return false;
	}
	if (found > 0)
		return true;
	report_batch_error(source, batch_error);
	return false;
}

/*
 * skipped_to: the server skipped source's batch as committed already: the
 * offset committed may be past it (another feeder, set_offset), so read
 * it, and skip here what it covers.  Best effort: a failure to read it
 * leaves the batch's own, and the next batch shows the rest.
 */
static void
skipped_to(Feed *feed, Source *source)
{
	ApplyResult r;
	bool		found;
	int64_t		committed;

	if (server_committed(feed->server, source->name, &found, &committed, &r) &&
		found && committed > source->committed)
	{
		source->committed = committed;
		if (source->seen < committed)
			source->seen = committed;
	}
	apply_result_clear(&r);
}

/*
 * committed_meanwhile: after a data error that names no element, whether
 * the source's committed offset has moved into the batch since it was read
 * (the server refuses a batch that overlaps it: a killed run's last batch
 * that committed after this run read the offset, another feeder on the
 * source, set_offset).  The lines up to it are applied, so the batch keeps
 * only those after it, and is sent again (*go_on true), or the feeder
 * stops (*go_on false) if that cannot be read.
 */
static bool
committed_meanwhile(Feed *feed, Source *source, bool *go_on)
{
	Batch	   *b = &source->batch;
	ApplyResult r;
	bool		found;
	int64_t		committed;

	*go_on = true;
	if (!server_committed(feed->server, source->name, &found, &committed, &r))
	{
		if (r.status == APPLY_LOST)
			*go_on = reconnect(feed, source, r.message);
		else
		{
			report_server_error("could not read the committed offset", &r);
			*go_on = false;
		}
		apply_result_clear(&r);
		return true;
	}
	if (!found || committed < b->first)
		return false;
	feed_warning("source \"%s\" was committed up to offset %lld meanwhile; sending the lines after it",
				 source->name, (long long) committed);
	source->has_committed = true;
	source->committed = committed;
	if (source->seen < committed)
		source->seen = committed;
	batch_trim(b, committed);
	return true;
}

/*
 * apply_batch: commit source's batch, exactly once; afterwards it is
 * empty.  false (with the error shown) when the feeder must stop.
 */
bool
apply_batch(Feed *feed, Source *source)
{
	Batch	   *b = &source->batch;

	while (b->taken)
	{
		ApplyResult r;
		bool		go_on = true;

		write_aside(feed, b);
		server_apply(feed->server, source->name, source->partition, b, &r);
		switch (r.status)
		{
			case APPLY_OK:
				source->has_committed = true;
				source->committed = b->last;
				if (r.skipped)
				{
					feed->server_skipped++;
					skipped_to(feed, source);
				}
				else
				{
					source->events += b->nlines;
					feed->events += b->nlines;
					feed->sessions += r.sessions;
					feed->batches++;
				}
				batch_reset(b);
				break;
			case APPLY_LOST:
				go_on = reconnect(feed, source, r.message);
				break;
			case APPLY_ELEMENT:
				if (r.element >= b->nlines)
				{
					report_batch_error(source, &r);
					go_on = false;
				}
				else
					go_on = set_aside_element(feed, source, r.element, r.message);
				break;
			case APPLY_DATA:
				if (!committed_meanwhile(feed, source, &go_on))
					go_on = find_unreadable(feed, source, &r);
				break;
			case APPLY_ERROR:
				report_batch_error(source, &r);
				go_on = false;
				break;
		}
		apply_result_clear(&r);
		if (!go_on)
			return false;
	}
	return true;
}

/*
 * source_open: a new source of the feed, named name, feeding the stream's
 * partition, whose committed offset is read now (so that its lines at or
 * below it are skipped).  With register_new, a source the stream has not
 * seen is registered at once, committed just before first_offset, the
 * offset of its first line (see server_register), and its committed
 * offset read again: a Kafka partition then holds the stream
 * partition's clock from the moment the feeder sees it, not from its first
 * batch, which may come after other partitions' batches moved the clock
 * past its events.  NULL (with the error shown) on failure.
 */
Source *
source_open(Feed *feed, const char *name, int32_t kafka_partition, int partition,
			bool register_new, int64_t first_offset)
{
	Source	   *source = feed_malloc(sizeof(Source));

	memset(source, 0, sizeof(Source));
	source->name = feed_strdup(name);
	source->kafka_partition = kafka_partition;
	source->partition = partition;
	batch_init(&source->batch);

	feed->sources = feed_realloc(feed->sources, sizeof(Source *) * (feed->nsources + 1));
	feed->sources[feed->nsources++] = source;

	for (;;)
	{
		ApplyResult r;
		bool		found = false;
		int64_t		committed = 0;

		/* registered, the offset is read again: another feeder may be ahead */
		if (server_committed(feed->server, name, &found, &committed, &r) &&
			(found || !register_new ||
			 (server_register(feed->server, name, first_offset - 1, partition, &r) &&
			  server_committed(feed->server, name, &found, &committed, &r))))
		{
			if (found)
			{
				source->has_committed = source->has_seen = true;
				source->committed = source->seen = committed;
			}
			return source;
		}
		if (r.status != APPLY_LOST)
		{
			char		what[256];

			snprintf(what, sizeof(what), "could not %s source \"%s\"",
					 found ? "read the committed offset of" : "register", name);
			report_server_error(what, &r);
			apply_result_clear(&r);
			return NULL;
		}
		feed_warning("connection lost, connecting again: %s", r.message);
		apply_result_clear(&r);
		feed->reconnects++;
		if (!server_reconnect(feed->server, feed->stop))
			return NULL;
		/* the other sources' batches too */
		refresh_all(feed, &r);
		apply_result_clear(&r);
	}
}
