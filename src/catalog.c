/*-------------------------------------------------------------------------
 *
 * catalog.c
 *	  The catalog statements: the only code of sessionize that runs with
 *	  the privileges of the extension's owner.
 *
 * Every other line of sessionize runs as the role that called it: decoding
 * the caller's input (key input functions, domain constraints, casts), the
 * key type's comparison and hash support, reading and writing the stream's
 * state tables (which belong to the stream's owner, see _create_stream),
 * the sink insert with its defaults, triggers and constraints, the update
 * function, the query of sessionize_query.
 *
 * The owner is needed for one thing: the rows of sessionize.streams and
 * sessionize.offsets, which the callers may only read (row security shows
 * each role its own streams), and the DDL that makes and drops a stream's
 * tables in schema sessionize.  The switches to the owner are these, each
 * around exactly one prepared statement of the table below and nothing
 * else, in catalog_exec():
 *
 *	  CAT_STREAM_READ, _USE, _LOCK		read (and lock) a stream's row
 *	  CAT_PART_LOCK						lock a partition's row, read its clock
 *	  CAT_PART_EXPORT, CAT_PART_IMPORT,	a partition's move to another node
 *	  CAT_PART_FORGET
 *	  CAT_STREAM_SAVE					add a call's counters, set the clock
 *	  CAT_OFFSET_READ, CAT_OFFSET_WRITE	a source's committed offset
 *	  CAT_SOURCES_READ					that and the clocks of a partition's sources
 *	  CAT_CLOCKS_FORGET					the sources' clocks, when the clock is set
 *	  CAT_OFFSET_SET, CAT_OFFSET_FORGET	set_offset
 *	  CAT_STREAM_CREATE					sessionize._create_stream()
 *	  CAT_STREAM_DROP					sessionize._drop_stream()
 *	  CAT_SET_<setting>					alter_stream's UPDATE of one column
 *	  CAT_SET_WATERMARK					alter_stream's setting of the clocks
 *	  CAT_SET_SOURCE_IDLE				alter_stream's source_idle (and create_stream's)
 *	  CAT_SET_KEY_INDEX					alter_stream's key_index: _key_index()
 *
 * Why no code of a caller can run inside them:
 *	- the statements are fixed text, here; callers pass values only, as
 *	  parameters of builtin types (text, bigint, interval, integer,
 *	  timestamptz, regrole, regtype, regclass, jsonb: a partition's import
 *	  reads it into the catalog's builtin column types): no input function of a
 *	  caller's type runs, and no caller text becomes SQL;
 *	- they read and write only sessionize.streams, sessionize.partitions and
 *	  sessionize.offsets, whose columns are of builtin types, with no
 *	  triggers, no defaults but builtin ones, and the owner bypasses their
 *	  row security;
 *	- search_path is pinned to pg_catalog, pg_temp while they run, and every
 *	  name in them is schema-qualified anyway (operators spelled
 *	  OPERATOR(pg_catalog.=)); in the two that make tables and indexes
 *	  (CAT_STREAM_CREATE, CAT_SET_KEY_INDEX), so are default_tablespace
 *	  (the database's) and default_table_access_method (heap), which
 *	  would otherwise put them in a tablespace the caller may not use;
 *	- they run as a security-restricted operation (as PostgreSQL runs index
 *	  functions during maintenance), so nothing reached could SET ROLE;
 *	- _create_stream creates a state table whose key column has the
 *	  stream's key type; creating its key index on an empty table calls
 *	  at most the btree or hash support functions of that type, which
 *	  create_stream has checked are C or internal functions, written by a
 *	  superuser (check_key_support in stream.c).  The tables are then given
 *	  to the stream's owner, so that everything PostgreSQL itself does as a
 *	  table's owner (ANALYZE, VACUUM FULL, REINDEX, autovacuum) runs as the
 *	  stream's owner too.  _drop_stream drops them.  Neither runs a
 *	  caller's function, trigger or default;
 *	- _key_index (alter_stream's key_index) builds the other key index on
 *	  a state table that has rows and drops the one it had, found by what
 *	  they are, not by name.  alter_stream has locked the table first, as
 *	  the caller and in C: LOCK TABLE as the owner would follow the rules
 *	  of a table its owner made a view, locking the tables they read.
 *	  CREATE INDEX calls the same checked support functions, and
 *	  PostgreSQL runs it as the table's owner (the stream's) anyway;
 *	  dropping an index runs nothing.  It never runs ALTER TABLE ... ADD
 *	  PRIMARY KEY, whose NOT NULL check would evaluate CHECK constraints
 *	  the stream's owner may have added (see _key_index).
 *
 * A database whose extension is still at 0.1 or 0.2 (the library was
 * installed, ALTER EXTENSION UPDATE not yet run) has the catalog of then:
 * one partition, its clock and counters in the stream's row, offsets
 * without a partition.  One still at 0.3 has partitions, but no clock per
 * source.  Each statement has its text for those catalogs too, so that
 * streams go on between the two steps of an upgrade (as they did before
 * it: one clock per partition).
 *
 *-------------------------------------------------------------------------
 */
