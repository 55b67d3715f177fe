/*-------------------------------------------------------------------------
 *
 * batch.c
 *	  Decoding a batch of events into SessEvents, one pass over the input.
 *
 * The JSON form: a jsonb array of objects, each with the stream's key,
 * ts and isLast fields.  Payloads are not copied: each event points at its
 * object inside the batch's jsonb, which lives until the call ends.
 *
 * The typed form: parallel arrays of keys (of the stream's key type),
 * timestamps, isLast flags and payloads, decoded with deconstruct_array.
 *
 * Every error caused by one element names the element: in the JSON form
 * by its index counted from 0, as jsonb's -> operator counts; in the typed
 * form by its array subscript, as SQL arrays count.
 *
 *-------------------------------------------------------------------------
 */
#include "sessionize.h"

#include "access/nbtree.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "parser/parse_coerce.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

/*
 * Where decoding is, for errors raised by the type input functions we
 * call: they are caught and raised again naming the element and field.
 */
typedef struct DecodePosition
{
	int			index;
	const char *field;			/* non-NULL while converting a field */
} DecodePosition;

/*
 * json_type_name: the JSON type of v, for messages.
 */
static const char *
json_type_name(const JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return "null";
		case jbvString:
			return "string";
		case jbvNumeric:
			return "number";
		case jbvBool:
			return "boolean";
		case jbvBinary:
			return JsonContainerIsArray(v->val.binary.data) ? "array" : "object";
		default:
			return "value";
	}
}

/*
 * jsonb_type_name: the JSON type of the root of a jsonb, for messages.
 */
const char *
jsonb_type_name(JsonbContainer *root)
{
	JsonbValue	v;

	if (JsonbExtractScalar(root, &v))
		return json_type_name(&v);
	return JsonContainerIsArray(root) ? "array" : "object";
}

/*
 * get_field: the value of field name in object obj, or NULL if absent.
 */
static JsonbValue *
get_field(JsonbContainer *obj, const char *name, JsonbValue *result)
{
	return getKeyJsonValueFromContainer(obj, name, strlen(name), result);
}

/*
 * field_twin: the name of a field of object obj that is name when case
 * is ignored but not name itself (the first in jsonb's order), or NULL.
 */
static char *
field_twin(JsonbContainer *obj, const char *name)
{
	JsonbIterator *it = JsonbIteratorInit(obj);
	JsonbValue	v;
	JsonbIteratorToken tok;
	size_t		len = strlen(name);

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		if (tok == WJB_KEY && v.val.string.len == len &&
			pg_strncasecmp(v.val.string.val, name, len) == 0 &&
			strncmp(v.val.string.val, name, len) != 0)
			return pnstrdup(v.val.string.val, len);
	return NULL;
}

/*
 * missing_field_hint: the hint of the error of event obj without field
 * name (the stream's setting): its twin when it has one (see field_twin),
 * else what.
 */
static int
missing_field_hint(Stream *stream, JsonbContainer *obj, const char *name,
				   const char *setting, const char *what)
{
	char	   *twin = field_twin(obj, name);

	if (twin == NULL)
		return errhint("%s", what);
	return errhint("The event has a field \"%s\"; names match exactly.  Send \"%s\", or make the stream read \"%s\": sessionize.alter_stream(%s, '%s', %s).",
				   twin, name, twin, quote_literal_cstr(stream->name), setting,
				   quote_literal_cstr(twin));
}

/*
 * check_field_twins: error if every element of a JSON batch of n (n > 0)
 * is an object that lacks one of the stream's field names but has a
 * field that is that name when case is ignored (an isLast sent as
 * islast would otherwise be silently not read).  Costs a lookup of each
 * name in element 0, and a scan of its fields for a name it lacks.
 */
