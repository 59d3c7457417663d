import { defineConfig } from "vite";

// The UI lives in ui/ and is built into dist/ (tauri.conf.json: frontendDist).
export default defineConfig({
  root: "ui",
  clearScreen: false,
  build: {
    outDir: "../dist",
    emptyOutDir: true,
    target: "es2021",
  },
  server: { port: 5173, strictPort: true },
});
