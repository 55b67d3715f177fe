/*-------------------------------------------------------------------------
 *
 * server.c
 *	  The feeder's connection: connecting and connecting again, the three
 *	  statements it runs, and what a failed one means.
 *
 * Statements (prepared on each connection):
 *
 *	  batch:	 SELECT count(*) FROM sessionize.sessionize_batch(stream,
 *				 events, source, batch_offset, partition, first_offset)
 *	  committed: SELECT sessionize.committed_offset(stream, source)
 *	  register:	 SELECT count(*) FROM sessionize.sessionize_batch(stream, '[]',
 *				 source, offset, partition)
 *	  json:		 SELECT $1::jsonb (to find a line the server cannot read)
 *
 * Each runs in its own transaction (libpq's autocommit).  A batch counts
 * the sessions it finished rather than fetching them: the stream's sink is
 * where they go exactly once.
 *
 * An error is sorted by what the caller can do about it (ApplyStatus):
 * the connection is gone (try again after connecting anew and reading the
 * committed offsets), one element of the batch is bad (the server names it:
 * "event N of the batch ..." with a data error, as src/batch.c reports
 * it; set it aside), a data error that names no element, or anything
 * else (the batch's own error: stop).
 *
 *-------------------------------------------------------------------------
 */
#include "feed.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STMT_BATCH "sessionize_feed_batch"
#define STMT_COMMITTED "sessionize_feed_committed"
#define STMT_REGISTER "sessionize_feed_register"
#define STMT_JSON "sessionize_feed_json"

#define RECONNECT_FIRST_MS 100
#define RECONNECT_MAX_MS 5000

#define MAX_CONN_PARAMS 8

struct Server
{
	PGconn	   *conn;
	char	   *stream;
	const char *keywords[MAX_CONN_PARAMS];
	const char *values[MAX_CONN_PARAMS];
	bool		skipped_notice; /* the server skipped the last batch */
};

static const struct
{
	const char *name;
	const char *sql;
	int			nparams;
}			statements[] =
{
	{
		STMT_BATCH,
		"SELECT pg_catalog.count(*) FROM sessionize.sessionize_batch("
		"$1::pg_catalog.text, $2::pg_catalog.jsonb, $3::pg_catalog.text, "
		"$4::pg_catalog.int8, $5::pg_catalog.int4, $6::pg_catalog.int8)", 6
	},
	{
		STMT_COMMITTED,
		"SELECT sessionize.committed_offset($1::pg_catalog.text, $2::pg_catalog.text)", 2
	},
	{
		/* an empty batch: skipped if the source has committed it or later */
		STMT_REGISTER,
		"SELECT pg_catalog.count(*) FROM sessionize.sessionize_batch("
		"$1::pg_catalog.text, '[]'::pg_catalog.jsonb, $2::pg_catalog.text, "
		"$3::pg_catalog.int8, $4::pg_catalog.int4)", 4
	},
	{
		STMT_JSON,
		"SELECT $1::pg_catalog.jsonb IS NULL", 1
	}
};

/*
 * notice_receiver: the server's notices and warnings.  "already committed;
 * skipped" (src/offsets.c) is noted, not shown: the caller counts it.
 */
static void
notice_receiver(void *arg, const PGresult *res)
{
	Server	   *server = arg;
	const char *severity = PQresultErrorField(res, PG_DIAG_SEVERITY);
	const char *message = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

	if (message != NULL && strstr(message, "is already committed; skipped") != NULL)
	{
		server->skipped_notice = true;
		return;
	}
	feed_progress_clear();
	fprintf(stderr, "%s: server %s: %s\n", FEED_PROGNAME,
			severity ? severity : "NOTICE", message ? message : "");
}

/*
 * prepare: prepare the statements on a new connection; false (with the
 * error shown) if that fails.
 */
