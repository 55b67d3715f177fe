/*-------------------------------------------------------------------------
 *
 * offsets.c
 *	  Exactly-once: the last batch offset committed per (stream, source).
 *
 * The offset is written in the transaction that applies the batch, after
 * the stream's row lock is taken, so a batch sent twice at once is applied
 * once: the second sending waits for the first, then sees its offset.
 *
 *-------------------------------------------------------------------------
 */
#include "sessionize.h"

#include "catalog/pg_type.h"
#include "access/htup_details.h"
#include "miscadmin.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(sessionize_committed_offset);

/*
 * committed_offset_of: the offset committed for source, or false if none.
 */
static bool
committed_offset_of(Stream *stream, const char *source, int64 *offset)
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
	return true;
}

/*
 * sessionize_committed_offset: committed_offset(stream, source): the
 * offset last committed for source, NULL for a source never seen; a
 * consumer resumes after it.  Takes no lock.
 */
Datum
sessionize_committed_offset(PG_FUNCTION_ARGS)
{
	Stream	   *stream;
	int64		offset;

	stream = stream_lock(text_to_cstring(PG_GETARG_TEXT_PP(0)), false, GetUserId());
	if (!committed_offset_of(stream, text_to_cstring(PG_GETARG_TEXT_PP(1)), &offset))
		PG_RETURN_NULL();
	PG_RETURN_INT64(offset);
}

/*
 * offset_check: whether a batch at offset from source is new, that is
 * later than the offset committed for source.  Needs the stream's row
 * lock.
 */
bool
offset_check(Stream *stream, const char *source, int64 offset)
{
	int64		committed;

	if (!committed_offset_of(stream, source, &committed) || offset > committed)
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
	Datum		values[3];

	values[0] = Int64GetDatum(stream->id);
	values[1] = CStringGetTextDatum(source);
	values[2] = Int64GetDatum(offset);
	(void) catalog_exec(CAT_OFFSET_WRITE, values, NULL, NULL, NULL);
}
