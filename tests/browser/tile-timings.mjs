// Measures vector-tile latency and size against a running `gapmap serve`: for each collection and
// zoom, up to 40 tiles across the city's extent (every tile at low zooms, an even sample higher
// up), requested one at a time with gzip, as a browser would. Prints median, 95th percentile and
// maximum latency (ms, client side and the server's own `Server-Timing` render time) and
// median / maximum gzip size. Bounded: at most 40 tiles × 7 zooms × 5 collections.
//
//   node tests/browser/tile-timings.mjs http://127.0.0.1:8080 [zmin] [zmax]

import http from 'node:http';

const base = (process.argv[2] || '').replace(/\/$/, '');
const zmin = Number(process.argv[3] || 10);
const zmax = Number(process.argv[4] || 16);
if (!base.startsWith('http://127.') && !base.startsWith('http://localhost')) {
  console.error('usage: node tests/browser/tile-timings.mjs http://127.0.0.1:PORT [zmin] [zmax] (loopback only)');
  process.exit(2);
}

function get(path) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    http
      .get(base + path, { headers: { 'Accept-Encoding': 'gzip' } }, (res) => {
        let bytes = 0;
        res.on('data', (c) => {
          bytes += c.length;
        });
        res.on('end', () => {
          const ms = Number(process.hrtime.bigint() - started) / 1e6;
          const render = /render;dur=([\d.]+)/.exec(res.headers['server-timing'] || '');
          resolve({ status: res.statusCode, ms, bytes, render: render ? Number(render[1]) : NaN });
        });
      })
      .on('error', reject);
  });
}

async function getJson(path) {
  return new Promise((resolve, reject) => {
    http.get(base + path, (res) => {
      let body = '';
      res.on('data', (c) => {
        body += c;
      });
      res.on('end', () => resolve(JSON.parse(body)));
    }).on('error', reject);
  });
}

function tilesCovering([w, s, e, n], z) {
  const count = 2 ** z;
  const tx = (lon) => Math.floor(((lon + 180) / 360) * count);
  const ty = (lat) => {
    const r = (lat * Math.PI) / 180;
    return Math.floor(((1 - Math.log(Math.tan(r) + 1 / Math.cos(r)) / Math.PI) / 2) * count);
  };
  const out = [];
  for (let x = tx(w); x <= tx(e); x++) for (let y = ty(n); y <= ty(s); y++) out.push([x, y]);
  return out;
}

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
const bounds = (await getJson('/tiles/estates.json')).bounds;
const collections = ['estates', 'estates?kind=day_care', 'facilities', 'gaps?kind=day_care', 'service-areas'];
console.log(`city bounds ${bounds.map((b) => b.toFixed(3)).join(', ')}`);
console.log('collection               z  tiles  ms p50   p95   max | render p50   max | gzip KB p50   max');
for (const c of collections) {
  const [name, query] = c.split('?');
  for (let z = zmin; z <= zmax; z++) {
    let tiles = tilesCovering(bounds, z);
    if (tiles.length > 40) {
      const step = tiles.length / 40;
      tiles = Array.from({ length: 40 }, (_, i) => tiles[Math.floor(i * step)]);
    }
    const results = [];
    for (const [x, y] of tiles) {
      const r = await get(`/tiles/${name}/${z}/${x}/${y}.mvt${query ? `?${query}` : ''}`);
      if (r.status !== 200) throw new Error(`${name} ${z}/${x}/${y}: ${r.status}`);
      results.push(r);
    }
    const ms = results.map((r) => r.ms).sort((a, b) => a - b);
    const render = results.map((r) => r.render).sort((a, b) => a - b);
    const kb = results.map((r) => r.bytes / 1024).sort((a, b) => a - b);
    const f = (v, w = 6) => v.toFixed(1).padStart(w);
    console.log(
      `${c.padEnd(24)} ${String(z).padStart(2)} ${String(results.length).padStart(6)} ${f(quantile(ms, 0.5), 7)} ${f(quantile(ms, 0.95))} ${f(ms.at(-1))} |` +
        ` ${f(quantile(render, 0.5), 10)} ${f(render.at(-1))} | ${f(quantile(kb, 0.5), 11)} ${f(kb.at(-1))}`,
    );
  }
}
