/*-------------------------------------------------------------------------
 *
 * ddl.c
 *	  create_stream, alter_stream and drop_stream: every setting checked as
 *	  the caller, then the catalog changed through catalog.c.
 *
 *-------------------------------------------------------------------------
 */
#include "sessionize.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
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
#include "parser/scansup.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/catcache.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/regproc.h"
#include "utils/syscache.h"
#include "utils/typcache.h"


PG_FUNCTION_INFO_V1(sessionize_create_stream);
PG_FUNCTION_INFO_V1(sessionize_drop_stream);
PG_FUNCTION_INFO_V1(sessionize_alter_stream);
PG_FUNCTION_INFO_V1(sessionize_set_offset);

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
 * check_max_future: not negative (NULL, no limit, is the caller's case).
 */
static void
check_max_future(Interval *max_future)
{
	if (interval_usecs(max_future, "max_future") < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_future must not be negative"),
				 errhint("Pass '0' for a clock that never runs ahead of the wall clock, NULL for no limit.")));
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
 * proc_is_c: whether function proc is written in C (or internal), that is
 * by a superuser.
 */
static bool
proc_is_c(Oid proc)
{
	HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(proc));
	Oid			lang;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for function %u", proc);
	lang = ((Form_pg_proc) GETSTRUCT(tup))->prolang;
	ReleaseSysCache(tup);
	return lang == ClanguageId || lang == INTERNALlanguageId;
}

/*
 * opfamily_non_c_proc: a function of operator family opfamily for type
 * (an operator's or a support function) that is not written in C, or
 * InvalidOid.
 */
static Oid
opfamily_non_c_proc(Oid opfamily, Oid type)
{
	CatCList   *list = SearchSysCacheList1(AMPROCNUM, ObjectIdGetDatum(opfamily));
	Oid			found = InvalidOid;
	int			i;

	for (i = 0; i < list->n_members && !OidIsValid(found); i++)
	{
		Form_pg_amproc p = (Form_pg_amproc) GETSTRUCT(&list->members[i]->tuple);

		if (p->amproclefttype == type && p->amprocrighttype == type &&
			!proc_is_c(p->amproc))
			found = p->amproc;
	}
	ReleaseSysCacheList(list);

	list = SearchSysCacheList1(AMOPSTRATEGY, ObjectIdGetDatum(opfamily));
	for (i = 0; i < list->n_members && !OidIsValid(found); i++)
	{
		Form_pg_amop o = (Form_pg_amop) GETSTRUCT(&list->members[i]->tuple);

		if (o->amoplefttype == type && o->amoprighttype == type &&
			!proc_is_c(get_opcode(o->amopopr)))
			found = get_opcode(o->amopopr);
	}
	ReleaseSysCacheList(list);
	return found;
}

/*
 * check_key_support: keys of type key_type are compared and hashed with
 * type's default btree and hash operator classes, and those of the types
 * inside it (a domain's base type, an array's element type, a composite's
 * columns, a range's subtype).  Each of their functions must be written
 * in C: the key's comparison support is the one piece of a caller's type
 * that also runs as the extension's owner, when create_stream builds the
 * state table's key index (see catalog.c).  Operator classes are made by
 * superusers, but a superuser may have made one of a role's SQL or
 * PL/pgSQL functions, whose body that role can replace.  A temporary type
 * is refused too: the state table would lose its key column when the
 * session ends.
 */
