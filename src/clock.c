/*-------------------------------------------------------------------------
 *
 * clock.c
 *	  The clock of a stream when no batch moves it: expire() and flush().
 *
 * After each batch the watermark (the newest ts seen, minus lateness)
 * times out open sessions; see apply_events().  expire() moves the
 * watermark by wall-clock time for a stream that went quiet, and flush()
 * ends every open session.
 *
 *-------------------------------------------------------------------------
 */
#include "sessionize.h"

#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(sessionize_expire);
PG_FUNCTION_INFO_V1(sessionize_flush);

/*
 * sessionize_expire: expire(stream, now): advance the watermark to at
 * least now - lateness and finish the sessions that time out.
 */
Datum
sessionize_expire(PG_FUNCTION_ARGS)
{
	Call		call;
	TimestampTz now;

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
	advance_watermark(call.stream, watermark_minus_lateness(call.stream, now));
	if (call.stream->rules.gap > 0)
	{
		StateTable *st = state_open(call.stream);

		state_expire(st, call.stream->watermark, &call.finished, &call.delta);
		state_close(st);
	}
	call_end(&call, fcinfo, true);
	return (Datum) 0;
}

/*
 * sessionize_flush: flush(stream): finish every open session, with reason
 * flush.  The watermark stays where it is.
 */
Datum
sessionize_flush(PG_FUNCTION_ARGS)
{
	Call		call;
	StateTable *st;

	call_begin(&call, fcinfo);
	st = state_open(call.stream);
	state_flush(st, &call.finished, &call.delta);
	state_close(st);
	call_end(&call, fcinfo, true);
	return (Datum) 0;
}
