'use strict';

// produce.js: an ali-ons Producer sends --count messages to --topic.
// Message i (i from --start) has tags TagA (even i) or TagB (odd i) (the
// --tags list, alternating), keys ["<key-prefix><i>"] and body
// "<body-prefix>-<i>".
//
// stdout lines:
//   {"type":"ready", ...}
//   {"type":"sent", seq, key, tags, body, msgId, topic, brokerName, queueId, queueOffset, sendStatus}
//   {"type":"send_error", seq, error, hint?}      (then exit 2)
//   {"type":"done", sent, elapsedMs}
//   {"type":"fatal", error}
// ali-ons' send result has no offsetMsgId: its msgId is the broker's
// SEND_MESSAGE_V2 response header field "msgId" as is (mq_client_api.js
// sendMessage), so no offsetMsgId field is printed.

const c = require('./lib/common');

const spec = Object.assign({}, c.commonSpec, {
  topic: { env: 'INTEROP_TOPIC', required: true, help: 'topic' },
  group: { env: 'INTEROP_PRODUCER_GROUP', def: 'InteropProducerGroup', help: 'producerGroup' },
  count: { env: 'INTEROP_COUNT', type: 'int', def: 10, help: 'number of messages' },
  start: { type: 'int', def: 0, help: 'first sequence number' },
  tags: { type: 'list', def: [ 'TagA', 'TagB' ], help: 'tags, used in turn' },
  'key-prefix': { def: 'key-', help: 'message i gets key <key-prefix><i>' },
  'body-prefix': { def: 'msg', help: 'message i gets body <body-prefix>-<i>' },
  'interval-ms': { type: 'int', def: 0, help: 'pause between sends' },
  'send-timeout-ms': { type: 'int', def: 3000, help: 'ali-ons sendMsgTimeout (each attempt)' },
  'close-timeout-ms': { type: 'int', def: 5000, help: 'bound on producer.close()' },
});

c.main('produce.js', 'Send messages with tags and keys through an ali-ons Producer.', spec, async opts => {
  c.hardDeadline(opts.timeoutMs);
  const { Producer, Message } = require('ali-ons');
  const producer = new Producer(Object.assign(c.clientOptions(opts), {
    producerGroup: opts.group,
    sendMsgTimeout: opts.sendTimeoutMs,
  }));
  producer.on('error', err => console.error('[produce] client error:', err.message));
  await c.withTimeout(producer.ready(), 10000, 'producer start');
  c.out({ type: 'ready', topic: opts.topic, group: opts.group, nameSrv: opts.namesrv });

  const begin = Date.now();
  let sent = 0;
  for (let i = opts.start; i < opts.start + opts.count; i++) {
    const tags = opts.tags.length ? opts.tags[(i - opts.start) % opts.tags.length] : null;
    const key = `${opts.keyPrefix}${i}`;
    const body = `${opts.bodyPrefix}-${i}`;
    const msg = new Message(opts.topic, tags, body);
    msg.keys = [ key ];
    let res;
    try {
      // ali-ons retries within sendMsgTimeout + 1000 ms; bound it anyway.
      res = await c.withTimeout(producer.send(msg), opts.sendTimeoutMs * 2 + 2000, `send of message ${i}`);
    } catch (err) {
      const line = { type: 'send_error', seq: i, key, error: c.errorInfo(err) };
      if (err.code === 17) {
        line.hint = 'TOPIC_NOT_EXIST: ali-ons never falls back to TBW102 here; create the topic first (create_topic.js)';
      }
      c.out(line);
      console.error(err.stack || err);
      await c.withTimeout(producer.close(), opts.closeTimeoutMs, 'producer close').catch(() => {});
      c.exit(c.EXIT_PARTIAL);
      return;
    }
    c.out({
      type: 'sent',
      seq: i,
      key,
      tags,
      body,
      msgId: res.msgId,
      topic: res.messageQueue && res.messageQueue.topic,
      brokerName: res.messageQueue && res.messageQueue.brokerName,
      queueId: res.messageQueue ? Number(res.messageQueue.queueId) : null,
      queueOffset: res.queueOffset,
      sendStatus: res.sendStatus,
    });
    sent++;
    if (opts.intervalMs > 0) await c.sleep(opts.intervalMs);
  }
  const elapsedMs = Date.now() - begin;
  try {
    await c.withTimeout(producer.close(), opts.closeTimeoutMs, 'producer close');
  } catch (err) {
    c.out({ type: 'done', sent, elapsedMs });
    c.fatal(new Error(`producer close (UNREGISTER_CLIENT) failed: ${err.message}`), c.EXIT_CLOSE);
    return;
  }
  c.out({ type: 'done', sent, elapsedMs });
  c.exit(c.EXIT_OK);
});
