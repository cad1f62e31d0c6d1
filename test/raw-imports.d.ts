// Vite's `?raw` imports (a file's text) for the Node-side type check of tests that import page modules: the app's
// tsconfig has them from `vite/client`, the node one does not load that (src/ui/torchExport.ts imports the
// PyTorch script this way).
declare module '*?raw' {
  const text: string;
  export default text;
}
