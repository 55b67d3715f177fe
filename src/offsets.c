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
#include "executor/spi.h"
#include "utils/builtins.h"

/*
 * offset_check: whether a batch at offset from source is new, that is
 * later than the offset committed for source.  Needs SPI and the stream's
 * row lock.
 */
bool
offset_check(Stream *stream, const char *source, int64 offset)
{
	Oid			argtypes[2] = {INT8OID, TEXTOID};
	Datum		values[2];
	bool		isnull;
	int64		committed;

	values[0] = Int64GetDatum(stream->id);
	values[1] = CStringGetTextDatum(source);
	if (SPI_execute_with_args("SELECT committed_offset FROM sessionize.offsets "
							  "WHERE stream_id OPERATOR(pg_catalog.=) $1 "
							  "AND source OPERATOR(pg_catalog.=) $2",
							  2, argtypes, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed");
	if (SPI_processed == 0)
		return true;

	committed = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
											SPI_tuptable->tupdesc, 1, &isnull));
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
	Oid			argtypes[3] = {INT8OID, TEXTOID, INT8OID};
	Datum		values[3];

	values[0] = Int64GetDatum(stream->id);
	values[1] = CStringGetTextDatum(source);
	values[2] = Int64GetDatum(offset);
	if (SPI_execute_with_args("INSERT INTO sessionize.offsets AS o (stream_id, source, committed_offset) "
							  "VALUES ($1, $2, $3) ON CONFLICT (stream_id, source) DO UPDATE "
							  "SET committed_offset = EXCLUDED.committed_offset, "
							  "committed_at = pg_catalog.now()",
							  3, argtypes, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "SPI_execute_with_args failed");
}
