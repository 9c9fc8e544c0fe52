// The e2e harness: a real toru-daemon with real plugins in a temporary directory, and a real
// Chromium driven by playwright-core. Nothing is built here: it expects frontend/dist,
// target/debug/toru-daemon, target/debug/hello-rust and target/debug/toru-license to exist
// already (`cargo build --workspace` builds all three).

import { spawn, execFile } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { access, chmod, copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile, constants } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const frontendDir = path.resolve(here, '..');
export const repoRoot = path.resolve(frontendDir, '..');

export const paths = {
  dist: path.join(frontendDir, 'dist'),
  daemon: process.env.TORU_DAEMON ?? path.join(repoRoot, 'target/debug/toru-daemon'),
  helloRust: process.env.TORU_HELLO_RUST ?? path.join(repoRoot, 'target/debug/hello-rust'),
  /** The vendor CLI that issues licence keys. */
  license: process.env.TORU_LICENSE ?? path.join(repoRoot, 'target/debug/toru-license'),
  /** The demo vendor's Ed25519 signing key, whose public key hello-rust embeds. */
  demoVendorKey: path.join(repoRoot, 'examples/demo-vendor/ed25519.key'),
  pythonBuild: path.join(repoRoot, 'examples/hello-plugin-python/build.sh'),
  /** The hostile test plugin (e2e/hostile/): a Python script on the Python SDK, whose view
   *  attacks the dashboard. */
  hostile: path.join(here, 'hostile/hostile.py'),
  chromium: process.env.CHROMIUM ?? '/usr/bin/chromium',
  screenshots: path.join(repoRoot, 'target/e2e'),
};

export const USER = { username: 'admin', password: 'correct horse battery' };

/** Rejects after `ms` with a message naming what timed out. */
export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Fails with a helpful message when a prerequisite is missing. */
export async function checkPrerequisites() {
  const missing = [];
  const need = async (file, mode, hint) => {
    try {
      await access(file, mode);
    } catch {
      missing.push(`${path.relative(repoRoot, file) || file}: ${hint}`);
    }
  };
  await need(path.join(paths.dist, 'index.html'), constants.R_OK, 'run `npm run build` in frontend/');
  await need(paths.daemon, constants.X_OK, 'run `cargo build --workspace` at the repository root');
  await need(paths.helloRust, constants.X_OK, 'run `cargo build --workspace` at the repository root');
  await need(paths.license, constants.X_OK, 'run `cargo build --workspace` at the repository root');
  await need(paths.demoVendorKey, constants.R_OK, 'examples/demo-vendor/ed25519.key is missing');
  await need(paths.pythonBuild, constants.X_OK, 'examples/hello-plugin-python/build.sh is missing');
  await need(paths.hostile, constants.X_OK, 'frontend/e2e/hostile/hostile.py is missing or not executable');
  await need(paths.chromium, constants.X_OK, 'install Chromium (`apt-get install chromium`) or set CHROMIUM');
  if (missing.length) throw new Error(`missing prerequisites:\n  ${missing.join('\n  ')}`);
}

function run(file, args, options) {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: 60_000, ...options }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${file} ${args.join(' ')} failed: ${error.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/** A plugin that describes itself properly and then crashes at every start, so the suite can
 *  see what a failing plugin looks like. */
const CRASHY = `#!/bin/sh
if [ "$1" = "--metadata" ]; then
  echo '{"id":"crashy","name":"Crashy","version":"0.0.1","author":"The e2e suite","icon":"💥","route":"/crashy","protocol_version":1,"description":"Exits at once, to show what a failing plugin looks like"}'
  exit 0
fi
echo "<3>cannot open /etc/crashy.conf: No such file or directory" >&2
exit 3
`;

/** A temporary directory with `plugins/` holding both example plugins, `crashy` and `hostile`. */
export async function preparePlugins() {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'toru-e2e-'));
  const plugins = path.join(tmp, 'plugins');
  await mkdir(plugins, { recursive: true });
  await copyFile(paths.helloRust, path.join(plugins, 'hello-rust.binary'));
  await writeFile(path.join(plugins, 'crashy.binary'), CRASHY, { mode: 0o755 });
  // A link, not a copy: the script finds the SDK and its view next to where it really is.
  await symlink(paths.hostile, path.join(plugins, 'hostile.binary'));
  // OUT_DIR keeps the build out of the source tree.
  await run(paths.pythonBuild, [plugins], { env: { ...process.env, OUT_DIR: path.join(tmp, 'python-build') } });
  return tmp;
}