static bool
prepare(Server *server)
{
	for (size_t i = 0; i < sizeof(statements) / sizeof(statements[0]); i++)
	{
		PGresult   *res = PQprepare(server->conn, statements[i].name, statements[i].sql,
									statements[i].nparams, NULL);

		if (PQresultStatus(res) != PGRES_COMMAND_OK)
		{
			const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
			const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

			feed_error("could not prepare the feeder's statements: %s",
					   msg ? msg : PQerrorMessage(server->conn));
			if (state && (strcmp(state, "3F000") == 0 || strcmp(state, "42883") == 0))
				feed_hint("Install the extension in this database: CREATE EXTENSION sessionize (0.3 or later).");
			PQclear(res);
			return false;
		}
		PQclear(res);
	}
	return true;
}

/*
 * libpq_message: libpq's message, malloc'd, without its final newline.
 * Its other line breaks stay, as psql shows them: a message of several
 * lines puts each sentence on a line of its own, the lines after the
 * first indented by a tab ("...failed: No such file or directory\n\tIs
 * the server running locally...?").
 */
static char *
libpq_message(const char *message)
{
	size_t		len = strlen(message);
	char	   *out;

	while (len > 0 && (message[len - 1] == '\n' || message[len - 1] == '\r' ||
					   message[len - 1] == ' ' || message[len - 1] == '\t'))
		len--;
	out = feed_malloc(len + 1);
	memcpy(out, message, len);
	out[len] = '\0';
	return out;
}

/*
 * connect_once: one attempt; false with *why set (malloc'd) on failure.
 */
static bool
connect_once(Server *server, char **why)
{
	if (server->conn != NULL)
		PQfinish(server->conn);
	server->conn = PQconnectdbParams(server->keywords, server->values, 1);
	if (server->conn == NULL)
	{
		*why = feed_strdup("out of memory");
		return false;
	}
	if (PQstatus(server->conn) != CONNECTION_OK)
	{
		*why = libpq_message(PQerrorMessage(server->conn));
		return false;
	}
	PQsetNoticeReceiver(server->conn, notice_receiver, server);
	return true;
}

/*
 * server_connect: connect with opts (libpq's defaults and PG* variables
 * for what they leave out) to feed stream.  A failure is an error: the
 * feeder retries only a connection it once had.
 */
Server *
server_connect(const ConnOptions *opts, const char *stream)
{
	Server	   *server = feed_malloc(sizeof(Server));
	int			n = 0;
	char	   *why;

	memset(server, 0, sizeof(Server));
	server->stream = feed_strdup(stream);
	/* dbname first: expand_dbname reads a conninfo there, later ones win */
	if (opts->dbname)
	{
		server->keywords[n] = "dbname";
		server->values[n++] = opts->dbname;
	}
	if (opts->host)
	{
		server->keywords[n] = "host";
		server->values[n++] = opts->host;
	}
	if (opts->port)
	{
		server->keywords[n] = "port";
		server->values[n++] = opts->port;
	}
	if (opts->user)
	{
		server->keywords[n] = "user";
		server->values[n++] = opts->user;
	}
	server->keywords[n] = "fallback_application_name";
	server->values[n++] = FEED_PROGNAME;
	/* JSON text is UTF-8 (RFC 8259); the server converts it */
	server->keywords[n] = "client_encoding";
	server->values[n++] = "UTF8";
	server->keywords[n] = NULL;
	server->values[n] = NULL;

	if (!connect_once(server, &why))
	{
		feed_error("could not connect: %s", why);
		free(why);
		server_close(server);
		return NULL;
	}
	if (!prepare(server))
	{
		server_close(server);
		return NULL;
	}
	return server;
}

/*
 * sleep_ms: sleep, or less if a signal comes.
 */
static void
sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000L};

	(void) nanosleep(&ts, NULL);
}

/*
 * server_reconnect: connect again, after a lost connection, waiting
 * longer after each failed attempt (up to RECONNECT_MAX_MS), as long as it
 * takes (a server restarting, a failover).  false when *stop was set
 * meanwhile, or the statements could not be prepared.
 */
bool
server_reconnect(Server *server, volatile sig_atomic_t *stop)
{
	int			wait = RECONNECT_FIRST_MS;

	for (;;)
	{
		char	   *why = NULL;

		if (*stop)
			return false;
		if (connect_once(server, &why))
			return prepare(server);
		feed_warning("could not connect (trying again in %.1f s): %s", wait / 1000.0, why);
		free(why);
		sleep_ms(wait);
		wait = wait * 2 > RECONNECT_MAX_MS ? RECONNECT_MAX_MS : wait * 2;
	}
}

