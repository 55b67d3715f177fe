/*-------------------------------------------------------------------------
 *
 * eventtime.c
 *	  The session rules of an event-time stream (SPEC section 8), over one
 *	  key's open events.
 *
 * A key's state is all its open events in one Session, in (ts, arrival)
 * order, each with its isLast flag.  Its sessions are not stored: they are
 * where that order is cut, between consecutive events gap or more apart
 * and after each isLast event.  So an event that falls between two
 * sessions merges them, with nothing to move, and a new gap (alter_stream)
 * re-cuts every key the next time it is looked at.
 *
 * A session is final once the watermark says nothing can join it: at its
 * last ts when it ends with an isLast event, at last ts + gap otherwise.
 * A later session ends later, so the final sessions of a key are always
 * its first ones, and the key's timer (the deadline column, see state.c)
 * is the deadline of its first session.
 *
 * Long sessions: the events of a key's first session that the watermark
 * has passed (ts <= watermark) can never again be preceded by a new event
 * (a new one is late if it is older than the watermark, and after them if
 * it ties), so they may move to chunks, as in arrival order, and no cut
 * ever falls among them: a cut there would have made the session before it
 * final.  A state keeps them as nstored events in nchunks chunks, older
 * than its events in memory, and the newest ts among them, stored_last_ts
 * (see state_store).  A new gap reads them back first
 * (state_reset_deadlines), as it may cut among them.
 *
 * Nothing here reads or writes a table.
 *
 *-------------------------------------------------------------------------
 */
#include "sessionize.h"

/*
 * et_state_new: an empty state of a key.
 */
Session *
et_state_new(void)
{
	Session    *s = session_new();

	s->is_last = palloc(sizeof(bool) * s->capacity);
	return s;
}

/*
 * et_insert: put event e into state s, after every event whose ts is not
 * later than its (they arrived before it).
 */
void
et_insert(Session *s, const SessEvent *e)
{
	session_add(s, e->ts, e->payload, e->payload_len, e->is_last);
}

/*
 * first_end: the events in memory that belong to the first session of s
 * (after its events in chunks, if any); *last_ts is its newest ts and
 * *ends_last whether it ends with an isLast event.  Returns -1 when s has
 * no event at all.
 */
static int
first_end(const SessRules *rules, const Session *s, TimestampTz *last_ts, bool *ends_last)
{
	bool		have = s->nstored > 0;
	TimestampTz prev = s->stored_last_ts;
	bool		prev_last = false;	/* no event in chunks is last */
	int			n = 0;

	while (n < s->nevents)
	{
		if (have && (prev_last || s->ts[n] >= ts_add_usecs(prev, rules->gap)))
			break;
		prev = s->ts[n];
		prev_last = s->is_last[n];
		have = true;
		n++;
	}
	*last_ts = prev;
	*ends_last = prev_last;
	return have ? n : -1;
}

/*
 * deadline: when the watermark makes final a session that ends at last_ts.
 */
static TimestampTz
deadline(const SessRules *rules, TimestampTz last_ts, bool ends_last)
{
	return ends_last ? last_ts : ts_add_usecs(last_ts, rules->gap);
}

/*
 * et_deadline: the deadline of the first session of s (which has one).
 */
TimestampTz
et_deadline(const SessRules *rules, const Session *s)
{
	TimestampTz last_ts;
	bool		ends_last;

	(void) first_end(rules, s, &last_ts, &ends_last);
	return deadline(rules, last_ts, ends_last);
}

/*
 * et_count: the number of sessions of s (NULL: none).
 */
int
et_count(const SessRules *rules, const Session *s)
{
	int			count;
	int			i;

	if (s == NULL || SESSION_COUNT(s) == 0)
		return 0;
	count = 1;
	for (i = 1; i < s->nevents; i++)
		if (s->is_last[i - 1] || s->ts[i] >= ts_add_usecs(s->ts[i - 1], rules->gap))
			count++;
	if (s->nstored > 0 && s->nevents > 0 &&
		s->ts[0] >= ts_add_usecs(s->stored_last_ts, rules->gap))
		count++;
	return count;
}

