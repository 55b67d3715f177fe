/*-------------------------------------------------------------------------
 *
 * feed.h
 *	  sessionize-feed: shared types of the program's files.
 *
 * The program is built in floors, each file calling only those below it:
 *
 *	  sessionize-feed.c   options, the main loop, progress and summary
 *	  apply.c			  one batch to the server, exactly once: bad lines
 *						  set aside, reconnection, resending
 *	  server.c			  libpq: connecting, the statements, what an error
 *						  means
 *	  batch.c			  a batch: the JSON array text and its lines
 *	  input.c			  lines from files or stdin, waiting with poll()
 *	  jsoncheck.c		  is a line one JSON value, and an object
 *
 * Only libpq and the C library are used.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SESSIONIZE_FEED_H
#define SESSIONIZE_FEED_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "libpq-fe.h"

#define FEED_PROGNAME "sessionize-feed"
#define FEED_VERSION "0.4"

/* printf-style checking of our message functions */
#define FEED_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* ---------------------------------------------------------------- input */

/*
 * A line of input, without its newline.  data points into the reader's
 * buffer and is valid until the next reader_next call.  number counts
 * lines from 1 over all the input (every file in turn).
 */
typedef struct InputLine
{
	const char *data;
	size_t		len;
	int64_t		number;
	bool		first;			/* the first line of its file */
} InputLine;

typedef enum ReadResult
{
	READ_LINE,					/* a line is in *line */
	READ_TIMEOUT,				/* nothing arrived within the timeout */
	READ_EOF,					/* the last file has ended */
	READ_INTERRUPTED			/* a signal interrupted the wait */
} ReadResult;

typedef struct Reader Reader;

extern Reader *reader_open(char **files, int nfiles);
extern ReadResult reader_next(Reader *reader, int timeout_ms, InputLine *line);
extern const char *reader_where(Reader *reader, int64_t number, char *buf, size_t size);
extern void reader_close(Reader *reader);

/* ------------------------------------------------------------ jsoncheck */

/*
 * json_check: whether s[0..len) is exactly one JSON value (RFC 8259, with
 * the limits of PostgreSQL's jsonb: no \u0000, surrogates in pairs,
 * UTF-8), optionally surrounded by white space.  On failure *why says
 * what is wrong and *at the byte offset where.  *is_object tells whether
 * the value is an object.
 */
extern bool json_check(const char *s, size_t len, bool *is_object,
					   const char **why, size_t *at);

/* ---------------------------------------------------------------- batch */

/* One good line of a batch: element i of its JSON array. */
typedef struct BatchLine
{
	int64_t		offset;			/* its offset in its source */
	int64_t		number;			/* its line number in the input */
	size_t		start;			/* its message in the batch's text */
	size_t		len;
	size_t		prefix_start;	/* what came before the message on its */
	size_t		prefix_len;		/* input line ("P O " of kcat), in prefixes */
} BatchLine;

/* A line of a batch set aside: written to --bad-lines before it commits. */
typedef struct AsideLine
{
	int64_t		offset;
	int64_t		number;
	size_t		start;			/* the whole input line, in the batch's aside */
	size_t		len;
} AsideLine;

/*
 * A batch: the lines of one source taken since the last commit, in order.
 * text is the JSON array of the good lines' messages, ready to send; the
 * bad lines are kept aside, in input order.  first and last are the
 * offsets of the first and last lines taken, good or bad: a batch commits
 * last even when that line was set aside, so that a later run does not
 * meet the line again, and the next batch begins right after it.
 */
typedef struct Batch
{
	char	   *text;			/* "[" msg "," msg ... (no closing "]") */
	size_t		text_len;
	size_t		text_cap;
	char	   *prefixes;		/* the lines' prefixes, one after another */
	size_t		prefixes_len;
	size_t		prefixes_cap;
	BatchLine  *lines;			/* lines[i] is element i of text */
	int			nlines;
	int			lines_cap;
	char	   *aside;			/* the lines set aside, one after another */
	size_t		aside_len;
	size_t		aside_cap;
	AsideLine  *asides;			/* in input order */
	int			nasides;
	int			asides_cap;
	bool		aside_written;	/* in the --bad-lines file from aside_at */
	int64_t		aside_at;
	bool		taken;			/* a line (good or bad) is in the batch */
	int64_t		first;			/* offsets of the first and last taken */
	int64_t		last;
	int64_t		first_number;	/* and their input line numbers */
	int64_t		last_number;
	double		deadline;		/* when --linger-ms sends it (feed_now()) */
} Batch;

extern void batch_init(Batch *batch);
extern void batch_free(Batch *batch);
extern void batch_reset(Batch *batch);
extern void batch_take(Batch *batch, int64_t offset, int64_t number);
extern void batch_add(Batch *batch, int64_t offset, int64_t number,
					  const char *prefix, size_t prefix_len,
					  const char *msg, size_t msg_len);
extern const char *batch_json(Batch *batch, size_t *len);
extern void batch_aside(Batch *batch, int64_t offset, int64_t number,
						const char *prefix, size_t prefix_len,
						const char *msg, size_t msg_len);
