/*-------------------------------------------------------------------------
 *
 * compat.h
 *	  The server APIs that differ between the PostgreSQL majors sessionize
 *	  builds against (15 to 18), each behind one name of ours.  Every
 *	  #if PG_VERSION_NUM of the code is here.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SESSIONIZE_COMPAT_H
#define SESSIONIZE_COMPAT_H

#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "catalog/pg_proc.h"
#include "utils/acl.h"
#include "utils/float.h"

#if PG_VERSION_NUM < 150000 || PG_VERSION_NUM >= 190000
#error "sessionize builds against PostgreSQL 15 to 18"
#endif

/*
 * compat_heap_update: simple_heap_update.  PostgreSQL 16 added an argument
 * that tells which indexes need new entries; the callers here tell it by
 * HeapTupleIsHeapOnly, which every version sets on the caller's tuple.
 */
static inline void
compat_heap_update(Relation rel, ItemPointer otid, HeapTuple tup)
{
#if PG_VERSION_NUM >= 160000
	TU_UpdateIndexes update_indexes;

	simple_heap_update(rel, otid, tup, &update_indexes);
#else
	simple_heap_update(rel, otid, tup);
#endif
}

/*
 * compat_index_beginscan: index_beginscan, to which PostgreSQL 18 added an
 * argument for EXPLAIN ANALYZE's instrumentation (none here).
 */
static inline IndexScanDesc
compat_index_beginscan(Relation heap, Relation index, Snapshot snapshot,
					   int nkeys, int norderbys)
{
#if PG_VERSION_NUM >= 180000
	return index_beginscan(heap, index, snapshot, NULL, nkeys, norderbys);
#else
	return index_beginscan(heap, index, snapshot, nkeys, norderbys);
#endif
}

/*
 * compat_proc_aclcheck: whether roleid may do mode on function fn
 * (PostgreSQL 16 replaced pg_proc_aclcheck with object_aclcheck).
 */
static inline AclResult
compat_proc_aclcheck(Oid fn, Oid roleid, AclMode mode)
{
#if PG_VERSION_NUM >= 160000
	return object_aclcheck(ProcedureRelationId, fn, roleid, mode);
#else
	return pg_proc_aclcheck(fn, roleid, mode);
#endif
}

/*
 * compat_float8in: float8in_internal, raising its errors (PostgreSQL 16
 * added an argument for soft errors).
 */
static inline float8
compat_float8in(char *num, const char *type_name, const char *orig_string)
{
#if PG_VERSION_NUM >= 160000
	return float8in_internal(num, NULL, type_name, orig_string, NULL);
#else
	return float8in_internal(num, NULL, type_name, orig_string);
#endif
}

#endif							/* SESSIONIZE_COMPAT_H */