/** A licence key for `plugin` on instance `instance`, signed with the demo vendor's key by the
 *  real `toru-license issue`. The CLI insists on a 0600 key file, which git does not keep, so it
 *  signs with a copy in `tmp`. */
export async function issueLicense(tmp, { plugin, instance, licensee, features = [] }) {
  const keyFile = path.join(tmp, 'demo-vendor.key');
  await copyFile(paths.demoVendorKey, keyFile);
  await chmod(keyFile, 0o600);
  const args = ['issue', '--key', keyFile, '--plugin', plugin, '--instance', instance, '--licensee', licensee];
  for (const feature of features) args.push('--feature', feature);
  const key = (await run(paths.license, args)).trim();
  if (!key.startsWith('TORU1.')) throw new Error(`toru-license issue printed no key: ${key}`);
  return key;
}

/** A TCP port nobody listens on right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
      server.close(() => resolve(port));
    });
  });
}

/** Starts the daemon and waits until `GET /api/health` answers. */
export async function startDaemon(tmp) {
  const port = await freePort();
  const logFile = path.join(tmp, 'daemon.log');
  const log = createWriteStream(logFile);
  const args = [
    '--supervisor', 'embedded',
    '--config', '/dev/null',
    '--data-dir', path.join(tmp, 'data'),
    '--plugins-dir', path.join(tmp, 'plugins'),
    '--runtime-dir', path.join(tmp, 'run'),
    '--log-dir', path.join(tmp, 'logs'),
    '--listen', `127.0.0.1:${port}`,
    '--web-root', paths.dist,
  ];
  // Its own process group, so plugins it started can be cleaned up with it if need be.
  const child = spawn(paths.daemon, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  let exited = null;
  const exit = new Promise((resolve) => child.on('exit', (code, signal) => resolve((exited = { code, signal }))));
  const daemon = {
    child,
    port,
    url: `http://127.0.0.1:${port}`,
    socket: path.join(tmp, 'run', 'toru.sock'),
    logFile,
    exit,
    get exited() {
      return exited;
    },
  };

  const deadline = Date.now() + 20_000;
  for (;;) {
    if (exited) throw new Error(`the daemon exited early (${JSON.stringify(exited)}); see ${logFile}`);
    try {
      const response = await fetch(`${daemon.url}/api/health`, { signal: AbortSignal.timeout(1000) });
      if (response.ok) break;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) throw new Error(`the daemon did not answer /api/health within 20 s; see ${logFile}`);
    await sleep(100);
  }
  return daemon;
}

/** SIGTERM, then SIGKILL to its whole group if it has not exited within 8 s. */
export async function stopDaemon(daemon) {
  if (!daemon || daemon.exited) return;
  try {
    daemon.child.kill('SIGTERM');
  } catch {
    // Already gone.
  }
  const done = await Promise.race([daemon.exit.then(() => true), sleep(8000).then(() => false)]);
  if (!done) {
    try {
      process.kill(-daemon.child.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
    await Promise.race([daemon.exit, sleep(2000)]);
  }
}

/** One request over the daemon's Unix socket (which trusts root: no session needed). */
export function socketRequest(daemon, method, urlPath, body) {
  return withTimeout(
    new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const request = http.request(
        {
          socketPath: daemon.socket,
          method,
          path: urlPath,
          headers: payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {},
        },
        (response) => {
          let text = '';
          response.setEncoding('utf8');
          response.on('data', (chunk) => (text += chunk));
          response.on('end', () => resolve({ status: response.statusCode, body: text }));
        },
      );
      request.on('error', reject);
      if (payload) request.write(payload);
      request.end();
    }),
    10_000,
    `${method} ${urlPath} over the socket`,
  );
}

export async function createUser(daemon) {
  const { status, body } = await socketRequest(daemon, 'POST', '/api/users', USER);
  if (status !== 201 && status !== 200) throw new Error(`creating the user answered ${status}: ${body}`);
}

/** The last lines of the daemon's log, for failure reports. */
export async function daemonLogTail(daemon, lines = 40) {
  try {
    const text = await readFile(daemon.logFile, 'utf8');
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no daemon log)';
  }
}

export async function cleanDir(dir) {
  await rm(dir, { recursive: true, force: true });
}
