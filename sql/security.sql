-- security: no code that a caller controls runs with the privileges of the
-- extension's owner.  A role with LOGIN and a schema of its own, and
-- nothing else, owns a domain key type whose CHECK, a composite key type
-- with that domain, a sink whose trigger and column default, and an update
-- function, each recording current_user and trying to make the role a
-- superuser.  Every entry point is driven through them: every recorded
-- user must be the caller, and the role must never become superuser.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';

CREATE ROLE regress_mallory LOGIN;
CREATE SCHEMA mal AUTHORIZATION regress_mallory;
SET ROLE regress_mallory;

-- probe(what): try ALTER ROLE ... SUPERUSER (it succeeds only with a
-- superuser's privileges), then record who ran it and whether the role is
-- superuser now.
CREATE TABLE mal.log (what text, who name, superuser boolean);
CREATE FUNCTION mal.probe(what text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        EXECUTE 'ALTER ROLE regress_mallory SUPERUSER';
    EXCEPTION WHEN insufficient_privilege THEN
        NULL;
    END;
    INSERT INTO mal.log
    SELECT what, current_user, rolsuper FROM pg_roles WHERE rolname = 'regress_mallory';
    RETURN true;
END
$$;

-- run(sql): run one call, then show what it probed, by whom.
CREATE FUNCTION mal.run(sql text)
RETURNS TABLE (what text, who name, superuser boolean, times bigint)
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM mal.log;
    EXECUTE sql;
    RETURN QUERY SELECT l.what, l.who, l.superuser, count(*)
                   FROM mal.log l GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
END
$$;

-- The key types: a domain whose CHECK probes, and a composite with it.
CREATE DOMAIN mal.dkey AS text CHECK (mal.probe('domain check'));
CREATE TYPE mal.ckey AS (tenant mal.dkey, id integer);

-- The sink: a column default and a trigger that probe.
CREATE TABLE mal.sink (
    key            text,
    session_start  timestamptz,
    session_end    timestamptz,
    event_count    integer,
    end_reason     text,
    events         jsonb,
    probed         boolean DEFAULT mal.probe('sink default'));
CREATE FUNCTION mal.sink_probe() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM mal.probe('sink trigger');
    RETURN NEW;
END
$$;
CREATE TRIGGER probe BEFORE INSERT ON mal.sink
    FOR EACH ROW EXECUTE FUNCTION mal.sink_probe();

-- The update function of a custom state: it counts events, and probes.
CREATE FUNCTION mal.count_events(key text, events jsonb, state jsonb, timed_out boolean)
RETURNS sessionize.state_update LANGUAGE plpgsql AS $$
BEGIN
    PERFORM mal.probe(CASE WHEN timed_out THEN 'update function, timed out'
                           ELSE 'update function' END);
    RETURN ROW(jsonb_build_object('n', coalesce((state->>'n')::int, 0)
                                       + jsonb_array_length(events)),
               NULL)::sessionize.state_update;
END
$$;

SELECT sessionize.create_stream('d', key_type => 'mal.dkey', gap => '1 hour', sink => 'mal.sink');
SELECT sessionize.create_stream('c', key_type => 'mal.ckey', gap => '1 hour', sink => 'mal.sink');
SELECT sessionize.create_stream('u', key_type => 'mal.dkey', gap => '1 hour', sink => 'mal.sink',
                                update_function => 'mal.count_events(text, jsonb, jsonb, boolean)');

-- The stream's tables belong to the role that created it, like any table
-- it creates: what PostgreSQL runs as a table's owner (ANALYZE, VACUUM
-- FULL, REINDEX, autovacuum) runs as that role.
SELECT s.name, c.relname = s.state_table AS state_table,
       pg_get_userbyid(c.relowner) AS owner
  FROM sessionize.streams s
  JOIN pg_class c ON c.relname IN (s.state_table, s.state_table || '_chunks')
 ORDER BY 1, 2;

-- The JSON form: each key is read (and its domain checked) as the caller;
-- a finished session goes to the sink as the caller.
SELECT * FROM mal.run($$SELECT * FROM sessionize.sessionize_batch('d', '[
    {"id": "a", "ts": "2026-01-01T10:00:00Z"},
    {"id": "a", "ts": "2026-01-01T10:01:00Z", "isLast": true},
    {"id": "b", "ts": "2026-01-01T10:02:00Z"}]', 'src', 1)$$);
SELECT * FROM mal.run($$SELECT * FROM sessionize.sessionize_batch('c', '[
    {"id": "(t1,7)", "ts": "2026-01-01T10:00:00Z", "isLast": true},
    {"id": "(t2,8)", "ts": "2026-01-01T10:02:00Z"}]')$$);
SELECT * FROM mal.run($$SELECT * FROM sessionize.sessionize_batch('u', '[
    {"id": "a", "ts": "2026-01-01T10:00:00Z"},
    {"id": "b", "ts": "2026-01-01T10:02:00Z"}]')$$);

-- The typed form.
SELECT * FROM mal.run($$SELECT * FROM sessionize.sessionize_batch('d',
    ARRAY['b', 'e']::mal.dkey[], ARRAY['2026-01-01T10:03:00Z', '2026-01-01T10:04:00Z']::timestamptz[],
    ARRAY[true, false], ARRAY['{}', '{}']::jsonb[])$$);
SELECT * FROM mal.run($$SELECT * FROM sessionize.sessionize_batch('c',
    ARRAY['(t2,8)']::mal.ckey[], ARRAY['2026-01-01T10:05:00Z']::timestamptz[],
    ARRAY[false], ARRAY['{}']::jsonb[])$$);

-- The query form: the key is cast to the key type in the caller's query.
SELECT * FROM mal.run($$SELECT * FROM sessionize.sessionize_query('d',
    $q$SELECT 'f' AS id, timestamptz '2026-01-01T10:06:00Z' AS ts, true AS "isLast"$q$)$$);
SELECT * FROM mal.run($$SELECT * FROM sessionize.sessionize_query('u',
    $q$SELECT 'a' AS id, timestamptz '2026-01-01T10:07:00Z' AS ts$q$)$$);

-- Readers and settings.
SELECT * FROM mal.run($$SELECT * FROM sessionize.open_sessions('d')$$);
SELECT * FROM mal.run($$SELECT * FROM sessionize.open_sessions('c')$$);
SELECT * FROM mal.run($$SELECT sessionize.committed_offset('d', 'src')$$);
SELECT * FROM mal.run($$SELECT sessionize.alter_stream('d', 'gap', '2 hours')$$);
SELECT * FROM mal.run($$SELECT sessionize.alter_stream('c', 'sink', 'mal.sink')$$);

-- key_index switches a state table's key index through statements run as
-- the extension's owner, on a table the owner may have changed: here its
-- key and part made nullable and a CHECK that probes added, and a child
-- table of the owner's inheriting it, with the same.  ALTER TABLE ... ADD
-- PRIMARY KEY would evaluate those CHECKs (making the columns NOT NULL)
-- as the extension's owner; the switch runs none of them, either way.
CREATE FUNCTION mal.iprobe(n integer) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN mal.probe('CHECK of a state table');
END
$$;
SELECT sessionize.create_stream('ki');
SELECT count(*) FROM sessionize.sessionize_batch('ki', '[{"id": "a", "ts": "2026-01-01T10:00:00Z"}]');
SELECT format('sessionize.%I', state_table) AS ki_table FROM sessionize.streams WHERE name = 'ki' \gset
ALTER TABLE :ki_table ALTER key DROP NOT NULL, ALTER part DROP NOT NULL,
    ADD CONSTRAINT probing CHECK (mal.iprobe(1));
CREATE TABLE mal.ki_child () INHERITS (:ki_table);
ALTER TABLE mal.ki_child ALTER key DROP NOT NULL, ALTER part DROP NOT NULL,
    ADD CONSTRAINT probing_child CHECK (mal.iprobe(2));
SELECT * FROM mal.run($$SELECT sessionize.alter_stream('ki', 'key_index', 'btree')$$);
SELECT * FROM mal.run($$SELECT sessionize.alter_stream('ki', 'key_index', NULL)$$);
SELECT * FROM mal.run($$SELECT sessionize.alter_stream('ki', 'key_index', 'btree')$$);
SELECT key, event_count FROM sessionize.sessionize_batch('ki',
  '[{"id": "a", "ts": "2026-01-01T10:01:00Z", "isLast": true}]');
DROP TABLE mal.ki_child;
SELECT sessionize.drop_stream('ki');

-- The clock: expire and flush end sessions (and offer states to the
-- update function) as the caller.
SELECT * FROM mal.run($$SELECT * FROM sessionize.expire('d', '2026-01-01T13:00:00Z')$$);
SELECT * FROM mal.run($$SELECT * FROM sessionize.expire('u', '2026-01-01T13:00:00Z')$$);
SELECT * FROM mal.run($$SELECT * FROM sessionize.sessionize_batch('u', '[
    {"id": "g", "ts": "2026-01-01T14:00:00Z"}]')$$);
SELECT * FROM mal.run($$SELECT * FROM sessionize.flush('c')$$);
SELECT * FROM mal.run($$SELECT * FROM sessionize.flush('u')$$);

-- The aggregate.
SELECT * FROM mal.run($$SELECT k, sessionize.sessions(ts, false, '{}', '1 hour')
                          FROM (VALUES ('a'::mal.dkey, timestamptz '2026-01-01T10:00:00Z')) AS e(k, ts)
                         GROUP BY k$$);

-- Every session reached the sink once, through the caller's default and trigger.
SELECT key, session_start, event_count, end_reason, probed
  FROM mal.sink ORDER BY session_start, key, end_reason;

-- drop_stream.
SELECT * FROM mal.run($$SELECT sessionize.drop_stream('d')$$);
SELECT * FROM mal.run($$SELECT sessionize.drop_stream('c')$$);

-- A stream's tables changed by hand (they are the owner's to change) stop
-- that stream with an error naming the change, never a crash.  Stream k
-- has a long session, whose older events are in a chunk.
SELECT sessionize.create_stream('k', gap => '1 hour');
SELECT count(*) FROM sessionize.sessionize_batch('k',
    (SELECT jsonb_agg(jsonb_build_object('id', 'h', 'n', i,
                      'ts', timestamptz '2026-01-01T10:00:00Z' + i * interval '1 second'))
       FROM generate_series(1, 130) AS i));
SELECT state_table AS k_table FROM sessionize.streams WHERE name = 'k' \gset
SELECT (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM sessionize.%I',
                                                  :'k_table' || '_chunks'), false, true, '')))[1]::text AS chunks;

-- try_altered(alter_sql): make the change, feed k and read it, report
-- what happened, and undo the change.
CREATE FUNCTION mal.try_altered(alter_sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    result text;
    detail text;
BEGIN
    BEGIN
        EXECUTE alter_sql;
        PERFORM * FROM sessionize.sessionize_batch('k', '[{"id": "h", "ts": "2026-01-01T10:05:00Z"}]');
        PERFORM * FROM sessionize.open_sessions('k');
        result := 'ok';
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
        result := SQLSTATE || ': ' || SQLERRM || coalesce(' ' || nullif(detail, ''), '');
    END;
    RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = result;
EXCEPTION WHEN raise_exception THEN
    RETURN regexp_replace(SQLERRM, 'state_\d+', 'state_N', 'g');  -- the change undone
END
$$;
SELECT label, mal.try_altered(format(sql, :'k_table')) FROM (VALUES
  ('events to text',      'ALTER TABLE sessionize.%I ALTER events TYPE text'),
  ('key to varchar',      'ALTER TABLE sessionize.%I ALTER key TYPE varchar'),
  ('a column added',      'ALTER TABLE sessionize.%I ADD COLUMN extra int'),
  ('a column dropped',    'ALTER TABLE sessionize.%I DROP COLUMN chunks'),
  ('key index dropped',   'DROP INDEX sessionize.%I_key'),
  ('chunk seq to bigint', 'ALTER TABLE sessionize.%I_chunks ALTER seq TYPE bigint'),
  ('chunk key dropped',   'ALTER TABLE sessionize.%1$I_chunks DROP CONSTRAINT %1$I_chunks_pkey'),
  ('an index added',      'ALTER TABLE sessionize.%I ADD UNIQUE (first_ts)'),
  ('an expression index', 'ALTER TABLE sessionize.%I ADD EXCLUDE ((lower(key)) WITH =)')
) AS t(label, sql);

-- Undone, the stream works on.
SELECT key, event_count, end_reason FROM sessionize.flush('k');
SELECT * FROM mal.run($$SELECT sessionize.drop_stream('k')$$);
SELECT * FROM mal.run($$SELECT sessionize.drop_stream('u')$$);

RESET ROLE;

-- A key type compared by a role's PL/pgSQL function is refused, also
-- inside a composite or a range: a superuser wired the role's function
-- into an operator class, and the role can replace its body at will.
SET ROLE regress_mallory;
CREATE TYPE mal.pair AS (a integer, b integer);
CREATE FUNCTION mal.pair_cmp(x mal.pair, y mal.pair) RETURNS integer LANGUAGE plpgsql AS $$
BEGIN
    PERFORM mal.probe('comparison');
    RETURN btrecordcmp(x, y);
END
$$;
CREATE FUNCTION mal.pair_lt(x mal.pair, y mal.pair) RETURNS boolean LANGUAGE sql
    AS 'SELECT mal.pair_cmp(x, y) < 0';
CREATE FUNCTION mal.pair_le(x mal.pair, y mal.pair) RETURNS boolean LANGUAGE sql
    AS 'SELECT mal.pair_cmp(x, y) <= 0';
CREATE FUNCTION mal.pair_eq(x mal.pair, y mal.pair) RETURNS boolean LANGUAGE sql
    AS 'SELECT mal.pair_cmp(x, y) = 0';
CREATE FUNCTION mal.pair_ge(x mal.pair, y mal.pair) RETURNS boolean LANGUAGE sql
    AS 'SELECT mal.pair_cmp(x, y) >= 0';
CREATE FUNCTION mal.pair_gt(x mal.pair, y mal.pair) RETURNS boolean LANGUAGE sql
    AS 'SELECT mal.pair_cmp(x, y) > 0';
CREATE OPERATOR mal.< (LEFTARG = mal.pair, RIGHTARG = mal.pair, FUNCTION = mal.pair_lt);
CREATE OPERATOR mal.<= (LEFTARG = mal.pair, RIGHTARG = mal.pair, FUNCTION = mal.pair_le);
CREATE OPERATOR mal.= (LEFTARG = mal.pair, RIGHTARG = mal.pair, FUNCTION = mal.pair_eq);
CREATE OPERATOR mal.>= (LEFTARG = mal.pair, RIGHTARG = mal.pair, FUNCTION = mal.pair_ge);
CREATE OPERATOR mal.> (LEFTARG = mal.pair, RIGHTARG = mal.pair, FUNCTION = mal.pair_gt);
CREATE TYPE mal.wrapped AS (p mal.pair);
RESET ROLE;
CREATE OPERATOR CLASS mal.pair_ops DEFAULT FOR TYPE mal.pair USING btree AS
    OPERATOR 1 mal.<, OPERATOR 2 mal.<=, OPERATOR 3 mal.=, OPERATOR 4 mal.>=,
    OPERATOR 5 mal.>, FUNCTION 1 mal.pair_cmp(mal.pair, mal.pair);
SET ROLE regress_mallory;
CREATE TYPE mal.pairrange AS RANGE (subtype = mal.pair);
SELECT label, try(sql) FROM (VALUES
  ('the type',        $$SELECT sessionize.create_stream('p', key_type => 'mal.pair')$$),
  ('in a composite',  $$SELECT sessionize.create_stream('p', key_type => 'mal.wrapped')$$),
  ('in a range',      $$SELECT sessionize.create_stream('p', key_type => 'mal.pairrange')$$)
) AS t(label, sql);
SELECT sessionize.create_stream('p', key_type => 'mal.pair');

-- A temporary key type is refused: the state table would lose its key
-- column when the session ends.
CREATE DOMAIN pg_temp.tkey AS text;
SELECT try($$SELECT sessionize.create_stream('t', key_type => 'pg_temp.tkey')$$);
DROP DOMAIN pg_temp.tkey;

-- The stats views read each stream's open sessions (oldest_open_session)
-- as whoever reads them, a superuser too.  A stream's tables are its
-- owner's: one turned into a view (emptied, its indexes dropped, a
-- _RETURN rule), or given row security, is not read (NULL), so that
-- reading the views runs none of the owner's code.  (PostgreSQL 16 and
-- later refuse an ON SELECT rule on a table, so there the table stays a
-- table: expected/security_1.out.)
SELECT sessionize.create_stream('peek');
SELECT sessionize.create_stream('peek_rls');
SELECT count(*) FROM sessionize.sessionize_batch('peek_rls', '[{"id": "a", "ts": "2026-01-01T10:00:00Z"}]');
SELECT format('sessionize.%I', state_table) AS peek_table,
       format('sessionize.%I', state_table || '_key') AS peek_key
  FROM sessionize.streams WHERE name = 'peek' \gset
