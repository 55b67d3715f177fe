/*-------------------------------------------------------------------------
 *
 * state.c
 *	  Reading and writing a stream's state table: one row per open session.
 *
 * A row holds the key, first_ts, last_ts, when the clock is next to look
 * at the session (the deadline column, see below), the event count, the
 * session's events, and the number of its chunks.  Two layouts (see
 * StateLayout): "rows", the events' timestamps (timestamptz[]) and their
 * payloads (a jsonb array) in session order, of the tables made before
 * 0.5 and of event-time and custom-state streams; and "packed", the
 * events newest first in a bytea beside the columns an event changes, so
 * that PostgreSQL logs an extended session's update by its new events.
 *
 * The deadline column is a lazy timer: it is at or before the session's
 * real deadline, last_ts + gap, and is not moved when an event extends the
 * session.  So the update of a session that a batch extends changes no
 * indexed column and can be HOT (the state table keeps free space in its
 * pages for that): no index entry is written.  In rows layout the clock
 * scans the deadline index up to the watermark; a session it finds whose
 * real deadline is later gets its timer moved there (a new row version
 * and its index entries).  A packed table has no deadline index: its
 * timers are also written to the stream's timer table (see Timers), and a
 * move is a HOT update.  Either way a session is looked at about once per
 * gap of its length, however many events it gets.  Only a timer later
 * than the real deadline would be wrong, so a write that makes the real
 * deadline earlier moves the timer.
 *
 * A stream's partitions share its tables: every row has a column part.
 * A row is found by its key through the key index.  Where the key type
 * has a default hash operator class, that is a hash index on key: a probe
 * or an insert reads one bucket page, where a btree descends its levels
 * and compares keys on each, and a batch of keys a few events each does
 * one of each per key (on bench/'s many-users workload at batch 1,000 a
 * pass took 14 % less time).  A hash index is on one column and is not
 * unique: a probe rechecks the key (hash values collide) and the part
 * (a key may be open in several partitions), and one row per key and
 * part is kept by the partition's lock, as before.  Other key types, and
 * the tables of 0.1 and 0.2 until ALTER EXTENSION UPDATE, have a unique
 * btree index on (key, part) (their primary key, on key alone in a table
 * of 0.1 or 0.2): part is compared only between equal keys.  The timer
 * index of a rows-layout table is (part, deadline), the timer table's
 * (part, due): each partition's clock scans its own range (a state table
 * of version 0.1 or 0.2 has no column part, and is partition 0).
 *
 * Chunks keep a long session from being rewritten whole each time its key
 * is touched: once a row's events would make it too long to be stored as
 * it is (see CHUNK_BYTES), they move to a row of the stream's chunk table
 * (state_<id>_chunks: key, seq, event_ts, events), written once, and the
 * state row starts again with none.  The session's first_ts, last_ts and
 * count stay in its state row, which is all the rules read; a session
 * that finishes reads its chunks back and deletes them.
 *
 * This is the hot path, so it uses the heap and index access methods
 * directly rather than SPI: a key's session is one probe of the key index, and
 * the sessions the clock times out come from an index range scan on the
 * timers.  The caller holds its partition's row lock, so nothing else
 * writes that partition's rows meanwhile (calls on other partitions write
 * other rows of the same tables; alter_stream and drop_stream wait for
 * them all); the snapshot is taken after that lock, so it sees everything
 * committed before.
 *
 *-------------------------------------------------------------------------
 */
#include "sessionize.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/heaptoast.h"
#include "access/htup_details.h"
#include "access/nbtree.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/pg_am.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

typedef struct Chunks Chunks;
typedef struct Timers Timers;

/* A timer of a packed table: the session of key in partition part is due. */
typedef struct Timer
{
	Datum		key;
	TimestampTz due;
	int32		part;
} Timer;

typedef struct TimerList
{
	Timer	   *items;
	int			count;
	int			capacity;
} TimerList;

/*
 * A table of a stream (its state table or its chunk table), opened and
 * checked, with its indexes.
 *
 * The tables belong to the stream's owner, who may ALTER them.  Each open
 * checks what the C code relies on, so that a table changed by hand gives
 * an error, never a crash or a wrong read: a heap table, the columns of
 * the expected types in order, its key index (a unique btree index on the
 * expected columns, or for a state table a hash index on key), and no
 * index whose entries would need expressions evaluated.  Other plain
 * indexes are kept up to date like the key index.
 */
typedef struct StoredTable
{
	Relation	rel;
	bool		has_part;		/* the table has the column part */
	int			nindexes;
	Relation   *indexes;
	IndexInfo **index_info;
	Relation	key_index;		/* a unique btree, or a hash index on key */
	bool		key_hash;		/* it is a hash index */
	TupleTableSlot *hslot;		/* for index entries of written tuples */
} StoredTable;

/*
 * Where a state table keeps each column.  Tables of 0.1 to 0.4, and those
 * of event-time and custom-state streams, are in "rows" layout (see
 * _state_tables); an arrival-order stream's table of 0.5 on is "packed":
 *
 *	key, part, first_ts, chunks, deadline, last_ts, event_count, events
 *
 * where events is a bytea of the session's events in the row, newest
 * first, each its ts (8 bytes), its payload's length (4) and the payload
 * (a jsonb container), padded to 4 bytes.  An event that extends a
 * session changes last_ts, event_count, the length of events and adds one
 * record at its start: the bytes before last_ts and the older records
 * after it stay as they were.  PostgreSQL logs an update whose new tuple
 * stays on its page by the middle it does not share with the old one
 * (log_heap_update: a common prefix and suffix are left out), so a HOT
 * update logs the new event and 20-odd bytes, not the whole session; a
 * timer move, the 8 bytes of deadline.  In rows layout both logged the
 * whole row, event_ts and the jsonb array changing from their headers on.
 */
typedef struct StateLayout
{
	bool		packed;
	AttrNumber	key;
	AttrNumber	part;
	AttrNumber	first_ts;
	AttrNumber	last_ts;
	AttrNumber	deadline;
	AttrNumber	count;
	AttrNumber	event_ts;		/* rows only */
	AttrNumber	events;
	AttrNumber	chunks;
	AttrNumber	event_last;		/* rows, event time only */
	AttrNumber	chunk_last;
	int			natts;
} StateLayout;

static const StateLayout layout_rows = {
	false, ST_KEY, ST_PART, ST_FIRST_TS, ST_LAST_TS, ST_DEADLINE, ST_EVENT_COUNT,
	ST_EVENT_TS, ST_EVENTS, ST_CHUNKS, ST_EVENT_LAST, ST_CHUNK_LAST, ST_NATTS
};

/* The columns of a packed state table. */
enum
{
	PK_KEY = 1, PK_PART, PK_FIRST_TS, PK_CHUNKS, PK_DEADLINE, PK_LAST_TS, PK_EVENT_COUNT,
	PK_EVENTS, PK_NATTS = PK_EVENTS
};

static const StateLayout layout_packed = {
	true, PK_KEY, PK_PART, PK_FIRST_TS, PK_LAST_TS, PK_DEADLINE, PK_EVENT_COUNT,
	InvalidAttrNumber, PK_EVENTS, PK_CHUNKS, InvalidAttrNumber, InvalidAttrNumber, PK_NATTS
};

/* Room for the values of a row of either layout. */
#define STATE_NATTS_MAX 11
StaticAssertDecl(STATE_NATTS_MAX >= (int) ST_NATTS && STATE_NATTS_MAX >= (int) PK_NATTS,
				 "STATE_NATTS_MAX is too small");

/* A packed event's header: its ts and its payload's length. */
#define PACKED_HEADER (sizeof(TimestampTz) + sizeof(int32))

struct StateTable
{
	Stream	   *stream;
	const StateLayout *lay;
	StoredTable t;
	Relation	deadline_index;
	bool		fetched_timer_null;	/* the timer of the row last fetched */
	TimestampTz fetched_timer;
	Snapshot	snapshot;
	IndexScanDesc key_scan;
	ScanKeyData key_skey[2];	/* key (, part) */
	int			key_nkeys;
	TupleTableSlot *slot;		/* for reading */
	bool		chunked;		/* the table has the chunks column */
	Chunks	   *chunks;			/* opened when first needed */
	Timers	   *timers;			/* packed: the timer table */
	TimerList	pending;		/* packed: the timers this call set, written at
								 * state_close */
};

/*
 * The chunk table of a stream, and the means to read a key's chunks in
 * order (its primary key is (key, seq)).
 */
struct Chunks
{
	StoredTable t;
	ScanKeyData skey[2];		/* key (, part) */
	int			nkeys;
	TupleTableSlot *slot;
};

/* The columns of a chunk table. */
enum
{
	CH_KEY = 1, CH_SEQ, CH_EVENT_TS, CH_EVENTS, CH_PART, CH_NATTS = CH_PART
};

/*
 * A state row's events move to a chunk once they take CHUNK_BYTES (their
 * payloads, timestamps and jsonb entries) or number CHUNK_EVENTS.  A
 * chunk costs a row and an index entry, written once and read once; the
 * state row is rewritten whenever its key is touched, and one longer than
 * TOAST_TUPLE_THRESHOLD (2 kB) is compressed at each rewrite, and stored
 * out of line when that is not enough, in the TOAST table, with its own
 * index.  So the events stop short of it, leaving 512 bytes for the key
 * and the other columns.  (Chunks of 128 events, ~8 kB of bench/'s
 * payloads, were compressed at every touch: the skewed workload at batch
 * 1,000 went from 449k to 497k events/s, --long's batch from 1.0 to
 * 0.85 ms.)
 */
#define CHUNK_EVENTS 128
#define CHUNK_BYTES (TOAST_TUPLE_THRESHOLD - 512)

/*
 * events_bytes: what the first n events of s take in a state row, for
 * CHUNK_BYTES.
 */
static Size
events_bytes(const Session *s, int n)
{
	Size		bytes = 0;
	int			i;

	for (i = 0; i < n; i++)
		bytes += s->payload_len[i] + sizeof(TimestampTz) + sizeof(JEntry);
	return bytes;
}

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
 * table_altered: the error for a stream's table that is not as sessionize
 * made it.
 */
static void
table_altered(Stream *stream, Relation rel, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("table sessionize.%s of stream \"%s\" has been altered",
					quote_identifier(RelationGetRelationName(rel)), stream->name),
			 errdetail_internal("%s", detail),
			 errhint("Undo the change, or flush the stream and create it again.")));
}

/*
 * index_on: whether index covers exactly the columns attnums, in order.
 */
