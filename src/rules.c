/*-------------------------------------------------------------------------
 *
 * rules.c
 *	  The session rules of SPEC section 4, over one key's events.
 *
 * Nothing here reads or writes a table: the callers hand in a key's open
 * session (or none) and its new events in (ts, arrival) order, and get
 * back the sessions that finished and the session left open.  Every entry
 * point (batches of any form, the clock, flush) goes through here.
 *
 *-------------------------------------------------------------------------
 */
#include "sessionize.h"

#include "access/xact.h"
#include "common/int.h"
#include "utils/timestamp.h"

const char *const end_reason_names[END_NNAMES] = {
	"gap", "max_duration", "max_events", "last", "flush", "output", "late"
};

#define SESSION_INITIAL_CAPACITY 8

/*
 * session_alloc: an empty session with room for capacity events, in
 * CurrentMemoryContext.
 */
Session *
session_alloc(int capacity)
{
	Session    *s = palloc(sizeof(Session));

	s->nevents = 0;
	s->nstored = 0;
	s->nchunks = 0;
	s->first_ts = s->last_ts = 0;
	s->is_last = NULL;
	s->stored_last_ts = 0;
	s->capacity = Max(capacity, 1);
	s->ts = palloc(sizeof(TimestampTz) * s->capacity);
	s->payload = palloc(sizeof(JsonbContainer *) * s->capacity);
	s->payload_len = palloc(sizeof(int32) * s->capacity);
	return s;
}

/*
 * session_new: an empty session for the rules to fill.
 */
Session *
session_new(void)
{
	return session_alloc(SESSION_INITIAL_CAPACITY);
}

/*
 * session_add: put an event into a session in ts order.  An event goes
 * after every event whose ts is not later than its own, so equal ts keep
 * arrival order.  Events mostly arrive in order, so the search starts at
 * the end.  is_last is kept when the session keeps each event's (event
 * time, see eventtime.c).
 */
void
session_add(Session *s, TimestampTz ts, JsonbContainer *payload,
			int32 payload_len, bool is_last)
{
	int			pos;

	if (s->nevents == s->capacity)
	{
		s->capacity *= 2;
		s->ts = repalloc(s->ts, sizeof(TimestampTz) * s->capacity);
		s->payload = repalloc(s->payload, sizeof(JsonbContainer *) * s->capacity);
		s->payload_len = repalloc(s->payload_len, sizeof(int32) * s->capacity);
		if (s->is_last != NULL)
			s->is_last = repalloc(s->is_last, sizeof(bool) * s->capacity);
	}

	pos = s->nevents;
	while (pos > 0 && s->ts[pos - 1] > ts)
		pos--;

	if (pos < s->nevents)
	{
		int			tail = s->nevents - pos;

		memmove(&s->ts[pos + 1], &s->ts[pos], sizeof(TimestampTz) * tail);
		memmove(&s->payload[pos + 1], &s->payload[pos],
				sizeof(JsonbContainer *) * tail);
		memmove(&s->payload_len[pos + 1], &s->payload_len[pos],
				sizeof(int32) * tail);
		if (s->is_last != NULL)
			memmove(&s->is_last[pos + 1], &s->is_last[pos], sizeof(bool) * tail);
	}
	s->ts[pos] = ts;
	s->payload[pos] = payload;
	s->payload_len[pos] = payload_len;
	if (s->is_last != NULL)
		s->is_last[pos] = is_last;
	if (SESSION_COUNT(s) == 0)
		s->first_ts = s->last_ts = ts;
	s->first_ts = Min(s->first_ts, ts);
	s->last_ts = Max(s->last_ts, ts);
	s->nevents++;
}

/*
 * session_restore: put a session's stored events back in memory: the n
 * events of its chunks, in the order the chunks were written (each chunk
 * in ts order).  They arrived before the events in memory, so taking all
 * of them in that order and sorting by ts, ties in that order, gives the
 * order session_add would have kept.
 */
void
session_restore(Session *s, int n, const TimestampTz *ts,
				JsonbContainer *const *payload, const int32 *payload_len)
{
	int			total = n + s->nevents;
	SessEvent  *all = palloc(sizeof(SessEvent) * Max(total, 1));
	bool		sorted = true;
	int			i;

	if (n != s->nstored)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("a session's chunks hold %d events, its row says %d", n, s->nstored)));
	for (i = 0; i < total; i++)
	{
		bool		stored = i < n;
		int			j = stored ? i : i - n;

		all[i].ts = stored ? ts[j] : s->ts[j];
		all[i].payload = stored ? payload[j] : s->payload[j];
		all[i].payload_len = stored ? payload_len[j] : s->payload_len[j];
		/* event time: no event in chunks is last (see eventtime.c) */
		all[i].is_last = !stored && s->is_last != NULL && s->is_last[j];
		all[i].ordinal = i;
		sorted = sorted && (i == 0 || all[i - 1].ts <= all[i].ts);
	}
	if (!sorted)
		qsort(all, total, sizeof(SessEvent), cmp_event_ts);

	s->capacity = Max(total, 1);
	s->ts = repalloc(s->ts, sizeof(TimestampTz) * s->capacity);
	s->payload = repalloc(s->payload, sizeof(JsonbContainer *) * s->capacity);
	s->payload_len = repalloc(s->payload_len, sizeof(int32) * s->capacity);
	if (s->is_last != NULL)
		s->is_last = repalloc(s->is_last, sizeof(bool) * s->capacity);
	for (i = 0; i < total; i++)
	{
		s->ts[i] = all[i].ts;
		s->payload[i] = all[i].payload;
		s->payload_len[i] = all[i].payload_len;
		if (s->is_last != NULL)
			s->is_last[i] = all[i].is_last;
	}
	s->nevents = total;
	s->nstored = 0;
	s->nchunks = 0;
	pfree(all);
}

