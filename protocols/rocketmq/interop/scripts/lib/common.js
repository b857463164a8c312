'use strict';

// Shared helpers for the RocketMQ interop scripts: what every interop script
// shares (base.js), the options every script takes, and wire helpers built
// on ali-ons' own codec (so what we send and decode is exactly what ali-ons
// does). The conventions for stdout, stderr and exit codes are in base.js.

const path = require('path');
const shared = require('./base');

// Options every script shares.
const commonSpec = {
  namesrv: { env: 'INTEROP_NAMESRV', required: true, help: 'name server address host:port' },
  'access-key': { env: 'INTEROP_ACCESS_KEY', def: 'interop-ak', help: 'accessKey (ali-ons signs requests with it)' },
  'secret-key': { env: 'INTEROP_SECRET_KEY', def: 'interop-sk', help: 'secretKey' },
  'timeout-ms': { env: 'INTEROP_TIMEOUT_MS', type: 'int', def: 60000, help: 'hard bound on the whole run' },
};

// --- wire helpers built on ali-ons internals (ali-ons is pinned at 3.12.0) ---

const aliOnsDir = path.dirname(require.resolve('ali-ons/package.json'));

function aliOnsRequire(rel) {
  return require(path.join(aliOnsDir, rel));
}

// byte is an ali-ons dependency; resolve it through ali-ons, not by hoisting.
const ByteBuffer = require(require.resolve('byte', { paths: [ aliOnsDir ] }));

// decodeBuffer decodes a broker message-list body (pull, query, view) held in
// a byte ByteBuffer, with ali-ons' own decoder, and checks each record's
// TOTALSIZE against the bytes the decoder consumed. ali-ons silently stops at
// the first undecodable record, so problems are returned for the caller to
// report.
function decodeBuffer(bb) {
  const MessageDecoder = aliOnsRequire('lib/message/message_decoder');
  const base = bb.position();
  const total = bb.limit() - base;
  const msgs = [];
  const problems = [];
  while (bb.hasRemaining()) {
    const start = bb.position();
    const msg = MessageDecoder.decode(bb, true, true);
    if (!msg) {
      problems.push(`record at byte ${start - base} of ${total} could not be decoded`);
      break;
    }
    const used = bb.position() - start;
    if (msg.storeSize !== used) {
      problems.push(`record at byte ${start - base} of ${total}: TOTALSIZE ${msg.storeSize} but its fields take ${used} bytes`);
    }
    msgs.push(msg);
  }
  return { msgs, problems };
}

function decodeMessages(body) {
  return decodeBuffer(ByteBuffer.wrap(body));
}

function messageRecord(msg) {
  return {
    msgId: msg.msgId,
    topic: msg.topic,
    queueId: msg.queueId,
    queueOffset: msg.queueOffset,
    commitLogOffset: msg.commitLogOffset,
    storeHost: msg.storeHost,
    bornHost: msg.bornHost,
    bornTimestamp: msg.bornTimestamp,
    storeTimestamp: msg.storeTimestamp,
    sysFlag: msg.sysFlag,
    body: msg.body ? Buffer.from(msg.body).toString('utf8') : '',
    tags: msg.tags || null,
    keys: msg.keys || null,
    reconsumeTimes: msg.reconsumeTimes,
    retryTopic: msg.retryTopic || null,
    originMsgId: msg.originMessageId || null,
    properties: msg.properties,
  };
}

module.exports = {
  ...shared,
  commonSpec,
  aliOnsRequire,
  ByteBuffer,
  decodeBuffer,
  decodeMessages,
  messageRecord,
};
