/*-------------------------------------------------------------------------
 *
 * emit.c
 *	  The finished sessions of a call: the jsonb array of their events, the
 *	  result rows, and the rows appended to the stream's sink.
 *
 *-------------------------------------------------------------------------
 */
#include "sessionize.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/tuplestore.h"

/* The result columns of sessionize_batch, expire and flush. */
enum
{
	RES_KEY, RES_SESSION_START, RES_SESSION_END, RES_EVENT_COUNT,
	RES_END_REASON, RES_EVENTS, RES_NATTS
};

StaticAssertDecl(RES_NATTS == SINK_NCOLUMNS, "a sink column for each result column");

/* Their names, which a sink's columns have (key, and any of the others). */
const char *const sink_columns[SINK_NCOLUMNS] = {
	"key", "session_start", "session_end", "event_count", "end_reason", "events"
};

/*
 * finished_events: the events column of a finished session: its events as
 * a jsonb array, or a custom state's output.
 */
Jsonb *
finished_events(const Finished *f)
{
	Assert(f->output != NULL || f->session->nstored == 0);
	return f->output != NULL ? f->output : session_events_jsonb(f->session);
}

/*
 * TableAppendContext: what table_append is doing, for the context line of
 * an error raised while it does it (a constraint, a trigger, a default).
 */
typedef struct TableAppendContext
{
	const char *what;
	int			nrows;
} TableAppendContext;

static void
table_append_error_context(void *arg)
{
	TableAppendContext *c = arg;

	errcontext("appending %d %s to %s", c->nrows, c->nrows == 1 ? "row" : "rows", c->what);
}

/*
 * table_append: append nrows rows to table rel, as the caller (whose
 * defaults, triggers and constraints apply), by column name, in one
 * statement.  Column c, named names[c], is the array arrays[c] of type
 * types[c]; only the columns the table has are inserted.  what names the
 * table in an error: when it has none of the columns, and in the context
 * of any error the statement raises.
 */
void
table_append(Oid rel, const char *what, int nrows, int ncolumns, const char *const names[],
			 const Oid types[], const Datum arrays[])
{
	TableAppendContext context;
	ErrorContextCallback errcb;
	Oid			used_types[TABLE_MAX_COLUMNS];
	Datum		used_values[TABLE_MAX_COLUMNS];
	StringInfoData into;
	StringInfoData select;
	int			nused = 0;
	int			c;

	Assert(ncolumns <= TABLE_MAX_COLUMNS);

	/*
	 * The arrays are unnested in the select list, in lockstep: in FROM (as
	 * ROWS FROM) an array of a composite type would be expanded into its
	 * columns.
	 */
	initStringInfo(&into);
	initStringInfo(&select);
	for (c = 0; c < ncolumns; c++)
	{
		AttrNumber	attnum = get_attnum(rel, names[c]);

		if (attnum == InvalidAttrNumber || attnum < 0)
			continue;
		used_types[nused] = types[c];
		used_values[nused] = arrays[c];
		nused++;
		appendStringInfo(&into, "%s%s", nused > 1 ? ", " : "", names[c]);
		appendStringInfo(&select, "%spg_catalog.unnest($%d)", nused > 1 ? ", " : "", nused);
	}
	if (nused == 0 || get_attnum(rel, names[0]) == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("%s has no column \"%s\"", what, names[0]),
				 errhint("Add it, or set another table with sessionize.alter_stream().")));
	context.what = what;
	context.nrows = nrows;
	errcb.callback = table_append_error_context;
	errcb.arg = &context;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
	SPI_connect();
	if (SPI_execute_with_args(psprintf("INSERT INTO %s (%s) SELECT %s",
									   quote_qualified_identifier(get_namespace_name(get_rel_namespace(rel)),
																  get_rel_name(rel)),
									   into.data, select.data),
							  nused, used_types, used_values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "SPI_execute_with_args failed");
	SPI_finish();
	error_context_stack = errcb.previous;
}

/*
 * sink_insert: append the finished sessions to the stream's sink (the
 * result columns it has).
 */
