/*-------------------------------------------------------------------------
 *
 * query.c
 *	  The query form: the rows of a query (or a table: TABLE t) as a batch.
 *
 * The query's columns are found by the stream's field names: the key
 * column is key_field ("id" by default), the time column ts_field, and
 * the optional isLast column last_field.  The payload is the query's
 * column "payload" when it has one (jsonb or json), else the whole row as
 * a jsonb object.  The rows are read through a cursor, a chunk at a time,
 * and run as the caller (see decode_query_arg).
 *
 *-------------------------------------------------------------------------
 */
#include "sessionize.h"

#include <ctype.h>

#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "nodes/makefuncs.h"
#include "utils/fmgroids.h"
#include "optimizer/optimizer.h"
#include "lib/stringinfo.h"
#include "parser/parse_coerce.h"
#include "parser/parse_param.h"
#include "utils/jsonb.h"
#include "utils/plancache.h"
#include "utils/lsyscache.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"

/* Rows fetched from the cursor at a time. */
#define QUERY_CHUNK_ROWS 1000

/* The name of the optional payload column. */
#define PAYLOAD_COLUMN "payload"

/* The parameters of the query: their types, as the query gives them. */
typedef struct QueryParams
{
	Oid		   *types;
	int			n;
} QueryParams;

/*
 * params_setup: parse the query with $n of any type, as PREPARE without
 * types does (an SPI parser setup hook).
 */
static void
params_setup(ParseState *pstate, void *arg)
{
	QueryParams *params = arg;

	setup_parse_variable_parameters(pstate, &params->types, &params->n);
}

/*
 * query_plan: prepare the query, as the caller, as it was written (so an
 * error in it is shown in its own text); it must be one SELECT (or VALUES
 * or TABLE).  Sets params->types and n to its parameters ($1 .. $n; text
 * where the query does not say).
 */
static SPIPlanPtr
query_plan(const char *query, QueryParams *params)
{
	SPIPlanPtr	plan;
	List	   *sources;
	CachedPlanSource *source;
	ListCell   *lc;
	int			i;

	/* the parser repallocs the types, which keeps them in this context */
	params->types = palloc0(sizeof(Oid));
	params->n = 0;
	plan = SPI_prepare_params(query, params_setup, params, CURSOR_OPT_NO_SCROLL);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare_params failed: %s", SPI_result_code_string(SPI_result));
	sources = SPI_plan_get_plan_sources(plan);
	source = list_length(sources) == 1 ? linitial(sources) : NULL;
	if (source == NULL || source->commandTag != CMDTAG_SELECT || source->resultDesc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("the query of a batch must be a SELECT"),
				 errhint("Pass one SELECT, VALUES or TABLE statement.")));
	foreach(lc, source->query_list)
	{
		Query	   *q = lfirst_node(Query, lc);

		if (q->commandType != CMD_SELECT || q->hasModifyingCTE || q->rowMarks != NIL)
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("the query of a batch must only read"),
					 errhint("It runs read-only: no INSERT, UPDATE or DELETE in WITH, no FOR UPDATE or FOR SHARE.")));
	}
	for (i = 0; i < params->n; i++)
		if (params->types[i] == InvalidOid || params->types[i] == UNKNOWNOID)
			params->types[i] = TEXTOID;
	return plan;
}

/*
 * query_plan_columns: the result columns of a plan of query_plan, in
 * CurrentMemoryContext.
 */
static TupleDesc
query_plan_columns(SPIPlanPtr plan)
{
	CachedPlanSource *source = linitial(SPI_plan_get_plan_sources(plan));

	return CreateTupleDescCopy(source->resultDesc);
}

/*
 * params_values: the values of the query's parameters, for its cursor:
 * element i of the JSON array params is $(i + 1), read as the type the
 * query gives it (a JSON string by its text, a number or boolean by its
 * JSON text, null as NULL).
 */
