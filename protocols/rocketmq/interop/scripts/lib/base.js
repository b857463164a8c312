'use strict';

// Helpers every interop script shares, the MQTT front end's too
// (protocols/mqtt/interop/scripts/lib/common.js requires this file):
// argument parsing, JSON-line output, bounded waits and exits, and the
// options every ali-ons object gets. It requires no npm module, so it loads
// whichever folder's node_modules is installed.
//
// Conventions for every script:
//   stdout: one JSON object per line, each with a "type" field.
//   stderr: human diagnostics (ali-ons warnings and errors, stack traces).
//   exit codes: 0 success; 1 fatal (usage, connection, startup);
//               2 partial failure (a send or publish failed, a key was not found);
//               3 timed out before the expected result; 4 clean close failed.

const EXIT_OK = 0;
const EXIT_FATAL = 1;
const EXIT_PARTIAL = 2;
const EXIT_TIMEOUT = 3;
const EXIT_CLOSE = 4;

// parseArgs reads --name value / --name=value pairs. spec maps an option
// name to { env, def, type, required, help } with type 'string' | 'int' |
// 'bool' | 'list' | 'json'. Command-line values win over the environment,
// which wins over defaults.
function parseArgs(spec, argv = process.argv.slice(2)) {
  const raw = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h') {
      raw.help = true;
      continue;
    }
    if (!a.startsWith('--')) {
      throw usageError(`unexpected argument ${JSON.stringify(a)}`);
    }
    const eq = a.indexOf('=');
    let name;
    let value;
    if (eq > 0) {
      name = a.slice(2, eq);
      value = a.slice(eq + 1);
    } else {
      name = a.slice(2);
      const s = spec[name];
      if (s && s.type === 'bool') {
        value = 'true';
      } else {
        if (i + 1 >= argv.length) {
          throw usageError(`--${name} needs a value`);
        }
        value = argv[++i];
      }
    }
    if (!Object.prototype.hasOwnProperty.call(spec, name)) {
      throw usageError(`unknown option --${name}`);
    }
    raw[name] = value;
  }
  if (raw.help) {
    return { help: true };
  }
  const opts = {};
  for (const name of Object.keys(spec)) {
    const s = spec[name];
    let v = raw[name];
    if (v === undefined && s.env && process.env[s.env] !== undefined && process.env[s.env] !== '') {
      v = process.env[s.env];
    }
    if (v === undefined) {
      if (s.required) {
        throw usageError(`--${name}${s.env ? ` (or $${s.env})` : ''} is required`);
      }
      opts[camel(name)] = s.def;
      continue;
    }
    switch (s.type) {
      case 'int': {
        const n = Number(v);
        if (!Number.isInteger(n)) {
          throw usageError(`--${name} must be an integer, got ${JSON.stringify(v)}`);
        }
        opts[camel(name)] = n;
        break;
      }
      case 'bool':
        opts[camel(name)] = v === 'true' || v === '1' || v === 'yes';
        break;
      case 'list':
        opts[camel(name)] = String(v).split(',').map(x => x.trim()).filter(Boolean);
        break;
      case 'json':
        try {
          opts[camel(name)] = JSON.parse(v);
        } catch (err) {
          throw usageError(`--${name} must be JSON: ${err.message}`);
        }
        break;
      default:
        opts[camel(name)] = String(v);
    }
  }
  return opts;
}

function usageError(msg) {
  const err = new Error(msg);
  err.name = 'UsageError';
  return err;
}

function camel(name) {
  return name.replace(/-([a-z])/g, (_, c) => c.toUpperCase());
}

function usage(script, summary, spec) {
  const lines = [ `usage: node ${script} [options]`, '', summary, '', 'options:' ];
  for (const name of Object.keys(spec)) {
    const s = spec[name];
    let l = `  --${name}`;
    if (s.type !== 'bool') l += ` <${s.type || 'string'}>`;
    l = l.padEnd(32);
    l += s.help || '';
    if (s.env) l += ` [$${s.env}]`;
    if (s.def !== undefined && s.def !== null && s.def !== '') l += ` (default ${JSON.stringify(s.def)})`;
    if (s.required) l += ' (required)';
    lines.push(l);
  }
  return lines.join('\n') + '\n';
}

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function errorInfo(err) {
  if (!err) return null;
  const o = { name: err.name, message: err.message };
  if (err.code !== undefined) o.code = err.code;
  return o;
}

