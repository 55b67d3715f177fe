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
 *-------------------------------------------------------------------------
 */
#include "sessionize.h"

#include "catalog/pg_type.h"
#include "access/htup_details.h"
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
 * offset_check: whether a batch at offset from source is new, that is
 * later than the offset committed for source.  With has_first, the batch
 * holds the offsets first_offset to offset, and one that begins at or
 * before the committed offset (but ends after it) is refused: applied, it
 * would apply those messages again.  Needs the partition's row lock; a
 * source of another partition is an error.
 */
bool
offset_check(Stream *stream, const char *source, int64 offset, bool has_first,
			 int64 first_offset)
{
	int64		committed;
	int32		part;

	if (has_first && first_offset > offset)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("first_offset %lld is after batch_offset %lld",
						(long long) first_offset, (long long) offset),
				 errhint("batch_offset is the offset of the batch's last message, first_offset of its first.")));
	if (!committed_offset_of(stream, source, &committed, &part))
		return true;
	if (part != stream->part)
		source_elsewhere(stream, source, part);
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
 * offset_record: make offset the one committed for source.
 */
void
offset_record(Stream *stream, const char *source, int64 offset)
{
	Datum		values[4];

	values[0] = Int64GetDatum(stream->id);
	values[1] = CStringGetTextDatum(source);
	values[2] = Int64GetDatum(offset);
	values[3] = Int32GetDatum(stream->part);
	if (catalog_exec(CAT_OFFSET_WRITE, values, NULL, NULL, NULL) == 0)
	{
		/* another partition committed the source's first offset meanwhile */
		int64		committed;
		int32		part = stream->part;

		(void) committed_offset_of(stream, source, &committed, &part);
		source_elsewhere(stream, source, part);
	}
}
