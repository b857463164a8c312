'use strict';

// will.js: an mqtt.js client connects with a will message and then holds
// the connection, publishing nothing, until
//   SIGKILL: the connection ends without DISCONNECT, so the broker must
//            publish the will;
//   SIGTERM: the client sends DISCONNECT (reason 0) and exits 0, so the
//            broker must discard the will;
//   --timeout-ms passes (exit 3).
//
// stdout lines:
//   {"type":"connected", sessionPresent}
//   {"type":"connect_error", error}    (exit 1)
//   {"type":"closed", reason}          after a clean DISCONNECT
//   {"type":"fatal", error}

const c = require('./lib/common');

const spec = Object.assign({}, c.mqttSpec, {
  'will-topic': { required: true, help: 'will topic' },
  'will-body': { def: 'offline', help: 'will payload' },
  'will-qos': { type: 'int', def: 1, help: 'will QoS' },
  'will-retain': { type: 'bool', def: false, help: 'will retained' },
});

c.main('will.js', 'Connect with a will message and wait to be killed.', spec, async opts => {
  c.hardDeadline(opts.timeoutMs);
  let conn;
  try {
    conn = await c.connect(opts, {
      will: { topic: opts.willTopic, payload: Buffer.from(opts.willBody), qos: opts.willQos, retain: opts.willRetain },
    });
  } catch (err) {
    c.out({ type: 'connect_error', error: c.errorInfo(err) });
    c.exit(c.EXIT_FATAL);
    return;
  }
  conn.client.on('error', err => console.error('[will] client error:', err.message));
  c.out({ type: 'connected', sessionPresent: !!conn.connack.sessionPresent });
  process.on('SIGTERM', async () => {
    try {
      await c.withTimeout(conn.client.endAsync(), 5000, 'DISCONNECT');
    } catch (err) {
      c.fatal(err, c.EXIT_CLOSE);
      return;
    }
    c.out({ type: 'closed', reason: 'signal' });
    c.exit(c.EXIT_OK);
  });
  // The keep-alive timer keeps the event loop, and so the process, alive.
});
