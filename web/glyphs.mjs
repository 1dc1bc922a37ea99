// Generates the SDF glyph PBFs gapmap serves at /fonts/{fontstack}/{range}.pbf, from Noto Sans
// (the @fontsource/noto-sans npm package, SIL OFL 1.1), into web/glyphs/<fontstack>/<range>.pbf.
//
//   node web/glyphs.mjs          # write the files
//   node web/glyphs.mjs --check  # exit 1 when the committed files differ from a fresh run
//
// The output is committed, so building gapmap needs neither node nor this script. The files
// follow the format MapLibre reads (mapbox/glyph-pbf-composite's glyphs.proto) and the
// conventions of node-fontnik: 24 px em, 3 px buffer, SDF radius 8 px with the edge at 192/255,
// `top` measured from the ascender. CJK ideographs are not here: MapLibre draws them in the
// browser with `localIdeographFontFamily` (its default), which needs no glyph files at all.
//
// Deterministic: no timestamps, fixed iteration order, integer output only.

import { readFileSync, writeFileSync, mkdirSync, existsSync, copyFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import opentype from 'opentype.js';

const here = dirname(fileURLToPath(import.meta.url));
const fontDir = join(here, 'node_modules/@fontsource/noto-sans/files');
const FONTSTACK = 'Noto Sans Regular';
const SOURCES = ['noto-sans-latin-400-normal.woff', 'noto-sans-latin-ext-400-normal.woff'];
/** First code point of each 256-code-point range written; keep in step with src/http/styles.rs. */
export const RANGES = [0, 256, 768, 7680, 8192, 8448, 8704];
const SIZE = 24;
const BUFFER = 3;
const RADIUS = 8;
const CUTOFF = 0.25;

const fonts = SOURCES.map((f) => opentype.parse(readFileSync(join(fontDir, f)).buffer.slice(0)));

/** The first font with a real glyph for `cp`, and that glyph. */
function glyphFor(cp) {
  for (const font of fonts) {
    const index = font.charToGlyphIndex(String.fromCodePoint(cp));
    if (index > 0) return { font, glyph: font.glyphs.get(index) };
  }
  return null;
}

/** Flattens a glyph outline (pixels, y down, origin on the baseline) into line segments. */
function segments(path) {
  const segs = [];
  let start = null;
  let at = null;
  const line = (x, y) => {
    segs.push([at[0], at[1], x, y]);
    at = [x, y];
  };
  const STEPS = 8;
  for (const c of path.commands) {
    if (c.type === 'M') {
      if (start && at && (at[0] !== start[0] || at[1] !== start[1])) line(start[0], start[1]);
      start = [c.x, c.y];
      at = [c.x, c.y];
    } else if (c.type === 'L') {
      line(c.x, c.y);
    } else if (c.type === 'Q') {
      const [x0, y0] = at;
      for (let i = 1; i <= STEPS; i++) {
        const t = i / STEPS;
        const u = 1 - t;
        line(u * u * x0 + 2 * u * t * c.x1 + t * t * c.x, u * u * y0 + 2 * u * t * c.y1 + t * t * c.y);
      }
    } else if (c.type === 'C') {
      const [x0, y0] = at;
      for (let i = 1; i <= STEPS; i++) {
        const t = i / STEPS;
        const u = 1 - t;
        line(
          u * u * u * x0 + 3 * u * u * t * c.x1 + 3 * u * t * t * c.x2 + t * t * t * c.x,
          u * u * u * y0 + 3 * u * u * t * c.y1 + 3 * u * t * t * c.y2 + t * t * t * c.y,
        );
      }
    } else if (c.type === 'Z') {
      if (start && at && (at[0] !== start[0] || at[1] !== start[1])) line(start[0], start[1]);
      at = start;
    }
  }
  return segs;
}

/** Distance from (px, py) to the nearest segment, and the non-zero winding number there. */
function distanceAndWinding(segs, px, py) {
  let best = Infinity;
  let winding = 0;
  for (const [x1, y1, x2, y2] of segs) {
    const dx = x2 - x1;
    const dy = y2 - y1;
    const len = dx * dx + dy * dy;
    let t = len > 0 ? ((px - x1) * dx + (py - y1) * dy) / len : 0;
    t = Math.max(0, Math.min(1, t));
    const ex = x1 + t * dx - px;
    const ey = y1 + t * dy - py;
    const d = ex * ex + ey * ey;
    if (d < best) best = d;
    if (y1 <= py) {
      if (y2 > py && dx * (py - y1) - (px - x1) * dy > 0) winding++;
    } else if (y2 <= py && dx * (py - y1) - (px - x1) * dy < 0) {
      winding--;
    }
  }
  return [Math.sqrt(best), winding];
}

/** One glyph's SDF bitmap and metrics, in the node-fontnik convention. */
function renderGlyph(cp) {
  const found = glyphFor(cp);
  if (!found) return null;
  const { font, glyph } = found;
  const scale = SIZE / font.unitsPerEm;
  const advance = Math.round((glyph.advanceWidth || 0) * scale);
  const ascender = Math.round(font.ascender * scale);
  const path = glyph.getPath(0, 0, SIZE);
  const segs = segments(path);
  if (segs.length === 0) {
    return { id: cp, bitmap: null, width: 0, height: 0, left: 0, top: -ascender, advance };
  }
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  for (const [x1, y1, x2, y2] of segs) {
    minX = Math.min(minX, x1, x2);
    maxX = Math.max(maxX, x1, x2);
    minY = Math.min(minY, y1, y2);
    maxY = Math.max(maxY, y1, y2);
  }
  const left = Math.floor(minX);
  const topY = Math.floor(minY); // y down: the top edge of the glyph box
  const width = Math.ceil(maxX) - left;
  const height = Math.ceil(maxY) - topY;
  const w = width + 2 * BUFFER;
  const h = height + 2 * BUFFER;
  const bitmap = new Uint8Array(w * h);
  for (let j = 0; j < h; j++) {
    for (let i = 0; i < w; i++) {
      const px = left - BUFFER + i + 0.5;
      const py = topY - BUFFER + j + 0.5;
      const [d, winding] = distanceAndWinding(segs, px, py);
      const signed = winding !== 0 ? -d : d;
      const v = Math.round(255 - 255 * (signed / RADIUS + CUTOFF));
      bitmap[j * w + i] = Math.max(0, Math.min(255, v));
    }
  }
  return { id: cp, bitmap, width, height, left, top: -topY - ascender, advance };
}

// --- protobuf writing -----------------------------------------------------------------------

function varint(out, v) {
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
}
const zigzag = (n) => (n >= 0 ? 2 * n : -2 * n - 1);
function key(out, field, wire) {
  varint(out, field * 8 + wire);
}
function bytes(out, field, data) {
  key(out, field, 2);
  varint(out, data.length);
  for (const b of data) out.push(b);
}

function encodeRange(start) {
  const stack = [];
  bytes(stack, 1, Buffer.from(FONTSTACK));
  bytes(stack, 2, Buffer.from(`${start}-${start + 255}`));
  let count = 0;
  for (let cp = start; cp < start + 256; cp++) {
    const g = renderGlyph(cp);
    if (!g) continue;
    count++;
    const m = [];
    key(m, 1, 0);
    varint(m, g.id);
    if (g.bitmap) bytes(m, 2, g.bitmap);
    key(m, 3, 0);
    varint(m, g.width);
    key(m, 4, 0);
    varint(m, g.height);
    key(m, 5, 0);
    varint(m, zigzag(g.left));
    key(m, 6, 0);
    varint(m, zigzag(g.top));
    key(m, 7, 0);
    varint(m, g.advance);
    bytes(stack, 3, m);
  }
  const out = [];
  bytes(out, 1, stack);
  return { data: Buffer.from(out), count };
}

const check = process.argv.includes('--check');
const outDir = join(here, 'glyphs', FONTSTACK);
mkdirSync(outDir, { recursive: true });
let stale = 0;
for (const start of RANGES) {
  const { data, count } = encodeRange(start);
  const file = join(outDir, `${start}-${start + 255}.pbf`);
  if (check) {
    if (!existsSync(file) || !readFileSync(file).equals(data)) {
      console.error(`glyphs: ${file} is out of date; run node web/glyphs.mjs`);
      stale++;
    }
  } else {
    writeFileSync(file, data);
    console.log(`glyphs: ${FONTSTACK} ${start}-${start + 255}: ${count} glyphs, ${data.length} bytes`);
  }
}
if (!check) copyFileSync(join(here, 'node_modules/@fontsource/noto-sans/LICENSE'), join(here, 'glyphs', 'OFL.txt'));
process.exit(stale ? 1 : 0);
