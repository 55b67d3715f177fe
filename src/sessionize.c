/*-------------------------------------------------------------------------
 *
 * sessionize.c
 *	  The module and the batch entry points: decode the events, group them
 *	  by key, and fold each key's events into its session with the rules,
 *	  in the frame of call.c.
 *
 *-------------------------------------------------------------------------
 */
#include "sessionize.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "common/int.h"
#include "miscadmin.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(sessionize_batch_json);
PG_FUNCTION_INFO_V1(sessionize_batch_arrays);
PG_FUNCTION_INFO_V1(sessionize_batch_query);

void		_PG_init(void);

static emit_log_hook_type prev_emit_log_hook = NULL;

/*
 * unknown_keys_hint: the hint of a driver's typed batch whose keys are of
 * type unknown (node-postgres sends every parameter so, psycopg a list of
 * str): the parser refuses them for the polymorphic keys argument before
 * the function runs, so the error is given its hint here, when the
 * statement calls sessionize_batch and the error has none.
 */
static void
unknown_keys_hint(ErrorData *edata)
{
	static const char polymorphic_unknown[] =
		"could not determine polymorphic type because input has type";

	if (edata->sqlerrcode == ERRCODE_DATATYPE_MISMATCH &&
		edata->hint == NULL && edata->message_id != NULL &&
		strncmp(edata->message_id, polymorphic_unknown, sizeof(polymorphic_unknown) - 1) == 0 &&
		debug_query_string != NULL && strstr(debug_query_string, "sessionize_batch") != NULL)
		edata->hint = pstrdup("The typed form of sessionize_batch needs keys of a known type: "
							  "cast the array to the stream's key type, e.g. $2::text[] or $2::bigint[].");
}

/*
 * The hints of a call of one of our functions that the parser finds no
 * function for ("function sessionize.create_stream(unknown, gap =>
 * integer) does not exist"): the arguments whose type has no overload.
 * An overload cannot be added for them without making the calls with an
 * untyped literal ambiguous (json beside jsonb) or resolve elsewhere (text
 * beside jsonb), or, for create_stream, whose arguments all have defaults,
 * without making every call ambiguous.
 */
static const struct
{
	const char *call;			/* the function's name and "(" */
	const char *hint;
}			call_hints[] = {
	{"create_stream(",
	"Check the argument names; durations (gap, max_duration, lateness, max_future) are intervals with a unit, e.g. gap => '30 minutes', not gap => 30."},
	{"alter_stream(",
	"The value is text read as the setting's type ('30 minutes'), or a number (smallint, integer, bigint), an interval, a timestamptz or a regclass: cast it to one of these."},
	{"sessionize_batch(",
	"The JSON form of sessionize_batch takes the events as jsonb: cast them, e.g. $2::jsonb; the typed form takes arrays: keys, ts timestamptz[], is_last boolean[], payloads jsonb[]."},
	{"open_sessions(",
	"open_sessions takes the stream's name as text, and optionally a key, of any type."},
};

/*
 * search_path_has_sessionize: whether the search_path names our schema,
 * so that a call of create_stream without a schema may be a call of ours.
 * Reads the setting's text only (no catalog access: an error is being
 * reported).
 */
static bool
search_path_has_sessionize(void)
{
	char	   *rawname;
	List	   *names;
	ListCell   *lc;
	bool		found = false;

	if (namespace_search_path == NULL)
		return false;
	rawname = pstrdup(namespace_search_path);
	if (!SplitIdentifierString(rawname, ',', &names))
		return false;
	foreach(lc, names)
	{
		if (strcmp((const char *) lfirst(lc), SESSIONIZE_SCHEMA) == 0)
			found = true;
	}
	return found;
}

/*
 * names_call: whether message names the call call ("create_stream("),
 * qualified by our schema, or alone when the search_path has our schema
 * (else it is a call of another schema's function of that name).
 */