#include "sessionize.h"

#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

/* The search_path the owner's statements run with. */
#define OWNER_SEARCH_PATH "pg_catalog, pg_temp"

/* The catalog row of a stream, as stream_lock reads it (see CatalogColumn). */
#define STREAM_SELECT_0_3_COLUMNS \
	"SELECT stream_id, owner, key_type, gap, max_duration, max_events, lateness, " \
	"key_field, ts_field, last_field, sink, state_table, NULL::pg_catalog.timestamptz, " \
	"update_function, partitions, max_future, ts_unit, dead_letter, time_zone, mode, "
#define STREAM_SELECT_FROM \
	" FROM sessionize.streams WHERE name OPERATOR(pg_catalog.=) $1"
#define STREAM_SELECT \
	STREAM_SELECT_0_3_COLUMNS "source_idle" STREAM_SELECT_FROM
#define STREAM_SELECT_0_3 \
	STREAM_SELECT_0_3_COLUMNS "NULL::pg_catalog.interval" STREAM_SELECT_FROM
#define STREAM_SELECT_0_2 \
	"SELECT stream_id, owner, key_type, gap, max_duration, max_events, lateness, " \
	"key_field, ts_field, last_field, sink, state_table, watermark, update_function, 1, " \
	"NULL::pg_catalog.interval, 's', NULL::pg_catalog.regclass, NULL::pg_catalog.text, " \
	"'arrival'::pg_catalog.text, NULL::pg_catalog.interval" STREAM_SELECT_FROM

/* The UPDATE of one setting of alter_stream: the column, from this file. */
#define SET_SETTING(column) \
	"UPDATE sessionize.streams SET " column " = $2 " \
	"WHERE stream_id OPERATOR(pg_catalog.=) $1"

/* The counters a call adds to, and the clock it sets (as "SET ..."). */
#define SAVE_COUNTERS \
	"events_in = events_in OPERATOR(pg_catalog.+) $2, " \
	"late_events = late_events OPERATOR(pg_catalog.+) $3, " \
	"batches = batches OPERATOR(pg_catalog.+) $4, " \
	"sessions_open = sessions_open OPERATOR(pg_catalog.+) $5, " \
	"closed_gap = closed_gap OPERATOR(pg_catalog.+) $6, " \
	"closed_max_duration = closed_max_duration OPERATOR(pg_catalog.+) $7, " \
	"closed_max_events = closed_max_events OPERATOR(pg_catalog.+) $8, " \
	"closed_last = closed_last OPERATOR(pg_catalog.+) $9, " \
	"closed_flush = closed_flush OPERATOR(pg_catalog.+) $10, " \
	"watermark = $11 "

