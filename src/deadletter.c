/*-------------------------------------------------------------------------
 *
 * deadletter.c
 *	  Dead letters: the elements of a batch that cannot be events.
 *
 * A stream with a dead_letter table applies the rest of a batch when some
 * of its elements are bad (malformed, uncastable, too long, not finite):
 * each bad element goes to that table, with the error it raised, in the
 * batch's transaction.  Without one, the first bad element is the batch's
 * error, as it always was.
 *
 * A decoder raises a bad element's error as any error.  To go on after
 * it, decode_guarded runs the decoder in a subtransaction, which the error
 * rolls back (whatever the type input functions had taken), and starts
 * the decoder again, in a new one, at the next element.  A batch without
 * bad elements costs one subtransaction; one with k costs k + 1.  Only
 * the errors of the data are dead letters (classes 22, 23 and 54: data
 * exceptions, a domain's constraint, a key too long; and P0, what a
 * PL/pgSQL function of a domain's CHECK raises about a value); any other
 * error (a cancel, out of memory) is the batch's error still.
 *
 *-------------------------------------------------------------------------
 */
#include "sessionize.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/resowner.h"

/* The columns of a dead letter table; element it must have. */
const char *const dead_letter_columns[DEAD_LETTER_NCOLUMNS] = {
	"element", "element_index", "sqlstate", "message", "source", "batch_offset"
};

const Oid	dead_letter_types[DEAD_LETTER_NCOLUMNS] = {
	JSONBOID, INT4OID, TEXTOID, TEXTOID, TEXTOID, INT8OID
};

/*
 * is_data_error: whether an error is one of a batch's data, which a
 * stream with a dead_letter table sets aside.
 */
static bool
is_data_error(const ErrorData *edata)
{
	int			class = ERRCODE_TO_CATEGORY(edata->sqlerrcode);

	return edata->elevel == ERROR &&
		(class == ERRCODE_DATA_EXCEPTION ||
		 class == ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION ||
		 class == ERRCODE_PROGRAM_LIMIT_EXCEEDED ||
		 class == ERRCODE_PLPGSQL_ERROR);
}

/*
 * dead_letter_add: element index (as reported) is a dead letter with the
 * error edata.
 */
static void
dead_letter_add(DeadLetterList *dead, int32 index, Jsonb *element, ErrorData *edata)
{
	DeadLetter *l;

	if (dead->count == dead->capacity)
	{
		dead->capacity = Max(16, dead->capacity * 2);
		dead->items = dead->items == NULL ?
			palloc(sizeof(DeadLetter) * dead->capacity) :
			repalloc(dead->items, sizeof(DeadLetter) * dead->capacity);
	}
	l = &dead->items[dead->count++];
	l->index = index;
	l->element = element;
	l->sqlstate = pstrdup(unpack_sql_state(edata->sqlerrcode));
	l->message = pstrdup(edata->message);
}

/*
 * hint_dead_letter: the hint of a bad element's error, edata, when the
 * stream has no dead_letter table: one would set the element aside, after
 * the hint the error has.
 */
static void
hint_dead_letter(Stream *stream, ErrorData *edata)
{
	char	   *hint = psprintf("Stream \"%s\" has no dead_letter table; with one, a bad row is set aside there and the others are applied: SELECT sessionize.alter_stream(%s, 'dead_letter', 'a_table').",
								stream->name, quote_literal_cstr(stream->name));

	edata->hint = edata->hint == NULL ? hint : psprintf("%s %s", edata->hint, hint);
}

/*
 * decode_guarded: run d over elements [0, n).  Without dead (the stream
 * has no dead_letter table) the first error stops it, told in d's terms
 * (d->enrich, and with d->hint_dead_letter a hint at a dead_letter table);
 * with dead, a bad element is added to dead and decoding goes on after
 * it.  d->ngood events are in d->events.
 */