static void
check_key_support(Oid type, Oid key_type)
{
	static const Oid ams[] = {BTREE_AM_OID, HASH_AM_OID};
	HeapTuple	tup;
	Oid			nsp;
	char		typtype;
	int			i;

	check_stack_depth();
	tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(type));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for type %u", type);
	nsp = ((Form_pg_type) GETSTRUCT(tup))->typnamespace;
	ReleaseSysCache(tup);
	if (isAnyTempNamespace(nsp))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key type %s is a temporary type", format_type_be(key_type)),
				 errhint("A stream outlives the session: use a type of a permanent schema.")));

	type = getBaseType(type);
	for (i = 0; i < lengthof(ams); i++)
	{
		Oid			opclass = GetDefaultOpClass(type, ams[i]);
		Oid			proc;

		if (!OidIsValid(opclass))
			continue;
		proc = opfamily_non_c_proc(get_opclass_family(opclass),
								   get_opclass_input_type(opclass));
		if (OidIsValid(proc))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("key type %s is compared with function %s, which is not written in C",
							format_type_be(key_type), format_procedure(proc)),
					 errdetail("The operator classes of a key type must use C functions, written by a superuser: sessionize indexes keys with them."),
					 errhint("Choose a key type such as text, bigint or uuid, or a domain or composite of such types.")));
	}

	typtype = get_typtype(type);
	if (OidIsValid(get_element_type(type)))
		check_key_support(get_element_type(type), key_type);
	else if (typtype == TYPTYPE_RANGE)
		check_key_support(get_range_subtype(type), key_type);
	else if (typtype == TYPTYPE_MULTIRANGE)
		check_key_support(get_multirange_range(type), key_type);
	else if (typtype == TYPTYPE_COMPOSITE)
	{
		TupleDesc	desc = lookup_rowtype_tupdesc(type, -1);

		for (i = 0; i < desc->natts; i++)
			if (!TupleDescAttr(desc, i)->attisdropped)
				check_key_support(TupleDescAttr(desc, i)->atttypid, key_type);
		ReleaseTupleDesc(desc);
	}
}

/*
 * check_key_type: keys are grouped, sorted and indexed with the type's
 * default btree operator class, and sunk as an array of the type.
 */
static void
check_key_type(Oid key_type)
{
	char		typtype = get_typtype(key_type);

	/* a call gathers its keys in an array of the key type, which needs one */
	if (typtype != TYPTYPE_PSEUDO && !OidIsValid(get_array_type(key_type)))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 OidIsValid(get_element_type(key_type)) ?
				 errmsg("key type %s is an array type, which a key cannot have",
						format_type_be(key_type)) :
				 errmsg("key type %s has no array type", format_type_be(key_type)),
				 errhint("A call gathers its keys in an array of the key type; use text or a composite type.")));
	if (typtype == TYPTYPE_PSEUDO ||
		!OidIsValid(GetDefaultOpClass(key_type, BTREE_AM_OID)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("key type %s has no default btree operator class",
						format_type_be(key_type)),
				 errhint("Keys are grouped and indexed with btree; choose a type such as text, bigint or uuid.")));
	check_key_support(key_type, key_type);
}

/*
 * check_output_table: rel is a table user may insert into (what names it
 * in errors), with a column names[0] and any of the columns names[1 ..
 * ncolumns - 1], each able to be assigned a value of its type in types,
 * and a default (or no NOT NULL) for every other column.  hint lists the
 * columns.  type_setting (may be NULL) is the stream setting that gives
 * names[0] its type (key_type), named by the hint when the column cannot
 * hold it.
 */
static void
check_output_table(Oid relid, const char *what, int ncolumns, const char *const names[],
				   const Oid types[], Oid user, const char *hint, const char *type_setting)
{
	Relation	rel = relation_open(relid, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	if (rel->rd_rel->relkind != RELKIND_RELATION &&
		rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("%s \"%s\" is not a table", what, RelationGetRelationName(rel))));

	if (pg_class_aclcheck(relid, user, ACL_INSERT) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to insert into %s \"%s\"",
						what, RelationGetRelationName(rel))));

	for (i = 0; i < ncolumns; i++)
	{
		AttrNumber	attnum = get_attnum(relid, names[i]);
		Oid			source = types[i];
		Oid			target;

		if ((attnum == InvalidAttrNumber || attnum < 0) && i > 0)
			continue;			/* a column the table does without */
		if (attnum == InvalidAttrNumber || attnum < 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("%s table \"%s\" has no column \"%s\"",
							what, RelationGetRelationName(rel), names[i]),
					 errhint("%s", hint)));
		target = TupleDescAttr(desc, attnum - 1)->atttypid;
		if (target != source &&
			!can_coerce_type(1, &source, &target, COERCION_ASSIGNMENT))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("%s column \"%s\".\"%s\" of type %s cannot hold a value of type %s",
							what, RelationGetRelationName(rel), names[i],
							format_type_be(target), format_type_be(source)),
					 i == 0 && type_setting != NULL ?
					 errhint("The stream's %s is %s: give column \"%s\" that type, or one it can be assigned to such as text, or use a stream whose %s is %s.",
							 type_setting, format_type_be(source), names[i],
							 type_setting, format_type_be(target)) : 0));
	}

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		int			j;
		bool		ours = false;

		if (att->attisdropped || !att->attnotnull || att->atthasdef ||
			att->attidentity || att->attgenerated)
			continue;
		for (j = 0; j < ncolumns; j++)
			ours |= strcmp(NameStr(att->attname), names[j]) == 0;
		if (!ours)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TABLE_DEFINITION),
					 errmsg("%s column \"%s\".\"%s\" is NOT NULL and has no default",
							what, RelationGetRelationName(rel), NameStr(att->attname)),
					 errhint("Give it a default (a serial id, now()), or drop NOT NULL.")));
	}
	relation_close(rel, AccessShareLock);
}

