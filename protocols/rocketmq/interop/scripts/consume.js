'use strict';

// consume.js: an ali-ons clustering push Consumer in --group subscribes to
// --topic with --expr ('*' or a tag expression like 'TagA || TagB') and prints
// every message it is handed.
//
// It runs until one of:
//   --expect N successful (not deliberately failed) deliveries   -> exit 0
//   SIGTERM / SIGINT                                             -> exit 0
//   --idle-ms without a delivery, counted from the first one     -> exit 0, or 3 if --expect was not reached
//   --timeout-ms (hard bound)                                    -> exit 3
// and then closes the consumer (offset commit, UNREGISTER_CLIENT) within
// --close-timeout-ms (exit 4 if that fails).
//
// With --fail-pattern RE, the handler throws the first time it sees a body
// matching RE, so ali-ons sends the message back (CONSUMER_SEND_MSG_BACK) and
// it should come back from %RETRY%<group> with reconsumeTimes >= 1.
//
// stdout lines:
//   {"type":"ready", clientId, group, topic}   route known, consumer running
//   {"type":"assigned", topic, queues:[ids], total}   this client's queues of --topic (on every change)
//   {"type":"msg", status:"ok"|"failed", msgId, topic, queueId, queueOffset, body, tags, keys,
//                  reconsumeTimes, retryTopic, originMsgId, ...}
//   {"type":"decode_error", problems}   a pull response body ali-ons could not fully decode
//   {"type":"closed", reason, ok, failed}
//   {"type":"fatal", error}

const c = require('./lib/common');

const spec = Object.assign({}, c.commonSpec, {
  topic: { env: 'INTEROP_TOPIC', required: true, help: 'topic' },
  group: { env: 'INTEROP_CONSUMER_GROUP', required: true, help: 'consumerGroup' },
  expr: { def: '*', help: "subscription expression: '*' or 'TagA || TagB'" },
  from: { def: 'first', help: "where a new group starts: 'first' (CONSUME_FROM_FIRST_OFFSET) or 'last' (ali-ons default CONSUME_FROM_LAST_OFFSET)" },
  expect: { env: 'INTEROP_EXPECT', type: 'int', def: 0, help: 'stop after this many successful deliveries (0: no limit)' },
  'idle-ms': { type: 'int', def: 0, help: 'stop after this long without a delivery, once one arrived (0: never)' },
  'fail-pattern': { def: '', help: 'regexp: throw the first time a matching body is seen' },
  'startup-timeout-ms': { type: 'int', def: 15000, help: 'bound on start and on learning the topic route' },
  'close-timeout-ms': { type: 'int', def: 10000, help: 'bound on consumer.close()' },
  'poll-namesrv-ms': { type: 'int', def: 2000, help: 'ali-ons pollNameServerInteval (ali-ons default 30000)' },
  'heartbeat-ms': { type: 'int', def: 5000, help: 'ali-ons heartbeatBrokerInterval (ali-ons default 30000)' },
  'rebalance-ms': { type: 'int', def: 2000, help: 'ali-ons rebalanceInterval (ali-ons default 10000)' },
  'persist-offset-ms': { type: 'int', def: 2000, help: 'ali-ons persistConsumerOffsetInterval (ali-ons default 5000)' },
  'max-reconsume-times': { type: 'int', def: 16, help: 'ali-ons maxReconsumeTimes' },
  'broadcast': { type: 'bool', def: false, help: 'broadcasting consumer (offsets kept by the client)' },
  'timeout-ms': { env: 'INTEROP_TIMEOUT_MS', type: 'int', def: 120000, help: 'hard bound on the whole run' },
});

