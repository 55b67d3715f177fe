/*-------------------------------------------------------------------------
 *
 * attach.c
 *	  attach and detach: the rows each INSERT or COPY statement adds to a
 *	  table are one batch of a stream, in that statement's transaction.
 *
 * attach gives the table two triggers, which carry the stream's name and
 * partition as their arguments (so pg_dump keeps them, and DROP TABLE
 * takes them away):
 *
 * - an AFTER INSERT statement trigger with a transition table: the rows a
 *	 statement added are one batch, read from the transition table with no
 *	 query (one COPY of 100,000 rows is one batch, not 100,000);
 *
 * - for rows applied by logical replication, whose apply worker fires row
 *	 triggers only (and only those enabled ALWAYS or REPLICA), an AFTER
 *	 INSERT row trigger, enabled ALWAYS, whose WHEN clause queues an event
 *	 only when session_replication_role is replica (so it costs an inserting
 *	 statement one function call a row, and queues nothing).  It gathers the
 *	 rows of the transaction, in the order they came; they are fed as one
 *	 batch just before the transaction commits (a pre-commit callback), or
 *	 every REPLICA_BATCH_ROWS rows (a table's initial copy).  These batches
 *	 run as the table's owner in a security-restricted operation, as the
 *	 apply worker of PostgreSQL 16 on runs a table's triggers, not as the
 *	 subscription's owner (a superuser); so a batch that would queue a
 *	 deferred trigger's event (on the sink, enabled ALWAYS) fails, as that
 *	 event would fire at commit as the subscription's owner.
 *
 *	 Not a deferred trigger (0.3 made a deferred constraint trigger, whose
 *	 events fired at commit): from PostgreSQL 16 on the apply worker applies
 *	 each row as the table's owner in a security-restricted operation, where
 *	 a deferred trigger cannot be queued, so no row of a subscription could
 *	 be applied.
 *
 * The dead letters of a batch (with a dead_letter table) tell its rows
 * from those of other batches: their source is the table's name, schema-
 * qualified and quoted (public.clicks); their batch_offset is the
 * transaction's id, as pg_current_xact_id() gives it, times
 * BATCHES_PER_XACT, plus the batch's number in the transaction (1, 2, ...;
 * see next_batch_offset).  So batch_offset / 1000000 is the inserting
 * transaction, and two statements of one transaction differ in the rest.
 *
 *-------------------------------------------------------------------------
 */
#include "sessionize.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_trigger.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(sessionize_attach);
PG_FUNCTION_INFO_V1(sessionize_detach);
PG_FUNCTION_INFO_V1(sessionize_feed_statement);
PG_FUNCTION_INFO_V1(sessionize_feed_replica);
PG_FUNCTION_INFO_V1(sessionize_replica_row);

/* The trigger functions, by name in schema sessionize. */
#define FEED_STATEMENT_FN "_feed_statement"
#define FEED_REPLICA_FN "_feed_replica"

/* The name of the transition table of the statement trigger. */
#define ADDED_ROWS "sessionize_added_rows"

/* Replicated rows fed as one batch at most (a table's initial copy). */
#define REPLICA_BATCH_ROWS 10000

/*
 * The batch_offset of a batch's dead letters: the transaction's id times
 * this, plus the batch's number in the transaction (see next_batch_offset).
 */
#define BATCHES_PER_XACT INT64CONST(1000000)

/*
 * trigger_function: the oid of trigger function name of the extension.
 */
static Oid
trigger_function(const char *name)
{
	return LookupFuncName(list_make2(makeString(SESSIONIZE_SCHEMA), makeString((char *) name)),
						  0, NULL, false);
}

/*
 * table_name: rel's name, schema-qualified, quoted for SQL.
 */
static char *
table_name(Oid rel)
{
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(rel)),
									  get_rel_name(rel));
}

/*
 * feed_triggers: the names of the triggers of table rel that feed stream
 * name.
 */
static List *
feed_triggers(Relation rel, const char *name)
{
	Oid			statement_fn = trigger_function(FEED_STATEMENT_FN);
	Oid			replica_fn = trigger_function(FEED_REPLICA_FN);
	TriggerDesc *desc = rel->trigdesc;
	List	   *names = NIL;
	int			i;

	for (i = 0; desc != NULL && i < desc->numtriggers; i++)
	{
		Trigger    *t = &desc->triggers[i];

		if ((t->tgfoid == statement_fn || t->tgfoid == replica_fn) &&
			t->tgnargs == 2 && strcmp(t->tgargs[0], name) == 0)
			names = lappend(names, pstrdup(t->tgname));
	}
	return names;
}