/*
 * check_sink: the sink is a table user may insert into, with a column key
 * and any of the other result columns.
 */
static void
check_sink(Oid sink, Oid key_type, Oid user)
{
	Oid			types[SINK_NCOLUMNS] = {
		key_type, TIMESTAMPTZOID, TIMESTAMPTZOID, INT4OID, TEXTOID, JSONBOID
	};

	check_output_table(sink, "sink", SINK_NCOLUMNS, sink_columns, types, user,
					   "A sink needs a column \"key\"; it may also have session_start, session_end, event_count, end_reason and events.",
					   "key_type");
}

/*
 * check_dead_letter: the dead_letter table is a table user may insert
 * into, with a column element and any of the others of a dead letter.
 */
static void
check_dead_letter(Oid table, Oid user)
{
	check_output_table(table, "dead_letter", DEAD_LETTER_NCOLUMNS, dead_letter_columns,
					   dead_letter_types, user,
					   "A dead_letter table needs a column \"element\"; it may also have element_index, sqlstate, message, source and batch_offset.",
					   NULL);
}

/*
 * check_mode: mode is 'arrival' or 'event_time'; an event-time stream
 * needs a gap (its sessions end by it), and refuses the rules that would
 * end a session by arrival (max_duration, max_events) and custom state.
 */
static void
check_mode(FunctionCallInfo fcinfo, const char *mode)
{
	if (mode == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("mode must not be NULL"),
				 errhint("Pass 'arrival' or 'event_time'.")));
	if (strcmp(mode, "arrival") == 0)
		return;
	if (strcmp(mode, "event_time") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("mode must be 'arrival' or 'event_time', not %s", quote_literal_cstr(mode))));
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("an event_time stream needs a gap"),
				 errhint("Its sessions end where events are gap or more apart in event time.")));
	if (!PG_ARGISNULL(3) || !PG_ARGISNULL(4) || !PG_ARGISNULL(10))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("an event_time stream takes no %s",
						!PG_ARGISNULL(3) ? "max_duration" :
						!PG_ARGISNULL(4) ? "max_events" : "update_function"),
				 errhint("Its sessions are cut by gap and isLast only, so that they merge when an event falls between them.")));
	if (!catalog_partitioned())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("event_time streams need sessionize 0.3"),
				 errhint("Run ALTER EXTENSION sessionize UPDATE.")));
}

/*
 * update_function_arg: the update function argument argno of
 * create_stream: a regprocedure (the definition of 0.1 and 0.2), or from
 * 0.3 on text, a signature or a name that is unambiguous, read as regproc
 * reads it, as the caller, with its search_path.
 */
static Oid
update_function_arg(FunctionCallInfo fcinfo, int argno)
{
	char	   *name;

	if (get_fn_expr_argtype(fcinfo->flinfo, argno) != TEXTOID)
		return PG_GETARG_OID(argno);
	name = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	if (strchr(name, '(') != NULL)
		return DatumGetObjectId(DirectFunctionCall1(regprocedurein, CStringGetDatum(name)));
	return DatumGetObjectId(DirectFunctionCall1(regprocin, CStringGetDatum(name)));
}

/*
 * create_source_idle: set source_idle (argument argno of create_stream,
 * 0.4 on) of the stream create_stream has just made; NULL: its sources
 * never go idle.
 */