/*
 * split_first: take the first n events in memory of *state (set to NULL
 * when none is left), with its events in chunks, off as a session that ends
 * at last_ts; *later says whether the key has a later session.
 */
static Session *
split_first(Session **state, int n, TimestampTz last_ts, bool *later)
{
	Session    *s = *state;
	Session    *first = session_alloc(Max(n, 1));
	int			rest = s->nevents - n;

	Assert(n >= 0);
	first->is_last = palloc(sizeof(bool) * first->capacity);
	memcpy(first->ts, s->ts, sizeof(TimestampTz) * n);
	memcpy(first->payload, s->payload, sizeof(JsonbContainer *) * n);
	memcpy(first->payload_len, s->payload_len, sizeof(int32) * n);
	memcpy(first->is_last, s->is_last, sizeof(bool) * n);
	first->nevents = n;
	first->nstored = s->nstored;
	first->nchunks = s->nchunks;
	first->stored_last_ts = s->stored_last_ts;
	first->first_ts = s->first_ts;
	first->last_ts = last_ts;

	*later = rest > 0;
	if (rest == 0)
	{
		*state = NULL;
		return first;
	}
	memmove(s->ts, &s->ts[n], sizeof(TimestampTz) * rest);
	memmove(s->payload, &s->payload[n], sizeof(JsonbContainer *) * rest);
	memmove(s->payload_len, &s->payload_len[n], sizeof(int32) * rest);
	memmove(s->is_last, &s->is_last[n], sizeof(bool) * rest);
	s->nevents = rest;
	s->nstored = 0;
	s->nchunks = 0;
	s->stored_last_ts = 0;
	s->first_ts = s->ts[0];
	return first;
}

/*
 * et_split_first: take the first session off *state (set to NULL when it
 * was the last) and return it, its events in chunks with it: the caller
 * reads them back (state_take_chunks).  *ends_last and *later say whether
 * it ends with an isLast event and whether the key has a later session.
 */
Session *
et_split_first(const SessRules *rules, Session **state, bool *ends_last, bool *later)
{
	TimestampTz last_ts;
	int			n = first_end(rules, *state, &last_ts, ends_last);

	return split_first(state, n, last_ts, later);
}

/*
 * et_take_final: finish the sessions of key's state *state that the
 * watermark makes final (reason last or gap), first to last; with flush,
 * all of them (reason last if it ends with an isLast event, gap if the key
 * has a later session, else flush).  *state is NULL when none is left.
 * Returns how many finished.
 */
int
et_take_final(const SessRules *rules, Datum key, Session **state, bool has_watermark,
			  TimestampTz watermark, bool flush, FinishedList *finished,
			  StreamDelta *delta)
{
	int			count = 0;

	while (*state != NULL)
	{
		TimestampTz last_ts;
		bool		ends_last;
		bool		later;
		int			n = first_end(rules, *state, &last_ts, &ends_last);
		Session    *s;

		if (n < 0)
		{
			*state = NULL;
			break;
		}
		if (!flush && (!has_watermark || watermark < deadline(rules, last_ts, ends_last)))
			break;
		s = split_first(state, n, last_ts, &later);
		finished_add(finished, key, s,
					 ends_last ? END_LAST : (later || !flush) ? END_GAP : END_FLUSH, delta);
		count++;
	}
	return count;
}

/*
 * et_chunkable: how many of the first events in memory of s may move to a
 * chunk: those of its first session that the watermark has passed (see
 * the top of this file).
 */
int
et_chunkable(const SessRules *rules, const Session *s, bool has_watermark,
			 TimestampTz watermark)
{
	TimestampTz last_ts;
	bool		ends_last;
	int			n = first_end(rules, s, &last_ts, &ends_last);
	int			k = 0;

	if (!has_watermark)
		return 0;
	while (k < n && s->ts[k] <= watermark && !s->is_last[k])
		k++;
	return k;
}