/* The UPDATE of a partition's counters and clock (0.3 on), less its WHERE. */
#define PARTITION_SAVE \
	"UPDATE sessionize.partitions SET " SAVE_COUNTERS \
	", future_events = future_events OPERATOR(pg_catalog.+) $13 " \
	", batches_skipped = batches_skipped OPERATOR(pg_catalog.+) $14 " \
	", outputs = outputs OPERATOR(pg_catalog.+) $15 " \
	", dead_letters = dead_letters OPERATOR(pg_catalog.+) $16 " \
	", last_batch_at = CASE WHEN $4 OPERATOR(pg_catalog.>) 0 THEN pg_catalog.now() " \
	"ELSE last_batch_at END " \
	", timer_floor = $17 "

/* set_offset's INSERT of a source's offset. */
#define OFFSET_SET \
	"INSERT INTO sessionize.offsets AS o (stream_id, source, committed_offset, part) " \
	"VALUES ($1, $2, $3, $4) ON CONFLICT (stream_id, source) DO UPDATE " \
	"SET committed_offset = EXCLUDED.committed_offset, part = EXCLUDED.part, " \
	"committed_at = pg_catalog.now()"

/*
 * One statement the owner runs: its text for the catalog of 0.6, for that
 * of 0.3, for that of 0.1 and 0.2, and for that of 0.4 and 0.5 (NULL: the
 * same as the next newer one; "": none there).
 */
typedef struct CatalogStatement
{
	const char *sql;
	const char *sql_0_2;
	int			nargs;
	Oid			argtypes[CATALOG_MAX_ARGS];
	int			expected;		/* its SPI result code */
	const char *sql_0_3;
	const char *sql_0_4;		/* that of 0.4 and 0.5 (NULL: the same as 0.6's) */
} CatalogStatement;

/*
 * A partition's move (move.c): its catalog row (less its stream's id and
 * number, which differ between nodes) and its sources' rows.
 */
#define PART_EXPORT \
	"SELECT pg_catalog.jsonb_build_object(" \
	"'partition', pg_catalog.to_jsonb(p) OPERATOR(pg_catalog.-) " \
	"'{stream_id,part,moved_at}'::pg_catalog.text[], " \
	"'offsets', COALESCE((SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(o) " \
	"OPERATOR(pg_catalog.-) '{stream_id,part}'::pg_catalog.text[] ORDER BY o.source) " \
	"FROM sessionize.offsets o WHERE o.stream_id OPERATOR(pg_catalog.=) $1 " \
	"AND o.part OPERATOR(pg_catalog.=) $2), '[]')) " \
	"FROM sessionize.partitions p " \
	"WHERE p.stream_id OPERATOR(pg_catalog.=) $1 AND p.part OPERATOR(pg_catalog.=) $2"
#define PART_IMPORT \
	"WITH e AS (SELECT * FROM pg_catalog.jsonb_populate_record(" \
	"NULL::sessionize.partitions, $3 OPERATOR(pg_catalog.->) 'partition')), " \
	"o AS (INSERT INTO sessionize.offsets (stream_id, source, committed_offset, " \
	"committed_at, part, newest_ts) " \
	"SELECT $1, r.source, r.committed_offset, r.committed_at, $2, r.newest_ts " \
	"FROM pg_catalog.jsonb_populate_recordset(NULL::sessionize.offsets, " \
	"$3 OPERATOR(pg_catalog.->) 'offsets') r RETURNING 1) " \
	"UPDATE sessionize.partitions p SET watermark = e.watermark, " \
	"events_in = COALESCE(e.events_in, 0), late_events = COALESCE(e.late_events, 0), batches = COALESCE(e.batches, 0), " \
	"sessions_open = COALESCE(e.sessions_open, 0), closed_gap = COALESCE(e.closed_gap, 0), " \
	"closed_max_duration = COALESCE(e.closed_max_duration, 0), " \
	"closed_max_events = COALESCE(e.closed_max_events, 0), closed_last = COALESCE(e.closed_last, 0), " \
	"closed_flush = COALESCE(e.closed_flush, 0), future_events = COALESCE(e.future_events, 0), " \
	"batches_skipped = COALESCE(e.batches_skipped, 0), outputs = COALESCE(e.outputs, 0), " \
	"dead_letters = COALESCE(e.dead_letters, 0), last_batch_at = e.last_batch_at, " \
	"timer_floor = e.timer_floor, unsourced_newest = e.unsourced_newest, " \
	"unsourced_at = e.unsourced_at, has_sources = COALESCE(e.has_sources, false), moved_at = NULL " \
	"FROM e WHERE p.stream_id OPERATOR(pg_catalog.=) $1 " \
	"AND p.part OPERATOR(pg_catalog.=) $2 AND (SELECT pg_catalog.count(*) FROM o) IS NOT NULL"
