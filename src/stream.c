/*-------------------------------------------------------------------------
 *
 * stream.c
 *	  A stream as the calls see it: its catalog row read and decoded
 *	  (settings, key support), the locks that serialize the calls on a
 *	  partition, and its counters and clock saved.  The SQL functions that
 *	  create, alter and drop streams are in ddl.c.
 *
 * Every call that changes a stream locks its catalog row FOR KEY SHARE and
 * the row of the partition it works on FOR UPDATE (sessionize.partitions,
 * which holds each partition's clock and counters): calls on one partition
 * run one at a time, calls on different partitions or streams never wait
 * for each other, and a call that waited sees everything the call before
 * it committed (READ COMMITTED takes a new snapshot per statement).
 * alter_stream and drop_stream lock the stream's row FOR UPDATE, so they
 * wait for every call on the stream, and every call waits for them.  The catalog tables belong to the extension's
 * owner and are read and written through catalog.c alone; the functions
 * here check that the caller may use the stream and do everything else as
 * the caller.
 *
 *-------------------------------------------------------------------------
 */
#include "sessionize.h"

#include "utils/guc.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "common/int.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_amop.h"
#include "catalog/pg_amproc.h"
#include "catalog/pg_language.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "miscadmin.h"
#include "parser/parse_coerce.h"
#include "parser/parse_oper.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/catcache.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/regproc.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

/*
 * check_may_change: a call that changes stream name needs a read-write
 * transaction on the primary, in READ COMMITTED (see call_begin).
 */
void
check_may_change(const char *name)
{
	if (XactReadOnly || RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot change stream \"%s\" in a read-only transaction", name),
				 errhint("Feed the primary; a standby shows streams with open_sessions() and the stats view.")));
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("sessionize needs READ COMMITTED isolation"),
				 errdetail("Calls on a stream wait for each other and must see what the previous call committed."),
				 errhint("Call it in a READ COMMITTED transaction, the default.")));
}

/*
 * interval_usecs: a duration setting in microseconds, a day taken as 24
 * hours and a month as 30 days (as EXTRACT(epoch FROM interval) does), so
 * that results never depend on the session's time zone.  A duration longer
 * than the range of timestamptz means nothing and is refused; sums of a
 * ts and a duration saturate (see ts_add_usecs), so no later batch fails
 * on one.
 */
int64
interval_usecs(Interval *span, const char *setting)
{
	int64		usecs;
	int64		days_usecs;

	if (pg_mul_s64_overflow((int64) span->month * DAYS_PER_MONTH + span->day,
							USECS_PER_DAY, &days_usecs) ||
		pg_add_s64_overflow(span->time, days_usecs, &usecs) ||
		usecs > END_TIMESTAMP || usecs < -END_TIMESTAMP)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_FIELD_OVERFLOW),
				 errmsg("%s is out of range", setting),
				 errdetail("A duration must be shorter than the range of timestamptz.")));
	return usecs;
}

/*
 * check_duration: a positive duration setting (gap, max_duration).
 */
void
check_duration(Interval *span, const char *setting)
{
	if (interval_usecs(span, setting) <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be positive", setting),
				 errhint("Pass NULL for no %s.", setting)));
}

/*
 * check_positive_duration: a NULL or positive interval argument; returns
 * whether it was given.
 */
bool
check_positive_duration(FunctionCallInfo fcinfo, int argno, const char *setting)
{
	if (PG_ARGISNULL(argno))
		return false;
	check_duration(PG_GETARG_INTERVAL_P(argno), setting);
	return true;
}

/*
 * check_update_function: a custom state's update function must be
 * f(key text, events jsonb, state jsonb, timed_out boolean)
 * RETURNS sessionize.state_update (or, from 0.3 on,
 * sessionize.state_outputs), and the caller may execute it.  Returns
 * whether it returns state_outputs.
 */
bool
check_update_function(Oid fn)
{
	Oid			nsp = get_namespace_oid(SESSIONIZE_SCHEMA, false);
	Oid			update_type = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid,
											  CStringGetDatum("state_update"),
											  ObjectIdGetDatum(nsp));
	Oid			outputs_type = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid,
											   CStringGetDatum("state_outputs"),
											   ObjectIdGetDatum(nsp));
	Oid		   *argtypes;
	int			nargs;
	Oid			rettype = get_func_signature(fn, &argtypes, &nargs);

	if (nargs != 4 || argtypes[0] != TEXTOID || argtypes[1] != JSONBOID ||
		argtypes[2] != JSONBOID || argtypes[3] != BOOLOID ||
		(rettype != update_type && (rettype != outputs_type || !OidIsValid(outputs_type))) ||
		get_func_retset(fn))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_FUNCTION_DEFINITION),
				 errmsg("update function %s does not have the signature of one",
						format_procedure(fn)),
				 errhint("It takes (key text, events jsonb, state jsonb, timed_out boolean) and returns sessionize.state_update or sessionize.state_outputs.")));
	if (compat_proc_aclcheck(fn, GetUserId(), ACL_EXECUTE) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for function %s", format_procedure(fn))));
	return rettype == outputs_type;
}

