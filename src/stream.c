/*-------------------------------------------------------------------------
 *
 * stream.c
 *	  The catalog of streams: create_stream, drop_stream, settings, and the
 *	  per-call lock that serializes the calls on one stream.
 *
 * Every call that changes a stream first locks its catalog row
 * (SELECT ... FOR UPDATE): calls on one stream run one at a time, calls on
 * different streams never wait for each other, and a call that waited sees
 * everything the call before it committed (READ COMMITTED takes a new
 * snapshot per statement).  The catalog and the state tables belong to the
 * extension owner; the functions check that the caller may use the stream,
 * then work as that owner.
 *
 *-------------------------------------------------------------------------
 */
#include "sessionize.h"

#include "access/relation.h"
#include "access/table.h"
#include "common/int.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "parser/parse_coerce.h"
#include "parser/parse_oper.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/regproc.h"
#include "utils/syscache.h"

#define SESSIONIZE_SCHEMA "sessionize"

/* The columns a sink must have, in the order of the result columns. */
static const char *const sink_columns[] = {
	"key", "session_start", "session_end", "event_count", "end_reason", "events"
};

#define SINK_NCOLUMNS lengthof(sink_columns)

PG_FUNCTION_INFO_V1(sessionize_create_stream);
PG_FUNCTION_INFO_V1(sessionize_drop_stream);
PG_FUNCTION_INFO_V1(sessionize_alter_stream);

/*
 * extension_owner: the role that owns the catalog tables (the role that
 * ran CREATE EXTENSION).
 */
Oid
extension_owner(void)
{
	Oid			nsp = get_namespace_oid(SESSIONIZE_SCHEMA, false);
	Oid			relid = get_relname_relid("streams", nsp);
	HeapTuple	tup;
	Oid			owner;

	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("the catalog table sessionize.streams is missing"),
				 errhint("Recreate the extension.")));
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * owner_switch_begin: run as the extension owner until user_switch_end.
 * An error in between needs no cleanup: transaction abort restores the
 * user.
 */
void
owner_switch_begin(Oid *saved_user, int *saved_context)
{
	GetUserIdAndSecContext(saved_user, saved_context);
	SetUserIdAndSecContext(extension_owner(),
						   *saved_context | SECURITY_LOCAL_USERID_CHANGE);
}

/*
 * caller_switch_begin: inside a call, run as its caller (for the caller's
 * own code: a query, an update function) until user_switch_end.
 */
void
caller_switch_begin(Stream *stream, Oid *saved_user, int *saved_context)
{
	GetUserIdAndSecContext(saved_user, saved_context);
	SetUserIdAndSecContext(stream->caller, stream->caller_context);
}

/*
 * user_switch_end: back to the user saved by a *_switch_begin.
 */
