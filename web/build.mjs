// Builds what gromo serves under / and /docs into one folder (by default
// ../build/web, the Makefile's WEB_OUT; gromo serve --web-root):
//
//   index.html                 the dashboard's page
//   assets/app-HASH.js, .css   the dashboard, bundled by esbuild from src/
//   docs/index.html, docs.js   Swagger UI's page and its start-up script
//   docs/swagger-ui-bundle.js, docs/swagger-ui.css   from swagger-ui-dist
//
// and beside every compressible file its gzip twin (NAME.gz), which gromo
// sends to browsers that accept gzip. Nothing is fetched at run time: every
// script, style and the map come from this folder.
//
//   node build.mjs [OUT]
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(process.argv[2] || join(here, '..', 'build', 'web'));
const swaggerDir = join(here, 'node_modules', 'swagger-ui-dist');

rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, 'assets'), { recursive: true });
mkdirSync(join(out, 'docs'), { recursive: true });

// ---- the dashboard ----
const result = await build({
  entryPoints: [join(here, 'src', 'main.js')],
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2020'],
  outdir: join(out, 'assets'),
  entryNames: 'app-[hash]',
  assetNames: '[name]-[hash]',
  metafile: true,
  legalComments: 'none', // the license files are in licenses-HASH.txt
  logLevel: 'warning',
});
const outputs = Object.keys(result.metafile.outputs).map((p) => resolve(p));
const script = outputs.find((p) => p.endsWith('.js'));
const style = outputs.find((p) => p.endsWith('.css'));
const rel = (p) => '/assets/' + p.split('/').pop();

// The licenses of what the bundle holds, in one file named by its content
// (assets are cached for good): the packages' own license and notice files.
const bundled = [
  ['echarts', ['LICENSE', 'NOTICE', 'licenses/LICENSE-d3']],
  ['zrender', ['LICENSE']],
  ['tslib', ['LICENSE.txt']],
  ['@svg-maps/india', ['LICENSE.md']],
];
let licenses = 'The dashboard bundles these packages (see also NOTICE in the source).\n';
for (const [pkg, files] of bundled) {
  const meta = JSON.parse(readFileSync(join(here, 'node_modules', pkg, 'package.json'), 'utf8'));
  licenses += `\n\n==== ${pkg} ${meta.version} (${meta.license}) ====\n`;
  for (const f of files) licenses += `\n---- ${f} ----\n` + readFileSync(join(here, 'node_modules', pkg, f), 'utf8');
}
const licHash = createHash('sha256').update(licenses).digest('hex').slice(0, 10);
const licName = `licenses-${licHash}.txt`;
writeFileSync(join(out, 'assets', licName), licenses);

const page = readFileSync(join(here, 'src', 'index.html'), 'utf8')
  .replace('%SCRIPT%', rel(script))
  .replace('%STYLE%', rel(style))
  .replace('%LICENSES%', '/assets/' + licName);
writeFileSync(join(out, 'index.html'), page);

// ---- the API docs: Swagger UI, as the package ships it ----
const docsPage = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Gromo Demand Analyzer API</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/docs/swagger-ui.css">
<link rel="stylesheet" href="/docs/docs.css">
</head>
<body>
<header class="gromo-docs-bar"><a href="/">&larr; Dashboard</a> <span>Gromo Demand Analyzer &middot; API</span></header>
<main id="swagger-ui"></main>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/docs.js"></script>
</body>
</html>
`;
writeFileSync(join(out, 'docs', 'index.html'), docsPage);
// The source map comment would make devtools ask for a file not shipped.
const bundle = readFileSync(join(swaggerDir, 'swagger-ui-bundle.js'), 'utf8')
  .replace(/\n\/\/# sourceMappingURL=\S+\s*$/, '\n');
writeFileSync(join(out, 'docs', 'swagger-ui-bundle.js'), bundle);
const css = readFileSync(join(swaggerDir, 'swagger-ui.css'), 'utf8')
  .replace(/\/\*# sourceMappingURL=\S+ \*\/\s*$/, '');
writeFileSync(join(out, 'docs', 'swagger-ui.css'), css);
writeFileSync(join(out, 'docs', 'docs.js'), readFileSync(join(here, 'src', 'docs.js')));
writeFileSync(join(out, 'docs', 'docs.css'), readFileSync(join(here, 'src', 'docs.css')));
writeFileSync(join(out, 'docs', 'LICENSE-swagger-ui.txt'),
  readFileSync(join(swaggerDir, 'LICENSE')) + '\n' + readFileSync(join(swaggerDir, 'NOTICE')));

// ---- gzip twins and a manifest of sizes ----
const compressible = /\.(html|js|css|json|svg|txt|map)$/;
const sizes = [];
function walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) { walk(p); continue; }
    if (!compressible.test(name)) { sizes.push([p, statSync(p).size, statSync(p).size]); continue; }
    const raw = readFileSync(p);
    const gz = gzipSync(raw, { level: 9 });
    if (gz.length < raw.length) writeFileSync(p + '.gz', gz);
    sizes.push([p, raw.length, Math.min(gz.length, raw.length)]);
  }
}
walk(out);
const manifest = {
  built: new Date().toISOString(),
  files: sizes.map(([p, raw, gz]) => ({ file: p.slice(out.length + 1), bytes: raw, gzip: gz })),
};
manifest.dashboard_gzip = manifest.files
  .filter((f) => !f.file.startsWith('docs/') && !f.file.endsWith('.txt'))
  .reduce((a, f) => a + f.gzip, 0);
manifest.docs_gzip = manifest.files.filter((f) => f.file.startsWith('docs/') && !f.file.endsWith('.txt'))
  .reduce((a, f) => a + f.gzip, 0);
writeFileSync(join(out, 'build.json'), JSON.stringify(manifest, null, 1) + '\n');
const kb = (n) => (n / 1024).toFixed(0) + ' KiB';
console.log(`web: built ${out}: dashboard ${kb(manifest.dashboard_gzip)} gzipped, ` +
  `docs ${kb(manifest.docs_gzip)} gzipped`);
