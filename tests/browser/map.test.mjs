// Browser test of gapmap's web map: Debian's chromium, driven by playwright-core, against a
// running `gapmap serve`. Run by tests/browser.rs; by hand:
//
//   node tests/browser/map.test.mjs http://127.0.0.1:8080 [screenshot.png]
//
// Checks, as a planner would see them: the page loads with no request leaving the server; the
// map becomes idle with estates drawn (queryRenderedFeatures > 0) and the district panel filled;
// clicking an estate opens a popup with its coverage for every kind; choosing another kind and
// another year each change the colours on screen; the language switch changes the interface.
// When the server measures by walking (config.network), also: the popup shows the straight and
// walking distances (walking never shorter) with the detour, the straight-line / walking switch
// recolours the map, and the streets draw from zoom 14; without a network the switch is hidden.
// The plan panel runs a plan (sites ranked with their gains, as POST /plans answers, drawn on the
// map, a selected site's estates highlighted) and a trial facility dropped on the map reports what
// POST /what-if answers there and highlights those estates.
// Saves a screenshot. Exits non-zero on the first failure.

import { createRequire } from 'node:module';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inflateSync } from 'node:zlib';

const here = dirname(fileURLToPath(import.meta.url));
const webDir = resolve(here, '../../web');
const base = (process.argv[2] || '').replace(/\/$/, '');
const shot = resolve(process.argv[3] || join(here, '../../target/test-artifacts/webmap.png'));
const chromiumPath = process.env.GAPMAP_CHROMIUM || '/usr/bin/chromium';

const errors = [];
function fail(message) {
  throw new Error(errors.length ? `${message}\n  page errors: ${errors.slice(0, 5).join(' | ')}` : message);
}

const stop = (message) => {
  console.error(`browser test: ${message}`);
  process.exit(1);
};
if (!base.startsWith('http://')) stop('usage: node tests/browser/map.test.mjs http://127.0.0.1:PORT [screenshot.png]');
if (!existsSync(chromiumPath)) stop(`${chromiumPath} is missing; run bash scripts/setup.sh (it installs Debian's chromium)`);
if (!existsSync(join(webDir, 'node_modules/playwright-core'))) stop('web/node_modules/playwright-core is missing; run bash scripts/setup.sh (npm ci in web/)');
const { chromium } = createRequire(join(webDir, 'package.json'))('playwright-core');

/** Decodes an 8-bit RGB(A) non-interlaced PNG (what Chromium writes) into RGBA pixels. */
function decodePng(buffer) {
  let at = 8;
  let width = 0;
  let height = 0;
  let channels = 4;
  const data = [];
  while (at < buffer.length) {
    const length = buffer.readUInt32BE(at);
    const type = buffer.toString('latin1', at + 4, at + 8);
    const body = buffer.subarray(at + 8, at + 8 + length);
    if (type === 'IHDR') {
      width = body.readUInt32BE(0);
      height = body.readUInt32BE(4);
      if (body[8] !== 8 || body[12] !== 0) throw new Error('unsupported PNG');
      channels = { 2: 3, 6: 4 }[body[9]];
      if (!channels) throw new Error(`unsupported PNG colour type ${body[9]}`);
    } else if (type === 'IDAT') {
      data.push(body);
    }
    at += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(data));
  const stride = width * channels;
  const out = Buffer.alloc(width * height * 4);
  let prev = Buffer.alloc(stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = Buffer.from(raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1)));
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? line[i - channels] : 0;
      const b = prev[i];
      const c = i >= channels ? prev[i - channels] : 0;
      let v = line[i];
      if (filter === 1) v += a;
      else if (filter === 2) v += b;
      else if (filter === 3) v += (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      line[i] = v & 0xff;
    }
    for (let x = 0; x < width; x++) {
      for (let k = 0; k < 3; k++) out[(y * width + x) * 4 + k] = line[x * channels + k];
      out[(y * width + x) * 4 + 3] = channels === 4 ? line[x * channels + 3] : 255;
    }
    prev = line;
  }
  return { width, height, pixels: out };
}

/** Share of pixels that differ noticeably between two same-sized screenshots. */
function changedShare(a, b) {
  const pa = decodePng(a);
  const pb = decodePng(b);
  if (pa.width !== pb.width || pa.height !== pb.height) return 1;
  let changed = 0;
  for (let i = 0; i < pa.pixels.length; i += 4) {
    const d = Math.abs(pa.pixels[i] - pb.pixels[i]) + Math.abs(pa.pixels[i + 1] - pb.pixels[i + 1]) + Math.abs(pa.pixels[i + 2] - pb.pixels[i + 2]);
    if (d > 30) changed++;
  }
  return changed / (pa.width * pa.height);
}

const profile = mkdtempSync(join(tmpdir(), 'gapmap-chromium-'));
let context;
let passed = 0;
const step = (name) => {
  passed++;
  console.log(`ok ${passed} - ${name}`);
};