static bool
index_on(IndexInfo *ii, const AttrNumber *attnums, int n)
{
	int			i;

	if (ii->ii_NumIndexKeyAttrs != n || ii->ii_NumIndexAttrs != n)
		return false;
	for (i = 0; i < n; i++)
		if (ii->ii_IndexAttrNumbers[i] != attnums[i])
			return false;
	return true;
}

/*
 * stored_open: check table rel of stream, opened with lockmode: a
 * heap table whose first columns have types (natts_min to natts_max of
 * them: the layouts of earlier versions lack the last ones), with a unique
 * btree index on columns key_cols (leaving out those the table lacks: the
 * column part, which comes last in the table; without key_unique, any
 * btree on them), or with hash_key a hash index on the first of them
 * instead.
 */
static void
stored_open(Stream *stream, Relation rel, const Oid *types, int natts_min, int natts_max,
			const AttrNumber *key_cols, int nkey_cols, bool hash_key, bool key_unique,
			LOCKMODE lockmode, StoredTable *t)
{
	TupleDesc	desc;
	List	   *index_oids;
	ListCell   *lc;
	AttrNumber	keys[INDEX_MAX_KEYS];
	int			nkeys;
	int			i;

	t->rel = rel;
	desc = RelationGetDescr(t->rel);
	if (t->rel->rd_rel->relkind != RELKIND_RELATION ||
		t->rel->rd_rel->relam != HEAP_TABLE_AM_OID)
		table_altered(stream, t->rel, "It is no longer a heap table.");
	if (desc->natts < natts_min || desc->natts > natts_max)
		table_altered(stream, t->rel, "Its columns were added or dropped.");
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped)
			table_altered(stream, t->rel, psprintf("Column %d was dropped.", i + 1));
		if (att->atttypid != types[i])
			table_altered(stream, t->rel,
						  psprintf("Column \"%s\" is of type %s, not %s.",
								   NameStr(att->attname), format_type_be(att->atttypid),
								   format_type_be(types[i])));
	}
	t->has_part = desc->natts == natts_max;	/* part is the last but event time's */
	for (i = 0, nkeys = 0; i < nkey_cols; i++)
		if (key_cols[i] <= desc->natts)
			keys[nkeys++] = key_cols[i];

	index_oids = RelationGetIndexList(t->rel);
	t->nindexes = 0;
	t->indexes = palloc(sizeof(Relation) * Max(list_length(index_oids), 1));
	t->index_info = palloc(sizeof(IndexInfo *) * Max(list_length(index_oids), 1));
	t->key_index = NULL;
	t->key_hash = false;
	foreach(lc, index_oids)
	{
		Relation	index = index_open(lfirst_oid(lc), lockmode);
		IndexInfo  *ii = BuildIndexInfo(index);

		if (ii->ii_Expressions != NIL || ii->ii_Predicate != NIL)
			table_altered(stream, t->rel,
						  psprintf("Index %s has expressions or a predicate.",
								   quote_identifier(RelationGetRelationName(index))));
		if ((index->rd_index->indisunique || !key_unique) &&
			index->rd_rel->relam == BTREE_AM_OID && index_on(ii, keys, nkeys))
		{
			t->key_index = index;
			t->key_hash = false;
		}
		else if (hash_key && t->key_index == NULL &&
				 index->rd_rel->relam == HASH_AM_OID && index_on(ii, keys, 1))
		{
			t->key_index = index;
			t->key_hash = true;
		}
		t->indexes[t->nindexes] = index;
		t->index_info[t->nindexes] = ii;
		t->nindexes++;
	}
	if (t->key_index == NULL)
		table_altered(stream, t->rel, "Its key index is gone.");
	t->hslot = MakeSingleTupleTableSlot(desc, &TTSOpsHeapTuple);
}

/*
 * stored_close: the end of stored_open; lockmode NoLock keeps the locks to
 * the end of the transaction.
 */
static void
stored_close(StoredTable *t, LOCKMODE lockmode)
{
	int			i;

	ExecDropSingleTupleTableSlot(t->hslot);
	for (i = 0; i < t->nindexes; i++)
		index_close(t->indexes[i], lockmode);
	table_close(t->rel, lockmode);
}

/*
 * index_scankeys: equality scan keys on the first n columns of index, their
 * arguments to be set; strategy of the last one instead of equality when
 * last_strategy is not 0.
 */
static void
index_scankeys(Relation index, ScanKey skeys, int n, StrategyNumber last_strategy)
{
	int			i;

	for (i = 0; i < n; i++)
	{
		StrategyNumber strategy = i == n - 1 && last_strategy != 0 ? last_strategy :
			index->rd_rel->relam == HASH_AM_OID ? HTEqualStrategyNumber : BTEqualStrategyNumber;
		Oid			opr = get_opfamily_member(index->rd_opfamily[i],
											  index->rd_opcintype[i],
											  index->rd_opcintype[i], strategy);

		ScanKeyInit(&skeys[i], i + 1, strategy, get_opcode(opr), (Datum) 0);
		skeys[i].sk_collation = index->rd_indcollation[i];
	}
}

/*
 * key_nkeys: how many scan keys a probe of t's key index takes: key and
 * part on a btree on (key, part); key alone in a table without the
 * column part, or through a hash index on key.
 */
static int
key_nkeys(const StoredTable *t)
{
	return t->has_part && !t->key_hash ? 2 : 1;
}

/*
 * set_key_part: the arguments of the scan keys of a probe of t's key
 * index (see key_nkeys); returns how many there are.
 */
static int
set_key_part(StoredTable *t, ScanKey skeys, Datum key, int32 part)
{
	skeys[0].sk_argument = key;
	if (key_nkeys(t) == 1)
		return 1;
	skeys[1].sk_argument = Int32GetDatum(part);
	return 2;
}

/*
 * stored_insert_index_entries: index a tuple just written to t, in every
 * index ready for inserts (one that REINDEX CONCURRENTLY is building is
 * not yet).  For a new version of a row (updated), the key index's entry
 * is unchanged, which tells btree to remove older versions' entries before
 * it splits a page, as the executor does for an UPDATE.
 */
static void
stored_insert_index_entries(StoredTable *t, HeapTuple tup, bool updated)
{
	Datum		values[INDEX_MAX_KEYS];
	bool		isnull[INDEX_MAX_KEYS];
	int			i;

	ExecStoreHeapTuple(tup, t->hslot, false);
	for (i = 0; i < t->nindexes; i++)
	{
		Relation	index = t->indexes[i];

		if (!t->index_info[i]->ii_ReadyForInserts)
			continue;
		FormIndexDatum(t->index_info[i], t->hslot, NULL, values, isnull);
		index_insert(index, values, isnull, &tup->t_self, t->rel,
					 index->rd_index->indisunique ? UNIQUE_CHECK_YES : UNIQUE_CHECK_NO,
					 updated && index == t->key_index, t->index_info[i]);
	}
	ExecClearTuple(t->hslot);
}

/*
 * state_table_open: open the state table of stream with lockmode, checked
 * (see StoredTable); returns its layout, and sets *chunked to whether it
 * has the chunks column (version 0.2 on).  One of version 0.1 works as it
 * did, without chunks, and one of 0.1 or 0.2 without partitions, until
 * ALTER EXTENSION sessionize UPDATE adds them, so streams go on between
 * installing this library and updating the extension.  A table is packed
 * (see StateLayout) when its second column is an int4 (part; first_ts in
 * rows layout); only an arrival-order stream with the built-in rules has
 * one.
 */
static const StateLayout *
state_table_open(Stream *stream, LOCKMODE lockmode, StoredTable *t, bool *chunked)
{
	const Oid	types[ST_NATTS] = {
		stream->key_type, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID, INT4OID,
		TIMESTAMPTZARRAYOID, JSONBOID, INT4OID, INT4OID, BOOLARRAYOID, TIMESTAMPTZOID
	};
	const Oid	packed_types[PK_NATTS] = {
		stream->key_type, INT4OID, TIMESTAMPTZOID, INT4OID, TIMESTAMPTZOID, TIMESTAMPTZOID,
		INT4OID, BYTEAOID
	};
	static const AttrNumber key_cols[] = {ST_KEY, ST_PART};
	static const AttrNumber packed_key_cols[] = {PK_KEY, PK_PART};
	Relation	rel = table_open(stream->state_relid, lockmode);
	TupleDesc	desc = RelationGetDescr(rel);
	/* the second column: first_ts in rows layout, part in packed */
	bool		packed = desc->natts >= PK_PART &&
		TupleDescAttr(desc, PK_PART - 1)->atttypid == INT4OID;

	if (packed && (stream->event_time || stream->update_function != NULL))
		table_altered(stream, rel, "It is packed, which only an arrival-order stream "
					  "with the built-in rules can have.");
	if (packed)
	{
		stored_open(stream, rel, packed_types, PK_NATTS, PK_NATTS,
					packed_key_cols, lengthof(packed_key_cols), true, true, lockmode, t);
		*chunked = true;
		return &layout_packed;
	}
	/* an event-time stream's table is of 0.3 on, with two more columns */
	if (stream->event_time)
		stored_open(stream, rel, types, ST_NATTS, ST_NATTS,
					key_cols, lengthof(key_cols), true, true, lockmode, t);
	else
		stored_open(stream, rel, types, ST_CHUNKS - 1, ST_PART,
					key_cols, lengthof(key_cols), true, true, lockmode, t);
	*chunked = RelationGetDescr(t->rel)->natts >= ST_CHUNKS;
	return &layout_rows;
}

/*
 * row_chunks: the chunks column of the state row in slot (all attributes
 * fetched), 0 in a state table of version 0.1.
 */
static int32
row_chunks(Stream *stream, const StateLayout *lay, TupleTableSlot *slot)
{
	if (slot->tts_tupleDescriptor->natts < lay->chunks)
		return 0;
	if (slot->tts_isnull[lay->chunks - 1])
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("an open session of stream \"%s\" is corrupt", stream->name)));
	return DatumGetInt32(slot->tts_values[lay->chunks - 1]);
}

static void append_events(Stream *stream, ArrayType *ts_array, Jsonb *events,
						  int count, TimestampTz *ts, JsonbContainer **payload,
						  int32 *payload_len, int at);
static void events_arrays(const Session *s, ArrayType **event_ts, Jsonb **events);

/*
 * chunks_open: open the chunk table of the stream whose state table is
 * state_rel, checked, with lockmode.
 */
