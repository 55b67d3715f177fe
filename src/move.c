/*-------------------------------------------------------------------------
 *
 * move.c
 *	  Moving one partition of a stream to another node: its catalog half.
 *
 * A stream served through sessionize_proxy lives on several nodes, each
 * holding some of its partitions.  A partition moves with the node it
 * leaves and the one it goes to both running (sessionize-move does it):
 *
 *	  old node: BEGIN; export_partition()	locks the partition as a batch
 *											does (its feeders wait), returns
 *											its clock, counters and offsets
 *				COPY its rows out of the state, chunk and timer tables
 *	  new node: import_partition()			the same into its empty partition
 *				COPY the rows in; COMMIT
 *	  proxy:	the partition's connection string now names the new node
 *	  old node: forget_partition(); COMMIT	deletes the rows, and marks the
 *											partition moved
 *
 * The calls that waited for the old node's lock then find the partition
 * moved, an error they can retry (partition_moved_error): sent again
 * through the proxy they reach the new node, where the offsets are, so
 * no event is applied twice or lost.  Until the old node commits, it has
 * the partition whole; a move that fails before that leaves it there.
 *
 * The rows are the caller's to copy (the stream's tables are its owner's);
 * the catalog rows are written here, as the extension's owner, by fixed
 * statements of catalog.c.
 *
 *-------------------------------------------------------------------------
 */
#include "sessionize.h"

#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(sessionize_export_partition);
PG_FUNCTION_INFO_V1(sessionize_import_partition);
PG_FUNCTION_INFO_V1(sessionize_forget_partition);

/*
 * move_begin: lock stream (argument 0) for a change by the caller and its
 * partition (argument 1), as a batch does.
 */
static Stream *
move_begin(FunctionCallInfo fcinfo)
{
	Stream	   *stream;
	char	   *name;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("stream and partition must not be NULL")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	check_may_change(name);
	stream = stream_lock(name, STREAM_USE, GetUserId());
	partition_lock(stream, PG_GETARG_INT32(1));
	return stream;
}

/*
 * partition_rows: the rows partition part of stream has in its state,
 * chunk and timer tables (counted as the caller, whose tables they are).
 */
static int64
partition_rows(Stream *stream)
{
	char	   *table = get_rel_name(stream->state_relid);
	char	   *nsp = get_namespace_name(get_rel_namespace(stream->state_relid));
	StringInfoData sql;
	Oid			argtypes[1] = {INT4OID};
	Datum		values[1];
	bool		isnull;
	int64		rows;

	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "SELECT (SELECT pg_catalog.count(*) FROM %s.%s WHERE part OPERATOR(pg_catalog.=) $1) "
					 "OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM %s.%s WHERE part OPERATOR(pg_catalog.=) $1)",
					 quote_identifier(nsp), quote_identifier(table),
					 quote_identifier(nsp), quote_identifier(psprintf("%s_chunks", table)));
	values[0] = Int32GetDatum(stream->part);
	SPI_connect();
	if (SPI_execute_with_args(sql.data, 1, argtypes, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not count the rows of partition %d of stream \"%s\"",
			 stream->part, stream->name);
	rows = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	return rows;
}

/*
 * partition_delete_rows: delete partition part's rows from stream's state,
 * chunk and (packed layout) timer tables, as the caller.
 */