void
user_switch_end(Oid saved_user, int saved_context)
{
	SetUserIdAndSecContext(saved_user, saved_context);
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
static void
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
 * check_max_events: at least 1 (NULL, no limit, is the caller's case).
 */
static void
check_max_events(int32 max_events)
{
	if (max_events < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_events must be at least 1"),
				 errhint("Pass NULL for no limit.")));
}

/*
 * check_lateness: not NULL, not negative.
 */
static void
check_lateness(Interval *lateness)
{
	if (lateness == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("lateness must not be NULL"),
				 errhint("Pass '0' for a clock that follows the newest event.")));
	if (interval_usecs(lateness, "lateness") < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lateness must not be negative")));
}

/*
 * check_field_name: a JSON field-name setting, not NULL nor empty.
 */
static void
check_field_name(text *name, const char *setting)
{
	if (name == NULL || VARSIZE_ANY_EXHDR(name) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a field name, not NULL or empty", setting)));
}

/*
 * check_key_type: keys are grouped, sorted and indexed with the type's
 * default btree operator class, and sunk as an array of the type.
 */
static void
check_key_type(Oid key_type)
{
	char		typtype = get_typtype(key_type);

	if (typtype == TYPTYPE_PSEUDO ||
		!OidIsValid(GetDefaultOpClass(key_type, BTREE_AM_OID)) ||
		!OidIsValid(get_array_type(key_type)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("key type %s has no default btree operator class",
						format_type_be(key_type)),
				 errhint("Keys are grouped and indexed with btree; choose a type such as text, bigint or uuid.")));
}

/*
 * sink_column_type: the type of the value sessionize writes to sink
 * column i.
 */
static Oid
sink_column_type(int i, Oid key_type)
{
	static const Oid types[SINK_NCOLUMNS] = {
		InvalidOid, TIMESTAMPTZOID, TIMESTAMPTZOID, INT4OID, TEXTOID, JSONBOID
	};

	return i == 0 ? key_type : types[i];
}

/*
 * check_sink: the sink is a table user may insert into, with a
 * column for each result column that can be assigned its value, and a
 * default (or no NOT NULL) for every other column.
 */
static void
check_sink(Oid sink, Oid key_type, Oid user)
{
	Relation	rel = relation_open(sink, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	if (rel->rd_rel->relkind != RELKIND_RELATION &&
		rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("sink \"%s\" is not a table", RelationGetRelationName(rel))));

	if (pg_class_aclcheck(sink, user, ACL_INSERT) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to insert into sink \"%s\"",
						RelationGetRelationName(rel))));

	for (i = 0; i < SINK_NCOLUMNS; i++)
	{
		AttrNumber	attnum = get_attnum(sink, sink_columns[i]);
		Oid			source = sink_column_type(i, key_type);
		Oid			target;

		if (attnum == InvalidAttrNumber || attnum < 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("sink table \"%s\" has no column \"%s\"",
							RelationGetRelationName(rel), sink_columns[i]),
					 errhint("A sink needs the columns key, session_start, session_end, event_count, end_reason and events.")));
		target = TupleDescAttr(desc, attnum - 1)->atttypid;
		if (target != source &&
			!can_coerce_type(1, &source, &target, COERCION_ASSIGNMENT))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("sink column \"%s\".\"%s\" of type %s cannot hold a value of type %s",
							RelationGetRelationName(rel), sink_columns[i],
							format_type_be(target), format_type_be(source))));
	}

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		int			j;
		bool		ours = false;

		if (att->attisdropped || !att->attnotnull || att->atthasdef ||
			att->attidentity || att->attgenerated)
			continue;
		for (j = 0; j < SINK_NCOLUMNS; j++)
			ours |= strcmp(NameStr(att->attname), sink_columns[j]) == 0;
		if (!ours)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TABLE_DEFINITION),
					 errmsg("sink column \"%s\".\"%s\" is NOT NULL and has no default",
							RelationGetRelationName(rel), NameStr(att->attname)),
					 errhint("Give it a default (a serial id, now()), or drop NOT NULL.")));
	}
	relation_close(rel, AccessShareLock);
}

/*
 * check_update_function: a custom state's update function must be
 * f(key text, events jsonb, state jsonb, timed_out boolean)
 * RETURNS sessionize.state_update, and the caller may execute it.
 */
void
check_update_function(Oid fn)
{
	Oid			nsp = get_namespace_oid(SESSIONIZE_SCHEMA, false);
	Oid			update_type = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid,
											  CStringGetDatum("state_update"),
											  ObjectIdGetDatum(nsp));
	Oid		   *argtypes;
	int			nargs;
	Oid			rettype = get_func_signature(fn, &argtypes, &nargs);

	if (nargs != 4 || argtypes[0] != TEXTOID || argtypes[1] != JSONBOID ||
		argtypes[2] != JSONBOID || argtypes[3] != BOOLOID ||
		rettype != update_type || get_func_retset(fn))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_FUNCTION_DEFINITION),
				 errmsg("update function %s does not have the signature of one",
						format_procedure(fn)),
				 errhint("It takes (key text, events jsonb, state jsonb, timed_out boolean) and returns sessionize.state_update.")));
	if (pg_proc_aclcheck(fn, GetUserId(), ACL_EXECUTE) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for function %s", format_procedure(fn))));
}

/*
 * sessionize_create_stream: check every setting, then insert the stream
 * and create its state table as the extension owner.  The caller owns the
 * stream.
 */
