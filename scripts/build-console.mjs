// Bundles the web console (src/ui) into dist/console: one ES module with Preact and uPlot in it
// (no CDN), its CSS, and index.html. Run by `npm run build` after tsc.
import { build } from 'esbuild';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = `${root}dist/console`;
await mkdir(out, { recursive: true });
await build({
  entryPoints: [`${root}src/ui/main.tsx`],
  bundle: true,
  format: 'esm',
  target: 'es2022',
  minify: true,
  sourcemap: true,
  jsx: 'automatic',
  jsxImportSource: 'preact',
  outfile: `${out}/app.js`,
  logLevel: 'warning',
});
const css =
  (await readFile(`${root}node_modules/uplot/dist/uPlot.min.css`, 'utf8')) +
  (await readFile(`${root}src/ui/app.css`, 'utf8'));
await writeFile(`${out}/app.css`, css);
await copyFile(`${root}src/ui/index.html`, `${out}/index.html`);