try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    viewport: { width: 1280, height: 800 },
    locale: 'zh-CN',
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-quic',
      '--no-first-run',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
      // WebGL without a GPU: SwiftShader, which Chromium no longer falls back to by itself.
      '--use-angle=swiftshader',
      '--enable-unsafe-swiftshader',
    ],
  });
  const page = context.pages()[0] || (await context.newPage());
  const origin = new URL(base).origin;
  const outside = [];
  page.on('request', (r) => {
    const url = r.url();
    if (!url.startsWith(origin) && !url.startsWith('data:') && !url.startsWith('blob:')) outside.push(url);
  });
  const tileRequests = [];
  const requests = [];
  page.on('request', (r) => {
    requests.push(r.url());
    if (r.url().includes('/tiles/')) tileRequests.push(r.url());
  });
  const aborted = [];
  page.on('requestfailed', (r) => aborted.push(r.url()));
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });

  const response = await page.goto(`${base}/`, { waitUntil: 'load' });
  if (!response || response.status() !== 200 || !(response.headers()['content-type'] || '').startsWith('text/html')) fail(`GET / answered ${response && response.status()} ${response && response.headers()['content-type']}`);
  step('GET / serves the web map to a browser');

  await page.waitForFunction(() => window.gapmap && window.gapmap.map, null, { timeout: 30000 });
  const waitIdle = () =>
    page.evaluate(
      () =>
        new Promise((resolveIdle, reject) => {
          const map = window.gapmap.map;
          const timer = setTimeout(() => reject(new Error('the map did not become idle in 60 s')), 60000);
          const check = () => {
            if (map.loaded() && map.areTilesLoaded() && !map.isMoving()) {
              clearTimeout(timer);
              resolveIdle();
            } else {
              map.once('idle', check);
              map.triggerRepaint();
            }
          };
          map.once('idle', check);
          map.triggerRepaint();
        }),
    );
  await waitIdle();
  step('the map becomes idle');

  const config = await page.evaluate(() => window.gapmap.state.config);
  const network = Boolean(config.network);
  const minZoom = config.estates_min_zoom;
  if (!(minZoom > 8)) fail(`the map config names no zoom estates start at (${minZoom})`);

  // 9. Below the zoom where single estates are legible: the districts as a choropleth with their
  // outlines and one label each, no estates; estates from that zoom on, outlines still drawn.
  const centre = await page.evaluate(() => window.gapmap.map.getCenter().toArray());
  await page.evaluate((z) => window.gapmap.map.jumpTo({ zoom: z - 1.5 }), minZoom);
  await waitIdle();
  const low = await page.evaluate(() => {
    const map = window.gapmap.map;
    const q = (layers) => map.queryRenderedFeatures({ layers });
    return {
      fills: q(['districts-fill']).length,
      outlines: q(['districts-outline']).length,
      estates: q(['estates-coverage']).length,
      labels: q(['districts-label']).map((f) => f.properties.district),
      districts: window.gapmap.state.districts ? window.gapmap.state.districts.length : 0,
    };
  });
  if (!(low.fills > 0) || !(low.outlines > 0) || low.estates !== 0) fail(`below zoom ${minZoom} the map should show districts, not estates: ${JSON.stringify(low)}`);
  if (!low.labels.length || new Set(low.labels).size !== low.labels.length) fail(`the district labels are missing or repeated: ${JSON.stringify(low.labels)}`);
  step(`below zoom ${minZoom} the ${low.districts} districts are a choropleth with outlines and ${low.labels.length} labels, one each, and no estates`);
  const choropleth = await page.evaluate(() => {
    const map = window.gapmap.map;
    return map.getPaintProperty('districts-fill', 'fill-color');
  });
  if (!JSON.stringify(choropleth).includes('households_covered_pct')) fail(`the district fill is not a choropleth of coverage: ${JSON.stringify(choropleth)}`);
  await page.evaluate(([z, c]) => window.gapmap.map.jumpTo({ zoom: z + 1, center: c }), [minZoom, centre]);
  await waitIdle();
  const high = await page.evaluate(() => ({
    estates: window.gapmap.map.queryRenderedFeatures({ layers: ['estates-coverage'] }).length,
    outlines: window.gapmap.map.queryRenderedFeatures({ layers: ['districts-outline'] }).length,
  }));
  if (!(high.estates > 0) || !(high.outlines > 0)) fail(`from zoom ${minZoom} estates and district outlines should be drawn: ${JSON.stringify(high)}`);
  step(`from zoom ${minZoom} the estates are drawn (${high.estates}) with the district outlines`);

  // 10. Facilities and service areas are asked for one kind at a time.
  const facilityTiles = tileRequests.filter((u) => u.includes('/tiles/facilities/'));
  if (!facilityTiles.length || facilityTiles.some((u) => !/[?&]kind=/.test(u))) fail(`facility tiles requested without kind=: ${facilityTiles.slice(0, 3).join(', ')}`);
  step(`facility tiles are asked for one kind (${facilityTiles.length} requests, all with kind=)`);

  const estates = high.estates;

  if (!(estates > 0)) fail(`no estates rendered (queryRenderedFeatures gave ${estates})`);
  step(`estates are rendered (${estates} features)`);

  await page.waitForFunction(() => document.querySelectorAll('#districts tbody tr').length > 1, null, { timeout: 30000 });
  step('the district panel lists coverage per district');

  const mapBox = await page.locator('#map').boundingBox();
  const target = await page.evaluate(() => {
    const map = window.gapmap.map;
    const canvas = map.getCanvas();
    const w = canvas.clientWidth;
    const h = canvas.clientHeight;
    for (let r = 0; r < Math.max(w, h) / 2; r += 7) {
      for (let a = 0; a < 16; a++) {
        const x = Math.round(w / 2 + r * Math.cos((a * Math.PI) / 8));
        const y = Math.round(h / 2 + r * Math.sin((a * Math.PI) / 8));
        if (x < 60 || y < 60 || x > w - 60 || y > h - 60) continue;
        // Well inside one estate: the same estate a few pixels around, so that rounding the
        // click to device pixels cannot miss it.
        const ids = [[0, 0], [-4, -4], [4, -4], [-4, 4], [4, 4]].map(([dx, dy]) => {
          const hit = map.queryRenderedFeatures([x + dx, y + dy], { layers: ['estates-coverage'] });
          return hit.length ? hit[0].properties.id : null;
        });
        if (ids[0] != null && ids.every((id) => id === ids[0])) return { x, y, id: ids[0] };
      }
    }
    return null;
  });
  if (!target) fail('found no estate to click');
  await page.evaluate((t) => {
    window.__target = { id: t.id, lngLat: window.gapmap.map.unproject([t.x, t.y]) };
  }, target);
  await page.mouse.click(mapBox.x + target.x, mapBox.y + target.y);
  const popup = page.locator('.maplibregl-popup .popup[data-estate]');
  try {
    await popup.waitFor({ timeout: 30000 });
  } catch {
    const shown = await page.locator('.maplibregl-popup').allInnerTexts();
    fail(`clicking estate ${target.id} at (${target.x}, ${target.y}) opened no coverage popup; popups: ${JSON.stringify(shown)}`);
  }
  const popupText = await popup.innerText();
  const kinds = await page.evaluate(() => window.gapmap.state.config.kinds.length);
  const rows = await popup.locator('tbody tr').count();
  if (!popupText.includes(String(target.id)) || rows !== kinds || !/覆盖|Covered/.test(popupText)) fail(`the popup shows no coverage for estate ${target.id}: ${popupText}`);
  step(`clicking estate ${target.id} opens a popup with its coverage for ${rows} kinds`);
  mkdirSync(dirname(shot), { recursive: true });
  writeFileSync(shot.replace(/\.png$/, '-popup.png'), await page.screenshot());
  if (network) {
    const figures = await popup.evaluate((el) =>
      [...el.querySelectorAll('tbody tr')].map((tr) => ({
        straight: tr.querySelector('[data-straight-m]')?.dataset.straightM,
        walking: tr.querySelector('[data-network-m]')?.dataset.networkM,
        detour: tr.querySelector('[data-detour]')?.dataset.detour,
      })),
    );
    const both = figures.filter((f) => f.straight && f.walking);
    if (!both.length) fail(`the popup shows no straight and walking distances side by side: ${popupText}`);
    const shorter = both.find((f) => Number(f.walking) + 1e-6 < Number(f.straight));
    if (shorter) fail(`a walk shorter than the straight line in the popup: ${JSON.stringify(shorter)}`);
    if (!both.some((f) => f.detour)) fail(`the popup shows no detour: ${popupText}`);
    if (!/直线|Straight/.test(popupText) || !/步行|Walking/.test(popupText)) fail(`the popup does not name both distances: ${popupText}`);
    step(`the popup shows straight and walking distances for ${both.length} kinds, with the detour`);
  }
  // 11. The popup follows the language switch.
  const langBefore = await popup.getAttribute('lang');
  await page.locator('#lang').click();
  await page
    .waitForFunction((l) => {
      const el = document.querySelector('.maplibregl-popup .popup[data-estate]');
      return el && el.getAttribute('lang') && el.getAttribute('lang') !== l;
    }, langBefore, { timeout: 10000 })
    .catch(() => {});
  const popupSwitched = await page.locator('.maplibregl-popup .popup').first().innerText();
  const otherWord = (await page.evaluate(() => window.gapmap.state.lang)) === 'en' ? /Covered/ : /覆盖/;
  if (!otherWord.test(popupSwitched) || /Covered/.test(popupText) === /Covered/.test(popupSwitched)) fail(`the popup kept its language after the switch: ${popupSwitched.slice(0, 200)}`);
  await page.locator('#lang').click();
  step('the popup follows the language switch');

  // 12. The legend has the colour of the ramp's start, and covered and uncovered stay apart
  // for protanopes; a covered estate short of capacity says so in the popup as on the map.
  const scheme = await page.evaluate(() => {
    const fill = window.gapmap.map.getPaintProperty('estates-coverage', 'fill-color');
    const found = { ramps: [], shortCase: null };
    const walk = (e) => {
      if (!Array.isArray(e)) return;
      if (e[0] === 'interpolate') found.ramps.push(e);
      if (e[0] === 'case' && e.length === 4 && JSON.stringify(e[1]).includes('_shortfall')) found.shortCase = e;
      e.forEach(walk);
    };
    walk(fill);
    const rgb = (c) => {
      const el = document.createElement('span');
      el.style.color = c;
      document.body.appendChild(el);
      const v = getComputedStyle(el).color;
      el.remove();
      return v.match(/\d+/g).slice(0, 3).map(Number);
    };
    const ramp = found.ramps[0];
    const stops = [];
    for (let i = 3; i < ramp.length; i += 2) stops.push(rgb(ramp[i + 1]));
    const legend = [...document.querySelectorAll('#legend .swatch')].map((s) => getComputedStyle(s).backgroundColor.match(/\d+/g).slice(0, 3).map(Number));
    return { stops, short: rgb(found.shortCase[2]), covered: rgb(found.shortCase[3]), legend };
  });
  const same = (a, b) => a.every((v, i) => Math.abs(v - b[i]) <= 1);
  if (!scheme.legend.some((c) => same(c, scheme.stops[0]))) fail(`the legend lacks the ramp's first colour rgb(${scheme.stops[0]}) (legend: ${JSON.stringify(scheme.legend)})`);
  // Protanopia (Machado et al. 2009, severity 1) in linear RGB, then CIE76 ΔE in Lab.
  const protan = (c) => {
    const lin = c.map((v) => ((v /= 255) <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4));
    const m = [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]];
    return m.map((row) => Math.min(1, Math.max(0, row[0] * lin[0] + row[1] * lin[1] + row[2] * lin[2])));
  };
  const lab = (l) => {
    const x = (0.4124 * l[0] + 0.3576 * l[1] + 0.1805 * l[2]) / 0.95047;
    const y = 0.2126 * l[0] + 0.7152 * l[1] + 0.0722 * l[2];
    const z = (0.0193 * l[0] + 0.1192 * l[1] + 0.9505 * l[2]) / 1.08883;
    const f = (v) => (v > 0.008856 ? Math.cbrt(v) : 7.787 * v + 16 / 116);
    return [116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))];
  };
  const deltaE = (a, b) => Math.hypot(...lab(protan(a)).map((v, i) => v - lab(protan(b))[i]));
  const closest = Math.min(...[scheme.covered, scheme.short].flatMap((c) => scheme.stops.map((u) => deltaE(c, u))));
  if (closest < 20) fail(`for protanopes a covered colour and an uncovered one are only ΔE ${closest.toFixed(1)} apart`);
  step(`the legend shows the ramp's first colour, and covered and uncovered stay ≥ ΔE ${closest.toFixed(0)} apart for protanopes`);

  // 14. A kind with no facility in the data is marked "no data", not offered as a grey city.
  const empty = config.kinds.filter((k) => k.facilities === 0).map((k) => k.key);
  if (!empty.length) fail(`the map config marks no kind as having no facilities (the test city has none of one kind): ${JSON.stringify(config.kinds.map((k) => [k.key, k.facilities]))}`);
  const emptyOption = await page.evaluate((key) => {
    const o = document.querySelector(`#kind option[value="${key}"]`);
    return o && { disabled: o.disabled, text: o.textContent };
  }, empty[0]);
  const popupEmpty = await popup.locator(`tr[data-kind="${empty[0]}"]`).innerText();
  if (!emptyOption || !emptyOption.disabled || !/无数据|no data/.test(emptyOption.text) || !/无数据|no data/.test(popupEmpty)) fail(`the kind ${empty[0]} without facilities is offered as data: ${JSON.stringify(emptyOption)} / popup: ${popupEmpty}`);
  step(`the kind ${empty[0]} without facilities is marked no data (kind list and popup)`);

  // 12 and 18: a covered estate short of capacity, in Chinese: "容量不足" and Chinese units.
  const shortOne = await page.evaluate(async () => {
    const kinds = window.gapmap.state.config.kinds.filter((k) => k.facilities > 0);
    const page = await (await fetch('/collections/estates/items?limit=10000')).json();
    for (const f of page.features) {
      for (const k of kinds) {
        if (f.properties[`${k.key}_covered`] === true && f.properties[`${k.key}_shortfall`] > 0) {
          let c = f.geometry.coordinates;
          while (Array.isArray(c[0])) c = c[0];
          return { id: f.id, kind: k.key, unit: k.capacity_unit, lngLat: c };
        }
      }
    }
    return null;
  });
  if (shortOne) {
    await page.evaluate((s) => window.gapmap.showEstate(s.id, { lng: s.lngLat[0], lat: s.lngLat[1] }), shortOne);
    const row = page.locator(`.maplibregl-popup .popup[data-estate="${shortOne.id}"] tr[data-kind="${shortOne.kind}"]`);
    await row.waitFor({ timeout: 30000 });
    const shortText = await row.innerText();
    const shortClass = await row.locator('td.short').count();
    if (!shortClass || !/容量不足/.test(shortText)) fail(`a covered estate short of ${shortOne.kind} reads only as covered in the popup: ${shortText}`);
    const whole = await page.locator(`.maplibregl-popup .popup[data-estate="${shortOne.id}"]`).innerText();
    if (/\b(m2|places|rooms|beds|stalls|spaces|chargers)\b/.test(whole)) fail(`English units in the Chinese popup: ${whole.match(/.*\b(m2|places|rooms|beds|stalls|spaces|chargers)\b.*/)[0]}`);
    step(`estate ${shortOne.id}, covered but short of ${shortOne.kind}, says 容量不足 in Chinese units`);
  } else {
    fail('the test city has no covered estate short of capacity');
  }
  await page.evaluate(() => window.gapmap.showEstate(window.__target.id, window.__target.lngLat));
  await page.locator(`.maplibregl-popup .popup[data-estate]`).waitFor({ timeout: 30000 });
  await page.locator('.maplibregl-popup-close-button').click();
  await waitIdle();

  const switchHidden = await page.locator('#distance-switch').isHidden();
  if (switchHidden === network) fail(`the distance switch is ${switchHidden ? 'hidden' : 'shown'} though the data ${network ? 'has' : 'has no'} walking network`);
  if (network) {
    const walkingShot = await page.locator('#map').screenshot();
    await page.locator('#distance-switch input[value="straight"]').check();
    await waitIdle();
    const straightShot = await page.locator('#map').screenshot();
    const switched = changedShare(walkingShot, straightShot);
    const distance = await page.evaluate(() => window.gapmap.state.distance);
    if (distance !== 'straight' || switched < 0.002) fail(`the switch to straight line changed ${(switched * 100).toFixed(2)} % of the map (state ${distance})`);
    step(`the straight-line / walking switch recolours the map (${(switched * 100).toFixed(1)} % of pixels)`);
    await page.locator('#distance-switch input[value="network"]').check();
    await waitIdle();
  } else {
    step('the distance switch is hidden without a walking network');
  }

  const mapShot = () => page.locator('#map').screenshot();
  const before = await mapShot();
  const other = await page.evaluate(() => window.gapmap.state.config.kinds.map((k) => k.key).find((k) => k !== window.gapmap.state.kind));
  await page.selectOption('#kind', other);
  await waitIdle();
  const afterKind = await mapShot();
  const kindChange = changedShare(before, afterKind);
  if (kindChange < 0.005) fail(`choosing ${other} changed only ${(kindChange * 100).toFixed(2)} % of the map's pixels`);
  step(`choosing the kind ${other} changes the colours (${(kindChange * 100).toFixed(1)} % of pixels)`);

  const minYear = await page.evaluate(() => window.gapmap.state.config.years.min);
  const districtsBefore = await page.locator('#districts tbody').innerText();
  await page.evaluate(() => window.gapmap.showEstate(window.__target.id, window.__target.lngLat));
  await page.locator('.maplibregl-popup .popup[data-estate]').waitFor({ timeout: 30000 });
  const beforeYear = await mapShot();
  await page.locator('#year').fill(String(minYear));
  // The year's coverage is computed first, then the tile sources follow it.
  await page.waitForFunction((y) => (window.gapmap.map.getSource('estates').url || '').includes(`year=${y}`), minYear, { timeout: 120000 });
  await waitIdle();
  const afterYear = await mapShot();
  const yearChange = changedShare(beforeYear, afterYear);
  if (yearChange < 0.005) fail(`moving the year to ${minYear} changed only ${(yearChange * 100).toFixed(2)} % of the map's pixels`);
  step(`moving the year to ${minYear} changes the colours (${(yearChange * 100).toFixed(1)} % of pixels)`);
  // 11. The popup follows the year, and its details link keeps that year.
  await page
    .waitForFunction((y) => {
      const el = document.querySelector('.maplibregl-popup .popup[data-estate]');
      return el && el.dataset.year === String(y);
    }, minYear, { timeout: 60000 })
    .catch(() => {});
  const yearPopup = await page.evaluate(async (y) => {
    const el = document.querySelector('.maplibregl-popup .popup[data-estate]');
    if (!el) return null;
    const kind = window.gapmap.state.kind;
    const f = await (await fetch(`/collections/estates/items/${encodeURIComponent(el.dataset.estate)}?year=${y}`)).json();
    const cell = el.querySelector(`tr[data-kind="${kind}"] [data-distance-m]`);
    const link = el.querySelector('a[href*="/coverage"]');
    return { year: el.dataset.year, shown: cell ? cell.dataset.distanceM : null, then: f.properties[`${kind}_distance_m`], href: link && link.getAttribute('href') };
  }, minYear);
  if (!yearPopup || yearPopup.year !== String(minYear) || yearPopup.shown !== String(yearPopup.then ?? '')) fail(`the popup did not follow the year ${minYear}: ${JSON.stringify(yearPopup)}`);
  if (!yearPopup.href || !yearPopup.href.includes(`year=${minYear}`)) fail(`the popup's details link drops the year: ${yearPopup.href}`);
  const details = await page.evaluate(async (href) => (await fetch(href)).status, yearPopup.href);
  if (details !== 200) fail(`the details link ${yearPopup.href} answered ${details}`);
  step(`the popup follows the year ${minYear} (distance ${yearPopup.shown} m) and its details link keeps it`);
  await page.locator('.maplibregl-popup-close-button').click();

  await page.waitForFunction((old) => {
    const body = document.querySelector('#districts tbody');
    return body.querySelectorAll('tr').length > 1 && body.innerText !== old;
  }, districtsBefore, { timeout: 30000 });
  step('the district panel follows the year');

  // The report link follows the year and leads to that year's report.
  const reportHref = await page.locator('#report-link').getAttribute('href');
  const linkLang = await page.evaluate(() => window.gapmap.state.lang);
  if (reportHref !== `/reports/${minYear}?f=html&lang=${linkLang}`) fail(`the report link is ${reportHref}, not the ${minYear} report in ${linkLang}`);
  const report = await page.evaluate(async (href) => {
    const r = await fetch(href);
    return { status: r.status, type: r.headers.get('content-type'), text: await r.text() };
  }, reportHref);
  if (report.status !== 200 || !report.type.startsWith('text/html') || !report.text.includes('<svg')) {
    fail(`the report link answered ${report.status} ${report.type}`);
  }
  step(`the report link follows the year (${reportHref}) and answers the report`);

  const kindLabel = await page.locator('[data-i18n="kind"]').innerText();
  await page.locator('#lang').click();
  const switched = await page.locator('[data-i18n="kind"]').innerText();
  if (switched === kindLabel || !/Facility kind|设施类别/.test(switched)) fail(`the language switch left "${kindLabel}" as "${switched}"`);
  step(`the language switch changes "${kindLabel}" to "${switched}"`);

  await page.locator('#show-areas').check();
  await waitIdle();
  const areasVisible = await page.evaluate(() => window.gapmap.map.getLayoutProperty('service-areas', 'visibility'));
  if (areasVisible !== 'visible') fail('service areas did not become visible');
  step('service areas can be switched on');

  // 16. Holding an arrow key on the year slider asks for one year, once the slider rests; a
  // newer year cancels the request of an older one.
  const yearFrom = await page.evaluate(() => Number(document.querySelector('#year').value));
  const districtRequests = () => requests.filter((u) => u.includes('/collections/districts/items')).length;
  const requestsBefore = districtRequests();
  await page.locator('#year').focus();
  for (let i = 0; i < 5; i++) {
    await page.keyboard.press('ArrowRight');
    await page.waitForTimeout(60);
  }
  await page.waitForFunction((y) => String(window.gapmap.state.year) === String(y), yearFrom + 5, { timeout: 30000 }).catch(() => {});
  await page.waitForTimeout(800);
  await waitIdle();
  const asked = districtRequests() - requestsBefore;
  const yearNow = await page.evaluate(() => window.gapmap.state.year);
  if (asked !== 1 || yearNow !== yearFrom + 5) fail(`five arrow presses asked for ${asked} years (want 1) and left the year at ${yearNow} (want ${yearFrom + 5})`);
  const abortedBefore = aborted.length;
  await page.evaluate(([a, b]) => {
    window.gapmap.setYear(a);
    window.gapmap.setYear(b);
  }, [yearFrom + 1, yearFrom + 2]);
  await page.waitForFunction((y) => String(window.gapmap.state.year) === String(y) && window.gapmap.state.districts, yearFrom + 2, { timeout: 60000 });
  const cancelled = aborted.slice(abortedBefore).filter((u) => u.includes('/collections/districts/items') && u.includes(`year=${yearFrom + 1}`));
  if (!cancelled.length) fail(`a superseded year's request (${yearFrom + 1}) was not cancelled`);
  await waitIdle();
  step(`five arrow presses on the year slider ask for one year; a superseded year's request is cancelled`);

  // 15. The view is in the URL and a shared URL restores it.
  const hash = await page.evaluate(() => window.location.hash);
  const shared = new URLSearchParams(hash.slice(1));
  const view = await page.evaluate(() => ({ kind: window.gapmap.state.kind, year: window.gapmap.state.year, zoom: window.gapmap.map.getZoom() }));
  if (shared.get('kind') !== view.kind || shared.get('year') !== String(view.year) || !/^[\d.]+\/[-\d.]+\/[-\d.]+$/.test(shared.get('map') || '')) fail(`the URL does not hold the view ${JSON.stringify(view)}: ${hash}`);
  const otherKind = config.kinds.find((k) => k.facilities > 0 && k.key !== view.kind).key;
  const [lng, lat] = centre;
  const sharedPage = await context.newPage();
  await sharedPage.goto(`${base}/#kind=${otherKind}&year=${minYear}&map=14.25/${lat}/${lng}`);
  await sharedPage.waitForFunction((y) => window.gapmap && window.gapmap.state.districts && String(window.gapmap.state.year) === String(y), minYear, { timeout: 60000 }).catch(() => {});
  const restored = await sharedPage.evaluate(() => ({ kind: window.gapmap.state.kind, year: window.gapmap.state.year, slider: document.querySelector('#year').value, zoom: window.gapmap.map.getZoom(), centre: window.gapmap.map.getCenter().toArray() }));
  await sharedPage.close();
  if (restored.kind !== otherKind || restored.year !== minYear || restored.slider !== String(minYear) || Math.abs(restored.zoom - 14.25) > 0.01 || Math.abs(restored.centre[0] - lng) > 1e-4) fail(`the shared URL (kind ${otherKind}, year ${minYear}, zoom 14.25) opened ${JSON.stringify(restored)}`);
  step(`the URL holds kind, year, zoom and centre (${hash}) and a shared URL restores them`);

  // 19 and 18. Districts: households left uncovered per row (as the estates add up), rows on
  // one line in English, and a row click zooms to the district and shows only its estates.
  const lang = await page.evaluate(() => window.gapmap.state.lang);
  if (lang !== 'en') await page.locator('#lang').click();
  const districtRows = await page.evaluate(() => [...document.querySelectorAll('#districts tbody tr[data-district]')].map((tr) => ({ district: tr.dataset.district, uncovered: tr.dataset.uncovered, height: tr.getBoundingClientRect().height })));
  if (!districtRows.length || districtRows.some((r) => r.uncovered == null || r.uncovered === '')) fail(`the district rows show no households left uncovered: ${JSON.stringify(districtRows.slice(0, 3))}`);
  const heights = districtRows.map((r) => r.height);
  if (Math.max(...heights) > 1.3 * Math.min(...heights)) fail(`district rows wrap in English: heights ${heights.join(', ')}`);
  const sums = await page.evaluate(async () => {
    const { kind, year } = window.gapmap.state;
    const q = year == null ? '' : `&year=${year}`;
    const items = await (await fetch(`/collections/estates/items?limit=10000${q}`)).json();
    const out = {};
    for (const f of items.features) {
      const p = f.properties;
      out[p.district] = out[p.district] || { uncovered: 0, households: 0 };
      out[p.district].households += p.households || 0;
      if (p[`${kind}_covered`] !== true) out[p.district].uncovered += p.households || 0;
    }
    return out;
  });
  for (const r of districtRows) {
    const want = sums[r.district];
    if (!want || Math.abs(Number(r.uncovered) - want.uncovered) > Math.max(2, want.households * 1e-4)) fail(`district ${r.district} shows ${r.uncovered} households uncovered, its estates add up to ${want && want.uncovered}`);
  }
  step(`each district row shows the households left uncovered (as its estates add up) on one line in English`);
  const pick = districtRows[0].district;
  await page.locator(`#districts tbody tr[data-district="${pick}"]`).click();
  await waitIdle();
  const focus = await page.evaluate((name) => {
    const f = window.gapmap.state.districts.find((d) => d.properties.district === name);
    const ring = f.geometry.coordinates[0];
    const xs = ring.map((c) => c[0]);
    const ys = ring.map((c) => c[1]);
    const b = window.gapmap.map.getBounds();
    const mid = [(Math.min(...xs) + Math.max(...xs)) / 2, (Math.min(...ys) + Math.max(...ys)) / 2];
    return { district: window.gapmap.state.district, inView: b.contains(mid), mid };
  }, pick);
  if (focus.district !== pick || !focus.inView) fail(`clicking ${pick} did not zoom to it: ${JSON.stringify(focus)}`);
  await page.evaluate(([mid, z]) => window.gapmap.map.jumpTo({ center: mid, zoom: Math.max(window.gapmap.map.getZoom(), z + 0.5) }), [focus.mid, minZoom]);
  await waitIdle();
  const shown = await page.evaluate(() => [...new Set(window.gapmap.map.queryRenderedFeatures({ layers: ['estates-coverage'] }).map((f) => f.properties.district))]);
  if (!shown.length || shown.some((d) => d !== pick)) fail(`after choosing ${pick} the map shows estates of ${JSON.stringify(shown)}`);
  await page.locator('#district-all').click();
  await waitIdle();
  const all = await page.evaluate(() => window.gapmap.state.district);
  if (all !== '') fail('"show every district" left the map narrowed');
  step(`clicking the row of ${pick} zooms to it and shows only its estates`);

  // 13. At zoom 16 every estate is labelled at most once (tiles cut estates, not labels).
  await page.evaluate((c) => window.gapmap.map.jumpTo({ center: c, zoom: 16 }), centre);
  await waitIdle();
  const labelIds = await page.evaluate(() => window.gapmap.map.queryRenderedFeatures({ layers: ['estates-label'] }).map((f) => String(f.properties.id)));
  const repeated = labelIds.filter((id, i) => labelIds.indexOf(id) !== i);
  if (!labelIds.length || repeated.length) fail(`estate labels at zoom 16: ${labelIds.length}, repeated: ${JSON.stringify([...new Set(repeated)])}`);
  step(`at zoom 16 each of ${labelIds.length} estate labels appears once`);

  // Item 6: the API menu links the landing page, the API definition and the conformance classes.
  const apiLinks = await page.evaluate(() => [...document.querySelectorAll('#api-menu a')].map((a) => a.getAttribute('href')));
  for (const want of ['/?f=html', '/api', '/conformance']) {
    if (!apiLinks.includes(want)) fail(`the API menu lacks ${want}: ${JSON.stringify(apiLinks)}`);
  }
  const apiStatus = await page.evaluate(async (links) => Promise.all(links.map(async (l) => (await fetch(l)).status)), apiLinks);
  if (apiStatus.some((s) => s !== 200)) fail(`the API menu's links answered ${apiStatus.join(', ')}`);
  step(`the API menu links ${apiLinks.join(', ')}`);

  // 17. A phone (390 × 844): a compact toolbar, the popup showing every kind, 24 px targets.
  const phone = await context.newPage();
  await phone.setViewportSize({ width: 390, height: 844 });
  await phone.goto(`${base}/#map=${minZoom + 1.5}/${centre[1]}/${centre[0]}`);
  await phone.waitForFunction(() => window.gapmap && window.gapmap.state.districts, null, { timeout: 60000 });
  const toolbarHeight = await phone.evaluate(() => document.querySelector('#toolbar').getBoundingClientRect().height);
  if (toolbarHeight > 56) fail(`on a phone the toolbar takes ${toolbarHeight} px`);
  await phone.evaluate(async () => {
    const map = window.gapmap.map;
    await new Promise((r) => (map.loaded() && map.areTilesLoaded() ? r() : map.once('idle', r)));
    const c = map.getCanvas();
    const hit = map.queryRenderedFeatures([c.clientWidth / 2, c.clientHeight / 2], { layers: ['estates-coverage'] })[0] || map.queryRenderedFeatures({ layers: ['estates-coverage'] })[0];
    window.gapmap.showEstate(hit.properties.id, map.getCenter());
  });
  await phone.locator('.maplibregl-popup .popup[data-estate] tbody tr').first().waitFor({ timeout: 30000 });
  const fit = await phone.evaluate(() => {
    const content = document.querySelector('.maplibregl-popup-content').getBoundingClientRect();
    const rows = [...document.querySelectorAll('.maplibregl-popup .popup tbody tr')].map((tr) => tr.getBoundingClientRect());
    const visible = rows.filter((r) => r.top >= Math.max(0, content.top) - 1 && r.bottom <= Math.min(window.innerHeight, content.bottom) + 1 && r.left >= -1 && r.right <= window.innerWidth + 1);
    return { rows: rows.length, visible: visible.length };
  });
  if (fit.visible !== fit.rows) fail(`on a phone the popup shows ${fit.visible} of ${fit.rows} kinds`);
  await phone.locator('.maplibregl-popup-close-button').click();
  await phone.locator('#menu-toggle').click();
  const targets = await phone.evaluate(() =>
    [...document.querySelectorAll('input[type="checkbox"], input[type="radio"]')]
      .filter((i) => i.offsetParent !== null)
      .map((i) => {
        const r = i.getBoundingClientRect();
        return { id: i.id || i.value, w: r.width, h: r.height };
      }),
  );
  if (!targets.length || targets.some((t) => t.w < 24 || t.h < 24)) fail(`on a phone these targets are under 24 px: ${JSON.stringify(targets.filter((t) => t.w < 24 || t.h < 24))}`);
  writeFileSync(shot.replace(/\.png$/, '-phone.png'), await phone.screenshot());
  await phone.close();
  step(`on a phone the toolbar takes ${toolbarHeight} px, the popup shows all ${fit.rows} kinds and ${targets.length} checkboxes are ≥ 24 px`);


  if (network) {
    // The streets from zoom 14, round the middle of the map.
    await page.evaluate(() => window.gapmap.map.jumpTo({ zoom: 15.5 }));
    await waitIdle();
    const streets = await page.evaluate(() => window.gapmap.map.queryRenderedFeatures({ layers: ['streets'] }).length);
    if (!(streets > 0)) fail('no streets drawn at zoom 15.5');
    step(`the streets are drawn at zoom 15.5 (${streets} features)`);
  }

  // The plan panel: K new sites of the kind shown, ranked by what each adds, drawn on the map;
  // the estates a selected site covers are highlighted.
  await page.evaluate(() => window.gapmap.map.fitBounds(window.gapmap.state.config.bounds, { padding: 20, duration: 0 }));
  await waitIdle();
  const K = 3;
  const planKind = await page.evaluate(() => window.gapmap.state.kind);
  await page.selectOption('#plan-kind', planKind);
  await page.locator('#plan-count').fill(String(K));
  await page.locator('#plan-run').click();
  await page.waitForFunction(() => document.querySelectorAll('#plan-sites li').length > 0 || /Failed|加载失败/.test(document.querySelector('#plan-summary').textContent), null, { timeout: 120000 });
  const sites = await page.evaluate(() =>
    [...document.querySelectorAll('#plan-sites li')].map((li) => ({ rank: Number(li.dataset.rank), id: li.dataset.id, gain: Number(li.dataset.householdsNew), estates: Number(li.dataset.estatesNew), text: li.textContent })),
  );
  const planSummary = await page.locator('#plan-summary').innerText();
  if (!sites.length || sites.length > K) fail(`the plan panel listed ${sites.length} sites for K = ${K}: ${planSummary}`);
  if (sites.some((s, i) => s.rank !== i + 1)) fail(`the sites are not ranked 1..n: ${JSON.stringify(sites)}`);
  if (!(sites[0].gain > 0) || sites.some((s, i) => i > 0 && s.gain > sites[i - 1].gain)) fail(`the sites' gains do not fall with rank: ${JSON.stringify(sites)}`);
  if (!sites.every((s) => s.text.includes(`+${s.gain}`))) fail(`the list does not show each site's gain: ${JSON.stringify(sites)}`);
  const planYear = await page.evaluate(() => window.gapmap.state.year);
  const direct = await page.evaluate(async (body) => {
    const r = await fetch('/plans', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    return r.json();
  }, planYear == null ? { kind: planKind, count: K } : { kind: planKind, count: K, year: planYear });
  const directSites = direct.features.map((f) => `${f.properties.rank}:${f.properties.id}:${f.properties.households_new}`).join(' ');
  if (directSites !== sites.map((s) => `${s.rank}:${s.id}:${s.gain}`).join(' ')) fail(`the panel's sites (${JSON.stringify(sites)}) are not POST /plans' (${directSites})`);
  step(`the plan panel lists ${sites.length} ${planKind} sites ranked with their gains (+${sites.map((s) => s.gain).join(', +')} households), as POST /plans answers`);
  await page.locator('#plan-sites li[data-rank="1"]').click();
  await waitIdle();
  const drawnSites = await page.evaluate(() => window.gapmap.map.queryRenderedFeatures({ layers: ['plan-sites'] }).map((f) => f.properties.rank));
  if (!drawnSites.includes(1)) fail(`site 1 is not drawn on the map (drawn: ${JSON.stringify(drawnSites)})`);
  const covers = direct.features[0].properties.covers;
  const lit = await page.evaluate(() => [...new Set(window.gapmap.map.queryRenderedFeatures({ layers: ['plan-highlight'] }).map((f) => String(f.properties.id)))]);
  if (!lit.length || lit.some((id) => !covers.includes(id))) fail(`selecting site 1 highlighted ${JSON.stringify(lit)}, not the estates it covers (${JSON.stringify(covers)})`);
  step(`selecting site 1 highlights the estates it covers (${lit.length} of ${covers.length} in view)`);

  // A trial facility where site 1 stands: the panel reports what POST /what-if answers there,
  // and those estates light up.
  await page.locator('#trial-mode').check();
  const at = await page.evaluate((c) => window.gapmap.map.project(c), direct.features[0].geometry.coordinates);
  // The map's box now: the toolbar may wrap differently in the language shown.
  const trialBox = await page.locator('#map').boundingBox();
  await page.mouse.click(trialBox.x + at.x, trialBox.y + at.y);
  await page.waitForFunction(() => document.querySelector('#trial-result').dataset.estatesNew != null, null, { timeout: 30000 });
  const reported = await page.evaluate(() => ({ estates: Number(document.querySelector('#trial-result').dataset.estatesNew), households: Number(document.querySelector('#trial-result').dataset.householdsNew), text: document.querySelector('#trial-result').textContent, trial: window.gapmap.state.trial }));
  const body = { kind: reported.trial.kind, points: [{ lon: reported.trial.lngLat.lng, lat: reported.trial.lngLat.lat }] };
  if (planYear != null) body.year = planYear;
  const whatIf = await page.evaluate(async (b) => (await fetch('/what-if', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(b) })).json(), body);
  if (reported.estates !== whatIf.points[0].estates_new || reported.households !== whatIf.points[0].households_new) fail(`the trial reports ${reported.estates} estates / ${reported.households} households, POST /what-if ${whatIf.points[0].estates_new} / ${whatIf.points[0].households_new}`);
  if (!(reported.estates > 0) || !reported.text.includes(String(reported.households))) fail(`a trial where site 1 stands covers nothing new: ${reported.text}`);
  await waitIdle();
  const trialLit = await page.evaluate(() => [...new Set(window.gapmap.map.queryRenderedFeatures({ layers: ['trial-highlight'] }).map((f) => String(f.properties.id)))]);
  const trialIds = whatIf.points[0].estates.map((e) => String(e.id));
  if (!trialLit.length || trialLit.some((id) => !trialIds.includes(id))) fail(`the trial highlighted ${JSON.stringify(trialLit)}, not ${JSON.stringify(trialIds)}`);
  step(`a trial facility reports ${reported.estates} estates / ${reported.households} households newly covered, as POST /what-if does, and highlights them`);
  writeFileSync(shot.replace(/\.png$/, '-plan.png'), await page.screenshot());
  await page.locator('#trial-mode').uncheck();

  // 20. The programme view (a city with [programme]): estates coloured by their project's
  // status, the project popup with its funding split and top wishes, the satisfaction filter,
  // and the report link in the map's language.
  if (config.programme) {
    if (await page.locator('#view-switch').isHidden()) fail('a city with a programme shows no view switch');
    const langNow = await page.evaluate(() => window.gapmap.state.lang);
    const href = await page.locator('#report-link').getAttribute('href');
    if (!href.endsWith(`&lang=${langNow}`)) fail(`the report link ${href} does not follow the map's language (${langNow})`);
    await page.locator('#lang').click();
    const hrefSwitched = await page.locator('#report-link').getAttribute('href');
    const langSwitched = await page.evaluate(() => window.gapmap.state.lang);
    if (!hrefSwitched.endsWith(`&lang=${langSwitched}`) || langSwitched === langNow) fail(`after the language switch the report link is ${hrefSwitched}`);
    const reportLang = await page.evaluate(async (h) => (await fetch(h.replace('f=html', 'f=json'))).json().then((r) => r.lang || 'en'), hrefSwitched);
    if (reportLang !== langSwitched) fail(`the report at ${hrefSwitched} is in ${reportLang}`);
    await page.locator('#lang').click();
    step(`the report link follows the language switch (${href} → ${hrefSwitched})`);

    await page.locator('#view-switch input[value="programme"]').check();
    // An accepted project's estate, centred at a zoom where it is tens of pixels wide.
    const accepted = await page.evaluate(async () => (await (await fetch('/collections/projects/items?status=accepted&limit=1')).json()).features[0]);
    const ring = accepted.geometry.coordinates[0][0];
    const xs = ring.map((c) => c[0]);
    const ys = ring.map((c) => c[1]);
    await page.evaluate((c) => window.gapmap.map.jumpTo({ center: c, zoom: 16 }), [(Math.min(...xs) + Math.max(...xs)) / 2, (Math.min(...ys) + Math.max(...ys)) / 2]);
    await waitIdle();
    const coverageShown = await page.evaluate(() => window.gapmap.map.getLayoutProperty('estates-coverage', 'visibility'));
    if (coverageShown !== 'none' || (await page.locator('#programme-panel').isHidden())) fail('the programme view left the coverage colours on or its panel hidden');
    const spot = await page.evaluate(() => {
      const map = window.gapmap.map;
      const canvas = map.getCanvas();
      const w = canvas.clientWidth;
      const h = canvas.clientHeight;
      for (let r = 0; r < Math.max(w, h) / 2; r += 5) {
        for (let a = 0; a < 16; a++) {
          const x = Math.round(w / 2 + r * Math.cos((a * Math.PI) / 8));
          const y = Math.round(h / 2 + r * Math.sin((a * Math.PI) / 8));
          if (x < 60 || y < 60 || x > w - 60 || y > h - 60) continue;
          // Inside one project's polygon, away from its outline (the same project around).
          const hits = [[0, 0], [-6, -6], [6, -6], [-6, 6], [6, 6]].map(([dx, dy]) => map.queryRenderedFeatures([x + dx, y + dy], { layers: ['projects-fill'] }));
          const ids = hits.map((hit) => (hit.length === 1 ? hit[0].properties.id : null));
          const estates = map.queryRenderedFeatures([x, y], { layers: ['estates-outline', 'estates-coverage'] }).length;
          // Nothing drawn above the projects there (facilities, labels, highlights, outlines).
          const order = map.getStyle().layers.map((l) => l.id);
          const fillAt = order.indexOf('projects-fill');
          const above = map.queryRenderedFeatures([[x - 6, y - 6], [x + 6, y + 6]]).filter((f) => order.indexOf(f.layer.id) > fillAt);
          if (ids[0] != null && ids.every((id) => id === ids[0]) && estates <= 1 && above.length === 0) return { x, y, id: ids[0], status: hits[0][0].properties.status };
        }
      }
      return null;
    });
    if (!spot) fail('the programme view draws no project near an accepted project');
    // The colour drawn there, read from the canvas in the frame that drew it.
    const drawn = await page.evaluate(
      (p) =>
        new Promise((done) => {
          const map = window.gapmap.map;
          map.once('render', () => {
            const canvas = map.getCanvas();
            const gl = canvas.getContext('webgl2') || canvas.getContext('webgl');
            const ratio = canvas.width / canvas.clientWidth;
            const px = new Uint8Array(4);
            gl.readPixels(Math.round(p.x * ratio), Math.round(canvas.height - p.y * ratio), 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, px);
            done([...px]);
          });
          map.triggerRepaint();
        }),
      spot,
    );
    const legend = await page.evaluate(() => Object.fromEntries([...document.querySelectorAll('#programme-legend li[data-status] .swatch')].map((s) => [s.closest('li').dataset.status, s.dataset.color])));
    const hex = legend[spot.status];
    if (!hex) fail(`the programme legend has no colour for status ${spot.status}: ${JSON.stringify(legend)}`);
    const want = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
    if (want.some((v, i) => Math.abs(v - drawn[i]) > 8)) fail(`project ${spot.id} (${spot.status}) is drawn rgb(${drawn.slice(0, 3)}), its legend colour is ${hex}`);
    step(`the programme view colours project ${spot.id}'s estate by its status (${spot.status}: ${hex}, drawn rgb(${drawn.slice(0, 3)}))`);

    const box = await page.locator('#map').boundingBox();
    await page.mouse.click(box.x + spot.x, box.y + spot.y);
    const projectPopup = page.locator('.maplibregl-popup .popup.programme[data-project]');
    await projectPopup.waitFor({ timeout: 30000 }).catch(() => fail(`clicking project ${spot.id} opened no project popup`));
    const shownId = await projectPopup.getAttribute('data-project');
    const served = await page.evaluate(async (id) => (await fetch(`/collections/projects/items/${encodeURIComponent(id)}`)).json(), shownId);
    const split = await projectPopup.evaluate((el) => [...el.querySelectorAll('.funding tr[data-source]')].map((tr) => ({ source: tr.dataset.source, yuan: Number(tr.dataset.yuan) })));
    const splitSum = split.reduce((a, s) => a + (Number.isFinite(s.yuan) ? s.yuan : 0), 0);
    if (!split.length || Math.abs(splitSum - served.properties.investment_total_yuan) > 1) fail(`the popup's funding split ${JSON.stringify(split)} does not add up to the investment ${served.properties.investment_total_yuan}`);
    const wishItems = await projectPopup.evaluate((el) => [...el.querySelectorAll('.wishes li[data-item]')].map((li) => li.dataset.item));
    if (wishItems.length !== 2 || !wishItems.includes('day_care')) fail(`the popup shows the wishes ${JSON.stringify(wishItems)}, not the estate's two`);
    const gateShown = await projectPopup.locator('[data-gate]').getAttribute('data-gate');
    if (gateShown !== served.properties.gate || (await projectPopup.locator('[data-status]').getAttribute('data-status')) !== spot.status) fail(`the popup's gate ${gateShown} or status disagree with /collections/projects (${served.properties.gate})`);
    step(`clicking project ${shownId} opens its popup: ${split.length} funding sources adding up to the investment, ${wishItems.length} top wishes, gate ${gateShown}`);
    writeFileSync(shot.replace(/\.png$/, '-programme.png'), await page.screenshot());
    await page.keyboard.press('Escape');

    // Below the gate only: the panel counts what the API matches, the map draws only those.
    await page.locator('#satisfaction-filter').selectOption('below');
    const failing = await page.evaluate(async () => (await (await fetch('/collections/projects/items?gate=failed&limit=1')).json()).numberMatched);
    await page.waitForFunction((n) => document.querySelector('#programme-summary').dataset.matched === String(n), failing, { timeout: 15000 }).catch(() => {});
    const matched = await page.evaluate(() => document.querySelector('#programme-summary').dataset.matched);
    if (!(failing > 0) || matched !== String(failing)) fail(`the satisfaction filter shows ${matched} projects, the API has ${failing} below the gate`);
    await page.evaluate(() => window.gapmap.map.jumpTo({ zoom: 12 }));
    await waitIdle();
    const gates = await page.evaluate(() => [...new Set(window.gapmap.map.queryRenderedFeatures({ layers: ['projects-fill'] }).map((f) => f.properties.gate))]);
    if (gates.length !== 1 || gates[0] !== 'failed') fail(`below the gate only, the map draws projects with gates ${JSON.stringify(gates)}`);
    step(`the satisfaction filter keeps the ${failing} projects below the gate, on the map and in the panel`);
    await page.locator('#satisfaction-filter').selectOption('all');
    await page.locator('#view-switch input[value="coverage"]').check();
    const back = await page.evaluate(() => [window.gapmap.map.getLayoutProperty('estates-coverage', 'visibility'), window.gapmap.map.getLayoutProperty('projects-fill', 'visibility')]);
    if (back[0] !== 'visible' || back[1] !== 'none') fail(`back in the coverage view the layers are ${JSON.stringify(back)}`);
    await page.evaluate((c) => window.gapmap.map.jumpTo({ center: c, zoom: 13 }), centre);
    await waitIdle();
    step('the view switch returns to the coverage colours');
  } else if (!(await page.locator('#view-switch').isHidden())) {
    fail('a city without a programme shows the programme view switch');
  }

  mkdirSync(dirname(shot), { recursive: true });
  writeFileSync(shot, await page.screenshot({ fullPage: true }));
  step(`screenshot saved to ${shot}`);

  if (outside.length) fail(`requests left the server: ${outside.slice(0, 5).join(', ')}`);
  step('no request left the server');
  const serious = errors.filter((e) => !/favicon/.test(e));
  if (serious.length) fail(`the page logged errors: ${serious.slice(0, 5).join(' | ')}`);
  step('no errors in the console');
  console.log(`${passed} passed, 0 failed`);
} catch (e) {
  console.error(`browser test: ${e && e.message ? e.message : e}`);
  if (errors.length && !String(e.message).includes('page errors')) console.error(`  page errors: ${errors.slice(0, 5).join(' | ')}`);
  console.log(`${passed} passed, 1 failed`);
  process.exitCode = 1;
} finally {
  if (context) await context.close();
  rmSync(profile, { recursive: true, force: true });
}