static ParamListInfo
params_values(Jsonb *params, QueryParams *qp)
{
	ParamListInfo list;
	int			n = 0;
	int			i;

	if (params != NULL && (!JB_ROOT_IS_ARRAY(params) || JB_ROOT_IS_SCALAR(params)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("params must be a JSON array"),
				 errhint("Element 0 is $1, element 1 $2, and so on: '[\"2026-01-01\", 42]'.")));
	if (params != NULL)
		n = JB_ROOT_COUNT(params);
	if (n != qp->n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the query has %d parameter%s, params has %d value%s",
						qp->n, qp->n == 1 ? "" : "s", n, n == 1 ? "" : "s"),
				 errhint("Pass the value of $1 .. $n as the JSON array params.")));

	list = makeParamList(n);
	list->numParams = n;
	for (i = 0; i < n; i++)
	{
		JsonbValue *v = getIthJsonbValueFromContainer(&params->root, i);
		ParamExternData *p = &list->params[i];
		Oid			typinput;
		Oid			typioparam;

		p->pflags = PARAM_FLAG_CONST;
		p->ptype = qp->types[i];
		p->isnull = v->type == jbvNull;
		if (p->isnull)
			continue;
		getTypeInputInfo(qp->types[i], &typinput, &typioparam);
		p->value = OidInputFunctionCall(typinput, json_value_text(v), typioparam, -1);
	}
	return list;
}

/*
 * find_column: the number of the column of desc named name, the value of
 * the stream's setting (0: none).  A column whose name is name only when
 * case is ignored is an error: CREATE TABLE t (isLast boolean) makes a
 * column islast, which would otherwise be silently not read.
 */
static int
find_column(Stream *stream, TupleDesc desc, const char *name, const char *setting,
			const char *rows_of)
{
	bool		of_query = strcmp(rows_of, "the query") == 0;
	int			col = SPI_fnumber(desc, name);
	int			i;

	if (col > 0)
		return col;
	for (i = 0; i < desc->natts; i++)
	{
		const char *twin = NameStr(TupleDescAttr(desc, i)->attname);

		if (TupleDescAttr(desc, i)->attisdropped || pg_strcasecmp(twin, name) != 0)
			continue;
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("%s has no column \"%s\", the stream's %s, but a column \"%s\"",
						of_query ? "the query of the batch" : rows_of, name, setting, twin),
				 errdetail("Names match exactly, and SQL folds a name written without double quotes to lower case."),
				 of_query ?
				 errhint("Name the column AS %s, or make the stream read \"%s\": sessionize.alter_stream(%s, '%s', %s).",
						 quote_identifier(name), twin,
						 quote_literal_cstr(stream->name), setting, quote_literal_cstr(twin)) :
				 strcmp(quote_identifier(name), name) != 0 ?
				 errhint("Write the name in double quotes when creating the table (%s), or rename the column, or make the stream read \"%s\": sessionize.alter_stream(%s, '%s', %s).",
						 quote_identifier(name), twin,
						 quote_literal_cstr(stream->name), setting, quote_literal_cstr(twin)) :
				 errhint("Rename the column %s to %s (the double quotes it was created with kept its case), or make the stream read \"%s\": sessionize.alter_stream(%s, '%s', %s).",
						 quote_identifier(twin), name, twin,
						 quote_literal_cstr(stream->name), setting, quote_literal_cstr(twin))));
	}
	return 0;
}

/*
 * require_column: a column the stream needs, by its setting's name.
 */
static int
require_column(Stream *stream, TupleDesc desc, const char *name, const char *setting,
			   const char *rows_of)
{
	bool		of_query = strcmp(rows_of, "the query") == 0;
	int			col = find_column(stream, desc, name, setting, rows_of);

	if (col == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("%s has no column \"%s\"",
						of_query ? "the query of the batch" : rows_of, name),
				 errhint("The stream reads the %s from the column named by %s; %s.",
						 strcmp(setting, "key_field") == 0 ? "key" : "event time",
						 setting,
						 of_query ? "rename it with AS" : "change it with sessionize.alter_stream()")));
	return col;
}

/*
 * cast_init: the cast of column's values (of type source) to type
 * target, as an explicit cast in SQL would do it.
 */
static ValueCast *
cast_init(Oid source, Oid target, const char *column, const char *rows_of)
{
	ValueCast  *c = value_cast_init(source, target, COERCION_EXPLICIT);

	if (c == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_CANNOT_COERCE),
				 errmsg("column \"%s\" of %s, of type %s, cannot be cast to %s",
						column, rows_of, format_type_be(source), format_type_be(target))));
	return c;
}

/*
 * What the query form's decoder works on: a chunk of the query's rows,
 * and how to read their columns.  The query runs as it was written (its
 * errors are its own); its columns are cast here, row by row, so that a
 * value that does not cast is its row's error (a dead letter, when the
 * stream has a dead_letter table).
 */
