/*-------------------------------------------------------------------------
 *
 * timestamps.c
 *	  Reading an event's time from text or a number, the same way in every
 *	  form that reads one (the JSON form, the query form, attached tables).
 *
 * A string is read as ISO 8601, whatever the connection's DateStyle:
 *
 *	  YYYY-MM-DD [ (T | t | space) HH:MM [:SS [.fraction]] [zone] ]
 *	  zone: Z | z | +HH | +HHMM | +HH:MM | +HH:MM:SS (or -)
 *
 * with a year of four digits or more, and spaces around the whole ignored;
 * a date alone is its midnight, and a time without a zone is in the
 * stream's time_zone.  That covers what PostgreSQL writes for a
 * timestamptz under DateStyle ISO (a space for T, +00, +05:30, fractions).
 * Once a string has this shape, timestamptz_in reads it the same under
 * every DateStyle (a date whose first field has more than two digits is
 * always year-month-day), so a string the fast path (parse_iso8601) does
 * not take is handed to it.  Anything else ("01/02/2025 10:00", zone
 * names, words) is the element's error.
 *
 * A number, or a string that is one ("1767261600", as Kafka payloads
 * often have it), is an epoch in the stream's ts_unit.  It must fall in
 * the years 1971 to 2199 in that unit: the ranges of seconds,
 * milliseconds and microseconds do not overlap then, so a number in the
 * wrong unit is refused, with a hint naming the unit it fits, rather than
 * read as the year 57972 or as January 1970.
 *
 *-------------------------------------------------------------------------
 */
#include "sessionize.h"

#include <math.h>

#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/float.h"

/*
 * The plausible epoch numbers, in seconds: from 1971-01-01 (inclusive) to
 * 2200-01-01 (exclusive), UTC.
 */
#define PLAUSIBLE_FIRST_YEAR 1971
#define PLAUSIBLE_END_YEAR 2200
#define PLAUSIBLE_FROM_SECS 31536000.0
#define PLAUSIBLE_END_SECS 7258118400.0

/* The longest part of a bad ts that an error quotes, in bytes. */
#define TS_QUOTE_MAX 64

/* The units of epoch numbers, as ts_unit names them, with nanoseconds. */
static const struct
{
	const char *name;			/* ts_unit; NULL: not one */
	const char *words;
	float8		usecs;			/* microseconds in one */
}			epoch_units[] = {
	{"s", "seconds", USECS_PER_SEC},
	{"ms", "milliseconds", 1000},
	{"us", "microseconds", 1},
	{NULL, "nanoseconds", 0.001}
};

/*
 * digits: the value of the n decimal digits at s, or -1 if one is not.
 */
static inline int
digits(const char *s, int n)
{
	int			v = 0;

	while (n-- > 0)
	{
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s++ - '0');
	}
	return v;
}

/*
 * parse_iso8601: the common shape of an event time, read without
 * timestamptz_in's general parser: YYYY-MM-DD, 'T' or ' ', HH:MM:SS, up to
 * six fraction digits, and a zone 'Z', +HH, +HHMM or +HH:MM (or -).
 * Returns false for anything else (no zone, other forms, out-of-range
 * fields, leap seconds), which the caller hands to timestamptz_in: both
 * give the same instant for every string this accepts.
 */
static bool
parse_iso8601(const char *s, int len, TimestampTz *result)
{
	int			year, month, day, hour, minute, second;
	int64		frac = 0;
	int			zone_secs = 0;
	int			pos = 19;
	int			i;

	if (len < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ') ||
		s[13] != ':' || s[16] != ':')
		return false;
	year = digits(s, 4);
	month = digits(s + 5, 2);
	day = digits(s + 8, 2);
	hour = digits(s + 11, 2);
	minute = digits(s + 14, 2);
	second = digits(s + 17, 2);
	if (year < 1 || month < 1 || month > MONTHS_PER_YEAR || day < 1 ||
		day > day_tab[isleap(year)][month - 1] ||
		hour < 0 || hour >= HOURS_PER_DAY || minute < 0 || minute >= MINS_PER_HOUR ||
		second < 0 || second >= SECS_PER_MINUTE)
		return false;

	if (s[pos] == '.')
	{
		int			scale = 100000;

		for (i = pos + 1; i < len && s[i] >= '0' && s[i] <= '9'; i++)
		{
			if (scale == 0)
				return false;	/* more than six digits: rounding, leave it */
			frac += (s[i] - '0') * scale;
			scale /= 10;
		}
		if (i == pos + 1)
			return false;
		pos = i;
	}

	if (pos == len - 1 && (s[pos] == 'Z' || s[pos] == 'z'))
		zone_secs = 0;
	else if (pos < len && (s[pos] == '+' || s[pos] == '-'))
	{
		int			rest = len - pos - 1;
		int			zh = rest >= 2 ? digits(s + pos + 1, 2) : -1;
		int			zm = 0;

		if (rest == 4)
			zm = digits(s + pos + 3, 2);
		else if (rest == 5 && s[pos + 3] == ':')
			zm = digits(s + pos + 4, 2);
		else if (rest != 2)
			return false;
		if (zh < 0 || zh > MAX_TZDISP_HOUR || zm < 0 || zm >= MINS_PER_HOUR)
			return false;
		zone_secs = (zh * MINS_PER_HOUR + zm) * SECS_PER_MINUTE;
		if (s[pos] == '-')
			zone_secs = -zone_secs;
	}
	else
		return false;

	*result = (int64) (date2j(year, month, day) - POSTGRES_EPOCH_JDATE) * USECS_PER_DAY +
		((int64) ((hour * MINS_PER_HOUR + minute) * SECS_PER_MINUTE + second - zone_secs)) *
		USECS_PER_SEC + frac;
	return IS_VALID_TIMESTAMP(*result);
}