/*
 * server_lost: whether the connection is gone.
 */
bool
server_lost(Server *server)
{
	return server->conn == NULL || PQstatus(server->conn) != CONNECTION_OK;
}

/*
 * field_dup: an error field, malloc'd, or NULL.
 */
static char *
field_dup(const PGresult *res, int field)
{
	const char *v = res ? PQresultErrorField(res, field) : NULL;

	return v ? feed_strdup(v) : NULL;
}

/*
 * element_named: the element index N of a message "event N of the batch
 * ...", or -1 (src/batch.c: every error of one element of a JSON batch
 * begins so).
 */
static int
element_named(const char *message)
{
	static const char prefix[] = "event ";
	static const char suffix[] = " of the batch";
	const char *p;
	long		n = 0;

	if (message == NULL || strncmp(message, prefix, sizeof(prefix) - 1) != 0)
		return -1;
	p = message + sizeof(prefix) - 1;
	if (*p < '0' || *p > '9')
		return -1;
	while (*p >= '0' && *p <= '9' && n < 1000000000L)
		n = n * 10 + (*p++ - '0');
	if (strncmp(p, suffix, sizeof(suffix) - 1) != 0)
		return -1;
	return (int) n;
}

/*
 * classify: what result res of a statement means, into *result.
 */
static void
classify(Server *server, PGresult *res, ApplyResult *result)
{
	const char *state;
	int			element;

	memset(result, 0, sizeof(ApplyResult));
	if (res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK)
	{
		result->status = APPLY_OK;
		return;
	}
	state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	if (state != NULL)
		memcpy(result->sqlstate, state, 5);
	result->message = field_dup(res, PG_DIAG_MESSAGE_PRIMARY);
	result->detail = field_dup(res, PG_DIAG_MESSAGE_DETAIL);
	result->hint = field_dup(res, PG_DIAG_MESSAGE_HINT);
	if (result->message == NULL)
	{
		/* no error from the server: libpq's own (the connection) */
		result->message = libpq_message(PQerrorMessage(server->conn));
	}

	/*
	 * Connection exceptions (08), and the server shutting down or not yet
	 * up (57P01, 57P02, 57P03): the statement's outcome is unknown.  A
	 * serialization failure (40001: a partition that moved to another
	 * node while the batch waited for it, through sessionize_proxy) or a
	 * deadlock (40P01) applied nothing: the same, sent again after
	 * reading the committed offsets anew.
	 */
	if (server_lost(server) || strncmp(result->sqlstate, "08", 2) == 0 ||
		strncmp(result->sqlstate, "57P0", 4) == 0 ||
		strcmp(result->sqlstate, "40001") == 0 || strcmp(result->sqlstate, "40P01") == 0)
	{
		result->status = APPLY_LOST;
		return;
	}
	/*
	 * The data errors: 22 (data exception), 23 (a domain), 54 (too long),
	 * P0 (raised by a PL/pgSQL function of a domain's CHECK), as the
	 * server's dead letters.
	 */
	if (strncmp(result->sqlstate, "22", 2) == 0 ||
		strncmp(result->sqlstate, "23", 2) == 0 ||
		strncmp(result->sqlstate, "54", 2) == 0 ||
		strncmp(result->sqlstate, "P0", 2) == 0)
	{
		element = element_named(result->message);
		if (element >= 0)
		{
			result->status = APPLY_ELEMENT;
			result->element = element;
		}
		else
			result->status = APPLY_DATA;
		return;
	}
	result->status = APPLY_ERROR;
}

/*
 * apply_result_clear: free what a result holds.
 */
void
apply_result_clear(ApplyResult *result)
{
	free(result->message);
	free(result->detail);
	free(result->hint);
	memset(result, 0, sizeof(ApplyResult));
}

/*
 * server_committed: the offset committed for source (*found false when
 * none); false with *result set when the statement failed.
 */
