/*-------------------------------------------------------------------------
 *
 * state.c
 *	  Reading and writing a stream's state table: one row per open session.
 *
 * A row holds the key, first_ts, last_ts, the timeout deadline
 * (last_ts + gap), the event count, the events' timestamps (timestamptz[])
 * and their payloads (a jsonb array), both in session order.
 *
 * This is the hot path, so it uses the heap and index access methods
 * directly rather than SPI: a key's session is one primary-key probe, and
 * the sessions the clock times out come from an index range scan on the
 * deadline.  The caller holds the stream's row lock, so nothing else
 * writes the table meanwhile; the snapshot is taken after that lock, so it
 * sees everything committed before.
 *
 *-------------------------------------------------------------------------
 */
#include "sessionize.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/nbtree.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/tuplestore.h"

struct StateTable
{
	Stream	   *stream;
	Relation	rel;
	int			nindexes;
	Relation   *indexes;
	IndexInfo **index_info;
	Relation	key_index;		/* the primary key */
	Relation	deadline_index;
	Snapshot	snapshot;
	IndexScanDesc key_scan;
	ScanKeyData key_skey;
	TupleTableSlot *slot;		/* for reading */
	TupleTableSlot *hslot;		/* for index entries of written tuples */
};

/*
 * take_snapshot: a snapshot that sees everything committed and everything
 * this transaction wrote so far.
 */
static Snapshot
take_snapshot(void)
{
	CommandCounterIncrement();
	return RegisterSnapshot(GetLatestSnapshot());
}

/*
 * state_open: open a stream's state table and its indexes for a call.
 */
StateTable *
state_open(Stream *stream)
{
	StateTable *st = palloc0(sizeof(StateTable));
	List	   *index_oids;
	ListCell   *lc;
	int			i = 0;
	Oid			eq_opr;

	st->stream = stream;
	st->rel = table_open(stream->state_relid, RowExclusiveLock);
	if (RelationGetDescr(st->rel)->natts != ST_NATTS)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the state table of stream \"%s\" has been altered", stream->name)));

	index_oids = RelationGetIndexList(st->rel);
	st->nindexes = list_length(index_oids);
	st->indexes = palloc(sizeof(Relation) * st->nindexes);
	st->index_info = palloc(sizeof(IndexInfo *) * st->nindexes);
	foreach(lc, index_oids)
	{
		Relation	index = index_open(lfirst_oid(lc), RowExclusiveLock);
		IndexInfo  *ii = BuildIndexInfo(index);

		if (ii->ii_Expressions != NIL || ii->ii_Predicate != NIL)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("the state table of stream \"%s\" has an expression or partial index",
							stream->name)));
		if (index->rd_index->indisprimary)
			st->key_index = index;
		else if (ii->ii_NumIndexAttrs == 1 &&
				 ii->ii_IndexAttrNumbers[0] == ST_DEADLINE)
			st->deadline_index = index;
		st->indexes[i] = index;
		st->index_info[i] = ii;
		i++;
	}
	if (st->key_index == NULL || st->deadline_index == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the state table of stream \"%s\" lacks its indexes", stream->name)));

	st->snapshot = take_snapshot();
	st->slot = table_slot_create(st->rel, NULL);
	st->hslot = MakeSingleTupleTableSlot(RelationGetDescr(st->rel), &TTSOpsHeapTuple);

	eq_opr = get_opfamily_member(st->key_index->rd_opfamily[0],
								 st->key_index->rd_opcintype[0],
								 st->key_index->rd_opcintype[0],
								 BTEqualStrategyNumber);
	ScanKeyInit(&st->key_skey, 1, BTEqualStrategyNumber, get_opcode(eq_opr), (Datum) 0);
	st->key_skey.sk_collation = st->key_index->rd_indcollation[0];
	st->key_scan = index_beginscan(st->rel, st->key_index, st->snapshot, 1, 0);
	return st;
}

/*
 * state_stream: the stream whose state table st is.
 */
Stream *
state_stream(StateTable *st)
{
	return st->stream;
}

/*
 * state_close: end a call's use of the state table; the lock is kept to
 * the end of the transaction.
 */
void
state_close(StateTable *st)
{
	int			i;

	index_endscan(st->key_scan);
	ExecDropSingleTupleTableSlot(st->slot);
	ExecDropSingleTupleTableSlot(st->hslot);
	for (i = 0; i < st->nindexes; i++)
		index_close(st->indexes[i], NoLock);
	UnregisterSnapshot(st->snapshot);
	table_close(st->rel, NoLock);
}

/*
 * decode_row: the session in the row in st->slot, copied into
 * CurrentMemoryContext with room for more events.
 */
