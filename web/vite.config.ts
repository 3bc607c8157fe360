import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// The dashboard SPA. `npm run build` builds it into web/dist, which `balancewatch serve` serves at `/`.
// Development: run the service (`npm start`, port 8080) and `npx vite --config web/vite.config.ts`; the dev server
// proxies /api to it (BALANCEWATCH_DEV_API to point elsewhere).
const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root,
  base: '/',
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // The service's Content-Security-Policy is default-src 'self': no data: URIs for assets.
    assetsInlineLimit: 0,
    sourcemap: false,
    chunkSizeWarningLimit: 800,
  },
  server: {
    proxy: { '/api': process.env.BALANCEWATCH_DEV_API ?? 'http://127.0.0.1:8080' },
  },
});
