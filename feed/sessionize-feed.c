/*-------------------------------------------------------------------------
 *
 * sessionize-feed.c
 *	  Feed a sessionize stream from JSON lines or kcat output, exactly once.
 *
 *	  sessionize-feed [connection options] --stream S --source NAME
 *					  [--format json|kcat] [--batch-size N] [--linger-ms MS]
 *					  [--partition P] [--bad-lines FILE] [--new-input]
 *					  [--progress-interval SECONDS] [FILE...]
 *
 * The contract is SPEC §9.  Every batch carries a source and the offsets
 * of its first and last lines: for JSON lines the source is NAME and the
 * offset a line's number (from 1, over all the input); for kcat lines
 * ("PARTITION OFFSET MESSAGE") the source is NAME-<partition> and the offset
 * the message's, and a batch holds one partition's lines only.  The
 * feeder reads each source's committed offset before its first line (and
 * after a lost connection) and skips what is at or below it, so a run
 * killed at any moment and run again on the same input applies every
 * line once.  That a source's first lines are skipped is said in a warning
 * (or, with --new-input, is an error): new input fed under a source
 * already used would be skipped without a word.
 *
 * This file: the options, the main loop (reading, batching, --linger-ms,
 * signals), the progress lines and the summary.  apply.c sends batches.
 *
 *-------------------------------------------------------------------------
 */
#include "feed.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_BATCH_SIZE 1000
#define MAX_BATCH_SIZE 1000000
/*
 * The most JSON text a batch sends: a batch is sent before a line would
 * take it past this, and a longer line is a bad line.  The server takes a
 * message of at most 1 GB and a jsonb array of at most 256 MB, and its
 * parser an array of at most 1 GB of parsed values: past any of them a
 * batch could never be applied, and the feeder would stop or, the
 * connection dropped, send it again for ever.  JSON grows at most about
 * six times as jsonb (a 2-byte "0," takes 12 bytes), and a parsed value
 * takes 32 bytes: 32 MB keeps a batch under all three.
 */
#define MAX_BATCH_BYTES (32 * 1024 * 1024)
#define TERMINAL_PROGRESS_INTERVAL 0.25	/* seconds between redraws */
#define DEFAULT_PROGRESS_INTERVAL 10	/* seconds between lines in a log */
#define MAX_PROGRESS_INTERVAL 86400

typedef enum InputFormat
{
	FORMAT_JSON,
	FORMAT_KCAT
} InputFormat;

/* The options. */
typedef struct Options
{
	ConnOptions conn;
	const char *stream;
	const char *source;
	InputFormat format;
	int			batch_size;
	int			linger_ms;		/* -1: none */
	int			partition;		/* -1: none */
	const char *bad_lines;
	bool		new_input;
	int			progress_interval;	/* seconds; 0: no progress */
	char	  **files;
	int			nfiles;
} Options;

static volatile sig_atomic_t stop_requested = 0;
static volatile sig_atomic_t stop_signal = 0;

/*
 * Progress: on a terminal, a line redrawn in place; elsewhere (a log, a
 * pipe) a line of its own every --progress-interval seconds, while lines
 * come.
 */
typedef enum ProgressMode
{
	PROGRESS_OFF,
	PROGRESS_TERMINAL,
	PROGRESS_LINES
} ProgressMode;

static ProgressMode progress_mode = PROGRESS_OFF;
static double progress_every = 0;	/* seconds between two */
static size_t progress_len = 0;	/* of the line on the terminal */
static double progress_at = 0;	/* when the last was shown (or the start) */
static int64_t progress_lines = 0;	/* lines read then */
static int64_t progress_events = 0;	/* and events applied */

/* Counts of the main loop (apply.c keeps the others in Feed). */
static int64_t lines_read = 0;
static int64_t lines_skipped = 0;
static int64_t lines_empty = 0;

/* Whether the hint after the lines skipped at the start was given. */
static bool skipped_hint_given = false;

/* ------------------------------------------------------------ messages */

/*
 * feed_progress_clear: take the progress line off the terminal, before
 * another message is written.
 */
void
feed_progress_clear(void)
{
	if (progress_len > 0)
	{
		fprintf(stderr, "\r%*s\r", (int) progress_len, "");
		progress_len = 0;
	}
}

static void message(const char *level, const char *fmt, va_list ap) FEED_PRINTF(2, 0);

/*
 * message: "sessionize-feed: <level>: ..." on stderr, a line of its own.
 */