static bool
names_call(const char *message, const char *call)
{
	static const char qualified[] = " " SESSIONIZE_SCHEMA ".";
	const char *at = strstr(message, call);

	if (at == NULL)
		return false;
	if (at == message || at[-1] == ' ')
		return search_path_has_sessionize();
	return at - message >= strlen(qualified) &&
		strncmp(at - strlen(qualified), qualified, strlen(qualified)) == 0;
}

/*
 * undefined_call_hint: the hint of the parser's error for a call of one of
 * ours that matches no function (see call_hints), in place of its general
 * one ("You might need to add explicit type casts.").
 */
static void
undefined_call_hint(ErrorData *edata)
{
	int			i;

	if (edata->sqlerrcode != ERRCODE_UNDEFINED_FUNCTION || edata->message_id == NULL ||
		strcmp(edata->message_id, "function %s does not exist") != 0 ||
		edata->message == NULL)
		return;
	for (i = 0; i < lengthof(call_hints); i++)
		if (names_call(edata->message, call_hints[i].call))
		{
			edata->hint = pstrdup(call_hints[i].hint);
			return;
		}
}

/*
 * sessionize_emit_log_hook: the hints the parser's errors about calls of
 * our functions lack (it raises them before any of our code runs).
 */
static void
sessionize_emit_log_hook(ErrorData *edata)
{
	if (edata->elevel >= ERROR)
	{
		unknown_keys_hint(edata);
		undefined_call_hint(edata);
	}
	if (prev_emit_log_hook != NULL)
		prev_emit_log_hook(edata);
}

/*
 * _PG_init: the module is loaded.
 */
void
_PG_init(void)
{
	call_init();
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = sessionize_emit_log_hook;
}

/* The events of one key in a batch: events[start .. start + count). */
typedef struct KeyGroup
{
	Datum		key;
	int			start;
	int			count;
} KeyGroup;

/*
 * cmp_events: order events by key, then ts, then arrival.
 */
static int
cmp_events(const void *a, const void *b, void *arg)
{
	const SessEvent *ea = a;
	const SessEvent *eb = b;
	int			c = stream_key_cmp((Stream *) arg, ea->key, eb->key);

	return c != 0 ? c : cmp_event_ts(a, b);
}

/*
 * cmp_group_keys: order groups, given by index into the KeyGroup array
 * arg[1], by key with the stream arg[0]'s btree order.
 */
static int
cmp_group_keys(const void *a, const void *b, void *arg)
{
	Stream	   *stream = ((void **) arg)[0];
	KeyGroup   *groups = ((void **) arg)[1];

	return stream_key_cmp(stream, groups[*(const int *) a].key,
						  groups[*(const int *) b].key);
}

/*
 * cmp_group_abbrev: cmp_group_keys by the keys' abbreviations in arg[2]
 * first (for text, their first bytes as an integer), with the sort
 * support arg[0], as tuplesort does: only keys whose abbreviations are
 * equal are compared whole.
 */
static int
cmp_group_abbrev(const void *a, const void *b, void *arg)
{
	SortSupport ssup = ((void **) arg)[0];
	KeyGroup   *groups = ((void **) arg)[1];
	Datum	   *abbrev = ((void **) arg)[2];
	int			ga = *(const int *) a;
	int			gb = *(const int *) b;
	int			c = ApplySortComparator(abbrev[ga], false, abbrev[gb], false, ssup);

	if (c != 0)
		return c;
	return ApplySortAbbrevFullComparator(groups[ga].key, false, groups[gb].key, false, ssup);
}

/*
 * group_by_sort: group_events for key types without a hash opclass: sort
 * every event by (key, ts, arrival).
 */
static SessEvent *
group_by_sort(Stream *stream, SessEvent *events, int n, KeyGroup *groups,
			  int *ngroups)
{
	int			i;
	int			g = -1;

	qsort_arg(events, n, sizeof(SessEvent), cmp_events, stream);
	for (i = 0; i < n; i++)
	{
		if (g < 0 || stream_key_cmp(stream, groups[g].key, events[i].key) != 0)
		{
			g++;
			groups[g].key = events[i].key;
			groups[g].start = i;
			groups[g].count = 0;
		}
		groups[g].count++;
	}
	*ngroups = g + 1;
	return events;
}