/*
 * run_ddl: run a DDL statement, as the caller.
 */
static void
run_ddl(const char *sql)
{
	int			rc = SPI_execute(sql, false, 0);

	if (rc < 0)
		elog(ERROR, "SPI_execute failed: %s: %s", SPI_result_code_string(rc), sql);
}

/*
 * sessionize_attach: attach(stream, source_table, partition): the rows
 * each statement adds to source_table are a batch of partition of stream.
 * The caller needs the right to use the stream and to make triggers on
 * the table (its owner); the table needs the columns the stream reads,
 * as sessionize_query finds them, and the stream a sink.
 */
Datum
sessionize_attach(PG_FUNCTION_ARGS)
{
	char	   *name;
	Oid			relid;
	int32		part;
	Stream	   *stream;
	Relation	rel;
	char	   *table;
	char	   *trigger;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("stream, source_table and partition must not be NULL")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	relid = PG_GETARG_OID(1);
	part = PG_GETARG_INT32(2);

	stream = stream_lock(name, STREAM_READ, GetUserId());
	if (part < 0 || part >= stream->npartitions)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("stream \"%s\" has no partition %d", name, part),
				 stream->npartitions == 1 ?
				 errhint("It has one partition, 0.") :
				 errhint("Its partitions are 0 to %d.", stream->npartitions - 1)));
	if (!OidIsValid(stream->sink))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("stream \"%s\" has no sink", name),
				 errdetail("The sessions of an attached table's rows go to the stream's sink."),
				 errhint("Give it one first: SELECT sessionize.alter_stream(%s, 'sink', 'a_table').",
						 quote_literal_cstr(name))));

	rel = table_open(relid, AccessShareLock);
	table = table_name(relid);
	if (rel->rd_rel->relkind != RELKIND_RELATION)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot attach %s: only a table can be attached", table),
				 errhint("A partitioned table or a view cannot be; attach a table.")));
	if (relid == stream->sink || relid == stream->dead_letter)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("cannot attach %s to stream \"%s\": it is the stream's %s table",
						table, name, relid == stream->sink ? "sink" : "dead_letter")));
	rows_check_columns(stream, RelationGetDescr(rel), psprintf("table %s", table));
	if (feed_triggers(rel, name) != NIL)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("stream \"%s\" is already attached to table %s", name, table),
				 errhint("Detach it first to attach it to another partition.")));
	table_close(rel, AccessShareLock);

	/*
	 * The triggers are made as the caller, who needs the right to.  They are
	 * named by the stream's id (the name of a stream may be too long for a
	 * trigger's), and carry its name.
	 */
	trigger = psprintf("sessionize_feed_%lld", (long long) stream->id);
	SPI_connect();
	run_ddl(psprintf("CREATE TRIGGER %s AFTER INSERT ON %s"
					 " REFERENCING NEW TABLE AS " ADDED_ROWS
					 " FOR EACH STATEMENT EXECUTE FUNCTION "
					 SESSIONIZE_SCHEMA "." FEED_STATEMENT_FN "(%s, '%d')",
					 quote_identifier(trigger), table, quote_literal_cstr(name), part));
	run_ddl(psprintf("CREATE TRIGGER %s AFTER INSERT ON %s FOR EACH ROW"
					 " WHEN (" SESSIONIZE_SCHEMA "._replica_row())"
					 " EXECUTE FUNCTION " SESSIONIZE_SCHEMA "." FEED_REPLICA_FN "(%s, '%d')",
					 quote_identifier(psprintf("%s_replica", trigger)), table,
					 quote_literal_cstr(name), part));
	run_ddl(psprintf("ALTER TABLE %s ENABLE ALWAYS TRIGGER %s",
					 table, quote_identifier(psprintf("%s_replica", trigger))));
	SPI_finish();

	PG_RETURN_VOID();
}

/*
 * sessionize_detach: detach(stream, source_table): the table's rows no
 * longer feed the stream.  As the caller, who needs the right to drop the
 * table's triggers.
 */