static void
create_source_idle(FunctionCallInfo fcinfo, int argno)
{
	Datum		values[2];
	char		nulls[2] = {' ', ' '};
	HeapTuple	row;
	TupleDesc	desc;
	bool		isnull;

	if (!PG_ARGISNULL(argno))
		check_duration(PG_GETARG_INTERVAL_P(argno), "source_idle");
	values[0] = PG_GETARG_DATUM(0);
	if (catalog_exec(CAT_STREAM_READ, values, NULL, &row, &desc) != 1)
		elog(ERROR, "stream \"%s\" was not created", TextDatumGetCString(values[0]));
	values[0] = heap_getattr(row, COL_ID, desc, &isnull);
	values[1] = PG_ARGISNULL(argno) ? (Datum) 0 : PG_GETARG_DATUM(argno);
	nulls[1] = PG_ARGISNULL(argno) ? 'n' : ' ';
	(void) catalog_exec(CAT_SET_SOURCE_IDLE, values, nulls, NULL, NULL);
}

/*
 * sessionize_create_stream: check every setting as the caller, then insert
 * the stream and create its tables (catalog.c).  The caller owns the
 * stream and its tables.
 */
Datum
sessionize_create_stream(PG_FUNCTION_ARGS)
{
	Datum		values[CATALOG_MAX_ARGS];
	char		nulls[CATALOG_MAX_ARGS];
	Oid			key_type;
	Oid			update_fn = InvalidOid;
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
	if (PG_NARGS() > 16)
		check_mode(fcinfo, PG_ARGISNULL(16) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(16)));

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
	/* partitions: the 0.1 and 0.2 definitions have no such argument */
	if (PG_NARGS() > 11 && PG_ARGISNULL(11))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("partitions must not be NULL"),
				 errhint("Pass 1 for a stream fed by one feeder at a time.")));
	if (PG_NARGS() > 11 &&
		(PG_GETARG_INT32(11) < 1 || PG_GETARG_INT32(11) > MAX_PARTITIONS))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("partitions must be between 1 and %d", MAX_PARTITIONS)));
	if (!PG_ARGISNULL(10))
	{
		update_fn = update_function_arg(fcinfo, 10);
		check_update_function(update_fn);
		if (!PG_ARGISNULL(3) || !PG_ARGISNULL(4))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a stream with an update_function takes no max_duration or max_events"),
					 errhint("Its state is the function's; only gap (the timeout) and lateness apply.")));
	}

	/* The caller owns the stream, and its tables (see _create_stream). */
	values[0] = ObjectIdGetDatum(GetUserId());
	nulls[0] = ' ';
	for (i = 0; i < 10; i++)
	{
		values[i + 1] = PG_ARGISNULL(i) ? (Datum) 0 : PG_GETARG_DATUM(i);
		nulls[i + 1] = PG_ARGISNULL(i) ? 'n' : ' ';
	}
	/* The update function by its qualified signature: it survives pg_dump. */
	values[11] = PG_ARGISNULL(10) ? (Datum) 0 :
		CStringGetTextDatum(format_procedure_qualified(update_fn));
	nulls[11] = PG_ARGISNULL(10) ? 'n' : ' ';
	values[12] = Int32GetDatum(PG_NARGS() > 11 ? PG_GETARG_INT32(11) : 1);
	nulls[12] = ' ';
	/* max_future and ts_unit (0.3 on): the clock's limit, epoch numbers' unit */
	values[13] = PG_NARGS() > 12 && !PG_ARGISNULL(12) ? PG_GETARG_DATUM(12) : (Datum) 0;
	nulls[13] = PG_NARGS() > 12 && !PG_ARGISNULL(12) ? ' ' : 'n';
	if (nulls[13] == ' ')
		check_max_future(DatumGetIntervalP(values[13]));
	values[14] = PG_NARGS() <= 13 ? CStringGetTextDatum("s") :
		PG_ARGISNULL(13) ? (Datum) 0 : PG_GETARG_DATUM(13);
	nulls[14] = ' ';
	(void) ts_unit_usecs(values[14] == (Datum) 0 ? NULL : TextDatumGetCString(values[14]));
	/* time_zone (0.3 on): of times without an offset; NULL: TimeZone's */
	values[16] = PG_NARGS() <= 15 ? (Datum) 0 :
		PG_ARGISNULL(15) ? (Datum) 0 : PG_GETARG_DATUM(15);
	nulls[16] = values[16] == (Datum) 0 ? 'n' : ' ';
	if (nulls[16] == ' ')
		time_zone_reset(time_zone_set(TextDatumGetCString(values[16]), "time_zone"));
	/* dead_letter (0.3 on): where a batch's bad elements go */
	values[15] = PG_NARGS() > 14 && !PG_ARGISNULL(14) ? PG_GETARG_DATUM(14) : (Datum) 0;
	nulls[15] = PG_NARGS() > 14 && !PG_ARGISNULL(14) ? ' ' : 'n';
	if (nulls[15] == ' ')
		check_dead_letter(DatumGetObjectId(values[15]), GetUserId());
	/* mode (0.3 on): arrival order, or event time (SPEC 8) */
	values[17] = PG_NARGS() > 16 && !PG_ARGISNULL(16) ? PG_GETARG_DATUM(16) :
		CStringGetTextDatum("arrival");
	nulls[17] = ' ';
	if (DatumGetInt32(values[12]) > 1 && !catalog_partitioned())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("partitions need sessionize 0.3"),
				 errhint("Run ALTER EXTENSION sessionize UPDATE.")));

	if (catalog_exec(CAT_STREAM_READ, &values[1], NULL, NULL, NULL) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("stream \"%s\" already exists", text_to_cstring(PG_GETARG_TEXT_PP(0))),
				 errhint("Drop it first with sessionize.drop_stream(), or choose another name.")));
	(void) catalog_exec(CAT_STREAM_CREATE, values, nulls, NULL, NULL);
	if (PG_NARGS() > 17)
		create_source_idle(fcinfo, 17);

	PG_RETURN_VOID();
}

