/*-------------------------------------------------------------------------
 *
 * sessionize.c
 *	  The module, the frame every changing call runs in, and the batch
 *	  entry points: decode the events, group them by key, and fold each
 *	  key's events into its session with the rules.
 *
 *-------------------------------------------------------------------------
 */
#include "sessionize.h"

#include "access/xact.h"
#include "common/int.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(sessionize_batch_json);
PG_FUNCTION_INFO_V1(sessionize_batch_arrays);

/*
 * spi_run: run one of sessionize's own statements through SPI, with its
 * plan prepared on first use and kept for the backend's life in *plan
 * (the plan cache replans it when a table it uses changes).  The
 * statement must be schema-qualified throughout; its result must be of
 * SPI code expected.  Needs SPI.
 */
void
spi_run(void **plan, const char *sql, int nargs, Oid *argtypes,
		Datum *values, const char *nulls, int expected)
{
	int			rc;

	if (*plan == NULL)
	{
		SPIPlanPtr	prepared = SPI_prepare(sql, nargs, argtypes);

		if (prepared == NULL || SPI_keepplan(prepared) != 0)
			elog(ERROR, "could not prepare \"%s\": %s", sql,
				 SPI_result_code_string(SPI_result));
		*plan = prepared;
	}
	rc = SPI_execute_plan((SPIPlanPtr) *plan, values, nulls, false, 0);
	if (rc != expected)
		elog(ERROR, "\"%s\" failed: %s", sql, SPI_result_code_string(rc));
}

/*
 * call_begin: start a call that changes the stream named by argument 0:
 * check the transaction, make the call's memory context, switch to the
 * extension owner, connect to SPI and lock the stream.
 *
 * The stream's row lock makes calls on one stream run one at a time.  It
 * needs READ COMMITTED: a call that waited for another must see what that
 * one committed, which a transaction snapshot taken earlier would not.
 */
void
call_begin(Call *call, FunctionCallInfo fcinfo)
{
	Oid			caller = GetUserId();
	char	   *name;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("stream must not be NULL")));
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("sessionize needs READ COMMITTED isolation"),
				 errdetail("Calls on a stream wait for each other and must see what the previous call committed."),
				 errhint("Call it in a READ COMMITTED transaction, the default.")));

	memset(call, 0, sizeof(Call));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	call->cxt = AllocSetContextCreate(CurrentMemoryContext, "sessionize call",
									  ALLOCSET_DEFAULT_SIZES);
	call->caller_cxt = MemoryContextSwitchTo(call->cxt);
	owner_switch_begin(&call->saved_user, &call->saved_context);
	SPI_connect();
	MemoryContextSwitchTo(call->cxt);
	call->stream = stream_lock(name, true, caller);
}

/*
 * call_end: finish a call: save the stream's counters and clock (when
 * changed), return the finished sessions and append them to the sink as
 * the caller, and free the call's memory.
 */
void
call_end(Call *call, FunctionCallInfo fcinfo, bool changed)
{
	if (changed)
		stream_save(call->stream, &call->delta);
	owner_switch_end(call->saved_user, call->saved_context);
	emit_finished(fcinfo, call->stream, &call->finished);
	SPI_finish();
	MemoryContextSwitchTo(call->caller_cxt);
	ereport(DEBUG1,
			(errmsg_internal("sessionize: call on stream \"%s\": %lld events, %d sessions finished, %zu kB of call memory",
							 call->stream->name, (long long) call->delta.events_in,
							 call->finished.count,
							 MemoryContextMemAllocated(call->cxt, true) / 1024)));
	MemoryContextDelete(call->cxt);
}

/*
 * watermark_minus_lateness: ts - lateness, not before the first instant
 * timestamptz holds.
 */
TimestampTz
watermark_minus_lateness(Stream *stream, TimestampTz ts)
{
	TimestampTz result;

	if (pg_sub_s64_overflow(ts, stream->lateness, &result) || result < MIN_TIMESTAMP)
		return MIN_TIMESTAMP;
	return result;
}

/*
 * advance_watermark: move the stream's clock to ts if that is later.
 */
void
advance_watermark(Stream *stream, TimestampTz ts)
{
	if (!stream->has_watermark || ts > stream->watermark)
	{
		stream->watermark = ts;
		stream->has_watermark = true;
	}
}

/*
 * cmp_events: order events by key, then ts, then arrival.
 */
static int
cmp_events(const void *a, const void *b, void *arg)
{
	const SessEvent *ea = a;
	const SessEvent *eb = b;
	int			c = stream_key_cmp((Stream *) arg, ea->key, eb->key);

	if (c != 0)
		return c;
	if (ea->ts != eb->ts)
		return ea->ts < eb->ts ? -1 : 1;
	return ea->ordinal < eb->ordinal ? -1 : (ea->ordinal > eb->ordinal);
}

/*
 * apply_events: apply a decoded batch to the call's stream: advance the
 * clock, fold each key's events into its session, time out what the
 * clock closes.  The cost is in the keys the batch touches and the
 * sessions that finish.
 */