SELECT format('sessionize.%I', state_table) AS rls_table
  FROM sessionize.streams WHERE name = 'peek_rls' \gset
DROP INDEX :peek_key;
VACUUM :peek_table;
CREATE RULE "_RETURN" AS ON SELECT TO :peek_table DO INSTEAD
  SELECT 'k'::text COLLATE "C" AS key, 0 AS part, now() AS first_ts, 0 AS chunks,
         now() AS deadline, now() AS last_ts, 1 AS event_count, '\x'::bytea AS events
   WHERE mal.probe('stats view');
ALTER TABLE :rls_table ENABLE ROW LEVEL SECURITY;
CREATE POLICY peek ON :rls_table USING (mal.probe('row security'));
RESET ROLE;
DELETE FROM mal.log;
SELECT stream, sessions_open, oldest_open_session FROM sessionize.stats
 WHERE stream LIKE 'peek%' ORDER BY 1;
SELECT stream, oldest_open_session FROM sessionize.partition_stats
 WHERE stream LIKE 'peek%' ORDER BY 1;
SELECT count(*) AS probed FROM mal.log;
SET ROLE regress_mallory;
SELECT sessionize.drop_stream(s) FROM unnest(ARRAY['peek', 'peek_rls']) s;

SELECT count(*) AS streams_left FROM sessionize.streams;
RESET ROLE;

