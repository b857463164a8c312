'use strict';

// sub.js: an mqtt.js client subscribes to --topics (filters, shared
// subscriptions included) at --qos and prints every message.
//
// It runs until one of:
//   --expect N messages, then --linger-ms more (to catch duplicates)  -> exit 0
//   SIGTERM / SIGINT                                                 -> exit 0
//   --idle-ms without a message, counted from the subscription       -> exit 0, or 3 if --expect was not reached
//   --timeout-ms (hard bound)                                        -> exit 3
// and then disconnects cleanly.
//
// stdout lines:
//   {"type":"connected", sessionPresent}
//   {"type":"connect_error", error}                    (exit 1)
//   {"type":"subscribed", granted:[{topic, qos}]}      qos is the SUBACK code: 0..2 granted, >= 128 refused
//   {"type":"subscribe_error", error, granted}         (exit 2; granted: the SUBACK codes)
//   {"type":"msg", topic, body, qos, retain, dup, userProperties, contentType}
//   {"type":"closed", reason, count}
//   {"type":"fatal", error}

const c = require('./lib/common');

const spec = Object.assign({}, c.mqttSpec, {
  topics: { type: 'list', required: true, help: 'topic filters' },
  qos: { type: 'int', def: 1, help: 'maximum QoS asked for' },
  expect: { type: 'int', def: 0, help: 'stop after this many messages (0: no limit)' },
  'linger-ms': { type: 'int', def: 300, help: 'after --expect, keep listening this long' },
  'idle-ms': { type: 'int', def: 0, help: 'stop after this long without a message (0: never)' },
});

c.main('sub.js', 'Subscribe with an mqtt.js client and print what arrives.', spec, async opts => {
  c.hardDeadline(opts.timeoutMs + 7000);
  let conn;
  try {
    conn = await c.connect(opts);
  } catch (err) {
    c.out({ type: 'connect_error', error: c.errorInfo(err) });
    c.exit(c.EXIT_FATAL);
    return;
  }
  const { client, connack } = conn;
  c.out({ type: 'connected', sessionPresent: !!connack.sessionPresent });

  const state = { count: 0, lastAt: Date.now(), stopping: false };
  let ticker = null;
  const stop = async (reason, code) => {
    if (state.stopping) return;
    state.stopping = true;
    if (ticker) clearInterval(ticker);
    try {
      await c.withTimeout(client.endAsync(), 5000, 'DISCONNECT');
    } catch (err) {
      c.out({ type: 'closed', reason, count: state.count });
      c.fatal(err, c.EXIT_CLOSE);
      return;
    }
    c.out({ type: 'closed', reason, count: state.count });
    c.exit(code);
  };
  process.on('SIGTERM', () => stop('signal', c.EXIT_OK));
  process.on('SIGINT', () => stop('signal', c.EXIT_OK));
  client.on('error', err => console.error('[sub] client error:', err.message));
  client.on('close', () => {
    if (!state.stopping) {
      c.out({ type: 'closed', reason: 'connection lost', count: state.count });
      state.stopping = true;
      c.exit(c.EXIT_FATAL);
    }
  });

  client.on('message', (topic, payload, packet) => {
    const p = packet.properties || {};
    c.out({
      type: 'msg',
      topic,
      body: payload.toString('utf8'),
      qos: packet.qos,
      retain: !!packet.retain,
      dup: !!packet.dup,
      userProperties: p.userProperties || null,
      contentType: p.contentType || null,
    });
    state.count++;
    state.lastAt = Date.now();
    if (opts.expect > 0 && state.count === opts.expect) {
      setTimeout(() => stop('expected', c.EXIT_OK), opts.lingerMs);
    }
  });

  let granted;
  try {
    granted = await c.withTimeout(client.subscribeAsync(opts.topics, { qos: opts.qos }), 10000, 'SUBSCRIBE');
  } catch (err) {
    // mqtt.js rejects with the SUBACK packet attached: its codes tell why.
    const granted = err.packet && Array.isArray(err.packet.granted)
      ? err.packet.granted.map((code, i) => ({ topic: opts.topics[i], qos: code }))
      : null;
    c.out({ type: 'subscribe_error', error: c.errorInfo(err), granted });
    await stop('subscribe failed', c.EXIT_PARTIAL);
    return;
  }
  c.out({ type: 'subscribed', granted: granted.map(g => ({ topic: g.topic, qos: g.qos })) });
  state.lastAt = Date.now();

  const startedAt = Date.now();
  ticker = setInterval(() => {
    const now = Date.now();
    if (now - startedAt > opts.timeoutMs) {
      stop('timeout', c.EXIT_TIMEOUT);
    } else if (opts.idleMs > 0 && now - state.lastAt > opts.idleMs) {
      stop('idle', opts.expect > 0 && state.count < opts.expect ? c.EXIT_TIMEOUT : c.EXIT_OK);
    }
  }, 50);
});