#define PART_FORGET \
	"WITH o AS (DELETE FROM sessionize.offsets WHERE stream_id OPERATOR(pg_catalog.=) $1 " \
	"AND part OPERATOR(pg_catalog.=) $2 RETURNING 1) " \
	"UPDATE sessionize.partitions SET watermark = NULL, events_in = 0, late_events = 0, " \
	"batches = 0, sessions_open = 0, closed_gap = 0, closed_max_duration = 0, " \
	"closed_max_events = 0, closed_last = 0, closed_flush = 0, future_events = 0, " \
	"batches_skipped = 0, outputs = 0, dead_letters = 0, last_batch_at = NULL, " \
	"timer_floor = NULL, unsourced_newest = NULL, unsourced_at = NULL, " \
	"has_sources = false, moved_at = pg_catalog.now() " \
	"WHERE stream_id OPERATOR(pg_catalog.=) $1 AND part OPERATOR(pg_catalog.=) $2 " \
	"AND (SELECT pg_catalog.count(*) FROM o) IS NOT NULL"

static const CatalogStatement statements[CAT_NSTATEMENTS] = {
	[CAT_STREAM_READ] = {
		STREAM_SELECT, STREAM_SELECT_0_2, 1, {TEXTOID}, SPI_OK_SELECT, STREAM_SELECT_0_3
	},
	[CAT_STREAM_USE] = {
		/* calls on different partitions share it; their partitions' rows serialize */
		STREAM_SELECT " FOR KEY SHARE",
		STREAM_SELECT_0_2 " FOR UPDATE", 1, {TEXTOID}, SPI_OK_SELECT,
		STREAM_SELECT_0_3 " FOR KEY SHARE"
	},
	[CAT_STREAM_LOCK] = {
		STREAM_SELECT " FOR UPDATE", STREAM_SELECT_0_2 " FOR UPDATE", 1, {TEXTOID},
		SPI_OK_SELECT, STREAM_SELECT_0_3 " FOR UPDATE"
	},
	[CAT_PART_LOCK] = {
		"SELECT watermark, timer_floor, unsourced_newest, unsourced_at, has_sources, "
		"moved_at FROM sessionize.partitions "
		"WHERE stream_id OPERATOR(pg_catalog.=) $1 AND part OPERATOR(pg_catalog.=) $2 "
		"FOR UPDATE",
		"", 2, {INT8OID, INT4OID}, SPI_OK_SELECT,
		"SELECT watermark, timer_floor, NULL::pg_catalog.timestamptz, "
		"NULL::pg_catalog.timestamptz, false, NULL::pg_catalog.timestamptz "
		"FROM sessionize.partitions "
		"WHERE stream_id OPERATOR(pg_catalog.=) $1 AND part OPERATOR(pg_catalog.=) $2 "
		"FOR UPDATE",
		"SELECT watermark, timer_floor, unsourced_newest, unsourced_at, has_sources, "
		"NULL::pg_catalog.timestamptz FROM sessionize.partitions "
		"WHERE stream_id OPERATOR(pg_catalog.=) $1 AND part OPERATOR(pg_catalog.=) $2 "
		"FOR UPDATE"
	},
	[CAT_STREAM_SAVE] = {
		PARTITION_SAVE
		", unsourced_newest = $18, unsourced_at = $19 "
		", has_sources = has_sources OR $20 "
		"WHERE stream_id OPERATOR(pg_catalog.=) $1 AND part OPERATOR(pg_catalog.=) $12",
		/* $12 to $20 unused */
		"UPDATE sessionize.streams SET " SAVE_COUNTERS
		"WHERE stream_id OPERATOR(pg_catalog.=) $1",
		20, {INT8OID, INT8OID, INT8OID, INT8OID, INT8OID, INT8OID, INT8OID,
			INT8OID, INT8OID, INT8OID, TIMESTAMPTZOID, INT4OID, INT8OID, INT8OID,
		INT8OID, INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID, BOOLOID}, SPI_OK_UPDATE,
		/* $18 to $20 unused */
		PARTITION_SAVE
		"WHERE stream_id OPERATOR(pg_catalog.=) $1 AND part OPERATOR(pg_catalog.=) $12"
	},
	[CAT_FLOOR_FORGET] = {
		"UPDATE sessionize.partitions SET timer_floor = NULL "
		"WHERE stream_id OPERATOR(pg_catalog.=) $1",
		"", 1, {INT8OID}, SPI_OK_UPDATE
	},
	[CAT_OFFSET_READ] = {
		"SELECT committed_offset, part FROM sessionize.offsets "
		"WHERE stream_id OPERATOR(pg_catalog.=) $1 "
		"AND source OPERATOR(pg_catalog.=) $2",
		"SELECT committed_offset, 0 FROM sessionize.offsets "
		"WHERE stream_id OPERATOR(pg_catalog.=) $1 "
		"AND source OPERATOR(pg_catalog.=) $2",
		2, {INT8OID, TEXTOID}, SPI_OK_SELECT
	},
	[CAT_SOURCES_READ] = {
		/*
		 * (id, source, part, active since): one row, the source's offset,
		 * partition and clock (NULL when it has none), then the oldest clock
		 * of the partition's other sources that are active, and whether one
		 * of those has sent no event yet.
		 */
		"SELECT o.committed_offset, o.part, o.newest_ts, c.newest, c.hold "
		"FROM (SELECT pg_catalog.min(x.newest_ts) AS newest, "
		"pg_catalog.bool_or(x.newest_ts IS NULL) AS hold FROM sessionize.offsets x "
		"WHERE x.stream_id OPERATOR(pg_catalog.=) $1 AND x.part OPERATOR(pg_catalog.=) $3 "
		"AND ($2 IS NULL OR x.source OPERATOR(pg_catalog.<>) $2) "
		"AND ($4 IS NULL OR x.committed_at OPERATOR(pg_catalog.>=) $4)) c "
		"LEFT JOIN sessionize.offsets o ON o.stream_id OPERATOR(pg_catalog.=) $1 "
		"AND o.source OPERATOR(pg_catalog.=) $2",
		"", 4, {INT8OID, TEXTOID, INT4OID, TIMESTAMPTZOID}, SPI_OK_SELECT, ""
	},
	[CAT_OFFSET_WRITE] = {
		/* no row when the source belongs to another partition */
		"INSERT INTO sessionize.offsets AS o "
		"(stream_id, source, committed_offset, part, newest_ts) "
		"VALUES ($1, $2, $3, $4, $5) ON CONFLICT (stream_id, source) DO UPDATE "
		"SET committed_offset = EXCLUDED.committed_offset, "
		"committed_at = pg_catalog.now(), newest_ts = EXCLUDED.newest_ts "
		"WHERE o.part OPERATOR(pg_catalog.=) EXCLUDED.part",
		/* $4 and $5 unused */
		"INSERT INTO sessionize.offsets AS o (stream_id, source, committed_offset) "
		"VALUES ($1, $2, $3) ON CONFLICT (stream_id, source) DO UPDATE "
		"SET committed_offset = EXCLUDED.committed_offset, "
		"committed_at = pg_catalog.now()",
		5, {INT8OID, TEXTOID, INT8OID, INT4OID, TIMESTAMPTZOID}, SPI_OK_INSERT,
		/* $5 unused */
		"INSERT INTO sessionize.offsets AS o (stream_id, source, committed_offset, part) "
		"VALUES ($1, $2, $3, $4) ON CONFLICT (stream_id, source) DO UPDATE "
		"SET committed_offset = EXCLUDED.committed_offset, "
		"committed_at = pg_catalog.now() "
		"WHERE o.part OPERATOR(pg_catalog.=) EXCLUDED.part"
	},
	[CAT_OFFSET_SET] = {
		/* the source's partition has a named source from here on */
		"WITH p AS (UPDATE sessionize.partitions SET has_sources = true "
		"WHERE stream_id OPERATOR(pg_catalog.=) $1 AND part OPERATOR(pg_catalog.=) $4) "
		OFFSET_SET,
		"", 4, {INT8OID, TEXTOID, INT8OID, INT4OID}, SPI_OK_INSERT, OFFSET_SET
	},
	[CAT_OFFSET_FORGET] = {
		"DELETE FROM sessionize.offsets WHERE stream_id OPERATOR(pg_catalog.=) $1 "
		"AND source OPERATOR(pg_catalog.=) $2",
		"", 2, {INT8OID, TEXTOID}, SPI_OK_DELETE
	},
	[CAT_STREAM_CREATE] = {
		"SELECT sessionize._create_stream($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, "
		"$13, $14, $15, $16, $17, $18)",
		"SELECT sessionize._create_stream($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
		18, {REGROLEOID, TEXTOID, REGTYPEOID, INTERVALOID, INTERVALOID, INT4OID,
			INTERVALOID, TEXTOID, TEXTOID, TEXTOID, REGCLASSOID, TEXTOID, INT4OID,
		INTERVALOID, TEXTOID, REGCLASSOID, TEXTOID, TEXTOID}, SPI_OK_SELECT
	},
	[CAT_STREAM_DROP] = {"SELECT sessionize._drop_stream($1)", NULL, 1, {INT8OID}, SPI_OK_SELECT},
	[CAT_SET_GAP] = {SET_SETTING("gap"), NULL, 2, {INT8OID, INTERVALOID}, SPI_OK_UPDATE},
	[CAT_SET_MAX_DURATION] = {SET_SETTING("max_duration"), NULL, 2, {INT8OID, INTERVALOID}, SPI_OK_UPDATE},
	[CAT_SET_MAX_EVENTS] = {SET_SETTING("max_events"), NULL, 2, {INT8OID, INT4OID}, SPI_OK_UPDATE},
	[CAT_SET_LATENESS] = {SET_SETTING("lateness"), NULL, 2, {INT8OID, INTERVALOID}, SPI_OK_UPDATE},
	[CAT_SET_KEY_FIELD] = {SET_SETTING("key_field"), NULL, 2, {INT8OID, TEXTOID}, SPI_OK_UPDATE},
	[CAT_SET_TS_FIELD] = {SET_SETTING("ts_field"), NULL, 2, {INT8OID, TEXTOID}, SPI_OK_UPDATE},
	[CAT_SET_LAST_FIELD] = {SET_SETTING("last_field"), NULL, 2, {INT8OID, TEXTOID}, SPI_OK_UPDATE},
	[CAT_SET_SINK] = {SET_SETTING("sink"), NULL, 2, {INT8OID, REGCLASSOID}, SPI_OK_UPDATE},
	[CAT_SET_MAX_FUTURE] = {SET_SETTING("max_future"), "", 2, {INT8OID, INTERVALOID}, SPI_OK_UPDATE},
	[CAT_SET_TS_UNIT] = {SET_SETTING("ts_unit"), "", 2, {INT8OID, TEXTOID}, SPI_OK_UPDATE},
	[CAT_SET_DEAD_LETTER] = {SET_SETTING("dead_letter"), "", 2, {INT8OID, REGCLASSOID}, SPI_OK_UPDATE},
	[CAT_SET_TIME_ZONE] = {SET_SETTING("time_zone"), "", 2, {INT8OID, TEXTOID}, SPI_OK_UPDATE},
	[CAT_SET_WATERMARK] = {
		"UPDATE sessionize.partitions SET watermark = $2, unsourced_newest = NULL "
		"WHERE stream_id OPERATOR(pg_catalog.=) $1",
		SET_SETTING("watermark"), 2, {INT8OID, TIMESTAMPTZOID}, SPI_OK_UPDATE,
		"UPDATE sessionize.partitions SET watermark = $2 "
		"WHERE stream_id OPERATOR(pg_catalog.=) $1"
	},
	[CAT_CLOCKS_FORGET] = {
		/* (id): what each source sent is forgotten (the clock was set) */
		"UPDATE sessionize.offsets SET newest_ts = NULL "
		"WHERE stream_id OPERATOR(pg_catalog.=) $1",
		"", 1, {INT8OID}, SPI_OK_UPDATE, ""
	},
	[CAT_SET_SOURCE_IDLE] = {SET_SETTING("source_idle"), "", 2, {INT8OID, INTERVALOID}, SPI_OK_UPDATE, ""},
	[CAT_SET_KEY_INDEX] = {
		"SELECT sessionize._key_index(state_table, key_type, $2) FROM sessionize.streams "
		"WHERE stream_id OPERATOR(pg_catalog.=) $1",
		"", 2, {INT8OID, TEXTOID}, SPI_OK_SELECT
	},	[CAT_PART_EXPORT] = {
		PART_EXPORT, "", 2, {INT8OID, INT4OID}, SPI_OK_SELECT, "", ""
	},
	[CAT_PART_IMPORT] = {
		PART_IMPORT, "", 3, {INT8OID, INT4OID, JSONBOID}, SPI_OK_UPDATE, "", ""
	},
	[CAT_PART_FORGET] = {
		PART_FORGET, "", 2, {INT8OID, INT4OID}, SPI_OK_UPDATE, "", ""
	},

};

