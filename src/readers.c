/*-------------------------------------------------------------------------
 *
 * readers.c
 *	  The SQL functions that read a stream without changing it:
 *	  open_sessions() and committed_offset().  Neither keeps a lock, so a
 *	  reader never blocks a batch, alter_stream() or drop_stream().
 *
 *-------------------------------------------------------------------------
 */
#include "sessionize.h"

#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(sessionize_open_sessions);
PG_FUNCTION_INFO_V1(sessionize_committed_offset);

/* The result columns of open_sessions(). */
enum
{
	OS_KEY, OS_SESSION_START, OS_SESSION_END, OS_EVENT_COUNT, OS_EVENTS,
	OS_PARTITION, OS_NATTS
};

/*
 * sessionize_open_sessions: open_sessions(stream, key): the stream's open
 * sessions in the key type's order (a key's in several partitions by
 * partition), as Spark's stateSnapshots() shows them; with key (read as
 * the key type, as the caller), those of that key, by a probe of the
 * key index.  (The definition of 0.1 and 0.2 has neither the key
 * argument nor the column partition: the tuplestore takes as many columns
 * as the result has.)
 */
Datum
sessionize_open_sessions(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Stream	   *stream;
	StateReader *reader;
	OpenSession os;
	bool		one_key;
	Datum		key = (Datum) 0;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("stream must not be NULL")));

	InitMaterializedSRF(fcinfo, 0);
	stream = stream_lock(text_to_cstring(PG_GETARG_TEXT_PP(0)), STREAM_READ, GetUserId());
	one_key = PG_NARGS() > 1 && !PG_ARGISNULL(1);
	if (one_key)
		key = InputFunctionCall(&stream->key_input, text_to_cstring(PG_GETARG_TEXT_PP(1)),
								stream->key_ioparam, -1);
	reader = state_read_begin(stream, one_key, key);
	while (state_read_next(reader, &os))
	{
		Datum		values[OS_NATTS];
		bool		nulls[OS_NATTS] = {0};

		values[OS_KEY] = CStringGetTextDatum(OutputFunctionCall(&stream->key_output, os.key));
		values[OS_SESSION_START] = TimestampTzGetDatum(os.first_ts);
		values[OS_SESSION_END] = TimestampTzGetDatum(os.last_ts);
		values[OS_EVENT_COUNT] = Int32GetDatum(os.count);
		values[OS_EVENTS] = JsonbPGetDatum(os.events);
		values[OS_PARTITION] = Int32GetDatum(os.part);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	state_read_end(reader);
	return (Datum) 0;
}

/*
 * sessionize_committed_offset: committed_offset(stream, source): the
 * offset last committed for source, NULL for a source never seen; a
 * consumer resumes after it.
 */
Datum
sessionize_committed_offset(PG_FUNCTION_ARGS)
{
	Stream	   *stream;
	int64		offset;

	stream = stream_lock(text_to_cstring(PG_GETARG_TEXT_PP(0)), STREAM_READ, GetUserId());
	if (!offset_committed(stream, text_to_cstring(PG_GETARG_TEXT_PP(1)), &offset))
		PG_RETURN_NULL();
	PG_RETURN_INT64(offset);
}
