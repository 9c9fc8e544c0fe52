/// <reference types="vitest/config" />
// Builds the dashboard view into ONE self-contained ES module, dist/bundle.js, which the plugin
// embeds with include_bytes! (see ../build.rs). Library mode, ES format only, React bundled in
// (the host page provides nothing), CSS imported as a string (`?inline`) and injected by mount(),
// so there is no second file to serve.
import { type Plugin, defineConfig, transformWithEsbuild } from 'vite';

/**
 * Vite leaves whitespace in library-mode ES output (it keeps `@__PURE__` hints for a consumer's
 * tree-shaking). This bundle is final — nothing bundles it again — so minify it completely.
 */
function minifyBundle(): Plugin {
  return {
    name: 'toru-minify-bundle',
    apply: 'build',
    enforce: 'post',
    // generateBundle runs after every plugin's renderChunk, including Vite's own esbuild pass.
    async generateBundle(_options, bundle) {
      for (const chunk of Object.values(bundle)) {
        if (chunk.type !== 'chunk') continue;
        const out = await transformWithEsbuild(chunk.code, chunk.fileName, {
          minify: true,
          format: 'esm',
          target: 'es2022',
          legalComments: 'none',
        });
        chunk.code = out.code;
      }
    },
  };
}

export default defineConfig(({ command }) => ({
  plugins: [minifyBundle()],
  esbuild: { jsx: 'automatic' },
  // React picks its development or production build from process.env.NODE_ENV, which does not
  // exist in a browser. Only for the build: the tests need React's development build for act().
  define: command === 'build' ? { 'process.env.NODE_ENV': '"production"' } : {},
  publicDir: false,
  build: {
    lib: {
      entry: 'src/main.tsx',
      formats: ['es'],
      fileName: 'bundle',
    },
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    rollupOptions: {
      // No externals: everything, React included, goes into the one file.
      external: [],
      output: { inlineDynamicImports: true },
    },
  },
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.{ts,tsx}'],
    // Process CSS in tests too, so `?inline` yields the real stylesheet the tests inspect.
    css: true,
    restoreMocks: true,
  },
}));