/*
 * sessionize_drop_stream: drop a stream and its state, after every call
 * on it that is under way.
 */
Datum
sessionize_drop_stream(PG_FUNCTION_ARGS)
{
	Stream	   *stream;
	Datum		values[1];

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("stream must not be NULL")));

	stream = stream_lock(text_to_cstring(PG_GETARG_TEXT_PP(0)), STREAM_CHANGE, GetUserId());
	detach_all(stream->name);
	values[0] = Int64GetDatum(stream->id);
	(void) catalog_exec(CAT_STREAM_DROP, values, NULL, NULL, NULL);

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
	CatalogStmt update;			/* the catalog statement that sets it */
} StreamSetting;

static const StreamSetting stream_settings[] = {
	{"gap", INTERVALOID, CAT_SET_GAP},
	{"max_duration", INTERVALOID, CAT_SET_MAX_DURATION},
	{"max_events", INT4OID, CAT_SET_MAX_EVENTS},
	{"lateness", INTERVALOID, CAT_SET_LATENESS},
	{"key_field", TEXTOID, CAT_SET_KEY_FIELD},
	{"ts_field", TEXTOID, CAT_SET_TS_FIELD},
	{"last_field", TEXTOID, CAT_SET_LAST_FIELD},
	{"sink", REGCLASSOID, CAT_SET_SINK},
	{"max_future", INTERVALOID, CAT_SET_MAX_FUTURE},
	{"ts_unit", TEXTOID, CAT_SET_TS_UNIT},
	{"dead_letter", REGCLASSOID, CAT_SET_DEAD_LETTER},
	{"time_zone", TEXTOID, CAT_SET_TIME_ZONE},
	{"watermark", TIMESTAMPTZOID, CAT_SET_WATERMARK},
	{"key_index", TEXTOID, CAT_SET_KEY_INDEX},
	{"source_idle", INTERVALOID, CAT_SET_SOURCE_IDLE},
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
		pg_strcasecmp(name, "update_function") == 0 ||
		pg_strcasecmp(name, "partitions") == 0 ||
		pg_strcasecmp(name, "mode") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the %s of a stream cannot be changed", name),
				 errhint("Its open sessions were built for it: create a new stream, and drop this one after sessionize.flush().")));
	{
		StringInfoData names;

		initStringInfo(&names);
		for (i = 0; i < lengthof(stream_settings); i++)
			appendStringInfo(&names, "%s%s", i == 0 ? "" :
							 i == lengthof(stream_settings) - 1 ? " and " : ", ",
							 stream_settings[i].name);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unrecognized stream setting \"%s\"", name),
				 errhint("The settings that can be changed are %s.", names.data)));
	}
	pg_unreachable();
}

/* What alter_stream is reading, for the context of an error of the value. */
typedef struct SettingValue
{
	const char *stream;
	const StreamSetting *setting;
} SettingValue;

/*
 * setting_value_context: the context line of an error raised while the
 * value of a setting is read (an input function's, which names neither).
 */
