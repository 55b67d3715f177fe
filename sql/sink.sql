-- sink: every finished session is appended to the stream's sink, by
-- column name, in the transaction that finished it, whichever call did:
-- a batch, its clock, expire() or flush().
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';

-- Extra columns take their defaults; the key column may be of another
-- type the key can be assigned to (here the key is bigint, the column text).
CREATE TABLE sessions (
    id            bigserial PRIMARY KEY,
    events        jsonb NOT NULL,
    end_reason    text NOT NULL,
    event_count   bigint,
    session_end   timestamptz,
    session_start timestamptz,
    key           text,
    stored_at     timestamptz DEFAULT now()
);
SELECT sessionize.create_stream('sunk', key_type => 'bigint', gap => '30 minutes',
                                sink => 'sessions');

SELECT * FROM feed('sunk', '[
  {"id": 1, "n": 1, "ts": "2026-01-01T10:00:00Z"},
  {"id": 1, "n": 2, "ts": "2026-01-01T10:01:00Z", "isLast": true},
  {"id": 2, "n": 1, "ts": "2026-01-01T10:02:00Z"},
  {"id": 3, "n": 1, "ts": "2026-01-01T10:03:00Z"}]');
SELECT * FROM feed('sunk', '[{"id": 3, "n": 2, "ts": "2026-01-01T10:40:00Z"}]');
SELECT * FROM expire_at('sunk', '2026-01-01T11:10:00Z');
SELECT * FROM feed('sunk', '[{"id": 4, "n": 1, "ts": "2026-01-01T11:15:00Z"}]');
SELECT * FROM flush_all('sunk');

SELECT id, key, session_start, session_end, event_count, end_reason,
       jsonb_path_query_array(events, '$[*].n') AS labels, stored_at IS NOT NULL AS stamped
  FROM sessions ORDER BY id;

-- A batch rolled back takes its sink rows with it.
BEGIN;
SELECT * FROM feed('sunk', '[{"id": 5, "n": 1, "ts": "2026-01-01T12:00:00Z", "isLast": true}]');
SELECT count(*) FROM sessions;
ROLLBACK;
SELECT count(*) FROM sessions;

-- The sink's constraints and triggers apply.  A trigger that raises an
-- error fails the batch, and the stream is left as it was.
CREATE FUNCTION refuse_key_13() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.key = '13' THEN
        RAISE EXCEPTION 'the sink refuses key %', NEW.key;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER refuse_key_13 BEFORE INSERT ON sessions
    FOR EACH ROW EXECUTE FUNCTION refuse_key_13();
SELECT * FROM feed('sunk', '[{"id": 12, "n": 1, "ts": "2026-01-01T12:00:00Z"}]');
SELECT * FROM feed('sunk', '[
  {"id": 12, "n": 2, "ts": "2026-01-01T12:01:00Z", "isLast": true},
  {"id": 13, "n": 1, "ts": "2026-01-01T12:01:00Z", "isLast": true}]');
SELECT * FROM still_open('sunk');
SELECT events_in, open, last FROM counters('sunk');

-- A sink in use cannot be dropped, also not with its schema (an event
-- trigger refuses it).  One dropped anyway (a superuser disabled the
-- trigger) is an error that names the stream.
SELECT try('DROP TABLE sessions');
ALTER EVENT TRIGGER sessionize_refuse_drop DISABLE;
DROP TABLE sessions;
ALTER EVENT TRIGGER sessionize_refuse_drop ENABLE;
SELECT * FROM sessionize.sessionize_batch('sunk', '[{"id": 12, "ts": "2026-01-01T12:01:00Z", "isLast": true}]');
SELECT * FROM still_open('sunk');
SELECT sessionize.drop_stream('sunk');

-- A composite key type reaches a sink whole, in its key column (it was
-- once unnested into its fields, and the INSERT failed).
CREATE TYPE tenant_user AS (tenant text, user_id integer);
CREATE TABLE tenant_sessions (key tenant_user, session_start timestamptz,
                              session_end timestamptz, event_count integer,
                              end_reason text, events jsonb);
SELECT sessionize.create_stream('tenants', key_type => 'tenant_user', sink => 'tenant_sessions');
SELECT key, event_count, end_reason FROM sessionize.sessionize_batch('tenants', '[
  {"id": "(acme,7)", "ts": "2026-01-01T12:00:00Z"},
  {"id": "(acme,7)", "ts": "2026-01-01T12:01:00Z", "isLast": true},
  {"id": "(globex,7)", "ts": "2026-01-01T12:01:00Z", "isLast": true}]');