/*
 * group_events: the events of a batch grouped by key, the groups in key
 * order, each group's events in (ts, arrival) order.  Returns the events
 * rearranged and fills groups (room for n) and *ngroups.
 *
 * Keys are grouped with the key type's hash and equality functions (one
 * hash and about one comparison per event), and only the distinct keys
 * are sorted with its btree order; a group's events are sorted by ts only
 * when they did not come in ts order.  A key type without a hash opclass
 * has all events sorted instead.
 */
static SessEvent *
group_events(Stream *stream, SessEvent *events, int n, KeyGroup *groups,
			 int *ngroups)
{
	int			nslots = 16;
	int		   *slots;
	uint32	   *slot_hash;
	int		   *group_of;
	int		   *order;
	int		   *rank;
	int		   *filled;
	KeyGroup   *unsorted;
	SessEvent  *out;
	void	   *cmp_arg[3];
	SortSupportData abbrev_ssup = {0};
	int			ng = 0;
	int			i;
	int			g;

	if (!stream->key_hashable)
		return group_by_sort(stream, events, n, groups, ngroups);

	while (nslots < 2 * n)
		nslots *= 2;
	slots = palloc(sizeof(int) * nslots);
	memset(slots, -1, sizeof(int) * nslots);
	slot_hash = palloc(sizeof(uint32) * nslots);
	group_of = palloc(sizeof(int) * Max(n, 1));
	unsorted = palloc(sizeof(KeyGroup) * Max(n, 1));

	for (i = 0; i < n; i++)
	{
		Datum		key = events[i].key;
		uint32		h = DatumGetUInt32(FunctionCall1Coll(&stream->key_hash,
														 stream->key_collation, key));
		int			slot = h & (nslots - 1);

		for (;;)
		{
			g = slots[slot];
			if (g < 0)
			{
				g = ng++;
				slots[slot] = g;
				slot_hash[slot] = h;
				unsorted[g].key = key;
				unsorted[g].count = 0;
				break;
			}
			if (slot_hash[slot] == h &&
				DatumGetBool(FunctionCall2Coll(&stream->key_eq, stream->key_collation,
											   unsorted[g].key, key)))
				break;
			slot = (slot + 1) & (nslots - 1);
		}
		group_of[i] = g;
		unsorted[g].count++;
	}

	/* The distinct keys in key order, and where each group starts. */
	order = palloc(sizeof(int) * Max(ng, 1));
	for (g = 0; g < ng; g++)
		order[g] = g;
	abbrev_ssup.ssup_cxt = CurrentMemoryContext;
	abbrev_ssup.ssup_collation = stream->key_collation;
	abbrev_ssup.abbreviate = true;
	PrepareSortSupportFromOrderingOp(stream->key_lt, &abbrev_ssup);
	cmp_arg[1] = unsorted;
	if (abbrev_ssup.abbrev_converter != NULL)
	{
		Datum	   *abbrev = palloc(sizeof(Datum) * Max(ng, 1));

		for (g = 0; g < ng; g++)
			abbrev[g] = abbrev_ssup.abbrev_converter(unsorted[g].key, &abbrev_ssup);
		cmp_arg[0] = &abbrev_ssup;
		cmp_arg[2] = abbrev;
		qsort_arg(order, ng, sizeof(int), cmp_group_abbrev, cmp_arg);
	}
	else
	{
		cmp_arg[0] = stream;
		qsort_arg(order, ng, sizeof(int), cmp_group_keys, cmp_arg);
	}
	rank = palloc(sizeof(int) * Max(ng, 1));
	filled = palloc0(sizeof(int) * Max(ng, 1));
	for (g = 0, i = 0; g < ng; g++)
	{
		groups[g] = unsorted[order[g]];
		groups[g].start = i;
		i += groups[g].count;
		rank[order[g]] = g;
	}

	/* Each event to its group's place, in arrival order. */
	out = palloc(sizeof(SessEvent) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		KeyGroup   *kg = &groups[rank[group_of[i]]];

		out[kg->start + filled[rank[group_of[i]]]++] = events[i];
	}

	/* Within a key, ts order; arrival order breaks ties. */
	for (g = 0; g < ng; g++)
	{
		SessEvent  *e = &out[groups[g].start];

		for (i = 1; i < groups[g].count; i++)
			if (e[i].ts < e[i - 1].ts)
			{
				qsort(e, groups[g].count, sizeof(SessEvent), cmp_event_ts);
				break;
			}
	}

	*ngroups = ng;
	return out;
}

