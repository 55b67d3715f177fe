/*-------------------------------------------------------------------------
 *
 * sessionize.h
 *	  Types shared by the parts of sessionize: a stream's settings, the
 *	  events of a batch, sessions, and the finished sessions a call returns.
 *
 * The session rules (rules.c) work on these types alone and do no I/O, so
 * every entry point (the JSON batch, expire, flush, and later forms) runs
 * the same code.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SESSIONIZE_H
#define SESSIONIZE_H

#include "postgres.h"

#include "fmgr.h"
#include "executor/tuptable.h"
#include "storage/itemptr.h"
#include "access/itup.h"
#include "access/nbtree.h"
#include "utils/array.h"
#include "datatype/timestamp.h"
#include "nodes/primnodes.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
#include "utils/sortsupport.h"

#include "compat.h"

/*
 * PostgreSQL 15 loads libraries with RTLD_GLOBAL: every symbol a library
 * exports is global in the server, so a function of ours named like one of
 * another library could be called in its place.  Everything declared in
 * this header is hidden: the library exports only the SQL-callable
 * functions (declared by PG_FUNCTION_INFO_V1 in the .c files), _PG_init
 * and the magic block.
 */
#if defined(__GNUC__)
#pragma GCC visibility push(hidden)
#endif

typedef struct StateTable StateTable;	/* a stream's state table, opened (state.c) */
typedef struct StreamDelta StreamDelta;
typedef struct DeadLetterList DeadLetterList;	/* a batch's bad elements (deadletter.c) */

/* Why a session ended; the order is that of the stats columns. */
typedef enum EndReason
{
	END_GAP,
	END_MAX_DURATION,
	END_MAX_EVENTS,
	END_LAST,
	END_FLUSH,
	END_OUTPUT,					/* custom state: an output, the state goes on */
	END_LATE					/* event time: a late event, out on its own */
} EndReason;

/* The reasons a session ends, each with a stats counter. */
#define END_NREASONS (END_FLUSH + 1)

/* The end_reason values there are. */
#define END_NNAMES (END_LATE + 1)

extern const char *const end_reason_names[END_NNAMES];

/* The session rules of a stream, durations in microseconds (0: unset). */
typedef struct SessRules
{
	int64		gap;
	int64		max_duration;
	int32		max_events;
} SessRules;

/* One event of a batch, decoded. */
typedef struct SessEvent
{
	Datum		key;			/* in the stream's key type */
	TimestampTz ts;
	bool		is_last;
	int32		ordinal;		/* position in the batch: ties in ts keep it */
	JsonbContainer *payload;	/* the whole event, an object */
	int32		payload_len;	/* bytes of *payload */
} SessEvent;

/*
 * A session: its events kept in ts order (ties in arrival order), each as
 * its timestamp and its payload (a jsonb container, not copied).
 *
 * A long open session keeps its older events in chunks of the state (see
 * state.c), written once, rather than in memory: nstored of them, in
 * nchunks chunks, all older arrivals than the events in memory.  The rules
 * need only the session's first and last ts and its count; the events of
 * a session that finishes are all read back into memory (session_restore).
 */
typedef struct Session
{
	int32		nevents;		/* events in memory */
	int32		capacity;
	TimestampTz *ts;
	JsonbContainer **payload;
	int32	   *payload_len;
	int32		nstored;		/* events in chunks */
	int32		nchunks;
	TimestampTz first_ts;		/* of all its events */
	TimestampTz last_ts;
	bool	   *is_last;		/* event time: each event's isLast; else NULL */
	TimestampTz stored_last_ts; /* event time: the newest ts in chunks */
} Session;

#define SESSION_FIRST_TS(s) ((s)->first_ts)
#define SESSION_LAST_TS(s)	((s)->last_ts)
#define SESSION_COUNT(s)	((s)->nstored + (s)->nevents)

/*
 * A session some call finished (or, for custom state, an output of the
 * update function), waiting to be returned and sunk.
 */
typedef struct Finished
{
	Datum		key;
	Session    *session;		/* built-in rules: the session */
	EndReason	reason;
	Jsonb	   *output;			/* custom state: the output, else NULL */
	TimestampTz first_ts;		/* of the session or the key's state */
	TimestampTz last_ts;
	int32		nevents;
} Finished;

