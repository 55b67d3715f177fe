/*-------------------------------------------------------------------------
 *
 * cast.c
 *	  Casts of single values, run in C value by value: the query form's
 *	  columns and the typed form's keys.  A value that does not cast raises
 *	  its error where it is read, so that the error names its row or
 *	  element (and a stream with a dead_letter table sets it aside).
 *
 *-------------------------------------------------------------------------
 */
#include "sessionize.h"

#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_coerce.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"

/* An expression of $1, compiled once, run on one value at a time. */
struct ValueCast
{
	ParamListInfo params;		/* $1: the value */
	ExprContext *econtext;
	ExprState  *expr;
};

/*
 * value_param: $1, of type type (and typmod).
 */
static Param *
value_param(Oid type, int32 typmod)
{
	Param	   *param = makeNode(Param);

	param->paramkind = PARAM_EXTERN;
	param->paramid = 1;
	param->paramtype = type;
	param->paramtypmod = typmod;
	param->paramcollid = get_typcollation(type);
	param->location = -1;
	return param;
}

/*
 * expr_compile: expr, an expression of $1 of type type, ready to run on
 * values by value_cast.
 */
static ValueCast *
expr_compile(Expr *expr, Oid type)
{
	ValueCast  *c = palloc0(sizeof(ValueCast));

	c->params = makeParamList(1);
	c->params->numParams = 1;
	c->params->params[0].ptype = type;
	c->params->params[0].pflags = PARAM_FLAG_CONST;
	c->econtext = CreateStandaloneExprContext();
	c->econtext->ecxt_param_list_info = c->params;
	c->expr = ExecInitExprWithParams(expression_planner(expr), c->params);
	return c;
}

/*
 * value_cast_init: the cast of values of type source to type target that
 * SQL would apply in context ccontext (COERCION_EXPLICIT: as CAST does;
 * COERCION_ASSIGNMENT: as an INSERT does), or NULL when there is none.
 */
ValueCast *
value_cast_init(Oid source, Oid target, CoercionContext ccontext)
{
	Node	   *expr = coerce_to_target_type(NULL, (Node *) value_param(source, -1), source,
											 target, -1, ccontext,
											 ccontext == COERCION_EXPLICIT ?
											 COERCE_EXPLICIT_CAST : COERCE_IMPLICIT_CAST,
											 -1);

	return expr == NULL ? NULL : expr_compile((Expr *) expr, source);
}

/*
 * value_row_to_jsonb_init: an expression that makes a row of desc
 * (blessed) a jsonb object, as to_jsonb(q) does in SQL.
 */
ValueCast *
value_row_to_jsonb_init(TupleDesc desc)
{
	FuncExpr   *expr = makeFuncExpr(F_TO_JSONB, JSONBOID,
									list_make1(value_param(RECORDOID, desc->tdtypmod)),
									InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);

	return expr_compile((Expr *) expr, RECORDOID);
}

/*
 * value_cast: value cast (or the expression run on it), in
 * CurrentMemoryContext (a result by reference lives until the next call).
 */
Datum
value_cast(ValueCast *c, Datum value)
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