c.main('consume.js', 'Consume a topic with an ali-ons clustering push Consumer.', spec, async opts => {
  if (opts.from !== 'first' && opts.from !== 'last') {
    throw new Error(`--from must be 'first' or 'last', got ${JSON.stringify(opts.from)}`);
  }
  const failRe = opts.failPattern ? new RegExp(opts.failPattern) : null;
  c.hardDeadline(opts.timeoutMs + opts.closeTimeoutMs + 2000);

  installDecodeCheck();

  const { Consumer } = require('ali-ons');
  const consumer = new Consumer(Object.assign(c.clientOptions(opts), {
    consumerGroup: opts.group,
    isBroadcast: opts.broadcast,
    consumeFromWhere: opts.from === 'first' ? 'CONSUME_FROM_FIRST_OFFSET' : 'CONSUME_FROM_LAST_OFFSET',
    pollNameServerInteval: opts.pollNamesrvMs,
    heartbeatBrokerInterval: opts.heartbeatMs,
    rebalanceInterval: opts.rebalanceMs,
    persistConsumerOffsetInterval: opts.persistOffsetMs,
    maxReconsumeTimes: opts.maxReconsumeTimes,
  }));

  let lastError = null;
  let errorCount = 0;
  consumer.on('error', err => {
    lastError = err;
    errorCount++;
    console.error('[consume] client error:', err.message);
  });

  const state = { ok: 0, failed: 0, firstAt: 0, lastAt: 0, stopping: false };
  const failedOnce = new Set();

  consumer.subscribe(opts.topic, opts.expr, async msg => {
    const rec = Object.assign({ type: 'msg', status: 'ok' }, c.messageRecord(msg));
    const now = Date.now();
    if (!state.firstAt) state.firstAt = now;
    state.lastAt = now;
    if (failRe && failRe.test(rec.body) && !failedOnce.has(rec.body)) {
      failedOnce.add(rec.body);
      rec.status = 'failed';
      state.failed++;
      c.out(rec);
      throw new Error(`interop: deliberate first-time failure of body ${JSON.stringify(rec.body)}`);
    }
    state.ok++;
    c.out(rec);
    if (opts.expect > 0 && state.ok >= opts.expect) {
      setImmediate(() => stop('expected', c.EXIT_OK));
    }
  });

  let ticker = null;
  const stop = async (reason, code) => {
    if (state.stopping) return;
    state.stopping = true;
    if (ticker) clearInterval(ticker);
    try {
      await c.withTimeout(consumer.close(), opts.closeTimeoutMs, 'consumer close (offset commit + UNREGISTER_CLIENT)');
    } catch (err) {
      c.out({ type: 'closed', reason, ok: state.ok, failed: state.failed, errors: errorCount });
      c.fatal(err, c.EXIT_CLOSE);
      return;
    }
    c.out({ type: 'closed', reason, ok: state.ok, failed: state.failed, errors: errorCount });
    c.exit(code);
  };
  process.on('SIGTERM', () => stop('signal', c.EXIT_OK));
  process.on('SIGINT', () => stop('signal', c.EXIT_OK));

  const startedAt = Date.now();
  let lastAssigned = ''; // the empty start state is not reported
  ticker = setInterval(() => {
    const now = Date.now();
    if (now - startedAt > opts.timeoutMs) {
      stop('timeout', c.EXIT_TIMEOUT);
      return;
    }
    if (opts.idleMs > 0 && state.lastAt && now - state.lastAt > opts.idleMs) {
      stop('idle', opts.expect > 0 && state.ok < opts.expect ? c.EXIT_TIMEOUT : c.EXIT_OK);
      return;
    }
    // Report this client's share of the topic's queues whenever it changes.
    const queues = [];
    for (const item of consumer.processQueueTable.values()) {
      if (item && item.messageQueue && item.messageQueue.topic === opts.topic) {
        queues.push(Number(item.messageQueue.queueId));
      }
    }
    queues.sort((a, b) => a - b);
    const key = queues.join(',');
    if (key !== lastAssigned) {
      lastAssigned = key;
      const all = consumer._topicSubscribeInfoTable && consumer._topicSubscribeInfoTable.get(opts.topic);
      c.out({ type: 'assigned', topic: opts.topic, queues, total: all ? all.length : 0 });
    }
  }, 200);

  await c.withTimeout(consumer.ready(), opts.startupTimeoutMs, 'consumer start');
  // ali-ons reports route failures as 'error' events and keeps retrying, so
  // wait (bounded) until it has the topic's route before declaring readiness.
  const deadline = startedAt + opts.startupTimeoutMs;
  while (!(consumer._topicSubscribeInfoTable && consumer._topicSubscribeInfoTable.has(opts.topic))) {
    if (Date.now() > deadline) {
      throw new Error(`no route for topic ${opts.topic} from name server ${opts.namesrv} within ` +
        `${opts.startupTimeoutMs} ms (last client error: ${lastError ? lastError.message : 'none'})`);
    }
    if (state.stopping) return;
    await c.sleep(100);
  }
  c.out({ type: 'ready', clientId: consumer._mqClient.clientId, group: opts.group, topic: opts.topic });
});

// installDecodeCheck wraps ali-ons' MessageDecoder.decodes (called by
// mq_client_api.js pullMessage) so that a pull body it cannot fully decode is
// reported instead of silently truncated.
function installDecodeCheck() {
  const MessageDecoder = c.aliOnsRequire('lib/message/message_decoder');
  MessageDecoder.decodes = function(byteBuffer) {
    const { msgs, problems } = c.decodeBuffer(byteBuffer);
    if (problems.length) {
      c.out({ type: 'decode_error', decoded: msgs.length, problems });
    }
    return msgs;
  };
}
