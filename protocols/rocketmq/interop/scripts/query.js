'use strict';

// query.js: look messages up by key, and optionally view them by msgId.
//
// ali-ons 3.12.0 has no query API: QUERY_MESSAGE (12) is only in its request
// code table, and viewMessage / VIEW_MESSAGE_BY_ID (33) is commented out in
// lib/mq_client_api.js and lib/consumer/mq_push_consumer.js. So this script
// sends those requests itself, the way the Java admin client does
// (MQAdminImpl.queryMessage / viewMessage), but through ali-ons' own remoting
// client, command codec and message decoder (lib/mq_client_api.js,
// lib/protocol/command/remoting_command.js, lib/message/message_decoder.js).
//
// --keys k1,k2: for each key, QUERY_MESSAGE {topic, key, maxNum,
//   beginTimestamp, endTimestamp} plus extField _UNIQUE_KEY_QUERY=false to every
//   master broker in the topic's route; the answer's messages are kept when
//   their topic matches and their KEYS property contains the key. Retried
//   until every key is found or --timeout-ms (the broker's index may lag).
// --msg-ids id1,id2: VIEW_MESSAGE_BY_ID {offset} to the store host encoded in
//   the (offset) msgId, or to --broker if given.
//
// stdout lines:
//   {"type":"found", key, ...message}         one per matching message
//   {"type":"viewed", msgId, ...message}
//   {"type":"decode_error", problems}
//   {"type":"query_error", key?, msgId?, broker, code, remark}   a non-success answer (retried)
//   {"type":"summary", found:{key:n}, missing:[keys], viewed:{id:bool}}
// Exit 0 when every key and msgId was found, 2 when some were not.

const c = require('./lib/common');

const QUERY_MESSAGE = 12;
const VIEW_MESSAGE_BY_ID = 33;
const SUCCESS = 0;
const QUERY_NOT_FOUND = 22;

const spec = Object.assign({}, c.commonSpec, {
  topic: { env: 'INTEROP_TOPIC', required: true, help: 'topic' },
  keys: { type: 'list', def: [], help: 'comma-separated keys to query' },
  'msg-ids': { type: 'list', def: [], help: 'comma-separated msgIds to view' },
  broker: { env: 'INTEROP_BROKER', def: '', help: 'broker for --msg-ids (default: the address in the msgId)' },
  'max-num': { type: 'int', def: 32, help: 'maxNum of each query' },
  'request-timeout-ms': { type: 'int', def: 5000, help: 'timeout of each request' },
  'timeout-ms': { env: 'INTEROP_TIMEOUT_MS', type: 'int', def: 30000, help: 'hard bound on the whole run' },
});