bool
server_committed(Server *server, const char *source, bool *found, int64_t *offset,
				 ApplyResult *result)
{
	const char *params[2] = {server->stream, source};
	PGresult   *res = PQexecPrepared(server->conn, STMT_COMMITTED, 2, params, NULL, NULL, 0);

	classify(server, res, result);
	if (result->status == APPLY_OK)
	{
		*found = !PQgetisnull(res, 0, 0);
		*offset = *found ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
	}
	PQclear(res);
	return result->status == APPLY_OK;
}

/*
 * server_register: make offset the one committed for source, a source new
 * to the stream, of the stream's partition: from here on it holds that
 * partition's clock until it sends (see the server's src/offsets.c).  It
 * is an empty batch at offset, not set_offset: skipped when the source
 * has committed offset or later meanwhile (another feeder of the same
 * input), so that no committed offset moves back and nothing is applied
 * twice; and it waits only for the calls on its partition (set_offset
 * waits for every call on the stream).  The caller reads the committed
 * offset again.  false with *result set when the statement failed.
 */
bool
server_register(Server *server, const char *source, int64_t offset, int partition,
				ApplyResult *result)
{
	char		offset_text[32];
	char		partition_text[16];
	const char *params[4] = {server->stream, source, offset_text, partition_text};
	PGresult   *res;

	snprintf(offset_text, sizeof(offset_text), "%lld", (long long) offset);
	snprintf(partition_text, sizeof(partition_text), "%d", partition);
	res = PQexecPrepared(server->conn, STMT_REGISTER, 4, params, NULL, NULL, 0);
	server->skipped_notice = false;
	classify(server, res, result);
	PQclear(res);
	return result->status == APPLY_OK;
}

/*
 * server_partitions: the stream's number of partitions, 0 when the
 * stream does not exist (or is not the current role's to use: the catalog
 * shows a role the streams it may use), -1 with *result set on failure.
 */
int
server_partitions(Server *server, ApplyResult *result)
{
	const char *params[1] = {server->stream};
	PGresult   *res = PQexecParams(server->conn,
								   "SELECT s.partitions FROM sessionize.streams s"
								   " WHERE s.name OPERATOR(pg_catalog.=) $1::pg_catalog.text",
								   1, NULL, params, NULL, NULL, 0);
	int			n = -1;

	classify(server, res, result);
	if (result->status == APPLY_OK)
		n = PQntuples(res) == 0 ? 0 : atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	return n;
}

/*
 * server_apply: send batch (its events, offsets first to last) from
 * source to the stream's partition; the outcome in *result.  A batch with
 * no good line is sent too, empty: it commits its offsets (those of lines
 * set aside).
 */
void
server_apply(Server *server, const char *source, int partition, Batch *batch,
			 ApplyResult *result)
{
	char		offset[24],
				first[24],
				part[16];
	size_t		len;
	const char *params[6];
	PGresult   *res;

	snprintf(offset, sizeof(offset), "%lld", (long long) batch->last);
	snprintf(first, sizeof(first), "%lld", (long long) batch->first);
	snprintf(part, sizeof(part), "%d", partition);
	params[0] = server->stream;
	params[1] = batch_json(batch, &len);
	params[2] = source;
	params[3] = offset;
	params[4] = part;
	params[5] = first;

	server->skipped_notice = false;
	res = PQexecPrepared(server->conn, STMT_BATCH, 6, params, NULL, NULL, 0);
	classify(server, res, result);
	if (result->status == APPLY_OK)
	{
		result->sessions = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		result->skipped = server->skipped_notice;
	}
	PQclear(res);
}

/*
 * server_check_json: whether the server reads msg as jsonb; false with
 * *result set to its error (or to a lost connection) if not.
 */
bool
server_check_json(Server *server, const char *msg, size_t len, ApplyResult *result)
{
	char	   *text = feed_malloc(len + 1);
	const char *params[1] = {text};
	PGresult   *res;

	memcpy(text, msg, len);
	text[len] = '\0';
	res = PQexecPrepared(server->conn, STMT_JSON, 1, params, NULL, NULL, 0);
	classify(server, res, result);
	PQclear(res);
	free(text);
	return result->status == APPLY_OK;
}

/*
 * server_close: close the connection, free the server.
 */
void
server_close(Server *server)
{
	if (server->conn != NULL)
		PQfinish(server->conn);
	free(server->stream);
	free(server);
}