Datum
sessionize_create_stream(PG_FUNCTION_ARGS)
{
	Oid			argtypes[12] = {REGROLEOID, TEXTOID, REGTYPEOID, INTERVALOID,
		INTERVALOID, INT4OID, INTERVALOID, TEXTOID, TEXTOID, TEXTOID, REGCLASSOID, TEXTOID};
	Datum		values[12];
	char		nulls[12];
	Oid			key_type;
	Oid			saved_user;
	int			saved_context;
	int			i;

	if (PG_ARGISNULL(0) || VARSIZE_ANY_EXHDR(PG_GETARG_TEXT_PP(0)) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a stream needs a name, not NULL or empty")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("key_type must not be NULL")));
	key_type = PG_GETARG_OID(1);
	check_key_type(key_type);

	check_positive_duration(fcinfo, 2, "gap");
	check_positive_duration(fcinfo, 3, "max_duration");
	if (!PG_ARGISNULL(4))
		check_max_events(PG_GETARG_INT32(4));
	check_lateness(PG_ARGISNULL(5) ? NULL : PG_GETARG_INTERVAL_P(5));
	check_field_name(PG_ARGISNULL(6) ? NULL : PG_GETARG_TEXT_PP(6), "key_field");
	check_field_name(PG_ARGISNULL(7) ? NULL : PG_GETARG_TEXT_PP(7), "ts_field");
	check_field_name(PG_ARGISNULL(8) ? NULL : PG_GETARG_TEXT_PP(8), "last_field");
	if (!PG_ARGISNULL(9))
		check_sink(PG_GETARG_OID(9), key_type, GetUserId());
	if (!PG_ARGISNULL(10))
	{
		check_update_function(PG_GETARG_OID(10));
		if (!PG_ARGISNULL(3) || !PG_ARGISNULL(4))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a stream with an update_function takes no max_duration or max_events"),
					 errhint("Its state is the function's; only gap (the timeout) and lateness apply.")));
	}

	values[0] = ObjectIdGetDatum(GetUserId());
	nulls[0] = ' ';
	for (i = 0; i < 10; i++)
	{
		values[i + 1] = PG_ARGISNULL(i) ? (Datum) 0 : PG_GETARG_DATUM(i);
		nulls[i + 1] = PG_ARGISNULL(i) ? 'n' : ' ';
	}
	/* The update function by its qualified signature: it survives pg_dump. */
	values[11] = PG_ARGISNULL(10) ? (Datum) 0 :
		CStringGetTextDatum(format_procedure_qualified(PG_GETARG_OID(10)));
	nulls[11] = PG_ARGISNULL(10) ? 'n' : ' ';

	owner_switch_begin(&saved_user, &saved_context);
	SPI_connect();
	if (SPI_execute_with_args("SELECT FROM sessionize.streams WHERE name OPERATOR(pg_catalog.=) $1",
							  1, &argtypes[1], &values[1], NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed");
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("stream \"%s\" already exists", text_to_cstring(PG_GETARG_TEXT_PP(0))),
				 errhint("Drop it first with sessionize.drop_stream(), or choose another name.")));
	if (SPI_execute_with_args("SELECT sessionize._create_stream($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
							  12, argtypes, values, nulls, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed");
	SPI_finish();
	user_switch_end(saved_user, saved_context);

	PG_RETURN_VOID();
}

/*
 * sessionize_drop_stream: drop a stream and its state, after every call
 * on it that is under way.
 */
Datum
sessionize_drop_stream(PG_FUNCTION_ARGS)
{
	Oid			caller = GetUserId();
	Oid			saved_user;
	int			saved_context;
	Stream	   *stream;
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1];

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("stream must not be NULL")));

	owner_switch_begin(&saved_user, &saved_context);
	SPI_connect();
	stream = stream_lock(text_to_cstring(PG_GETARG_TEXT_PP(0)), true, caller);
	values[0] = Int64GetDatum(stream->id);
	if (SPI_execute_with_args("SELECT sessionize._drop_stream($1)",
							  1, argtypes, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed");
	SPI_finish();
	user_switch_end(saved_user, saved_context);

	PG_RETURN_VOID();
}

/*
 * The settings alter_stream changes: each is the streams column of that
 * name and type.  The key type and the update function are not here: a
 * stream's open sessions (or states) were built for them.
 */
typedef struct StreamSetting
{
	const char *name;
	Oid			type;
} StreamSetting;

static const StreamSetting stream_settings[] = {
	{"gap", INTERVALOID},
	{"max_duration", INTERVALOID},
	{"max_events", INT4OID},
	{"lateness", INTERVALOID},
	{"key_field", TEXTOID},
	{"ts_field", TEXTOID},
	{"last_field", TEXTOID},
	{"sink", REGCLASSOID},
};

/*
 * find_setting: the alterable setting called name (any case), or an error.
 */
static const StreamSetting *
find_setting(const char *name)
{
	int			i;

	for (i = 0; i < lengthof(stream_settings); i++)
		if (pg_strcasecmp(name, stream_settings[i].name) == 0)
			return &stream_settings[i];

	if (pg_strcasecmp(name, "key_type") == 0 ||
		pg_strcasecmp(name, "update_function") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the %s of a stream cannot be changed", name),
				 errhint("Its open sessions were built for it: create a new stream, and drop this one after sessionize.flush().")));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unrecognized stream setting \"%s\"", name),
			 errhint("The settings that can be changed are gap, max_duration, max_events, lateness, key_field, ts_field, last_field and sink.")));
	pg_unreachable();
}

