/*-------------------------------------------------------------------------
 *
 * call.c
 *	  The frame every call that changes a stream runs in: its memory, the
 *	  stream and partition locked for it, its counters saved, and the
 *	  sessions it finished returned (and sunk).
 *
 *-------------------------------------------------------------------------
 */
#include "sessionize.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

/*
 * The memory of a call.  A call allocates in proportion to its batch
 * (about 1 kB an event: the decoded events, their grouping, the sessions
 * read and written, the result).  Allocated anew each time and freed at
 * the end, much of it would go back to the operating system and fault in
 * again on the next call, one page at a time (1,500 minor faults a batch
 * of 10,000 events).  So the backend keeps one context for its calls,
 * reset by each, whose first block (kept across resets) grows to what the
 * largest call so far needed, up to CALL_MEMORY_KEEP_MAX.  A call made
 * while another is under way (from a sink trigger or an update function)
 * gets a context of its own, deleted at its end.
 */
#define CALL_MEMORY_KEEP_MIN (256 * 1024)
#define CALL_MEMORY_KEEP_MAX (64 * 1024 * 1024)

static MemoryContext call_memory = NULL;
static Size call_memory_keep = 0;
static int	call_depth = 0;

/*
 * call_memory_xact: at the end of a transaction no call is under way (one
 * that failed never reached call_end).
 */
static void
call_memory_xact(XactEvent event, void *arg)
{
	call_depth = 0;
}

/*
 * call_init: set up the call frame when the module is loaded.
 */
void
call_init(void)
{
	RegisterXactCallback(call_memory_xact, NULL);
}

/*
 * call_memory_take: the memory context of a call that begins.
 */
static MemoryContext
call_memory_take(void)
{
	if (call_depth++ > 0)
		return AllocSetContextCreate(CurrentMemoryContext, "sessionize nested call",
									 ALLOCSET_DEFAULT_SIZES);
	if (call_memory == NULL)
	{
		call_memory_keep = CALL_MEMORY_KEEP_MIN;
		call_memory = AllocSetContextCreate(TopMemoryContext, "sessionize call",
											call_memory_keep, call_memory_keep,
											Max(call_memory_keep, ALLOCSET_DEFAULT_MAXSIZE));
	}
	MemoryContextReset(call_memory);
	return call_memory;
}

/*
 * call_memory_give: the call that had cxt ends: a nested call's context is
 * deleted; the backend's is kept (emptied by the next call) and, when
 * this call needed more than its first block, made again with a first
 * block that would have held it.
 */
static void
call_memory_give(MemoryContext cxt)
{
	Size		used;

	call_depth = Max(call_depth - 1, 0);
	if (cxt != call_memory)
	{
		MemoryContextDelete(cxt);
		return;
	}
	used = MemoryContextMemAllocated(cxt, true);
	if (used > call_memory_keep && call_memory_keep < CALL_MEMORY_KEEP_MAX)
	{
		while (call_memory_keep < used && call_memory_keep < CALL_MEMORY_KEEP_MAX)
			call_memory_keep *= 2;
		MemoryContextDelete(call_memory);
		call_memory = AllocSetContextCreate(TopMemoryContext, "sessionize call",
											call_memory_keep, call_memory_keep,
											Max(call_memory_keep, ALLOCSET_DEFAULT_MAXSIZE));
	}
	else
		MemoryContextReset(call_memory);
}


/*
 * call_begin: start a call that changes the stream named by argument 0
 * (see call_begin_stream).
 */
void
call_begin(Call *call, FunctionCallInfo fcinfo)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("stream must not be NULL")));
	call_begin_stream(call, text_to_cstring(PG_GETARG_TEXT_PP(0)));
}

/*
 * call_begin_stream: start a call that changes stream name: check the
 * transaction, make the call's memory context and lock the stream for use
 * (see stream.c); call_partition_begin then takes the partition it works
 * on.  The call runs as its caller; only the catalog statements run as
 * the extension's owner (see catalog.c).
 *
 * The partition's row lock makes calls on one partition run one at a
 * time.  It needs READ COMMITTED: a call that waited for another must see
 * what that one committed, which a transaction snapshot taken earlier
 * would not.
 */
void
call_begin_stream(Call *call, const char *name)
{
	check_may_change(name);

	memset(call, 0, sizeof(Call));
	call->cxt = call_memory_take();
	call->caller_cxt = MemoryContextSwitchTo(call->cxt);
	call->stream = stream_lock(name, STREAM_USE, GetUserId());
	if (call->stream->update_function != NULL)
	{
		if (!OidIsValid(call->stream->update_fn))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_FUNCTION),
					 errmsg("the update function %s of stream \"%s\" no longer exists",
							call->stream->update_function, name),
					 errhint("Create it again, or drop the stream.")));
		call->stream->update_outputs = check_update_function(call->stream->update_fn);
		call->stream->finish_state = custom_finish_row;
	}
}

/*
 * call_partition_begin: the call works on partition part from here on:
 * lock it and read its clock; its counters start from zero.  A partition
 * that moved to another node is an error (see partition_moved_error),
 * unless skip_moved (a call on every partition): then it returns false,
 * and the call skips the partition.
 */
bool
call_partition_begin(Call *call, int32 part, bool skip_moved)
{
	partition_lock(call->stream, part);
	memset(&call->delta, 0, sizeof(StreamDelta));
	if (call->stream->moved)
	{
		if (skip_moved)
			return false;
		partition_moved_error(call->stream);
	}
	return true;
}

/*
 * call_partition_end: the call is done with its partition: save its
 * counters and clock, when changed.
 */
void
call_partition_end(Call *call, bool changed)
{
	if (changed)
		stream_save(call->stream, &call->delta);
}

/*
 * partition_arg: the partition argument argno of a changing call; when it
 * is NULL, *all is set if given (expire and flush: every partition), else
 * it is an error.  A call declared without it (by the SQL of 0.1 or 0.2)
 * works on partition 0.
 */
int32
partition_arg(FunctionCallInfo fcinfo, int argno, bool *all)
{
	if (all != NULL)
		*all = false;
	if (PG_NARGS() <= argno)
		return 0;
	if (PG_ARGISNULL(argno))
	{
		if (all == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("partition must not be NULL"),
					 errhint("A batch goes to one partition, 0 for a stream of one.")));
		*all = true;
		return 0;
	}
	return PG_GETARG_INT32(argno);
}

/*
 * call_end: finish a call: return the finished sessions (fcinfo NULL: a
 * call that returns nothing, an attached table's) and append them to the
 * sink, and free the call's memory.
 */
void
call_end(Call *call, FunctionCallInfo fcinfo)
{
	emit_finished(fcinfo, call->stream, &call->finished);
	MemoryContextSwitchTo(call->caller_cxt);
	ereport(DEBUG1,
			(errmsg_internal("sessionize: call on stream \"%s\": %lld events, %d sessions finished, %zu kB of call memory",
							 call->stream->name, (long long) call->delta.events_in,
							 call->finished.count,
							 MemoryContextMemAllocated(call->cxt, true) / 1024)));
	call_memory_give(call->cxt);
}
