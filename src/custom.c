/*-------------------------------------------------------------------------
 *
 * custom.c
 *	  Custom state: Spark's updateStateByKey / mapWithState.  A stream
 *	  created with an update_function keeps, per key, whatever jsonb state
 *	  that function returns, instead of sessions built by the rules.
 *
 * For each key a batch touches, the function gets the key (as text), the
 * key's new events (a jsonb array of payloads, in ts order), the current
 * state (NULL for a new key) and timed_out = false, and returns a
 * sessionize.state_update: the new state (NULL removes it) and an output
 * (NULL for none) that the call returns with end_reason 'output'; or a
 * sessionize.state_outputs: the new state and an array of outputs, each a
 * row (mapWithState's output per record; a NULL element is none).  When
 * the clock times a state out (no event for gap) the function is offered
 * it once more, with no events and timed_out = true, and the state is
 * removed whatever it returns; flush() does the same for every state.
 * Those outputs come with end_reason 'gap' or 'flush'.
 *
 * The state row keeps the first and last event times and the number of
 * events folded into the state, for the clock and the result rows; its
 * events column holds the state.  The function runs as the caller, never
 * as the extension's owner.
 *
 *-------------------------------------------------------------------------
 */
#include "sessionize.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"

/* What the update function returned: the new state and its outputs. */
typedef struct UpdateResult
{
	Jsonb	   *state;			/* NULL: the state ends */
	int			noutputs;
	Jsonb	  **outputs;
} UpdateResult;

/*
 * UpdateCallContext: the call of the update function under way, for the
 * context line of an error it raises: which stream's function, for which
 * key.
 */
typedef struct UpdateCallContext
{
	const char *stream;
	const char *key;			/* as the function gets it */
} UpdateCallContext;

/* The longest key an error context line shows whole, in bytes (as COPY's). */
#define CONTEXT_KEY_MAX 100

static void
update_error_context(void *arg)
{
	UpdateCallContext *c = arg;
	int			len = strlen(c->key);

	if (len > CONTEXT_KEY_MAX)
		errcontext("update function of stream \"%s\", for key \"%.*s...\"",
				   c->stream, pg_mbcliplen(c->key, len, CONTEXT_KEY_MAX), c->key);
	else
		errcontext("update function of stream \"%s\", for key \"%s\"", c->stream, c->key);
}

/*
 * call_update: call the stream's update function (as the caller, as the
 * whole call runs); what it returned goes to *out (no state and no
 * output when it returned NULL).  An error it raises says, in its context,
 * for which key it was called.
 */
static void
call_update(Stream *stream, Datum key, Jsonb *events, Jsonb *state,
			bool timed_out, UpdateResult *out)
{
	LOCAL_FCINFO(fcinfo, 4);
	Datum		result;
	HeapTupleHeader update;
	bool		isnull;
	Datum		field;
	UpdateCallContext context;
	ErrorContextCallback errcb;

	context.stream = stream->name;
	context.key = OutputFunctionCall(&stream->key_output, key);
	errcb.callback = update_error_context;
	errcb.arg = &context;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;

	InitFunctionCallInfoData(*fcinfo, &stream->update_finfo, 4, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = CStringGetTextDatum(context.key);
	fcinfo->args[0].isnull = false;
	fcinfo->args[1].value = JsonbPGetDatum(events);
	fcinfo->args[1].isnull = false;
	fcinfo->args[2].value = state != NULL ? JsonbPGetDatum(state) : (Datum) 0;
	fcinfo->args[2].isnull = state == NULL;
	fcinfo->args[3].value = BoolGetDatum(timed_out);
	fcinfo->args[3].isnull = false;

	result = FunctionCallInvoke(fcinfo);
	error_context_stack = errcb.previous;

	out->state = NULL;
	out->noutputs = 0;
	out->outputs = NULL;
	if (fcinfo->isnull)
		return;
	update = DatumGetHeapTupleHeader(result);
	field = GetAttributeByNum(update, 1, &isnull);
	if (!isnull)
		out->state = DatumGetJsonbPCopy(field);
	field = GetAttributeByNum(update, 2, &isnull);
	if (isnull)
		return;
	if (!stream->update_outputs)
	{
		/* state_update: one output, whatever it is (an array too) */
		out->outputs = palloc(sizeof(Jsonb *));
		out->outputs[out->noutputs++] = DatumGetJsonbPCopy(field);
	}
	else
	{
		/* state_outputs: each element of the array is an output */
		ArrayType  *array = DatumGetArrayTypeP(field);
		Datum	   *elems;
		bool	   *nulls;
		int			n;
		int			i;

		deconstruct_array(array, JSONBOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
		out->outputs = palloc(sizeof(Jsonb *) * Max(n, 1));
		for (i = 0; i < n; i++)
			if (!nulls[i])
				out->outputs[out->noutputs++] = DatumGetJsonbPCopy(elems[i]);
	}
}

/*
 * add_outputs: the function's outputs, as result rows with reason.
 */
static void
add_outputs(Datum key, const UpdateResult *result, EndReason reason, TimestampTz first_ts,
			TimestampTz last_ts, int32 count, FinishedList *finished, StreamDelta *delta)
{
	int			i;

	for (i = 0; i < result->noutputs; i++)
	{
		delta->outputs++;
		finished_add_output(finished, key, result->outputs[i], reason, first_ts,
							last_ts, count);
	}
}

/*
 * empty_events: the jsonb array [], the events of a timeout call.
 */
static Jsonb *
empty_events(void)
{
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("[]")));
}