static void
setting_value_context(void *arg)
{
	SettingValue *v = arg;

	errcontext("reading the value of setting %s of stream \"%s\" as %s",
			   v->setting->name, v->stream, format_type_be(v->setting->type));
}

/*
 * bare_number: where the number is in str, if str is a number alone (a
 * sign, digits, a decimal point, blanks around, after the '@' of the
 * postgres interval style), which interval input reads as seconds; else
 * NULL.
 */
static const char *
bare_number(const char *str)
{
	const char *start;
	bool		digits = false;

	while (scanner_isspace(*str))
		str++;
	if (*str == '@')
	{
		str++;
		while (scanner_isspace(*str))
			str++;
	}
	start = str;
	if (*str == '+' || *str == '-')
		str++;
	for (; isdigit((unsigned char) *str) || *str == '.'; str++)
		digits |= isdigit((unsigned char) *str) != 0;
	while (scanner_isspace(*str))
		str++;
	return digits && *str == '\0' ? start : NULL;
}

/*
 * setting_from_text: the value str of setting, read by the input function
 * of its type, as the caller.  A duration that is a number alone other
 * than zero ('30') is refused: interval input would read it as seconds,
 * which is rarely what was meant.
 */
static Datum
setting_from_text(const char *stream, const StreamSetting *setting, const char *str)
{
	SettingValue v = {stream, setting};
	ErrorContextCallback errcb;
	Oid			typinput;
	Oid			typioparam;
	Datum		value;

	getTypeInputInfo(setting->type, &typinput, &typioparam);
	errcb.callback = setting_value_context;
	errcb.arg = &v;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
	value = OidInputFunctionCall(typinput, (char *) str, typioparam, -1);
	error_context_stack = errcb.previous;

	if (setting->type == INTERVALOID && bare_number(str) != NULL &&
		interval_usecs(DatumGetIntervalP(value), setting->name) != 0)
	{
		char	   *number = pstrdup(bare_number(str));

		/* the number as written, without the blanks after it */
		number[strcspn(number, " \t\n\r\f\v")] = '\0';
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s %s has no unit", setting->name, quote_literal_cstr(number)),
				 errhint("Write '%s seconds' or '%s minutes': a number alone would be read as seconds.",
						 number, number)));
	}
	return value;
}

/*
 * setting_arg: the value of setting in argument argno of alter_stream,
 * of the type that overload of alter_stream takes: text, read as the
 * setting's type (setting_from_text); a value of the setting's type; for
 * an integer setting, a smallint, integer or bigint within its range; for a
 * duration, the number 0 (as '0' is read; another number has no unit).  A
 * value of another type (a number for a duration, an interval for a field
 * name) is refused.
 */
static Datum
setting_arg(FunctionCallInfo fcinfo, int argno, const char *stream,
			const StreamSetting *setting)
{
	Oid			argtype = get_fn_expr_argtype(fcinfo->flinfo, argno);
	bool		is_number = argtype == INT2OID || argtype == INT4OID || argtype == INT8OID;
	int64		number = 0;

	if (!OidIsValid(argtype))
		elog(ERROR, "could not determine the type of the value of alter_stream");
	if (argtype == TEXTOID)
		return setting_from_text(stream, setting,
								 text_to_cstring(PG_GETARG_TEXT_PP(argno)));
	if (argtype == setting->type)
		return PG_GETARG_DATUM(argno);
	if (is_number)
		number = argtype == INT2OID ? PG_GETARG_INT16(argno) :
			argtype == INT4OID ? PG_GETARG_INT32(argno) : PG_GETARG_INT64(argno);
	if (is_number && setting->type == INT4OID)
	{
		if (number < PG_INT32_MIN || number > PG_INT32_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("%s " INT64_FORMAT " is out of range for type integer",
							setting->name, number)));
		return Int32GetDatum((int32) number);
	}
	if (is_number && number == 0 && setting->type == INTERVALOID)
		return DirectFunctionCall3(interval_in, CStringGetDatum("0"),
								   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
	ereport(ERROR,
			(errcode(ERRCODE_DATATYPE_MISMATCH),
			 errmsg("%s takes a value of type %s, not %s",
					setting->name, format_type_be(setting->type), format_type_be(argtype)),
			 is_number && setting->type == INTERVALOID ?
			 errhint("A number has no unit: write '" INT64_FORMAT " seconds' or '" INT64_FORMAT " minutes'.",
					 number, number) :
			 setting->type == TEXTOID ?
			 errhint("Pass it as text.") :
			 errhint("Pass a value of type %s, or text that reads as one.",
					 format_type_be(setting->type))));
	pg_unreachable();
}

