#!/usr/bin/env node
// consumer.js: feed a sessionize stream from kcat's output, exactly once,
// with node-postgres (npm install pg).  demo/consumer.py, in JavaScript.
//
//     kcat -C -b BROKER -t clicks -o beginning -f '%p %o %s\n' \
//         | node demo/consumer.js user_events clicks
//
// Each line is "partition offset message", the message a JSON event.  Every
// batch holds messages of one Kafka partition, and is sent with the typed
// form of sessionize_batch (keys, ts, is_last and payloads as parallel
// arrays), that partition's source ("clicks-<p>"), the offset of its last
// message (batch_offset) and of its first (first_offset).  A message at or
// before the committed offset is not sent again: killed at any moment and
// run again on the same input, every event is applied once.  (With Kafka
// itself, seek each partition to committed_offset + 1 when the consumer
// starts instead of reading from the beginning.)
//
// The stream's settings say where the key, time and isLast of an event are
// (key_field, ts_field, last_field) and how to read them.  node-postgres
// sends every parameter as text of type unknown, so each array is cast:
// keys to the stream's key type from their text, as the JSON form reads
// them (so a key that type cannot read fails its batch, even with a
// dead_letter table; and numbers past 2^53 lose precision in JavaScript:
// send such keys as JSON strings); times are ISO 8601 strings read in the
// stream's time_zone, or epoch numbers in its ts_unit.  The payload is the
// message as it was sent.  Offsets are bigint: node-postgres returns them as
// strings, compared here as BigInt.  The connection comes from the usual
// PG* variables.
'use strict';

const readline = require('node:readline');
const { Client } = require('pg');

const BATCH_SIZE = 1000;
const MICROSECONDS = { s: 1000000, ms: 1000, us: 1 };

async function main() {
  const [stream, topic] = process.argv.slice(2);
  if (!stream || !topic) {
    console.error('usage: node consumer.js STREAM TOPIC < kcat-output');
    process.exit(2);
  }
  const client = new Client();
  await client.connect();

  const { rows: [s] } = await client.query(
    `SELECT key_type::text AS key_type, key_field, ts_field, last_field, ts_unit, time_zone
       FROM sessionize.streams WHERE name = $1`, [stream]);
  if (!s) {
    throw new Error(`no stream "${stream}" that this role may use`);
  }
  if (s.time_zone !== null) {
    await client.query("SELECT pg_catalog.set_config('TimeZone', $1, false)", [s.time_zone]);
  }
  // key_type::text is the type's name as SQL reads it, quoted if need be.
  const batchSql = `SELECT key, session_start, event_count, end_reason
      FROM sessionize.sessionize_batch($1, $2::${s.key_type}[], $3::timestamptz[],
           $4::boolean[], $5::jsonb[], source => $6, batch_offset => $7, first_offset => $8)`;

  const committed = new Map(); // partition -> offset committed for its source (BigInt)
  const batches = new Map();   // partition -> {offsets, keys, times, isLast, messages}
  const source = (p) => `${topic}-${p}`;

  // An epoch number in ts_unit as ISO 8601 text, to the microsecond.
  const eventTime = (ts) => {
    if (typeof ts !== 'number') {
      return ts ?? null; // text: the server reads it (NULL: the batch fails, naming it)
    }
    const us = Math.round(ts * MICROSECONDS[s.ts_unit]);
    const ms = Math.floor(us / 1000);
    const iso = new Date(ms).toISOString(); // ...T10:00:00.123Z
    return `${iso.slice(0, -1)}${String(us - ms * 1000).padStart(3, '0')}Z`;
  };

  const send = async (p) => {
    const b = batches.get(p);
    batches.delete(p);
    if (!b || b.offsets.length === 0) {
      return;
    }
    const last = b.offsets[b.offsets.length - 1];
    const { rows } = await client.query(batchSql, [
      stream, b.keys, b.times, b.isLast, b.messages,
      source(p), last.toString(), b.offsets[0].toString()]);
    committed.set(p, last);
    for (const r of rows) {
      console.log([r.key, r.session_start.toISOString(), r.event_count, r.end_reason].join('\t'));
    }
  };

  const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    const m = /^(\d+) (\d+) (.*)$/s.exec(line);
    if (!m) {
      throw new Error(`not a "partition offset message" line: ${line.slice(0, 80)}`);
    }
    const p = Number(m[1]);
    const offset = BigInt(m[2]);
    const message = m[3];
    if (!committed.has(p)) {
      const { rows: [c] } = await client.query(
        'SELECT sessionize.committed_offset($1, $2) AS committed', [stream, source(p)]);
      committed.set(p, c.committed === null ? -1n : BigInt(c.committed));
    }
    if (offset <= committed.get(p)) {
      continue; // applied before: resume after the committed offset
    }
    const event = JSON.parse(message);
    const isLast = event[s.last_field];
    if (typeof isLast !== 'boolean' && isLast != null) {
      throw new Error(`partition ${p} offset ${offset}: ${s.last_field} is not a boolean`);
    }
    let key = event[s.key_field];
    if (key != null && typeof key !== 'string') {
      key = JSON.stringify(key); // a number's text, as the JSON form reads it
    }
    if (!batches.has(p)) {
      batches.set(p, { offsets: [], keys: [], times: [], isLast: [], messages: [] });
    }
    const b = batches.get(p);
    b.offsets.push(offset);
    b.keys.push(key ?? null);
    b.times.push(eventTime(event[s.ts_field]));
    b.isLast.push(isLast === true);
    b.messages.push(message);
    if (b.offsets.length >= BATCH_SIZE) {
      await send(p);
    }
  }
  for (const p of [...batches.keys()]) {
    await send(p);
  }
  await client.end();
}

main().catch((err) => {
  console.error(`consumer.js: ${err.message}`);
  process.exit(1);
});