static void
message(const char *level, const char *fmt, va_list ap)
{
	feed_progress_clear();
	fprintf(stderr, "%s: %s: ", FEED_PROGNAME, level);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

/*
 * feed_error, feed_warning: "sessionize-feed: error: ..." and "...
 * warning: ..." (a lower-case message, no final period); feed_detail and
 * feed_hint: the facts and the advice that follow one ("... detail: ...",
 * "... hint: ...", sentences), as PostgreSQL's tools print them.
 */
void
feed_error(const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	message("error", fmt, ap);
	va_end(ap);
}

void
feed_warning(const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	message("warning", fmt, ap);
	va_end(ap);
}

void
feed_detail(const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	message("detail", fmt, ap);
	va_end(ap);
}

void
feed_hint(const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	message("hint", fmt, ap);
	va_end(ap);
}

/*
 * feed_plural: the word for n things, one or many ("1 line", "2 lines"),
 * for messages that count.
 */
const char *
feed_plural(int64_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

/*
 * feed_malloc, feed_realloc, feed_strdup: allocate, or exit.
 */
void *
feed_malloc(size_t size)
{
	void	   *p = malloc(size > 0 ? size : 1);

	if (p == NULL)
	{
		feed_error("out of memory");
		exit(1);
	}
	return p;
}

void *
feed_realloc(void *ptr, size_t size)
{
	void	   *p = realloc(ptr, size > 0 ? size : 1);

	if (p == NULL)
	{
		feed_error("out of memory");
		exit(1);
	}
	return p;
}

char *
feed_strdup(const char *s)
{
	size_t		n = strlen(s) + 1;

	return memcpy(feed_malloc(n), s, n);
}

/*
 * feed_now: a monotonic clock, in seconds.
 */
double
feed_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * progress_start: show progress as --progress-interval says, and as stderr
 * is a terminal or not, from started on.
 */
static void
progress_start(int interval, double started)
{
	if (interval == 0)
		progress_mode = PROGRESS_OFF;
	else if (isatty(STDERR_FILENO))
	{
		progress_mode = PROGRESS_TERMINAL;
		progress_every = TERMINAL_PROGRESS_INTERVAL;
	}
	else
	{
		progress_mode = PROGRESS_LINES;
		progress_every = interval;
	}
	progress_at = started;
}

/*
 * progress_pending: whether lines were read or events applied since the
 * last progress line was shown (a log gets no line while nothing comes).
 */
static bool
progress_pending(Feed *feed)
{
	return lines_read != progress_lines || feed->events != progress_events;
}

/*
 * progress_timeout: how long the reader may wait for input before the
 * progress line is due (ms), or -1 (none is: no progress, or nothing new
 * to show), so that what came before the input paused is shown.
 */
static int
progress_timeout(Feed *feed)
{
	double		left;

	if (progress_mode == PROGRESS_OFF || !progress_pending(feed))
		return -1;
	left = progress_at + progress_every - feed_now();
	return left <= 0 ? 0 : (int) (left * 1000.0 + 0.999);
}

/*
 * progress: show the run's counts, if due.  On a terminal, a line redrawn
 * in place every TERMINAL_PROGRESS_INTERVAL seconds, with the events/s
 * since the start; in a log, a line of its own every --progress-interval
 * seconds, when something happened since the last, with the events/s
 * since the last.
 */
static void
progress(Feed *feed, double started)
{
	double		now = feed_now();
	char		line[320];
	int			n;

	if (progress_mode == PROGRESS_OFF || now - progress_at < progress_every ||
		(progress_mode == PROGRESS_LINES && !progress_pending(feed)))
		return;
	n = snprintf(line, sizeof(line),
				 "%lld %s read, %lld skipped, %lld %s applied in %lld %s, %lld bad",
				 (long long) lines_read, feed_plural(lines_read, "line", "lines"),
				 (long long) lines_skipped,
				 (long long) feed->events, feed_plural(feed->events, "event", "events"),
				 (long long) feed->batches, feed_plural(feed->batches, "batch", "batches"),
				 (long long) feed->bad);
	if (progress_mode == PROGRESS_TERMINAL)
	{
		n += snprintf(line + n, sizeof(line) - n, ", %.0f events/s",
					  now > started ? feed->events / (now - started) : 0.0);
		fprintf(stderr, "\r%s%*s", line,
				progress_len > (size_t) n ? (int) (progress_len - n) : 0, "");
		progress_len = n;
	}
	else
		fprintf(stderr, "%s: progress: %s; %.0f events/s over the last %.0f s\n",
				FEED_PROGNAME, line, (feed->events - progress_events) / (now - progress_at),
				now - progress_at);
	progress_at = now;
	progress_lines = lines_read;
	progress_events = feed->events;
}

/* ------------------------------------------------------------- options */

static void
usage(void)
{
	printf("%s feeds a sessionize stream from JSON lines or kcat output, exactly once.\n\n",
		   FEED_PROGNAME);
	printf("Usage:\n");
	printf("  %s [OPTION]... --stream STREAM --source NAME [FILE]...\n\n", FEED_PROGNAME);
	printf("Reads FILEs in turn, or standard input when there is none (or \"-\").\n\n");
	printf("Options:\n");
	printf("  --stream=STREAM        the stream to feed (sessionize.create_stream)\n");
	printf("  --source=NAME          the source of the offsets: NAME for JSON lines,\n"
		   "                         NAME-<partition> for kcat lines\n");
	printf("  --format=json|kcat     one JSON object per line (the default), or kcat -C\n"
		   "                         -f '%%p %%o %%s\\n' output: \"PARTITION OFFSET MESSAGE\"\n");
	printf("  --batch-size=N         events per batch (default %d)\n", DEFAULT_BATCH_SIZE);
	printf("  --linger-ms=MS         when the input pauses, send a batch that is not full\n"
		   "                         once its first line has waited MS milliseconds\n"
		   "                         (default: wait for a full batch)\n");
	printf("  --partition=P          feed partition P of the stream (default: 0 for JSON\n"
		   "                         lines, Kafka partition modulo the stream's partitions\n"
		   "                         for kcat lines)\n");
	printf("  --bad-lines=FILE       append bad lines to FILE and go on (default: stop\n"
		   "                         at the first, with its line number)\n");
	printf("  --new-input            the input was never fed: if its first line (for kcat,\n"
		   "                         a Kafka partition's first) is at or below the offset\n"
		   "                         committed before, stop with an error and apply none\n"
		   "                         of it (default: skip what is committed, and warn)\n");
	printf("  --progress-interval=SECONDS\n"
		   "                         when stderr is not a terminal (a log, a pipe), a\n"
		   "                         progress line every SECONDS while lines come\n"
		   "                         (default %d; 0: no progress, on a terminal too)\n",
		   DEFAULT_PROGRESS_INTERVAL);
	printf("  -V, --version          output version information, then exit\n");
	printf("  -?, --help             show this help, then exit\n");
	printf("\nConnection options:\n");
	printf("  -d, --dbname=DBNAME    database to connect to (or a connection string)\n");
	printf("  -h, --host=HOSTNAME    database server host or socket directory\n");
	printf("  -p, --port=PORT        database server port\n");
	printf("  -U, --username=USER    database user name\n");
	printf("\nThe PG* environment variables and ~/.pgpass are used as libpq uses them.\n");
	printf("Exit status: 0 when every line read was committed (also after SIGINT or\n"
		   "SIGTERM, which finish the batch under way), 1 on an error or a bad line.\n");
}

/*
 * parse_int: the option's value as an integer in [min, max], or exit.
 */
static int
parse_int(const char *option, const char *value, int min, int max)
{
	char	   *end;
	long		v;

	errno = 0;
	v = strtol(value, &end, 10);
	if (errno != 0 || end == value || *end != '\0' || v < min || v > max)
	{
		feed_error("invalid value \"%s\" for option %s: an integer from %d to %d is needed",
				   value, option, min, max);
		exit(1);
	}
	return (int) v;
}

/*
 * parse_options: argv into *opts, or exit.
 */
static void
parse_options(int argc, char **argv, Options *opts)
{
	enum
	{
		OPT_STREAM = 256,
		OPT_SOURCE,
		OPT_FORMAT,
		OPT_BATCH_SIZE,
		OPT_LINGER_MS,
		OPT_PARTITION,
		OPT_BAD_LINES,
		OPT_NEW_INPUT,
		OPT_PROGRESS_INTERVAL
	};
	static const struct option long_options[] = {
		{"dbname", required_argument, NULL, 'd'},
		{"host", required_argument, NULL, 'h'},
		{"port", required_argument, NULL, 'p'},
		{"username", required_argument, NULL, 'U'},
		{"stream", required_argument, NULL, OPT_STREAM},
		{"source", required_argument, NULL, OPT_SOURCE},
		{"format", required_argument, NULL, OPT_FORMAT},
		{"batch-size", required_argument, NULL, OPT_BATCH_SIZE},
		{"linger-ms", required_argument, NULL, OPT_LINGER_MS},
		{"partition", required_argument, NULL, OPT_PARTITION},
		{"bad-lines", required_argument, NULL, OPT_BAD_LINES},
		{"new-input", no_argument, NULL, OPT_NEW_INPUT},
		{"progress-interval", required_argument, NULL, OPT_PROGRESS_INTERVAL},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, '?'},
		{NULL, 0, NULL, 0}
	};
	int			c;

	memset(opts, 0, sizeof(Options));
	opts->format = FORMAT_JSON;
	opts->batch_size = DEFAULT_BATCH_SIZE;
	opts->linger_ms = -1;
	opts->partition = -1;
	opts->progress_interval = DEFAULT_PROGRESS_INTERVAL;

	/* --help and --version first, as PostgreSQL's programs take them */
	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-?") == 0))
	{
		usage();
		exit(0);
	}
	if (argc > 1 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0))
	{
		printf("%s (sessionize) %s\n", FEED_PROGNAME, FEED_VERSION);
		exit(0);
	}

	while ((c = getopt_long(argc, argv, "d:h:p:U:V", long_options, NULL)) != -1)
	{
		switch (c)
		{
			case 'd':
				opts->conn.dbname = optarg;
				break;
			case 'h':
				opts->conn.host = optarg;
				break;
			case 'p':
				opts->conn.port = optarg;
				break;
			case 'U':
				opts->conn.user = optarg;
				break;
			case OPT_STREAM:
				opts->stream = optarg;
				break;
			case OPT_SOURCE:
				opts->source = optarg;
				break;
			case OPT_FORMAT:
				if (strcmp(optarg, "json") == 0)
					opts->format = FORMAT_JSON;
				else if (strcmp(optarg, "kcat") == 0)
					opts->format = FORMAT_KCAT;
				else
				{
					feed_error("invalid value \"%s\" for option --format: json or kcat is needed",
							   optarg);
					exit(1);
				}
				break;
			case OPT_BATCH_SIZE:
				opts->batch_size = parse_int("--batch-size", optarg, 1, MAX_BATCH_SIZE);
				break;
			case OPT_LINGER_MS:
				opts->linger_ms = parse_int("--linger-ms", optarg, 0, INT_MAX / 2);
				break;
			case OPT_PARTITION:
				opts->partition = parse_int("--partition", optarg, 0, INT_MAX);
				break;
			case OPT_BAD_LINES:
				opts->bad_lines = optarg;
				break;
			case OPT_NEW_INPUT:
				opts->new_input = true;
				break;
			case OPT_PROGRESS_INTERVAL:
				opts->progress_interval = parse_int("--progress-interval", optarg, 0,
													MAX_PROGRESS_INTERVAL);
				break;
			case 'V':
				printf("%s (sessionize) %s\n", FEED_PROGNAME, FEED_VERSION);
				exit(0);
			default:
				fprintf(stderr, "Try \"%s --help\" for more information.\n", FEED_PROGNAME);
				exit(1);
		}
	}
	if (opts->stream == NULL || opts->source == NULL)
	{
		feed_error("%s is required", opts->stream == NULL ? "--stream" : "--source");
		fprintf(stderr, "Try \"%s --help\" for more information.\n", FEED_PROGNAME);
		exit(1);
	}
	opts->files = argv + optind;
	opts->nfiles = argc - optind;
}