/* The finished sessions of one call, in the order they finished. */
typedef struct FinishedList FinishedList;
struct FinishedList
{
	int			count;
	int			capacity;
	Finished   *items;
};

/*
 * The sources of the partition a batch works on, for its clock (see
 * offsets.c).  From 0.4 on each source has a clock, the newest ts it has
 * sent; the calls without a source count as one source of their own, "the
 * unnamed source", whose clock is in the partition's row.
 */
typedef struct PartitionSources
{
	bool		per_source;		/* the catalog has a clock per source (0.4 on) */
	bool		has_named;		/* a named source has fed the partition */
	bool		unsourced_call; /* the call is a batch without a source */
	bool		unsourced_fed;	/* a call without a source came, at: */
	TimestampTz unsourced_at;
	bool		unsourced_known;	/* what those calls sent, when any */
	TimestampTz unsourced_newest;
	/* the call's named source: its committed offset and partition */
	bool		committed;
	int64		committed_offset;
	int32		committed_part;
	/* the clocks: the call's source's, and the oldest of the other active ones */
	bool		own_known;
	TimestampTz own_newest;
	bool		others_hold;	/* an active other source has sent no event yet */
	bool		others_known;
	TimestampTz others_min;
} PartitionSources;

/*
 * A stream as the C code sees it: its catalog row, decoded, and what is
 * needed to handle its keys.  Built by stream_lock() per call.
 */
typedef struct Stream
{
	int64		id;
	char	   *name;
	Oid			owner;
	Oid			key_type;
	SessRules	rules;
	int64		lateness;		/* microseconds */
	int64		max_future;		/* microseconds; -1: no limit */
	int64		ts_unit;		/* microseconds in a unit of epoch numbers */
	char	   *key_field;
	char	   *ts_field;
	char	   *last_field;
	Oid			sink;			/* InvalidOid: none */
	Oid			dead_letter;	/* InvalidOid: none */
	char	   *time_zone;		/* of times without an offset; NULL: TimeZone's */
	bool		event_time;		/* mode event_time (SPEC 8), else arrival order */
	Oid			state_relid;
	int32		npartitions;
	int32		part;			/* the partition a call works on */
	bool		has_watermark;	/* that partition's clock */
	TimestampTz watermark;
	/* no timer of that partition is earlier, when known (see state_expire) */
	bool		has_timer_floor;
	TimestampTz timer_floor;
	bool		moved;			/* that partition moved to another node */
	TimestampTz timers_written_min; /* the earliest timer written since it was reset */
	int64		source_idle;	/* microseconds; -1: a source never goes idle */
	PartitionSources sources;	/* the partition's sources, for a batch's clock */

	/* key type support, looked up once per call */
	int16		key_typlen;
	bool		key_typbyval;
	char		key_typalign;
	Oid			key_collation;
	char	   *update_function;	/* custom state: its signature, or NULL */
	Oid			update_fn;		/* the function, 0 if none or gone */
	FmgrInfo	update_finfo;
	bool		update_outputs;	/* it returns state_outputs, not state_update */
	/* custom state: how the clock and flush end a state (see custom.c) */
	void		(*finish_state) (StateTable *st, TupleTableSlot *slot,
								 EndReason reason, FinishedList *finished,
								 StreamDelta *delta);
	FmgrInfo	key_input;
	Oid			key_ioparam;
	FmgrInfo	key_output;
	SortSupportData key_sort;
	Oid			key_lt;			/* its btree order's operator */
	bool		key_hashable;	/* the type has a hash opclass: */
	FmgrInfo	key_hash;		/* its hash function */
	FmgrInfo	key_eq;			/* and its equality */
} Stream;

/* What a call did, added to the stream's counters at its end. */
struct StreamDelta
{
	int64		events_in;
	int64		late_events;
	int64		batches;
	int64		opened;
	int64		closed[END_NREASONS];
	int64		future_events;	/* ahead of now() + max_future */
	int64		batches_skipped;	/* at or before their committed offset */
	int64		outputs;		/* custom state: rows the function emitted */
	int64		dead_letters;	/* elements set aside */
};

/* A batch's bad elements, set aside (deadletter.c). */
typedef struct DeadLetter
{
	int32		index;			/* the element, as its errors name it */
	Jsonb	   *element;		/* as sent (a query's row as jsonb) */
	char	   *sqlstate;
	char	   *message;
} DeadLetter;

