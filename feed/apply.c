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
 *	- a data error that names no element (the server could not read the
 *	  array: a number too large for numeric, nesting too deep, a character
 *	  the database's encoding lacks): each line is tried alone as jsonb,
 *	  and those it cannot read are bad lines as above.
 *	- anything else is the batch's own error: the feeder stops.
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
		fprintf(stderr, "%s: detail: %s\n", FEED_PROGNAME, r->detail);
	if (r->hint)
		fprintf(stderr, "%s: hint: %s\n", FEED_PROGNAME, r->hint);
}

/*
 * batch_lines_text: "lines 7 to 1006 (offsets 7 to 1006)" for messages.
 */
static const char *
batch_lines_text(Source *source, char *buf, size_t size)
{
	Batch	   *b = &source->batch;

	if (source->kafka_partition < 0)
		snprintf(buf, size, "lines %lld to %lld",
				 (long long) b->first_number, (long long) b->last_number);
	else
		snprintf(buf, size, "lines %lld to %lld (offsets %lld to %lld)",
				 (long long) b->first_number, (long long) b->last_number,
				 (long long) b->first, (long long) b->last);
	return buf;
}

/*
 * bad_lines_write: append one input line to the --bad-lines file.
 */
static void
bad_lines_write(Feed *feed, const char *prefix, size_t prefix_len,
				const char *msg, size_t msg_len)
{
	if ((prefix_len > 0 && fwrite(prefix, 1, prefix_len, feed->bad_lines) != prefix_len) ||
		fwrite(msg, 1, msg_len, feed->bad_lines) != msg_len ||
		fputc('\n', feed->bad_lines) == EOF)
	{
		feed_error("could not write to file \"%s\": %s", feed->bad_lines_path,
				   strerror(errno));
		exit(1);
	}
	feed->bad_unsynced = true;
}

/*
 * bad_lines_sync: make the bad lines written so far durable, before the
 * batch that covers them commits (a line is then in the file at least
 * once, whenever the feeder is killed).
 */
static void
bad_lines_sync(Feed *feed)
{
	if (!feed->bad_unsynced)
		return;
	if (fflush(feed->bad_lines) != 0 || fsync(fileno(feed->bad_lines)) != 0)
	{
		feed_error("could not write to file \"%s\": %s", feed->bad_lines_path,
				   strerror(errno));
		exit(1);
	}
	feed->bad_unsynced = false;
}

/*
 * apply_set_aside: an input line (prefix and msg) of source (NULL for a
 * line of no source) is bad, for reason why: with --bad-lines, write it
 * there and say so; without, say it is an error.  The caller then takes
 * it into its batch, or stops.
 */
void
apply_set_aside(Feed *feed, Source *source,
				const char *prefix, size_t prefix_len,
				const char *msg, size_t msg_len, const char *why)
{
	if (feed->bad_lines == NULL)
	{
		feed_error("%s", why);
		return;
	}
	bad_lines_write(feed, prefix, prefix_len, msg, msg_len);
	feed_warning("%s; written to \"%s\"", why, feed->bad_lines_path);
	feed->bad++;
	if (source != NULL)
		source->bad++;
}

/*
 * apply_stop: the feeder stops at a bad line of source that is not in its
 * batch (without --bad-lines).  The batch, the lines before it, is
 * committed first, so that the committed offset is right before the bad
 * line and a run after it is fixed (or with --bad-lines) goes on from
 * there.  Returns false.
 */
bool
apply_stop(Feed *feed, Source *source)
{
	if (source != NULL)
	{
		if (source->batch.taken && !apply_batch(feed, source))
			return false;
		if (source->has_committed)
			fprintf(stderr, "%s: detail: The lines before it are committed: source \"%s\" is at offset %lld.\n",
					FEED_PROGNAME, source->name, (long long) source->committed);
	}
	fprintf(stderr, "%s: hint: Fix the line, or run with --bad-lines FILE to set bad lines aside.\n",
			FEED_PROGNAME);
	return false;
}

/*
 * set_aside_element: element index of source's batch is bad (the server
 * said why): set it aside and take it out of the batch, which keeps its
 * offsets; false if the feeder must stop (no --bad-lines).
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
	apply_set_aside(feed, source, b->prefixes + line.prefix_start, line.prefix_len,
					b->text + line.start, line.len, why);
	free(why);
	if (feed->bad_lines == NULL)
	{
		batch_truncate(b, index);
		return apply_stop(feed, source);
	}
	batch_remove(b, index);
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
	char		lines[128];

	feed_warning("connection lost while sending %s of source \"%s\", connecting again: %s",
				 batch_lines_text(source, lines, sizeof(lines)), source->name, why);
	for (;;)
	{
		ApplyResult r;

		feed->reconnects++;
		if (!server_reconnect(feed->server, feed->stop))
		{
			if (*feed->stop)
				feed_error("interrupted while connecting again: %s of source \"%s\" may not be committed; run again to resume after the committed offset",
						   lines, source->name);
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
 * find_unreadable: the server could not read the batch (batch_error,
 * which names no element): try each line alone as jsonb, and set aside
 * those it cannot read.  true to send the batch again, false to stop.
 */
static bool
find_unreadable(Feed *feed, Source *source, const ApplyResult *batch_error)
{
	Batch	   *b = &source->batch;
	int			found = 0;
	int			i = 0;
	char		lines[128];

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
	report_server_error(batch_lines_text(source, lines, sizeof(lines)), batch_error);
	return false;
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
		char		lines[128];

		bad_lines_sync(feed);
		server_apply(feed->server, source->name, source->partition, b, &r);
		switch (r.status)
		{
			case APPLY_OK:
				source->has_committed = true;
				source->committed = b->last;
				if (r.skipped)
					feed->server_skipped++;
				else
				{
					source->events += b->nlines;
					feed->events += b->nlines;
					feed->sessions += r.sessions;
				}
				feed->batches++;
				batch_reset(b);
				break;
			case APPLY_LOST:
				go_on = reconnect(feed, source, r.message);
				break;
			case APPLY_ELEMENT:
				if (r.element >= b->nlines)
				{
					report_server_error(batch_lines_text(source, lines, sizeof(lines)), &r);
					go_on = false;
				}
				else
					go_on = set_aside_element(feed, source, r.element, r.message);
				break;
			case APPLY_DATA:
				go_on = find_unreadable(feed, source, &r);
				break;
			case APPLY_ERROR:
				report_server_error(batch_lines_text(source, lines, sizeof(lines)), &r);
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
 * below it are skipped).  NULL (with the error shown) on failure.
 */
Source *
source_open(Feed *feed, const char *name, int32_t kafka_partition, int partition)
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
		bool		found;
		int64_t		committed;

		if (server_committed(feed->server, name, &found, &committed, &r))
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

			snprintf(what, sizeof(what), "could not read the committed offset of source \"%s\"", name);
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
