import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

// The build goes into the Python package so that `gestalt serve` serves it at `/`,
// with hashed files under /assets/.
export default defineConfig({
  plugins: [react()],
  base: "/",
  build: {
    outDir: "../src/gestalt/web",
    emptyOutDir: true,
    assetsDir: "assets",
    chunkSizeWarningLimit: 2000,
  },
  worker: { format: "es" },
  server: {
    proxy: { "/api": "http://127.0.0.1:8765" },
  },
  test: {
    environment: "node",
    include: ["tests/**/*.test.ts"],
  },
});
