/// <reference types="vitest/config" />
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { brotliCompress, constants as zlib, gzip } from 'node:zlib';
import { defineConfig, transformWithEsbuild, type Plugin } from 'vite';

/** Files smaller than this are sent as they are: compressing them saves less than a packet. */
const PRECOMPRESS_MIN_BYTES = 1024;
/** What is worth compressing: text. Images other than SVG are compressed already. */
const PRECOMPRESS_EXTENSIONS = /\.(js|css|html|svg|json|txt)$/;

/** A brotli (`FILE.br`, quality 11) and a gzip (`FILE.gz`, level 9) copy of every text file of
 *  the build worth compressing, kept only when smaller: the daemon sends the copy a browser
 *  accepts (`toru-daemon/src/api/web.rs`), so it compresses once here at the best level
 *  instead of at every request. No dependency: Node's own zlib does both. */
function precompress(): Plugin {
  const brotli = promisify(brotliCompress);
  const gzipAsync = promisify(gzip);
  return {
    name: 'toru-precompress',
    apply: 'build',
    async writeBundle(options, bundle) {
      const dir = options.dir ?? 'dist';
      await Promise.all(
        Object.keys(bundle)
          .filter((name) => PRECOMPRESS_EXTENSIONS.test(name))
          .map(async (name) => {
            const file = path.join(dir, name);
            const source = await readFile(file);
            if (source.length < PRECOMPRESS_MIN_BYTES) return;
            const copies: [string, Buffer][] = [
              ['.br', await brotli(source, { params: { [zlib.BROTLI_PARAM_QUALITY]: 11, [zlib.BROTLI_PARAM_SIZE_HINT]: source.length } })],
              ['.gz', await gzipAsync(source, { level: 9 })],
            ];
            await Promise.all(copies.filter(([, copy]) => copy.length < source.length).map(([suffix, copy]) => writeFile(file + suffix, copy)));
          }),
      );
    },
  };
}

/** The view frame's script (`src/view/frame.ts`) as `/view-frame.js`: a classic script compiled
 *  on its own, since the sandboxed frame's opaque origin could load a module script only with
 *  CORS. It imports nothing but types, so compiling is all the bundling it needs. */
function viewFrameScript(): Plugin {
  const source = new URL('src/view/frame.ts', import.meta.url);
  const compile = async () =>
    (await transformWithEsbuild(await readFile(source, 'utf8'), source.pathname, { format: 'iife', target: 'es2022', minify: true })).code;
  return {
    name: 'toru-view-frame-script',
    configureServer(server) {
      server.middlewares.use('/view-frame.js', (_request, response, next) => {
        compile()
          .then((code) => {
            response.setHeader('content-type', 'text/javascript');
            response.end(code);
          })
          .catch(next);
      });
    },
    async generateBundle() {
      this.emitFile({ type: 'asset', fileName: 'view-frame.js', source: await compile() });
    },
  };
}

// No @vitejs/plugin-react: esbuild's own automatic JSX runtime is all this app needs (no fast
// refresh in `vite dev`, which is fine for a small dashboard).
export default defineConfig({
  base: '/',
  esbuild: { jsx: 'automatic' },
  plugins: [viewFrameScript(), precompress()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
  },
  server: {
    // `npm run dev` against a daemon on the default address. The Host header is kept as is
    // (no changeOrigin) so the daemon's same-origin check sees the page's own origin.
    proxy: {
      '/api': { target: process.env.TORU_URL ?? 'http://127.0.0.1:7070', changeOrigin: false },
    },
  },
  test: {
    environment: 'jsdom',
    globals: true,
    include: ['src/**/*.test.{ts,tsx}'],
    setupFiles: ['src/test/setup.ts'],
    restoreMocks: true,
  },
});
