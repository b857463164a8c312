'use strict';

// ons_produce.js: an ali-ons (RocketMQ) Producer sends --count messages to
// --topic with tag --tag, body "<body-prefix>-<i>", and --props as message
// user properties (how a RocketMQ producer names the MQTT topic of a
// message: see docs/mqtt.md).
//
// stdout lines:
//   {"type":"ready"}
//   {"type":"sent", seq, body, msgId, queueId, queueOffset, sendStatus}
//   {"type":"send_error", seq, error}   (then exit 2)
//   {"type":"done", sent}
//   {"type":"fatal", error}

const c = require('./lib/common');

const spec = Object.assign({}, c.onsSpec, {
  topic: { required: true, help: 'RocketMQ topic' },
  tag: { def: '', help: 'tag of every message' },
  props: { type: 'json', def: null, help: 'user properties, a JSON object of strings' },
  count: { type: 'int', def: 1, help: 'number of messages' },
  'body-prefix': { def: 'ons', help: 'message i gets body <body-prefix>-<i>' },
  group: { def: 'MqttInteropProducer', help: 'producerGroup' },
  'send-timeout-ms': { type: 'int', def: 3000, help: 'ali-ons sendMsgTimeout' },
});

c.main('ons_produce.js', 'Send messages through an ali-ons Producer.', spec, async opts => {
  c.hardDeadline(opts.timeoutMs);
  const { Producer, Message } = require('ali-ons');
  const producer = new Producer(Object.assign(c.onsOptions(opts), {
    producerGroup: opts.group,
    sendMsgTimeout: opts.sendTimeoutMs,
  }));
  producer.on('error', err => console.error('[ons_produce] client error:', err.message));
  await c.withTimeout(producer.ready(), 10000, 'producer start');
  c.out({ type: 'ready' });
  let sent = 0;
  for (let i = 0; i < opts.count; i++) {
    const body = `${opts.bodyPrefix}-${i}`;
    const msg = new Message(opts.topic, opts.tag || null, body);
    if (!opts.tag) {
      // ali-ons stores a missing tag as TAGS=null and sends the string
      // "null"; --tag '' means a message with no tag at all, as the Java
      // client sends it.
      delete msg.properties.TAGS;
    }
    if (opts.props) {
      for (const [ k, v ] of Object.entries(opts.props)) msg.properties[k] = String(v);
    }
    let res;
    try {
      res = await c.withTimeout(producer.send(msg), opts.sendTimeoutMs * 2 + 2000, `send of message ${i}`);
    } catch (err) {
      c.out({ type: 'send_error', seq: i, error: c.errorInfo(err) });
      await c.withTimeout(producer.close(), 5000, 'producer close').catch(() => {});
      c.exit(c.EXIT_PARTIAL);
      return;
    }
    sent++;
    c.out({
      type: 'sent', seq: i, body, msgId: res.msgId,
      queueId: res.messageQueue ? Number(res.messageQueue.queueId) : null,
      queueOffset: res.queueOffset, sendStatus: res.sendStatus,
    });
  }
  await c.withTimeout(producer.close(), 5000, 'producer close').catch(err => console.error(err.message));
  c.out({ type: 'done', sent });
  c.exit(c.EXIT_OK);
});
