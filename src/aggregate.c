/*-------------------------------------------------------------------------
 *
 * aggregate.c
 *	  sessionize.sessions(): one key's events in, its sessions out, for
 *	  backfill in plain SQL (GROUP BY key), with the rules of a stream.
 *
 * The transition function only collects the events; the final function
 * sorts them by ts (ties in input order, or by the optional argument
 * tiebreak, then input order) and runs rules_apply(), the same code a
 * stream runs, over them.  tiebreak spares a backfill the ORDER BY inside
 * the call that ties would otherwise need: PostgreSQL 15 sorts each
 * group's input for it, a second sort of every event after the one by
 * key (on a million events over 50,000 keys the call took twice as long).  The session still open at the end of
 * the key's events ends with reason flush, as flush() would end it.
 *
 *-------------------------------------------------------------------------
 */
#include "sessionize.h"

#include "access/detoast.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/typcache.h"

PG_FUNCTION_INFO_V1(sessionize_sessions_add);
PG_FUNCTION_INFO_V1(sessionize_sessions_final);

/* Arguments of the transition function, after the state. */
enum
{
	AGG_TS = 1, AGG_IS_LAST, AGG_PAYLOAD, AGG_GAP, AGG_MAX_DURATION, AGG_MAX_EVENTS,
	AGG_TIEBREAK
};

/*
 * One event as the transition function keeps it: its ts, is_last, and
 * its payload in the state's arena.  Compact, since a backfill holds every
 * event of every key until the final functions run; the final function
 * makes SessEvents of them for the rules.
 */
typedef struct KeptEvent
{
	TimestampTz ts;
	int64		tiebreak;		/* the argument, or INT64_MAX for NULL or none */
	const char *payload;		/* in a block of the arena */
	int32		payload_len;
	bool		is_last;
} KeptEvent;

/*
 * The transition state: the settings and the events so far.  The payloads
 * are copied into the arena, a chain of blocks that are never moved (each
 * payload 4-byte aligned, as a jsonb container must be): a payload is
 * copied once, where a growing arena would copy it again at each doubling.
 */
typedef struct SessionsState
{
	SessRules	rules;
	int			nevents;
	int			capacity;
	bool		has_tiebreak;	/* the call passes tiebreak */
	KeptEvent  *events;
	char	   *block;			/* the arena's current block */
	Size		block_used;
	Size		block_size;
} SessionsState;

/*
 * A group starts small (most keys of a backfill have few events, and a
 * million-event backfill may have a hundred thousand keys), then doubles.
 * Its state, its first EVENTS_INITIAL events and its arena's first block
 * are one allocation of GROUP_FIRST_ALLOC bytes (a power of two, as
 * AllocSet rounds small requests up to one).
 */
#define EVENTS_INITIAL 4
#define GROUP_FIRST_ALLOC 512
#define ARENA_BLOCK_MAX (8 * 1024)	/* the largest block AllocSet takes from its own blocks */

typedef struct SessionsGroup
{
	SessionsState state;
	KeptEvent	events[EVENTS_INITIAL];
	/* the arena's first block: the rest of the allocation */
} SessionsGroup;

#define GROUP_FIRST_BLOCK (GROUP_FIRST_ALLOC - MAXALIGN(sizeof(SessionsGroup)))

/*
 * sessions_state_new: the state for a group, its settings checked as
 * create_stream checks them.
 */
static SessionsState *
sessions_state_new(FunctionCallInfo fcinfo)
{
	SessionsGroup *group = palloc(GROUP_FIRST_ALLOC);
	SessionsState *state = &group->state;

	memset(state, 0, sizeof(SessionsState));

	if (check_positive_duration(fcinfo, AGG_GAP, "gap"))
		state->rules.gap = interval_usecs(PG_GETARG_INTERVAL_P(AGG_GAP), "gap");
	if (PG_NARGS() > AGG_MAX_EVENTS)
	{
		if (check_positive_duration(fcinfo, AGG_MAX_DURATION, "max_duration"))
			state->rules.max_duration =
				interval_usecs(PG_GETARG_INTERVAL_P(AGG_MAX_DURATION), "max_duration");
		if (!PG_ARGISNULL(AGG_MAX_EVENTS))
		{
			if (PG_GETARG_INT32(AGG_MAX_EVENTS) < 1)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("max_events must be at least 1"),
						 errhint("Pass NULL for no limit.")));
			state->rules.max_events = PG_GETARG_INT32(AGG_MAX_EVENTS);
		}
	}
	state->has_tiebreak = PG_NARGS() > AGG_TIEBREAK;
	state->capacity = EVENTS_INITIAL;
	state->events = group->events;
	state->block_size = GROUP_FIRST_BLOCK;
	state->block = (char *) group + MAXALIGN(sizeof(SessionsGroup));
	return state;
}