typedef struct QueryDecode
{
	const char *rows_of;		/* "the query", or the table the rows were added to */
	bool		row_detail;		/* errors show the row */
	HeapTuple  *rows;			/* the chunk at hand */
	TupleDesc	desc;			/* the rows', blessed */
	int			key_column;
	int			ts_column;
	int			last_column;	/* 0: none, no event is last */
	int			payload_column; /* 0: none, the row is the payload */
	ValueCast *key_cast;		/* to the key type */
	ValueCast *ts_cast;		/* to timestamptz, or to float8 (epoch) */
	bool		ts_is_epoch;
	bool		ts_is_text;		/* of a string type: read as a JSON ts string */
	FmgrInfo	ts_out;			/* its output function then */
	ValueCast *last_cast;		/* to boolean */
	ValueCast *payload_cast;	/* to jsonb */
	ValueCast *row_cast;		/* the row to jsonb */
	const char *field;			/* the column being cast, for errors */
} QueryDecode;

/*
 * query_row_jsonb: row as a jsonb object.
 */
static Jsonb *
query_row_jsonb(QueryDecode *qd, HeapTuple row)
{
	return DatumGetJsonbPCopy(value_cast(qd->row_cast, heap_copy_tuple_as_datum(row, qd->desc)));
}

/*
 * query_column: column col of row, cast by cast (as field, for errors),
 * or NULL (*isnull).
 */
static Datum
query_column(QueryDecode *qd, HeapTuple row, int col, ValueCast *cast,
			 const char *field, bool *isnull)
{
	Datum		v = heap_getattr(row, col, qd->desc, isnull);

	if (*isnull)
		return (Datum) 0;
	qd->field = field;
	v = value_cast(cast, v);
	qd->field = NULL;
	return v;
}

/*
 * query_decode: rows d->next .. end - 1 of the chunk at hand (an
 * ElementDecoder's decode).  Row i is row d->index_base + i of the query.
 */
static void
query_decode(ElementDecoder *d, int end)
{
	QueryDecode *qd = d->arg;
	Stream	   *stream = d->stream;
	TsPlace		place = {0, stream->ts_field, qd->rows_of, &qd->field};

	for (; d->next < end; d->next++)
	{
		HeapTuple	row = qd->rows[d->next];
		int			r = d->index_base + d->next;
		SessEvent  *e = &d->events[d->ngood];
		bool		isnull;
		Datum		v;
		Jsonb	   *payload;

		CHECK_FOR_INTERRUPTS();
		v = query_column(qd, row, qd->key_column, qd->key_cast, stream->key_field, &isnull);
		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("row %d of %s: \"%s\" is NULL", r, qd->rows_of, stream->key_field)));
		/*
		 * A row's value may be compressed or stored out of line (TOAST):
		 * the key is measured and kept whole, as the other forms keep it.
		 */
		if (stream->key_typlen == -1)
			e->key = PointerGetDatum(PG_DETOAST_DATUM_COPY(v));
		else
			e->key = datumCopy(v, stream->key_typbyval, stream->key_typlen);
		if (key_too_long(stream, e->key))
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("row %d of %s: \"%s\" is %zu bytes long, more than the %zu bytes a key may have",
							r, qd->rows_of, stream->key_field, (Size) VARSIZE_ANY(DatumGetPointer(e->key)),
							(Size) MAX_KEY_BYTES),
					 errhint(KEY_TOO_LONG_HINT)));

		v = qd->ts_is_text ?
			heap_getattr(row, qd->ts_column, qd->desc, &isnull) :
			query_column(qd, row, qd->ts_column, qd->ts_cast, stream->ts_field, &isnull);
		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("row %d of %s: \"%s\" is NULL", r, qd->rows_of, stream->ts_field)));
		place.index = r;
		if (qd->ts_is_text)
		{
			char	   *text = OutputFunctionCall(&qd->ts_out, v);

			e->ts = ts_from_string(stream, text, strlen(text), &place);
		}
		else if (qd->ts_is_epoch)
			e->ts = ts_from_epoch(stream, DatumGetFloat8(v), NULL, &place);
		else
			e->ts = DatumGetTimestampTz(v);
		if (TIMESTAMP_NOT_FINITE(e->ts))
			ereport(ERROR,
					(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
					 errmsg("row %d of %s: \"%s\" is not a finite instant",
							r, qd->rows_of, stream->ts_field)));

		e->is_last = false;
		if (qd->last_column > 0)
		{
			v = query_column(qd, row, qd->last_column, qd->last_cast, stream->last_field, &isnull);
			e->is_last = !isnull && DatumGetBool(v);
		}

		if (qd->payload_column > 0)
		{
			v = query_column(qd, row, qd->payload_column, qd->payload_cast, PAYLOAD_COLUMN,
							 &isnull);
			if (isnull)
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("row %d of %s: \"%s\" is NULL", r, qd->rows_of, PAYLOAD_COLUMN)));
			payload = DatumGetJsonbPCopy(v);
		}
		else
			payload = query_row_jsonb(qd, row);
		if (!JB_ROOT_IS_OBJECT(payload))
			ereport(ERROR,
					(errcode(ERRCODE_SQL_JSON_OBJECT_NOT_FOUND),
					 errmsg("row %d of %s: \"%s\" is a JSON %s, not an object",
							r, qd->rows_of, PAYLOAD_COLUMN, jsonb_type_name(&payload->root)),
					 errhint(EVENT_OBJECT_HINT)));
		e->payload = &payload->root;
		e->payload_len = VARSIZE(payload) - VARHDRSZ;
		e->ordinal = r;
		d->ngood++;
	}
}

