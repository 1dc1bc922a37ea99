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

  const estates = await page.evaluate(() => window.gapmap.map.queryRenderedFeatures({ layers: ['estates-coverage'] }).length);
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
  const network = await page.evaluate(() => Boolean(window.gapmap.state.config.network));
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
  await page.locator('#year').fill(String(minYear));
  // The year's coverage is computed first, then the tile sources follow it.
  await page.waitForFunction((y) => (window.gapmap.map.getSource('estates').url || '').includes(`year=${y}`), minYear, { timeout: 120000 });
  await waitIdle();
  const afterYear = await mapShot();
  const yearChange = changedShare(afterKind, afterYear);
  if (yearChange < 0.005) fail(`moving the year to ${minYear} changed only ${(yearChange * 100).toFixed(2)} % of the map's pixels`);
  step(`moving the year to ${minYear} changes the colours (${(yearChange * 100).toFixed(1)} % of pixels)`);
  await page.waitForFunction((old) => {
    const body = document.querySelector('#districts tbody');
    return body.querySelectorAll('tr').length > 1 && body.innerText !== old;
  }, districtsBefore, { timeout: 30000 });
  step('the district panel follows the year');

  // The report link follows the year and leads to that year's report.
  const reportHref = await page.locator('#report-link').getAttribute('href');
  if (reportHref !== `/reports/${minYear}?f=html`) fail(`the report link is ${reportHref}, not the ${minYear} report`);
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
  await page.mouse.click(mapBox.x + at.x, mapBox.y + at.y);
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