extern void batch_aside_element(Batch *batch, int index);
extern void batch_truncate(Batch *batch, int n);
extern void batch_trim(Batch *batch, int64_t committed);

/* --------------------------------------------------------------- server */

typedef enum ApplyStatus
{
	APPLY_OK,					/* committed (or skipped as committed before) */
	APPLY_LOST,					/* the connection failed: unknown outcome */
	APPLY_ELEMENT,				/* one element of the batch is bad */
	APPLY_DATA,					/* a data error that names no element */
	APPLY_ERROR					/* any other error: the batch's own */
} ApplyStatus;

/* What the server said of a statement (a batch, mostly). */
typedef struct ApplyResult
{
	ApplyStatus status;
	int			element;		/* APPLY_ELEMENT: its index from 0 */
	int64_t		sessions;		/* APPLY_OK: sessions the batch finished */
	bool		skipped;		/* APPLY_OK: the server had committed it */
	char		sqlstate[6];
	char	   *message;		/* malloc'd; the error (NULL if none) */
	char	   *detail;			/* its detail and hint, or NULL */
	char	   *hint;
} ApplyResult;

/* Connection settings, as the usual PostgreSQL tools take them. */
typedef struct ConnOptions
{
	const char *dbname;			/* a database name or a conninfo string */
	const char *host;
	const char *port;
	const char *user;
} ConnOptions;

typedef struct Server Server;

extern Server *server_connect(const ConnOptions *opts, const char *stream);
extern bool server_reconnect(Server *server, volatile sig_atomic_t *stop);
extern int	server_partitions(Server *server, ApplyResult *result);
extern bool server_register(Server *server, const char *source, int64_t offset,
							int partition, ApplyResult *result);
extern bool server_committed(Server *server, const char *source,
							 bool *found, int64_t *offset, ApplyResult *result);
extern void server_apply(Server *server, const char *source, int partition,
						 Batch *batch, ApplyResult *result);
extern bool server_check_json(Server *server, const char *msg, size_t len,
							  ApplyResult *result);
extern void apply_result_clear(ApplyResult *result);
extern bool server_lost(Server *server);
extern void server_close(Server *server);

/* ---------------------------------------------------------------- apply */

/* One source: the one of JSON lines, or a Kafka partition's. */
typedef struct Source
{
	char	   *name;			/* NAME, or NAME-<Kafka partition> */
	int32_t		kafka_partition;	/* -1 for JSON lines */
	int			partition;		/* the stream's partition it feeds */
	bool		has_committed;	/* committed: the offset the database has */
	int64_t		committed;
	bool		has_seen;		/* seen: the highest offset taken or */
	int64_t		seen;			/* committed; lines at or below are skipped */
	Batch		batch;			/* lines taken, not yet committed */
	int64_t		events;			/* this run's counts */
	int64_t		bad;
	int64_t		skipped;
	bool		started;		/* a line of this run was taken */
	int64_t		head_skipped;	/* lines skipped before the first taken, */
	int64_t		head_first;		/* and the offsets of the first and last */
	int64_t		head_last;		/* of them */
} Source;

/* The state of a run, shared by the main loop and apply.c. */
typedef struct Feed
{
	Server	   *server;
	Reader	   *reader;
	Source	  **sources;
	int			nsources;
	int			bad_lines;		/* --bad-lines (a descriptor), or -1 */
	const char *bad_lines_path;
	volatile sig_atomic_t *stop;	/* set by SIGINT and SIGTERM */
	/* totals of the run */
	int64_t		events;			/* applied */
	int64_t		batches;		/* committed */
	int64_t		sessions;		/* finished by those batches */
	int64_t		bad;			/* set aside */
	int64_t		reconnects;
	int64_t		server_skipped; /* batches the server had committed */
} Feed;

extern Source *source_open(Feed *feed, const char *name, int32_t kafka_partition,
						   int partition, bool register_new, int64_t first_offset);
extern bool apply_batch(Feed *feed, Source *source);
extern bool apply_stop(Feed *feed, Source *source, const char *hint);
extern const char *source_where(Feed *feed, Source *source, int64_t number,
								int64_t offset, char *buf, size_t size);
extern void apply_bad_line(Feed *feed, Source *source, const char *why);
extern void apply_write_line(Feed *feed, const char *line, size_t len);

/* ------------------------------------------------------------- messages */

extern void feed_error(const char *fmt,...) FEED_PRINTF(1, 2);
extern void feed_warning(const char *fmt,...) FEED_PRINTF(1, 2);
extern void feed_detail(const char *fmt,...) FEED_PRINTF(1, 2);
extern void feed_hint(const char *fmt,...) FEED_PRINTF(1, 2);
extern void feed_progress_clear(void);
extern const char *feed_plural(int64_t n, const char *one, const char *many);
extern void *feed_malloc(size_t size);
extern void *feed_realloc(void *ptr, size_t size);
extern char *feed_strdup(const char *s);
extern double feed_now(void);

#endif							/* SESSIONIZE_FEED_H */