static void
check_field_twins(Stream *stream, Jsonb *batch, int n)
{
	const char *const names[] = {stream->key_field, stream->ts_field, stream->last_field};
	const char *const settings[] = {"key_field", "ts_field", "last_field"};
	JsonbValue *first = getIthJsonbValueFromContainer(&batch->root, 0);
	JsonbValue	vbuf;
	int			f;
	int			i;

	if (first->type != jbvBinary || !JsonContainerIsObject(first->val.binary.data))
		return;
	for (f = 0; f < lengthof(names); f++)
	{
		char	   *twin;

		if (get_field(first->val.binary.data, names[f], &vbuf) != NULL ||
			(twin = field_twin(first->val.binary.data, names[f])) == NULL)
			continue;
		for (i = 1; i < n; i++)
		{
			JsonbValue *v = getIthJsonbValueFromContainer(&batch->root, i);

			if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data) ||
				get_field(v->val.binary.data, names[f], &vbuf) != NULL ||
				get_field(v->val.binary.data, twin, &vbuf) == NULL)
				break;
		}
		if (i == n)
			ereport(ERROR,
					(errcode(ERRCODE_SQL_JSON_MEMBER_NOT_FOUND),
					 errmsg("every event of the batch has a field \"%s\" and none \"%s\", the stream's %s",
							twin, names[f], settings[f]),
					 errdetail("Names match exactly: \"%s\" is not read as \"%s\".",
							   twin, names[f]),
					 errhint("Send \"%s\", or make the stream read \"%s\": sessionize.alter_stream(%s, '%s', %s).",
							 names[f], twin, quote_literal_cstr(stream->name), settings[f],
							 quote_literal_cstr(twin))));
	}
}

/*
 * json_value_text: a JSON value (not null) as the text a type's input
 * function reads: a string's own text, a number or boolean by its JSON
 * text, an object or array by its JSON text.
 */
char *
json_value_text(const JsonbValue *v)
{
	switch (v->type)
	{
		case jbvString:
			return pnstrdup(v->val.string.val, v->val.string.len);
		case jbvNumeric:
			return DatumGetCString(DirectFunctionCall1(numeric_out,
													   NumericGetDatum(v->val.numeric)));
		case jbvBool:
			return v->val.boolean ? "true" : "false";
		default:
			return JsonbToCString(NULL, v->val.binary.data, v->val.binary.len);
	}
}

/*
 * decode_key: the key field of element i in the stream's key type.  A
 * JSON string is read with the type's input function; a number, boolean,
 * object or array is read from its JSON text.
 */
static Datum
decode_key(Stream *stream, JsonbContainer *obj, int i, DecodePosition *pos)
{
	JsonbValue	vbuf;
	JsonbValue *v = get_field(obj, stream->key_field, &vbuf);
	char	   *text;
	Datum		key;

	if (v == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_SQL_JSON_MEMBER_NOT_FOUND),
				 errmsg("event %d of the batch has no \"%s\" field", i, stream->key_field),
				 missing_field_hint(stream, obj, stream->key_field, "key_field",
									"Each event needs a key; the stream reads it from the field named by key_field.")));

	if (v->type == jbvNull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("event %d of the batch: \"%s\" is null", i, stream->key_field)));
	text = json_value_text(v);

	pos->field = stream->key_field;
	key = InputFunctionCall(&stream->key_input, text, stream->key_ioparam, -1);
	pos->field = NULL;

	if (key_too_long(stream, key))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("event %d of the batch: \"%s\" is %zu bytes long, more than the %zu bytes a key may have",
						i, stream->key_field, (Size) VARSIZE_ANY(DatumGetPointer(key)),
						(Size) MAX_KEY_BYTES),
				 errhint(KEY_TOO_LONG_HINT)));
	return key;
}

/*
 * decode_ts: the ts field of element i: an ISO 8601 string (without a
 * zone, the stream's time_zone applies), or an epoch number, or a string
 * that is one, in the stream's ts_unit (see timestamps.c).
 */