struct DeadLetterList
{
	int			count;
	int			capacity;
	DeadLetter *items;
	/* what a batch without a source labels them with (an attached table's) */
	const char *source;
	int64		batch_offset;
};

/*
 * A call that changes a stream (a batch, expire, flush): its memory, the
 * stream locked for it, and what it finished.  See call_begin().  It runs
 * as its caller throughout; only the catalog statements of catalog.c run
 * as the extension's owner.
 */
typedef struct Call
{
	MemoryContext cxt;
	MemoryContext caller_cxt;
	Stream	   *stream;
	FinishedList finished;
	StreamDelta delta;
	DeadLetterList dead;		/* the batch's bad elements */
	int			first_event;	/* the typed form's events before it are skipped */
} Call;

/* The schema of the extension's objects and of the streams' tables. */
#define SESSIONIZE_SCHEMA "sessionize"

/*
 * catalog.c: the statements on the extension's own tables, the only ones
 * that run as the extension's owner (see the list at the top of catalog.c).
 */
typedef enum CatalogStmt
{
	CAT_STREAM_READ,			/* (name): the stream's row, CatalogColumn */
	CAT_STREAM_USE,				/* (name): the same, locked FOR KEY SHARE */
	CAT_STREAM_LOCK,			/* (name): the same, locked FOR UPDATE */
	CAT_PART_LOCK,				/* (id, part): its clock and timer floor, FOR UPDATE */
	CAT_STREAM_SAVE,			/* (id, 9 counters, watermark, part, ..., timer floor) */
	CAT_FLOOR_FORGET,			/* (id): every partition's timer floor unknown */
	CAT_OFFSET_READ,			/* (id, source): committed_offset, part */
	CAT_SOURCES_READ,			/* (id, source, part, active since): see offsets.c */
	CAT_OFFSET_WRITE,			/* (id, source, offset, part) */
	CAT_OFFSET_SET,				/* (id, source, offset, part): set_offset */
	CAT_OFFSET_FORGET,			/* (id, source): set_offset to NULL */
	CAT_STREAM_CREATE,			/* the arguments of _create_stream */
	CAT_STREAM_DROP,			/* (id) */
	CAT_SET_GAP,				/* (id, value): alter_stream, one per setting */
	CAT_SET_MAX_DURATION,
	CAT_SET_MAX_EVENTS,
	CAT_SET_LATENESS,
	CAT_SET_KEY_FIELD,
	CAT_SET_TS_FIELD,
	CAT_SET_LAST_FIELD,
	CAT_SET_SINK,
	CAT_SET_MAX_FUTURE,
	CAT_SET_TS_UNIT,
	CAT_SET_DEAD_LETTER,
	CAT_SET_TIME_ZONE,
	CAT_SET_WATERMARK,			/* (id, value): every partition's clock */
	CAT_CLOCKS_FORGET,			/* (id): every source's clock unknown */
	CAT_SET_SOURCE_IDLE,
	CAT_SET_KEY_INDEX,			/* (id, kind): _key_index of its state table */
	CAT_PART_EXPORT,			/* (id, part): the partition's row and offsets */
	CAT_PART_IMPORT,			/* (id, part, exported): them on this node */
	CAT_PART_FORGET,			/* (id, part): moved away */
	CAT_NSTATEMENTS
} CatalogStmt;

#define CATALOG_MAX_ARGS 20

/* The catalog of this version of sessionize (see catalog_version). */
#define CATALOG_VERSION_CURRENT 5
/* The first catalog with a clock per source (that of 0.4). */
#define CATALOG_VERSION_SOURCES 4

/*
 * The columns of the row CAT_STREAM_READ, _USE and _LOCK return.  The
 * watermark is the stream's in a catalog of version 0.1 or 0.2 (one
 * partition), NULL from 0.3 on (each partition's is in its row).
 */
typedef enum CatalogColumn
{
	COL_ID = 1, COL_OWNER, COL_KEY_TYPE, COL_GAP, COL_MAX_DURATION,
	COL_MAX_EVENTS, COL_LATENESS, COL_KEY_FIELD, COL_TS_FIELD, COL_LAST_FIELD,
	COL_SINK, COL_STATE_TABLE, COL_WATERMARK, COL_UPDATE_FUNCTION, COL_PARTITIONS,
	COL_MAX_FUTURE, COL_TS_UNIT, COL_DEAD_LETTER, COL_TIME_ZONE, COL_MODE,
	COL_SOURCE_IDLE
} CatalogColumn;