static Chunks *
chunks_open(Stream *stream, Relation state_rel, LOCKMODE lockmode)
{
	const Oid	types[CH_NATTS] = {
		stream->key_type, INT4OID, TIMESTAMPTZARRAYOID, JSONBOID, INT4OID
	};
	static const AttrNumber key_cols[] = {CH_KEY, CH_PART, CH_SEQ};
	Chunks	   *c = palloc0(sizeof(Chunks));
	char	   *name = psprintf("%s_chunks", RelationGetRelationName(state_rel));
	Oid			relid = get_relname_relid(name, RelationGetNamespace(state_rel));

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("the chunk table sessionize.\"%s\" of stream \"%s\" is missing",
						name, stream->name),
				 errhint("Drop the stream and create it again.")));
	stored_open(stream, table_open(relid, lockmode), types, CH_NATTS - 1, CH_NATTS, key_cols,
				lengthof(key_cols), false, true, lockmode, &c->t);
	c->nkeys = c->t.has_part ? 2 : 1;
	index_scankeys(c->t.key_index, c->skey, c->nkeys, 0);
	c->slot = table_slot_create(c->t.rel, NULL);
	return c;
}

/*
 * chunks_close: the end of chunks_open; lockmode NoLock keeps the lock to
 * the end of the transaction.
 */
static void
chunks_close(Chunks *c, LOCKMODE lockmode)
{
	ExecDropSingleTupleTableSlot(c->slot);
	stored_close(&c->t, lockmode);
}

/*
 * chunks_read: put the events of key's chunks back into s (see
 * session_restore), reading them with snapshot in the order they were
 * written; with delete, delete them.
 */
static void
chunks_read(Stream *stream, Chunks *c, Snapshot snapshot, Datum key, Session *s,
			bool delete)
{
	int			size = Max(s->nstored, 1);
	TimestampTz *ts = palloc(sizeof(TimestampTz) * size);
	JsonbContainer **payload = palloc(sizeof(JsonbContainer *) * size);
	int32	   *payload_len = palloc(sizeof(int32) * size);
	int			n = 0;
	int			seq = 0;
	IndexScanDesc scan = compat_index_beginscan(c->t.rel, c->t.key_index, snapshot, c->nkeys, 0);

	index_rescan(scan, c->skey, set_key_part(&c->t, c->skey, key, stream->part), NULL, 0);
	while (index_getnext_slot(scan, ForwardScanDirection, c->slot))
	{
		ArrayType  *ts_array;
		Jsonb	   *events;
		int			count;

		slot_getallattrs(c->slot);
		if (c->slot->tts_isnull[CH_EVENT_TS - 1] || c->slot->tts_isnull[CH_EVENTS - 1] ||
			c->slot->tts_isnull[CH_SEQ - 1] ||
			DatumGetInt32(c->slot->tts_values[CH_SEQ - 1]) != seq)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("an open session of stream \"%s\" is corrupt", stream->name)));
		ts_array = DatumGetArrayTypeP(c->slot->tts_values[CH_EVENT_TS - 1]);
		events = DatumGetJsonbPCopy(c->slot->tts_values[CH_EVENTS - 1]);
		count = JB_ROOT_COUNT(events);
		if (n + count > s->nstored)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("an open session of stream \"%s\" is corrupt", stream->name)));
		append_events(stream, ts_array, events, count, ts, payload, payload_len, n);
		if ((Pointer) ts_array != DatumGetPointer(c->slot->tts_values[CH_EVENT_TS - 1]))
			pfree(ts_array);
		n += count;
		seq++;
		if (delete)
			simple_heap_delete(c->t.rel, &c->slot->tts_tid);
	}
	index_endscan(scan);
	if (seq != s->nchunks)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("an open session of stream \"%s\" is corrupt", stream->name),
				 errdetail("It has %d chunks, its row says %d.", seq, s->nchunks)));
	session_restore(s, n, ts, payload, payload_len);
	pfree(ts);
	pfree(payload);
	pfree(payload_len);
}

/*
 * The timers of a packed state table are kept apart from its rows, in the
 * stream's timer table (state_<id>_timers: part, due, keys, dues, with a
 * btree on (part, due)), so that no column of a state row is indexed but
 * its key: every update of a row, a timer move too, can be HOT, and a new
 * session costs one index entry, not two.  A call appends one row per
 * partition it set timers in, holding every timer it set: the keys, their
 * dues, and the earliest due.  A state row's deadline column holds its
 * session's timer; the timer table's entry (key, due) is the one that
 * counts while the row's deadline is due, and is stale otherwise (the
 * session finished, or its timer was set again).  Timers are lazy as in
 * rows layout: an event that extends a session leaves its timer alone.
 *
 * The clock (timers_expire) reads and deletes the partition's timer rows
 * whose earliest due is at or before the watermark, probes each key once
 * whose entry is due, finishes the session or sets its timer at its
 * deadline, and sets again the entries not yet due.  So the WAL a timer
 * costs is its key and due in an array written once per call, instead of
 * a new row version and two index entries.
 */
struct Timers
{
	StoredTable t;
	TupleTableSlot *slot;
};

/* The columns of a timer table. */
enum
{
	TM_PART = 1, TM_DUE, TM_KEYS, TM_DUES, TM_NATTS = TM_DUES
};

/*
 * timers_open: open the timer table of the stream whose packed state
 * table is state_rel, checked, with lockmode.
 */
static Timers *
timers_open(Stream *stream, Relation state_rel, LOCKMODE lockmode)
{
	Oid			key_array = get_array_type(stream->key_type);
	const Oid	types[TM_NATTS] = {INT4OID, TIMESTAMPTZOID, key_array, TIMESTAMPTZARRAYOID};
	static const AttrNumber key_cols[] = {TM_PART, TM_DUE};
	Timers	   *tm = palloc0(sizeof(Timers));
	char	   *name = psprintf("%s_timers", RelationGetRelationName(state_rel));
	Oid			relid = get_relname_relid(name, RelationGetNamespace(state_rel));

	if (!OidIsValid(relid) || !OidIsValid(key_array))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("the timer table sessionize.\"%s\" of stream \"%s\" is missing",
						name, stream->name),
				 errhint("Drop the stream and create it again.")));
	stored_open(stream, table_open(relid, lockmode), types, TM_NATTS, TM_NATTS, key_cols,
				lengthof(key_cols), false, false, lockmode, &tm->t);
	tm->slot = table_slot_create(tm->t.rel, NULL);
	return tm;
}

/* timer_list_add: one more timer in list */
static void
timer_list_add(TimerList *list, Datum key, TimestampTz due, int32 part)
{
	if (list->count == list->capacity)
	{
		list->capacity = Max(64, list->capacity * 2);
		list->items = list->items == NULL ? palloc(sizeof(Timer) * list->capacity) :
			repalloc_huge(list->items, sizeof(Timer) * list->capacity);
	}
	list->items[list->count].key = key;
	list->items[list->count].due = due;
	list->items[list->count].part = part;
	list->count++;
}

/*
 * timers_add: the session of key in partition part has its timer at due
 * now (see above); written at state_close.
 */
static void
timers_add(StateTable *st, Datum key, int32 part, TimestampTz due)
{
	Stream	   *stream = st->stream;

	timer_list_add(&st->pending, datumCopy(key, stream->key_typbyval, stream->key_typlen),
				   due, part);
}

/*
 * timers_take: take out of the timers this call set those of partition
 * part (of every partition with all_parts) due by due_by, into to (NULL:
 * they are dropped).
 */
static void
timers_take(StateTable *st, int32 part, bool all_parts, TimestampTz due_by, TimerList *to)
{
	TimerList  *pending = &st->pending;
	int			kept = 0;
	int			i;

	for (i = 0; i < pending->count; i++)
	{
		Timer	   *t = &pending->items[i];

		if ((all_parts || t->part == part) && t->due <= due_by)
		{
			if (to != NULL)
				timer_list_add(to, t->key, t->due, t->part);
			continue;
		}
		pending->items[kept++] = *t;
	}
	pending->count = kept;
}

/* cmp_timer_part: qsort order of Timers: by partition */
static int
cmp_timer_part(const void *a, const void *b)
{
	const Timer *ta = a;
	const Timer *tb = b;

	return ta->part < tb->part ? -1 : (ta->part > tb->part);
}

/*
 * timers_write: the timers this call set, one timer row per partition.
 */
static void
timers_write(StateTable *st)
{
	Stream	   *stream = st->stream;
	Timers	   *tm = st->timers;
	Timer	   *pending = st->pending.items;
	int			npending = st->pending.count;
	Datum	   *keys;
	Datum	   *dues;
	int			first;
	int			end;

	if (npending == 0)
		return;
	keys = palloc(sizeof(Datum) * npending);
	dues = palloc(sizeof(Datum) * npending);
	qsort(pending, npending, sizeof(Timer), cmp_timer_part);
	for (first = 0; first < npending; first = end)
	{
		TimestampTz earliest = DT_NOEND;
		Datum		values[TM_NATTS];
		bool		nulls[TM_NATTS] = {0};
		HeapTuple	tup;
		int			n;

		for (end = first; end < npending && pending[end].part == pending[first].part; end++)
		{
			keys[end - first] = pending[end].key;
			dues[end - first] = TimestampTzGetDatum(pending[end].due);
			earliest = Min(earliest, pending[end].due);
		}
		n = end - first;
		values[TM_PART - 1] = Int32GetDatum(pending[first].part);
		values[TM_DUE - 1] = TimestampTzGetDatum(earliest);
		values[TM_KEYS - 1] = PointerGetDatum(construct_array(keys, n, stream->key_type,
															  stream->key_typlen,
															  stream->key_typbyval,
															  stream->key_typalign));
		values[TM_DUES - 1] = PointerGetDatum(construct_array(dues, n, TIMESTAMPTZOID,
															  sizeof(TimestampTz),
															  FLOAT8PASSBYVAL,
															  TYPALIGN_DOUBLE));
		tup = heap_form_tuple(RelationGetDescr(tm->t.rel), values, nulls);
		simple_heap_insert(tm->t.rel, tup);
		stored_insert_index_entries(&tm->t, tup, false);
		heap_freetuple(tup);
	}
	pfree(keys);
	pfree(dues);
	st->pending.count = 0;
}

/*
 * timers_delete: delete the timer rows of partition part (all of them
 * with all_parts), and forget the timers this call set there.
 */
static void
timers_delete(StateTable *st, int32 part, bool all_parts)
{
	Timers	   *tm = st->timers;
	Snapshot	snapshot = take_snapshot();
	ScanKeyData skey;
	IndexScanDesc scan;

	index_scankeys(tm->t.key_index, &skey, 1, 0);
	skey.sk_argument = Int32GetDatum(part);
	scan = compat_index_beginscan(tm->t.rel, tm->t.key_index, snapshot, all_parts ? 0 : 1, 0);
	index_rescan(scan, &skey, all_parts ? 0 : 1, NULL, 0);
	while (index_getnext_slot(scan, ForwardScanDirection, tm->slot))
		simple_heap_delete(tm->t.rel, &tm->slot->tts_tid);
	index_endscan(scan);
	UnregisterSnapshot(snapshot);
	timers_take(st, part, all_parts, DT_NOEND, NULL);
}

