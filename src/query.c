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
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "lib/stringinfo.h"
#include "parser/parse_coerce.h"
#include "utils/lsyscache.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"

/* Rows fetched from the cursor at a time. */
#define QUERY_CHUNK_ROWS 1000

/* The name of the optional payload column. */
#define PAYLOAD_COLUMN "payload"

/*
 * query_columns: the query's result columns, from a run with no rows.
 */
static TupleDesc
query_columns(const char *query)
{
	char	   *sql = psprintf("SELECT * FROM (%s) AS q LIMIT 0", query);

	if (SPI_execute(sql, true, 0) != SPI_OK_SELECT)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("the query of a batch must be a SELECT"),
				 errhint("Pass one SELECT, VALUES or TABLE statement, without a semicolon.")));
	return SPI_tuptable->tupdesc;
}

/*
 * has_column: whether desc has a column of that name.
 */
static bool
has_column(TupleDesc desc, const char *name)
{
	return SPI_fnumber(desc, name) > 0;
}

/*
 * require_column: a column the stream needs, by its setting's name.
 */
static void
require_column(TupleDesc desc, const char *name, const char *setting)
{
	if (!has_column(desc, name))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("the query of the batch has no column \"%s\"", name),
				 errhint("The stream reads the %s from the column named by %s; rename it with AS.",
						 strcmp(setting, "key_field") == 0 ? "key" : "event time",
						 setting)));
}

/*
 * strip_semicolon: query without the semicolon (and white space) it may
 * end with, as psql would send it.
 */
static const char *
strip_semicolon(const char *query)
{
	char	   *q = pstrdup(query);
	char	   *end = q + strlen(q);

	while (end > q && isspace((unsigned char) end[-1]))
		end--;
	if (end > q && end[-1] == ';')
		end--;
	*end = '\0';
	return q;
}

/*
 * A cast of one column's values, run row by row in C: how the query form
 * reads the columns when the stream has a dead_letter table, so that a
 * value that does not cast is its row's error, not the query's.
 */
typedef struct ColumnCast
{
	ParamListInfo params;		/* $1: the value */
	ExprContext *econtext;
	ExprState  *expr;			/* CAST($1 AS target) */
} ColumnCast;

/*
 * cast_init: a cast of values of type source to type target, as an
 * explicit cast in SQL would do it (a no-op when they are the same).
 */
static ColumnCast *
cast_init(Oid source, Oid target, const char *column)
{
	ColumnCast *c = palloc0(sizeof(ColumnCast));
	Param	   *param = makeNode(Param);
	Node	   *expr;

	param->paramkind = PARAM_EXTERN;
	param->paramid = 1;
	param->paramtype = source;
	param->paramtypmod = -1;
	param->paramcollid = get_typcollation(source);
	param->location = -1;
	expr = coerce_to_target_type(NULL, (Node *) param, source, target, -1,
								 COERCION_EXPLICIT, COERCE_EXPLICIT_CAST, -1);
	if (expr == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_CANNOT_COERCE),
				 errmsg("column \"%s\" of the query, of type %s, cannot be cast to %s",
						column, format_type_be(source), format_type_be(target))));
	c->params = makeParamList(1);
	c->params->numParams = 1;
	c->params->params[0].ptype = source;
	c->params->params[0].pflags = PARAM_FLAG_CONST;
	c->econtext = CreateStandaloneExprContext();
	c->econtext->ecxt_param_list_info = c->params;
	c->expr = ExecInitExprWithParams((Expr *) expression_planner((Expr *) expr), c->params);
	return c;
}

/*
 * cast_value: value cast, in CurrentMemoryContext.
 */
static Datum
cast_value(ColumnCast *c, Datum value)
{
	bool		isnull;
	Datum		result;
	MemoryContext cxt = CurrentMemoryContext;

	ResetExprContext(c->econtext);
	c->params->params[0].value = value;
	c->params->params[0].isnull = false;
	result = ExecEvalExprSwitchContext(c->expr, c->econtext, &isnull);
	MemoryContextSwitchTo(cxt);
	return result;
}

/* What the query form's decoder works on: a chunk of the query's rows. */
typedef struct QueryDecode
{
	SPITupleTable *rows;
	bool		ts_is_text;
	int			element_column; /* the row as jsonb, 0: none */
	/* with a dead_letter table: the columns as they are, cast here */
	ColumnCast *key_cast;
	ColumnCast *ts_cast;		/* to timestamptz, or to float8 (epoch) */
	bool		ts_is_epoch;
	ColumnCast *last_cast;
	const char *field;			/* the column being cast, for errors */
} QueryDecode;

/*
 * query_decode: rows d->next .. end - 1 of the chunk at hand (an
 * ElementDecoder's decode).  Row i is row d->index_base + i of the query.
 */