/* The most partitions a stream may have. */
#define MAX_PARTITIONS 1024

extern uint64 catalog_exec(CatalogStmt stmt, Datum *values, const char *nulls,
						   HeapTuple *row, TupleDesc *desc);
extern int	catalog_version(void);
extern bool catalog_partitioned(void);
extern Oid	sessionize_extension_owner(void);

/* call.c */
extern void call_init(void);
extern void call_begin(Call *call, FunctionCallInfo fcinfo);
extern void call_begin_stream(Call *call, const char *name);
extern bool call_partition_begin(Call *call, int32 part, bool skip_moved);
extern void call_partition_end(Call *call, bool changed);
extern void call_end(Call *call, FunctionCallInfo fcinfo);
extern int32 partition_arg(FunctionCallInfo fcinfo, int argno, bool *all);

/* rules.c */
extern Session *session_alloc(int capacity);
extern Session *session_new(void);
extern void session_add(Session *s, TimestampTz ts, JsonbContainer *payload,
						int32 payload_len, bool is_last);
extern void session_restore(Session *s, int n, const TimestampTz *ts,
							JsonbContainer *const *payload, const int32 *payload_len);
extern void rules_apply(const SessRules *rules, Datum key, Session **open,
						const SessEvent *events, int nevents,
						FinishedList *finished, StreamDelta *delta);
extern bool rules_timed_out(const SessRules *rules, TimestampTz last_ts,
							TimestampTz watermark);
extern TimestampTz ts_add_usecs(TimestampTz ts, int64 usecs);
extern int	cmp_event_ts(const void *a, const void *b);
extern void finished_add(FinishedList *list, Datum key, Session *s,
						 EndReason reason, StreamDelta *delta);
extern void finished_add_output(FinishedList *list, Datum key, Jsonb *output,
								EndReason reason, TimestampTz first_ts,
								TimestampTz last_ts, int32 nevents);
extern Jsonb *session_events_jsonb(const Session *s);
extern Size session_events_jsonb_size(const Session *s);
extern void session_events_jsonb_write(const Session *s, char *buf, Size size);
extern TimestampTz watermark_minus_lateness(Stream *stream, TimestampTz ts);
extern TimestampTz clock_limit(Stream *stream);
extern void advance_watermark(Stream *stream, TimestampTz ts);

/* sessionize.c */
extern void sessionize_rows(const char *name, int32 part, Oid table, TupleDesc desc,
							HeapTuple *rows, int n, const char *source, int64 batch_offset);

/* attach.c */
extern void detach_all(const char *name);

/* stream.c */

/* How stream_lock locks the stream's catalog row. */
typedef enum StreamLockMode
{
	STREAM_READ,				/* no lock: readers */
	STREAM_USE,					/* calls on a partition: drop and alter wait */
	STREAM_CHANGE				/* drop and alter: wait for every call */
} StreamLockMode;

extern void check_may_change(const char *name);
extern Stream *stream_lock(const char *name, StreamLockMode mode, Oid caller);
extern void partition_lock(Stream *stream, int32 part);
extern void partition_moved_error(Stream *stream);
extern void stream_save(Stream *stream, const StreamDelta *delta);
extern int	stream_key_cmp(Stream *stream, Datum a, Datum b);
extern int64 interval_usecs(Interval *span, const char *setting);
extern void check_duration(Interval *span, const char *setting);
extern int64 ts_unit_usecs(const char *unit);
extern int	time_zone_set(const char *zone, const char *setting);
extern void time_zone_reset(int nest);
extern bool check_positive_duration(FunctionCallInfo fcinfo, int argno,
									const char *setting);
extern bool check_update_function(Oid fn);

/*
 * The longest key, in bytes, that is accepted: any key up to this size
 * fits in a btree index tuple of the state tables' keys, even uncompressed
 * (BTMaxItemSize of nbtree.h, less the index tuple header).  The tightest
 * is the chunk table's (part, key, seq): an int4 before the key and one
 * after it.
 */