/* cmp_due_timer: qsort_arg order of Timers: key, then due */
static int
cmp_due_timer(const void *a, const void *b, void *arg)
{
	const Timer *ta = a;
	const Timer *tb = b;
	int			c = stream_key_cmp((Stream *) arg, ta->key, tb->key);

	if (c != 0)
		return c;
	return ta->due < tb->due ? -1 : (ta->due > tb->due);
}

static void finish_row(StateTable *st, TupleTableSlot *slot, EndReason reason,
					   FinishedList *finished, StreamDelta *delta);
static void set_timer(StateTable *st, TupleTableSlot *slot, TimestampTz timer, bool isnull);
static bool key_probe(StateTable *st, IndexScanDesc scan, Datum key);
static TimestampTz session_timer(Stream *stream, TimestampTz deadline, bool had_timer,
								 TimestampTz timer, bool *isnull);

/*
 * timers_expire: state_expire of a packed state table (see above).  The
 * keys whose timers are due are probed once each, in key order, with a
 * snapshot that sees what this call wrote before.
 */
static void
timers_expire(StateTable *st, TimestampTz watermark, FinishedList *finished,
			  StreamDelta *delta)
{
	Stream	   *stream = st->stream;
	Timers	   *tm = st->timers;
	Snapshot	snapshot = take_snapshot();
	ScanKeyData skeys[2];		/* part = part, due <= watermark */
	IndexScanDesc scan;
	TimerList	found = {0};
	Timer	   *due;
	int			ndue;
	int			i;

	index_scankeys(tm->t.key_index, skeys, 2, BTLessEqualStrategyNumber);
	skeys[0].sk_argument = Int32GetDatum(stream->part);
	skeys[1].sk_argument = TimestampTzGetDatum(watermark);
	scan = compat_index_beginscan(tm->t.rel, tm->t.key_index, snapshot, 2, 0);
	index_rescan(scan, skeys, 2, NULL, 0);
	while (index_getnext_slot(scan, ForwardScanDirection, tm->slot))
	{
		ArrayType  *keys;
		ArrayType  *dues;
		Datum	   *key_values;
		Datum	   *due_values;
		bool	   *key_nulls;
		int			nkeys;
		int			ndues;

		CHECK_FOR_INTERRUPTS();
		slot_getallattrs(tm->slot);
		if (tm->slot->tts_isnull[TM_KEYS - 1] || tm->slot->tts_isnull[TM_DUES - 1])
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("a timer of stream \"%s\" is corrupt", stream->name)));
		keys = DatumGetArrayTypeP(tm->slot->tts_values[TM_KEYS - 1]);
		dues = DatumGetArrayTypeP(tm->slot->tts_values[TM_DUES - 1]);
		if (ARR_ELEMTYPE(keys) != stream->key_type || ARR_ELEMTYPE(dues) != TIMESTAMPTZOID ||
			ARR_HASNULL(dues))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("a timer of stream \"%s\" is corrupt", stream->name)));
		deconstruct_array(keys, stream->key_type, stream->key_typlen, stream->key_typbyval,
						  stream->key_typalign, &key_values, &key_nulls, &nkeys);
		deconstruct_array(dues, TIMESTAMPTZOID, sizeof(TimestampTz), FLOAT8PASSBYVAL,
						  TYPALIGN_DOUBLE, &due_values, NULL, &ndues);
		if (nkeys != ndues)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("a timer of stream \"%s\" is corrupt", stream->name)));
		for (i = 0; i < nkeys; i++)
		{
			TimestampTz t = DatumGetTimestampTz(due_values[i]);

			if (key_nulls[i])
				continue;
			if (t > watermark)
			{
				/* not yet: set again, in this call's row */
				timers_add(st, key_values[i], stream->part, t);
				continue;
			}
			/* the array's values point into keys, kept to the end of the call */
			timer_list_add(&found, key_values[i], t, stream->part);
		}
		simple_heap_delete(tm->t.rel, &tm->slot->tts_tid);
	}
	index_endscan(scan);

	/* timers this call set that are due already (not yet written) */
	timers_take(st, stream->part, false, watermark, &found);
	due = found.items;
	ndue = found.count;
	if (ndue == 0)
	{
		UnregisterSnapshot(snapshot);
		return;
	}

	/* each key once: the entry that counts is the one at its row's deadline */
	qsort_arg(due, ndue, sizeof(Timer), cmp_due_timer, stream);
	scan = compat_index_beginscan(st->t.rel, st->t.key_index, snapshot, st->key_nkeys, 0);
	for (i = 0; i < ndue; i++)
	{
		Datum		key = due[i].key;
		bool		isnull;
		TimestampTz timer;
		TimestampTz last_ts;
		int			j;

		CHECK_FOR_INTERRUPTS();
		if (i > 0 && stream_key_cmp(stream, due[i - 1].key, key) == 0)
			continue;
		if (!key_probe(st, scan, key))
			continue;			/* stale: the session finished */
		timer = DatumGetTimestampTz(slot_getattr(st->slot, st->lay->deadline, &isnull));
		if (isnull || timer > watermark)
			continue;			/* stale: its timer was set again */
		for (j = i; j < ndue && stream_key_cmp(stream, due[j].key, key) == 0; j++)
			if (due[j].due == timer)
				break;
		if (j == ndue || stream_key_cmp(stream, due[j].key, key) != 0)
			continue;			/* its timer is in a row not yet read: not due */
		last_ts = DatumGetTimestampTz(slot_getattr(st->slot, st->lay->last_ts, &isnull));
		if (rules_timed_out(&stream->rules, last_ts, watermark))
			finish_row(st, st->slot, END_GAP, finished, delta);
		else
			set_timer(st, st->slot,
					  session_timer(stream, ts_add_usecs(last_ts, stream->rules.gap), false, 0,
									&isnull),
					  isnull);
	}
	index_endscan(scan);
	UnregisterSnapshot(snapshot);
}

/*
 * state_chunks: the stream's chunk table, for writing.
 */
static Chunks *
state_chunks(StateTable *st)
{
	if (st->chunks == NULL)
		st->chunks = chunks_open(st->stream, st->t.rel, RowExclusiveLock);
	return st->chunks;
}

/*
 * chunk_write: write the events in memory of key's session s as its next
 * chunk.
 */
static void
chunk_write(StateTable *st, Datum key, const Session *s)
{
	Chunks	   *c = state_chunks(st);
	Datum		values[CH_NATTS];
	bool		nulls[CH_NATTS] = {0};
	ArrayType  *event_ts;
	Jsonb	   *events;
	HeapTuple	tup;

	events_arrays(s, &event_ts, &events);
	values[CH_KEY - 1] = key;
	values[CH_SEQ - 1] = Int32GetDatum(s->nchunks);
	values[CH_EVENT_TS - 1] = PointerGetDatum(event_ts);
	values[CH_EVENTS - 1] = JsonbPGetDatum(events);
	values[CH_PART - 1] = Int32GetDatum(st->stream->part);
	tup = heap_form_tuple(RelationGetDescr(c->t.rel), values, nulls);
	simple_heap_insert(c->t.rel, tup);
	stored_insert_index_entries(&c->t, tup, false);
	heap_freetuple(tup);
	pfree(event_ts);
	pfree(events);
}

/*
 * state_take_chunks: a session of key that finishes gets its events in
 * chunks back, and the chunks are deleted.
 */
void
state_take_chunks(StateTable *st, Datum key, Session *s)
{
	Snapshot	snapshot;

	if (s->nchunks == 0)
		return;
	snapshot = take_snapshot(); /* sees chunks this call wrote */
	chunks_read(st->stream, state_chunks(st), snapshot, key, s, true);
	UnregisterSnapshot(snapshot);
}

/*
 * state_open: open a stream's state table and its indexes for a call.
 */
StateTable *
state_open(Stream *stream)
{
	StateTable *st = palloc0(sizeof(StateTable));
	AttrNumber	deadline_cols[2];
	int			ndeadline_cols;
	int			i;

	st->stream = stream;
	st->lay = state_table_open(stream, RowExclusiveLock, &st->t, &st->chunked);
	deadline_cols[0] = st->lay->part;
	deadline_cols[1] = st->lay->deadline;
	ndeadline_cols = st->t.has_part ? 2 : 1;
	if (st->lay->packed)
		st->timers = timers_open(stream, st->t.rel, RowExclusiveLock);
	for (i = 0; i < st->t.nindexes && st->deadline_index == NULL && !st->lay->packed; i++)
		if (st->t.indexes[i]->rd_rel->relam == BTREE_AM_OID &&
			index_on(st->t.index_info[i], deadline_cols + 2 - ndeadline_cols,
					 ndeadline_cols))
			st->deadline_index = st->t.indexes[i];
	if (st->deadline_index == NULL && !st->lay->packed)
		table_altered(stream, st->t.rel, "Its index on the deadline is gone.");

	st->snapshot = take_snapshot();
	st->slot = table_slot_create(st->t.rel, NULL);
	st->key_nkeys = key_nkeys(&st->t);
	index_scankeys(st->t.key_index, st->key_skey, st->key_nkeys, 0);
	st->key_scan = compat_index_beginscan(st->t.rel, st->t.key_index, st->snapshot,
								   st->key_nkeys, 0);
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
	index_endscan(st->key_scan);
	ExecDropSingleTupleTableSlot(st->slot);
	if (st->chunks != NULL)
		chunks_close(st->chunks, NoLock);
	if (st->timers != NULL)
	{
		timers_write(st);
		ExecDropSingleTupleTableSlot(st->timers->slot);
		stored_close(&st->timers->t, NoLock);
	}
	UnregisterSnapshot(st->snapshot);
	stored_close(&st->t, NoLock);
}

/*
 * append_events: add the count events of a row's event_ts and events
 * columns (a state row's or a chunk's) to the arrays at ts, payload and
 * payload_len, from position at.  The payloads point into events, which
 * must live as long as they are used.
 */
