/*-------------------------------------------------------------------------
 *
 * offsets.c
 *	  Exactly-once: the last batch offset committed per (stream, source).
 *
 * The offset is written in the transaction that applies the batch, after
 * the partition's row lock is taken, so a batch sent twice at once is
 * applied once: the second sending waits for the first, then sees its
 * offset.  A source belongs to the partition that first committed an
 * offset for it: Kafka partition p of a topic feeds one partition of the
 * stream, and a batch from it sent to another is an error, not a second
 * stream of offsets.
 *
 * From 0.4 on the row of a source also holds its clock: the newest ts it
 * has sent (no later than the limit of clock_limit when it came).  A
 * partition fed by several sources (Kafka partitions 0 and 2 feeding
 * partition 0) has the clock of the slowest one that is active: the
 * watermark is the oldest of the active sources' newest ts, less lateness,
 * and still never goes back.  One source ahead of the others so cannot
 * time out their sessions before their events came.  A source is active
 * until it has sent nothing (no batch, empty or not) for the stream's
 * source_idle, wall-clock time (the transaction's now()); then it stops
 * holding the clock back until it sends again.  An active source that has
 * sent no event yet (registered with set_offset, or whose clock was
 * forgotten when the clock was set) holds the clock where it is.  The
 * calls without a source (and an attached table's statements) are one
 * source more, with its clock in the partition's row.  With one source a
 * partition's clock is exactly that of 0.3: its newest ts less lateness.
 *
 *-------------------------------------------------------------------------
 */
#include "sessionize.h"

#include "catalog/pg_type.h"
#include "access/htup_details.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "utils/builtins.h"

/*
 * source_elsewhere: the error for a batch from a source that belongs to
 * another partition than the call's.
 */
static void
source_elsewhere(Stream *stream, const char *source, int32 part)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("source \"%s\" of stream \"%s\" belongs to partition %d, not %d",
					source, stream->name, part, stream->part),
			 errhint("A source is bound to the partition that first committed an offset for it; feed it there.")));
}

/*
 * committed_offset_of: the offset committed for source, or false if none;
 * *part is its partition (NULL: not wanted).
 */
static bool
committed_offset_of(Stream *stream, const char *source, int64 *offset, int32 *part)
{
	Datum		values[2];
	HeapTuple	row;
	TupleDesc	desc;
	bool		isnull;

	values[0] = Int64GetDatum(stream->id);
	values[1] = CStringGetTextDatum(source);
	if (catalog_exec(CAT_OFFSET_READ, values, NULL, &row, &desc) == 0)
		return false;
	*offset = DatumGetInt64(heap_getattr(row, 1, desc, &isnull));
	if (part != NULL)
		*part = DatumGetInt32(heap_getattr(row, 2, desc, &isnull));
	return true;
}

/*
 * offset_committed: the offset committed for source, or false if none.
 */
bool
offset_committed(Stream *stream, const char *source, int64 *offset)
{
	return committed_offset_of(stream, source, offset, NULL);
}

/*
 * offset_part: whether source has a committed offset; *part is then the
 * partition it belongs to.
 */
bool
offset_part(Stream *stream, const char *source, int32 *part)
{
	int64		committed;

	return committed_offset_of(stream, source, &committed, part);
}

/*
 * sources_active_since: the instant after which a source that sent a
 * batch is active; false when sources never go idle.
 */
static bool
sources_active_since(Stream *stream, TimestampTz *since)
{
	if (stream->source_idle < 0)
		return false;
	*since = ts_add_usecs(GetCurrentTransactionStartTimestamp(), -stream->source_idle);
	return true;
}

/*
 * sources_begin: read what a batch from source (NULL: a call without one)
 * needs of the partition's sources, after partition_lock: the source's
 * committed offset and partition, its clock and those of the partition's
 * other active sources.  partition_lock has read the unnamed source's.
 */