/*
 * ts_add_usecs: ts plus a non-negative duration; a sum past the last
 * representable instant is +infinity (a deadline that never comes).  The
 * rules compare e.ts >= first_ts + d rather than e.ts - first_ts >= d:
 * the difference of two valid timestamps can overflow int64.
 */
TimestampTz
ts_add_usecs(TimestampTz ts, int64 usecs)
{
	TimestampTz result;

	Assert(usecs >= 0);
	if (TIMESTAMP_NOT_FINITE(ts) ||
		pg_add_s64_overflow(ts, usecs, &result) ||
		result >= END_TIMESTAMP)
		TIMESTAMP_NOEND(result);
	return result;
}

/*
 * cmp_event_ts: order one key's events as the rules take them: by ts,
 * ties in arrival order.
 */
int
cmp_event_ts(const void *a, const void *b)
{
	const SessEvent *ea = a;
	const SessEvent *eb = b;

	if (ea->ts != eb->ts)
		return ea->ts < eb->ts ? -1 : 1;
	return ea->ordinal < eb->ordinal ? -1 : (ea->ordinal > eb->ordinal);
}

/*
 * finished_next: a new item at the end of list.
 */
static Finished *
finished_next(FinishedList *list)
{
	if (list->count == list->capacity)
	{
		list->capacity = list->capacity ? list->capacity * 2 : 16;
		if (list->items)
			list->items = repalloc(list->items, sizeof(Finished) * list->capacity);
		else
			list->items = palloc(sizeof(Finished) * list->capacity);
	}
	return &list->items[list->count++];
}

/*
 * finished_add: record that session s of key finished for reason.
 */
void
finished_add(FinishedList *list, Datum key, Session *s, EndReason reason,
			 StreamDelta *delta)
{
	Finished   *f = finished_next(list);

	f->key = key;
	f->session = s;
	f->reason = reason;
	f->output = NULL;
	f->first_ts = SESSION_FIRST_TS(s);
	f->last_ts = SESSION_LAST_TS(s);
	f->nevents = SESSION_COUNT(s);
	if (reason < END_NREASONS)
		delta->closed[reason]++;
}

/*
 * finished_add_output: record an output of a custom state's update
 * function, for reason (END_OUTPUT while the state goes on).  Only the
 * ends of states are counted, by the caller.
 */
void
finished_add_output(FinishedList *list, Datum key, Jsonb *output,
					EndReason reason, TimestampTz first_ts,
					TimestampTz last_ts, int32 nevents)
{
	Finished   *f = finished_next(list);

	f->key = key;
	f->session = NULL;
	f->reason = reason;
	f->output = output;
	f->first_ts = first_ts;
	f->last_ts = last_ts;
	f->nevents = nevents;
}

/*
 * rules_apply: fold one key's new events into its open session.
 *
 * *open is the key's open session or NULL; on return it is the session
 * left open, or NULL.  events must be in ts order, ties in arrival order.
 * Sessions that finish are added to finished; opened sessions are counted
 * in delta.
 */
void
rules_apply(const SessRules *rules, Datum key, Session **open,
			const SessEvent *events, int nevents,
			FinishedList *finished, StreamDelta *delta)
{
	Session    *s = *open;
	int			i;

	for (i = 0; i < nevents; i++)
	{
		const SessEvent *e = &events[i];

		/* Rules 1 and 2: the new event is too late for the open session. */
		if (s != NULL)
		{
			if (rules->gap > 0 &&
				e->ts >= ts_add_usecs(SESSION_LAST_TS(s), rules->gap))
			{
				finished_add(finished, key, s, END_GAP, delta);
				s = NULL;
			}
			else if (rules->max_duration > 0 &&
					 e->ts >= ts_add_usecs(SESSION_FIRST_TS(s), rules->max_duration))
			{
				finished_add(finished, key, s, END_MAX_DURATION, delta);
				s = NULL;
			}
		}

		/* Rules 3 and 4: open a session if need be, and join it. */
		if (s == NULL)
		{
			s = session_new();
			delta->opened++;
		}
		session_add(s, e->ts, e->payload, e->payload_len, e->is_last);

		/* Rule 5: the event ends the session. */
		if (e->is_last)
		{
			finished_add(finished, key, s, END_LAST, delta);
			s = NULL;
		}
		else if (rules->max_events > 0 && SESSION_COUNT(s) >= rules->max_events)
		{
			finished_add(finished, key, s, END_MAX_EVENTS, delta);
			s = NULL;
		}
	}
	*open = s;
}