/*
 * keep_payload: copy a jsonb payload's container into the state's arena
 * and return where it is; the length goes to *len.  A payload stored
 * inline (the common case) is read where it is, without a detoasted copy.
 * A payload that does not fit in the current block starts a new one,
 * the next power of two up to ARENA_BLOCK_MAX (or the payload's size).
 */
static const char *
keep_payload(SessionsState *state, Datum payload, int32 *len, MemoryContext tmpcxt)
{
	struct varlena *v = (struct varlena *) DatumGetPointer(payload);
	const char *data;
	uint32		header;
	Size		at;
	char	   *kept;

	if (VARATT_IS_EXTENDED(v) && !VARATT_IS_SHORT(v))
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(tmpcxt);

		v = detoast_attr(v);
		MemoryContextSwitchTo(oldcxt);
	}
	if (VARATT_IS_SHORT(v))
	{
		data = VARDATA_SHORT(v);
		*len = VARSIZE_SHORT(v) - VARHDRSZ_SHORT;
	}
	else
	{
		data = VARDATA(v);
		*len = VARSIZE(v) - VARHDRSZ;
	}
	memcpy(&header, data, sizeof(header));	/* data may be unaligned */
	if (!(header & JB_FOBJECT))
		ereport(ERROR,
				(errcode(ERRCODE_SQL_JSON_OBJECT_NOT_FOUND),
				 errmsg("payload of event %d of the group is a JSON %s, not an object",
						state->nevents,
						jsonb_type_name(&DatumGetJsonbP(payload)->root)),
				 errhint(EVENT_OBJECT_HINT)));

	at = INTALIGN(state->block_used);
	if (at + *len > state->block_size)
	{
		/* a power of two, twice the last, as AllocSet would round it up to one */
		state->block_size = Max(Min(pg_nextpower2_size_t(state->block_size + 1), ARENA_BLOCK_MAX),
								INTALIGN(*len));
		state->block = palloc(state->block_size);
		at = 0;
	}
	kept = state->block + at;
	memcpy(kept, data, *len);
	state->block_used = at + *len;
	return kept;
}

/*
 * sessionize_sessions_add: the transition function: keep one event.  The
 * settings are read from the group's first row.
 */
Datum
sessionize_sessions_add(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	MemoryContext oldcxt;
	SessionsState *state;
	KeptEvent  *e;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "sessionize_sessions_add called in non-aggregate context");

	oldcxt = MemoryContextSwitchTo(aggcxt);
	if (PG_ARGISNULL(0))
		state = sessions_state_new(fcinfo);
	else
		state = (SessionsState *) PG_GETARG_POINTER(0);

	if (PG_ARGISNULL(AGG_TS))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("ts of event %d of the group is NULL", state->nevents),
				 errhint("Filter the events, e.g. WHERE ts IS NOT NULL.")));
	if (PG_ARGISNULL(AGG_PAYLOAD))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("payload of event %d of the group is NULL", state->nevents),
				 errhint("Pass the whole event as a JSON object, e.g. to_jsonb(t).")));
	if (TIMESTAMP_NOT_FINITE(PG_GETARG_TIMESTAMPTZ(AGG_TS)))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("ts of event %d of the group is not a finite instant",
						state->nevents)));
	if (state->nevents == state->capacity)
	{
		KeptEvent  *first = ((SessionsGroup *) state)->events;

		state->capacity *= 2;
		if (state->events == first)
		{
			/* out of the group's first allocation, which stays */
			state->events = palloc(sizeof(KeptEvent) * state->capacity);
			memcpy(state->events, first, sizeof(KeptEvent) * EVENTS_INITIAL);
		}
		else
			state->events = repalloc_huge(state->events, sizeof(KeptEvent) * state->capacity);
	}
	e = &state->events[state->nevents];
	e->payload = keep_payload(state, PG_GETARG_DATUM(AGG_PAYLOAD), &e->payload_len, oldcxt);
	e->ts = PG_GETARG_TIMESTAMPTZ(AGG_TS);
	e->is_last = !PG_ARGISNULL(AGG_IS_LAST) && PG_GETARG_BOOL(AGG_IS_LAST);
	e->tiebreak = PG_NARGS() > AGG_TIEBREAK && !PG_ARGISNULL(AGG_TIEBREAK) ?
		PG_GETARG_INT64(AGG_TIEBREAK) : PG_INT64_MAX;
	state->nevents++;

	MemoryContextSwitchTo(oldcxt);
	PG_RETURN_POINTER(state);
}

/*
 * kept_to_event: a kept event as the rules take it, with ordinal (its
 * position among the key's events: ties in ts keep it).
 */