#define MAX_KEY_BYTES \
	(MAXALIGN_DOWN((BLCKSZ - \
					MAXALIGN(SizeOfPageHeaderData + 3 * sizeof(ItemIdData) + \
							 3 * sizeof(ItemPointerData)) - \
					MAXALIGN(sizeof(BTPageOpaqueData))) / 3) - \
	 MAXALIGN(sizeof(IndexTupleData)) - 2 * sizeof(int32))

#define KEY_TOO_LONG_HINT "Keys are indexed; use a shorter key, or a hash of it."

/*
 * key_too_long: whether a key is over MAX_KEY_BYTES.
 */
static inline bool
key_too_long(Stream *stream, Datum key)
{
	return stream->key_typlen == -1 &&
		VARSIZE_ANY(DatumGetPointer(key)) > MAX_KEY_BYTES;
}

/* cast.c */
typedef struct ValueCast ValueCast;
extern ValueCast *value_cast_init(Oid source, Oid target, CoercionContext ccontext);
extern ValueCast *value_row_to_jsonb_init(TupleDesc desc);
extern Datum value_cast(ValueCast *c, Datum value);

/* timestamps.c */

/*
 * Where a ts being read is, for its errors: field of event index of the
 * batch (rows_of NULL), or of row index of rows_of ("the query", a
 * table).  converting is the decoder's slot for the field that a
 * PostgreSQL input function is reading, which its enrich reports.
 */
typedef struct TsPlace
{
	int			index;
	const char *field;
	const char *rows_of;
	const char **converting;
} TsPlace;

extern const char *ts_unit_words(Stream *stream);
extern TimestampTz ts_from_epoch(Stream *stream, float8 value, const char *text,
								 const TsPlace *place);
extern TimestampTz ts_from_string(Stream *stream, const char *s, int len,
								  const TsPlace *place);

/* batch.c, query.c */

/* The hint of an event (a payload) that is not a JSON object, in every form. */
#define EVENT_OBJECT_HINT \
	"An event is a JSON object, returned whole in its session; wrap another value in one, e.g. {\"items\": [1, 2]}."

extern const char *jsonb_type_name(JsonbContainer *root);
extern char *json_value_text(const JsonbValue *v);
extern SessEvent *batch_decode_json(Stream *stream, Jsonb *events,
									DeadLetterList *dead, int *nevents);
extern SessEvent *batch_decode_query(Stream *stream, const char *query, Jsonb *params,
									 DeadLetterList *dead, int *nevents);
extern void rows_check_columns(Stream *stream, TupleDesc desc, const char *rows_of);
extern SessEvent *batch_decode_rows(Stream *stream, TupleDesc desc, HeapTuple *rows, int n,
									const char *rows_of, DeadLetterList *dead,
									int *nevents);
extern SessEvent *batch_decode_arrays(Stream *stream, ArrayType *keys,
									  ArrayType *ts, ArrayType *is_last,
									  ArrayType *payloads, int first,
									  DeadLetterList *dead, int *nevents);

/* state.c */

/* The columns of a state table (see _create_stream). */
enum
{
	ST_KEY = 1, ST_FIRST_TS, ST_LAST_TS, ST_DEADLINE, ST_EVENT_COUNT,
	ST_EVENT_TS, ST_EVENTS, ST_CHUNKS, ST_PART,
	ST_EVENT_LAST, ST_CHUNK_LAST,	/* event time only */
	ST_NATTS = ST_CHUNK_LAST
};

extern StateTable *state_open(Stream *stream);
extern void state_close(StateTable *st);
extern TupleTableSlot *state_fetch_slot(StateTable *st, Datum key,
										ItemPointer tid);
extern Session *state_fetch(StateTable *st, Datum key, ItemPointer tid);
extern void state_write(StateTable *st, Datum key, ItemPointer tid,
						TimestampTz first_ts, TimestampTz last_ts, int32 nevents,
						ArrayType *event_ts, Jsonb *events, int32 nchunks);
extern void state_take_chunks(StateTable *st, Datum key, Session *s);
extern int	state_et_finish(StateTable *st, Datum key, Session **s, int before,
							TimestampTz watermark, bool flush, FinishedList *finished,
							StreamDelta *delta);
