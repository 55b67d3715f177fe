/* sessionize--0.3--0.4.sql: from 0.3 to 0.4 (ALTER EXTENSION sessionize UPDATE) */

\echo Use "ALTER EXTENSION sessionize UPDATE TO '0.4'" to load this file. \quit

/*
 * 0.4: one right answer, whoever feeds the stream.
 *
 * As 0.3's script says, a stream's owner may have added triggers and rules
 * to its tables: this script runs no DML on them as the superuser that
 * runs it.
 */