static void
kept_to_event(const KeptEvent *k, int ordinal, SessEvent *e)
{
	e->key = (Datum) 0;
	e->ts = k->ts;
	e->is_last = k->is_last;
	e->ordinal = ordinal;
	e->payload = (JsonbContainer *) k->payload;
	e->payload_len = k->payload_len;
}

/*
 * cmp_kept_tiebreak: qsort order of pointers to kept events: ts, then
 * tiebreak (NULL last), then input order (their addresses: the events are
 * kept in one array, in input order).
 */
static int
cmp_kept_tiebreak(const void *a, const void *b)
{
	const KeptEvent *ka = *(KeptEvent *const *) a;
	const KeptEvent *kb = *(KeptEvent *const *) b;

	if (ka->ts != kb->ts)
		return ka->ts < kb->ts ? -1 : 1;
	if (ka->tiebreak != kb->tiebreak)
		return ka->tiebreak < kb->tiebreak ? -1 : 1;
	return ka < kb ? -1 : (ka > kb);
}

/* The attributes of sessionize.session, in order (see check_session_type). */
enum
{
	SS_START, SS_END, SS_EVENT_COUNT, SS_END_REASON, SS_EVENTS, SS_NATTS
};

/*
 * What the final function makes once per query, in its fn_extra: the row
 * type, and the header of its rows (see sessions_array).
 */
typedef struct SessionsOut
{
	TupleDesc	desc;
	HeapTupleHeader template;
} SessionsOut;

/*
 * sessions_array: the finished sessions as an array of desc's row type
 * (session_start, session_end, event_count, end_reason, events).
 *
 * A backfill's final functions write every payload out again, so the
 * array is written in place, once: each row goes straight into the
 * array's memory, its values laid out by heap_fill_tuple, and each
 * session's events are assembled in one buffer, reused from session to
 * session, that heap_fill_tuple copies from.  Forming each row and then
 * construct_array() would take two more copies of the payloads, in memory
 * touched for the first time: page faults, on a key with many events.
 *
 * The header of each row is copied from a row that heap_form_tuple
 * formed: the server marks a composite datum's header with what its row
 * type is, and how has changed within minor releases (a datum marked
 * otherwise is refused: "row type of datum tuple was altered").  Only the
 * length differs from row to row; heap_fill_tuple sets the flags.
 */
static ArrayType *
sessions_array(FinishedList *finished, TupleDesc desc, HeapTupleHeader template)
{
	int			n = finished->count;
	Size	   *data_len = palloc(sizeof(Size) * Max(n, 1));
	Size	   *events_size = palloc(sizeof(Size) * Max(n, 1));
	Datum		reasons[END_NNAMES] = {0};	/* the reasons' texts, made once */
	Size		hoff = template->t_hoff;
	Size		nbytes = ARR_OVERHEAD_NONULLS(1);
	Size		events_max = 0;
	char	   *events = NULL;
	ArrayType  *array;
	char	   *p;
	int			dims[1] = {n};
	int			lbs[1] = {1};
	Datum		values[SS_NATTS];
	bool		nulls[SS_NATTS] = {0};
	varattrib_4b events_header;	/* the events, sized: a header alone */
	int			i;

	/*
	 * The size of each row.  heap_compute_data_size reads no more of a
	 * varlena than its header, so the events are sized by a header alone.
	 */
	for (i = 0; i < n; i++)
	{
		Finished   *f = &finished->items[i];

		events_size[i] = session_events_jsonb_size(f->session);
		if (reasons[f->reason] == (Datum) 0)
			reasons[f->reason] = CStringGetTextDatum(end_reason_names[f->reason]);
		SET_VARSIZE(&events_header, events_size[i]);
		values[SS_START] = TimestampTzGetDatum(f->first_ts);
		values[SS_END] = TimestampTzGetDatum(f->last_ts);
		values[SS_EVENT_COUNT] = Int32GetDatum(f->nevents);
		values[SS_END_REASON] = reasons[f->reason];
		values[SS_EVENTS] = PointerGetDatum(&events_header);
		data_len[i] = heap_compute_data_size(desc, values, nulls);
		nbytes = MAXALIGN(nbytes) + hoff + data_len[i];
		events_max = Max(events_max, events_size[i]);
		if (!AllocSizeIsValid(nbytes))
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("the sessions of a key take more than %d bytes",
							(int) MaxAllocSize),
					 errhint("Set max_events or max_duration to bound sessions, or split the key's events.")));
	}

	array = palloc0(nbytes);
	SET_VARSIZE(array, nbytes);
	array->ndim = 1;
	array->dataoffset = 0;
	array->elemtype = desc->tdtypeid;
	memcpy(ARR_DIMS(array), dims, sizeof(dims));
	memcpy(ARR_LBOUND(array), lbs, sizeof(lbs));

	if (n > 0)
		events = palloc(events_max);
	p = ARR_DATA_PTR(array);
	for (i = 0; i < n; i++)
	{
		Finished   *f = &finished->items[i];
		HeapTupleHeader td = (HeapTupleHeader) p;

		session_events_jsonb_write(f->session, events, events_size[i]);
		values[SS_START] = TimestampTzGetDatum(f->first_ts);
		values[SS_END] = TimestampTzGetDatum(f->last_ts);
		values[SS_EVENT_COUNT] = Int32GetDatum(f->nevents);
		values[SS_END_REASON] = reasons[f->reason];
		values[SS_EVENTS] = PointerGetDatum(events);

		memcpy(td, template, hoff);
		HeapTupleHeaderSetDatumLength(td, hoff + data_len[i]);
		heap_fill_tuple(desc, values, nulls, (char *) td + hoff, data_len[i],
						&td->t_infomask, NULL);
		p += MAXALIGN(hoff + data_len[i]);
	}
	Assert(p == (char *) array + nbytes || n == 0);
	return array;
}

