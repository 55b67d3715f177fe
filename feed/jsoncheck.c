/*-------------------------------------------------------------------------
 *
 * jsoncheck.c
 *	  Whether a line is exactly one JSON value, without building it.
 *
 * The feeder sends its lines to the server as one JSON array, written by
 * joining them with commas.  That is only right if each line is exactly
 * one JSON value: a line "{...}, {...}" would become two elements, and
 * "1]" would end the array early, shifting every later element and the
 * server's element numbers with it.  So every line is checked here, in
 * one pass and without recursion (nesting is kept in a byte stack), by the
 * grammar of RFC 8259, and with what PostgreSQL's jsonb refuses besides:
 * "\u0000" (jsonb cannot hold it), a lone or reversed UTF-16 surrogate,
 * and bytes that are not UTF-8 (the connection's client_encoding).
 *
 * What the grammar cannot see is left to the server: a number too large
 * for numeric, nesting deeper than its stack allows, a character the
 * database's encoding lacks.  See apply.c for how those lines are found.
 *
 *-------------------------------------------------------------------------
 */
#include "feed.h"

#include <stdlib.h>
#include <string.h>

/* What the checker expects next. */
typedef enum JsonExpect
{
	EXPECT_VALUE,				/* a value (top level, after ':' or ',' in []) */
	EXPECT_VALUE_OR_CLOSE,		/* after '[' */
	EXPECT_KEY_OR_CLOSE,		/* after '{' */
	EXPECT_KEY,					/* after ',' in {} */
	EXPECT_COLON,				/* after a key */
	EXPECT_COMMA_OR_CLOSE,		/* after a value in a container */
	EXPECT_END					/* after the top-level value: white space only */
} JsonExpect;

/* Nesting: a stack of '{' and '[' bytes. */
typedef struct JsonStack
{
	char	   *items;
	size_t		depth;
	size_t		cap;
	char		fixed[64];		/* enough for most lines, no allocation */
} JsonStack;

/*
 * stack_push: open a container c ('{' or '[').
 */
static void
stack_push(JsonStack *stack, char c)
{
	if (stack->depth == stack->cap)
	{
		size_t		cap = stack->cap * 2;

		if (stack->items == stack->fixed)
		{
			stack->items = feed_malloc(cap);
			memcpy(stack->items, stack->fixed, stack->depth);
		}
		else
			stack->items = feed_realloc(stack->items, cap);
		stack->cap = cap;
	}
	stack->items[stack->depth++] = c;
}

/*
 * is_space: JSON white space.
 */
static inline bool
is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * hex4: the value of the 4 hex digits at s, or -1.
 */
