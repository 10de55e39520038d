import react from '@vitejs/plugin-react'
import { defineConfig } from 'vite'

// The console's build: hashed assets under /assets, no inline scripts (the console's CSP allows 'self' only).
export default defineConfig({
  root: import.meta.dirname,
  base: '/',
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    target: 'es2022',
    sourcemap: false,
  },
  logLevel: 'warn',
})