void
decode_guarded(ElementDecoder *d, int n, DeadLetterList *dead)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;

	d->next = 0;
	d->ngood = 0;
	if (dead == NULL)
	{
		PG_TRY();
		{
			d->decode(d, n);
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			if (d->enrich == NULL && !d->hint_dead_letter)
				PG_RE_THROW();
			MemoryContextSwitchTo(cxt);
			edata = CopyErrorData();
			FlushErrorState();
			if (d->enrich != NULL)
				d->enrich(d, edata);
			if (d->hint_dead_letter && is_data_error(edata))
				hint_dead_letter(d->stream, edata);
			ReThrowError(edata);
		}
		PG_END_TRY();
		return;
	}

	while (d->next < n)
	{
		BeginInternalSubTransaction(NULL);
		MemoryContextSwitchTo(cxt);
		PG_TRY();
		{
			d->decode(d, n);
			ReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(cxt);
			CurrentResourceOwner = owner;
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			MemoryContextSwitchTo(cxt);
			edata = CopyErrorData();
			FlushErrorState();
			RollbackAndReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(cxt);
			CurrentResourceOwner = owner;
			if (d->enrich != NULL)
				d->enrich(d, edata);
			if (!is_data_error(edata))
				ReThrowError(edata);
			dead_letter_add(dead, d->index_base + d->next,
							d->element(d, d->next), edata);
			d->next++;
		}
		PG_END_TRY();
	}
}

/*
 * dead_letters_write: append a batch's dead letters to the stream's
 * dead_letter table, as the caller, by column name (the columns it has).
 * source is NULL for a batch without one: the dead letters then have the
 * source and batch_offset of dead's labels (an attached table's, see
 * sessionize_rows), or none (NULL).
 */
void
dead_letters_write(Stream *stream, DeadLetterList *dead, const char *source,
				   int64 batch_offset)
{
	int			n = dead->count;
	Datum	   *columns[DEAD_LETTER_NCOLUMNS];
	bool	   *nulls = palloc0(sizeof(bool) * Max(n, 1));
	Datum		arrays[DEAD_LETTER_NCOLUMNS];
	Oid			types[DEAD_LETTER_NCOLUMNS];
	int			dims[1];
	int			lbs[1] = {1};
	int			c;
	int			i;

	if (n == 0)
		return;
	if (source == NULL)
	{
		source = dead->source;
		batch_offset = dead->batch_offset;
	}
	if (get_rel_name(stream->dead_letter) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("the dead_letter table of stream \"%s\" no longer exists", stream->name),
				 errhint("Give the stream one again: SELECT sessionize.alter_stream(%s, 'dead_letter', 'the_table'), or none: NULL.",
						 quote_literal_cstr(stream->name))));

	for (c = 0; c < DEAD_LETTER_NCOLUMNS; c++)
		columns[c] = palloc(sizeof(Datum) * n);
	for (i = 0; i < n; i++)
	{
		DeadLetter *l = &dead->items[i];

		columns[0][i] = JsonbPGetDatum(l->element);
		columns[1][i] = Int32GetDatum(l->index);
		columns[2][i] = CStringGetTextDatum(l->sqlstate);
		columns[3][i] = CStringGetTextDatum(l->message);
		columns[4][i] = source != NULL ? CStringGetTextDatum(source) : (Datum) 0;
		columns[5][i] = Int64GetDatum(batch_offset);
		nulls[i] = source == NULL;
	}

	dims[0] = n;
	for (c = 0; c < DEAD_LETTER_NCOLUMNS; c++)
	{
		int16		typlen;
		bool		typbyval;
		char		typalign;
		bool	   *cnulls = c >= 4 ? nulls : NULL;

		get_typlenbyvalalign(dead_letter_types[c], &typlen, &typbyval, &typalign);
		arrays[c] = PointerGetDatum(construct_md_array(columns[c], cnulls, 1, dims, lbs,
													   dead_letter_types[c], typlen,
													   typbyval, typalign));
		types[c] = get_array_type(dead_letter_types[c]);
	}
	table_append(stream->dead_letter,
				 psprintf("the dead_letter table of stream \"%s\"", stream->name), n,
				 DEAD_LETTER_NCOLUMNS, dead_letter_columns, types, arrays);
}