static int
hex4(const unsigned char *s)
{
	int			v = 0;

	for (int i = 0; i < 4; i++)
	{
		unsigned char c = s[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

/*
 * utf8_char: the length of the well-formed UTF-8 character at s (at most
 * end - s bytes, s[0] >= 0x80), or 0 if it is not one: no overlong forms,
 * no surrogates, nothing above U+10FFFF.
 */
static size_t
utf8_char(const unsigned char *s, const unsigned char *end)
{
	unsigned char c = s[0];
	size_t		n;
	unsigned char lo = 0x80,
				hi = 0xBF;

	if (c >= 0xC2 && c <= 0xDF)
		n = 2;
	else if (c >= 0xE0 && c <= 0xEF)
	{
		n = 3;
		if (c == 0xE0)
			lo = 0xA0;			/* overlong */
		else if (c == 0xED)
			hi = 0x9F;			/* surrogates */
	}
	else if (c >= 0xF0 && c <= 0xF4)
	{
		n = 4;
		if (c == 0xF0)
			lo = 0x90;			/* overlong */
		else if (c == 0xF4)
			hi = 0x8F;			/* above U+10FFFF */
	}
	else
		return 0;
	if ((size_t) (end - s) < n)
		return 0;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
	return n;
}

/*
 * check_string: the string whose opening quote is at *p; *p is left after
 * its closing quote.  Returns NULL, or what is wrong (*p then at the fault).
 */
static const char *
check_string(const unsigned char **p, const unsigned char *end)
{
	const unsigned char *s = *p + 1;
	bool		want_low = false;	/* a high surrogate was just escaped */

	for (;;)
	{
		unsigned char c;

		if (s >= end)
		{
			*p = s;
			return "a string is not closed";
		}
		c = *s;
		if (want_low && c != '\\')
		{
			*p = s;
			return "a Unicode high surrogate (\\uD800-\\uDBFF) is not followed by a low one";
		}
		if (c == '"')
			break;
		if (c < 0x20)
		{
			*p = s;
			return "a control character in a string must be escaped";
		}
		if (c == '\\')
		{
			int			u;

			if (s + 1 >= end)
			{
				*p = s;
				return "a string is not closed";
			}
			c = s[1];
			if (want_low && c != 'u')
			{
				*p = s;
				return "a Unicode high surrogate (\\uD800-\\uDBFF) is not followed by a low one";
			}
			switch (c)
			{
				case '"':
				case '\\':
				case '/':
				case 'b':
				case 'f':
				case 'n':
				case 'r':
				case 't':
					s += 2;
					continue;
				case 'u':
					if (end - s < 6 || (u = hex4(s + 2)) < 0)
					{
						*p = s;
						return "\\u must be followed by four hexadecimal digits";
					}
					if (u == 0)
					{
						*p = s;
						return "\\u0000 cannot be stored in jsonb";
					}
					if (u >= 0xD800 && u <= 0xDBFF)
					{
						if (want_low)
						{
							*p = s;
							return "a Unicode high surrogate (\\uD800-\\uDBFF) is not followed by a low one";
						}
						want_low = true;
					}
					else if (u >= 0xDC00 && u <= 0xDFFF)
					{
						if (!want_low)
						{
							*p = s;
							return "a Unicode low surrogate (\\uDC00-\\uDFFF) does not follow a high one";
						}
						want_low = false;
					}
					else if (want_low)
					{
						*p = s;
						return "a Unicode high surrogate (\\uD800-\\uDBFF) is not followed by a low one";
					}
					s += 6;
					continue;
				default:
					*p = s;
					return "an unknown escape sequence in a string";
			}
		}
		if (c < 0x80)
			s++;
		else
		{
			size_t		n = utf8_char(s, end);

			if (n == 0)
			{
				*p = s;
				return "bytes that are not UTF-8";
			}
			s += n;
		}
	}
	*p = s + 1;
	return NULL;
}

/*
 * check_number: the number at *p; *p is left after it.  Returns NULL, or
 * what is wrong.
 */
static const char *
check_number(const unsigned char **p, const unsigned char *end)
{
	const unsigned char *s = *p;

	if (s < end && *s == '-')
		s++;
	if (s >= end || *s < '0' || *s > '9')
	{
		*p = s;
		return "a number has no digits";
	}
	if (*s == '0')
		s++;
	else
		while (s < end && *s >= '0' && *s <= '9')
			s++;
	if (s < end && *s == '.')
	{
		s++;
		if (s >= end || *s < '0' || *s > '9')
		{
			*p = s;
			return "a number has no digits after its decimal point";
		}
		while (s < end && *s >= '0' && *s <= '9')
			s++;
	}
	if (s < end && (*s == 'e' || *s == 'E'))
	{
		s++;
		if (s < end && (*s == '+' || *s == '-'))
			s++;
		if (s >= end || *s < '0' || *s > '9')
		{
			*p = s;
			return "a number has no digits in its exponent";
		}
		while (s < end && *s >= '0' && *s <= '9')
			s++;
	}
	*p = s;
	return NULL;
}

/*
 * check_word: the literal word at *p (true, false or null).
 */
static const char *
check_word(const unsigned char **p, const unsigned char *end)
{
	static const char *const words[] = {"true", "false", "null"};

	for (int i = 0; i < 3; i++)
	{
		size_t		n = strlen(words[i]);

		if ((size_t) (end - *p) >= n && memcmp(*p, words[i], n) == 0)
		{
			*p += n;
			return NULL;
		}
	}
	return "not a JSON value";
}

bool
json_check(const char *str, size_t len, bool *is_object,
		   const char **why, size_t *at)
{
	const unsigned char *start = (const unsigned char *) str;
	const unsigned char *p = start;
	const unsigned char *end = start + len;
	JsonExpect expect = EXPECT_VALUE;
	JsonStack	stack;
	const char *error = NULL;

	stack.items = stack.fixed;
	stack.depth = 0;
	stack.cap = sizeof(stack.fixed);
	*is_object = false;

	while (error == NULL)
	{
		unsigned char c;

		while (p < end && is_space(*p))
			p++;
		if (p >= end)
		{
			if (expect != EXPECT_END)
				error = (expect == EXPECT_VALUE && stack.depth == 0) ?
					"an empty line" : "the line ends inside a value";
			break;
		}
		c = *p;

		switch (expect)
		{
			case EXPECT_END:
				error = "more after the JSON value";
				break;

			case EXPECT_COLON:
				if (c == ':')
				{
					p++;
					expect = EXPECT_VALUE;
				}
				else
					error = "an object key must be followed by ':'";
				break;

			case EXPECT_COMMA_OR_CLOSE:
				if (c == ',')
				{
					p++;
					expect = stack.items[stack.depth - 1] == '{' ?
						EXPECT_KEY : EXPECT_VALUE;
				}
				else if ((c == '}' || c == ']') &&
						 c == (stack.items[stack.depth - 1] == '{' ? '}' : ']'))
				{
					p++;
					stack.depth--;
					expect = stack.depth == 0 ? EXPECT_END : EXPECT_COMMA_OR_CLOSE;
				}
				else
					error = stack.items[stack.depth - 1] == '{' ?
						"expected ',' or '}'" : "expected ',' or ']'";
				break;

			case EXPECT_KEY_OR_CLOSE:
			case EXPECT_KEY:
				if (c == '}' && expect == EXPECT_KEY_OR_CLOSE)
				{
					p++;
					stack.depth--;
					expect = stack.depth == 0 ? EXPECT_END : EXPECT_COMMA_OR_CLOSE;
				}
				else if (c == '"')
				{
					error = check_string(&p, end);
					expect = EXPECT_COLON;
				}
				else
					error = "an object key must be a string";
				break;

			case EXPECT_VALUE_OR_CLOSE:
				if (c == ']')
				{
					p++;
					stack.depth--;
					expect = stack.depth == 0 ? EXPECT_END : EXPECT_COMMA_OR_CLOSE;
					break;
				}
				/* FALLTHROUGH */
			case EXPECT_VALUE:
				if (stack.depth == 0 && c == '{')
					*is_object = true;
				if (c == '{' || c == '[')
				{
					stack_push(&stack, (char) c);
					p++;
					expect = c == '{' ? EXPECT_KEY_OR_CLOSE : EXPECT_VALUE_OR_CLOSE;
					break;
				}
				if (c == '"')
					error = check_string(&p, end);
				else if (c == '-' || (c >= '0' && c <= '9'))
					error = check_number(&p, end);
				else if (c == 't' || c == 'f' || c == 'n')
					error = check_word(&p, end);
				else if (c >= 0x80 && utf8_char(p, end) == 0)
					error = "bytes that are not UTF-8";
				else
					error = "not a JSON value";
				expect = stack.depth == 0 ? EXPECT_END : EXPECT_COMMA_OR_CLOSE;
				break;
		}
	}

	if (stack.items != stack.fixed)
		free(stack.items);
	*why = error;
	*at = (size_t) (p - start);
	return error == NULL;
}