static void
sink_insert(Stream *stream, int n, Datum *columns[RES_NATTS])
{
	Oid			types[RES_NATTS];
	Datum		arrays[RES_NATTS];

	if (get_rel_name(stream->sink) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("the sink of stream \"%s\" no longer exists", stream->name),
				 errhint("Give the stream a sink again: SELECT sessionize.alter_stream(%s, 'sink', 'the_table'), or none: NULL.",
						 quote_literal_cstr(stream->name))));

	types[RES_KEY] = get_array_type(stream->key_type);
	types[RES_SESSION_START] = TIMESTAMPTZARRAYOID;
	types[RES_SESSION_END] = TIMESTAMPTZARRAYOID;
	types[RES_EVENT_COUNT] = INT4ARRAYOID;
	types[RES_END_REASON] = TEXTARRAYOID;
	types[RES_EVENTS] = JSONBARRAYOID;

	arrays[RES_KEY] = PointerGetDatum(construct_array(columns[RES_KEY], n, stream->key_type,
													  stream->key_typlen,
													  stream->key_typbyval,
													  stream->key_typalign));
	arrays[RES_SESSION_START] =
		PointerGetDatum(construct_array(columns[RES_SESSION_START], n, TIMESTAMPTZOID,
										sizeof(TimestampTz), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	arrays[RES_SESSION_END] =
		PointerGetDatum(construct_array(columns[RES_SESSION_END], n, TIMESTAMPTZOID,
										sizeof(TimestampTz), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	arrays[RES_EVENT_COUNT] =
		PointerGetDatum(construct_array(columns[RES_EVENT_COUNT], n, INT4OID,
										sizeof(int32), true, TYPALIGN_INT));
	arrays[RES_END_REASON] =
		PointerGetDatum(construct_array(columns[RES_END_REASON], n, TEXTOID,
										-1, false, TYPALIGN_INT));
	arrays[RES_EVENTS] =
		PointerGetDatum(construct_array(columns[RES_EVENTS], n, JSONBOID,
										-1, false, TYPALIGN_INT));

	table_append(stream->sink, psprintf("the sink of stream \"%s\"", stream->name), n,
				 RES_NATTS, sink_columns, types, arrays);
}

/*
 * emit_finished: return the finished sessions as the call's result rows
 * (unless fcinfo is NULL) and, when the stream has a sink, append them to
 * it.
 */
void
emit_finished(FunctionCallInfo fcinfo, Stream *stream, FinishedList *finished)
{
	ReturnSetInfo *rsinfo = fcinfo != NULL ? (ReturnSetInfo *) fcinfo->resultinfo : NULL;
	int			n = finished->count;
	Datum	   *columns[RES_NATTS];
	Datum		reasons[END_NNAMES];
	int			i;
	int			c;

	if (fcinfo != NULL)
		InitMaterializedSRF(fcinfo, 0);
	if (n == 0)
		return;

	for (i = 0; i < END_NNAMES; i++)
		reasons[i] = CStringGetTextDatum(end_reason_names[i]);
	for (c = 0; c < RES_NATTS; c++)
		columns[c] = palloc(sizeof(Datum) * n);
	for (i = 0; i < n; i++)
	{
		Finished   *f = &finished->items[i];

		columns[RES_KEY][i] = f->key;
		columns[RES_SESSION_START][i] = TimestampTzGetDatum(f->first_ts);
		columns[RES_SESSION_END][i] = TimestampTzGetDatum(f->last_ts);
		columns[RES_EVENT_COUNT][i] = Int32GetDatum(f->nevents);
		columns[RES_END_REASON][i] = reasons[f->reason];
		columns[RES_EVENTS][i] = JsonbPGetDatum(finished_events(f));
	}

	if (OidIsValid(stream->sink))
		sink_insert(stream, n, columns);
	if (fcinfo == NULL)
		return;

	for (i = 0; i < n; i++)
	{
		Datum		values[RES_NATTS];
		bool		nulls[RES_NATTS] = {0};

		for (c = 0; c < RES_NATTS; c++)
			values[c] = columns[c][i];
		values[RES_KEY] = CStringGetTextDatum(OutputFunctionCall(&stream->key_output,
																  columns[RES_KEY][i]));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}