static void
append_events(Stream *stream, ArrayType *ts_array, Jsonb *events, int count,
			  TimestampTz *ts, JsonbContainer **payload, int32 *payload_len, int at)
{
	int			i;

	if (ARR_NDIM(ts_array) > 1 || ARR_HASNULL(ts_array) ||
		ARR_ELEMTYPE(ts_array) != TIMESTAMPTZOID ||
		ArrayGetNItems(ARR_NDIM(ts_array), ARR_DIMS(ts_array)) != count ||
		!JB_ROOT_IS_ARRAY(events) || JB_ROOT_COUNT(events) != count)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("an open session of stream \"%s\" is corrupt", stream->name)));

	if (count > 0)
		memcpy(&ts[at], ARR_DATA_PTR(ts_array), sizeof(TimestampTz) * count);
	for (i = 0; i < count; i++)
	{
		JsonbValue *v = getIthJsonbValueFromContainer(&events->root, i);

		if (v->type != jbvBinary)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("an open session of stream \"%s\" is corrupt", stream->name)));
		payload[at + i] = v->val.binary.data;
		payload_len[at + i] = v->val.binary.len;
		pfree(v);
	}
}

/*
 * decode_event_time: the columns of an event-time state row in slot: each
 * event's isLast (in_row of them), and the newest ts in chunks (NULL when
 * there are none).
 */
static void
decode_event_time(Stream *stream, TupleTableSlot *slot, Session *s, int in_row)
{
	ArrayType  *lasts;

	if (slot->tts_isnull[ST_EVENT_LAST - 1] ||
		slot->tts_isnull[ST_CHUNK_LAST - 1] != (s->nchunks == 0))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("an open session of stream \"%s\" is corrupt", stream->name)));
	lasts = DatumGetArrayTypeP(slot->tts_values[ST_EVENT_LAST - 1]);
	if (ARR_NDIM(lasts) > 1 || ARR_HASNULL(lasts) || ARR_ELEMTYPE(lasts) != BOOLOID ||
		ArrayGetNItems(ARR_NDIM(lasts), ARR_DIMS(lasts)) != in_row)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("an open session of stream \"%s\" is corrupt", stream->name)));
	s->is_last = palloc(sizeof(bool) * s->capacity);
	if (in_row > 0)
		memcpy(s->is_last, ARR_DATA_PTR(lasts), sizeof(bool) * in_row);
	s->stored_last_ts = s->nchunks == 0 ? 0 :
		DatumGetTimestampTz(slot->tts_values[ST_CHUNK_LAST - 1]);
}

/*
 * packed_size: the bytes of a packed state row's events column (its
 * varlena header left out) that the n events of s from the first take.
 */
static Size
packed_size(const Session *s, int n)
{
	Size		size = 0;
	int			i;

	for (i = 0; i < n; i++)
		size += PACKED_HEADER + INTALIGN(s->payload_len[i]);
	return size;
}

/*
 * packed_events: the n events of s from the first as a packed state row
 * holds them (see StateLayout), newest first.  The bytes of an event
 * depend on it alone, so a row's older events are written as they were.
 */
static bytea *
packed_events(const Session *s, int n)
{
	Size		size = packed_size(s, n);
	bytea	   *b = palloc(VARHDRSZ + size);
	char	   *p = VARDATA(b);
	int			i;

	SET_VARSIZE(b, VARHDRSZ + size);
	for (i = n - 1; i >= 0; i--)
	{
		int32		len = s->payload_len[i];

		memcpy(p, &s->ts[i], sizeof(TimestampTz));
		memcpy(p + sizeof(TimestampTz), &len, sizeof(int32));
		memcpy(p + PACKED_HEADER, s->payload[i], len);
		p += PACKED_HEADER + len;
		while ((p - VARDATA(b)) % sizeof(int32) != 0)
			*p++ = 0;
	}
	Assert(p == VARDATA(b) + size);
	return b;
}

/*
 * packed_count: how many events a packed state row's events column holds
 * (b, detoasted); an error where its records do not fill it exactly.
 */
static int
packed_count(Stream *stream, bytea *b)
{
	char	   *p = VARDATA(b);
	char	   *end = p + VARSIZE(b) - VARHDRSZ;
	int			n = 0;

	while (end - p >= (long) PACKED_HEADER)
	{
		int32		len;

		memcpy(&len, p + sizeof(TimestampTz), sizeof(int32));
		if (len < (int32) sizeof(uint32) || len > end - p - PACKED_HEADER)
			break;
		p += PACKED_HEADER + INTALIGN(len);
		n++;
	}
	if (p != end)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("an open session of stream \"%s\" is corrupt", stream->name),
				 errdetail("Its events column ends amid an event.")));
	return n;
}

/*
 * packed_read: the n events of a packed state row's events column (b,
 * detoasted, counted by packed_count) into s, oldest first; the payloads
 * point into b, which is 4-byte aligned as a jsonb container must be.
 */
static void
packed_read(bytea *b, Session *s, int n)
{
	char	   *p = VARDATA(b);
	int			i;

	for (i = n - 1; i >= 0; i--)
	{
		int32		len;

		memcpy(&s->ts[i], p, sizeof(TimestampTz));
		memcpy(&len, p + sizeof(TimestampTz), sizeof(int32));
		s->payload[i] = (JsonbContainer *) (p + PACKED_HEADER);
		s->payload_len[i] = len;
		p += PACKED_HEADER + INTALIGN(len);
	}
}

/*
 * decode_row: the session in the state row in slot, of a table of layout
 * lay, copied into CurrentMemoryContext with room for more events.
 * Events in chunks are not read (see state_take_chunks).
 */
static Session *
decode_row(Stream *stream, const StateLayout *lay, TupleTableSlot *slot)
{
	int32		count;
	int32		nchunks;
	int			in_row;
	ArrayType  *ts_array = NULL;
	Jsonb	   *events = NULL;
	bytea	   *packed = NULL;
	Session    *s;

	slot_getallattrs(slot);
	if ((!lay->packed && slot->tts_isnull[lay->event_ts - 1]) ||
		slot->tts_isnull[lay->events - 1] || slot->tts_isnull[lay->count - 1])
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("an open session of stream \"%s\" is corrupt", stream->name)));
	count = DatumGetInt32(slot->tts_values[lay->count - 1]);
	nchunks = row_chunks(stream, lay, slot);
	if (lay->packed)
	{
		/* a copy: the session outlives the slot */
		packed = DatumGetByteaPCopy(slot->tts_values[lay->events - 1]);
		in_row = packed_count(stream, packed);
	}
	else
	{
		ts_array = DatumGetArrayTypeP(slot->tts_values[lay->event_ts - 1]);
		events = DatumGetJsonbPCopy(slot->tts_values[lay->events - 1]);
		in_row = JB_ROOT_COUNT(events);
	}
	if (count < 1 || nchunks < 0 || in_row > count ||
		(nchunks == 0) != (in_row == count))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("an open session of stream \"%s\" is corrupt", stream->name)));

	s = session_alloc(in_row * 2);
	if (lay->packed)
		packed_read(packed, s, in_row);
	else
	{
		append_events(stream, ts_array, events, in_row, s->ts, s->payload, s->payload_len, 0);
		if ((Pointer) ts_array != DatumGetPointer(slot->tts_values[lay->event_ts - 1]))
			pfree(ts_array);
	}
	s->nevents = in_row;
	s->nstored = count - in_row;
	s->nchunks = nchunks;
	s->first_ts = DatumGetTimestampTz(slot->tts_values[lay->first_ts - 1]);
	s->last_ts = DatumGetTimestampTz(slot->tts_values[lay->last_ts - 1]);
	if (stream->event_time)
		decode_event_time(stream, slot, s, in_row);
	return s;
}

/*
 * row_is_of: whether the row in slot is of key and part: what a hash
 * index's scan leaves to be checked (see the top of the file).
 */
static bool
row_is_of(Stream *stream, const StateLayout *lay, StoredTable *t, TupleTableSlot *slot,
		  Datum key, int32 part)
{
	bool		isnull;

	if (t->has_part && DatumGetInt32(slot_getattr(slot, lay->part, &isnull)) != part)
		return false;
	return stream_key_cmp(stream, slot_getattr(slot, lay->key, &isnull), key) == 0;
}

/*
 * key_probe: the row of key in the call's partition, found through scan
 * (a scan of the key index) into st->slot; false when there is none.
 */
static bool
key_probe(StateTable *st, IndexScanDesc scan, Datum key)
{
	Stream	   *stream = st->stream;

	index_rescan(scan, st->key_skey, set_key_part(&st->t, st->key_skey, key, stream->part),
				 NULL, 0);
	while (index_getnext_slot(scan, ForwardScanDirection, st->slot))
		if (!st->t.key_hash || row_is_of(stream, st->lay, &st->t, st->slot, key, stream->part))
			return true;
	return false;
}

/*
 * state_fetch_slot: the row of key, in a slot valid until the next fetch,
 * or NULL; *tid is set to the row, or to invalid when there is none.
 */
TupleTableSlot *
state_fetch_slot(StateTable *st, Datum key, ItemPointer tid)
{
	if (!key_probe(st, st->key_scan, key))
	{
		ItemPointerSetInvalid(tid);
		return NULL;
	}
	*tid = st->slot->tts_tid;
	st->fetched_timer = DatumGetTimestampTz(slot_getattr(st->slot, st->lay->deadline,
														 &st->fetched_timer_null));
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

	return slot != NULL ? decode_row(st->stream, st->lay, slot) : NULL;
}

/*
 * session_timer: the timer of a session whose deadline is deadline, whose
 * row had a timer or not.  The timer is kept unless it is later than the
 * deadline, or so early that the clock has passed it (it would be moved by
 * the end of the call anyway).  Sets *isnull when the stream has no gap.
 */
static TimestampTz
session_timer(Stream *stream, TimestampTz deadline, bool had_timer, TimestampTz timer,
			  bool *isnull)
{
	*isnull = stream->rules.gap == 0;
	if (*isnull)
		return 0;
	if (had_timer && timer <= deadline &&
		(!stream->has_watermark || timer > stream->watermark))
		return timer;
	return deadline;
}

/*
 * note_timer: a row of the call's partition now has timer t, which may be
 * earlier than the partition's timer floor (see state_expire).
 */
static void
note_timer(Stream *stream, TimestampTz t)
{
	if (stream->has_timer_floor && t < stream->timer_floor)
		stream->timer_floor = t;
	stream->timers_written_min = Min(stream->timers_written_min, t);
}

/*
 * The values of a state row but its key, part and timer; event_last and
 * chunk_last for an event-time stream only (chunk_last when it has chunks).
 */
typedef struct StateRow
{
	TimestampTz first_ts;
	TimestampTz last_ts;
	TimestampTz deadline;		/* when the clock must look at it */
	int32		nevents;
	ArrayType  *event_ts;		/* rows layout */
	Jsonb	   *events;
	bytea	   *packed;			/* packed layout: events */
	int32		nchunks;
	ArrayType  *event_last;
	TimestampTz chunk_last;
} StateRow;