/*
 * sessionize_alter_stream: alter_stream(stream, setting, value): set one
 * setting of a stream (value NULL removes it), after every call on the
 * stream that is under way.  The value is read as the setting's type, as
 * the caller, with the caller's search_path (a sink's name).
 *
 * A new gap moves the deadline of every open session (last_ts + gap); the
 * sessions it times out close at the stream's next batch, expire() or
 * flush(), as any other.
 */
Datum
sessionize_alter_stream(PG_FUNCTION_ARGS)
{
	Oid			caller = GetUserId();
	const StreamSetting *setting;
	Datum		value = (Datum) 0;
	bool		isnull = PG_ARGISNULL(2);
	Oid			saved_user;
	int			saved_context;
	Stream	   *stream;
	Oid			argtypes[2];
	Datum		values[2];
	char		nulls[2] = {' ', ' '};

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("stream must not be NULL")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("setting must not be NULL")));
	check_may_change(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	setting = find_setting(text_to_cstring(PG_GETARG_TEXT_PP(1)));

	if (!isnull)
	{
		Oid			typinput;
		Oid			typioparam;

		getTypeInputInfo(setting->type, &typinput, &typioparam);
		value = OidInputFunctionCall(typinput, text_to_cstring(PG_GETARG_TEXT_PP(2)),
									 typioparam, -1);
	}
	if (setting->type == INTERVALOID && strcmp(setting->name, "lateness") == 0)
		check_lateness(isnull ? NULL : DatumGetIntervalP(value));
	else if (setting->type == INTERVALOID && !isnull)
		check_duration(DatumGetIntervalP(value), setting->name);
	else if (setting->type == INT4OID && !isnull)
		check_max_events(DatumGetInt32(value));
	else if (setting->type == TEXTOID)
		check_field_name(isnull ? NULL : DatumGetTextPP(value), setting->name);

	owner_switch_begin(&saved_user, &saved_context);
	SPI_connect();
	stream = stream_lock(text_to_cstring(PG_GETARG_TEXT_PP(0)), true, caller);
	if (stream->update_function != NULL && !isnull &&
		(strcmp(setting->name, "max_duration") == 0 ||
		 strcmp(setting->name, "max_events") == 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a stream with an update_function takes no max_duration or max_events"),
				 errhint("Its state is the function's; only gap (the timeout) and lateness apply.")));
	if (setting->type == REGCLASSOID && !isnull)
		check_sink(DatumGetObjectId(value), stream->key_type, caller);

	/* The column is named from stream_settings, never from the caller. */
	argtypes[0] = INT8OID;
	values[0] = Int64GetDatum(stream->id);
	argtypes[1] = setting->type;
	values[1] = value;
	nulls[1] = isnull ? 'n' : ' ';
	if (SPI_execute_with_args(psprintf("UPDATE sessionize.streams SET %s = $2 "
									   "WHERE stream_id OPERATOR(pg_catalog.=) $1",
									   quote_identifier(setting->name)),
							  2, argtypes, values, nulls, false, 0) != SPI_OK_UPDATE ||
		SPI_processed != 1)
		elog(ERROR, "could not update stream \"%s\"", stream->name);

	if (strcmp(setting->name, "gap") == 0)
	{
		int64		gap = isnull ? 0 : interval_usecs(DatumGetIntervalP(value), "gap");

		if (gap != stream->rules.gap)
		{
			stream->rules.gap = gap;
			state_reset_deadlines(stream);
		}
	}
	SPI_finish();
	user_switch_end(saved_user, saved_context);

	PG_RETURN_VOID();
}

/* The catalog row of a stream, as stream_lock reads it. */
#define STREAM_SELECT \
	"SELECT stream_id, owner, key_type, gap, max_duration, max_events, lateness, " \
	"key_field, ts_field, last_field, sink, state_table, watermark, update_function " \
	"FROM sessionize.streams WHERE name OPERATOR(pg_catalog.=) $1"

/* The columns stream_lock reads, by number. */
enum
{
	COL_ID = 1, COL_OWNER, COL_KEY_TYPE, COL_GAP, COL_MAX_DURATION,
	COL_MAX_EVENTS, COL_LATENESS, COL_KEY_FIELD, COL_TS_FIELD, COL_LAST_FIELD,
	COL_SINK, COL_STATE_TABLE, COL_WATERMARK, COL_UPDATE_FUNCTION
};

/*
 * spi_text_column: column col of the first SPI result row, as a C string.
 */
