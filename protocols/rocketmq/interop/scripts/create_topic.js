'use strict';

// create_topic.js: create a topic on a broker with UPDATE_AND_CREATE_TOPIC (17),
// the request `mqadmin updateTopic` sends, then poll the name server with
// GET_ROUTEINTO_BY_TOPIC (105) until the route shows the topic.
//
// ali-ons cannot produce to or consume from a topic the name server does not
// know (TOPIC_NOT_EXIST is thrown; there is no TBW102 fallback on that path),
// so every scenario creates its topics first.
//
// stdout lines: {"type":"created"}, {"type":"route", route}, or
// {"type":"fatal", error}.

const c = require('./lib/common');

const spec = Object.assign({}, c.commonSpec, {
  broker: { env: 'INTEROP_BROKER', required: true, help: 'broker address host:port' },
  topic: { env: 'INTEROP_TOPIC', required: true, help: 'topic to create' },
  queues: { type: 'int', def: 8, help: 'read and write queue count' },
  perm: { type: 'int', def: 6, help: 'permission bits (6 = read|write)' },
  'request-timeout-ms': { type: 'int', def: 5000, help: 'timeout of each request' },
  'timeout-ms': { env: 'INTEROP_TIMEOUT_MS', type: 'int', def: 20000, help: 'hard bound on the whole run' },
});

c.main('create_topic.js', 'Create a topic on the broker and wait until the name server routes it.', spec, async opts => {
  c.hardDeadline(opts.timeoutMs);
  const deadline = Date.now() + opts.timeoutMs - 500;
  const MQClientAPI = c.aliOnsRequire('lib/mq_client_api');
  const api = new MQClientAPI(Object.assign(c.clientOptions(opts), { responseTimeout: opts.requestTimeoutMs }));
  api.on('error', err => console.error('[create_topic] client error:', err.message));
  await c.withTimeout(api.ready(), opts.requestTimeoutMs, 'ali-ons client start');

  const topicConfig = {
    topicName: opts.topic,
    readQueueNums: opts.queues,
    writeQueueNums: opts.queues,
    perm: opts.perm,
    topicFilterType: 'SINGLE_TAG',
    topicSysFlag: 0,
    order: false,
  };
  try {
    await c.withTimeout(api.createTopic(opts.broker, 'TBW102', topicConfig, opts.requestTimeoutMs),
      opts.requestTimeoutMs + 1000, `UPDATE_AND_CREATE_TOPIC to ${opts.broker}`);
  } catch (err) {
    err.message = `UPDATE_AND_CREATE_TOPIC(17) for ${opts.topic} at broker ${opts.broker} failed: ${err.message}`;
    throw err;
  }
  c.out({ type: 'created', topic: opts.topic, broker: opts.broker, queueNums: opts.queues });

  let lastErr = null;
  let lastRoute = null;
  while (Date.now() < deadline) {
    try {
      const ms = Math.max(100, Math.min(opts.requestTimeoutMs, deadline - Date.now()));
      const route = await c.withTimeout(
        api.getTopicRouteInfoFromNameServer(opts.topic, ms), ms + 200, 'GET_ROUTEINTO_BY_TOPIC');
      lastRoute = route;
      if (route && routeUsable(route)) {
        c.out({ type: 'route', topic: opts.topic, route });
        await c.withTimeout(api.close(), 2000, 'client close').catch(() => {});
        c.exit(c.EXIT_OK);
        return;
      }
    } catch (err) {
      lastErr = err;
    }
    await c.sleep(200);
  }
  c.fatal(new Error(`name server ${opts.namesrv} never returned a usable route for ${opts.topic} ` +
    `(last route: ${JSON.stringify(lastRoute)}, last error: ${lastErr ? lastErr.message : 'none'})`),
  c.EXIT_TIMEOUT);
});

// routeUsable mirrors what ali-ons needs (mq_client.js
// _topicRouteData2TopicPublishInfo / _topicRouteData2TopicSubscribeInfo): a
// queueData that is readable and writable, and a brokerData for the same
// brokerName with a master address under brokerId "0".
function routeUsable(route) {
  if (!Array.isArray(route.queueDatas) || !Array.isArray(route.brokerDatas)) return false;
  return route.queueDatas.some(q => {
    const b = route.brokerDatas.find(d => d.brokerName === q.brokerName);
    return b && b.brokerAddrs && b.brokerAddrs['0'] &&
      (q.perm & 4) === 4 && (q.perm & 2) === 2 && q.readQueueNums > 0 && q.writeQueueNums > 0;
  });
}