/*
 * query_enrich: an error of a cast, said of the row and column it was
 * reading; with row_detail, every error of a row shows the row.
 */
static void
query_enrich(ElementDecoder *d, ErrorData *edata)
{
	QueryDecode *qd = d->arg;

	if (qd->row_detail && edata->detail == NULL)
		edata->detail = psprintf("The row: %s",
								 JsonbToCString(NULL, &query_row_jsonb(qd, qd->rows[d->next])->root,
												-1));
	if (qd->field == NULL)
		return;
	edata->message = psprintf("row %d of %s: \"%s\" is invalid: %s",
							  d->index_base + d->next, qd->rows_of, qd->field, edata->message);
	qd->field = NULL;
}

/*
 * query_element: row i of the chunk at hand, as jsonb.
 */
static Jsonb *
query_element(ElementDecoder *d, int i)
{
	QueryDecode *qd = d->arg;

	return query_row_jsonb(qd, qd->rows[i]);
}

/*
 * column_type: the type of column col of desc.
 */
static Oid
column_type(TupleDesc desc, int col)
{
	return TupleDescAttr(desc, col - 1)->atttypid;
}

/*
 * rows_decode_init: how qd reads rows of desc (a copy of it is kept,
 * blessed as a record) for stream; rows_of names them in errors.
 */
static void
rows_decode_init(QueryDecode *qd, Stream *stream, TupleDesc desc, const char *rows_of)
{
	Oid			ts_type;

	desc = CreateTupleDescCopy(desc);
	desc->tdtypeid = RECORDOID;
	desc->tdtypmod = -1;
	qd->rows_of = rows_of;
	qd->key_column = require_column(stream, desc, stream->key_field, "key_field", rows_of);
	qd->ts_column = require_column(stream, desc, stream->ts_field, "ts_field", rows_of);
	qd->last_column = find_column(stream, desc, stream->last_field, "last_field", rows_of);
	qd->payload_column = Max(SPI_fnumber(desc, PAYLOAD_COLUMN), 0);
	qd->desc = BlessTupleDesc(desc);

	/*
	 * How each column is read: the key as the key type, the time as
	 * timestamptz or (a column of numbers) as epoch numbers in the
	 * stream's ts_unit, isLast as boolean, the payload as jsonb; each as
	 * an explicit cast in SQL would read it.  A time column of a string
	 * type (text, varchar, name, citext, ...) is read by its text as the
	 * JSON form reads a ts string: ISO 8601 whatever the DateStyle, or an
	 * epoch number in ts_unit (see timestamps.c).
	 */
	ts_type = getBaseType(column_type(desc, qd->ts_column));
	qd->ts_is_epoch = TypeCategory(ts_type) == TYPCATEGORY_NUMERIC;
	qd->ts_is_text = TypeCategory(ts_type) == TYPCATEGORY_STRING;
	if (qd->ts_is_text)
	{
		Oid			output;
		bool		isvarlena;

		getTypeOutputInfo(ts_type, &output, &isvarlena);
		fmgr_info(output, &qd->ts_out);
	}
	qd->key_cast = cast_init(column_type(desc, qd->key_column), stream->key_type,
							 stream->key_field, rows_of);
	if (!qd->ts_is_text)
		qd->ts_cast = cast_init(column_type(desc, qd->ts_column),
								qd->ts_is_epoch ? FLOAT8OID : TIMESTAMPTZOID, stream->ts_field,
								rows_of);
	if (qd->last_column > 0)
		qd->last_cast = cast_init(column_type(desc, qd->last_column), BOOLOID,
								  stream->last_field, rows_of);
	if (qd->payload_column > 0)
		qd->payload_cast = cast_init(column_type(desc, qd->payload_column), JSONBOID,
									 PAYLOAD_COLUMN, rows_of);
	qd->row_cast = value_row_to_jsonb_init(qd->desc);
}

