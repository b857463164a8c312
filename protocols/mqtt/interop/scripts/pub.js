'use strict';

// pub.js: an mqtt.js client publishes --count messages. Message i (i from
// --start) goes to --topics[i % len] with body "<body-prefix>-<i>" (or
// --body), at --qos,
// retained with --retain, with --user-props as MQTT 5 user properties.
//
// stdout lines:
//   {"type":"connected", sessionPresent, protocolVersion}
//   {"type":"connect_error", error:{name, message, code}}   (then exit 1)
//   {"type":"sent", seq, topic, body, qos}      settled: written (QoS 0), PUBACK (1), PUBCOMP (2)
//   {"type":"publish_error", seq, topic, error} (the rest is still attempted; exit 2)
//   {"type":"done", sent, errors, elapsedMs}
//   {"type":"fatal", error}

const c = require('./lib/common');

const spec = Object.assign({}, c.mqttSpec, {
  topics: { type: 'list', required: true, help: 'topics, used in turn' },
  count: { type: 'int', def: 10, help: 'number of messages' },
  start: { type: 'int', def: 0, help: 'first sequence number' },
  qos: { type: 'int', def: 1, help: 'QoS 0, 1 or 2' },
  retain: { type: 'bool', def: false, help: 'publish retained' },
  'body-prefix': { def: 'msg', help: 'message i gets body <body-prefix>-<i>' },
  body: { def: null, help: 'every message gets exactly this body (an empty one clears a retained message)' },
  'user-props': { type: 'json', def: null, help: 'MQTT 5 user properties, a JSON object' },
  'content-type': { def: '', help: 'MQTT 5 content type' },
  'interval-ms': { type: 'int', def: 0, help: 'pause between publishes' },
  window: { type: 'int', def: 1, help: 'publishes outstanding at once' },
  'publish-timeout-ms': { type: 'int', def: 10000, help: 'bound on one publish settling' },
});

c.main('pub.js', 'Publish messages with an mqtt.js client.', spec, async opts => {
  c.hardDeadline(opts.timeoutMs);
  let conn;
  try {
    conn = await c.connect(opts);
  } catch (err) {
    c.out({ type: 'connect_error', error: c.errorInfo(err) });
    c.exit(c.EXIT_FATAL);
    return;
  }
  const { client, connack } = conn;
  client.on('error', err => console.error('[pub] client error:', err.message));
  c.out({ type: 'connected', sessionPresent: !!connack.sessionPresent, protocolVersion: opts.protocolVersion });

  const props = {};
  if (opts.userProps) props.userProperties = opts.userProps;
  if (opts.contentType) props.contentType = opts.contentType;
  const begin = Date.now();
  let sent = 0;
  let errors = 0;
  const publishOne = async i => {
    const topic = opts.topics[(i - opts.start) % opts.topics.length];
    const body = opts.body !== null ? opts.body : `${opts.bodyPrefix}-${i}`;
    const po = { qos: opts.qos, retain: opts.retain };
    if (opts.protocolVersion === 5 && Object.keys(props).length) po.properties = props;
    try {
      await c.withTimeout(client.publishAsync(topic, body, po), opts.publishTimeoutMs, `publish of message ${i}`);
      sent++;
      c.out({ type: 'sent', seq: i, topic, body, qos: opts.qos });
    } catch (err) {
      errors++;
      c.out({ type: 'publish_error', seq: i, topic, error: c.errorInfo(err) });
    }
  };
  const inflight = new Set();
  for (let i = opts.start; i < opts.start + opts.count; i++) {
    const p = publishOne(i).finally(() => inflight.delete(p));
    inflight.add(p);
    if (inflight.size >= Math.max(1, opts.window)) await Promise.race(inflight);
    if (opts.intervalMs > 0) await c.sleep(opts.intervalMs);
  }
  await Promise.all(inflight);
  const elapsedMs = Date.now() - begin;
  try {
    await c.withTimeout(client.endAsync(), 5000, 'DISCONNECT');
  } catch (err) {
    c.out({ type: 'done', sent, errors, elapsedMs });
    c.fatal(err, c.EXIT_CLOSE);
    return;
  }
  c.out({ type: 'done', sent, errors, elapsedMs });
  c.exit(errors ? c.EXIT_PARTIAL : c.EXIT_OK);
});