static void
partition_delete_rows(Stream *stream)
{
	char	   *table = get_rel_name(stream->state_relid);
	Oid			nsp_oid = get_rel_namespace(stream->state_relid);
	char	   *nsp = get_namespace_name(nsp_oid);
	const char *suffixes[] = {"", "_chunks", "_timers"};
	Oid			argtypes[1] = {INT4OID};
	Datum		values[1];
	int			i;

	values[0] = Int32GetDatum(stream->part);
	SPI_connect();
	for (i = 0; i < lengthof(suffixes); i++)
	{
		char	   *name = psprintf("%s%s", table, suffixes[i]);

		if (!OidIsValid(get_relname_relid(name, nsp_oid)))
			continue;			/* a rows-layout stream has no timer table */
		if (SPI_execute_with_args(psprintf("DELETE FROM %s.%s WHERE part OPERATOR(pg_catalog.=) $1",
										   quote_identifier(nsp), quote_identifier(name)),
								  1, argtypes, values, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "could not delete the rows of partition %d from %s",
				 stream->part, name);
	}
	SPI_finish();
}

/*
 * sessionize_export_partition: export_partition(stream, partition): lock
 * the partition as a batch does, for the rest of the transaction, and
 * return its clock, counters and offsets for import_partition on another
 * node.  A partition that has already moved away is an error.
 */
Datum
sessionize_export_partition(PG_FUNCTION_ARGS)
{
	Stream	   *stream = move_begin(fcinfo);
	Datum		values[2];
	HeapTuple	row;
	TupleDesc	desc;
	bool		isnull;

	if (stream->moved)
		partition_moved_error(stream);
	values[0] = Int64GetDatum(stream->id);
	values[1] = Int32GetDatum(stream->part);
	if (catalog_exec(CAT_PART_EXPORT, values, NULL, &row, &desc) != 1)
		elog(ERROR, "partition %d of stream \"%s\" has no catalog row", stream->part, stream->name);
	PG_RETURN_DATUM(heap_getattr(row, 1, desc, &isnull));
}

/*
 * sessionize_import_partition: import_partition(stream, partition,
 * exported): make this node's partition the one export_partition described
 * (its clock, counters and offsets); the caller then copies its rows in.
 * The partition must be empty here: no open session, no offset.
 */
Datum
sessionize_import_partition(PG_FUNCTION_ARGS)
{
	Stream	   *stream = move_begin(fcinfo);
	Datum		values[3];
	int64		committed;
	char	   *source;
	Jsonb	   *exported;
	MemoryContext cxt = CurrentMemoryContext;

	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("exported must not be NULL"),
				 errhint("Pass what export_partition() returned on the partition's old node.")));
	exported = PG_GETARG_JSONB_P(2);
	if (!JB_ROOT_IS_OBJECT(exported))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("exported is not what export_partition() returns"),
				 errhint("Pass what export_partition() returned on the partition's old node.")));
	if (partition_rows(stream) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("partition %d of stream \"%s\" has open sessions on this node",
						stream->part, stream->name),
				 errhint("A partition moves into a node where it is empty: forget_partition() there first.")));
	values[0] = Int64GetDatum(stream->id);
	values[1] = Int32GetDatum(stream->part);
	values[2] = PointerGetDatum(exported);
	source = NULL;
	{
		/* a source of this partition here: the partition was not emptied */
		StringInfoData sql;
		Oid			argtypes[2] = {INT8OID, INT4OID};
		bool		isnull;

		initStringInfo(&sql);
		appendStringInfoString(&sql,
							   "SELECT o.source, o.committed_offset FROM sessionize.offsets o "
							   "WHERE o.stream_id OPERATOR(pg_catalog.=) $1 "
							   "AND o.part OPERATOR(pg_catalog.=) $2 LIMIT 1");
		SPI_connect();
		if (SPI_execute_with_args(sql.data, 2, argtypes, values, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read the offsets of stream \"%s\"", stream->name);
		if (SPI_processed > 0)
		{
			source = MemoryContextStrdup(cxt,
										 SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
			committed = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
													SPI_tuptable->tupdesc, 2, &isnull));
		}
		SPI_finish();
	}
	if (source != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("partition %d of stream \"%s\" has offsets on this node",
						stream->part, stream->name),
				 errdetail("Source \"%s\" has committed offset %lld here.", source,
						   (long long) committed),
				 errhint("A partition moves into a node where it is empty: forget_partition() there first.")));
	PG_TRY();
	{
		(void) catalog_exec(CAT_PART_IMPORT, values, NULL, NULL, NULL);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();

		if (edata->sqlerrcode != ERRCODE_UNIQUE_VIOLATION)
			PG_RE_THROW();
		FlushErrorState();
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("a source of partition %d of stream \"%s\" belongs to another partition on this node",
						stream->part, stream->name),
				 errhint("Move the partition to a node where its sources are not fed elsewhere.")));
	}
	PG_END_TRY();
	PG_RETURN_VOID();
}

/*
 * sessionize_forget_partition: forget_partition(stream, partition): delete
 * the partition's open sessions, offsets and counters on this node and
 * mark it moved: calls on it here are then errors that tell to retry
 * (partition_moved_error), until import_partition brings it back.
 */
Datum
sessionize_forget_partition(PG_FUNCTION_ARGS)
{
	Stream	   *stream = move_begin(fcinfo);
	Datum		values[2];

	partition_delete_rows(stream);
	values[0] = Int64GetDatum(stream->id);
	values[1] = Int32GetDatum(stream->part);
	(void) catalog_exec(CAT_PART_FORGET, values, NULL, NULL, NULL);
	PG_RETURN_VOID();
}