/*
 * rows_decoder: an ElementDecoder of qd's rows, into events.
 */
static void
rows_decoder(ElementDecoder *d, Stream *stream, QueryDecode *qd, SessEvent *events)
{
	d->stream = stream;
	d->events = events;
	d->decode = query_decode;
	d->element = query_element;
	d->enrich = query_enrich;
	d->arg = qd;
}

/*
 * batch_decode_query: the events of the rows of query ($1 .. $n from the
 * JSON array params), in row order, in CurrentMemoryContext; with dead,
 * its bad rows are set aside there.  Runs as the caller, as the whole call
 * does.
 */
SessEvent *
batch_decode_query(Stream *stream, const char *query, Jsonb *params,
				   DeadLetterList *dead, int *nevents)
{
	MemoryContext cxt = CurrentMemoryContext;
	QueryParams qp;
	QueryDecode qd = {0};
	ElementDecoder d = {0};
	SPIPlanPtr	plan;
	ParamListInfo paramlist;
	Portal		portal;
	SessEvent  *events;
	int			capacity = QUERY_CHUNK_ROWS;
	int			rows = 0;
	int			n = 0;

	SPI_connect();
	plan = query_plan(query, &qp);
	paramlist = params_values(params, &qp);
	rows_decode_init(&qd, stream, query_plan_columns(plan), "the query");

	portal = SPI_cursor_open_with_paramlist(NULL, plan, paramlist, true);
	events = MemoryContextAlloc(cxt, sizeof(SessEvent) * capacity);
	rows_decoder(&d, stream, &qd, events);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, QUERY_CHUNK_ROWS);
		if (SPI_processed == 0)
			break;
		MemoryContextSwitchTo(cxt);
		if (n + SPI_processed > capacity)
		{
			while (n + SPI_processed > capacity)
				capacity *= 2;
			events = repalloc_huge(events, sizeof(SessEvent) * capacity);
		}
		qd.rows = SPI_tuptable->vals;
		d.events = &events[n];
		d.index_base = rows;
		decode_guarded(&d, (int) SPI_processed, dead);
		n += d.ngood;
		rows += (int) SPI_processed;
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	SPI_finish();
	MemoryContextSwitchTo(cxt);

	*nevents = n;
	return events;
}

/*
 * rows_check_columns: error unless rows of desc (named by rows_of) have
 * the columns stream reads, of types it can cast (as the query form
 * finds them).
 */
void
rows_check_columns(Stream *stream, TupleDesc desc, const char *rows_of)
{
	QueryDecode qd = {0};

	rows_decode_init(&qd, stream, desc, rows_of);
}

/*
 * batch_decode_rows: the events of rows[0 .. n) of desc, found as the
 * query form finds them, in CurrentMemoryContext; rows_of names them in
 * errors, which show the row.  With dead, bad rows are set aside there.
 */
SessEvent *
batch_decode_rows(Stream *stream, TupleDesc desc, HeapTuple *rows, int n,
				  const char *rows_of, DeadLetterList *dead, int *nevents)
{
	QueryDecode qd = {0};
	ElementDecoder d = {0};

	rows_decode_init(&qd, stream, desc, rows_of);
	qd.rows = rows;
	qd.row_detail = true;
	rows_decoder(&d, stream, &qd, palloc(sizeof(SessEvent) * Max(n, 1)));
	d.hint_dead_letter = true;
	decode_guarded(&d, n, dead);
	*nevents = d.ngood;
	return d.events;
}