/* What a state row holds besides the key. */
typedef struct StateRowData
{
	TimestampTz first_ts;		/* first and last event folded in */
	TimestampTz last_ts;
	int32		count;			/* events folded in */
	Jsonb	   *state;			/* the function's state, copied */
} StateRowData;

/*
 * read_state_row: the state row in slot.
 */
static void
read_state_row(TupleTableSlot *slot, StateRowData *row)
{
	bool		isnull;

	row->first_ts = DatumGetTimestampTz(slot_getattr(slot, ST_FIRST_TS, &isnull));
	row->last_ts = DatumGetTimestampTz(slot_getattr(slot, ST_LAST_TS, &isnull));
	row->count = DatumGetInt32(slot_getattr(slot, ST_EVENT_COUNT, &isnull));
	row->state = DatumGetJsonbPCopy(slot_getattr(slot, ST_EVENTS, &isnull));
}

/*
 * end_state: the clock or flush() ends key's state: offer it to the update
 * function once more (no events, timed_out), keep its output for reason,
 * and count the end.  The caller removes the row, if there is one.
 */
static void
end_state(Stream *stream, Datum key, const StateRowData *row, EndReason reason,
		  FinishedList *finished, StreamDelta *delta)
{
	UpdateResult result;

	call_update(stream, key, empty_events(), row->state, true, &result);
	add_outputs(key, &result, reason, row->first_ts, row->last_ts, row->count,
				finished, delta);
	delta->closed[reason]++;
}

/*
 * custom_apply_key: fold one key's new events (in ts order) into its
 * state with the update function.  A state the clock has already passed
 * (last event + gap <= watermark) is then timed out at once, as a session
 * would be.
 */
void
custom_apply_key(StateTable *st, Datum key, const SessEvent *events, int nevents,
				 FinishedList *finished, StreamDelta *delta)
{
	Stream	   *stream = state_stream(st);
	ItemPointerData tid;
	TupleTableSlot *slot = state_fetch_slot(st, key, &tid);
	StateRowData row = {events[0].ts, events[nevents - 1].ts, nevents, NULL};
	UpdateResult result;
	Session    *batch = session_alloc(nevents);
	int			i;

	if (slot != NULL)
	{
		StateRowData stored;

		read_state_row(slot, &stored);
		row.first_ts = Min(row.first_ts, stored.first_ts);
		row.last_ts = Max(row.last_ts, stored.last_ts);
		row.count += stored.count;
		row.state = stored.state;
	}

	/* The key's events as a jsonb array, built as a session's are. */
	for (i = 0; i < nevents; i++)
	{
		batch->ts[i] = events[i].ts;
		batch->payload[i] = events[i].payload;
		batch->payload_len[i] = events[i].payload_len;
	}
	batch->nevents = nevents;

	call_update(stream, key, session_events_jsonb(batch), row.state, false, &result);
	row.state = result.state;
	add_outputs(key, &result, END_OUTPUT, row.first_ts, row.last_ts, row.count,
				finished, delta);

	if (row.state == NULL)
	{
		/* The function ended the state (Spark: it returned None). */
		if (slot != NULL)
		{
			state_delete(st, &tid);
			delta->closed[END_LAST]++;
		}
		return;
	}
	if (slot == NULL)
		delta->opened++;

	if (rules_timed_out(&stream->rules, row.last_ts, stream->watermark))
	{
		end_state(stream, key, &row, END_GAP, finished, delta);
		if (slot != NULL)
			state_delete(st, &tid);
		return;
	}

	state_write(st, key, &tid, row.first_ts, row.last_ts, row.count,
				construct_empty_array(TIMESTAMPTZOID), row.state, 0);
}

/*
 * custom_finish_row: the clock or flush() ends the state in slot; see
 * end_state.  The row is removed whatever the function returns.
 */
void
custom_finish_row(StateTable *st, TupleTableSlot *slot, EndReason reason,
				  FinishedList *finished, StreamDelta *delta)
{
	Stream	   *stream = state_stream(st);
	bool		isnull;
	Datum		key = datumCopy(slot_getattr(slot, ST_KEY, &isnull),
								stream->key_typbyval, stream->key_typlen);
	ItemPointerData tid = slot->tts_tid;
	StateRowData row;

	read_state_row(slot, &row);
	end_state(stream, key, &row, reason, finished, delta);
	state_delete(st, &tid);
}