const verbose = process.env.INTEROP_VERBOSE === '1';

// logger keeps ali-ons quiet: info/debug only with INTEROP_VERBOSE=1,
// warn/error always go to stderr (never stdout, which is machine-readable).
const logger = {
  info(...args) {
    if (verbose) console.error('[ali-ons info]', ...args);
  },
  debug(...args) {
    if (verbose) console.error('[ali-ons debug]', ...args);
  },
  warn(...args) {
    console.error('[ali-ons warn]', ...args);
  },
  error(...args) {
    console.error('[ali-ons error]', ...args);
  },
};

// ali-ons' RemotingClient asserts an httpclient even when nameSrv is given; it
// is only used to fetch the name server list over HTTP, which we never want.
const httpclient = {
  async request(url) {
    throw new Error(`interop: HTTP name server lookup (${url}) is disabled; pass nameSrv`);
  },
};

// clientOptions are the options every ali-ons object gets.
function clientOptions(opts) {
  return {
    httpclient,
    nameSrv: opts.namesrv,
    accessKey: opts.accessKey,
    secretKey: opts.secretKey,
    logger,
  };
}

function sleep(ms) {
  return new Promise(resolve => setTimeout(resolve, ms));
}

// withTimeout bounds a promise; the returned promise rejects with a
// TimeoutError naming what was being waited for.
function withTimeout(promise, ms, what) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => {
      const err = new Error(`${what} did not finish within ${ms} ms`);
      err.name = 'TimeoutError';
      reject(err);
    }, ms);
  });
  return Promise.race([ Promise.resolve(promise), t ]).finally(() => clearTimeout(timer));
}

let exiting = false;

// exit flushes stdout then exits with code. Later calls are ignored.
function exit(code) {
  if (exiting) return;
  exiting = true;
  process.exitCode = code;
  process.stdout.write('', () => process.exit(code));
  // Never hang on a stuck stdout.
  setTimeout(() => process.exit(code), 2000).unref();
}

// fatal reports an error as a JSON line and on stderr, then exits.
function fatal(err, code = EXIT_FATAL, extra = {}) {
  out(Object.assign({ type: 'fatal', error: errorInfo(err) }, extra));
  console.error(err && err.stack ? err.stack : err);
  exit(code);
}

// hardDeadline makes sure the script never outlives timeoutMs.
function hardDeadline(ms, onTimeout) {
  const t = setTimeout(() => {
    try {
      if (onTimeout) onTimeout();
    } finally {
      out({ type: 'fatal', error: { name: 'TimeoutError', message: `hard timeout of ${ms} ms reached` } });
      exit(EXIT_TIMEOUT);
    }
  }, ms);
  return t;
}

// main runs an async entry point with usage handling.
function main(script, summary, spec, fn) {
  let opts;
  try {
    opts = parseArgs(spec);
  } catch (err) {
    process.stderr.write(usage(script, summary, spec));
    fatal(err);
    return;
  }
  if (opts.help) {
    process.stdout.write(usage(script, summary, spec));
    exit(EXIT_OK);
    return;
  }
  process.on('unhandledRejection', err => fatal(err));
  Promise.resolve()
    .then(() => fn(opts))
    .catch(err => fatal(err));
}

module.exports = {
  EXIT_OK,
  EXIT_FATAL,
  EXIT_PARTIAL,
  EXIT_TIMEOUT,
  EXIT_CLOSE,
  parseArgs,
  usage,
  out,
  errorInfo,
  logger,
  httpclient,
  clientOptions,
  sleep,
  withTimeout,
  exit,
  fatal,
  hardDeadline,
  main,
};