/*
 * sessionize_alter_stream: alter_stream(stream, setting, value): set one
 * setting of a stream (value NULL removes it), after every call on the
 * stream that is under way.  The value is read as the setting's type, as
 * the caller, with the caller's search_path (a sink's name); it may also
 * be given as a value of that type (the overloads of alter_stream for
 * integers, intervals, timestamps and tables, see setting_arg).
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
	Stream	   *stream;
	Datum		values[2];
	char		nulls[2] = {' ', ' '};
	uint64		processed;

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
		value = setting_arg(fcinfo, 2, text_to_cstring(PG_GETARG_TEXT_PP(0)), setting);
	if (setting->update == CAT_SET_LATENESS)
		check_lateness(isnull ? NULL : DatumGetIntervalP(value));
	else if (setting->update == CAT_SET_MAX_FUTURE)
	{
		if (!isnull)
			check_max_future(DatumGetIntervalP(value));
	}
	else if (setting->update == CAT_SET_TS_UNIT)
		(void) ts_unit_usecs(isnull ? NULL : TextDatumGetCString(value));
	else if (setting->update == CAT_SET_TIME_ZONE)
	{
		/* NULL: the connection's TimeZone */
		if (!isnull)
			time_zone_reset(time_zone_set(TextDatumGetCString(value), "time_zone"));
	}
	else if (setting->update == CAT_SET_KEY_INDEX)
	{
		/* NULL: the default for the key type */
		if (!isnull)
		{
			char	   *kind = TextDatumGetCString(value);

			if (pg_strcasecmp(kind, "hash") != 0 && pg_strcasecmp(kind, "btree") != 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("key_index must be hash or btree, not \"%s\"", kind),
						 errhint("NULL gives the key type's default: hash where it has a hash operator class.")));
			value = CStringGetTextDatum(pg_strcasecmp(kind, "hash") == 0 ? "hash" : "btree");
		}
	}
	else if (setting->update == CAT_SET_WATERMARK)
	{
		if (isnull || TIMESTAMP_NOT_FINITE(DatumGetTimestampTz(value)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("watermark must be a finite instant"),
					 errhint("It sets the clock of every partition of the stream.")));
	}
	else if (setting->type == INTERVALOID && !isnull)
		check_duration(DatumGetIntervalP(value), setting->name);
	else if (setting->type == INT4OID && !isnull)
		check_max_events(DatumGetInt32(value));
	else if (setting->type == TEXTOID)
		check_field_name(isnull ? NULL : DatumGetTextPP(value), setting->name);

	stream = stream_lock(text_to_cstring(PG_GETARG_TEXT_PP(0)), STREAM_CHANGE, caller);
	if (stream->update_function != NULL && !isnull &&
		(strcmp(setting->name, "max_duration") == 0 ||
		 strcmp(setting->name, "max_events") == 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a stream with an update_function takes no max_duration or max_events"),
				 errhint("Its state is the function's; only gap (the timeout) and lateness apply.")));
	if (stream->event_time && isnull && setting->update == CAT_SET_GAP)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("an event_time stream needs a gap"),
				 errhint("Its sessions end where events are gap or more apart in event time.")));
	if (stream->event_time && !isnull &&
		(setting->update == CAT_SET_MAX_DURATION || setting->update == CAT_SET_MAX_EVENTS))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("an event_time stream takes no %s", setting->name),
				 errhint("Its sessions are cut by gap and isLast only.")));
	if (setting->update == CAT_SET_SINK && !isnull)
		check_sink(DatumGetObjectId(value), stream->key_type, caller);
	if (setting->update == CAT_SET_DEAD_LETTER && !isnull)
		check_dead_letter(DatumGetObjectId(value), caller);

	values[0] = Int64GetDatum(stream->id);
	values[1] = value;
	nulls[1] = isnull ? 'n' : ' ';
	if (!catalog_partitioned() &&
		(setting->update == CAT_SET_MAX_FUTURE || setting->update == CAT_SET_TS_UNIT ||
		 setting->update == CAT_SET_DEAD_LETTER || setting->update == CAT_SET_TIME_ZONE ||
		 setting->update == CAT_SET_KEY_INDEX))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the setting %s needs sessionize 0.3", setting->name),
				 errhint("Run ALTER EXTENSION sessionize UPDATE.")));
	if (setting->update == CAT_SET_SOURCE_IDLE && catalog_version() < CATALOG_VERSION_SOURCES)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the setting %s needs sessionize 0.4", setting->name),
				 errhint("Run ALTER EXTENSION sessionize UPDATE.")));
	if (setting->update == CAT_SET_KEY_INDEX)
	{
		/*
		 * The state table, locked here, as the caller, before the owner's
		 * statement rebuilds its index: LOCK TABLE there would follow a
		 * view's rules to its tables (the stream's owner may have made the
		 * table a view) and lock them as the extension's owner.  Locked, it
		 * cannot become a view, so _key_index's check of it holds.
		 */
		LockRelationOid(stream->state_relid, AccessExclusiveLock);
		if (get_rel_relkind(stream->state_relid) != RELKIND_RELATION)
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("the state table of stream \"%s\" is no longer a table",
							stream->name),
					 errhint("Flush the stream and create it again.")));
	}

	/*
	 * The watermark is that of each partition; a setting is one row (for
	 * key_index, the row of the stream whose state table gets the index).
	 */
	processed = catalog_exec(setting->update, values, nulls, NULL, NULL);
	if (setting->update == CAT_SET_WATERMARK ? processed < 1 : processed != 1)
		elog(ERROR, "could not update stream \"%s\"", stream->name);

	if (strcmp(setting->name, "gap") == 0)
	{
		int64		gap = isnull ? 0 : interval_usecs(DatumGetIntervalP(value), "gap");

		if (gap != stream->rules.gap)
			state_reset_deadlines(stream, gap);
	}
	else if (setting->update == CAT_SET_WATERMARK)
	{
		/*
		 * What each source sent before the clock was set is forgotten, so
		 * that the next batches move it on from there (see offsets.c).
		 */
		if (catalog_version() >= CATALOG_VERSION_SOURCES)
			(void) catalog_exec(CAT_CLOCKS_FORGET, values, NULL, NULL, NULL);

		/*
		 * A clock set back lets events older than an event-time key's events
		 * in chunks in again: they come back into the rows (see eventtime.c).
		 */
		if (stream->event_time)
			state_reset_deadlines(stream, stream->rules.gap);
	}

	PG_RETURN_VOID();
}