/*
 * time_zone_set: TimeZone is zone from here until time_zone_reset (with
 * what this returns), as a function's SET clause would make it; an
 * invalid zone is an error naming setting.
 */
int
time_zone_set(const char *zone, const char *setting)
{
	int			nest = NewGUCNestLevel();

	if (set_config_option("TimeZone", zone, PGC_USERSET, PGC_S_SESSION,
						  GUC_ACTION_SAVE, true, DEBUG1, false) <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s \"%s\" is not a time zone", setting, zone),
				 errhint("Use a name as TimeZone takes it, e.g. 'UTC' or 'Europe/Berlin', or NULL for the connection's TimeZone.")));
	return nest;
}

/*
 * time_zone_reset: TimeZone back to what it was before time_zone_set.
 */
void
time_zone_reset(int nest)
{
	AtEOXact_GUC(true, nest);
}

/*
 * row_text: text column col of a stream's catalog row, as a C string.
 */
static char *
row_text(HeapTuple row, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = heap_getattr(row, col, desc, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

/*
 * row_interval_usecs: interval column col of a stream's catalog row in
 * microseconds, 0 when NULL.
 */
static int64
row_interval_usecs(HeapTuple row, TupleDesc desc, int col, const char *setting)
{
	bool		isnull;
	Datum		d = heap_getattr(row, col, desc, &isnull);

	return isnull ? 0 : interval_usecs(DatumGetIntervalP(d), setting);
}

/*
 * ts_unit_usecs: microseconds in a unit of epoch numbers, by its name, or
 * an error naming the setting.
 */
int64
ts_unit_usecs(const char *unit)
{
	if (unit != NULL && strcmp(unit, "s") == 0)
		return USECS_PER_SEC;
	if (unit != NULL && strcmp(unit, "ms") == 0)
		return 1000;
	if (unit != NULL && strcmp(unit, "us") == 0)
		return 1;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("ts_unit must be 's', 'ms' or 'us', not %s",
					unit ? quote_literal_cstr(unit) : "NULL"),
			 errhint("It is the unit of timestamps given as epoch numbers.")));
	pg_unreachable();
}

/*
 * stream_lock: look up a stream by name, check that caller may use it,
 * and decode its settings into a Stream in CurrentMemoryContext, locking
 * its catalog row as mode says until the end of the transaction.  The
 * clock is that of partition 0 in a catalog before 0.3, and none from 0.3
 * on until partition_lock.
 */