void
sources_begin(Stream *stream, const char *source)
{
	PartitionSources *ps = &stream->sources;
	TimestampTz since = 0;
	bool		has_since = sources_active_since(stream, &since);
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	HeapTuple	row;
	TupleDesc	desc;
	bool		isnull;

	ps->unsourced_call = source == NULL;
	ps->committed = false;
	ps->own_known = false;
	ps->others_hold = false;
	ps->others_known = false;
	if (!ps->per_source)
	{
		/* the catalog of 0.3 or before: the offset alone */
		if (source != NULL)
			ps->committed = committed_offset_of(stream, source, &ps->committed_offset,
												&ps->committed_part);
		return;
	}

	if (source == NULL)
	{
		ps->own_known = ps->unsourced_known;
		ps->own_newest = ps->unsourced_newest;
		if (!ps->has_named)
			return;				/* no other source: no statement */
	}
	else if (ps->unsourced_fed && (!has_since || ps->unsourced_at >= since))
	{
		/* the unnamed source is active: one of the others */
		ps->others_hold = !ps->unsourced_known;
		ps->others_known = ps->unsourced_known;
		ps->others_min = ps->unsourced_newest;
	}

	values[0] = Int64GetDatum(stream->id);
	values[1] = source != NULL ? CStringGetTextDatum(source) : (Datum) 0;
	nulls[1] = source != NULL ? ' ' : 'n';
	values[2] = Int32GetDatum(stream->part);
	values[3] = TimestampTzGetDatum(since);
	nulls[3] = has_since ? ' ' : 'n';
	if (catalog_exec(CAT_SOURCES_READ, values, nulls, &row, &desc) != 1)
		elog(ERROR, "could not read the sources of stream \"%s\"", stream->name);

	ps->committed_offset = DatumGetInt64(heap_getattr(row, 1, desc, &isnull));
	ps->committed = !isnull;
	ps->committed_part = DatumGetInt32(heap_getattr(row, 2, desc, &isnull));
	if (source != NULL)
	{
		ps->own_newest = DatumGetTimestampTz(heap_getattr(row, 3, desc, &isnull));
		ps->own_known = !isnull;
	}
	if (DatumGetBool(heap_getattr(row, 5, desc, &isnull)) && !isnull)
		ps->others_hold = true;
	{
		TimestampTz others = DatumGetTimestampTz(heap_getattr(row, 4, desc, &isnull));

		if (!isnull && (!ps->others_known || others < ps->others_min))
			ps->others_min = others;
		ps->others_known |= !isnull;
	}
}

/*
 * sources_clock: a batch of the call's source whose newest ts (less than
 * the clock's limit) is newest, if it had any events: move the source's
 * clock, then the partition's, to the oldest clock of its active sources
 * less lateness (never back).  Before 0.4, the batch's newest ts less
 * lateness.
 */
void
sources_clock(Stream *stream, bool any, TimestampTz newest)
{
	PartitionSources *ps = &stream->sources;
	TimestampTz clock;

	if (!ps->per_source)
	{
		if (any)
			advance_watermark(stream, watermark_minus_lateness(stream, newest));
		return;
	}
	if (any && (!ps->own_known || newest > ps->own_newest))
	{
		ps->own_newest = newest;
		ps->own_known = true;
	}
	if (ps->unsourced_call)
	{
		ps->unsourced_known = ps->own_known;
		ps->unsourced_newest = ps->own_newest;
	}
	if (!ps->own_known || ps->others_hold)
		return;
	clock = ps->own_newest;
	if (ps->others_known && ps->others_min < clock)
		clock = ps->others_min;
	advance_watermark(stream, watermark_minus_lateness(stream, clock));
}

/*
 * offset_check: whether a batch at offset from source is new, that is
 * later than the offset committed for source.  With has_first, the batch
 * holds the offsets first_offset to offset, and one that begins at or
 * before the committed offset (but ends after it) is refused: applied, it
 * would apply those messages again.  Needs sources_begin (after the
 * partition's row lock); a source of another partition is an error.
 */
bool
offset_check(Stream *stream, const char *source, int64 offset, bool has_first,
			 int64 first_offset)
{
	PartitionSources *ps = &stream->sources;
	int64		committed = ps->committed_offset;

	if (has_first && first_offset > offset)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("first_offset %lld is after batch_offset %lld",
						(long long) first_offset, (long long) offset),
				 errhint("batch_offset is the offset of the batch's last message, first_offset of its first.")));
	if (!ps->committed)
		return true;
	if (ps->committed_part != stream->part)
		source_elsewhere(stream, source, ps->committed_part);
	if (offset > committed && has_first && first_offset <= committed)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch %lld to %lld from source \"%s\" of stream \"%s\" overlaps the committed offset %lld",
						(long long) first_offset, (long long) offset, source, stream->name,
						(long long) committed),
				 errhint("Resume after the committed offset: the next batch begins at %lld.",
						 (long long) committed + 1)));
	if (offset > committed)
		return true;

	ereport(NOTICE,
			(errmsg("batch %lld from source \"%s\" of stream \"%s\" is already committed; skipped",
					(long long) offset, source, stream->name),
			 errdetail("The offset committed for this source is %lld.",
					   (long long) committed)));
	return false;
}

/*
 * offset_record: make offset the one committed for source, and keep its
 * clock (see sources_clock).
 */
void
offset_record(Stream *stream, const char *source, int64 offset)
{
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};

	values[0] = Int64GetDatum(stream->id);
	values[1] = CStringGetTextDatum(source);
	values[2] = Int64GetDatum(offset);
	values[3] = Int32GetDatum(stream->part);
	values[4] = TimestampTzGetDatum(stream->sources.own_newest);
	if (!stream->sources.own_known)
		nulls[4] = 'n';
	if (catalog_exec(CAT_OFFSET_WRITE, values, nulls, NULL, NULL) == 0)
	{
		/* another partition committed the source's first offset meanwhile */
		int64		committed;
		int32		part = stream->part;

		(void) committed_offset_of(stream, source, &committed, &part);
		source_elsewhere(stream, source, part);
	}
}