/*
 * apply_event_time: fold one key's events of a batch into its state in an
 * event-time stream (SPEC 8, see eventtime.c): an event older than the
 * watermark as it stood when the batch began (began, when had_watermark)
 * is late and comes out alone; the others join the key's open events, and
 * the sessions the watermark now makes final finish.
 */
static void
apply_event_time(Call *call, StateTable *st, Datum key, const SessEvent *events, int n,
				 bool had_watermark, TimestampTz began)
{
	Stream	   *stream = call->stream;
	ItemPointerData tid;
	Session    *s = state_fetch(st, key, &tid);
	int			before = et_count(&stream->rules, s);
	int			i;

	for (i = 0; i < n; i++)
	{
		if (had_watermark && events[i].ts < began)
		{
			Session    *late = session_alloc(1);

			session_add(late, events[i].ts, events[i].payload, events[i].payload_len, false);
			finished_add(&call->finished, key, late, END_LATE, &call->delta);
			continue;
		}
		if (s == NULL)
			s = et_state_new();
		et_insert(s, &events[i]);
	}
	(void) state_et_finish(st, key, &s, before, stream->watermark, false, &call->finished,
						   &call->delta);
	state_store(st, key, &tid, s);
}

/*
 * apply_events: apply a decoded batch to the call's stream: advance the
 * clock, fold each key's events into its session, time out what the
 * clock closes.  Needs sources_begin.  The cost is in the keys the batch
 * touches and the sessions that finish.
 */
static void
apply_events(Call *call, SessEvent *events, int n)
{
	Stream	   *stream = call->stream;
	StateTable *st;
	TimestampTz newest = DT_NOBEGIN;
	KeyGroup   *groups = palloc(sizeof(KeyGroup) * Max(n, 1));
	int			ngroups;
	int			i;
	/* the clock goes no further than now() + max_future (see clock_limit) */
	TimestampTz limit = clock_limit(stream);
	/* the clock as the batch began: event time's late events are older */
	bool		had_watermark = stream->has_watermark;
	TimestampTz began = stream->watermark;

	call->delta.batches++;
	call->delta.events_in += n;
	for (i = 0; i < n; i++)
	{
		if (stream->has_watermark && events[i].ts < stream->watermark)
			call->delta.late_events++;
		if (events[i].ts > limit)
		{
			/* kept, and under the rules as any other: it only stops the clock */
			call->delta.future_events++;
			newest = Max(newest, limit);
		}
		else
			newest = Max(newest, events[i].ts);
	}
	/* the clock of the batch's source, then the partition's (see offsets.c) */
	sources_clock(stream, n > 0, newest);

	events = group_events(stream, events, n, groups, &ngroups);

	st = state_open(stream);
	for (i = 0; i < ngroups; i++)
	{
		Datum		key = groups[i].key;
		ItemPointerData tid;
		Session    *s;
		Session    *stored;

		CHECK_FOR_INTERRUPTS();
		if (stream->event_time)
		{
			apply_event_time(call, st, key, &events[groups[i].start], groups[i].count,
							 had_watermark, began);
			continue;
		}
		if (OidIsValid(stream->update_fn))
		{
			custom_apply_key(st, key, &events[groups[i].start], groups[i].count,
							 &call->finished, &call->delta);
			continue;
		}
		s = stored = state_fetch(st, key, &tid);
		rules_apply(&stream->rules, key, &s, &events[groups[i].start],
					groups[i].count, &call->finished, &call->delta);
		if (s != NULL && rules_timed_out(&stream->rules, SESSION_LAST_TS(s), stream->watermark))
		{
			finished_add(&call->finished, key, s, END_GAP, &call->delta);
			s = NULL;
		}
		/* The stored session finished: its chunks' events are returned too. */
		if (stored != NULL && stored != s)
			state_take_chunks(st, key, stored);
		state_store(st, key, &tid, s);
	}
	if (stream->rules.gap > 0 && stream->has_watermark)
		state_expire(st, stream->watermark, &call->finished, &call->delta);
	state_close(st);
}