static void
query_decode(ElementDecoder *d, int end)
{
	QueryDecode *qd = d->arg;
	Stream	   *stream = d->stream;
	TupleDesc	rowdesc = qd->rows->tupdesc;

	for (; d->next < end; d->next++)
	{
		HeapTuple	row = qd->rows->vals[d->next];
		int			r = d->index_base + d->next;
		SessEvent  *e = &d->events[d->ngood];
		bool		isnull;
		Datum		v;
		Jsonb	   *payload;

		CHECK_FOR_INTERRUPTS();
		v = SPI_getbinval(row, rowdesc, 1, &isnull);
		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("row %d of the query: \"%s\" is NULL", r, stream->key_field)));
		if (qd->key_cast != NULL)
		{
			qd->field = stream->key_field;
			v = cast_value(qd->key_cast, v);
			qd->field = NULL;
		}
		e->key = datumCopy(v, stream->key_typbyval, stream->key_typlen);
		if (key_too_long(stream, e->key))
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("row %d of the query: \"%s\" is %zu bytes long, more than the %zu bytes a key may have",
							r, stream->key_field, (Size) VARSIZE_ANY(DatumGetPointer(e->key)),
							(Size) MAX_KEY_BYTES),
					 errhint(KEY_TOO_LONG_HINT)));

		v = SPI_getbinval(row, rowdesc, 2, &isnull);
		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("row %d of the query: \"%s\" is NULL", r, stream->ts_field)));
		if (qd->ts_cast != NULL)
		{
			qd->field = stream->ts_field;
			v = cast_value(qd->ts_cast, v);
			qd->field = NULL;
			if (qd->ts_is_epoch &&
				!epoch_to_timestamptz(stream, DatumGetFloat8(v), &e->ts))
				ereport(ERROR,
						(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
						 errmsg("row %d of the query: \"%s\" is an epoch number out of range",
								r, stream->ts_field)));
			if (!qd->ts_is_epoch)
				e->ts = DatumGetTimestampTz(v);
		}
		else
			e->ts = DatumGetTimestampTz(v);
		if (qd->ts_is_text)
			check_not_time_word(TextDatumGetCString(SPI_getbinval(row, rowdesc, 5, &isnull)),
								r, stream->ts_field, true);
		if (TIMESTAMP_NOT_FINITE(e->ts))
			ereport(ERROR,
					(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
					 errmsg("row %d of the query: \"%s\" is not a finite instant",
							r, stream->ts_field)));

		v = SPI_getbinval(row, rowdesc, 3, &isnull);
		if (!isnull && qd->last_cast != NULL)
		{
			qd->field = stream->last_field;
			v = cast_value(qd->last_cast, v);
			qd->field = NULL;
		}
		e->is_last = !isnull && DatumGetBool(v);

		v = SPI_getbinval(row, rowdesc, 4, &isnull);
		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("row %d of the query: \"%s\" is NULL", r, PAYLOAD_COLUMN)));
		payload = DatumGetJsonbPCopy(v);
		if (JB_ROOT_IS_SCALAR(payload))
			ereport(ERROR,
					(errcode(ERRCODE_SQL_JSON_OBJECT_NOT_FOUND),
					 errmsg("row %d of the query: \"%s\" is a JSON scalar, not an object",
							r, PAYLOAD_COLUMN)));
		e->payload = &payload->root;
		e->payload_len = VARSIZE(payload) - VARHDRSZ;
		e->ordinal = r;
		d->ngood++;
	}
}

/*
 * query_enrich: an error of a cast, said of the row and column it was
 * reading.
 */
static void
query_enrich(ElementDecoder *d, ErrorData *edata)
{
	QueryDecode *qd = d->arg;

	if (qd->field == NULL)
		return;
	edata->message = psprintf("row %d of the query: \"%s\" is invalid: %s",
							  d->index_base + d->next, qd->field, edata->message);
	qd->field = NULL;
}

/*
 * query_element: row i of the chunk at hand, as jsonb.
 */
static Jsonb *
query_element(ElementDecoder *d, int i)
{
	QueryDecode *qd = d->arg;
	bool		isnull;
	Datum		v = SPI_getbinval(qd->rows->vals[i], qd->rows->tupdesc,
								  qd->element_column, &isnull);

	return isnull ? NULL : DatumGetJsonbPCopy(v);
}

/*
 * batch_decode_query: the events of the rows of query, in row order, in
 * CurrentMemoryContext; with dead, its bad rows are set aside there (the
 * errors of the query itself, its casts among them, stay the batch's
 * errors).  Runs as the caller, as the whole call does.
 */