static void
apply_events(Call *call, SessEvent *events, int n)
{
	Stream	   *stream = call->stream;
	StateTable *st;
	TimestampTz newest = DT_NOBEGIN;
	int			i;
	int			j;

	call->delta.batches++;
	call->delta.events_in += n;
	for (i = 0; i < n; i++)
	{
		if (stream->has_watermark && events[i].ts < stream->watermark)
			call->delta.late_events++;
		newest = Max(newest, events[i].ts);
	}
	if (n > 0)
		advance_watermark(stream, watermark_minus_lateness(stream, newest));

	qsort_arg(events, n, sizeof(SessEvent), cmp_events, stream);

	st = state_open(stream);
	for (i = 0; i < n; i = j)
	{
		Datum		key = events[i].key;
		ItemPointerData tid;
		Session    *s;

		CHECK_FOR_INTERRUPTS();
		for (j = i + 1; j < n && stream_key_cmp(stream, key, events[j].key) == 0; j++)
			;
		s = state_fetch(st, key, &tid);
		rules_apply(&stream->rules, key, &s, &events[i], j - i,
					&call->finished, &call->delta);
		if (s != NULL && rules_timed_out(&stream->rules, s, stream->watermark))
		{
			finished_add(&call->finished, key, s, END_GAP, &call->delta);
			s = NULL;
		}
		state_store(st, key, &tid, s);
	}
	if (stream->rules.gap > 0 && stream->has_watermark)
		state_expire(st, stream->watermark, &call->finished, &call->delta);
	state_close(st);
}

/*
 * Decoders of the batch forms: the events of a call's batch arguments, in
 * batch order, in CurrentMemoryContext.
 */
typedef SessEvent *(*BatchDecoder) (Stream *stream, FunctionCallInfo fcinfo,
									int *nevents);

/*
 * run_batch: the frame of every batch form.  Arguments source_arg and
 * source_arg + 1 are source and batch_offset: with both, a batch at or
 * before the offset committed for source is skipped whole (before it is
 * even decoded), and a batch applied records its offset in the same
 * transaction.
 */
static Datum
run_batch(FunctionCallInfo fcinfo, int source_arg, BatchDecoder decode)
{
	Call		call;
	char	   *source = NULL;
	int64		offset = 0;
	SessEvent  *events;
	int			n;

	if (PG_ARGISNULL(source_arg) != PG_ARGISNULL(source_arg + 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("source and batch_offset must be given together"),
				 errhint("Give both for exactly-once delivery, or neither.")));

	call_begin(&call, fcinfo);
	if (!PG_ARGISNULL(source_arg))
	{
		source = text_to_cstring(PG_GETARG_TEXT_PP(source_arg));
		offset = PG_GETARG_INT64(source_arg + 1);
		if (!offset_check(call.stream, source, offset))
		{
			call_end(&call, fcinfo, false);
			return (Datum) 0;
		}
	}

	events = decode(call.stream, fcinfo, &n);
	apply_events(&call, events, n);
	if (source != NULL)
		offset_record(call.stream, source, offset);
	call_end(&call, fcinfo, true);
	return (Datum) 0;
}

/*
 * decode_json_arg: the JSON form's decoder (argument 1, events jsonb).
 */
static SessEvent *
decode_json_arg(Stream *stream, FunctionCallInfo fcinfo, int *nevents)
{
	return batch_decode_json(stream, PG_GETARG_JSONB_P(1), nevents);
}

/*
 * sessionize_batch_json: sessionize_batch(stream, events jsonb, source,
 * batch_offset): apply a JSON batch and return the sessions it finished.
 */
Datum
sessionize_batch_json(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("events must not be NULL"),
				 errhint("Pass '[]' for a batch with no events.")));
	return run_batch(fcinfo, 2, decode_json_arg);
}

/*
 * decode_arrays_arg: the typed form's decoder (arguments 1-4).
 */
static SessEvent *
decode_arrays_arg(Stream *stream, FunctionCallInfo fcinfo, int *nevents)
{
	return batch_decode_arrays(stream,
							   PG_GETARG_ARRAYTYPE_P(1),
							   PG_GETARG_ARRAYTYPE_P(2),
							   PG_ARGISNULL(3) ? NULL : PG_GETARG_ARRAYTYPE_P(3),
							   PG_GETARG_ARRAYTYPE_P(4),
							   nevents);
}

/*
 * sessionize_batch_arrays: sessionize_batch(stream, keys anyarray,
 * ts timestamptz[], is_last boolean[], payloads jsonb[], source,
 * batch_offset): the typed form, for drivers that bind arrays.  The same
 * rules, offsets and results as the JSON form; nothing is parsed.
 */
Datum
sessionize_batch_arrays(PG_FUNCTION_ARGS)
{
	static const char *const required[] = {NULL, "keys", "ts", NULL, "payloads"};
	int			i;

	for (i = 1; i < lengthof(required); i++)
		if (required[i] != NULL && PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not be NULL", required[i]),
					 errhint("Pass empty arrays for a batch with no events.")));
	return run_batch(fcinfo, 5, decode_arrays_arg);
}