/* ------------------------------------------------------------- signals */

/*
 * handle_stop: SIGINT or SIGTERM: finish the batch under way, then stop.
 * A second one stops at once (the batch's transaction is then rolled
 * back or committed whole, as for kill -9).
 */
static void
handle_stop(int sig)
{
	if (stop_requested)
	{
		signal(sig, SIG_DFL);
		raise(sig);
		return;
	}
	stop_requested = 1;
	stop_signal = sig;
}

/*
 * set_signals: SIGINT and SIGTERM interrupt a wait for input (no
 * SA_RESTART), so that the feeder stops reading.
 */
static void
set_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handle_stop;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* ------------------------------------------------------------ the lines */

/*
 * is_blank: whether s[0..len) is only white space.
 */
static bool
is_blank(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return false;
	return true;
}

/*
 * json_kind: the JSON type of the valid value in s, for a message.
 */
static const char *
json_kind(const char *s, size_t len)
{
	size_t		i = 0;

	while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r'))
		i++;
	switch (i < len ? s[i] : 0)
	{
		case '[':
			return "array";
		case '"':
			return "string";
		case 't':
		case 'f':
			return "boolean";
		case 'n':
			return "null";
		default:
			return "number";
	}
}

/*
 * take_message: the message of input line number, at offset of source
 * (prefix is what came before it on the line): into the source's batch,
 * which is sent when full.  A message that is not one JSON object is a bad
 * line.  false when the feeder must stop.
 */