/*
 * ts_where: "event i of the batch: \"field\"" or "row i of ROWS:
 * \"field\"", the start of an error about the ts at place.
 */
static char *
ts_where(const TsPlace *place)
{
	return place->rows_of == NULL ?
		psprintf("event %d of the batch: \"%s\"", place->index, place->field) :
		psprintf("row %d of %s: \"%s\"", place->index, place->rows_of, place->field);
}

/*
 * check_not_time_word: refuse the words timestamptz_in reads as times but
 * that are no instant of an event: now, today, yesterday, tomorrow (the
 * time of the call, not of the event) and epoch, alone or with more
 * ("today 10:00" is today's).  A word is a run of letters.  text is the
 * ts at place.
 */
static void
check_not_time_word(const char *text, const TsPlace *place)
{
	static const char *const words[] = {"now", "today", "yesterday", "tomorrow", "epoch"};
	const char *p = text;

	while (*p != '\0')
	{
		const char *start;
		int			len;
		int			w;

		while (*p != '\0' && !((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
			p++;
		start = p;
		while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))
			p++;
		len = p - start;
		for (w = 0; w < lengthof(words); w++)
		{
			bool		alone;

			if (len != strlen(words[w]) || pg_strncasecmp(start, words[w], len) != 0)
				continue;
			alone = strspn(text, " \t\n\r") == start - text &&
				strspn(p, " \t\n\r") == strlen(p);
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_DATETIME_FORMAT),
					 errmsg("%s %s the word \"%.*s\", not the time of an event",
							ts_where(place), alone ? "is" : "holds", len, start),
					 errhint("Send the time the event happened, as ISO 8601 or an epoch number.")));
		}
	}
}

/*
 * ts_unit_words: the stream's unit of epoch numbers, in words, for hints.
 */
const char *
ts_unit_words(Stream *stream)
{
	int			u;

	for (u = 0; epoch_units[u].name != NULL; u++)
		if (epoch_units[u].usecs == stream->ts_unit)
			break;
	return epoch_units[u].words;
}

/*
 * epoch_plausible: whether value, in units of usecs microseconds, is a
 * time from 1971 to 2199 (false for NaN).
 */
static inline bool
epoch_plausible(float8 value, float8 usecs)
{
	float8		secs = value * (usecs / USECS_PER_SEC);

	return secs >= PLAUSIBLE_FROM_SECS && secs < PLAUSIBLE_END_SECS;
}

/*
 * ts_from_epoch: the instant of epoch number value in the stream's
 * ts_unit, read at place; text is the number as sent, for errors (NULL:
 * written from value).  A number outside the years 1971 to 2199 in that
 * unit is an error, whose hint names the unit it fits, if one does.
 */
TimestampTz
ts_from_epoch(Stream *stream, float8 value, const char *text, const TsPlace *place)
{
	float8		secs;
	int			u;

	if (likely(epoch_plausible(value, (float8) stream->ts_unit)))
	{
		secs = value * ((float8) stream->ts_unit / USECS_PER_SEC) -
			(float8) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY;
		return (TimestampTz) rint(secs * USECS_PER_SEC);
	}

	if (text == NULL)
		text = float8out_internal(value);
	for (u = 0; u < lengthof(epoch_units); u++)
		if (epoch_plausible(value, epoch_units[u].usecs))
			break;
	ereport(ERROR,
			(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
			 errmsg("%s is %s, not a time from %d to %d in epoch %s",
					ts_where(place), text, PLAUSIBLE_FIRST_YEAR, PLAUSIBLE_END_YEAR - 1,
					ts_unit_words(stream)),
			 u == lengthof(epoch_units) ?
			 errhint("Epoch numbers are read in the stream's ts_unit, %s; send an earlier or later time as an ISO 8601 string.",
					 ts_unit_words(stream)) :
			 epoch_units[u].name == NULL ?
			 errhint("%s is not epoch %s; it looks like %s: send microseconds (ts_unit => 'us').",
					 text, ts_unit_words(stream), epoch_units[u].words) :
			 errhint("%s is not epoch %s; it looks like %s (ts_unit => '%s').",
					 text, ts_unit_words(stream), epoch_units[u].words,
					 epoch_units[u].name)));
	return 0;					/* keep compiler quiet */
}

/*
 * digit_run: the position after the run of one or more digits at s[p],
 * or -1 if there is no digit there.
 */
static inline int
digit_run(const char *s, int len, int p)
{
	int			start = p;

	while (p < len && isdigit((unsigned char) s[p]))
		p++;
	return p > start ? p : -1;
}

