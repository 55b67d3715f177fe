/*-------------------------------------------------------------------------
 *
 * clock.c
 *	  The clock of a stream when no batch moves it: expire() and flush().
 *
 * After each batch the watermark (the newest ts seen, minus lateness)
 * times out open sessions; see apply_events().  expire() moves the
 * watermark by wall-clock time for a stream that went quiet, and flush()
 * ends every open session.  Each works on one partition, or on each
 * partition in turn.
 *
 *-------------------------------------------------------------------------
 */
#include "sessionize.h"

#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(sessionize_expire);
PG_FUNCTION_INFO_V1(sessionize_flush);

/*
 * The partitions a call on the clock works on: argument argno, or every
 * partition of the stream (in order, so that two such calls lock them in
 * the same order) when it is NULL; true then.  Such a call skips the
 * partitions that moved to another node.
 */
static bool
partition_range(Call *call, FunctionCallInfo fcinfo, int argno, int32 *first, int32 *last)
{
	bool		all;

	*first = partition_arg(fcinfo, argno, &all);
	*last = all ? call->stream->npartitions - 1 : *first;
	return all;
}

/*
 * sessionize_expire: expire(stream, now, partition): advance the
 * watermark of the partition (NULL: of each) to at least now - lateness
 * and finish the sessions that time out.
 */
Datum
sessionize_expire(PG_FUNCTION_ARGS)
{
	Call		call;
	TimestampTz now;
	int32		part;
	int32		last;
	bool		all;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("now must not be NULL")));
	now = PG_GETARG_TIMESTAMPTZ(1);
	if (TIMESTAMP_NOT_FINITE(now))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("now must be a finite instant"),
				 errhint("Use flush() to end every open session.")));

	call_begin(&call, fcinfo);
	all = partition_range(&call, fcinfo, 2, &part, &last);
	for (; part <= last; part++)
	{
		if (!call_partition_begin(&call, part, all))
			continue;
		advance_watermark(call.stream, watermark_minus_lateness(call.stream, now));
		if (call.stream->rules.gap > 0)
		{
			StateTable *st = state_open(call.stream);

			state_expire(st, call.stream->watermark, &call.finished, &call.delta);
			state_close(st);
		}
		call_partition_end(&call, true);
	}
	call_end(&call, fcinfo);
	return (Datum) 0;
}

/*
 * sessionize_flush: flush(stream, partition): finish every open session
 * of the partition (NULL: of each), with reason flush.  The watermark stays
 * where it is.
 */
Datum
sessionize_flush(PG_FUNCTION_ARGS)
{
	Call		call;
	int32		part;
	int32		last;
	bool		all;

	call_begin(&call, fcinfo);
	all = partition_range(&call, fcinfo, 1, &part, &last);
	for (; part <= last; part++)
	{
		StateTable *st;

		if (!call_partition_begin(&call, part, all))
			continue;
		st = state_open(call.stream);
		state_flush(st, &call.finished, &call.delta);
		state_close(st);
		call_partition_end(&call, true);
	}
	call_end(&call, fcinfo);
	return (Datum) 0;
}