-- The tables made for a stream go where the database's go, as heap,
-- whatever default_tablespace and default_table_access_method the caller
-- set: the extension's owner makes them, and would otherwise put them in
-- a tablespace the caller may not create in.
SET allow_in_place_tablespaces = on;
CREATE TABLESPACE regress_sessionize_ts LOCATION '';
SET ROLE regress_mallory;
SET default_tablespace = regress_sessionize_ts;
SELECT try('CREATE TABLE mal.in_ts (x int)');
SELECT sessionize.create_stream('ts_probe');
SELECT sessionize.alter_stream('ts_probe', 'key_index', 'btree');
SELECT regexp_replace(c.relname, '^state_[0-9]+', 'state_N') AS relation, c.relkind,
       c.reltablespace = 0 AS default_tablespace
  FROM pg_class c JOIN sessionize.streams s ON c.relname LIKE s.state_table || '%'
 WHERE s.name = 'ts_probe' AND c.relnamespace = 'sessionize'::regnamespace
 ORDER BY 1, 2;
SELECT sessionize.drop_stream('ts_probe');
RESET default_tablespace;
RESET ROLE;
DROP TABLESPACE regress_sessionize_ts;

-- Nothing ran as anyone but the caller, and the role is no superuser.
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_mallory';
SET client_min_messages = warning;
DROP SCHEMA mal CASCADE;
DROP ROLE regress_mallory;
RESET client_min_messages;