/*
 * row_write: make key's row (tid, the row state_fetch_slot found last, or
 * a new one when tid is invalid) hold row; its timer stays where it was
 * unless the deadline is now earlier (see the top of this file), so that
 * the update can be HOT.
 */
static void
row_write(StateTable *st, Datum key, ItemPointer tid, const StateRow *row)
{
	const StateLayout *lay = st->lay;
	Datum		values[STATE_NATTS_MAX];
	bool		nulls[STATE_NATTS_MAX];
	HeapTuple	tup;

	memset(nulls, false, sizeof(nulls));
	values[lay->key - 1] = key;
	values[lay->first_ts - 1] = TimestampTzGetDatum(row->first_ts);
	values[lay->last_ts - 1] = TimestampTzGetDatum(row->last_ts);
	values[lay->deadline - 1] =
		TimestampTzGetDatum(session_timer(st->stream, row->deadline,
										  ItemPointerIsValid(tid) && !st->fetched_timer_null,
										  st->fetched_timer, &nulls[lay->deadline - 1]));
	values[lay->count - 1] = Int32GetDatum(row->nevents);
	if (lay->packed)
		values[lay->events - 1] = PointerGetDatum(row->packed);
	else
	{
		values[lay->event_ts - 1] = PointerGetDatum(row->event_ts);
		values[lay->events - 1] = JsonbPGetDatum(row->events);
	}
	values[lay->chunks - 1] = Int32GetDatum(row->nchunks);
	values[lay->part - 1] = Int32GetDatum(st->stream->part);
	if (st->stream->event_time)
	{
		values[lay->event_last - 1] = PointerGetDatum(row->event_last);
		values[lay->chunk_last - 1] = TimestampTzGetDatum(row->chunk_last);
		nulls[lay->chunk_last - 1] = row->nchunks == 0;
	}

	if (!nulls[lay->deadline - 1])
	{
		TimestampTz timer = DatumGetTimestampTz(values[lay->deadline - 1]);

		note_timer(st->stream, timer);
		/* packed: a timer set anew goes to the timer table */
		if (lay->packed && (!ItemPointerIsValid(tid) || st->fetched_timer_null ||
							st->fetched_timer != timer))
			timers_add(st, key, st->stream->part, timer);
	}

	tup = heap_form_tuple(RelationGetDescr(st->t.rel), values, nulls);
	if (ItemPointerIsValid(tid))
	{
		compat_heap_update(st->t.rel, tid, tup);
		if (!HeapTupleIsHeapOnly(tup))
			stored_insert_index_entries(&st->t, tup, true);
	}
	else
	{
		simple_heap_insert(st->t.rel, tup);
		stored_insert_index_entries(&st->t, tup, false);
	}
	heap_freetuple(tup);
}

/*
 * state_write: make key's row (see row_write) hold these values, its
 * deadline last_ts + gap.  nevents counts the events in the row and in its
 * nchunks chunks (a state table of version 0.1 has no column for nchunks,
 * which is then 0).
 */
void
state_write(StateTable *st, Datum key, ItemPointer tid, TimestampTz first_ts,
			TimestampTz last_ts, int32 nevents, ArrayType *event_ts, Jsonb *events,
			int32 nchunks)
{
	StateRow	row = {0};

	row.first_ts = first_ts;
	row.last_ts = last_ts;
	row.deadline = ts_add_usecs(last_ts, st->stream->rules.gap);
	row.nevents = nevents;
	row.event_ts = event_ts;
	row.events = events;
	row.nchunks = nchunks;
	row_write(st, key, tid, &row);
}

/*
 * state_delete: remove the row at tid.
 */
void
state_delete(StateTable *st, ItemPointer tid)
{
	simple_heap_delete(st->t.rel, tid);
}

/*
 * bool_array: n booleans as a bool[].
 */
static ArrayType *
bool_array(const bool *values, int n)
{
	Datum	   *datums = palloc(sizeof(Datum) * Max(n, 1));
	int			i;

	for (i = 0; i < n; i++)
		datums[i] = BoolGetDatum(values[i]);
	return construct_array(datums, n, BOOLOID, 1, true, TYPALIGN_CHAR);
}

/*
 * events_arrays: the events in memory of s as a state row or chunk holds
 * them: their timestamps and their payloads (a jsonb array).
 */