/*
 * sessionize_set_offset: set_offset(stream, source, offset, partition):
 * the owner moves the committed offset of source (NULL forgets it), e.g.
 * after the topic was recreated or to reprocess its history, after every
 * call on the stream that is under way.  The source keeps its partition,
 * unless partition names another; a new source belongs to partition (0
 * when NULL).
 */
Datum
sessionize_set_offset(PG_FUNCTION_ARGS)
{
	Stream	   *stream;
	char	   *source;
	int32		part = 0;
	Datum		values[4];

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("stream and source must not be NULL")));
	check_may_change(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	stream = stream_lock(text_to_cstring(PG_GETARG_TEXT_PP(0)), STREAM_CHANGE, GetUserId());
	if (!catalog_partitioned())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set_offset needs sessionize 0.3"),
				 errhint("Run ALTER EXTENSION sessionize UPDATE.")));
	source = text_to_cstring(PG_GETARG_TEXT_PP(1));
	values[0] = Int64GetDatum(stream->id);
	values[1] = CStringGetTextDatum(source);
	if (PG_ARGISNULL(2))
	{
		(void) catalog_exec(CAT_OFFSET_FORGET, values, NULL, NULL, NULL);
		PG_RETURN_VOID();
	}
	if (!PG_ARGISNULL(3))
	{
		part = PG_GETARG_INT32(3);
		if (part < 0 || part >= stream->npartitions)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("stream \"%s\" has no partition %d", stream->name, part)));
	}
	else
		(void) offset_part(stream, source, &part);
	values[2] = PG_GETARG_DATUM(2);
	values[3] = Int32GetDatum(part);
	(void) catalog_exec(CAT_OFFSET_SET, values, NULL, NULL, NULL);
	PG_RETURN_VOID();
}