Stream *
stream_lock(const char *name, StreamLockMode mode, Oid caller)
{
	static const CatalogStmt stmts[] = {
		[STREAM_READ] = CAT_STREAM_READ,
		[STREAM_USE] = CAT_STREAM_USE,
		[STREAM_CHANGE] = CAT_STREAM_LOCK
	};
	Datum		values[1];
	Stream	   *stream;
	TupleDesc	desc;
	HeapTuple	row;
	bool		isnull;
	char	   *state_table;
	char	   *update_function;
	Oid			lt_opr;
	Oid			eq_opr;
	Oid			key_coltype;
	int32		key_coltypmod;
	Oid			func;
	bool		varlena;
	MemoryContext cxt = CurrentMemoryContext;

	values[0] = CStringGetTextDatum(name);
	if (catalog_exec(stmts[mode], values, NULL, &row, &desc) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("stream \"%s\" does not exist", name),
				 errhint("Create it with sessionize.create_stream().")));

	stream = palloc0(sizeof(Stream));
	stream->name = pstrdup(name);
	stream->id = DatumGetInt64(heap_getattr(row, COL_ID, desc, &isnull));
	stream->owner = DatumGetObjectId(heap_getattr(row, COL_OWNER, desc, &isnull));

	if (!has_privs_of_role(caller, stream->owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for stream \"%s\"", name),
				 errhint("Only the role that created the stream, or a member of it, may use it.")));

	stream->key_type = DatumGetObjectId(heap_getattr(row, COL_KEY_TYPE, desc, &isnull));
	stream->rules.gap = row_interval_usecs(row, desc, COL_GAP, "gap");
	stream->rules.max_duration = row_interval_usecs(row, desc, COL_MAX_DURATION,
													"max_duration");
	stream->rules.max_events = DatumGetInt32(heap_getattr(row, COL_MAX_EVENTS, desc, &isnull));
	if (isnull)
		stream->rules.max_events = 0;
	stream->lateness = row_interval_usecs(row, desc, COL_LATENESS, "lateness");
	stream->key_field = row_text(row, desc, COL_KEY_FIELD);
	stream->ts_field = row_text(row, desc, COL_TS_FIELD);
	stream->last_field = row_text(row, desc, COL_LAST_FIELD);
	stream->sink = DatumGetObjectId(heap_getattr(row, COL_SINK, desc, &isnull));
	if (isnull)
		stream->sink = InvalidOid;
	state_table = pstrdup(NameStr(*DatumGetName(heap_getattr(row, COL_STATE_TABLE,
															 desc, &isnull))));
	stream->watermark = DatumGetTimestampTz(heap_getattr(row, COL_WATERMARK, desc,
														 &isnull));
	stream->has_watermark = !isnull;
	update_function = row_text(row, desc, COL_UPDATE_FUNCTION);
	stream->npartitions = DatumGetInt32(heap_getattr(row, COL_PARTITIONS, desc, &isnull));
	(void) heap_getattr(row, COL_MAX_FUTURE, desc, &isnull);
	stream->max_future = isnull ? -1 : row_interval_usecs(row, desc, COL_MAX_FUTURE, "max_future");
	stream->ts_unit = ts_unit_usecs(row_text(row, desc, COL_TS_UNIT));
	stream->dead_letter = DatumGetObjectId(heap_getattr(row, COL_DEAD_LETTER, desc, &isnull));
	if (isnull)
		stream->dead_letter = InvalidOid;
	stream->time_zone = row_text(row, desc, COL_TIME_ZONE);
	stream->event_time = strcmp(row_text(row, desc, COL_MODE), "event_time") == 0;
	(void) heap_getattr(row, COL_SOURCE_IDLE, desc, &isnull);
	stream->source_idle = isnull ? -1 :
		row_interval_usecs(row, desc, COL_SOURCE_IDLE, "source_idle");

	stream->state_relid = get_relname_relid(state_table,
											get_namespace_oid(SESSIONIZE_SCHEMA, false));
	if (!OidIsValid(stream->state_relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("the state table sessionize.\"%s\" of stream \"%s\" is missing",
						state_table, name),
				 errhint("Drop the stream and create it again.")));

	/*
	 * Custom state: the update function, by its signature.  One that is gone
	 * stops batches, expire and flush (see call_begin), not drop_stream.
	 */
	stream->update_function = update_function;
	if (update_function != NULL)
	{
		LOCAL_FCINFO(lookup, 1);

		InitFunctionCallInfoData(*lookup, NULL, 1, InvalidOid, NULL, NULL);
		lookup->args[0].value = CStringGetTextDatum(update_function);
		lookup->args[0].isnull = false;
		stream->update_fn = DatumGetObjectId(to_regprocedure(lookup));
		if (lookup->isnull)
			stream->update_fn = InvalidOid;
		else
			fmgr_info_cxt(stream->update_fn, &stream->update_finfo, cxt);
	}

	/* How to read, print and compare keys. */
	get_typlenbyvalalign(stream->key_type, &stream->key_typlen,
						 &stream->key_typbyval, &stream->key_typalign);
	/* The key column's collation: "C" for deterministic ones, see _create_stream. */
	get_atttypetypmodcoll(stream->state_relid, 1, &key_coltype, &key_coltypmod,
						  &stream->key_collation);
	getTypeInputInfo(stream->key_type, &func, &stream->key_ioparam);
	fmgr_info_cxt(func, &stream->key_input, cxt);
	getTypeOutputInfo(stream->key_type, &func, &varlena);
	fmgr_info_cxt(func, &stream->key_output, cxt);
	get_sort_group_operators(stream->key_type, true, true, false,
							 &lt_opr, &eq_opr, NULL, &stream->key_hashable);
	fmgr_info_cxt(get_opcode(eq_opr), &stream->key_eq, cxt);
	if (stream->key_hashable)
	{
		Oid			hash_func;

		stream->key_hashable = get_op_hash_functions(eq_opr, &hash_func, NULL);
		if (stream->key_hashable)
			fmgr_info_cxt(hash_func, &stream->key_hash, cxt);
	}
	stream->key_sort.ssup_cxt = cxt;
	stream->key_sort.ssup_collation = stream->key_collation;
	stream->key_sort.ssup_nulls_first = false;
	PrepareSortSupportFromOrderingOp(lt_opr, &stream->key_sort);
	stream->key_lt = lt_opr;

	return stream;
}

/*
 * stream_key_cmp: compare two keys with the key type's btree order.
 */
int
stream_key_cmp(Stream *stream, Datum a, Datum b)
{
	return ApplySortComparator(a, false, b, false, &stream->key_sort);
}

/*
 * partition_lock: make part the partition the call works on: lock its
 * catalog row until the end of the transaction (waiting for any call on
 * it that is under way) and read its clock, and the clock of its calls
 * without a source (see offsets.c).  Needs stream_lock(STREAM_USE).
 */
