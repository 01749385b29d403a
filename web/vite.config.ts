import { defineConfig } from "vite";
import vue from "@vitejs/plugin-vue";

// The edge serves dist/ at `/`: hashed assets under /assets (cached for a
// year), index.html never cached. The dev server proxies the API to a
// running `scout up`.
export default defineConfig({
  plugins: [vue()],
  resolve: { alias: { "@": new URL("./src", import.meta.url).pathname } },
  build: {
    outDir: "dist",
    assetsDir: "assets",
    sourcemap: false,
    target: "es2022",
    chunkSizeWarningLimit: 600,
  },
  server: {
    proxy: {
      "^/(scout\\.|grpc\\.|api/|blobs/)": { target: "http://127.0.0.1:8080", changeOrigin: true },
    },
  },
});