static TimestampTz
decode_ts(Stream *stream, JsonbContainer *obj, int i, DecodePosition *pos)
{
	JsonbValue	vbuf;
	JsonbValue *v = get_field(obj, stream->ts_field, &vbuf);
	TsPlace		place = {i, stream->ts_field, NULL, &pos->field};
	TimestampTz ts;

	if (v == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_SQL_JSON_MEMBER_NOT_FOUND),
				 errmsg("event %d of the batch has no \"%s\" field", i, stream->ts_field),
				 missing_field_hint(stream, obj, stream->ts_field, "ts_field",
									psprintf("Each event needs a timestamp, ISO 8601 or epoch %s.",
											 ts_unit_words(stream)))));

	if (v->type == jbvString)
		ts = ts_from_string(stream, v->val.string.val, v->val.string.len, &place);
	else if (v->type == jbvNumeric)
	{
		float8		value;

		pos->field = stream->ts_field;
		value = DatumGetFloat8(DirectFunctionCall1(numeric_float8,
												   NumericGetDatum(v->val.numeric)));
		pos->field = NULL;
		ts = ts_from_epoch(stream, value, NULL, &place);
	}
	else if (v->type == jbvNull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("event %d of the batch: \"%s\" is null", i, stream->ts_field)));
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_DATETIME_FORMAT),
				 errmsg("event %d of the batch: \"%s\" is a JSON %s, not a timestamp",
						i, stream->ts_field, json_type_name(v)),
				 errhint("A timestamp is an ISO 8601 string or a number of epoch %s.",
						 ts_unit_words(stream))));

	if (TIMESTAMP_NOT_FINITE(ts) || !IS_VALID_TIMESTAMP(ts))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("event %d of the batch: \"%s\" is not a finite instant",
						i, stream->ts_field)));
	return ts;
}

/*
 * decode_is_last: the isLast field of element i; absent or null is false.
 */
static bool
decode_is_last(Stream *stream, JsonbContainer *obj, int i)
{
	JsonbValue	vbuf;
	JsonbValue *v = get_field(obj, stream->last_field, &vbuf);

	if (v == NULL || v->type == jbvNull)
		return false;
	if (v->type != jbvBool)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("event %d of the batch: \"%s\" is a JSON %s, not a boolean",
						i, stream->last_field, json_type_name(v))));
	return v->val.boolean;
}

/* What the JSON form's decoder works on. */
typedef struct JsonDecode
{
	Jsonb	   *batch;
	DecodePosition pos;
} JsonDecode;

/*
 * json_decode: elements d->next .. end - 1 of a JSON batch (an
 * ElementDecoder's decode).
 */
static void
json_decode(ElementDecoder *d, int end)
{
	JsonDecode *jd = d->arg;
	Stream	   *stream = d->stream;

	for (; d->next < end; d->next++)
	{
		int			i = d->next;
		JsonbValue *v = getIthJsonbValueFromContainer(&jd->batch->root, i);
		SessEvent  *e = &d->events[d->ngood];
		JsonbContainer *obj;

		CHECK_FOR_INTERRUPTS();
		jd->pos.index = i;
		jd->pos.field = NULL;
		if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
			ereport(ERROR,
					(errcode(ERRCODE_SQL_JSON_OBJECT_NOT_FOUND),
					 errmsg("event %d of the batch is a JSON %s, not an object",
							i, json_type_name(v)),
					 errhint(EVENT_OBJECT_HINT)));
		obj = v->val.binary.data;
		e->key = decode_key(stream, obj, i, &jd->pos);
		e->ts = decode_ts(stream, obj, i, &jd->pos);
		e->is_last = decode_is_last(stream, obj, i);
		e->ordinal = i;
		e->payload = obj;
		e->payload_len = v->val.binary.len;
		d->ngood++;
		pfree(v);
	}
}

/*
 * json_element: element i of a JSON batch, as sent.
 */
static Jsonb *
json_element(ElementDecoder *d, int i)
{
	JsonDecode *jd = d->arg;

	return JsonbValueToJsonb(getIthJsonbValueFromContainer(&jd->batch->root, i));
}

/*
 * json_enrich: an error of a type's input function, said of the element
 * and field it was reading.
 */
static void
json_enrich(ElementDecoder *d, ErrorData *edata)
{
	JsonDecode *jd = d->arg;
	Stream	   *stream = d->stream;

	if (jd->pos.field == NULL)
		return;
	edata->message = psprintf("event %d of the batch: \"%s\" is invalid: %s",
							  jd->pos.index, jd->pos.field, edata->message);
	edata->hint = jd->pos.field == stream->key_field ?
		psprintf("The key is read as the stream's key type, %s.",
				 format_type_be(stream->key_type)) :
		psprintf("A timestamp is an ISO 8601 string or a number of epoch %s.",
				 ts_unit_words(stream));
	jd->pos.field = NULL;
}