/*
 * number_shape: whether s[0 .. len) is a decimal number as JSON writes
 * one: an optional minus, digits, an optional fraction and an optional
 * exponent.
 */
static bool
number_shape(const char *s, int len)
{
	int			p = len > 0 && s[0] == '-' ? 1 : 0;

	if ((p = digit_run(s, len, p)) < 0)
		return false;
	if (p < len && s[p] == '.' && (p = digit_run(s, len, p + 1)) < 0)
		return false;
	if (p < len && (s[p] == 'e' || s[p] == 'E'))
	{
		p++;
		if (p < len && (s[p] == '+' || s[p] == '-'))
			p++;
		if ((p = digit_run(s, len, p)) < 0)
			return false;
	}
	return p == len;
}

/*
 * skip_digits: the position after the n digits at s[p], or -1 if s has
 * fewer there.
 */
static inline int
skip_digits(const char *s, int len, int p, int n)
{
	for (; n > 0; n--, p++)
		if (p >= len || !isdigit((unsigned char) s[p]))
			return -1;
	return p;
}

/*
 * iso8601_shape: whether s[0 .. len) has the shape of an ISO 8601 time
 * that sessionize reads (see the top of this file).  The fields' ranges
 * are timestamptz_in's to check.
 */
static bool
iso8601_shape(const char *s, int len)
{
	int			p = 0;

	/* YYYY (or more digits) -MM-DD */
	if ((p = digit_run(s, len, 0)) < 4 || p >= len || s[p] != '-' ||
		(p = skip_digits(s, len, p + 1, 2)) < 0 || p >= len || s[p] != '-' ||
		(p = skip_digits(s, len, p + 1, 2)) < 0)
		return false;
	if (p == len)
		return true;

	/* T HH:MM, then :SS and a fraction */
	if ((s[p] != 'T' && s[p] != 't' && s[p] != ' ') ||
		(p = skip_digits(s, len, p + 1, 2)) < 0 || p >= len || s[p] != ':' ||
		(p = skip_digits(s, len, p + 1, 2)) < 0)
		return false;
	if (p < len && s[p] == ':')
	{
		if ((p = skip_digits(s, len, p + 1, 2)) < 0)
			return false;
		if (p < len && s[p] == '.' && (p = digit_run(s, len, p + 1)) < 0)
			return false;
	}
	if (p == len)
		return true;

	/* the zone */
	if ((s[p] == 'Z' || s[p] == 'z') && p + 1 == len)
		return true;
	if (s[p] != '+' && s[p] != '-')
		return false;
	if ((p = skip_digits(s, len, p + 1, 2)) < 0)
		return false;
	if (p < len && s[p] != ':')
		return skip_digits(s, len, p, 2) == len;	/* +HHMM */
	if (p < len && (p = skip_digits(s, len, p + 1, 2)) < 0)
		return false;
	if (p < len && s[p] == ':' && (p = skip_digits(s, len, p + 1, 2)) < 0)
		return false;
	return p == len;
}

/*
 * ts_from_string: the instant of the ts string s[0 .. len) read at
 * place: ISO 8601 (see the top of this file), or an epoch number in the
 * stream's ts_unit.  While PostgreSQL's own input functions read it,
 * *place->converting is place->field, so that the decoder's enrich names
 * the element in their errors.
 */
TimestampTz
ts_from_string(Stream *stream, const char *s, int len, const TsPlace *place)
{
	TimestampTz ts;
	char	   *text;

	while (len > 0 && isspace((unsigned char) *s))
		s++, len--;
	while (len > 0 && isspace((unsigned char) s[len - 1]))
		len--;
	if (parse_iso8601(s, len, &ts))
		return ts;

	text = pnstrdup(s, len);
	if (number_shape(s, len))
	{
		float8		value;

		*place->converting = place->field;
		value = compat_float8in(text, "double precision", text);
		*place->converting = NULL;
		return ts_from_epoch(stream, value, text, place);
	}
	if (!iso8601_shape(s, len))
	{
		if (pg_strcasecmp(text, "infinity") == 0 || pg_strcasecmp(text, "+infinity") == 0 ||
			pg_strcasecmp(text, "-infinity") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
					 errmsg("%s is not a finite instant", ts_where(place))));
		check_not_time_word(text, place);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_DATETIME_FORMAT),
				 errmsg("%s is not an ISO 8601 time: \"%s\"", ts_where(place),
						len > TS_QUOTE_MAX ?
						psprintf("%s...", pnstrdup(s, pg_mbcliplen(s, len, TS_QUOTE_MAX))) :
						text),
				 errhint("Send ISO 8601, e.g. 2026-01-01T10:00:00Z, 2026-01-01 10:00:00+01 or 2026-01-01T10:00 (in the stream's time_zone), or an epoch number in %s.",
						 ts_unit_words(stream))));
	}
	*place->converting = place->field;
	ts = DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in,
												 CStringGetDatum(text),
												 ObjectIdGetDatum(InvalidOid),
												 Int32GetDatum(-1)));
	*place->converting = NULL;
	return ts;
}
