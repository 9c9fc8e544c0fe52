/// <reference types="vitest/config" />
import { defineConfig } from 'vite';

// No @vitejs/plugin-react: esbuild's own automatic JSX runtime is all this app needs (no fast
// refresh in `vite dev`, which is fine for a small dashboard).
export default defineConfig({
  base: '/',
  esbuild: { jsx: 'automatic' },
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