/*
 * batch_decode_json: the events of a JSON batch, in batch order, in
 * CurrentMemoryContext; with dead, its bad elements are set aside there.
 */
SessEvent *
batch_decode_json(Stream *stream, Jsonb *batch, DeadLetterList *dead, int *nevents)
{
	JsonDecode	jd = {batch, {0, NULL}};
	ElementDecoder d = {0};
	int			n;

	if (!JB_ROOT_IS_ARRAY(batch) || JB_ROOT_IS_SCALAR(batch))
		ereport(ERROR,
				(errcode(ERRCODE_SQL_JSON_ARRAY_NOT_FOUND),
				 errmsg("the batch is a JSON %s, not an array",
						JB_ROOT_IS_OBJECT(batch) ? "object" : "scalar"),
				 errhint("Pass the events as a JSON array of objects, e.g. '[{\"id\": 7, \"ts\": \"2026-01-01T10:00:00Z\"}]'.")));

	n = JB_ROOT_COUNT(batch);
	if (n > 0)
		check_field_twins(stream, batch, n);
	d.stream = stream;
	d.events = palloc(sizeof(SessEvent) * Max(n, 1));
	d.decode = json_decode;
	d.element = json_element;
	d.enrich = json_enrich;
	d.arg = &jd;
	decode_guarded(&d, n, dead);

	*nevents = d.ngood;
	return d.events;
}

/*
 * deconstruct_no_nulls: the elements of a one-dimensional array argument,
 * which must have count elements (count < 0: any) and no NULL.
 */
static Datum *
deconstruct_no_nulls(ArrayType *array, const char *name, Oid elemtype,
					 int count, int *nelems)
{
	int16		typlen;
	bool		typbyval;
	char		typalign;
	Datum	   *elems;
	bool	   *nulls;
	int			i;

	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional array", name)));
	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	deconstruct_array(array, elemtype, typlen, typbyval, typalign,
					  &elems, &nulls, nelems);
	if (count >= 0 && *nelems != count)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg_plural("%s has %d element, keys has %d",
							   "%s has %d elements, keys has %d",
							   *nelems, name, *nelems, count),
				 errhint("The arrays are the columns of one batch: element i of each is event i.")));
	for (i = 0; i < *nelems; i++)
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s[%d] is NULL", name, ARR_LBOUND(array)[0] + i)));
	return elems;
}

/* What the typed form's decoder works on. */
typedef struct ArraysDecode
{
	Datum	   *keys;
	ValueCast  *key_cast;		/* keys of another type: to the key type */
	bool		casting;		/* a key is being cast, for errors */
	Datum	   *ts;
	Datum	   *is_last;		/* NULL: no event is last */
	Datum	   *payloads;
} ArraysDecode;

/*
 * arrays_decode: elements d->next .. end - 1 of a typed batch (an
 * ElementDecoder's decode).
 */
static void
arrays_decode(ElementDecoder *d, int end)
{
	ArraysDecode *ad = d->arg;
	Stream	   *stream = d->stream;

	for (; d->next < end; d->next++)
	{
		int			i = d->next;
		SessEvent  *e = &d->events[d->ngood];
		Jsonb	   *payload = DatumGetJsonbP(ad->payloads[i]);
		Datum		key = ad->keys[i];

		if (ad->key_cast != NULL)
		{
			ad->casting = true;
			key = datumCopy(value_cast(ad->key_cast, key), stream->key_typbyval,
							stream->key_typlen);
			ad->casting = false;
		}
		if (key_too_long(stream, key))
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("keys[%d] is %zu bytes long, more than the %zu bytes a key may have",
							d->index_base + i, (Size) VARSIZE_ANY(DatumGetPointer(key)),
							(Size) MAX_KEY_BYTES),
					 errhint(KEY_TOO_LONG_HINT)));
		e->key = key;
		e->ts = DatumGetTimestampTz(ad->ts[i]);
		if (TIMESTAMP_NOT_FINITE(e->ts))
			ereport(ERROR,
					(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
					 errmsg("ts[%d] is not a finite instant", d->index_base + i)));
		e->is_last = ad->is_last != NULL && DatumGetBool(ad->is_last[i]);
		if (!JB_ROOT_IS_OBJECT(payload))
			ereport(ERROR,
					(errcode(ERRCODE_SQL_JSON_OBJECT_NOT_FOUND),
					 errmsg("payloads[%d] is a JSON %s, not an object", d->index_base + i,
							jsonb_type_name(&payload->root)),
					 errhint(EVENT_OBJECT_HINT)));
		e->ordinal = i;
		e->payload = &payload->root;
		e->payload_len = VARSIZE(payload) - VARHDRSZ;
		d->ngood++;
	}
}

