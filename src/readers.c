/*-------------------------------------------------------------------------
 *
 * readers.c
 *	  The SQL functions that read a stream without changing it:
 *	  open_sessions(), committed_offset() and the stats views' oldest open
 *	  session.  None keeps a lock, so a reader never blocks a batch,
 *	  alter_stream() or drop_stream().
 *
 *-------------------------------------------------------------------------
 */
#include "sessionize.h"

#include "access/heapam.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(sessionize_open_sessions);
PG_FUNCTION_INFO_V1(sessionize_committed_offset);
PG_FUNCTION_INFO_V1(sessionize_oldest_open_session);

/* The result columns of open_sessions(). */
enum
{
	OS_KEY, OS_SESSION_START, OS_SESSION_END, OS_EVENT_COUNT, OS_EVENTS,
	OS_PARTITION, OS_NATTS
};

/*
 * key_arg_context: the context line of an error raised while the key of
 * open_sessions() is read (an input function's or a cast's, which name
 * neither the stream nor its key type).
 */
static void
key_arg_context(void *arg)
{
	Stream	   *stream = arg;

	errcontext("reading the key of open_sessions() as key type %s of stream \"%s\"",
			   format_type_be(stream->key_type), stream->name);
}

/*
 * key_arg: the key in argument argno of open_sessions(), as the stream's
 * key type: a value of a type that casts implicitly to it, cast
 * (open_sessions(stream, 7) on a bigint key); of any other type, text
 * and an anonymous ROW(...) included, its text read by the key type's
 * input function (42 on a text key is '42'; 7.5 on a bigint key is an
 * error, not key 8).
 */
static Datum
key_arg(FunctionCallInfo fcinfo, int argno, Stream *stream)
{
	Oid			argtype = get_fn_expr_argtype(fcinfo->flinfo, argno);
	ValueCast  *cast = NULL;
	ErrorContextCallback errcb;
	Datum		key;

	if (!OidIsValid(argtype))
		argtype = TEXTOID;
	errcb.callback = key_arg_context;
	errcb.arg = stream;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
	if (argtype != TEXTOID && argtype != RECORDOID)
		cast = value_cast_init(argtype, stream->key_type, COERCION_IMPLICIT);
	if (cast != NULL)
	{
		key = value_cast(cast, PG_GETARG_DATUM(argno));
		if (stream->key_typlen == -1)
			key = PointerGetDatum(PG_DETOAST_DATUM(key));
	}
	else
	{
		Oid			output;
		bool		isvarlena;

		getTypeOutputInfo(argtype, &output, &isvarlena);
		key = InputFunctionCall(&stream->key_input,
								OidOutputFunctionCall(output, PG_GETARG_DATUM(argno)),
								stream->key_ioparam, -1);
	}
	error_context_stack = errcb.previous;
	return key;
}

/*
 * sessionize_open_sessions: open_sessions(stream, key): the stream's open
 * sessions in the key type's order (a key's in several partitions by
 * partition), as Spark's stateSnapshots() shows them; with key (read as
 * the key type, as the caller; from 0.4 on, a key of any type is cast to
 * it, see key_arg), those of that key, by a probe of the key index.  (The
 * definition of 0.1 and 0.2 has neither the key argument nor the column
 * partition: the tuplestore takes as many columns as the result has.)
 */
Datum
sessionize_open_sessions(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Stream	   *stream;
	StateReader *reader;
	OpenSession os;
	bool		one_key;
	Datum		key = (Datum) 0;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("stream must not be NULL")));

	InitMaterializedSRF(fcinfo, 0);
	stream = stream_lock(text_to_cstring(PG_GETARG_TEXT_PP(0)), STREAM_READ, GetUserId());
	one_key = PG_NARGS() > 1 && !PG_ARGISNULL(1);
	if (one_key)
		key = key_arg(fcinfo, 1, stream);
	reader = state_read_begin(stream, one_key, key);
	while (state_read_next(reader, &os))
	{
		Datum		values[OS_NATTS];
		bool		nulls[OS_NATTS] = {0};

		values[OS_KEY] = CStringGetTextDatum(OutputFunctionCall(&stream->key_output, os.key));
		values[OS_SESSION_START] = TimestampTzGetDatum(os.first_ts);
		values[OS_SESSION_END] = TimestampTzGetDatum(os.last_ts);
		values[OS_EVENT_COUNT] = Int32GetDatum(os.count);
		values[OS_EVENTS] = JsonbPGetDatum(os.events);
		values[OS_PARTITION] = Int32GetDatum(os.part);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	state_read_end(reader);
	return (Datum) 0;
}

