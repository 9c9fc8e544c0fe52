/// <reference types="vitest/config" />
import { readFile } from 'node:fs/promises';
import { defineConfig, transformWithEsbuild, type Plugin } from 'vite';

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
  plugins: [viewFrameScript()],
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