/*
 * arrays_enrich: an error of the cast of a key, said of the element.
 */
static void
arrays_enrich(ElementDecoder *d, ErrorData *edata)
{
	ArraysDecode *ad = d->arg;

	if (!ad->casting)
		return;
	edata->message = psprintf("keys[%d] is invalid: %s", d->index_base + d->next,
							  edata->message);
	edata->hint = psprintf("The keys are cast to the stream's key type, %s.",
						   format_type_be(d->stream->key_type));
	ad->casting = false;
}

/*
 * arrays_element: element i of a typed batch as sent: its payload.
 */
static Jsonb *
arrays_element(ElementDecoder *d, int i)
{
	ArraysDecode *ad = d->arg;

	return DatumGetJsonbP(ad->payloads[i]);
}

/*
 * batch_decode_arrays: the events of a typed batch.  keys must be an
 * array of the stream's key type or of a type that has an implicit or
 * assignment cast to it (as an INSERT would take it: int4[] or int2[]
 * for a bigint key, as drivers send a list of numbers by its largest);
 * is_last may be NULL (no event is last); payloads must be jsonb
 * objects.  Elements before first are skipped (their offsets are
 * committed), still counted in the errors' positions.  With dead, bad
 * elements are set aside there.
 */
SessEvent *
batch_decode_arrays(Stream *stream, ArrayType *keys, ArrayType *ts,
					ArrayType *is_last, ArrayType *payloads, int first,
					DeadLetterList *dead, int *nevents)
{
	Oid			key_elemtype = ARR_ELEMTYPE(keys);
	ArraysDecode ad = {0};
	ElementDecoder d = {0};
	int			n;
	int			m;

	if (key_elemtype != stream->key_type &&
		!IsBinaryCoercible(key_elemtype, stream->key_type))
	{
		ad.key_cast = value_cast_init(key_elemtype, stream->key_type, COERCION_ASSIGNMENT);
		if (ad.key_cast == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("keys is an array of %s, but stream \"%s\" has keys of type %s",
							format_type_be(key_elemtype), stream->name,
							format_type_be(stream->key_type)),
					 errhint("Cast the keys, e.g. keys::%s[].", format_type_be(stream->key_type))));
	}

	ad.keys = deconstruct_no_nulls(keys, "keys", key_elemtype, -1, &n);
	ad.ts = deconstruct_no_nulls(ts, "ts", TIMESTAMPTZOID, n, &m);
	if (is_last != NULL)
		ad.is_last = deconstruct_no_nulls(is_last, "is_last", BOOLOID, n, &m);
	ad.payloads = deconstruct_no_nulls(payloads, "payloads", JSONBOID, n, &m);

	/* elements [0, first) are skipped: as if the arrays began at first */
	Assert(first >= 0 && first <= n);
	ad.keys += first;
	ad.ts += first;
	if (ad.is_last != NULL)
		ad.is_last += first;
	ad.payloads += first;
	n -= first;

	d.stream = stream;
	d.events = palloc(sizeof(SessEvent) * Max(n, 1));
	d.index_base = (ARR_NDIM(keys) == 1 ? ARR_LBOUND(keys)[0] : 1) + first;
	d.decode = arrays_decode;
	d.element = arrays_element;
	d.enrich = arrays_enrich;
	d.arg = &ad;
	decode_guarded(&d, n, dead);

	*nevents = d.ngood;
	return d.events;
}