/*
 * sessionize_committed_offset: committed_offset(stream, source): the
 * offset last committed for source, NULL for a source never seen; a
 * consumer resumes after it.
 */
Datum
sessionize_committed_offset(PG_FUNCTION_ARGS)
{
	Stream	   *stream;
	int64		offset;

	stream = stream_lock(text_to_cstring(PG_GETARG_TEXT_PP(0)), STREAM_READ, GetUserId());
	if (!offset_committed(stream, text_to_cstring(PG_GETARG_TEXT_PP(1)), &offset))
		PG_RETURN_NULL();
	PG_RETURN_INT64(offset);
}

/*
 * attnum_of: the number of rel's column name of type typid, or
 * InvalidAttrNumber when it has no such column.
 */
static AttrNumber
attnum_of(Relation rel, const char *name, Oid typid)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && att->atttypid == typid &&
			strcmp(NameStr(att->attname), name) == 0)
			return att->attnum;
	}
	return InvalidAttrNumber;
}

/*
 * sessionize_oldest_open_session: _oldest_open_session(state_table, part):
 * the earliest session_start of the open sessions of one partition of a
 * stream, for the stats views, read as the caller; NULL when it has none,
 * or when the caller may not read them (a member of the owning role
 * without INHERIT).
 *
 * The table is its owner's, who could make reading it run code as whoever
 * reads the stats views (a superuser among them): it is read only while
 * it is a plain heap table, without rules (a view) or row security, whose
 * first_ts and part have the types sessionize gave them, by a scan here
 * that calls no function of a type; else NULL.  NULL too while another
 * transaction holds the table exclusively (a drop or a key_index switch
 * under way, or its owner's LOCK TABLE): a reader of the views does not
 * wait for it.  Its lock is released on return, as open_sessions()
 * releases its own: a transaction that read the stats views may then
 * feed the stream while drop_stream() or a key_index switch waits for it,
 * where a lock kept would deadlock them.
 */
Datum
sessionize_oldest_open_session(PG_FUNCTION_ARGS)
{
	Oid			relid = get_relname_relid(NameStr(*PG_GETARG_NAME(0)),
										  get_namespace_oid(SESSIONIZE_SCHEMA, false));
	int32		part = PG_GETARG_INT32(1);
	Relation	rel;
	AttrNumber	first_att;
	AttrNumber	part_att;
	TableScanDesc scan;
	TupleTableSlot *slot;
	bool		found = false;
	TimestampTz oldest = 0;

	if (!OidIsValid(relid) || pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		PG_RETURN_NULL();
	/* not while another holds it exclusively (its owner may, at will) */
	if (!ConditionalLockRelationOid(relid, AccessShareLock))
		PG_RETURN_NULL();
	rel = try_relation_open(relid, NoLock);
	if (rel == NULL)
	{
		UnlockRelationOid(relid, AccessShareLock);
		PG_RETURN_NULL();
	}
	first_att = attnum_of(rel, "first_ts", TIMESTAMPTZOID);
	part_att = attnum_of(rel, "part", INT4OID);
	if (rel->rd_rel->relkind != RELKIND_RELATION || rel->rd_rel->relam != HEAP_TABLE_AM_OID ||
		rel->rd_rel->relhasrules || rel->rd_rel->relrowsecurity ||
		first_att == InvalidAttrNumber || part_att == InvalidAttrNumber)
	{
		relation_close(rel, AccessShareLock);
		PG_RETURN_NULL();
	}

	slot = table_slot_create(rel, NULL);
	scan = table_beginscan(rel, GetActiveSnapshot(), 0, NULL);
	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		bool		isnull;
		Datum		value = slot_getattr(slot, part_att, &isnull);
		TimestampTz first_ts;

		if (isnull || DatumGetInt32(value) != part)
			continue;
		value = slot_getattr(slot, first_att, &isnull);
		if (isnull)
			continue;
		first_ts = DatumGetTimestampTz(value);
		if (!found || first_ts < oldest)
			oldest = first_ts;
		found = true;
	}
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	relation_close(rel, AccessShareLock);
	if (!found)
		PG_RETURN_NULL();
	PG_RETURN_TIMESTAMPTZ(oldest);
}