void
partition_lock(Stream *stream, int32 part)
{
	Datum		values[2];
	HeapTuple	row;
	TupleDesc	desc;
	bool		isnull;

	if (part < 0 || part >= stream->npartitions)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("stream \"%s\" has no partition %d", stream->name, part),
				 stream->npartitions == 1 ?
				 errhint("It has one partition, 0.") :
				 errhint("Its partitions are 0 to %d.", stream->npartitions - 1)));
	stream->part = part;
	if (!catalog_partitioned())
		return;					/* one partition, its clock read by stream_lock */

	values[0] = Int64GetDatum(stream->id);
	values[1] = Int32GetDatum(part);
	if (catalog_exec(CAT_PART_LOCK, values, NULL, &row, &desc) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("partition %d of stream \"%s\" has no catalog row", part, stream->name)));
	stream->watermark = DatumGetTimestampTz(heap_getattr(row, 1, desc, &isnull));
	stream->has_watermark = !isnull;
	stream->timer_floor = DatumGetTimestampTz(heap_getattr(row, 2, desc, &isnull));
	stream->has_timer_floor = !isnull;

	memset(&stream->sources, 0, sizeof(PartitionSources));
	stream->moved = false;
	stream->sources.per_source = catalog_version() >= CATALOG_VERSION_SOURCES;
	stream->sources.unsourced_newest = DatumGetTimestampTz(heap_getattr(row, 3, desc, &isnull));
	stream->sources.unsourced_known = !isnull;
	stream->sources.unsourced_at = DatumGetTimestampTz(heap_getattr(row, 4, desc, &isnull));
	stream->sources.unsourced_fed = !isnull;
	stream->sources.has_named = DatumGetBool(heap_getattr(row, 5, desc, &isnull));
	(void) heap_getattr(row, 6, desc, &isnull);
	stream->moved = !isnull;		/* moved_at is set */
}

/*
 * partition_moved_error: a call on a partition that this node gave to
 * another (sessionize.forget_partition).  The lock it waited for was the
 * move's, or its router has not yet learnt of the move: sent again, the
 * call goes to the new node, where the partition's offsets are.
 */
void
partition_moved_error(Stream *stream)
{
	ereport(ERROR,
			(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
			 errmsg("partition %d of stream \"%s\" has moved to another node",
					stream->part, stream->name),
			 errdetail("This node gave it away (see moved_at in sessionize.partition_stats) and keeps none of its sessions or offsets."),
			 errhint("Send the call again through the proxy, which routes it to the partition's new node.")));
}

/*
 * stream_save: add a call's counters to its partition's and set the
 * partition's watermark and timer floor, and the clock of its calls
 * without a source (see offsets.c).  Needs the row lock of partition_lock.
 */
void
stream_save(Stream *stream, const StreamDelta *delta)
{
	PartitionSources *ps = &stream->sources;
	Datum		values[20];
	char		nulls[20];
	int64		closed = 0;
	int			i;

	for (i = 0; i < END_NREASONS; i++)
		closed += delta->closed[i];

	memset(nulls, ' ', sizeof(nulls));
	values[0] = Int64GetDatum(stream->id);
	values[1] = Int64GetDatum(delta->events_in);
	values[2] = Int64GetDatum(delta->late_events);
	values[3] = Int64GetDatum(delta->batches);
	values[4] = Int64GetDatum(delta->opened - closed);
	for (i = 0; i < END_NREASONS; i++)
		values[5 + i] = Int64GetDatum(delta->closed[i]);
	values[10] = TimestampTzGetDatum(stream->watermark);
	if (!stream->has_watermark)
		nulls[10] = 'n';
	values[11] = Int32GetDatum(stream->part);
	values[12] = Int64GetDatum(delta->future_events);
	values[13] = Int64GetDatum(delta->batches_skipped);
	values[14] = Int64GetDatum(delta->outputs);
	values[15] = Int64GetDatum(delta->dead_letters);
	values[16] = TimestampTzGetDatum(stream->timer_floor);
	if (!stream->has_timer_floor)
		nulls[16] = 'n';
	values[17] = TimestampTzGetDatum(ps->unsourced_newest);
	if (!ps->unsourced_known)
		nulls[17] = 'n';
	if (ps->unsourced_call)
		ps->unsourced_at = GetCurrentTransactionStartTimestamp();
	values[18] = TimestampTzGetDatum(ps->unsourced_at);
	if (!ps->unsourced_fed && !ps->unsourced_call)
		nulls[18] = 'n';
	/* a batch from a named source: has_named = true */
	values[19] = BoolGetDatum(ps->per_source && !ps->unsourced_call && delta->batches > 0);

	(void) catalog_exec(CAT_STREAM_SAVE, values, nulls, NULL, NULL);
}
