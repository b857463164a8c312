'use strict';

// Shared helpers for the MQTT interop scripts: the MQTT options and
// connection, and the ali-ons options. Argument parsing, JSON-line output,
// bounded waits and exits are every interop script's: the RocketMQ
// scripts' base.js, which requires no npm module. The conventions for
// stdout, stderr and exit codes are there.

const shared = require('../../../../rocketmq/interop/scripts/lib/base');

// Options every MQTT script shares.
const mqttSpec = {
  url: { env: 'INTEROP_MQTT_URL', required: true, help: 'broker URL, mqtt://host:port' },
  'client-id': { def: '', help: 'client identifier (default: generated)' },
  username: { def: '', help: 'username' },
  password: { def: '', help: 'password' },
  'protocol-version': { type: 'int', def: 5, help: 'MQTT protocol version: 4 (3.1.1) or 5' },
  clean: { type: 'bool', def: true, help: 'clean session / clean start' },
  'connect-timeout-ms': { type: 'int', def: 10000, help: 'bound on CONNECT..CONNACK' },
  'timeout-ms': { env: 'INTEROP_TIMEOUT_MS', type: 'int', def: 60000, help: 'hard bound on the whole run' },
};

// connectOptions maps the shared options onto mqtt.js's.
function connectOptions(opts, extra = {}) {
  const o = {
    protocolVersion: opts.protocolVersion,
    clean: opts.clean,
    connectTimeout: opts.connectTimeoutMs,
    reconnectPeriod: 0, // a test wants to see a failure, not a retry
    keepalive: 30,
  };
  if (opts.clientId) o.clientId = opts.clientId;
  if (opts.username) o.username = opts.username;
  if (opts.password) o.password = opts.password;
  return Object.assign(o, extra);
}

// connect connects with mqtt.js and resolves with the client once CONNACK
// accepted it; it rejects with the CONNACK's code (err.code) otherwise.
function connect(opts, extra = {}) {
  const mqtt = require('mqtt');
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(opts.url, connectOptions(opts, extra));
    let settled = false;
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      client.end(true);
      const err = new Error(`no CONNACK within ${opts.connectTimeoutMs} ms`);
      err.name = 'TimeoutError';
      reject(err);
    }, opts.connectTimeoutMs + 1000);
    client.once('connect', connack => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ client, connack });
    });
    client.once('error', err => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      client.end(true);
      reject(err);
    });
    client.once('close', () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      client.end(true);
      const err = new Error('connection closed before CONNACK');
      err.name = 'ConnectionClosed';
      reject(err);
    });
  });
}

// hardDeadline makes sure the script never outlives ms; its timer does not
// keep the script alive.
function hardDeadline(ms) {
  const t = shared.hardDeadline(ms);
  t.unref();
  return t;
}

// --- ali-ons (RocketMQ) ---

const onsSpec = {
  namesrv: { env: 'INTEROP_NAMESRV', required: true, help: 'RocketMQ name server host:port' },
  'access-key': { def: 'interop-ak', help: 'accessKey (ali-ons signs requests with it)' },
  'secret-key': { def: 'interop-sk', help: 'secretKey' },
  'timeout-ms': { env: 'INTEROP_TIMEOUT_MS', type: 'int', def: 60000, help: 'hard bound on the whole run' },
};

module.exports = {
  ...shared,
  mqttSpec,
  onsSpec,
  connect,
  connectOptions,
  onsOptions: shared.clientOptions,
  hardDeadline,
};
