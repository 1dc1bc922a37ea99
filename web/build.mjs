// Builds web/dist/: MapLibre GL JS's prebuilt ES modules and CSS (the maplibre-gl npm package,
// BSD-3-Clause, with its licence), which the gapmap binary embeds and serves under /map/ beside
// the web map's own files. Those (web/src) have no build step, so the binary embeds them from
// web/src directly: one copy in git.
//
//   node web/build.mjs          # write web/dist
//   node web/build.mjs --check  # exit 1 when web/dist differs from a fresh build
//
// web/dist is committed so that `cargo build` needs neither node nor the network; `--check` (run
// by tests/styles.rs) keeps it equal to the locked maplibre-gl version. No bundler: the app is
// one hand-written ES module that imports maplibre-gl.mjs, and MapLibre loads its worker
// (maplibre-gl-worker.mjs) from beside it. Source-map comments are dropped from the vendored
// files because the maps are not shipped.

import { readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const vendor = join(here, 'node_modules/maplibre-gl');
const dist = join(here, 'dist');

/** [output name, source path, transform]; keep in step with src/http/webmap.rs. */
const stripSourceMap = (text) => text.replace(/\n\/\/# sourceMappingURL=\S+\s*$/, '\n');
const files = [
  ['maplibre-gl.mjs', join(vendor, 'dist/maplibre-gl.mjs'), stripSourceMap],
  ['maplibre-gl-worker.mjs', join(vendor, 'dist/maplibre-gl-worker.mjs'), stripSourceMap],
  ['maplibre-gl.css', join(vendor, 'dist/maplibre-gl.css'), (t) => t.replace(/\n\/\*# sourceMappingURL=\S+\s*\*\/\s*$/, '\n')],
  ['maplibre-gl-LICENSE.txt', join(vendor, 'LICENSE.txt')],
];

if (!existsSync(vendor)) {
  console.error('build: web/node_modules/maplibre-gl is missing; run bash scripts/setup.sh (or npm ci in web/)');
  process.exit(1);
}
const version = JSON.parse(readFileSync(join(vendor, 'package.json'), 'utf8')).version;
const check = process.argv.includes('--check');
mkdirSync(dist, { recursive: true });
let stale = 0;
for (const [name, source, transform] of files) {
  let text = readFileSync(source, 'utf8');
  if (transform) text = transform(text);
  const out = join(dist, name);
  if (check) {
    if (!existsSync(out) || readFileSync(out, 'utf8') !== text) {
      console.error(`build: web/dist/${name} is out of date; run node web/build.mjs`);
      stale++;
    }
  } else {
    writeFileSync(out, text);
  }
}
const stamp = `maplibre-gl ${version}\n`;
const stampFile = join(dist, 'VERSIONS.txt');
if (check) {
  if (!existsSync(stampFile) || readFileSync(stampFile, 'utf8') !== stamp) {
    console.error('build: web/dist/VERSIONS.txt is out of date; run node web/build.mjs');
    stale++;
  }
  if (stale === 0) console.log(`build: web/dist is up to date (maplibre-gl ${version})`);
} else {
  writeFileSync(stampFile, stamp);
  console.log(`build: wrote web/dist (maplibre-gl ${version})`);
}
process.exit(stale ? 1 : 0);
