// hello-node: a Toru plugin in Node.js, written from docs/protocol.md alone (no SDK).
//
// It exists to prove that a runtime with a JIT runs under the systemd backend: its metadata
// declares "jit": true, without which V8 aborts in the unit's MemoryDenyWriteExecute=yes.
// One route, GET /hello, answers JSON; it answers pings and lifecycle.init/ready/shutdown.
//
//   hello-node.binary --metadata       prints the metadata and exits 0
//   hello-node.binary --socket PATH    serves the daemon on PATH (or $TORU_PLUGIN_SOCKET)
'use strict';

const fs = require('node:fs');
const net = require('node:net');

const PROTOCOL_VERSION = 1;
// Section 2: a frame is at most 8 MiB; a reader closes the connection past it.
const MAX_FRAME = 8 * 1024 * 1024;

const METADATA = {
  id: 'hello-node',
  name: 'Hello Node',
  version: '1.0.0',
  author: 'Toru',
  icon: '🟩',
  route: '/hello-node',
  protocol_version: PROTOCOL_VERSION,
  description: 'A Node.js plugin written from the protocol document; needs a JIT.',
  permissions: { jit: true },
};

/** A log line for the journal, with its syslog priority (section 8). */
function log(priority, text) {
  process.stderr.write(`<${priority}>${text}\n`);
}

/** One frame: compact JSON and a newline (sections 2 and 3). */
function frame(type, requestId, payload) {
  return JSON.stringify({ type, timestamp: Date.now(), request_id: requestId, payload }) + '\n';
}

function errorFrame(requestId, code, message) {
  return frame('error', requestId, { code, message });
}

function jsonResponse(status, value) {
  return {
    status,
    headers: [['content-type', 'application/json']],
    body: Buffer.from(JSON.stringify(value)).toString('base64'),
  };
}

/** The plugin's routes: `path` is below its prefix, in its one spelling (section 4). */
function route(request) {
  if (request.method === 'GET' && request.path === '/hello') {
    return jsonResponse(200, {
      message: 'Hello from Node.js',
      node: process.version,
      user: request.user ?? null,
    });
  }
  // Includes /_toru/bundle.js: this plugin has no dashboard view.
  return jsonResponse(404, { error: { code: 'not_found', message: `no route ${request.path}` } });
}

let stopping = false;
let server = null;
let socketPath = null;

/** Stops accepting, removes the socket and exits 0 (section 1, step 4). */
function shutdown(why) {
  if (stopping) return;
  stopping = true;
  log(6, `shutting down (${why})`);
  if (server) server.close();
  try {
    if (fs.lstatSync(socketPath).isSocket()) fs.unlinkSync(socketPath);
  } catch {
    // Already gone.
  }
  process.exit(0);
}

/** Answers one decoded line; returns the frame to send back, or null. */
function handle(line) {
  let message;
  try {
    message = JSON.parse(line);
  } catch (e) {
    return errorFrame('', 'malformed_frame', `malformed frame: ${e.message}`);
  }
  if (
    message === null ||
    typeof message !== 'object' ||
    Array.isArray(message) ||
    typeof message.type !== 'string' ||
    typeof message.request_id !== 'string' ||
    !Number.isInteger(message.timestamp) ||
    message.timestamp < 0
  ) {
    return errorFrame('', 'malformed_frame', 'malformed frame: not an envelope');
  }
  const id = message.request_id;
  const payload = message.payload ?? {};
  if (typeof payload !== 'object' || Array.isArray(payload)) {
    return errorFrame(id, 'bad_payload', 'the payload is not an object');
  }
  switch (message.type) {
    case 'lifecycle.init':
      if (payload.protocol_version !== PROTOCOL_VERSION) {
        return errorFrame(id, 'unsupported_version', `this plugin speaks protocol ${PROTOCOL_VERSION}`);
      }
      log(6, `initialised by instance ${payload.instance_id}`);
      return frame('lifecycle.ready', id, { protocol_version: PROTOCOL_VERSION });
    case 'ping':
      return frame('pong', id, {});
    case 'http.request':
      if (typeof payload.method !== 'string' || typeof payload.path !== 'string') {
        return errorFrame(id, 'bad_payload', 'http.request needs method and path');
      }
      if (stopping) return errorFrame(id, 'unavailable', 'shutting down');
      return frame('http.response', id, route(payload));
    case 'lifecycle.shutdown':
      // Answered by exiting; the write of nothing first keeps the order simple.
      setImmediate(() => shutdown('lifecycle.shutdown'));
      return null;
    case 'kv.response':
    case 'error':
      // This plugin sends no kv.request; an error is never answered with an error.
      return null;
    default:
      return errorFrame(id, 'unknown_type', `unknown message type ${JSON.stringify(message.type)}`);
  }
}

/** One daemon connection: newline-delimited frames, each answered in order. */
function serveConnection(conn) {
  let buffered = '';
  conn.setEncoding('utf8');
  conn.on('data', (chunk) => {
    buffered += chunk;
    let newline;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      let line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      if (line.endsWith('\r')) line = line.slice(0, -1);
      if (line.trim() === '') continue;
      const reply = handle(line);
      if (reply !== null) conn.write(reply);
    }
    if (Buffer.byteLength(buffered) > MAX_FRAME) {
      log(4, 'frame over 8 MiB, closing the connection');
      conn.destroy();
    }
  });
  conn.on('error', (e) => log(4, `connection error: ${e.message}`));
}

function parseArgs(argv) {
  let path = process.env.TORU_PLUGIN_SOCKET ?? null;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--metadata') return { command: 'metadata' };
    if (argv[i] === '--socket') path = argv[++i] ?? null;
    else if (argv[i].startsWith('--socket=')) path = argv[i].slice('--socket='.length);
  }
  return { command: 'serve', path };
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.command === 'metadata') {
    process.stdout.write(JSON.stringify(METADATA) + '\n');
    return;
  }
  if (!args.path) {
    process.stderr.write('usage: hello-node.binary --metadata | --socket PATH\n');
    process.exit(2);
  }
  socketPath = args.path;
  // A stale socket from an earlier run goes; any other kind of file stays (section 1).
  try {
    if (fs.lstatSync(socketPath).isSocket()) fs.unlinkSync(socketPath);
  } catch {
    // Nothing there.
  }
  server = net.createServer(serveConnection);
  server.on('error', (e) => {
    log(3, `cannot listen on ${socketPath}: ${e.message}`);
    process.exit(1);
  });
  server.listen(socketPath, () => log(6, `listening on ${socketPath}`));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main();