/*
 * Each statement's plan, for each catalog (see catalog_version), prepared
 * on first use and kept for the backend.
 */
static SPIPlanPtr plans[CATALOG_VERSION_CURRENT + 1][CAT_NSTATEMENTS];

/*
 * catalog_version: the catalog the database has: 2 for that of 0.1 and 0.2
 * (no sessionize.partitions), 3 for that of 0.3 (no clock per source), 4
 * for that of 0.4 and 0.5 (no partition moves), 5 (CATALOG_VERSION_CURRENT)
 * for that of 0.6.
 */
int
catalog_version(void)
{
	Oid			nsp = get_namespace_oid(SESSIONIZE_SCHEMA, false);

	if (!OidIsValid(get_relname_relid("partitions", nsp)))
		return 2;
	if (get_attnum(get_relname_relid("streams", nsp), "source_idle") == InvalidAttrNumber)
		return 3;
	if (get_attnum(get_relname_relid("partitions", nsp), "moved_at") == InvalidAttrNumber)
		return 4;
	return CATALOG_VERSION_CURRENT;
}

/*
 * catalog_partitioned: whether the catalog is that of 0.3 on, with
 * sessionize.partitions.
 */
bool
catalog_partitioned(void)
{
	return catalog_version() >= 3;
}

/*
 * sessionize_extension_owner: the role that owns the catalog tables (the
 * role that ran CREATE EXTENSION, or for a trusted install the bootstrap
 * superuser that ran its script).
 */
