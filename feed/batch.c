/*-------------------------------------------------------------------------
 *
 * batch.c
 *	  A batch of one source's lines: the text of its JSON array and where
 *	  each element came from.
 *
 * The array is written by joining the lines' messages with commas, not
 * parsed and built again: the server parses it once, as jsonb.  Each line
 * was checked to be exactly one JSON object (jsoncheck.c), so element i of
 * the array is line i of the batch, which is how an error the server names
 * by element index is traced back to its input line.
 *
 *-------------------------------------------------------------------------
 */
#include "feed.h"

#include <stdlib.h>
#include <string.h>

/*
 * reserve: make room for n more bytes in *buf (of *len used, *cap held).
 */
static void
reserve(char **buf, size_t *cap, size_t len, size_t n)
{
	if (len + n <= *cap)
		return;
	while (len + n > *cap)
		*cap = *cap == 0 ? 64 * 1024 : *cap * 2;
	*buf = feed_realloc(*buf, *cap);
}

/*
 * batch_init: an empty batch.
 */
void
batch_init(Batch *batch)
{
	memset(batch, 0, sizeof(Batch));
	batch_reset(batch);
}

/*
 * batch_free: free the batch's memory.
 */
void
batch_free(Batch *batch)
{
	free(batch->text);
	free(batch->prefixes);
	free(batch->lines);
	free(batch->aside);
	free(batch->asides);
	memset(batch, 0, sizeof(Batch));
}

/*
 * batch_reset: empty the batch, keeping its memory.
 */
void
batch_reset(Batch *batch)
{
	reserve(&batch->text, &batch->text_cap, 0, 2);
	batch->text[0] = '[';
	batch->text_len = 1;
	batch->prefixes_len = 0;
	batch->nlines = 0;
	batch->aside_len = 0;
	batch->nasides = 0;
	batch->aside_written = false;
	batch->aside_at = 0;
	batch->taken = false;
	batch->first = batch->last = 0;
	batch->first_number = batch->last_number = 0;
	batch->deadline = 0;
}

/*
 * batch_take: the line number at offset is the batch's last, good or bad.
 */
void
batch_take(Batch *batch, int64_t offset, int64_t number)
{
	if (!batch->taken)
	{
		batch->taken = true;
		batch->first = offset;
		batch->first_number = number;
	}
	batch->last = offset;
	batch->last_number = number;
}

/*
 * batch_add: a good line, at offset and number, whose message (one JSON
 * object) is msg; prefix is what came before it on the line.
 */
void
batch_add(Batch *batch, int64_t offset, int64_t number,
		  const char *prefix, size_t prefix_len,
		  const char *msg, size_t msg_len)
{
	BatchLine  *line;

	batch_take(batch, offset, number);
	if (batch->nlines == batch->lines_cap)
	{
		batch->lines_cap = batch->lines_cap == 0 ? 1024 : batch->lines_cap * 2;
		batch->lines = feed_realloc(batch->lines, sizeof(BatchLine) * batch->lines_cap);
	}
	line = &batch->lines[batch->nlines];

	reserve(&batch->text, &batch->text_cap, batch->text_len, msg_len + 2);
	if (batch->nlines > 0)
		batch->text[batch->text_len++] = ',';
	line->start = batch->text_len;
	line->len = msg_len;
	memcpy(batch->text + batch->text_len, msg, msg_len);
	batch->text_len += msg_len;

	reserve(&batch->prefixes, &batch->prefixes_cap, batch->prefixes_len, prefix_len);
	line->prefix_start = batch->prefixes_len;
	line->prefix_len = prefix_len;
	if (prefix_len > 0)
		memcpy(batch->prefixes + batch->prefixes_len, prefix, prefix_len);
	batch->prefixes_len += prefix_len;

	line->offset = offset;
	line->number = number;
	batch->nlines++;
}

/*
 * batch_json: the batch's JSON array, NUL-terminated, of *len bytes.
 */
const char *
batch_json(Batch *batch, size_t *len)
{
	reserve(&batch->text, &batch->text_cap, batch->text_len, 2);
	batch->text[batch->text_len] = ']';
	batch->text[batch->text_len + 1] = '\0';
	*len = batch->text_len + 1;
	return batch->text;
}

/*
 * keep_lines: keep the elements for which keep[i] is true, in order, the
 * text and the line records moved down in place.
 */
