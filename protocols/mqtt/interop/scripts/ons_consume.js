'use strict';

// ons_consume.js: an ali-ons (RocketMQ) clustering push Consumer in --group
// subscribes to --topic with --expr from the first offset and prints every
// message, its tags and user properties included.
//
// It runs until --expect messages arrived (exit 0), SIGTERM (exit 0) or
// --timeout-ms (exit 3), then closes the consumer.
//
// stdout lines:
//   {"type":"ready", clientId}
//   {"type":"msg", topic, tags, keys, body, properties, msgId, queueId, queueOffset}
//   {"type":"closed", reason, count}
//   {"type":"fatal", error}

const c = require('./lib/common');

const spec = Object.assign({}, c.onsSpec, {
  topic: { required: true, help: 'RocketMQ topic' },
  group: { required: true, help: 'consumerGroup' },
  expr: { def: '*', help: "subscription expression: '*' or 'TagA || TagB'" },
  expect: { type: 'int', def: 0, help: 'stop after this many messages (0: no limit)' },
  'startup-timeout-ms': { type: 'int', def: 15000, help: 'bound on start and on learning the route' },
});

c.main('ons_consume.js', 'Consume a topic with an ali-ons push Consumer.', spec, async opts => {
  c.hardDeadline(opts.timeoutMs + 12000);
  const { Consumer } = require('ali-ons');
  const consumer = new Consumer(Object.assign(c.onsOptions(opts), {
    consumerGroup: opts.group,
    consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET',
    pollNameServerInteval: 1000,
    heartbeatBrokerInterval: 5000,
    rebalanceInterval: 1000,
    persistConsumerOffsetInterval: 2000,
  }));
  let lastError = null;
  consumer.on('error', err => {
    lastError = err;
    console.error('[ons_consume] client error:', err.message);
  });
  const state = { count: 0, stopping: false };
  let ticker = null;
  const stop = async (reason, code) => {
    if (state.stopping) return;
    state.stopping = true;
    if (ticker) clearInterval(ticker);
    await c.withTimeout(consumer.close(), 10000, 'consumer close').catch(err => console.error(err.message));
    c.out({ type: 'closed', reason, count: state.count });
    c.exit(code);
  };
  process.on('SIGTERM', () => stop('signal', c.EXIT_OK));
  process.on('SIGINT', () => stop('signal', c.EXIT_OK));

  consumer.subscribe(opts.topic, opts.expr, async msg => {
    c.out({
      type: 'msg',
      topic: msg.topic,
      tags: msg.tags || null,
      keys: msg.keys || null,
      body: msg.body ? Buffer.from(msg.body).toString('utf8') : '',
      properties: msg.properties,
      msgId: msg.msgId,
      queueId: msg.queueId,
      queueOffset: msg.queueOffset,
    });
    state.count++;
    if (opts.expect > 0 && state.count >= opts.expect) setImmediate(() => stop('expected', c.EXIT_OK));
  });

  const startedAt = Date.now();
  ticker = setInterval(() => {
    if (Date.now() - startedAt > opts.timeoutMs) stop('timeout', c.EXIT_TIMEOUT);
  }, 100);

  await c.withTimeout(consumer.ready(), opts.startupTimeoutMs, 'consumer start');
  const deadline = startedAt + opts.startupTimeoutMs;
  while (!(consumer._topicSubscribeInfoTable && consumer._topicSubscribeInfoTable.has(opts.topic))) {
    if (Date.now() > deadline) {
      throw new Error(`no route for topic ${opts.topic} from ${opts.namesrv} within ${opts.startupTimeoutMs} ms ` +
        `(last client error: ${lastError ? lastError.message : 'none'})`);
    }
    if (state.stopping) return;
    await c.sleep(100);
  }
  c.out({ type: 'ready', clientId: consumer._mqClient.clientId });
});