Datum
sessionize_detach(PG_FUNCTION_ARGS)
{
	char	   *name;
	Oid			relid;
	Relation	rel;
	List	   *triggers;
	ListCell   *lc;
	char	   *table;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("stream and source_table must not be NULL")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	relid = PG_GETARG_OID(1);

	rel = table_open(relid, AccessShareLock);
	triggers = feed_triggers(rel, name);
	table_close(rel, AccessShareLock);
	table = table_name(relid);
	if (triggers == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("stream \"%s\" is not attached to table %s", name, table)));

	SPI_connect();
	foreach(lc, triggers)
		run_ddl(psprintf("DROP TRIGGER %s ON %s", quote_identifier(lfirst(lc)), table));
	SPI_finish();

	PG_RETURN_VOID();
}

/*
 * detach_all: drop every trigger that feeds stream name, whoever's table
 * it is on (drop_stream, whose caller may drop the stream).
 */
void
detach_all(const char *name)
{
	Oid			statement_fn = trigger_function(FEED_STATEMENT_FN);
	Oid			replica_fn = trigger_function(FEED_REPLICA_FN);
	Relation	pg_trigger = table_open(TriggerRelationId, AccessShareLock);
	SysScanDesc scan = systable_beginscan(pg_trigger, InvalidOid, false, NULL, 0, NULL);
	ObjectAddresses *drop = new_object_addresses();
	HeapTuple	tuple;

	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_trigger t = (Form_pg_trigger) GETSTRUCT(tuple);
		bool		isnull;
		Datum		args;
		ObjectAddress trigger;

		if (t->tgfoid != statement_fn && t->tgfoid != replica_fn)
			continue;
		args = heap_getattr(tuple, Anum_pg_trigger_tgargs, RelationGetDescr(pg_trigger), &isnull);
		if (isnull || t->tgnargs != 2)
			continue;
		/* the arguments, each ended by a zero byte: the first is the stream */
		if (strcmp(VARDATA_ANY(DatumGetByteaPP(args)), name) != 0)
			continue;
		ObjectAddressSet(trigger, TriggerRelationId, t->oid);
		add_exact_object_address(&trigger, drop);
	}
	systable_endscan(scan);
	table_close(pg_trigger, AccessShareLock);

	performMultipleDeletions(drop, DROP_RESTRICT, 0);
	free_object_addresses(drop);
}

/*
 * feed_trigger_args: the stream and partition of a feeding trigger, whose
 * call fcinfo is, checked to be as attach made it (fired AFTER INSERT,
 * FOR EACH ROW or not as for_row says).
 */
static void
feed_trigger_args(FunctionCallInfo fcinfo, bool for_row, char **name, int32 *part)
{
	TriggerData *td = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo) ||
		!TRIGGER_FIRED_AFTER(td->tg_event) ||
		!TRIGGER_FIRED_BY_INSERT(td->tg_event) ||
		(TRIGGER_FIRED_FOR_ROW(td->tg_event) != 0) != for_row ||
		(!for_row && td->tg_newtable == NULL) ||
		td->tg_trigger->tgnargs != 2)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trigger \"%s\" on %s is not one sessionize.attach made",
						td != NULL && IsA(td, TriggerData) ? td->tg_trigger->tgname : "?",
						td != NULL && IsA(td, TriggerData) ?
						RelationGetRelationName(td->tg_relation) : "?"),
				 errhint("Use sessionize.attach().")));
	*name = td->tg_trigger->tgargs[0];
	*part = pg_strtoint32(td->tg_trigger->tgargs[1]);
}

/*
 * next_batch_offset: the batch_offset of the dead letters of the batch about
 * to be fed: the transaction's id (the top transaction's, as
 * pg_current_xact_id() gives it) times BATCHES_PER_XACT, plus the number
 * of the batch among the attached tables' batches of the transaction,
 * from 1 (batches past BATCHES_PER_XACT - 1 share the last number).  The
 * id wraps after 9.2 trillion transactions, so that the product fits.
 */
static int64
next_batch_offset(void)
{
	static FullTransactionId xact = {0};
	static int64 batches = 0;
	FullTransactionId current = GetTopFullTransactionId();

	if (!FullTransactionIdEquals(current, xact))
	{
		xact = current;
		batches = 0;
	}
	if (batches < BATCHES_PER_XACT - 1)
		batches++;
	return (int64) (U64FromFullTransactionId(current) % (PG_INT64_MAX / BATCHES_PER_XACT)) *
		BATCHES_PER_XACT + batches;
}

/* A batch of an attached table, for the context of its errors. */
typedef struct AttachedBatch
{
	const char *stream;
	const char *table;
	bool		replicated;
} AttachedBatch;