static bool
take_message(Feed *feed, Source *source, const Options *opts, int64_t number,
			 int64_t offset, const char *prefix, size_t prefix_len,
			 const char *msg, size_t msg_len)
{
	Batch	   *b = &source->batch;
	bool		is_object;
	const char *why;
	size_t		at;
	char		where[512];
	char		reason[1024];

	/* the batch goes before this line would take it past its size */
	if (b->nlines > 0 && b->text_len + 1 + msg_len + 1 > MAX_BATCH_BYTES &&
		!apply_batch(feed, source))
		return false;
	if (!b->taken && opts->linger_ms >= 0)
		b->deadline = feed_now() + opts->linger_ms / 1000.0;

	reason[0] = '\0';
	if (is_blank(msg, msg_len))
	{
		/* an empty line (or kcat's empty message): nothing, but taken */
		lines_empty++;
		batch_take(b, offset, number);
	}
	else if (msg_len + 2 > MAX_BATCH_BYTES)
	{
		source_where(feed, source, number, offset, where, sizeof(where));
		snprintf(reason, sizeof(reason), "%s is %zu bytes long, more than a batch may hold (%d MB)",
				 where, msg_len, MAX_BATCH_BYTES / (1024 * 1024));
	}
	else if (!json_check(msg, msg_len, &is_object, &why, &at) || !is_object)
	{
		source_where(feed, source, number, offset, where, sizeof(where));
		if (why != NULL)
			snprintf(reason, sizeof(reason), "%s is not JSON: %s (at byte %zu)",
					 where, why, at + 1);
		else
			snprintf(reason, sizeof(reason), "%s is a JSON %s, not an object",
					 where, json_kind(msg, msg_len));
	}
	else
		batch_add(b, offset, number, prefix, prefix_len, msg, msg_len);

	if (reason[0] != '\0')
	{
		/* a bad line: the feeder stops, or it is set aside */
		apply_bad_line(feed, source, reason);
		if (feed->bad_lines < 0)
			return apply_stop(feed, source, NULL);
		batch_aside(b, offset, number, prefix, prefix_len, msg, msg_len);
	}
	if (b->nlines >= opts->batch_size)
		return apply_batch(feed, source);
	return true;
}