Oid
sessionize_extension_owner(void)
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

/* What owner_begin saved, for owner_end. */
typedef struct OwnerSwitch
{
	Oid			saved_user;
	int			saved_context;
	int			guc_nest_level;
} OwnerSwitch;

/*
 * owner_begin: run as the extension owner, in a security-restricted
 * operation, with search_path pinned (and, for a statement that
 * makes_tables, default_tablespace and default_table_access_method),
 * until owner_end.  An error in
 * between needs no cleanup: (sub)transaction abort restores the user and
 * the settings.
 */
static void
owner_begin(OwnerSwitch *sw, bool makes_tables)
{
	Oid			owner = sessionize_extension_owner();

	GetUserIdAndSecContext(&sw->saved_user, &sw->saved_context);
	SetUserIdAndSecContext(owner, sw->saved_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	sw->guc_nest_level = NewGUCNestLevel();
	(void) set_config_option("search_path", OWNER_SEARCH_PATH, PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	if (makes_tables)
	{
		/* the tables and indexes it makes go where the database's go, as heap */
		(void) set_config_option("default_tablespace", "", PGC_USERSET,
								 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
		(void) set_config_option("default_table_access_method", DEFAULT_TABLE_ACCESS_METHOD,
								 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	}
}

/*
 * owner_end: back to the user and settings owner_begin saved.
 */
static void
owner_end(OwnerSwitch *sw)
{
	AtEOXact_GUC(false, sw->guc_nest_level);
	SetUserIdAndSecContext(sw->saved_user, sw->saved_context);
}

/*
 * catalog_exec: run catalog statement stmt as the extension owner with
 * these parameters (nulls as SPI takes them, NULL for none).  Returns the
 * number of rows it returned or changed; when row is given and there was
 * one, *row and *desc are a copy of the first, in CurrentMemoryContext.
 * Connects to SPI for the statement alone.
 */
uint64
catalog_exec(CatalogStmt stmt, Datum *values, const char *nulls,
			 HeapTuple *row, TupleDesc *desc)
{
	const CatalogStatement *s = &statements[stmt];
	int			version = catalog_version();
	const char *sql = s->sql;
	SPIPlanPtr *plan = &plans[version][stmt];
	MemoryContext cxt = CurrentMemoryContext;
	OwnerSwitch sw;
	uint64		processed;
	int			rc;

	Assert(stmt >= 0 && stmt < CAT_NSTATEMENTS && s->sql != NULL);
	if (version <= 4 && s->sql_0_4 != NULL)
		sql = s->sql_0_4;
	if (version <= 3 && s->sql_0_3 != NULL)
		sql = s->sql_0_3;
	if (version <= 2 && s->sql_0_2 != NULL)
		sql = s->sql_0_2;
	if (sql[0] == '\0')
		elog(ERROR, "catalog statement %d does not exist in the catalog of version 0.%d",
			 stmt, version);
	SPI_connect();
	owner_begin(&sw, stmt == CAT_STREAM_CREATE || stmt == CAT_SET_KEY_INDEX);
	if (*plan == NULL)
	{
		SPIPlanPtr	prepared = SPI_prepare(sql, s->nargs, (Oid *) s->argtypes);

		if (prepared == NULL || SPI_keepplan(prepared) != 0)
			elog(ERROR, "could not prepare \"%s\": %s", sql,
				 SPI_result_code_string(SPI_result));
		*plan = prepared;
	}
	rc = SPI_execute_plan(*plan, values, nulls, false, 0);
	if (rc != s->expected)
		elog(ERROR, "\"%s\" failed: %s", sql, SPI_result_code_string(rc));
	owner_end(&sw);

	processed = SPI_processed;
	if (row != NULL && processed > 0)
	{
		MemoryContextSwitchTo(cxt);
		*row = heap_copytuple(SPI_tuptable->vals[0]);
		*desc = CreateTupleDescCopy(SPI_tuptable->tupdesc);
	}
	SPI_finish();
	MemoryContextSwitchTo(cxt);
	return processed;
}