/*
 * attached_batch_context: the context line of an error raised while rows
 * of an attached table are fed to a stream: the error of an INSERT names
 * neither.
 */
static void
attached_batch_context(void *arg)
{
	AttachedBatch *b = arg;

	errcontext("feeding stream \"%s\" the rows %s table %s",
			   b->stream, b->replicated ? "a subscription applied to" : "a statement added to",
			   b->table);
}

/*
 * feed_rows: feed rows[0 .. n) of desc, added to table relid, to
 * partition part of stream name as one batch (sessionize_rows), with the
 * context of its errors and the labels of its dead letters.
 */
static void
feed_rows(const char *name, int32 part, Oid relid, TupleDesc desc, HeapTuple *rows, int n,
		  bool replicated)
{
	AttachedBatch batch;
	ErrorContextCallback errcb;

	batch.stream = name;
	batch.table = table_name(relid);
	batch.replicated = replicated;
	errcb.callback = attached_batch_context;
	errcb.arg = &batch;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
	sessionize_rows(name, part, relid, desc, rows, n, batch.table, next_batch_offset());
	error_context_stack = errcb.previous;
}

/*
 * sessionize_feed_statement: the statement trigger attach makes: the rows
 * the statement added (its transition table) are one batch.  As the
 * inserting role, who needs the right to use the stream.
 */
Datum
sessionize_feed_statement(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	char	   *name;
	int32		part;
	Tuplestorestate *added;
	TupleDesc	desc;
	TupleTableSlot *slot;
	HeapTuple  *rows;
	int64		count;
	int			n = 0;
	int			readptr;

	feed_trigger_args(fcinfo, false, &name, &part);
	added = td->tg_newtable;
	count = tuplestore_tuple_count(added);
	if (count == 0)
		return PointerGetDatum(NULL);
	if (count > MaxAllocHugeSize / sizeof(SessEvent))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a statement added %lld rows to %s, too many for one batch",
						(long long) count, RelationGetRelationName(td->tg_relation))));

	/* a read pointer of its own: another trigger may read the rows too */
	desc = RelationGetDescr(td->tg_relation);
	slot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	rows = palloc_extended(sizeof(HeapTuple) * count, MCXT_ALLOC_HUGE);
	readptr = tuplestore_alloc_read_pointer(added, 0);
	tuplestore_select_read_pointer(added, readptr);
	tuplestore_rescan(added);
	while (n < count && tuplestore_gettupleslot(added, true, false, slot))
		rows[n++] = ExecCopySlotHeapTuple(slot);
	tuplestore_select_read_pointer(added, 0);
	ExecDropSingleTupleTableSlot(slot);

	feed_rows(name, part, RelationGetRelid(td->tg_relation), desc, rows, n, false);
	return PointerGetDatum(NULL);
}

/*
 * The replicated rows of the transaction not yet fed: one buffer per
 * feeding trigger, in TopTransactionContext, each row with the
 * subtransaction that applied it (a streamed transaction applies its
 * subtransactions as such, and may roll one back).
 */
typedef struct ReplicaBuffer
{
	Oid			trigger;
	Oid			relid;
	Oid			owner;			/* of the table: the batches run as it */
	char	   *stream;
	int32		part;
	TupleDesc	desc;
	MemoryContext cxt;			/* of the rows */
	HeapTuple  *rows;
	SubTransactionId *subxacts;
	int			n;
	int			capacity;
} ReplicaBuffer;

static List *replica_buffers = NIL;
static bool replica_callbacks = false;

/*
 * replica_flush: feed buffer b's rows as one batch, as the table's owner
 * in a security-restricted operation, where PostgreSQL refuses to queue a
 * deferred trigger's event: on the sink, it would fire at commit as the
 * subscription's owner.
 */
static void
replica_flush(ReplicaBuffer *b)
{
	Oid			save_userid;
	int			save_sec_context;
	int			n = b->n;
	bool		snapshot = false;

	if (n == 0)
		return;
	b->n = 0;
	if (!ActiveSnapshotSet())
	{
		PushActiveSnapshot(GetTransactionSnapshot());
		snapshot = true;
	}
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(b->owner, save_sec_context | SECURITY_RESTRICTED_OPERATION);
	feed_rows(b->stream, b->part, b->relid, b->desc, b->rows, n, true);
	SetUserIdAndSecContext(save_userid, save_sec_context);
	if (snapshot)
		PopActiveSnapshot();
	MemoryContextReset(b->cxt);
}