/*
 * Decoders of the batch forms: the events of a call's batch (arg: the
 * call's fcinfo, or the rows of an attached table), in batch order, in
 * CurrentMemoryContext.
 */
typedef SessEvent *(*BatchDecoder) (Call *call, void *arg, int *nevents);

static DeadLetterList *call_dead_letters(Call *call);

/*
 * batch_apply: decode a batch (times without an offset in the stream's
 * time zone), set its bad elements aside and apply the rest; a batch from
 * source records offset.
 */
static void
batch_apply(Call *call, BatchDecoder decode, void *arg, const char *source, int64 offset)
{
	SessEvent  *events;
	int			n;

	if (call->stream->time_zone != NULL)
	{
		int			nest = time_zone_set(call->stream->time_zone, "the time_zone of the stream");

		events = decode(call, arg, &n);
		time_zone_reset(nest);
	}
	else
		events = decode(call, arg, &n);
	if (call->dead.count > 0)
	{
		dead_letters_write(call->stream, &call->dead, source, offset);
		call->delta.dead_letters += call->dead.count;
	}
	apply_events(call, events, n);
	if (source != NULL)
		offset_record(call->stream, source, offset);
}

/*
 * The typed form's per-event offsets (its argument offsets, from 0.6 on):
 * each event's own offset in its source, increasing along the batch.  The
 * events at or before the source's committed offset are skipped, the rest
 * applied, and the batch's offset (batch_offset, or else its last event's)
 * committed: a feeder that resumes anywhere inside a batch it sent, or
 * sends a part of it (a proxy splitting a batch by key), applies each
 * event once.
 */
typedef struct EventOffsets
{
	int64	   *values;
	int			n;
} EventOffsets;

/*
 * event_offsets_read: the offsets argument, checked against the batch's
 * keys (argument 1): one per event, none NULL, each after the one before.
 */
static void
event_offsets_read(FunctionCallInfo fcinfo, int argno, EventOffsets *eo)
{
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(argno);
	ArrayType  *keys = PG_GETARG_ARRAYTYPE_P(1);
	int			nkeys = ArrayGetNItems(ARR_NDIM(keys), ARR_DIMS(keys));
	int			base = ARR_NDIM(arr) == 1 ? ARR_LBOUND(arr)[0] : 1;
	Datum	   *elems;
	bool	   *nulls;
	int			i;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("offsets must be a one-dimensional array")));
	deconstruct_array(arr, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &elems, &nulls, &eo->n);
	if (eo->n != nkeys)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg_plural("offsets has %d element, keys has %d",
							   "offsets has %d elements, keys has %d",
							   eo->n, eo->n, nkeys),
				 errhint("offsets gives each event its own offset in the source: element i is that of event i.")));
	eo->values = palloc(sizeof(int64) * Max(eo->n, 1));
	for (i = 0; i < eo->n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("offsets[%d] is NULL", base + i)));
		eo->values[i] = DatumGetInt64(elems[i]);
		if (i > 0 && eo->values[i] <= eo->values[i - 1])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("offsets[%d] (%lld) is not after offsets[%d] (%lld)",
							base + i, (long long) eo->values[i],
							base + i - 1, (long long) eo->values[i - 1]),
					 errhint("A batch's events are in the order of their offsets in the source, each offset once.")));
	}
}