/*
 * rules_timed_out: whether the clock closes a session (or a custom state)
 * whose newest event is at last_ts, that is whether a gap is set and
 * last_ts + gap <= watermark.
 */
bool
rules_timed_out(const SessRules *rules, TimestampTz last_ts, TimestampTz watermark)
{
	return rules->gap > 0 && ts_add_usecs(last_ts, rules->gap) <= watermark;
}

/*
 * watermark_minus_lateness: ts - lateness, not before the first instant
 * timestamptz holds.
 */
TimestampTz
watermark_minus_lateness(Stream *stream, TimestampTz ts)
{
	TimestampTz result;

	if (pg_sub_s64_overflow(ts, stream->lateness, &result) || result < MIN_TIMESTAMP)
		return MIN_TIMESTAMP;
	return result;
}

/*
 * clock_limit: the newest event time a batch may move the stream's clock
 * to: now() (the transaction's start) + max_future, so that one device
 * whose clock is wrong (or a timestamp in the wrong unit) cannot put the
 * stream's clock years ahead, where every correct event would be late.
 * DT_NOEND when the stream has no limit.
 */
TimestampTz
clock_limit(Stream *stream)
{
	if (stream->max_future < 0)
		return DT_NOEND;
	return ts_add_usecs(GetCurrentTransactionStartTimestamp(), stream->max_future);
}

/*
 * advance_watermark: move the stream's clock to ts if that is later.
 */
void
advance_watermark(Stream *stream, TimestampTz ts)
{
	if (!stream->has_watermark || ts > stream->watermark)
	{
		stream->watermark = ts;
		stream->has_watermark = true;
	}
}

/*
 * session_events_jsonb: the session's payloads as one jsonb array, in
 * session order.
 *
 * The payloads are jsonb containers already, so the array is assembled in
 * jsonb's binary format directly (see utils/jsonb.h): the array header,
 * one JEntry per element (every JB_OFFSET_STRIDE'th an end offset, the
 * others lengths), then each container, 4-byte aligned, the padding
 * counted in the element before it.  No payload is parsed or re-encoded.
 */
Jsonb *
session_events_jsonb(const Session *s)
{
	Size		size = session_events_jsonb_size(s);
	char	   *buf = palloc(size);

	session_events_jsonb_write(s, buf, size);
	return (Jsonb *) buf;
}

/*
 * session_events_jsonb_size: the size of session_events_jsonb's result,
 * its varlena header included; an error if a jsonb cannot hold it.
 */
Size
session_events_jsonb_size(const Session *s)
{
	Size		data_start = VARHDRSZ + sizeof(uint32) + sizeof(JEntry) * s->nevents;
	Size		size = data_start;
	int			i;

	for (i = 0; i < s->nevents; i++)
		size = INTALIGN(size) + s->payload_len[i];
	if (size - data_start > JENTRY_OFFLENMASK)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a session's events total %zu bytes, more than a jsonb array can hold",
						size - data_start),
				 errhint("Set max_events or max_duration on the stream to bound sessions.")));
	return size;
}

/*
 * session_events_jsonb_write: write session_events_jsonb's result into
 * buf, of session_events_jsonb_size's size.  Every byte is written
 * (padding zeroed), so buf need not be zeroed first.
 */
void
session_events_jsonb_write(const Session *s, char *buf, Size size)
{
	int			n = s->nevents;
	Size		pos = VARHDRSZ + sizeof(uint32) + sizeof(JEntry) * n;
	uint32		totallen = 0;
	JEntry	   *entries;
	int			i;

	*(uint32 *) (buf + VARHDRSZ) = (uint32) n | JB_FARRAY;
	entries = (JEntry *) (buf + VARHDRSZ + sizeof(uint32));
	for (i = 0; i < n; i++)
	{
		Size		start = INTALIGN(pos);
		uint32		len = (start - pos) + s->payload_len[i];

		memset(buf + pos, 0, start - pos);
		memcpy(buf + start, s->payload[i], s->payload_len[i]);
		pos = start + s->payload_len[i];
		totallen += len;
		if (i % JB_OFFSET_STRIDE == 0)
			entries[i] = JENTRY_ISCONTAINER | JENTRY_HAS_OFF | totallen;
		else
			entries[i] = JENTRY_ISCONTAINER | len;
	}
	Assert(pos == size);
	SET_VARSIZE(buf, size);
}