/*
 * parse_kcat: split a kcat line "PARTITION OFFSET MESSAGE" (kcat -f
 * '%p %o %s\n', or \r\n); false if it is not one.  An empty message (a
 * tombstone) may have lost its space.
 */
static bool
parse_kcat(const char *s, size_t len, int32_t *partition, int64_t *offset,
		   size_t *msg_start)
{
	size_t		i = 0;
	int64_t		v;

	/* a line ended by CRLF: its CR is no part of the message */
	if (len > 0 && s[len - 1] == '\r')
		len--;
	for (v = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++)
	{
		v = v * 10 + (s[i] - '0');
		if (v > INT32_MAX)
			return false;
	}
	if (i == 0 || i >= len || s[i] != ' ')
		return false;
	*partition = (int32_t) v;
	i++;
	if (i >= len || s[i] < '0' || s[i] > '9')
		return false;
	for (v = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++)
	{
		if (v > (INT64_MAX - (s[i] - '0')) / 10)
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*offset = v;
	if (i < len && s[i] != ' ')
		return false;
	*msg_start = i < len ? i + 1 : len;
	return true;
}

/*
 * is_json_object: whether s[0..len) is one JSON object.
 */
static bool
is_json_object(const char *s, size_t len)
{
	bool		is_object;
	const char *why;
	size_t		at;

	return json_check(s, len, &is_object, &why, &at) && is_object;
}

/*
 * wrong_format: whether line, the first of its file, is of the format
 * --format did not say: a JSON object under --format kcat (a file of JSON
 * lines, or kcat run without -f), a kcat line under --format json.  If so
 * the feeder stops there, whatever --bad-lines says: every line of the
 * file would be a bad line, and nothing of it applied.  The lines of JSON
 * files before it are committed first (as before a bad line); a line that
 * is no kcat line belongs to no source, and commits none.
 */
static bool
wrong_format(Feed *feed, const Options *opts, const InputLine *line)
{
	char		where[256];
	int32_t		p;
	int64_t		offset;
	size_t		msg_start;

	reader_where(feed->reader, line->number, where, sizeof(where));
	if (opts->format == FORMAT_KCAT)
	{
		if (parse_kcat(line->data, line->len, &p, &offset, &msg_start) ||
			!is_json_object(line->data, line->len))
			return false;
		feed_error("%s is a JSON object, not a kcat line (\"PARTITION OFFSET MESSAGE\")",
				   where);
		apply_stop(feed, NULL,
				   "The input looks like JSON lines: feed them with --format json (the default), "
				   "or run kcat with -f '%p %o %s\\n'.");
		return true;
	}
	if (is_json_object(line->data, line->len) ||
		!parse_kcat(line->data, line->len, &p, &offset, &msg_start) ||
		!(is_blank(line->data + msg_start, line->len - msg_start) ||
		  is_json_object(line->data + msg_start, line->len - msg_start)))
		return false;
	feed_error("%s is not JSON: it looks like a kcat line (\"PARTITION OFFSET MESSAGE\")",
			   where);
	apply_stop(feed, feed->sources[0], "The input looks like kcat output: run with --format kcat.");
	return true;
}

/*
 * kcat_source: the source of Kafka partition p, opened (and, new to the
 * stream, registered just before offset, see source_open) on first sight.
 */
static Source *
kcat_source(Feed *feed, const Options *opts, int npartitions, int32_t p, int64_t offset)
{
	static Source *last = NULL;
	char	   *name;
	size_t		n;
	Source	   *source;

	if (last != NULL && last->kafka_partition == p)
		return last;
	for (int i = 0; i < feed->nsources; i++)
		if (feed->sources[i]->kafka_partition == p)
			return last = feed->sources[i];

	n = strlen(opts->source) + 16;
	name = feed_malloc(n);
	snprintf(name, n, "%s-%d", opts->source, (int) p);
	source = source_open(feed, name, p,
						 opts->partition >= 0 ? opts->partition : p % npartitions,
						 true, offset);
	free(name);
	return last = source;
}

/*
 * skipped_lines_text: the lines of source skipped before its first taken,
 * for messages: "lines 1 to 100" (JSON lines: their offsets are their
 * numbers), or "the 40 messages at offsets 12 to 60" (kcat).
 */
static const char *
skipped_lines_text(Source *source, char *buf, size_t size)
{
	if (source->kafka_partition < 0 && source->head_skipped == 1)
		snprintf(buf, size, "line %lld", (long long) source->head_first);
	else if (source->kafka_partition < 0)
		snprintf(buf, size, "lines %lld to %lld",
				 (long long) source->head_first, (long long) source->head_last);
	else if (source->head_skipped == 1)
		snprintf(buf, size, "the message at offset %lld", (long long) source->head_first);
	else
		snprintf(buf, size, "the %lld messages at offsets %lld to %lld",
				 (long long) source->head_skipped, (long long) source->head_first,
				 (long long) source->head_last);
	return buf;
}

/*
 * warn_skipped: source skipped its first lines of this run, at or below
 * the offset committed before it: right when the run resumes one that
 * stopped (or kcat starts before the committed offset), but the sign of
 * new input fed under a source already used, which would be skipped
 * without a word.  Called at the first line taken after them, or at the
 * end (all true) when none was taken.
 */
static void
warn_skipped(Source *source, bool all)
{
	char		lines[128];
	char		what[192];
	const char *were = feed_plural(source->head_skipped, "was", "were");
	int			p = (int) source->kafka_partition;

	if (source->head_skipped == 0)
		return;
	skipped_lines_text(source, lines, sizeof(lines));
	if (p < 0 && all)
		snprintf(what, sizeof(what), "every line of the input (%s) was", lines);
	else if (p < 0)
		snprintf(what, sizeof(what), "%s of the input %s", lines, were);
	else if (all)
		snprintf(what, sizeof(what), "every message read from Kafka partition %d (%s) was", p, lines);
	else
		snprintf(what, sizeof(what), "%s of Kafka partition %d %s", lines, p, were);
	feed_warning("%s skipped%s: source \"%s\" had committed up to offset %lld before this run",
				 what, all ? ", and nothing of it applied" : "",
				 source->name, (long long) source->committed);
	if (!skipped_hint_given)
		feed_hint("That is right when this run resumes one that stopped, or feeds again what was fed. "
				  "New input needs a --source name not used before (or the source's offset moved with sessionize.set_offset()); "
				  "--new-input makes input that starts at or below the committed offset an error.");
	skipped_hint_given = true;
}

/*
 * refuse_committed: --new-input, and the first line of source in this run
 * (line number, at offset) is at or below the offset committed before:
 * an error.  Nothing of the source was taken; false.
 */
static bool
refuse_committed(Feed *feed, Source *source, int64_t number, int64_t offset)
{
	char		where[512];

	source_where(feed, source, number, offset, where, sizeof(where));
	feed_error("input committed before: %s is at or below offset %lld, which source \"%s\" committed before this run",
			   where, (long long) source->committed, source->name);
	feed_detail("With --new-input, %s is refused; nothing of it was applied.",
				source->kafka_partition < 0 ? "input whose first line is committed" :
				"a Kafka partition whose first message read is committed");
	if (source->kafka_partition < 0)
		feed_hint("Feed new input under a --source name not used before. "
				  "To resume a run that stopped, run again without --new-input.");
	else
		feed_hint("Start kcat after the committed offset (kcat -p %d -o %lld), or feed new input under a --source name not used before. "
				  "To resume from before that offset, run without --new-input.",
				  (int) source->kafka_partition, (long long) source->committed + 1);
	return false;
}

/*
 * take_line: one input line.  false when the feeder must stop.
 */
static bool
take_line(Feed *feed, const Options *opts, int npartitions, const InputLine *line)
{
	Source	   *source;
	int64_t		offset;
	size_t		msg_start = 0;

	lines_read++;
	if (line->first && wrong_format(feed, opts, line))
		return false;
	if (opts->format == FORMAT_JSON)
	{
		source = feed->sources[0];
		offset = line->number;
	}
	else
	{
		int32_t		p;

		if (!parse_kcat(line->data, line->len, &p, &offset, &msg_start))
		{
			char		where[256];
			char		reason[512];

			snprintf(reason, sizeof(reason),
					 "%s is not a kcat line (\"PARTITION OFFSET MESSAGE\", kcat -f '%%p %%o %%s\\n')",
					 reader_where(feed->reader, line->number, where, sizeof(where)));
			apply_bad_line(feed, NULL, reason);
			if (feed->bad_lines < 0)
				return apply_stop(feed, NULL, NULL);
			apply_write_line(feed, line->data, line->len);
			return true;
		}
		source = kcat_source(feed, opts, npartitions, p, offset);
		if (source == NULL)
			return false;
	}

	/* at or below what is committed (or, for kcat, already taken): done */
	if (source->has_seen && offset <= source->seen)
	{
		if (!source->started)
		{
			if (opts->new_input)
				return refuse_committed(feed, source, line->number, offset);
			if (source->head_skipped++ == 0)
				source->head_first = offset;
			source->head_last = offset;
		}
		lines_skipped++;
		source->skipped++;
		return true;
	}
	if (!source->started)
	{
		warn_skipped(source, false);
		source->started = true;
	}
	source->seen = offset;
	source->has_seen = true;
	return take_message(feed, source, opts, line->number, offset,
						line->data, msg_start, line->data + msg_start,
						line->len - msg_start);
}

/*
 * linger_timeout: how long the reader may wait for input before a
 * partial batch is due (ms; 0 once one is: the reader then only takes
 * what is ready), or -1 (no --linger-ms, or nothing waits).
 */
static int
linger_timeout(Feed *feed, const Options *opts)
{
	double		first = 0;
	bool		any = false;
	double		left;

	if (opts->linger_ms < 0)
		return -1;
	for (int i = 0; i < feed->nsources; i++)
	{
		Batch	   *b = &feed->sources[i]->batch;

		if (b->taken && (!any || b->deadline < first))
		{
			first = b->deadline;
			any = true;
		}
	}
	if (!any)
		return -1;
	left = first - feed_now();
	return left <= 0 ? 0 : (int) (left * 1000.0 + 0.999);
}

/*
 * wait_timeout: how long the reader may wait for input (ms), until a
 * batch's --linger-ms is up or a progress line is due, whichever comes
 * first; -1 when neither waits.
 */
static int
wait_timeout(Feed *feed, const Options *opts)
{
	int			linger = linger_timeout(feed, opts);
	int			shown = progress_timeout(feed);

	if (linger < 0 || (shown >= 0 && shown < linger))
		return shown;
	return linger;
}

/*
 * send_due: send the batches whose --linger-ms is up (all when all is
 * true).  false when the feeder must stop.
 */
static bool
send_due(Feed *feed, bool all)
{
	double		now = all ? 0 : feed_now();

	for (int i = 0; i < feed->nsources; i++)
	{
		Source	   *s = feed->sources[i];

		if (s->batch.taken && (all || s->batch.deadline <= now) && !apply_batch(feed, s))
			return false;
	}
	return true;
}

/*
 * summary: what the run did, on stderr, after a warning for each source
 * of which every line read was skipped as committed before.
 */
static void
summary(Feed *feed, const Options *opts, double started, const char *how)
{
	double		secs = feed_now() - started;

	for (int i = 0; i < feed->nsources; i++)
		if (!feed->sources[i]->started)
			warn_skipped(feed->sources[i], true);
	feed_progress_clear();
	fprintf(stderr, "%s: %s: %lld %s read, %lld %s applied in %lld %s "
			"(%lld %s finished), %lld %s skipped as committed before",
			FEED_PROGNAME, how,
			(long long) lines_read, feed_plural(lines_read, "line", "lines"),
			(long long) feed->events, feed_plural(feed->events, "event", "events"),
			(long long) feed->batches, feed_plural(feed->batches, "batch", "batches"),
			(long long) feed->sessions, feed_plural(feed->sessions, "session", "sessions"),
			(long long) lines_skipped, feed_plural(lines_skipped, "line", "lines"));
	if (lines_empty > 0)
		fprintf(stderr, ", %lld empty", (long long) lines_empty);
	if (feed->bad > 0 || opts->bad_lines != NULL)
		fprintf(stderr, ", %lld bad %s set aside", (long long) feed->bad,
				feed_plural(feed->bad, "line", "lines"));
	if (feed->server_skipped > 0)
		fprintf(stderr, ", %lld %s the server had committed already (skipped)",
				(long long) feed->server_skipped,
				feed_plural(feed->server_skipped, "batch", "batches"));
	if (feed->reconnects > 0)
		fprintf(stderr, ", %lld %s", (long long) feed->reconnects,
				feed_plural(feed->reconnects, "reconnection", "reconnections"));
	fprintf(stderr, "; %.2f s, %.0f events/s\n", secs, secs > 0 ? feed->events / secs : 0.0);
	for (int i = 0; i < feed->nsources; i++)
	{
		Source	   *s = feed->sources[i];

		if (s->has_committed)
			fprintf(stderr, "%s: source \"%s\" (stream partition %d): committed offset %lld\n",
					FEED_PROGNAME, s->name, s->partition, (long long) s->committed);
		else
			fprintf(stderr, "%s: source \"%s\" (stream partition %d): no offset committed\n",
					FEED_PROGNAME, s->name, s->partition);
	}
}

int
main(int argc, char **argv)
{
	Options		opts;
	Feed		feed;
	int			npartitions;
	double		started;
	bool		ok = true;
	ApplyResult r;

	parse_options(argc, argv, &opts);
	set_signals();
	memset(&feed, 0, sizeof(Feed));
	feed.stop = &stop_requested;
	feed.bad_lines = -1;

	feed.reader = reader_open(opts.files, opts.nfiles);
	if (opts.bad_lines != NULL)
	{
		/* appended: the lines a killed run set aside stay */
		feed.bad_lines = open(opts.bad_lines, O_WRONLY | O_APPEND | O_CREAT, 0666);
		if (feed.bad_lines < 0)
		{
			feed_error("could not open file \"%s\": %s", opts.bad_lines, strerror(errno));
			exit(1);
		}
		feed.bad_lines_path = opts.bad_lines;
	}

	feed.server = server_connect(&opts.conn, opts.stream);
	if (feed.server == NULL)
		exit(1);
	npartitions = server_partitions(feed.server, &r);
	if (npartitions < 0)
	{
		feed_error("could not read stream \"%s\": %s", opts.stream, r.message);
		exit(1);
	}
	if (npartitions == 0)
	{
		feed_error("stream \"%s\" does not exist", opts.stream);
		feed_hint("Create it with sessionize.create_stream(), or connect as a role that may use it.");
		exit(1);
	}
	if (opts.partition >= npartitions)
	{
		if (npartitions == 1)
			feed_error("stream \"%s\" has no partition %d: it has one partition, 0",
					   opts.stream, opts.partition);
		else
			feed_error("stream \"%s\" has no partition %d: its partitions are 0 to %d",
					   opts.stream, opts.partition, npartitions - 1);
		exit(1);
	}
	if (opts.format == FORMAT_JSON &&
		source_open(&feed, opts.source, -1, opts.partition >= 0 ? opts.partition : 0,
					false, 0) == NULL)
		exit(1);

	started = feed_now();
	progress_start(opts.progress_interval, started);
	while (ok && !stop_requested)
	{
		InputLine	line;
		ReadResult	rr = reader_next(feed.reader, wait_timeout(&feed, &opts), &line);

		if (stop_requested)
			break;
		if (rr == READ_EOF)
			break;
		if (rr == READ_LINE)
			ok = take_line(&feed, &opts, npartitions, &line);

		/*
		 * The input paused (nothing more to read) when a batch's linger
		 * was up: send what waits.  While lines keep coming, batches fill.
		 * (A pause may also be for a progress line; without --linger-ms a
		 * batch then waits to be full.)
		 */
		if (rr == READ_TIMEOUT && opts.linger_ms >= 0)
			ok = send_due(&feed, false);
		progress(&feed, started);
	}

	/* the lines read and not yet sent: the batch under way */
	if (ok)
		ok = send_due(&feed, true);
	if (!ok)
	{
		summary(&feed, &opts, started, "stopped on an error");
		exit(1);
	}
	summary(&feed, &opts, started, stop_requested ?
			(stop_signal == SIGINT ? "interrupted (SIGINT), every line read committed" :
			 "terminated (SIGTERM), every line read committed") : "done");
	if (feed.bad_lines >= 0 && close(feed.bad_lines) != 0)
	{
		feed_error("could not write to file \"%s\": %s", opts.bad_lines, strerror(errno));
		exit(1);
	}
	server_close(feed.server);
	reader_close(feed.reader);
	return 0;
}