SELECT (key).tenant, (key).user_id, event_count, end_reason FROM tenant_sessions ORDER BY 1;
SELECT sessionize.drop_stream('tenants');
DROP TABLE tenant_sessions;
DROP TYPE tenant_user;

-- A call made during another (a sink trigger that feeds a second stream:
-- sessions of sessions) works with memory of its own: the first call's
-- is still in use.  Each session of 'visits' ends a one-event "visit" of
-- its user in 'daily', whose sink gets a session per user once flushed.
CREATE TABLE daily_sessions (key text, session_start timestamptz, session_end timestamptz,
                             event_count int, end_reason text, events jsonb);
CREATE TABLE visit_sessions (LIKE daily_sessions);
SELECT sessionize.create_stream('daily', sink => 'daily_sessions');
SELECT sessionize.create_stream('visits', gap => '30 minutes', sink => 'visit_sessions');
CREATE FUNCTION visit_to_daily() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM count(*) FROM sessionize.sessionize_batch('daily', jsonb_build_array(
        jsonb_build_object('id', NEW.key, 'ts', NEW.session_start, 'n', NEW.event_count)));
    RETURN NEW;
END
$$;
CREATE TRIGGER visit_to_daily AFTER INSERT ON visit_sessions
    FOR EACH ROW EXECUTE FUNCTION visit_to_daily();
SELECT key, event_count, end_reason FROM sessionize.sessionize_batch('visits', '[
  {"id": "u1", "ts": "2026-01-01T09:00:00Z"},
  {"id": "u1", "ts": "2026-01-01T09:10:00Z", "isLast": true},
  {"id": "u2", "ts": "2026-01-01T09:20:00Z", "isLast": true},
  {"id": "u1", "ts": "2026-01-01T11:00:00Z", "isLast": true}]') ORDER BY 1, 2;
SELECT key, event_count, jsonb_path_query_array(events, '$[*].n') AS visit_sizes
  FROM sessionize.flush('daily') ORDER BY key;
SELECT sessionize.drop_stream('visits');
SELECT sessionize.drop_stream('daily');
DROP TABLE visit_sessions, daily_sessions;
DROP FUNCTION visit_to_daily();

-- A sink may have any of the result columns, as long as it has key: one
-- that keeps no events (they are long) gets the others.
CREATE TABLE slim_sessions (key text, end_reason text, event_count int,
                            sunk_at timestamptz DEFAULT now());
SELECT sessionize.create_stream('slim', sink => 'slim_sessions');
SELECT count(*) FROM sessionize.sessionize_batch('slim', '[
  {"id": "a", "ts": "2026-01-01T12:00:00Z"},
  {"id": "a", "ts": "2026-01-01T12:01:00Z", "isLast": true}]');
SELECT key, end_reason, event_count, sunk_at IS NOT NULL AS defaulted FROM slim_sessions;
-- Without key it is refused.
CREATE TABLE keyless_sessions (events jsonb);
SELECT try($$SELECT sessionize.alter_stream('slim', 'sink', 'keyless_sessions')$$);
SELECT sessionize.drop_stream('slim');
DROP TABLE slim_sessions, keyless_sessions;

-- A key column that cannot hold the stream's keys is refused, with a hint
-- that names the stream's key_type: text keys do not go into an integer
-- column, whereas bigint keys go into a text one (above).
CREATE TABLE int_key_sessions (key integer, event_count int);
SELECT sessionize.create_stream('text_keys', sink => 'int_key_sessions');
SELECT sessionize.create_stream('text_keys');
SELECT sessionize.alter_stream('text_keys', 'sink', 'int_key_sessions');
SELECT sessionize.drop_stream('text_keys');
DROP TABLE int_key_sessions;

-- Dropping a schema with a sink in it is refused too; once the stream has
-- no sink, the table drops.
CREATE SCHEMA app;
CREATE TABLE app.app_sessions (key text);
SELECT sessionize.create_stream('app', sink => 'app.app_sessions');
SELECT try('DROP SCHEMA app CASCADE');
SELECT sessionize.alter_stream('app', 'sink', NULL);
DROP SCHEMA app CASCADE;
SELECT sessionize.drop_stream('app');