static Session *
decode_row(StateTable *st, TupleTableSlot *slot)
{
	bool		isnull;
	int32		count;
	ArrayType  *ts_array;
	Jsonb	   *events;
	Session    *s;
	int			i;

	slot_getallattrs(slot);
	count = DatumGetInt32(slot->tts_values[ST_EVENT_COUNT - 1]);
	ts_array = DatumGetArrayTypeP(slot->tts_values[ST_EVENT_TS - 1]);
	events = DatumGetJsonbPCopy(slot->tts_values[ST_EVENTS - 1]);
	isnull = slot->tts_isnull[ST_EVENT_TS - 1] || slot->tts_isnull[ST_EVENTS - 1];

	if (isnull || count < 1 ||
		ARR_NDIM(ts_array) != 1 || ARR_HASNULL(ts_array) ||
		ARR_ELEMTYPE(ts_array) != TIMESTAMPTZOID ||
		ArrayGetNItems(1, ARR_DIMS(ts_array)) != count ||
		!JB_ROOT_IS_ARRAY(events) || JB_ROOT_COUNT(events) != count)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("an open session of stream \"%s\" is corrupt", st->stream->name)));

	s = session_alloc(count * 2);
	s->nevents = count;
	memcpy(s->ts, ARR_DATA_PTR(ts_array), sizeof(TimestampTz) * count);
	for (i = 0; i < count; i++)
	{
		JsonbValue *v = getIthJsonbValueFromContainer(&events->root, i);

		if (v->type != jbvBinary)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("an open session of stream \"%s\" is corrupt", st->stream->name)));
		s->payload[i] = v->val.binary.data;
		s->payload_len[i] = v->val.binary.len;
		pfree(v);
	}
	if ((Pointer) ts_array != DatumGetPointer(slot->tts_values[ST_EVENT_TS - 1]))
		pfree(ts_array);
	return s;
}

/*
 * state_fetch_slot: the row of key, in a slot valid until the next fetch,
 * or NULL; *tid is set to the row, or to invalid when there is none.
 */
TupleTableSlot *
state_fetch_slot(StateTable *st, Datum key, ItemPointer tid)
{
	st->key_skey.sk_argument = key;
	index_rescan(st->key_scan, &st->key_skey, 1, NULL, 0);
	if (!index_getnext_slot(st->key_scan, ForwardScanDirection, st->slot))
	{
		ItemPointerSetInvalid(tid);
		return NULL;
	}
	*tid = st->slot->tts_tid;
	return st->slot;
}

/*
 * state_fetch: the open session of key, or NULL; *tid is set to its row,
 * or to invalid when there is none.
 */
Session *
state_fetch(StateTable *st, Datum key, ItemPointer tid)
{
	TupleTableSlot *slot = state_fetch_slot(st, key, tid);

	return slot != NULL ? decode_row(st, slot) : NULL;
}

/*
 * insert_index_entries: index a tuple just written to the state table.
 */
static void
insert_index_entries(StateTable *st, HeapTuple tup)
{
	Datum		values[INDEX_MAX_KEYS];
	bool		isnull[INDEX_MAX_KEYS];
	int			i;

	ExecStoreHeapTuple(tup, st->hslot, false);
	for (i = 0; i < st->nindexes; i++)
	{
		Relation	index = st->indexes[i];

		FormIndexDatum(st->index_info[i], st->hslot, NULL, values, isnull);
		index_insert(index, values, isnull, &tup->t_self, st->rel,
					 index->rd_index->indisunique ? UNIQUE_CHECK_YES : UNIQUE_CHECK_NO,
					 false, st->index_info[i]);
	}
	ExecClearTuple(st->hslot);
}

/*
 * state_write: make key's row (tid, or a new one when tid is invalid)
 * hold these values; the deadline is last_ts + gap.
 */
void
state_write(StateTable *st, Datum key, ItemPointer tid, TimestampTz first_ts,
			TimestampTz last_ts, int32 nevents, ArrayType *event_ts, Jsonb *events)
{
	Datum		values[ST_NATTS];
	bool		nulls[ST_NATTS];
	HeapTuple	tup;

	memset(nulls, false, sizeof(nulls));
	values[ST_KEY - 1] = key;
	values[ST_FIRST_TS - 1] = TimestampTzGetDatum(first_ts);
	values[ST_LAST_TS - 1] = TimestampTzGetDatum(last_ts);
	if (st->stream->rules.gap > 0)
		values[ST_DEADLINE - 1] =
			TimestampTzGetDatum(ts_add_usecs(last_ts, st->stream->rules.gap));
	else
		nulls[ST_DEADLINE - 1] = true;
	values[ST_EVENT_COUNT - 1] = Int32GetDatum(nevents);
	values[ST_EVENT_TS - 1] = PointerGetDatum(event_ts);
	values[ST_EVENTS - 1] = JsonbPGetDatum(events);

	tup = heap_form_tuple(RelationGetDescr(st->rel), values, nulls);
	if (ItemPointerIsValid(tid))
	{
		simple_heap_update(st->rel, tid, tup);
		if (!HeapTupleIsHeapOnly(tup))
			insert_index_entries(st, tup);
	}
	else
	{
		simple_heap_insert(st->rel, tup);
		insert_index_entries(st, tup);
	}
	heap_freetuple(tup);
}