static void
events_arrays(const Session *s, ArrayType **event_ts, Jsonb **events)
{
	Datum	   *ts_datums = palloc(sizeof(Datum) * Max(s->nevents, 1));
	int			i;

	for (i = 0; i < s->nevents; i++)
		ts_datums[i] = TimestampTzGetDatum(s->ts[i]);
	*event_ts = construct_array(ts_datums, s->nevents, TIMESTAMPTZOID,
								sizeof(TimestampTz), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
	*events = session_events_jsonb(s);
	pfree(ts_datums);
}

/*
 * et_store: make key's row hold the state s of an event-time key (see
 * eventtime.c): the events of its first session that the watermark has
 * passed move to a chunk once they take CHUNK_BYTES (or number
 * CHUNK_EVENTS); the timer is its first session's deadline.
 */
static void
et_store(StateTable *st, Datum key, ItemPointer tid, Session *s)
{
	Stream	   *stream = st->stream;
	StateRow	row;
	int			k;

	k = et_chunkable(&stream->rules, s, stream->has_watermark, stream->watermark);
	if (k >= CHUNK_EVENTS || events_bytes(s, k) >= CHUNK_BYTES)
	{
		Session		head = *s;
		int			rest = s->nevents - k;

		head.nevents = k;
		chunk_write(st, key, &head);
		s->nstored += k;
		s->nchunks++;
		s->stored_last_ts = s->ts[k - 1];
		memmove(s->ts, &s->ts[k], sizeof(TimestampTz) * rest);
		memmove(s->payload, &s->payload[k], sizeof(JsonbContainer *) * rest);
		memmove(s->payload_len, &s->payload_len[k], sizeof(int32) * rest);
		memmove(s->is_last, &s->is_last[k], sizeof(bool) * rest);
		s->nevents = rest;
	}

	events_arrays(s, &row.event_ts, &row.events);
	row.event_last = bool_array(s->is_last, s->nevents);
	row.first_ts = s->first_ts;
	row.last_ts = s->last_ts;
	row.deadline = et_deadline(&stream->rules, s);
	row.nevents = SESSION_COUNT(s);
	row.nchunks = s->nchunks;
	row.chunk_last = s->stored_last_ts;
	row_write(st, key, tid, &row);
}

/*
 * state_store: make key's row hold session s; s NULL removes the row.
 * tid is the row state_fetch found, or invalid for a new key.  Events that
 * fill a chunk move to one, and s then holds none in memory.
 */
void
state_store(StateTable *st, Datum key, ItemPointer tid, Session *s)
{
	ArrayType  *event_ts;
	Jsonb	   *events;

	if (s == NULL)
	{
		if (ItemPointerIsValid(tid))
			state_delete(st, tid);
		return;
	}
	if (st->stream->event_time)
	{
		et_store(st, key, tid, s);
		return;
	}

	if (st->chunked &&
		(s->nevents >= CHUNK_EVENTS || events_bytes(s, s->nevents) >= CHUNK_BYTES))
	{
		chunk_write(st, key, s);
		s->nstored += s->nevents;
		s->nchunks++;
		s->nevents = 0;
	}

	if (st->lay->packed)
	{
		StateRow	row = {0};

		row.first_ts = SESSION_FIRST_TS(s);
		row.last_ts = SESSION_LAST_TS(s);
		row.deadline = ts_add_usecs(row.last_ts, st->stream->rules.gap);
		row.nevents = SESSION_COUNT(s);
		row.packed = packed_events(s, s->nevents);
		row.nchunks = s->nchunks;
		row_write(st, key, tid, &row);
		pfree(row.packed);
		return;
	}
	events_arrays(s, &event_ts, &events);
	state_write(st, key, tid, SESSION_FIRST_TS(s), SESSION_LAST_TS(s), SESSION_COUNT(s),
				event_ts, events, s->nchunks);
	pfree(event_ts);
	pfree(events);
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
	Datum		key = slot_getattr(slot, st->lay->key, &isnull);
	Session    *session;

	if (stream->finish_state != NULL)
	{
		/* custom state: the function is offered it (custom.c) */
		stream->finish_state(st, slot, reason, finished, delta);
		return;
	}
	key = datumCopy(key, stream->key_typbyval, stream->key_typlen);
	session = decode_row(stream, st->lay, slot);
	state_delete(st, &slot->tts_tid);
	state_take_chunks(st, key, session);
	finished_add(finished, key, session, reason, delta);
}

/*
 * set_timer: point the timer of the row in slot at timer (NULL: none).
 */
static void
set_timer(StateTable *st, TupleTableSlot *slot, TimestampTz timer, bool isnull)
{
	Datum		values[STATE_NATTS_MAX] = {0};
	bool		nulls[STATE_NATTS_MAX] = {0};
	bool		replace[STATE_NATTS_MAX] = {0};
	AttrNumber	deadline = st->lay->deadline;
	bool		should_free;
	HeapTuple	old = ExecFetchSlotHeapTuple(slot, false, &should_free);
	HeapTuple	tup;

	replace[deadline - 1] = true;
	values[deadline - 1] = TimestampTzGetDatum(timer);
	nulls[deadline - 1] = isnull;
	if (!isnull)
		note_timer(st->stream, timer);
	if (!isnull && st->lay->packed)
	{
		bool		key_null;
		bool		part_null;

		timers_add(st, slot_getattr(slot, st->lay->key, &key_null),
				   DatumGetInt32(slot_getattr(slot, st->lay->part, &part_null)), timer);
	}
	tup = heap_modify_tuple(old, RelationGetDescr(st->t.rel), values, nulls, replace);
	compat_heap_update(st->t.rel, &slot->tts_tid, tup);
	if (!HeapTupleIsHeapOnly(tup))
		stored_insert_index_entries(&st->t, tup, true);
	heap_freetuple(tup);
	if (should_free)
		heap_freetuple(old);
}

/*
 * state_et_finish: finish the sessions of key's event-time state *s that
 * watermark makes final (with flush, all of them), read back the events in
 * chunks of the first, and count the change in open sessions (the key had
 * before of them) in delta.  Returns how many finished.
 */
int
state_et_finish(StateTable *st, Datum key, Session **s, int before, TimestampTz watermark,
				bool flush, FinishedList *finished, StreamDelta *delta)
{
	const SessRules *rules = &st->stream->rules;
	int			first = finished->count;
	int			n = 0;

	if (*s != NULL)
		n = et_take_final(rules, key, s, st->stream->has_watermark, watermark, flush,
						  finished, delta);
	if (n > 0)
		state_take_chunks(st, key, finished->items[first].session);
	delta->opened += et_count(rules, *s) - before + n;
	return n;
}

/*
 * et_finish_row: finish the sessions of the event-time row in slot that
 * watermark makes final (with flush, all of them), and keep the rest.
 */
static void
et_finish_row(StateTable *st, TupleTableSlot *slot, TimestampTz watermark, bool flush,
			  FinishedList *finished, StreamDelta *delta)
{
	Stream	   *stream = st->stream;
	bool		isnull;
	Datum		key = datumCopy(slot_getattr(slot, ST_KEY, &isnull), stream->key_typbyval,
								stream->key_typlen);
	Session    *s;
	ItemPointerData tid = slot->tts_tid;
	int			n;

	st->fetched_timer = DatumGetTimestampTz(slot_getattr(slot, ST_DEADLINE,
														 &st->fetched_timer_null));
	s = decode_row(stream, st->lay, slot);
	n = state_et_finish(st, key, &s, et_count(&stream->rules, s), watermark, flush,
						finished, delta);
	if (s == NULL)
		state_delete(st, &tid);
	else if (n > 0)
		et_store(st, key, &tid, s);
	else
		set_timer(st, slot, et_deadline(&stream->rules, s), false);
}

/*
 * cmp_finished_deadline: order finished sessions by deadline (last_ts, the
 * gap being the same), then key with the stream arg's order.
 */
static int
cmp_finished_deadline(const void *a, const void *b, void *arg)
{
	const Finished *fa = a;
	const Finished *fb = b;

	if (fa->last_ts != fb->last_ts)
		return fa->last_ts < fb->last_ts ? -1 : 1;
	return stream_key_cmp((Stream *) arg, fa->key, fb->key);
}

/*
 * state_expire: finish, with reason gap, every session whose deadline
 * (last_ts + gap) is at or before watermark, earliest deadline first (ties
 * in key order).  An index range scan of the timers up to watermark: a
 * session found there that events have extended since gets its timer
 * moved to its deadline (see the top of this file).  The cost is in the
 * sessions that time out or were extended by a gap, not in the sessions
 * that stay open.
 *
 * Nor in the sessions that ended before: the index keeps their entries
 * until VACUUM, all of them earlier than any live timer, and a scan from
 * the start of the partition's range walked over every one at every call
 * (a pass over 200,000 events of many users read 1,450 pages of the index
 * a batch, later batches more).  So the scan starts at the partition's
 * timer floor: once it is done, no timer is at or before watermark, and
 * the floor becomes watermark; a timer written earlier than the floor
 * lowers it (note_timer).  The floor is kept with the clock in the
 * partition's catalog row; NULL (unknown: after a new gap, which moves
 * every timer, see state_reset_deadlines, or an update from 0.2) scans
 * from the start once.
 */
void
state_expire(StateTable *st, TimestampTz watermark, FinishedList *finished,
			 StreamDelta *delta)
{
	Stream	   *stream = st->stream;
	Snapshot	snapshot;
	ScanKeyData skeys[3];		/* (part = part,) deadline <= watermark (, >= floor) */
	int			nkeys = st->t.has_part ? 2 : 1;
	IndexScanDesc scan;
	int			first = finished->count;

	stream->timers_written_min = DT_NOEND;
	if (st->lay->packed)
	{
		timers_expire(st, watermark, finished, delta);
		/* as below: no timer is due now but one set under way */
		stream->has_timer_floor = true;
		stream->timer_floor = Min(watermark, stream->timers_written_min);
		qsort_arg(&finished->items[first], finished->count - first, sizeof(Finished),
				  cmp_finished_deadline, st->stream);
		return;
	}
	snapshot = take_snapshot();
	index_scankeys(st->deadline_index, skeys, nkeys, BTLessEqualStrategyNumber);
	skeys[0].sk_argument = Int32GetDatum(stream->part);
	skeys[nkeys - 1].sk_argument = TimestampTzGetDatum(watermark);
	if (stream->has_timer_floor)
	{
		Oid			ge = get_opfamily_member(st->deadline_index->rd_opfamily[nkeys - 1],
											 TIMESTAMPTZOID, TIMESTAMPTZOID,
											 BTGreaterEqualStrategyNumber);

		ScanKeyInit(&skeys[nkeys], nkeys, BTGreaterEqualStrategyNumber, get_opcode(ge),
					TimestampTzGetDatum(stream->timer_floor));
		nkeys++;
	}
	scan = compat_index_beginscan(st->t.rel, st->deadline_index, snapshot, nkeys, 0);
	index_rescan(scan, skeys, nkeys, NULL, 0);
	while (index_getnext_slot(scan, ForwardScanDirection, st->slot))
	{
		bool		isnull;
		TimestampTz last_ts;

		CHECK_FOR_INTERRUPTS();
		if (st->stream->event_time)
		{
			et_finish_row(st, st->slot, watermark, false, finished, delta);
			continue;
		}
		last_ts = DatumGetTimestampTz(slot_getattr(st->slot, st->lay->last_ts, &isnull));
		if (rules_timed_out(&st->stream->rules, last_ts, watermark))
			finish_row(st, st->slot, END_GAP, finished, delta);
		else
		{
			TimestampTz deadline = session_timer(st->stream,
												 ts_add_usecs(last_ts, st->stream->rules.gap),
												 false, 0, &isnull);

			/* later than watermark: this scan does not meet it again */
			set_timer(st, st->slot, deadline, isnull);
		}
	}
	index_endscan(scan);
	UnregisterSnapshot(snapshot);
	/* no timer is at or before watermark now, but one written under way */
	stream->has_timer_floor = true;
	stream->timer_floor = Min(watermark, stream->timers_written_min);

	/* The timers were in timer order; the result is in deadline order. */
	qsort_arg(&finished->items[first], finished->count - first, sizeof(Finished),
			  cmp_finished_deadline, st->stream);
}

/*
 * cmp_finished_key: order finished sessions by key with the stream arg's
 * order, then by start (an event-time key may have several).
 */
static int
cmp_finished_key(const void *a, const void *b, void *arg)
{
	const Finished *fa = a;
	const Finished *fb = b;
	int			c = stream_key_cmp((Stream *) arg, fa->key, fb->key);

	if (c != 0)
		return c;
	return fa->first_ts < fb->first_ts ? -1 : (fa->first_ts > fb->first_ts);
}

/*
 * state_flush: finish every open session of the call's partition with
 * reason flush, in key order: the partition's range of the timer index
 * (part, deadline), which also holds the sessions without a deadline,
 * sorted.
 */
void
state_flush(StateTable *st, FinishedList *finished, StreamDelta *delta)
{
	Snapshot	snapshot = take_snapshot();
	ScanKeyData skey;			/* part = part */
	int			nkeys = st->t.has_part ? 1 : 0;
	IndexScanDesc scan;
	int			first = finished->count;

	if (st->lay->packed)
	{
		/* no index holds a packed table's rows by partition: a rare pass */
		TableScanDesc hscan = table_beginscan(st->t.rel, snapshot, 0, NULL);

		while (table_scan_getnextslot(hscan, ForwardScanDirection, st->slot))
		{
			bool		isnull;

			CHECK_FOR_INTERRUPTS();
			if (DatumGetInt32(slot_getattr(st->slot, st->lay->part, &isnull)) ==
				st->stream->part)
				finish_row(st, st->slot, END_FLUSH, finished, delta);
		}
		table_endscan(hscan);
		UnregisterSnapshot(snapshot);
		timers_delete(st, st->stream->part, false);
		qsort_arg(&finished->items[first], finished->count - first, sizeof(Finished),
				  cmp_finished_key, st->stream);
		return;
	}
	index_scankeys(st->deadline_index, &skey, nkeys, 0);
	skey.sk_argument = Int32GetDatum(st->stream->part);
	scan = compat_index_beginscan(st->t.rel, st->deadline_index, snapshot, nkeys, 0);
	index_rescan(scan, &skey, nkeys, NULL, 0);
	while (index_getnext_slot(scan, ForwardScanDirection, st->slot))
	{
		CHECK_FOR_INTERRUPTS();
		if (st->stream->event_time)
			et_finish_row(st, st->slot, 0, true, finished, delta);
		else
			finish_row(st, st->slot, END_FLUSH, finished, delta);
	}
	index_endscan(scan);
	UnregisterSnapshot(snapshot);
	qsort_arg(&finished->items[first], finished->count - first, sizeof(Finished),
			  cmp_finished_key, st->stream);
}

/*
 * et_recut_row: the event-time row in slot after the gap changed: its
 * events in chunks back in the row (the new gap may cut among them), and
 * its timer at its first session's deadline.  Returns how many more
 * sessions the key has now (fewer when the new gap merged some).
 */
static int
et_recut_row(StateTable *st, TupleTableSlot *slot, const SessRules *old_rules)
{
	Stream	   *stream = st->stream;
	bool		isnull;
	Datum		key = datumCopy(slot_getattr(slot, ST_KEY, &isnull), stream->key_typbyval,
								stream->key_typlen);
	ItemPointerData tid = slot->tts_tid;
	Session    *s;
	int			before;


	stream->part = DatumGetInt32(slot_getattr(slot, ST_PART, &isnull));
	s = decode_row(stream, st->lay, slot);
	/* under the old gap, the events in chunks were inside the first session */
	before = et_count(old_rules, s);
	state_take_chunks(st, key, s);
	s->stored_last_ts = 0;
	st->fetched_timer_null = true;
	et_store(st, key, &tid, s);
	return et_count(&stream->rules, s) - before;
}

/*
 * state_reset_deadlines: the stream's gap is now gap: set every open
 * session's timer to its deadline, last_ts plus gap (NULL with no gap); an
 * event-time key's sessions are cut anew (see et_recut_row).
 * One pass over the table: a rare change, paid for in the open sessions.
 */
void
state_reset_deadlines(Stream *stream, int64 gap)
{
	SessRules	old_rules = stream->rules;
	StateTable *st;
	TableScanDesc scan;
	int64	   *more = NULL;		/* event time: sessions_open, by partition */
	int32		part;

	stream->rules.gap = gap;
	/* the timers move, earlier too: each partition's next clock scans them all */
	if (catalog_partitioned())
	{
		Datum		id = Int64GetDatum(stream->id);

		(void) catalog_exec(CAT_FLOOR_FORGET, &id, NULL, NULL, NULL);
	}
	stream->has_timer_floor = false;
	st = state_open(stream);
	/* packed: every timer is set anew below */
	if (st->lay->packed)
		timers_delete(st, 0, true);
	scan = table_beginscan(st->t.rel, st->snapshot, 0, NULL);

	if (stream->event_time)
		more = palloc0(sizeof(int64) * stream->npartitions);
	while (table_scan_getnextslot(scan, ForwardScanDirection, st->slot))
	{
		bool		isnull;
		TimestampTz last_ts;
		TimestampTz deadline;

		CHECK_FOR_INTERRUPTS();
		if (stream->event_time)
		{
			int			n = et_recut_row(st, st->slot, &old_rules);

			more[stream->part] += n;
			continue;
		}
		last_ts = DatumGetTimestampTz(slot_getattr(st->slot, st->lay->last_ts, &isnull));
		deadline = session_timer(stream, ts_add_usecs(last_ts, stream->rules.gap), false, 0,
								 &isnull);
		set_timer(st, st->slot, deadline, isnull);
	}
	table_endscan(scan);
	state_close(st);

	/* the new count of open sessions, in each partition's counters */
	for (part = 0; more != NULL && part < stream->npartitions; part++)
		if (more[part] != 0)
		{
			StreamDelta delta = {0};

			partition_lock(stream, part);
			delta.opened = more[part];
			stream_save(stream, &delta);
		}
}

/*
 * Reading a stream's open sessions (open_sessions()): in key order, with
 * the statement's snapshot, taking no lock that is kept: the rows are
 * copied out whole and the table's lock is released at the end, so a
 * transaction that looked at a stream may then feed it while
 * drop_stream() waits for that batch (holding the table would deadlock
 * the two).  Along a unique btree on (key, part) the rows come in that
 * order; a hash index has none, so its rows (those of a key, or the whole
 * table read in a sequential scan) are first listed and sorted: their keys,
 * parts and TIDs, the rows then fetched one by one.
 */
typedef struct ReaderRow
{
	Datum		key;
	int32		part;
	ItemPointerData tid;
} ReaderRow;

struct StateReader
{
	Stream	   *stream;
	Relation	probe;			/* the table, locked while it is read */
	const StateLayout *lay;
	StoredTable t;
	Snapshot	snapshot;
	IndexScanDesc scan;			/* along a unique btree */
	ReaderRow  *rows;			/* else the rows to read, sorted */
	int			nrows;
	int			next;
	TupleTableSlot *slot;
	Chunks	   *chunks;			/* opened when first needed */
	Session    *et_state;		/* event time: the sessions of the row at hand */
	Datum		et_key;
	int32		et_part;
};

/* cmp_reader_row: qsort_arg order of ReaderRows: key, then part */
static int
cmp_reader_row(const void *a, const void *b, void *arg)
{
	const ReaderRow *ra = a;
	const ReaderRow *rb = b;
	int			c = stream_key_cmp((Stream *) arg, ra->key, rb->key);

	if (c != 0)
		return c;
	return ra->part < rb->part ? -1 : (ra->part > rb->part);
}

/*
 * reader_list_rows: list the rows r is to read from a hash-indexed table,
 * those of key with one_key (through the index), else all of them, sorted.
 */
static void
reader_list_rows(StateReader *r, bool one_key, Datum key)
{
	Stream	   *stream = r->stream;
	int			capacity = 64;
	IndexScanDesc iscan = NULL;
	TableScanDesc hscan = NULL;
	ScanKeyData skey;

	r->rows = palloc(sizeof(ReaderRow) * capacity);
	if (one_key)
	{
		index_scankeys(r->t.key_index, &skey, 1, 0);
		skey.sk_argument = key;
		iscan = compat_index_beginscan(r->t.rel, r->t.key_index, r->snapshot, 1, 0);
		index_rescan(iscan, &skey, 1, NULL, 0);
	}
	else
		hscan = table_beginscan(r->t.rel, r->snapshot, 0, NULL);
	for (;;)
	{
		bool		isnull;
		Datum		row_key;
		ReaderRow  *row;

		CHECK_FOR_INTERRUPTS();
		if (one_key ? !index_getnext_slot(iscan, ForwardScanDirection, r->slot) :
			!table_scan_getnextslot(hscan, ForwardScanDirection, r->slot))
			break;
		row_key = slot_getattr(r->slot, r->lay->key, &isnull);
		if (one_key && stream_key_cmp(stream, row_key, key) != 0)
			continue;			/* another key of the same hash */
		if (r->nrows == capacity)
		{
			capacity *= 2;
			r->rows = repalloc_huge(r->rows, sizeof(ReaderRow) * capacity);
		}
		row = &r->rows[r->nrows++];
		row->key = datumCopy(row_key, stream->key_typbyval, stream->key_typlen);
		row->part = r->t.has_part ? DatumGetInt32(slot_getattr(r->slot, r->lay->part, &isnull)) : 0;
		row->tid = r->slot->tts_tid;
	}
	if (iscan != NULL)
		index_endscan(iscan);
	if (hscan != NULL)
		table_endscan(hscan);
	ExecClearTuple(r->slot);
	qsort_arg(r->rows, r->nrows, sizeof(ReaderRow), cmp_reader_row, stream);
}

/*
 * reader_next_slot: the next row r reads, into r->slot, or false at the
 * end.
 */
static bool
reader_next_slot(StateReader *r)
{
	if (r->scan != NULL)
		return index_getnext_slot(r->scan, ForwardScanDirection, r->slot);
	while (r->next < r->nrows)
	{
		ItemPointerData tid = r->rows[r->next++].tid;

		/* listed under the same snapshot, so still there */
		if (table_tuple_fetch_row_version(r->t.rel, &tid, r->snapshot, r->slot))
			return true;
	}
	return false;
}

/*
 * state_read_begin: start reading the open sessions of stream, in key
 * order (a key's by partition); with one_key, those of key only (a probe
 * of the key index).
 */
StateReader *
state_read_begin(Stream *stream, bool one_key, Datum key)
{
	StateReader *r = palloc0(sizeof(StateReader));
	bool		chunked;
	ScanKeyData skey;
	int			nkeys = one_key ? 1 : 0;

	r->stream = stream;

	/*
	 * Dropped since stream_lock read its row (which locks nothing here)?  The
	 * table stays open (and locked) until the end, beside the checked open.
	 */
	r->probe = try_relation_open(stream->state_relid, AccessShareLock);
	if (r->probe == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("stream \"%s\" does not exist", stream->name)));
	r->lay = state_table_open(stream, AccessShareLock, &r->t, &chunked);

	r->snapshot = RegisterSnapshot(GetActiveSnapshot());
	r->slot = table_slot_create(r->t.rel, NULL);
	if (r->t.key_hash)
	{
		reader_list_rows(r, one_key, key);
		return r;
	}
	index_scankeys(r->t.key_index, &skey, nkeys, 0);
	skey.sk_argument = key;
	r->scan = compat_index_beginscan(r->t.rel, r->t.key_index, r->snapshot, nkeys, 0);
	index_rescan(r->scan, &skey, nkeys, NULL, 0);
	return r;
}