static void
keep_lines(Batch *batch, const bool *keep)
{
	size_t		at = 1;
	int			n = 0;

	for (int i = 0; i < batch->nlines; i++)
	{
		BatchLine	line = batch->lines[i];

		if (!keep[i])
			continue;
		if (n > 0)
			batch->text[at++] = ',';
		memmove(batch->text + at, batch->text + line.start, line.len);
		line.start = at;
		at += line.len;
		batch->lines[n++] = line;
	}
	batch->text_len = at;
	batch->nlines = n;
}

/*
 * put_aside: keep input line number (prefix and msg) at offset aside, in
 * input order.
 */
static void
put_aside(Batch *batch, int64_t offset, int64_t number,
		  const char *prefix, size_t prefix_len, const char *msg, size_t msg_len)
{
	int			i;

	if (batch->nasides == batch->asides_cap)
	{
		batch->asides_cap = batch->asides_cap == 0 ? 16 : batch->asides_cap * 2;
		batch->asides = feed_realloc(batch->asides, sizeof(AsideLine) * batch->asides_cap);
	}
	reserve(&batch->aside, &batch->aside_cap, batch->aside_len, prefix_len + msg_len);

	/* lines found by the server come after those of later lines */
	for (i = batch->nasides; i > 0 && batch->asides[i - 1].number > number; i--)
		batch->asides[i] = batch->asides[i - 1];
	batch->asides[i].offset = offset;
	batch->asides[i].number = number;
	batch->asides[i].start = batch->aside_len;
	batch->asides[i].len = prefix_len + msg_len;
	batch->nasides++;

	if (prefix_len > 0)
		memcpy(batch->aside + batch->aside_len, prefix, prefix_len);
	memcpy(batch->aside + batch->aside_len + prefix_len, msg, msg_len);
	batch->aside_len += prefix_len + msg_len;
}

/*
 * batch_aside: a bad line, at offset and number, is the batch's last;
 * it is kept aside (prefix and msg: the whole input line).
 */
void
batch_aside(Batch *batch, int64_t offset, int64_t number,
			const char *prefix, size_t prefix_len, const char *msg, size_t msg_len)
{
	batch_take(batch, offset, number);
	put_aside(batch, offset, number, prefix, prefix_len, msg, msg_len);
}

/*
 * batch_aside_element: element index is a bad line (the server said so):
 * take it out of the array and keep it aside.  The batch's offsets stay:
 * it still covers that line.
 */
void
batch_aside_element(Batch *batch, int index)
{
	BatchLine	line = batch->lines[index];
	bool	   *keep = feed_malloc(sizeof(bool) * (batch->nlines + 1));

	put_aside(batch, line.offset, line.number, batch->prefixes + line.prefix_start,
			  line.prefix_len, batch->text + line.start, line.len);
	for (int i = 0; i < batch->nlines; i++)
		keep[i] = i != index;
	keep_lines(batch, keep);
	free(keep);
}

/*
 * batch_truncate: keep only the first n elements; the batch then ends
 * with the last of them (nothing is left when n is 0).
 */
void
batch_truncate(Batch *batch, int n)
{
	if (n <= 0)
	{
		batch_reset(batch);
		return;
	}
	if (n >= batch->nlines)
		return;
	batch->text_len = batch->lines[n - 1].start + batch->lines[n - 1].len;
	batch->nlines = n;
	batch->last = batch->lines[n - 1].offset;
	batch->last_number = batch->lines[n - 1].number;
}

/*
 * batch_trim: drop what the batch holds at or below the committed offset
 * (after a lost connection: the batch may have committed before it was
 * lost).  The batch then begins after committed.
 */
void
batch_trim(Batch *batch, int64_t committed)
{
	bool	   *keep;
	int			n;

	if (!batch->taken || batch->first > committed)
		return;
	if (batch->last <= committed)
	{
		batch_reset(batch);
		return;
	}
	keep = feed_malloc(sizeof(bool) * (batch->nlines + 1));
	for (int i = 0; i < batch->nlines; i++)
		keep[i] = batch->lines[i].offset > committed;
	keep_lines(batch, keep);
	free(keep);
	n = 0;
	for (int i = 0; i < batch->nasides; i++)
		if (batch->asides[i].offset > committed)
			batch->asides[n++] = batch->asides[i];
	batch->nasides = n;
	batch->first = committed + 1;
	if (batch->nlines > 0)
		batch->first_number = batch->lines[0].number;
}