/*
 * replica_xact: before a commit (or a PREPARE TRANSACTION, which a
 * two-phase subscription makes), feed every row gathered; at the end of a
 * transaction, nothing is gathered.
 */
static void
replica_xact(XactEvent event, void *arg)
{
	ListCell   *lc;

	if (event == XACT_EVENT_PRE_COMMIT || event == XACT_EVENT_PRE_PREPARE)
	{
		foreach(lc, replica_buffers)
			replica_flush(lfirst(lc));
		return;
	}
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PREPARE || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_PARALLEL_ABORT)
		replica_buffers = NIL;
}

/*
 * replica_subxact: a subtransaction rolled back takes its rows with it:
 * they are the last of each buffer, applied by it or by a subtransaction
 * it began (whose ids are later).
 */
static void
replica_subxact(SubXactEvent event, SubTransactionId mySubid,
				SubTransactionId parentSubid, void *arg)
{
	ListCell   *lc;

	if (event != SUBXACT_EVENT_ABORT_SUB)
		return;
	foreach(lc, replica_buffers)
	{
		ReplicaBuffer *b = lfirst(lc);

		while (b->n > 0 && b->subxacts[b->n - 1] >= mySubid)
			b->n--;
	}
}

/*
 * sessionize_replica_row: the WHEN clause of the replica trigger: queue an
 * event only for a row applied as replica (by a subscription).
 */
Datum
sessionize_replica_row(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(SessionReplicationRole == SESSION_REPLICATION_ROLE_REPLICA);
}

/*
 * replica_buffer: the buffer of the trigger td fired.
 */
static ReplicaBuffer *
replica_buffer(TriggerData *td, const char *name, int32 part)
{
	MemoryContext old;
	ReplicaBuffer *b;
	ListCell   *lc;

	foreach(lc, replica_buffers)
	{
		b = lfirst(lc);
		if (b->trigger == td->tg_trigger->tgoid)
			return b;
	}
	if (!replica_callbacks)
	{
		RegisterXactCallback(replica_xact, NULL);
		RegisterSubXactCallback(replica_subxact, NULL);
		replica_callbacks = true;
	}
	old = MemoryContextSwitchTo(TopTransactionContext);
	b = palloc0(sizeof(ReplicaBuffer));
	b->trigger = td->tg_trigger->tgoid;
	b->relid = RelationGetRelid(td->tg_relation);
	b->owner = td->tg_relation->rd_rel->relowner;
	b->stream = pstrdup(name);
	b->part = part;
	b->desc = CreateTupleDescCopy(RelationGetDescr(td->tg_relation));
	b->capacity = 64;
	b->rows = palloc(sizeof(HeapTuple) * b->capacity);
	b->subxacts = palloc(sizeof(SubTransactionId) * b->capacity);
	b->cxt = AllocSetContextCreate(TopTransactionContext, "sessionize replicated rows",
								   ALLOCSET_DEFAULT_SIZES);
	replica_buffers = lappend(replica_buffers, b);
	MemoryContextSwitchTo(old);
	return b;
}

/*
 * sessionize_feed_replica: the replica trigger attach makes, fired for
 * each row a subscription applied: gather the row; the transaction's rows
 * are fed before it commits (see replica_xact), or when the buffer is full
 * outside a subtransaction (the rows of one that may still roll back are
 * kept until its parent's end).  A deferred constraint trigger of 0.3
 * (attached before 0.4) calls it at commit, the same way.
 */
Datum
sessionize_feed_replica(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	char	   *name;
	int32		part;
	ReplicaBuffer *b;
	MemoryContext old;

	feed_trigger_args(fcinfo, true, &name, &part);
	b = replica_buffer(td, name, part);
	if (b->n == b->capacity)
	{
		b->capacity *= 2;
		b->rows = repalloc_huge(b->rows, sizeof(HeapTuple) * b->capacity);
		b->subxacts = repalloc_huge(b->subxacts, sizeof(SubTransactionId) * b->capacity);
	}
	old = MemoryContextSwitchTo(b->cxt);
	b->rows[b->n] = heap_copytuple(td->tg_trigtuple);
	MemoryContextSwitchTo(old);
	b->subxacts[b->n++] = GetCurrentSubTransactionId();

	if (b->n >= REPLICA_BATCH_ROWS && GetCurrentTransactionNestLevel() == 1)
		replica_flush(b);
	return PointerGetDatum(NULL);
}