/*
 * run_batch: the frame of every batch form.  Arguments source_arg and
 * source_arg + 1 are source and batch_offset: with both, a batch at or
 * before the offset committed for source is skipped whole (before it is
 * even decoded), and a batch applied records its offset in the same
 * transaction.  Argument source_arg + 2 is the partition, source_arg + 3
 * first_offset (see offset_check), source_arg + 4 the typed form's
 * offsets (see EventOffsets; offsets_arg false: the form has none).  A
 * skipped batch is counted.
 */
static Datum
run_batch(FunctionCallInfo fcinfo, int source_arg, BatchDecoder decode, bool offsets_arg)
{
	int32		part = partition_arg(fcinfo, source_arg + 2, NULL);
	bool		has_first = PG_NARGS() > source_arg + 3 && !PG_ARGISNULL(source_arg + 3);
	bool		has_event_offsets = offsets_arg && PG_NARGS() > source_arg + 4 &&
		!PG_ARGISNULL(source_arg + 4);
	EventOffsets eo = {NULL, 0};
	Call		call;
	char	   *source = NULL;
	int64		offset = 0;

	if (has_event_offsets)
	{
		if (PG_ARGISNULL(source_arg))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("offsets needs source"),
					 errhint("offsets are the events' offsets in a source; name it.")));
		if (has_first)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("first_offset and offsets cannot be given together"),
					 errhint("offsets gives each event's offset; leave first_offset NULL.")));
		event_offsets_read(fcinfo, source_arg + 4, &eo);
		if (PG_ARGISNULL(source_arg + 1) && eo.n == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a batch with no events and offsets needs batch_offset"),
					 errhint("batch_offset is the offset to commit for the source.")));
	}
	else if (PG_ARGISNULL(source_arg) != PG_ARGISNULL(source_arg + 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("source and batch_offset must be given together"),
				 errhint(offsets_arg ?
						 "Give both for exactly-once delivery, or neither; or give source and offsets." :
						 "Give both for exactly-once delivery, or neither.")));
	if (has_first && PG_ARGISNULL(source_arg))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("first_offset needs source and batch_offset"),
				 errhint("first_offset is the offset of the batch's first message from source.")));

	call_begin(&call, fcinfo);
	call_partition_begin(&call, part, false);
	if (!PG_ARGISNULL(source_arg))
	{
		source = text_to_cstring(PG_GETARG_TEXT_PP(source_arg));
		if (!PG_ARGISNULL(source_arg + 1))
			offset = PG_GETARG_INT64(source_arg + 1);
		else
			offset = eo.values[eo.n - 1];
		if (has_event_offsets && eo.n > 0 && offset < eo.values[eo.n - 1])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("batch_offset %lld is before the offset of the batch's last event, %lld",
							(long long) offset, (long long) eo.values[eo.n - 1]),
					 errhint("batch_offset is the last offset the batch covers; leave it NULL to commit the last event's.")));
	}
	sources_begin(call.stream, source);
	if (source != NULL)
	{
		if (!offset_check(call.stream, source, offset, has_first,
						  has_first ? PG_GETARG_INT64(source_arg + 3) : 0))
		{
			call.delta.batches_skipped++;
			call_partition_end(&call, true);
			call_end(&call, fcinfo);
			return (Datum) 0;
		}
		/* the events the source has committed: a prefix, the offsets increase */
		if (has_event_offsets && call.stream->sources.committed)
			while (call.first_event < eo.n &&
				   eo.values[call.first_event] <= call.stream->sources.committed_offset)
				call.first_event++;
	}

	batch_apply(&call, decode, fcinfo, source, offset);
	call_partition_end(&call, true);
	call_end(&call, fcinfo);
	return (Datum) 0;
}

/* The rows a statement added to an attached table (see attach.c). */
typedef struct AddedRows
{
	TupleDesc	desc;
	HeapTuple  *rows;
	int			n;
	const char *rows_of;
} AddedRows;

/*
 * decode_added_rows: an attached table's decoder.
 */