/*
 * state_delete: remove the row at tid.
 */
void
state_delete(StateTable *st, ItemPointer tid)
{
	simple_heap_delete(st->rel, tid);
}

/*
 * state_store: make key's row hold session s; s NULL removes the row.
 * tid is the row state_fetch found, or invalid for a new key.
 */
void
state_store(StateTable *st, Datum key, ItemPointer tid, Session *s)
{
	Datum	   *ts_datums;
	ArrayType  *event_ts;
	Jsonb	   *events;
	int			i;

	if (s == NULL)
	{
		if (ItemPointerIsValid(tid))
			state_delete(st, tid);
		return;
	}

	ts_datums = palloc(sizeof(Datum) * s->nevents);
	for (i = 0; i < s->nevents; i++)
		ts_datums[i] = TimestampTzGetDatum(s->ts[i]);
	event_ts = construct_array(ts_datums, s->nevents, TIMESTAMPTZOID,
							   sizeof(TimestampTz), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
	events = session_events_jsonb(s);
	state_write(st, key, tid, SESSION_FIRST_TS(s), SESSION_LAST_TS(s), s->nevents,
				event_ts, events);
	pfree(event_ts);
	pfree(events);
	pfree(ts_datums);
}

/*
 * finish_row: finish the session in the row in slot for reason, and
 * delete the row.
 */
static void
finish_row(StateTable *st, TupleTableSlot *slot, EndReason reason,
		   FinishedList *finished, StreamDelta *delta)
{
	Stream	   *stream = st->stream;
	bool		isnull;
	Datum		key = slot_getattr(slot, ST_KEY, &isnull);

	if (OidIsValid(stream->update_fn))
	{
		custom_finish_row(st, slot, reason, finished, delta);
		return;
	}
	key = datumCopy(key, stream->key_typbyval, stream->key_typlen);
	finished_add(finished, key, decode_row(st, slot), reason, delta);
	state_delete(st, &slot->tts_tid);
}

/*
 * state_expire: finish, with reason gap, every session whose deadline is
 * at or before watermark.  An index range scan on the deadline: the cost
 * is in the sessions that time out, not in the sessions that stay open.
 */
void
state_expire(StateTable *st, TimestampTz watermark, FinishedList *finished,
			 StreamDelta *delta)
{
	Snapshot	snapshot = take_snapshot();
	ScanKeyData skey;
	IndexScanDesc scan;

	ScanKeyInit(&skey, 1, BTLessEqualStrategyNumber, F_TIMESTAMPTZ_LE,
				TimestampTzGetDatum(watermark));
	scan = index_beginscan(st->rel, st->deadline_index, snapshot, 1, 0);
	index_rescan(scan, &skey, 1, NULL, 0);
	while (index_getnext_slot(scan, ForwardScanDirection, st->slot))
	{
		CHECK_FOR_INTERRUPTS();
		finish_row(st, st->slot, END_GAP, finished, delta);
	}
	index_endscan(scan);
	UnregisterSnapshot(snapshot);
}

/*
 * state_flush: finish every open session with reason flush.
 */
void
state_flush(StateTable *st, FinishedList *finished, StreamDelta *delta)
{
	Snapshot	snapshot = take_snapshot();
	TableScanDesc scan;

	scan = table_beginscan(st->rel, snapshot, 0, NULL);
	while (table_scan_getnextslot(scan, ForwardScanDirection, st->slot))
	{
		CHECK_FOR_INTERRUPTS();
		finish_row(st, st->slot, END_FLUSH, finished, delta);
	}
	table_endscan(scan);
	UnregisterSnapshot(snapshot);
}

/*
 * state_reset_deadlines: set every open session's deadline to its last_ts
 * plus the stream's gap (NULL with no gap), after the gap changed.  One
 * pass over the table: a rare change, paid for in the open sessions.
 */
void
state_reset_deadlines(Stream *stream)
{
	StateTable *st = state_open(stream);
	TableScanDesc scan = table_beginscan(st->rel, st->snapshot, 0, NULL);
	Datum		values[ST_NATTS];
	bool		nulls[ST_NATTS];
	bool		replace[ST_NATTS];

	memset(replace, false, sizeof(replace));
	replace[ST_DEADLINE - 1] = true;
	memset(nulls, false, sizeof(nulls));
	while (table_scan_getnextslot(scan, ForwardScanDirection, st->slot))
	{
		bool		isnull;
		bool		should_free;
		TimestampTz last_ts;
		HeapTuple	old;
		HeapTuple	tup;

		CHECK_FOR_INTERRUPTS();
		last_ts = DatumGetTimestampTz(slot_getattr(st->slot, ST_LAST_TS, &isnull));
		nulls[ST_DEADLINE - 1] = stream->rules.gap == 0;
		values[ST_DEADLINE - 1] = stream->rules.gap == 0 ? (Datum) 0 :
			TimestampTzGetDatum(ts_add_usecs(last_ts, stream->rules.gap));

		old = ExecFetchSlotHeapTuple(st->slot, false, &should_free);
		tup = heap_modify_tuple(old, RelationGetDescr(st->rel), values, nulls, replace);
		simple_heap_update(st->rel, &st->slot->tts_tid, tup);
		if (!HeapTupleIsHeapOnly(tup))
			insert_index_entries(st, tup);
		heap_freetuple(tup);
		if (should_free)
			heap_freetuple(old);
	}
	table_endscan(scan);
	state_close(st);
}

PG_FUNCTION_INFO_V1(sessionize_open_sessions);

/*
 * sessionize_open_sessions: open_sessions(stream): the stream's open
 * sessions in the key type's order, as Spark's stateSnapshots() shows
 * them.  It reads the state table along its primary key, with the
 * statement's snapshot, and takes no lock it keeps: the rows are copied
 * out whole and the table's lock is released at once, so a transaction
 * that looked at a stream may then feed it while drop_stream() waits for
 * that batch (holding the table would deadlock the two).
 */
Datum
sessionize_open_sessions(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			caller = GetUserId();
	Oid			saved_user;
	int			saved_context;
	Stream	   *stream;
	Relation	rel;
	Relation	index = NULL;
	List	   *index_oids;
	ListCell   *lc;
	Snapshot	snapshot;
	IndexScanDesc scan;
	TupleTableSlot *slot;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("stream must not be NULL")));

	InitMaterializedSRF(fcinfo, 0);
	owner_switch_begin(&saved_user, &saved_context);
	SPI_connect();
	stream = stream_lock(text_to_cstring(PG_GETARG_TEXT_PP(0)), false, caller);

	/* Dropped since stream_lock read its row (which locks nothing here)? */
	rel = try_relation_open(stream->state_relid, AccessShareLock);
	if (rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("stream \"%s\" does not exist", stream->name)));
	index_oids = RelationGetIndexList(rel);
	foreach(lc, index_oids)
	{
		Relation	candidate = index_open(lfirst_oid(lc), AccessShareLock);

		if (candidate->rd_index->indisprimary)
		{
			index = candidate;
			break;
		}
		index_close(candidate, AccessShareLock);
	}
	if (index == NULL || RelationGetDescr(rel)->natts != ST_NATTS)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the state table of stream \"%s\" has been altered", stream->name)));

	snapshot = RegisterSnapshot(GetActiveSnapshot());
	slot = table_slot_create(rel, NULL);
	scan = index_beginscan(rel, index, snapshot, 0, 0);
	index_rescan(scan, NULL, 0, NULL, 0);
	while (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		Datum		values[5];
		bool		nulls[5] = {0};

		CHECK_FOR_INTERRUPTS();
		slot_getallattrs(slot);
		values[0] = CStringGetTextDatum(OutputFunctionCall(&stream->key_output,
														   slot->tts_values[ST_KEY - 1]));
		values[1] = slot->tts_values[ST_FIRST_TS - 1];
		values[2] = slot->tts_values[ST_LAST_TS - 1];
		values[3] = slot->tts_values[ST_EVENT_COUNT - 1];
		/* whole, not a TOAST pointer into a table that may be dropped */
		values[4] = PointerGetDatum(PG_DETOAST_DATUM(slot->tts_values[ST_EVENTS - 1]));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	UnregisterSnapshot(snapshot);
	index_close(index, AccessShareLock);
	table_close(rel, AccessShareLock);

	SPI_finish();
	user_switch_end(saved_user, saved_context);
	return (Datum) 0;
}