static char *
spi_text_column(int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
								  col, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

/*
 * spi_interval_usecs: interval column col of the first SPI result row in
 * microseconds, 0 when NULL.
 */
static int64
spi_interval_usecs(int col, const char *setting)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
								  col, &isnull);

	return isnull ? 0 : interval_usecs(DatumGetIntervalP(d), setting);
}

/*
 * stream_lock: look up a stream by name, check that caller may use it,
 * and decode its settings into a Stream in CurrentMemoryContext.  With
 * for_update, lock its catalog row until the end of the transaction,
 * waiting for any call on the stream that is under way.  Needs SPI.
 */
Stream *
stream_lock(const char *name, bool for_update, Oid caller)
{
	Oid			argtypes[1] = {TEXTOID};
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

	static void *plan_locking = NULL;
	static void *plan_reading = NULL;

	values[0] = CStringGetTextDatum(name);
	if (for_update)
		spi_run(&plan_locking, STREAM_SELECT " FOR UPDATE", 1, argtypes, values,
				NULL, SPI_OK_SELECT);
	else
		spi_run(&plan_reading, STREAM_SELECT, 1, argtypes, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("stream \"%s\" does not exist", name),
				 errhint("Create it with sessionize.create_stream().")));

	MemoryContextSwitchTo(cxt);
	desc = SPI_tuptable->tupdesc;
	row = SPI_tuptable->vals[0];
	stream = palloc0(sizeof(Stream));
	stream->name = pstrdup(name);
	stream->id = DatumGetInt64(SPI_getbinval(row, desc, COL_ID, &isnull));
	stream->owner = DatumGetObjectId(SPI_getbinval(row, desc, COL_OWNER, &isnull));

	if (!has_privs_of_role(caller, stream->owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for stream \"%s\"", name),
				 errhint("Only the role that created the stream, or a member of it, may use it.")));

	stream->key_type = DatumGetObjectId(SPI_getbinval(row, desc, COL_KEY_TYPE, &isnull));
	stream->rules.gap = spi_interval_usecs(COL_GAP, "gap");
	stream->rules.max_duration = spi_interval_usecs(COL_MAX_DURATION, "max_duration");
	stream->rules.max_events = DatumGetInt32(SPI_getbinval(row, desc, COL_MAX_EVENTS, &isnull));
	if (isnull)
		stream->rules.max_events = 0;
	stream->lateness = spi_interval_usecs(COL_LATENESS, "lateness");
	stream->key_field = spi_text_column(COL_KEY_FIELD);
	stream->ts_field = spi_text_column(COL_TS_FIELD);
	stream->last_field = spi_text_column(COL_LAST_FIELD);
	stream->sink = DatumGetObjectId(SPI_getbinval(row, desc, COL_SINK, &isnull));
	if (isnull)
		stream->sink = InvalidOid;
	state_table = SPI_getvalue(row, desc, COL_STATE_TABLE);
	stream->watermark = DatumGetTimestampTz(SPI_getbinval(row, desc, COL_WATERMARK,
														  &isnull));
	stream->has_watermark = !isnull;
	update_function = spi_text_column(COL_UPDATE_FUNCTION);

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
 * stream_save: add a call's counters to the stream's and set its
 * watermark.  Needs SPI and the row lock of stream_lock.
 */
void
stream_save(Stream *stream, const StreamDelta *delta)
{
	Oid			argtypes[11] = {INT8OID, INT8OID, INT8OID, INT8OID, INT8OID,
		INT8OID, INT8OID, INT8OID, INT8OID, INT8OID, TIMESTAMPTZOID};
	Datum		values[11];
	char		nulls[11];
	int64		closed = 0;
	int			i;
	static void *plan = NULL;

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

	spi_run(&plan, "UPDATE sessionize.streams SET "
			"events_in = events_in OPERATOR(pg_catalog.+) $2, "
			"late_events = late_events OPERATOR(pg_catalog.+) $3, "
			"batches = batches OPERATOR(pg_catalog.+) $4, "
			"sessions_open = sessions_open OPERATOR(pg_catalog.+) $5, "
			"closed_gap = closed_gap OPERATOR(pg_catalog.+) $6, "
			"closed_max_duration = closed_max_duration OPERATOR(pg_catalog.+) $7, "
			"closed_max_events = closed_max_events OPERATOR(pg_catalog.+) $8, "
			"closed_last = closed_last OPERATOR(pg_catalog.+) $9, "
			"closed_flush = closed_flush OPERATOR(pg_catalog.+) $10, "
			"watermark = $11 "
			"WHERE stream_id OPERATOR(pg_catalog.=) $1",
			11, argtypes, values, nulls, SPI_OK_UPDATE);
}