/*
 * check_session_type: the row type the final function writes is
 * sessionize.session as this version made it.  The type belongs to the
 * extension's owner, who could still alter it: its rows are laid out by
 * these types, so any other layout is an error, not a write past a
 * column.
 */
static void
check_session_type(TupleDesc desc)
{
	static const Oid types[SS_NATTS] = {TIMESTAMPTZOID, TIMESTAMPTZOID, INT4OID, TEXTOID, JSONBOID};
	int			i;

	if (desc->natts != lengthof(types))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("type sessionize.session has %d attributes, not the %d of this version of sessionize",
						desc->natts, (int) lengthof(types)),
				 errhint("The type belongs to the extension; it is not to be altered.")));
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped || att->atttypid != types[i])
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("attribute %d of type sessionize.session is %s, not %s",
							i + 1, att->attisdropped ? "dropped" : format_type_be(att->atttypid),
							format_type_be(types[i])),
					 errhint("The type belongs to the extension; it is not to be altered.")));
	}
}

/*
 * sessionize_sessions_final: the final function: the group's sessions, in
 * order, as an array of sessionize.session.  The state is left as it was
 * (the events are sorted in a copy), so it may be finalized again.
 */
Datum
sessionize_sessions_final(PG_FUNCTION_ARGS)
{
	SessionsState *state;
	SessionsOut *out;
	FinishedList finished = {0};
	StreamDelta delta = {0};
	Session    *open = NULL;
	SessEvent  *events;
	int			i;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	state = (SessionsState *) PG_GETARG_POINTER(0);

	events = palloc(sizeof(SessEvent) * Max(state->nevents, 1));
	if (state->has_tiebreak)
	{
		/* by ts, tiebreak, input order: the order the rules take them in */
		KeptEvent **order = palloc(sizeof(KeptEvent *) * Max(state->nevents, 1));

		for (i = 0; i < state->nevents; i++)
			order[i] = &state->events[i];
		qsort(order, state->nevents, sizeof(KeptEvent *), cmp_kept_tiebreak);
		for (i = 0; i < state->nevents; i++)
			kept_to_event(order[i], i, &events[i]);
		pfree(order);
	}
	else
	{
		for (i = 0; i < state->nevents; i++)
			kept_to_event(&state->events[i], i, &events[i]);
		qsort(events, state->nevents, sizeof(SessEvent), cmp_event_ts);
	}
	rules_apply(&state->rules, (Datum) 0, &open, events, state->nevents,
				&finished, &delta);
	if (open != NULL)
		finished_add(&finished, (Datum) 0, open, END_FLUSH, &delta);

	/* the row type and a row's header, made once for all the groups */
	out = fcinfo->flinfo->fn_extra;
	if (out == NULL)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
		Datum		values[SS_NATTS] = {0};
		bool		nulls[SS_NATTS] = {0};

		out = palloc(sizeof(SessionsOut));
		out->desc = lookup_rowtype_tupdesc_copy(get_element_type(get_fn_expr_rettype(fcinfo->flinfo)), -1);
		check_session_type(out->desc);
		/* of a row with no events */
		values[SS_END_REASON] = CStringGetTextDatum("");
		values[SS_EVENTS] = DirectFunctionCall1(jsonb_in, CStringGetDatum("[]"));
		out->template = heap_form_tuple(out->desc, values, nulls)->t_data;
		MemoryContextSwitchTo(oldcxt);
		fcinfo->flinfo->fn_extra = out;
	}
	PG_RETURN_ARRAYTYPE_P(sessions_array(&finished, out->desc, out->template));
}
