// The console is served by the API under /console/ (mini_program_api/routes/console.py), so `base` is that path.
import vue from "@vitejs/plugin-vue";
import Components from "unplugin-vue-components/vite";
import { ElementPlusResolver } from "unplugin-vue-components/resolvers";
import { defineConfig } from "vitest/config";

export default defineConfig({
  base: "/console/",
  plugins: [
    vue(),
    // Element Plus on demand: only the components a template uses, each with its own CSS.
    Components({ resolvers: [ElementPlusResolver({ importStyle: "css" })], dts: "src/components.d.ts" }),
  ],
  build: {
    outDir: "dist",
    manifest: true, // dist/.vite/manifest.json: which files each route loads (bench/console_size.py)
    emptyOutDir: true,
    chunkSizeWarningLimit: 700,
    rollupOptions: {
      output: {
        // Stable chunk names: echarts apart, loaded by the dashboard only; the till never downloads it.
        manualChunks(id) {
          if (id.includes("node_modules/echarts") || id.includes("node_modules/zrender")) return "charts";
          return undefined;
        },
      },
    },
  },
  server: { proxy: { "/v1": "http://127.0.0.1:8000" } },
  test: { include: ["src/**/*.test.ts"], environment: "node" },
});
