/*-------------------------------------------------------------------------
 *
 * input.c
 *	  Lines from the input files in turn, or from stdin, numbered from 1
 *	  over all of them.
 *
 * A line ends at a newline, or at the end of its file (the last line of a
 * file need not end with one; the next file starts a new line).  Reading
 * waits at most a given time for the rest of a line, with poll(), so that
 * the caller can send a partial batch when its input pauses (--linger-ms).
 * A signal that interrupts the wait is reported, not retried, so that the
 * caller can stop.
 *
 *-------------------------------------------------------------------------
 */
#include "feed.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define READ_CHUNK (256 * 1024)
#define STDIN_NAME "standard input"

/* Where each file begins in the numbering, for messages. */
typedef struct FileMark
{
	const char *name;
	int64_t		first;			/* the number of its first line */
} FileMark;

struct Reader
{
	char	  **files;			/* the paths; "-" is stdin */
	int			nfiles;
	int			next_file;		/* the next one to open */
	int			fd;				/* the file being read, or -1 */
	bool		at_eof;			/* it has no more bytes */
	char	   *buf;			/* its bytes not yet returned: buf[start, end) */
	size_t		cap;
	size_t		start;
	size_t		end;
	size_t		scanned;		/* buf[start, scanned) has no newline */
	int64_t		number;			/* of the last line returned */
	FileMark   *marks;
	int			nmarks;
};

static char *stdin_files[] = {"-"};

/*
 * reader_open: a reader of files[0 .. nfiles) in turn, or of stdin when
 * nfiles is 0.  Each file is opened once here, so that a path that cannot
 * be read is an error before anything is sent.
 */
Reader *
reader_open(char **files, int nfiles)
{
	Reader	   *reader = feed_malloc(sizeof(Reader));

	memset(reader, 0, sizeof(Reader));
	if (nfiles == 0)
	{
		files = stdin_files;
		nfiles = 1;
	}
	for (int i = 0; i < nfiles; i++)
	{
		int			fd;

		if (strcmp(files[i], "-") == 0)
			continue;
		fd = open(files[i], O_RDONLY);
		if (fd < 0)
		{
			feed_error("could not open file \"%s\": %s", files[i], strerror(errno));
			exit(1);
		}
		close(fd);
	}
	reader->files = files;
	reader->nfiles = nfiles;
	reader->fd = -1;
	reader->cap = READ_CHUNK;
	reader->buf = feed_malloc(reader->cap);
	reader->marks = feed_malloc(sizeof(FileMark) * nfiles);
	return reader;
}

/*
 * open_next: open the next file; false when there is none.
 */
static bool
open_next(Reader *reader)
{
	const char *path;

	if (reader->next_file >= reader->nfiles)
		return false;
	path = reader->files[reader->next_file++];
	if (strcmp(path, "-") == 0)
	{
		reader->fd = STDIN_FILENO;
		path = STDIN_NAME;
	}
	else
	{
		reader->fd = open(path, O_RDONLY);
		if (reader->fd < 0)
		{
			feed_error("could not open file \"%s\": %s", path, strerror(errno));
			exit(1);
		}
	}
	reader->at_eof = false;
	reader->marks[reader->nmarks].name = path;
	reader->marks[reader->nmarks].first = reader->number + 1;
	reader->nmarks++;
	return true;
}

/*
 * take_line: return buf[start, at) as the next line and move past the
 * newline at buf[at] (if any: at may be end at the end of a file).
 */
static ReadResult
take_line(Reader *reader, size_t at, InputLine *line)
{
	line->data = reader->buf + reader->start;
	line->len = at - reader->start;
	line->number = ++reader->number;
	line->first = line->number == reader->marks[reader->nmarks - 1].first;
	reader->start = at < reader->end ? at + 1 : at;
	reader->scanned = reader->start;
	return READ_LINE;
}

/*
 * reader_next: the next line.  timeout_ms < 0 waits as long as it takes;
 * otherwise READ_TIMEOUT when no whole line came within that time.
 * READ_INTERRUPTED when a signal interrupted the wait (call again to go
 * on), READ_EOF after the last line of the last file.
 */
ReadResult
reader_next(Reader *reader, int timeout_ms, InputLine *line)
{
	double		deadline = timeout_ms >= 0 ? feed_now() + timeout_ms / 1000.0 : 0;

	for (;;)
	{
		char	   *nl;
		ssize_t		n;

		if (reader->fd < 0 && !open_next(reader))
			return READ_EOF;

		nl = memchr(reader->buf + reader->scanned, '\n', reader->end - reader->scanned);
		if (nl != NULL)
			return take_line(reader, nl - reader->buf, line);
		reader->scanned = reader->end;

		if (reader->at_eof)
		{
			if (reader->fd != STDIN_FILENO)
				close(reader->fd);
			reader->fd = -1;
			if (reader->start < reader->end)
				return take_line(reader, reader->end, line);
			reader->start = reader->end = reader->scanned = 0;
			continue;
		}

		/* make room: move the partial line to the front, or grow */
		if (reader->start > 0)
		{
			memmove(reader->buf, reader->buf + reader->start, reader->end - reader->start);
			reader->end -= reader->start;
			reader->scanned -= reader->start;
			reader->start = 0;
		}
		if (reader->cap - reader->end < READ_CHUNK / 2)
		{
			reader->cap *= 2;
			reader->buf = feed_realloc(reader->buf, reader->cap);
		}

		if (timeout_ms >= 0)
		{
			struct pollfd pfd = {reader->fd, POLLIN, 0};
			double		left = deadline - feed_now();
			int			rc;

			rc = poll(&pfd, 1, left > 0 ? (int) (left * 1000.0 + 0.999) : 0);
			if (rc < 0 && errno == EINTR)
				return READ_INTERRUPTED;
			if (rc < 0)
			{
				feed_error("could not wait for input: %s", strerror(errno));
				exit(1);
			}
			if (rc == 0)
				return READ_TIMEOUT;
		}

		n = read(reader->fd, reader->buf + reader->end, reader->cap - reader->end);
		if (n < 0 && errno == EINTR)
			return READ_INTERRUPTED;
		if (n < 0)
		{
			feed_error("could not read %s: %s",
					   reader->marks[reader->nmarks - 1].name, strerror(errno));
			exit(1);
		}
		if (n == 0)
			reader->at_eof = true;
		reader->end += n;
	}
}

/*
 * reader_where: line number, for a message: "line 7 of events.jsonl", or
 * "line 1007 (line 7 of b.jsonl)" for a file after the first.
 */
const char *
reader_where(Reader *reader, int64_t number, char *buf, size_t size)
{
	int			i = reader->nmarks - 1;

	while (i > 0 && reader->marks[i].first > number)
		i--;
	if (i < 0)
		snprintf(buf, size, "line %lld", (long long) number);
	else if (reader->marks[i].first == 1)
		snprintf(buf, size, "line %lld of %s", (long long) number, reader->marks[i].name);
	else
		snprintf(buf, size, "line %lld (line %lld of %s)", (long long) number,
				 (long long) (number - reader->marks[i].first + 1), reader->marks[i].name);
	return buf;
}

/*
 * reader_close: close the file being read and free the reader.
 */
void
reader_close(Reader *reader)
{
	if (reader->fd >= 0 && reader->fd != STDIN_FILENO)
		close(reader->fd);
	free(reader->buf);
	free(reader->marks);
	free(reader);
}