SessEvent *
batch_decode_query(Stream *stream, const char *query, DeadLetterList *dead, int *nevents)
{
	MemoryContext cxt = CurrentMemoryContext;
	TupleDesc	desc;
	bool		has_last;
	bool		has_payload;
	Oid			ts_type;
	QueryDecode qd = {0};
	ElementDecoder d = {0};
	StringInfoData sql;
	Portal		portal;
	SessEvent  *events;
	int			capacity = QUERY_CHUNK_ROWS;
	int			rows = 0;
	int			n = 0;

	query = strip_semicolon(query);
	SPI_connect();
	desc = query_columns(query);	/* valid until the next SPI call */
	has_last = has_column(desc, stream->last_field);
	has_payload = has_column(desc, PAYLOAD_COLUMN);
	require_column(desc, stream->key_field, "key_field");
	require_column(desc, stream->ts_field, "ts_field");

	/*
	 * The stream's columns, cast to what it needs, and the payload.  A ts
	 * column of numbers is epoch numbers in the stream's ts_unit; one of
	 * text is also read as text, to refuse the words that are no event
	 * time.  With dead letters, the row as jsonb comes last.
	 */
	ts_type = getBaseType(SPI_gettypeid(desc, SPI_fnumber(desc, stream->ts_field)));
	qd.ts_is_text = TypeCategory(ts_type) == TYPCATEGORY_STRING ||
		TypeCategory(ts_type) == TYPCATEGORY_UNKNOWN;
	initStringInfo(&sql);
	if (dead != NULL)
	{
		/*
		 * With dead letters the key, ts and isLast columns come as they
		 * are, and are cast row by row (query_decode), so that one value
		 * that does not cast sets its row aside.
		 */
		qd.key_cast = cast_init(SPI_gettypeid(desc, SPI_fnumber(desc, stream->key_field)),
								stream->key_type, stream->key_field);
		qd.ts_is_epoch = TypeCategory(ts_type) == TYPCATEGORY_NUMERIC;
		qd.ts_cast = cast_init(SPI_gettypeid(desc, SPI_fnumber(desc, stream->ts_field)),
							   qd.ts_is_epoch ? FLOAT8OID : TIMESTAMPTZOID,
							   stream->ts_field);
		if (has_last)
			qd.last_cast = cast_init(SPI_gettypeid(desc, SPI_fnumber(desc, stream->last_field)),
									 BOOLOID, stream->last_field);
		appendStringInfo(&sql, "SELECT q.%s, q.%s, %s%s, ",
						 quote_identifier(stream->key_field),
						 quote_identifier(stream->ts_field),
						 has_last ? "q." : "",
						 has_last ? quote_identifier(stream->last_field) : "false");
	}
	else
		appendStringInfo(&sql, "SELECT (q.%s)::%s, ",
						 quote_identifier(stream->key_field),
						 format_type_be_qualified(stream->key_type));
	if (dead != NULL)
		;
	else if (TypeCategory(ts_type) == TYPCATEGORY_NUMERIC)
		appendStringInfo(&sql, "pg_catalog.to_timestamp((q.%s)::pg_catalog.float8 "
						 "OPERATOR(pg_catalog./) %lld::pg_catalog.float8), ",
						 quote_identifier(stream->ts_field),
						 (long long) (USECS_PER_SEC / stream->ts_unit));
	else
		appendStringInfo(&sql, "(q.%s)::pg_catalog.timestamptz, ",
						 quote_identifier(stream->ts_field));
	if (dead != NULL)
		;
	else if (has_last)
		appendStringInfo(&sql, "(q.%s)::pg_catalog.bool, ",
						 quote_identifier(stream->last_field));
	else
		appendStringInfoString(&sql, "false, ");
	if (has_payload)
		appendStringInfo(&sql, "(q.%s)::pg_catalog.jsonb", PAYLOAD_COLUMN);
	else
		appendStringInfoString(&sql, "pg_catalog.to_jsonb(q)");
	appendStringInfo(&sql, ", %s", qd.ts_is_text ?
					 psprintf("(q.%s)::pg_catalog.text", quote_identifier(stream->ts_field)) :
					 "NULL");
	if (dead != NULL)
	{
		appendStringInfoString(&sql, ", pg_catalog.to_jsonb(q)");
		qd.element_column = 6;
	}
	appendStringInfo(&sql, " FROM (%s) AS q", query);

	portal = SPI_cursor_open_with_args(NULL, sql.data, 0, NULL, NULL, NULL, true, 0);
	events = MemoryContextAlloc(cxt, sizeof(SessEvent) * capacity);
	d.stream = stream;
	d.decode = query_decode;
	d.element = query_element;
	d.enrich = query_enrich;
	d.arg = &qd;
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
		qd.rows = SPI_tuptable;
		d.events = &events[n];
		d.index_base = rows;
		decode_guarded(&d, (int) SPI_processed, dead);
		n += d.ngood;
		rows += (int) SPI_processed;
		SPI_freetuptable(qd.rows);
	}
	SPI_cursor_close(portal);
	SPI_finish();
	MemoryContextSwitchTo(cxt);

	*nevents = n;
	return events;
}