extern void state_delete(StateTable *st, ItemPointer tid);
extern void state_store(StateTable *st, Datum key, ItemPointer tid,
						Session *s);
extern void state_expire(StateTable *st, TimestampTz watermark,
						 FinishedList *finished, StreamDelta *delta);
extern void state_flush(StateTable *st, FinishedList *finished,
						StreamDelta *delta);
extern void state_reset_deadlines(Stream *stream, int64 gap);

/* One open session, as state_read_next reads it. */
typedef struct OpenSession
{
	Datum		key;
	TimestampTz first_ts;
	TimestampTz last_ts;
	int32		count;
	Jsonb	   *events;			/* all of them, in session order */
	int32		part;
} OpenSession;

typedef struct StateReader StateReader;

extern StateReader *state_read_begin(Stream *stream, bool one_key, Datum key);
extern bool state_read_next(StateReader *r, OpenSession *os);
extern void state_read_end(StateReader *r);

/* eventtime.c */
extern Session *et_state_new(void);
extern void et_insert(Session *s, const SessEvent *e);
extern TimestampTz et_deadline(const SessRules *rules, const Session *s);
extern int	et_count(const SessRules *rules, const Session *s);
extern Session *et_split_first(const SessRules *rules, Session **state, bool *ends_last,
							   bool *later);
extern int	et_take_final(const SessRules *rules, Datum key, Session **state,
						  bool has_watermark, TimestampTz watermark, bool flush,
						  FinishedList *finished, StreamDelta *delta);
extern int	et_chunkable(const SessRules *rules, const Session *s, bool has_watermark,
						 TimestampTz watermark);

/* custom.c */
extern void custom_apply_key(StateTable *st, Datum key, const SessEvent *events,
							 int nevents, FinishedList *finished, StreamDelta *delta);
extern void custom_finish_row(StateTable *st, TupleTableSlot *slot, EndReason reason,
							  FinishedList *finished, StreamDelta *delta);
extern Stream *state_stream(StateTable *st);

/* emit.c */
#define SINK_NCOLUMNS 6
extern const char *const sink_columns[SINK_NCOLUMNS];
extern Jsonb *finished_events(const Finished *f);
extern void emit_finished(FunctionCallInfo fcinfo, Stream *stream,
						  FinishedList *finished);
#define TABLE_MAX_COLUMNS 8
extern void table_append(Oid rel, const char *what, int nrows, int ncolumns,
						 const char *const names[], const Oid types[],
						 const Datum arrays[]);

/* deadletter.c */

/*
 * A decoder of a batch's elements, which decode_guarded runs.  decode
 * decodes elements next .. end - 1 into events[ngood++], keeping next at
 * the element at hand, and raises the error of a bad one.  element is
 * element i as sent; enrich (may be NULL) rewrites an error of element
 * next in the decoder's terms.
 */
typedef struct ElementDecoder ElementDecoder;
struct ElementDecoder
{
	Stream	   *stream;
	SessEvent  *events;
	int			next;
	int			ngood;
	int			index_base;		/* element i is reported as index_base + i */
	void		(*decode) (ElementDecoder *d, int end);
	Jsonb	   *(*element) (ElementDecoder *d, int i);
	void		(*enrich) (ElementDecoder *d, ErrorData *edata);
	void	   *arg;
	bool		hint_dead_letter;	/* a bad element's error, with no dead_letter
									 * table, hints at one */
};

#define DEAD_LETTER_NCOLUMNS 6
extern const char *const dead_letter_columns[DEAD_LETTER_NCOLUMNS];
extern const Oid dead_letter_types[DEAD_LETTER_NCOLUMNS];
extern void decode_guarded(ElementDecoder *d, int n, DeadLetterList *dead);
extern void dead_letters_write(Stream *stream, DeadLetterList *dead,
							   const char *source, int64 batch_offset);

/* offsets.c */
extern void sources_begin(Stream *stream, const char *source);
extern void sources_clock(Stream *stream, bool any, TimestampTz newest);
extern bool offset_committed(Stream *stream, const char *source, int64 *offset);
extern bool offset_check(Stream *stream, const char *source, int64 offset,
						 bool has_first, int64 first_offset);
extern bool offset_part(Stream *stream, const char *source, int32 *part);
extern void offset_record(Stream *stream, const char *source, int64 offset);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif							/* SESSIONIZE_H */