static SessEvent *
decode_added_rows(Call *call, void *arg, int *nevents)
{
	AddedRows  *added = arg;

	return batch_decode_rows(call->stream, added->desc, added->rows, added->n,
							 added->rows_of, call_dead_letters(call), nevents);
}

/*
 * sessionize_rows: apply rows[0 .. n) of desc, added to table (an
 * attached table), as one batch of partition part of stream name; the
 * sessions it finishes go to the stream's sink, which it must have.  Its
 * dead letters have source and batch_offset (see attach.c); it records no
 * offset.
 */
void
sessionize_rows(const char *name, int32 part, Oid table, TupleDesc desc,
				HeapTuple *rows, int n, const char *source, int64 batch_offset)
{
	AddedRows	added;
	Call		call;

	added.desc = desc;
	added.rows = rows;
	added.n = n;
	call_begin_stream(&call, name);
	call.dead.source = source;
	call.dead.batch_offset = batch_offset;
	if (!OidIsValid(call.stream->sink))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("stream \"%s\", attached to table %s, has no sink",
						name, get_rel_name(table)),
				 errdetail("The sessions of an attached table's rows go to the stream's sink."),
				 errhint("Give it one: SELECT sessionize.alter_stream(%s, 'sink', 'a_table').",
						 quote_literal_cstr(name))));
	added.rows_of = psprintf("the rows added to %s",
							 quote_identifier(get_rel_name(table)));
	call_partition_begin(&call, part, false);
	sources_begin(call.stream, NULL);
	batch_apply(&call, decode_added_rows, &added, NULL, 0);
	call_partition_end(&call, true);
	call_end(&call, NULL);
}

/*
 * call_dead_letters: where a call sets aside the bad elements of its
 * batch: NULL when the stream has no dead_letter table (they are errors).
 */
static DeadLetterList *
call_dead_letters(Call *call)
{
	return OidIsValid(call->stream->dead_letter) ? &call->dead : NULL;
}

/*
 * decode_json_arg: the JSON form's decoder (argument 1, events jsonb).
 */
static SessEvent *
decode_json_arg(Call *call, void *arg, int *nevents)
{
	FunctionCallInfo fcinfo = arg;

	return batch_decode_json(call->stream, PG_GETARG_JSONB_P(1), call_dead_letters(call),
							 nevents);
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
	return run_batch(fcinfo, 2, decode_json_arg, false);
}

/*
 * decode_arrays_arg: the typed form's decoder (arguments 1-4).
 */
static SessEvent *
decode_arrays_arg(Call *call, void *arg, int *nevents)
{
	FunctionCallInfo fcinfo = arg;

	return batch_decode_arrays(call->stream,
							   PG_GETARG_ARRAYTYPE_P(1),
							   PG_GETARG_ARRAYTYPE_P(2),
							   PG_ARGISNULL(3) ? NULL : PG_GETARG_ARRAYTYPE_P(3),
							   PG_GETARG_ARRAYTYPE_P(4), call->first_event,
							   call_dead_letters(call), nevents);
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
	return run_batch(fcinfo, 5, decode_arrays_arg, true);
}

/*
 * decode_query_arg: the query form's decoder (argument 1, query text).
 * The query is the caller's, run with the caller's privileges and
 * search_path, as the whole call is.
 */
static SessEvent *
decode_query_arg(Call *call, void *arg, int *nevents)
{
	FunctionCallInfo fcinfo = arg;

	/* params (argument 6, from 0.3 on): the values of $1 .. $n */
	Jsonb	   *params = PG_NARGS() > 6 && !PG_ARGISNULL(6) ? PG_GETARG_JSONB_P(6) : NULL;

	return batch_decode_query(call->stream, text_to_cstring(PG_GETARG_TEXT_PP(1)), params,
							  call_dead_letters(call), nevents);
}

/*
 * sessionize_batch_query: sessionize_query(stream, query text, source,
 * batch_offset): apply the rows of a query as one batch.
 */
Datum
sessionize_batch_query(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("query must not be NULL")));
	return run_batch(fcinfo, 2, decode_query_arg, false);
}