/*
 * et_read_next: state_read_next of an event-time stream: the sessions of
 * each row, first to last.
 */
static bool
et_read_next(StateReader *r, OpenSession *os)
{
	Stream	   *stream = r->stream;
	Session    *s;
	bool		ends_last;
	bool		later;

	if (r->et_state == NULL)
	{
		if (!reader_next_slot(r))
			return false;
		slot_getallattrs(r->slot);
		r->et_key = datumCopy(r->slot->tts_values[ST_KEY - 1], stream->key_typbyval,
							  stream->key_typlen);
		r->et_part = DatumGetInt32(r->slot->tts_values[ST_PART - 1]);
		r->et_state = decode_row(stream, r->lay, r->slot);
	}
	s = et_split_first(&stream->rules, &r->et_state, &ends_last, &later);
	os->key = r->et_key;
	os->part = r->et_part;
	os->first_ts = s->first_ts;
	os->last_ts = s->last_ts;
	os->count = SESSION_COUNT(s);
	if (s->nchunks > 0)
	{
		if (r->chunks == NULL)
			r->chunks = chunks_open(stream, r->t.rel, AccessShareLock);
		stream->part = os->part;
		chunks_read(stream, r->chunks, r->snapshot, os->key, s, false);
	}
	os->events = session_events_jsonb(s);
	return true;
}

/*
 * state_read_next: the next open session into *os (its key and events
 * valid until state_read_end), or false at the end.
 */
bool
state_read_next(StateReader *r, OpenSession *os)
{
	Stream	   *stream = r->stream;
	TupleTableSlot *slot = r->slot;

	CHECK_FOR_INTERRUPTS();
	if (stream->event_time)
		return et_read_next(r, os);
	if (!reader_next_slot(r))
		return false;
	slot_getallattrs(slot);
	os->key = datumCopy(slot->tts_values[r->lay->key - 1], stream->key_typbyval,
						stream->key_typlen);
	os->first_ts = DatumGetTimestampTz(slot->tts_values[r->lay->first_ts - 1]);
	os->last_ts = DatumGetTimestampTz(slot->tts_values[r->lay->last_ts - 1]);
	os->count = DatumGetInt32(slot->tts_values[r->lay->count - 1]);
	os->part = r->t.has_part ? DatumGetInt32(slot->tts_values[r->lay->part - 1]) : 0;
	if (r->lay->packed || row_chunks(stream, r->lay, slot) > 0)
	{
		/* a long session: its chunks' events, then the row's */
		Session    *s = decode_row(stream, r->lay, slot);

		if (s->nchunks > 0)
		{
			if (r->chunks == NULL)
				r->chunks = chunks_open(stream, r->t.rel, AccessShareLock);
			stream->part = os->part;
			chunks_read(stream, r->chunks, r->snapshot, os->key, s, false);
		}
		os->events = session_events_jsonb(s);
	}
	else
	{
		/* whole, not a TOAST pointer into a table that may be dropped */
		os->events = DatumGetJsonbPCopy(slot->tts_values[r->lay->events - 1]);
	}
	return true;
}

/*
 * state_read_end: the end of reading; the table's lock is released.
 */
void
state_read_end(StateReader *r)
{
	if (r->scan != NULL)
		index_endscan(r->scan);
	ExecDropSingleTupleTableSlot(r->slot);
	UnregisterSnapshot(r->snapshot);
	if (r->chunks != NULL)
		chunks_close(r->chunks, AccessShareLock);
	stored_close(&r->t, AccessShareLock);
	table_close(r->probe, AccessShareLock);
}
