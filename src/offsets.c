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
#include "miscadmin.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(sessionize_committed_offset);

/*
 * committed_offset_of: the offset committed for source, or false if none.
 * Needs SPI.
 */
static bool
committed_offset_of(Stream *stream, const char *source, int64 *offset)
{
	Oid			argtypes[2] = {INT8OID, TEXTOID};
	Datum		values[2];
	bool		isnull;
	static void *plan = NULL;

	values[0] = Int64GetDatum(stream->id);
	values[1] = CStringGetTextDatum(source);
	spi_run(&plan, "SELECT committed_offset FROM sessionize.offsets "
			"WHERE stream_id OPERATOR(pg_catalog.=) $1 "
			"AND source OPERATOR(pg_catalog.=) $2",
			2, argtypes, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return false;
	*offset = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
										  SPI_tuptable->tupdesc, 1, &isnull));
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
	Oid			caller = GetUserId();
	Oid			saved_user;
	int			saved_context;
	Stream	   *stream;
	int64		offset;
	bool		found;

	owner_switch_begin(&saved_user, &saved_context);
	SPI_connect();
	stream = stream_lock(text_to_cstring(PG_GETARG_TEXT_PP(0)), false, caller);
	found = committed_offset_of(stream, text_to_cstring(PG_GETARG_TEXT_PP(1)), &offset);
	SPI_finish();
	user_switch_end(saved_user, saved_context);

	if (!found)
		PG_RETURN_NULL();
	PG_RETURN_INT64(offset);
}

/*
 * offset_check: whether a batch at offset from source is new, that is
 * later than the offset committed for source.  Needs SPI and the stream's
 * row lock.
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
	Oid			argtypes[3] = {INT8OID, TEXTOID, INT8OID};
	Datum		values[3];
	static void *plan = NULL;

	values[0] = Int64GetDatum(stream->id);
	values[1] = CStringGetTextDatum(source);
	values[2] = Int64GetDatum(offset);
	spi_run(&plan, "INSERT INTO sessionize.offsets AS o (stream_id, source, committed_offset) "
			"VALUES ($1, $2, $3) ON CONFLICT (stream_id, source) DO UPDATE "
			"SET committed_offset = EXCLUDED.committed_offset, "
			"committed_at = pg_catalog.now()",
			3, argtypes, values, NULL, SPI_OK_INSERT);
}