c.main('query.js', 'Query messages by key (QUERY_MESSAGE) and view them by msgId (VIEW_MESSAGE_BY_ID).', spec, async opts => {
  if (!opts.keys.length && !opts.msgIds.length) {
    throw new Error('nothing to do: give --keys and/or --msg-ids');
  }
  c.hardDeadline(opts.timeoutMs);
  const deadline = Date.now() + opts.timeoutMs - 1000;

  const MQClientAPI = c.aliOnsRequire('lib/mq_client_api');
  const RemotingCommand = c.aliOnsRequire('lib/protocol/command/remoting_command');
  const MessageDecoder = c.aliOnsRequire('lib/message/message_decoder');

  const api = new MQClientAPI(Object.assign(c.clientOptions(opts), { responseTimeout: opts.requestTimeoutMs }));
  api.on('error', err => console.error('[query] client error:', err.message));
  await c.withTimeout(api.ready(), opts.requestTimeoutMs, 'ali-ons client start');

  // Each request gets at most what is left of the run.
  const budget = () => Math.max(100, Math.min(opts.requestTimeoutMs, deadline - Date.now()));
  const invoke = (addr, code, header, extFields) => {
    const req = RemotingCommand.createRequestCommand(code, header);
    if (extFields) Object.assign(req.extFields, extFields);
    const ms = budget();
    return c.withTimeout(api.invoke(addr, req, ms), ms + 200, `request ${code} to ${addr}`);
  };

  const found = {};
  for (const key of opts.keys) found[key] = 0;
  const viewed = {};
  for (const id of opts.msgIds) viewed[id] = false;

  let lastErr = null;
  let routed = false;
  while (Date.now() < deadline) {
    // Route first: query goes to every master broker of the topic.
    let brokers = [];
    try {
      const ms = budget();
      const route = await c.withTimeout(api.getTopicRouteInfoFromNameServer(opts.topic, ms),
        ms + 200, 'GET_ROUTEINTO_BY_TOPIC');
      brokers = (route && route.brokerDatas || []).map(b => b.brokerAddrs && b.brokerAddrs['0']).filter(Boolean);
      if (!brokers.length) throw new Error(`route of ${opts.topic} has no master broker: ${JSON.stringify(route)}`);
      routed = true;
    } catch (err) {
      lastErr = err;
      await c.sleep(300);
      continue;
    }

    for (const key of Object.keys(found)) {
      if (found[key] || Date.now() >= deadline) continue;
      for (const addr of brokers) {
        let res;
        try {
          res = await invoke(addr, QUERY_MESSAGE, {
            topic: opts.topic,
            key,
            maxNum: opts.maxNum,
            beginTimestamp: 0,
            endTimestamp: Date.now() + 3600 * 1000,
          }, { _UNIQUE_KEY_QUERY: 'false' });
        } catch (err) {
          lastErr = err;
          continue;
        }
        if (res.code === QUERY_NOT_FOUND) continue;
        if (res.code !== SUCCESS) {
          c.out({ type: 'query_error', key, broker: addr, code: res.code, remark: res.remark || null });
          continue;
        }
        if (!res.body || !res.body.length) continue;
        const { msgs, problems } = c.decodeMessages(res.body);
        if (problems.length) c.out({ type: 'decode_error', request: 'QUERY_MESSAGE', key, problems });
        for (const msg of msgs) {
          const keys = (msg.keys || '').split(' ');
          if (msg.topic !== opts.topic || !keys.includes(key)) continue;
          found[key]++;
          c.out(Object.assign({ type: 'found', key, broker: addr }, c.messageRecord(msg)));
        }
      }
    }

    for (const id of Object.keys(viewed)) {
      if (viewed[id] || Date.now() >= deadline) continue;
      let addr;
      let offset;
      try {
        const info = MessageDecoder.decodeMessageId(id);
        addr = opts.broker || info.address;
        offset = Number(info.offset.toString());
      } catch (err) {
        throw new Error(`msgId ${id} is not an offset msgId (16 bytes hex: store IPv4, port, commit log offset): ${err.message}`);
      }
      let res;
      try {
        res = await invoke(addr, VIEW_MESSAGE_BY_ID, { offset });
      } catch (err) {
        lastErr = err;
        continue;
      }
      if (res.code !== SUCCESS) {
        c.out({ type: 'query_error', msgId: id, broker: addr, code: res.code, remark: res.remark || null });
        continue;
      }
      const { msgs, problems } = c.decodeMessages(res.body || Buffer.alloc(0));
      if (problems.length) c.out({ type: 'decode_error', request: 'VIEW_MESSAGE_BY_ID', msgId: id, problems });
      if (msgs.length) {
        viewed[id] = true;
        c.out(Object.assign({ type: 'viewed', requestedMsgId: id, broker: addr }, c.messageRecord(msgs[0])));
      }
    }

    const missing = Object.keys(found).filter(k => !found[k]);
    const unviewed = Object.keys(viewed).filter(k => !viewed[k]);
    if (!missing.length && !unviewed.length) break;
    await c.sleep(500);
  }

  const missing = Object.keys(found).filter(k => !found[k]);
  const unviewed = Object.keys(viewed).filter(k => !viewed[k]);
  if (!routed && opts.keys.length) {
    c.fatal(new Error(`no route for topic ${opts.topic} from name server ${opts.namesrv} within ${opts.timeoutMs} ms ` +
      `(last error: ${lastErr ? lastErr.message : 'none'})`));
    return;
  }
  c.out({
    type: 'summary',
    found,
    missing,
    viewed,
    lastError: missing.length || unviewed.length ? c.errorInfo(lastErr) : null,
  });
  await c.withTimeout(api.close(), 2000, 'client close').catch(() => {});
  c.exit(missing.length || unviewed.length ? c.EXIT_PARTIAL : c.EXIT_OK);
});
