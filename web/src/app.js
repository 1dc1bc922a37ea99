// gapmap's web map: estates coloured by coverage for one facility kind (from zoom 12; below it
// the districts as a choropleth of households covered, outlined and labelled at every zoom),
// facilities and service areas of that kind, a year slider, coverage per district (a row click
// zooms to the district and shows only its estates), a legend, Chinese and English; with a
// walking network, a straight-line / walking switch and the streets from zoom 14. The view
// (kind, year, distance, district, zoom and centre) is kept in the URL's hash, so it can be
// shared; a year is asked for once the slider rests, and a newer year cancels an older one.
//
// Everything comes from the gapmap server it is served by: the styles (/styles/*.json), vector
// tiles (/tiles/...), glyphs (/fonts/...), the feature API (/collections/...) and MapLibre GL JS
// itself (/map/maplibre-gl.mjs). The kind is switched through the styles' `kind` global state,
// so the estate and district tiles (which carry every kind's coverage) are not fetched again;
// the facilities and service areas are asked for one kind (`kind=`); a year re-points the
// year-dependent sources at `?year=`. The distance switch sets the style's `distance` global state
// (`straight` or `network`: which of `<kind>_straight_m` / `<kind>_network_m` is compared with the
// radius), again without fetching tiles.

import * as maplibregl from '/map/maplibre-gl.mjs';

const origin = window.location.origin;

const TEXT = {
  zh: {
    kind: '设施类别', year: '年份', facilities: '设施', areas: '服务范围', legend: '图例',
    distance: '距离', straight: '直线', walking: '步行', walkMin: '步行分钟', detour: '绕行系数',
    byStraight: '按直线距离', byWalking: (v) => `按步行距离（每分钟 ${v} 米）`, streetsLegend: '步行网络（14 级起）',
    byDistrict: '各区覆盖率', district: '区', estatesPct: '小区 %', householdsPct: '户数 %',
    switchTo: 'English', allYears: '全部', city: '全市',
    summary: (k, e, h) => `${k}：${e} 的小区、${h} 的户数在服务半径内有设施。`,
    noDistricts: '数据中的小区没有行政区字段。',
    radius: (r) => `服务半径 ${r} 米`,
    facilityLegend: '设施（当前类别）', areaLegend: '服务范围（当前类别）',
    estate: '小区', households: '户数', nearest: '最近距离', covered: '覆盖', shortfall: '缺口',
    yes: '是', no: '否', none: '无', metres: '米', loading: '加载中…', failed: '加载失败：',
    asOf: (y) => (y ? `截至 ${y} 年` : '全部设施'), details: '详情',
    computing: (y) => `正在计算${y ? ` ${y} 年` : ''}的覆盖情况（每个年份首次需要一些时间）…`,
    planTitle: '选址规划', planKind: '设施类别', planCount: '新增数量 K', planRadius: '服务半径（米）', planRun: '规划', planning: '正在求解…',
    planSummary: (n, h, e, dh, de, solver) => `${n} 个新址新覆盖 ${h} 户、${e} 个小区（未覆盖共 ${dh} 户、${de} 个小区；${solver === 'exact' ? '最优解' : '贪心解'}）。`,
    planSite: (r, id, h, e) => `第 ${r} 名 · ${id}：+${h} 户，+${e} 个小区`,
    trialTitle: '试点设施', trialMode: '点击地图放置试点设施',
    trialResult: (e, h, k) => `此处新增一处${k}，可新覆盖 ${e} 个小区、${h} 户。`,
    plannedLegend: '规划设施（空心）',
    noData: '无数据', noDataKind: '（无数据）', shortCovered: '✓ 容量不足', uncoveredHh: '未覆盖户数',
    districtLegend: '各区户数覆盖率（12 级以下）', estateLegend: '小区（12 级起）', allDistricts: '显示全部区',
    menu: '更多', apiMenu: 'API', apiDoc: 'API 定义（OpenAPI）', conformance: '符合性', landing: 'API 首页', data: '数据',
    view: '视图', viewCoverage: '覆盖', viewProgramme: '改造', programmeTitle: '老旧小区改造', colourBy: '着色', byStatus: '按状态', byComplete: '按完成进度',
    satisfaction: '满意度', satAll: '全部项目', satBelow: '低于验收线（需整改）', satPassed: '达到验收线', satNone: '尚未调查',
    status_planned: '计划', status_started: '在建', status_completed: '已完工', status_accepted: '已验收',
    gate_passed: '通过', gate_failed: '未通过（整改）', gate_no_survey: '未调查', gateFailedLegend: '满意度未达验收线（红框）',
    completeLegend: (a, b) => `完成进度 ${a}–${b}%`, projectsMatch: (n, all) => `显示 ${n} / ${all} 个改造项目。`,
    project: '改造项目', batch: '批次', street: '街道', status: '状态', complete: '完成进度', category: '改造类别', items: '改造内容',
    floorArea: '建筑面积', investment: '总投资', gate: '满意度验收', funding: '资金分摊（按规则）', source: '来源', byRule: '按规则', recorded: '实际',
    unassigned: '未分摊', wishes: '居民意愿', noWishes: '无意愿记录', people: (n) => `${n} 人`, gateLine: (g) => `验收线 ${g}%`,
    cat_basic: '基础类', cat_improvement: '完善类', cat_upgrade: '提升类',
  },
  en: {
    kind: 'Facility kind', year: 'Year', facilities: 'Facilities', areas: 'Service areas', legend: 'Legend',
    distance: 'Distance', straight: 'Straight line', walking: 'Walking', walkMin: 'Walk min', detour: 'Detour',
    byStraight: 'by straight line', byWalking: (v) => `by walking distance (${v} m/min)`, streetsLegend: 'Walking network (from zoom 14)',
    byDistrict: 'Coverage by district', district: 'District', estatesPct: 'Estates %', householdsPct: 'Households %',
    switchTo: '中文', allYears: 'all', city: 'City',
    summary: (k, e, h) => `${k}: ${e} of estates and ${h} of households have one within the service radius.`,
    noDistricts: 'The estates carry no district.',
    radius: (r) => `service radius ${r} m`,
    facilityLegend: 'Facilities (this kind)', areaLegend: 'Service area (this kind)',
    estate: 'Estate', households: 'Households', nearest: 'Nearest', covered: 'Covered', shortfall: 'Shortfall',
    yes: 'yes', no: 'no', none: 'none', metres: 'm', loading: 'Loading…', failed: 'Failed: ',
    asOf: (y) => (y ? `as of ${y}` : 'all facilities'), details: 'details',
    computing: (y) => `Computing coverage${y ? ` as of ${y}` : ''} (the first time for a year takes a while)…`,
    planTitle: 'Plan new sites', planKind: 'Kind', planCount: 'New sites K', planRadius: 'Radius (m)', planRun: 'Plan', planning: 'Solving…',
    planSummary: (n, h, e, dh, de, solver) => `${n} new sites newly cover ${h} households in ${e} estates (of ${dh} households in ${de} uncovered estates; ${solver} solution).`,
    planSite: (r, id, h, e) => `#${r} · ${id}: +${h} households, +${e} estates`,
    trialTitle: 'Trial facility', trialMode: 'Click the map to place a trial facility',
    trialResult: (e, h, k) => `A ${k} here would newly cover ${e} estates and ${h} households.`,
    plannedLegend: 'Planned facilities (rings)',
    noData: 'no data', noDataKind: ' (no data)', shortCovered: '✓ short', uncoveredHh: 'Uncovered hh',
    districtLegend: 'Households covered by district (below zoom 12)', estateLegend: 'Estates (from zoom 12)', allDistricts: 'Show every district',
    menu: 'More', apiMenu: 'API', apiDoc: 'API definition (OpenAPI)', conformance: 'Conformance', landing: 'API landing page', data: 'Data',
    view: 'View', viewCoverage: 'Coverage', viewProgramme: 'Renovation', programmeTitle: 'Old-estate renovation', colourBy: 'Colour by', byStatus: 'status', byComplete: '% complete',
    satisfaction: 'Satisfaction', satAll: 'all projects', satBelow: 'below the gate (rework)', satPassed: 'passed the gate', satNone: 'no survey yet',
    status_planned: 'planned', status_started: 'started', status_completed: 'completed', status_accepted: 'accepted',
    gate_passed: 'passed', gate_failed: 'failed (rework)', gate_no_survey: 'no survey', gateFailedLegend: 'Below the satisfaction gate (red outline)',
    completeLegend: (a, b) => `${a}–${b} % complete`, projectsMatch: (n, all) => `Showing ${n} of ${all} renovation projects.`,
    project: 'Renovation project', batch: 'Batch', street: 'Street', status: 'Status', complete: 'Complete', category: 'Category', items: 'Items',
    floorArea: 'Floor area', investment: 'Investment', gate: 'Satisfaction gate', funding: 'Funding split (by rule)', source: 'Source', byRule: 'By rule', recorded: 'Recorded',
    unassigned: 'unassigned', wishes: "Residents' wishes", noWishes: 'no wishes recorded', people: (n) => `${n} residents`, gateLine: (g) => `gate ${g} %`,
    cat_basic: 'basic', cat_improvement: 'improvement', cat_upgrade: 'upgrade',
  },
};

/** Capacity units of the catalogue (`capacity_unit`) as each language writes them. */
const UNITS = {
  m2: { zh: 'm²', en: 'm²' },
  places: { zh: '个学位', en: 'places' },
  rooms: { zh: '间', en: 'rooms' },
  beds: { zh: '张床位', en: 'beds' },
  stalls: { zh: '个摊位', en: 'stalls' },
  spaces: { zh: '个车位', en: 'spaces' },
  chargers: { zh: '个充电桩', en: 'chargers' },
};

/** Funding sources as the programme report names them. */
const SOURCES = {
  central: { zh: '中央补助', en: 'Central subsidy' }, province: { zh: '省级补助', en: 'Province' }, city: { zh: '市级财政', en: 'City' },
  district: { zh: '区级财政', en: 'District' }, utility: { zh: '管线单位', en: 'Utility companies' }, residents: { zh: '居民出资', en: 'Residents' },
  social: { zh: '社会资本', en: 'Social capital' }, other: { zh: '其他', en: 'Other' },
};

/** Project statuses in order, with their colours in the programme view. */
const STATUS_COLOURS = [['planned', '#bdbdbd'], ['started', '#fdae61'], ['completed', '#a6d96a'], ['accepted', '#1a9641']];
/** % complete from 0 to 100 in the programme view. */
const COMPLETE_RAMP = [[0, '#fff7bc'], [50, '#fe9929'], [100, '#8c2d04']];

const KIND_COLOURS = {
  day_care: '#1f77b4', nursery: '#ff7f0e', kindergarten: '#2ca02c', health_station: '#d62728',
  health_centre: '#9467bd', market: '#8c564b', parking: '#e377c2', ev_charger: '#17becf',
  primary_school: '#bcbd22', middle_school: '#393b79', community_service: '#ad494a',
};

const state = {
  lang: 'zh',
  kind: null,
  year: null,
  config: null,
  legend: [],
  districts: null,
  /** `straight` or `network` with a walking network; `null` without one. */
  distance: null,
  /** The last plan (POST /plans answer) and the rank of the selected site. */
  plan: null,
  selectedSite: null,
  /** Trial mode on, and the last trial: { lngLat, kind, answer }. */
  trialMode: false,
  trial: null,
  /** The estate popup shown: { id, lngLat, popup, feature } (kept current across language and year). */
  popup: null,
  /** The districts' choropleth legend (from the coverage style). */
  districtLegend: [],
  /** The district the map is narrowed to ('' for all). */
  district: '',
  /** `coverage` or, with a programme, `programme` (estates coloured by their projects). */
  view: 'coverage',
  /** The programme view's colours (`status` or `complete`) and satisfaction filter (`all`, `below`, `passed`, `none`). */
  programmeColour: 'status',
  satisfaction: 'all',
  /** The project popup shown: { id, popup, project, wishes }. */
  projectPopup: null,
};
state.lang = localStorage.getItem('gapmap.lang') || ((navigator.language || 'zh').toLowerCase().startsWith('zh') ? 'zh' : 'en');

const $ = (id) => document.getElementById(id);
const t = (key, ...args) => {
  const v = TEXT[state.lang][key];
  return typeof v === 'function' ? v(...args) : v;
};
const escapeHtml = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
const kindSpec = (key) => state.config.kinds.find((k) => k.key === key);
const kindLabel = (k) => (state.lang === 'zh' ? k.label_zh : k.label_en);
/** Whether the data has any (built) facility of a kind: without one its coverage is no data. */
const hasData = (k) => k.facilities == null || k.facilities > 0;
const unit = (u) => (u ? (UNITS[u] ? UNITS[u][state.lang] : u) : '');
/** Numbers as each language groups them. */
const count = (n) => (Number.isFinite(n) ? Math.round(n).toLocaleString(state.lang === 'zh' ? 'zh-CN' : 'en-GB') : '–');
const pct = (x) => (Number.isFinite(x) ? `${x.toFixed(1)} %` : '–');

async function getJson(path, signal) {
  const response = await fetch(origin + path, { headers: { Accept: 'application/json' }, signal });
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  return response.json();
}

async function postJson(path, body) {
  const response = await fetch(origin + path, { method: 'POST', headers: { Accept: 'application/json', 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  const answer = await response.json().catch(() => null);
  if (!response.ok) throw new Error(`${path}: ${response.status} ${answer && answer.description ? answer.description : ''}`);
  return answer;
}

function status(text) {
  $('status').textContent = text || '';
}

/** The year query for the year-dependent endpoints ('' = the server's configured year). */
function yearQuery(prefix) {
  return state.year == null ? '' : `${prefix}year=${state.year}`;
}

/** Sources asked for one kind: they carry one feature per kind. */
const KIND_SOURCES = ['facilities', 'service-areas'];

/** The TileJSON URL of a source for the year and (for facilities and areas) the kind shown. */
function tileJsonUrl(id) {
  const q = [];
  if (state.year != null) q.push(`year=${state.year}`);
  if (KIND_SOURCES.includes(id)) q.push(`kind=${encodeURIComponent(state.kind)}`);
  return `${origin}/tiles/${id}.json${q.length ? `?${q.join('&')}` : ''}`;
}

/** Writes the view into the URL's hash (kind, year, distance, district, zoom/lat/lon). */
function writeHash() {
  if (!map) return;
  const c = map.getCenter();
  const params = new URLSearchParams();
  params.set('kind', state.kind);
  if (state.view === 'programme') {
    params.set('view', 'programme');
    params.set('colour', state.programmeColour);
    if (state.satisfaction !== 'all') params.set('satisfaction', state.satisfaction);
  }
  if (state.year != null) params.set('year', String(state.year));
  if (state.distance) params.set('distance', state.distance);
  if (state.district) params.set('district', state.district);
  params.set('map', `${map.getZoom().toFixed(2)}/${c.lat.toFixed(5)}/${c.lng.toFixed(5)}`);
  const hash = `#${params.toString()}`;
  if (window.location.hash !== hash) history.replaceState(null, '', hash);
}

/** One style from the coverage, facilities, service-areas and (with a network) streets styles. */
function mergeStyles(coverage, facilities, areas, streets) {
  const style = structuredClone(coverage);
  style.sources = { ...areas.sources, ...facilities.sources, ...(streets ? streets.sources : {}), ...coverage.sources };
  style.state = { ...areas.state, ...facilities.state, ...coverage.state };
  const withoutBackground = (s) => s.layers.filter((l) => l.type !== 'background' && l.id !== 'basemap');
  const base = coverage.layers.filter((l) => l.type === 'background' || l.id === 'basemap');
  const estates = withoutBackground(coverage);
  const labels = estates.filter((l) => l.type === 'symbol');
  const fills = estates.filter((l) => l.type !== 'symbol');
  const facilityLayers = withoutBackground(facilities).map((l) => ({ ...l, layout: { ...(l.layout || {}), visibility: 'visible' } }));
  const areaLayers = withoutBackground(areas).map((l) => ({ ...l, layout: { ...(l.layout || {}), visibility: 'none' } }));
  const streetLayers = streets ? withoutBackground(streets) : [];
  style.layers = [...base, ...fills, ...streetLayers, ...areaLayers, ...facilityLayers.filter((l) => l.type !== 'symbol'), ...labels, ...facilityLayers.filter((l) => l.type === 'symbol')];
  return style;
}

function legendItems(list) {
  return list.map((item) => `<li><span class="swatch" style="background:${escapeHtml(item.color)}" data-color="${escapeHtml(item.color)}"></span>${escapeHtml(item[state.lang])}</li>`);
}

function renderLegend() {
  const items = [];
  const spec = kindSpec(state.kind);
  if (state.config.districts && state.districtLegend.length) {
    items.push(`<li class="head">${escapeHtml(t('districtLegend'))}</li>`, ...legendItems(state.districtLegend));
    items.push(`<li class="head">${escapeHtml(t('estateLegend'))}</li>`);
  }
  items.push(...legendItems(state.legend));
  if ($('show-facilities').checked) {
    items.push(`<li><span class="swatch dot" style="background:${KIND_COLOURS[state.kind] || '#555'}"></span>${escapeHtml(t('facilityLegend'))}</li>`);
  }
  if ($('show-facilities').checked && state.config.planned) {
    items.push(`<li><span class="swatch dot" style="background:#fff;border:2px solid ${KIND_COLOURS[state.kind] || '#555'}"></span>${escapeHtml(t('plannedLegend'))}</li>`);
  }
  if ($('show-areas').checked) {
    items.push(`<li><span class="swatch" style="background:${KIND_COLOURS[state.kind] || '#555'};opacity:0.35"></span>${escapeHtml(t('areaLegend'))}</li>`);
  }
  if (state.distance) {
    items.push(`<li><span class="swatch" style="background:#6b6b6b;height:2px;border:none"></span>${escapeHtml(t('streetsLegend'))}</li>`);
  }
  if (spec) items.push(`<li class="note">${escapeHtml(kindLabel(spec))} — ${escapeHtml(t('radius', spec.radius_m))}, ${escapeHtml(distanceNote())}</li>`);
  $('legend').innerHTML = items.join('');
}

/** What the colours measure: straight line, or walking along the streets. */
function distanceNote() {
  if (state.distance === 'straight' || !state.config.network) return t('byStraight');
  return t('byWalking', state.config.network.speed_m_per_min);
}

/** A district's figures for the kind and distance shown. */
function districtFigures(p) {
  const k = state.kind;
  // The switch on straight line reads the districts' straight-line percentages.
  const prefix = state.distance === 'straight' ? `${k}_straight` : k;
  const e = Number(p[`${prefix}_estates_covered_pct`] ?? p[`${k}_estates_covered_pct`]);
  const h = Number(p[`${prefix}_households_covered_pct`] ?? p[`${k}_households_covered_pct`]);
  const households = Number(p.households) || 0;
  const uncovered = Number.isFinite(h) ? Math.round((households * (100 - h)) / 100) : NaN;
  return { e, h, households, estates: Number(p.estates) || 0, uncovered };
}

function renderDistricts() {
  const body = $('districts').querySelector('tbody');
  const spec = kindSpec(state.kind);
  if (!state.districts) {
    body.innerHTML = '';
    $('summary').textContent = state.config.districts ? t('loading') : t('noDistricts');
    return;
  }
  const noData = spec && !hasData(spec);
  let estates = 0;
  let estatesCovered = 0;
  let households = 0;
  let householdsCovered = 0;
  const cell = (x) => (noData ? escapeHtml(t('noData')) : pct(x));
  const rows = state.districts
    .map((f) => f.properties)
    .sort((a, b) => String(a.district).localeCompare(String(b.district), 'zh'))
    .map((p) => {
      const d = districtFigures(p);
      estates += d.estates;
      estatesCovered += (d.estates * (Number.isFinite(d.e) ? d.e : 0)) / 100;
      households += d.households;
      householdsCovered += (d.households * (Number.isFinite(d.h) ? d.h : 0)) / 100;
      const bar = Number.isFinite(d.e) && !noData ? `<span class="bar" style="width:${(d.e * 0.3).toFixed(1)}px"></span>` : '';
      const selected = p.district === state.district ? ' class="selected"' : '';
      return `<tr${selected} data-district="${escapeHtml(p.district)}" data-uncovered="${noData ? '' : d.uncovered}" tabindex="0"><td>${escapeHtml(p.district)}</td><td class="num">${cell(d.e)}${bar}</td><td class="num">${cell(d.h)}</td><td class="num">${noData ? '–' : count(d.uncovered)}</td></tr>`;
    });
  const cityE = estates ? (100 * estatesCovered) / estates : NaN;
  const cityH = households ? (100 * householdsCovered) / households : NaN;
  rows.push(`<tr class="total"><th>${escapeHtml(t('city'))}</th><th class="num">${cell(cityE)}</th><th class="num">${cell(cityH)}</th><th class="num">${noData ? '–' : count(households - householdsCovered)}</th></tr>`);
  body.innerHTML = rows.join('');
  for (const tr of body.querySelectorAll('tr[data-district]')) {
    const pick = () => selectDistrict(tr.dataset.district === state.district ? '' : tr.dataset.district, true);
    tr.addEventListener('click', pick);
    tr.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault();
        pick();
      }
    });
  }
  $('district-all').hidden = !state.district;
  const kind = spec ? kindLabel(spec) : state.kind;
  $('summary').textContent = noData
    ? `${kind}: ${t('noData')}`
    : `${t('summary', kind, pct(cityE), pct(cityH))} (${t('asOf', state.year ?? state.config.years.configured)}, ${distanceNote()})`;
}

/** The districts as of the year shown; a newer call cancels an older one still loading. */
let districtsLoad = null;
async function loadDistricts() {
  if (!state.config.districts) {
    state.districts = null;
    renderDistricts();
    return;
  }
  if (districtsLoad) districtsLoad.abort();
  const load = new AbortController();
  districtsLoad = load;
  state.districts = null;
  renderDistricts();
  const page = await getJson(`/collections/districts/items?limit=1000${yearQuery('&')}`, load.signal);
  if (districtsLoad !== load) return;
  districtsLoad = null;
  state.districts = page.features;
  renderDistricts();
}

/** Narrows the map to one district's estates ('' for all) and, with `fly`, zooms to it. */
function selectDistrict(name, fly) {
  state.district = name || '';
  map.setGlobalStateProperty('district', state.district);
  renderDistricts();
  writeHash();
  if (!fly || !state.district || !state.districts) return;
  const f = state.districts.find((d) => d.properties.district === state.district);
  if (!f || !f.geometry) return;
  let b = null;
  const visit = (c) => {
    if (typeof c[0] === 'number') {
      b = b ? [Math.min(b[0], c[0]), Math.min(b[1], c[1]), Math.max(b[2], c[0]), Math.max(b[3], c[1])] : [c[0], c[1], c[0], c[1]];
    } else c.forEach(visit);
  };
  visit(f.geometry.coordinates);
  if (b) map.fitBounds(b, { padding: 30, duration: 0, maxZoom: 16 });
}

function renderTexts() {
  document.documentElement.lang = state.lang;
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  $('lang').textContent = t('switchTo');
  const select = $('kind');
  // Kinds the data has no facility of are marked "no data" and cannot be chosen: their grey
  // city would read as a real gap.
  select.innerHTML = state.config.kinds
    .map((k) => `<option value="${escapeHtml(k.key)}"${hasData(k) ? '' : ' disabled data-no-data="true"'}>${escapeHtml(kindLabel(k))}${hasData(k) ? '' : escapeHtml(t('noDataKind'))}</option>`)
    .join('');
  select.value = state.kind;
  const planKind = $('plan-kind');
  const chosen = planKind.value || state.kind;
  planKind.innerHTML = state.config.kinds.map((k) => `<option value="${escapeHtml(k.key)}">${escapeHtml(kindLabel(k))}</option>`).join('');
  planKind.value = chosen;
  if (!$('plan-radius').value) $('plan-radius').placeholder = String(kindSpec(chosen).radius_m);
  renderYear();
  renderPlan();
  renderTrial();
  renderLegend();
  renderDistricts();
  renderPopup();
  renderProgramme();
  renderProjectPopup();
}

function renderYear() {
  const { max, configured } = state.config.years;
  const y = state.year ?? configured;
  $('year-value').textContent = y == null || (configured == null && y >= max) ? t('allYears') : String(y);
  // The annual report for the year shown (the newest year when every facility counts).
  const reportYear = y ?? max;
  // In the language of the map (the report's sections, the programme's too, follow it).
  $('report-link').href = reportYear == null ? '/reports?f=html' : `/reports/${reportYear}?f=html&lang=${state.lang}`;
}

let map;

function setKind(key) {
  const spec = kindSpec(key);
  if (!spec || !hasData(spec)) return;
  state.kind = key;
  map.setGlobalStateProperty('kind', key);
  map.setGlobalStateProperty('radius_m', spec.radius_m);
  $('kind').value = key;
  // Facilities and service areas come one kind at a time.
  for (const id of KIND_SOURCES) {
    const source = map.getSource(id);
    if (source) source.setUrl(tileJsonUrl(id));
  }
  renderLegend();
  renderDistricts();
  renderPopup();
  writeHash();
}

let yearRequest = 0;
let yearTimer = null;

/** The slider moved: the year is asked for once it rests (holding an arrow key passes many). */
function yearSoon(year, delay = 400) {
  $('year-value').textContent = String(year);
  clearTimeout(yearTimer);
  yearTimer = setTimeout(() => setYear(year), delay);
}

async function setYear(year) {
  clearTimeout(yearTimer);
  const { max, configured } = state.config.years;
  // With no configured year, the newest year is the same as "every facility": keep the server's
  // precomputed view instead of asking for a year.
  state.year = configured == null && year >= max ? null : year;
  const request = ++yearRequest;
  $('year').value = String(year);
  renderYear();
  renderLegend();
  writeHash();
  status(t('computing', state.year));
  try {
    // The server computes a year's coverage on first use: one request waits for it, then the
    // tiles all find it ready instead of each waiting. A newer year aborts this one's request.
    if (state.config.districts) await loadDistricts();
    else await getJson(`/collections/estates/items?limit=1${yearQuery('&')}`);
  } catch (e) {
    if (request === yearRequest && e.name !== 'AbortError') status(t('failed') + e.message);
    return;
  }
  if (request !== yearRequest) return;
  map.once('idle', () => status(''));
  for (const id of ['estates', 'facilities', 'service-areas', 'districts']) {
    const source = map.getSource(id);
    if (source) source.setUrl(tileJsonUrl(id));
  }
  if (state.popup) showEstate(state.popup.id, state.popup.lngLat);
}

/** Colours estates by the straight line or by walking (`straight` / `network`). */
function setDistance(distance) {
  if (!state.config.network || !['straight', 'network'].includes(distance)) return;
  state.distance = distance;
  map.setGlobalStateProperty('distance', distance);
  for (const input of document.querySelectorAll('input[name="distance"]')) input.checked = input.value === distance;
  renderLegend();
  renderDistricts();
  renderPopup();
  writeHash();
}

function setLang(lang) {
  state.lang = lang;
  localStorage.setItem('gapmap.lang', lang);
  renderTexts();
}

function setVisible(prefix, visible) {
  for (const layer of map.getStyle().layers) {
    if (layer.id === prefix || layer.id.startsWith(`${prefix}-`)) map.setLayoutProperty(layer.id, 'visibility', visible ? 'visible' : 'none');
  }
  renderLegend();
}

/** Opens (or refreshes, for the year shown) the coverage popup of an estate. */
async function showEstate(id, lngLat) {
  let popup = state.popup && state.popup.id === id ? state.popup.popup : null;
  if (!popup || !popup.isOpen()) {
    if (state.popup && state.popup.popup.isOpen()) state.popup.popup.remove();
    // Both distances, minutes and the detour need the wider popup.
    popup = new maplibregl.Popup({ maxWidth: state.config.network ? '480px' : '380px', className: 'estate-popup' }).setLngLat(lngLat).setHTML(`<div class="popup">${escapeHtml(t('loading'))}</div>`).addTo(map);
    const entry = { id, lngLat, popup, feature: null, year: null };
    state.popup = entry;
    popup.on('close', () => {
      if (state.popup === entry) state.popup = null;
    });
  }
  const entry = state.popup;
  const year = state.year;
  try {
    const f = await getJson(`/collections/estates/items/${encodeURIComponent(id)}${yearQuery('?')}`);
    if (state.popup !== entry || state.year !== year) return;
    entry.feature = f;
    entry.year = year;
    renderPopup();
  } catch (e) {
    if (state.popup === entry) popup.setHTML(`<div class="popup">${escapeHtml(t('failed') + e.message)}</div>`);
  }
}

/** The popup's contents in the language, kind and distance shown, for the year it was fetched. */
function renderPopup() {
  const entry = state.popup;
  if (!entry || !entry.feature || !entry.popup.isOpen()) return;
  const f = entry.feature;
  const p = f.properties;
  const network = Boolean(state.config.network);
  const metres = (d) => (d == null ? t('none') : `${Math.round(d)} ${t('metres')}`);
  const rows = state.config.kinds.map((k) => {
    const head = `<tr class="${k.key === state.kind ? 'selected' : ''}" data-kind="${escapeHtml(k.key)}"><td>${escapeHtml(kindLabel(k))}</td>`;
    const cols = network ? 4 : 1;
    if (!hasData(k)) return `${head}<td class="num nodata" colspan="${cols + 2}">${escapeHtml(t('noData'))}</td></tr>`;
    const d = p[`${k.key}_distance_m`];
    const covered = p[`${k.key}_covered`];
    const s = p[`${k.key}_shortfall`];
    const short = covered && s != null && s > 0;
    const shortfall = s == null ? '–' : `${Number(s).toFixed(s > 0 && s < 10 ? 1 : 0)}${k.capacity_unit ? ` ${escapeHtml(unit(k.capacity_unit))}` : ''}`;
    // The map draws a covered estate short of capacity in its own colour: the popup says so too.
    const mark = short ? t('shortCovered') : covered ? `✓ ${t('yes')}` : `✗ ${t('no')}`;
    const tail = `<td class="${short ? 'short' : covered ? 'yes' : 'no'}">${escapeHtml(mark)}</td><td class="num">${shortfall}</td></tr>`;
    if (!network) return `${head}<td class="num" data-distance-m="${d ?? ''}">${escapeHtml(metres(d))}</td>${tail}`;
    // Both distances, the walk in minutes and the detour (walking ÷ straight line).
    const straight = p[`${k.key}_straight_m`];
    const walked = p[`${k.key}_network_m`];
    const minutes = p[`${k.key}_walk_min`];
    const detour = p[`${k.key}_detour`];
    const chosen = (which) => (state.distance === which ? ' chosen' : '');
    return `${head}<td class="num${chosen('straight')}" data-straight-m="${straight ?? ''}">${escapeHtml(metres(straight))}</td>` +
      `<td class="num${chosen('network')}" data-network-m="${walked ?? ''}" data-distance-m="${d ?? ''}">${escapeHtml(metres(walked))}</td>` +
      `<td class="num opt">${minutes == null ? '–' : Number(minutes).toFixed(1)}</td><td class="num opt" data-detour="${detour ?? ''}">${detour == null ? '–' : `${Number(detour).toFixed(2)}×`}</td>${tail}`;
  });
  const distanceHeads = network
    ? `<th class="num">${escapeHtml(t('straight'))}</th><th class="num">${escapeHtml(t('walking'))}</th><th class="num opt">${escapeHtml(t('walkMin'))}</th><th class="num opt">${escapeHtml(t('detour'))}</th>`
    : `<th class="num">${escapeHtml(t('nearest'))}</th>`;
  const title = p.name ? `${escapeHtml(p.name)} <small>#${escapeHtml(f.id)}</small>` : `${escapeHtml(t('estate'))} #${escapeHtml(f.id)}`;
  const year = entry.year ?? state.config.years.configured;
  const meta = [p.district, p.households != null ? `${t('households')} ${p.households}` : null, t('asOf', year)].filter(Boolean).map(escapeHtml).join(' · ');
  // The details page of the same year, so that it shows the distances the popup does.
  const details = `/estates/${encodeURIComponent(f.id)}/coverage?f=html${entry.year != null ? `&year=${entry.year}` : ''}`;
  entry.popup.setHTML(
    `<div class="popup" data-estate="${escapeHtml(f.id)}" data-year="${entry.year ?? ''}" lang="${state.lang}"><h3>${title}</h3><p>${meta}</p>` +
      `<table><thead><tr><th>${escapeHtml(t('kind'))}</th>${distanceHeads}<th>${escapeHtml(t('covered'))}</th><th class="num">${escapeHtml(t('shortfall'))}</th></tr></thead>` +
      `<tbody>${rows.join('')}</tbody></table>` +
      `<p><a class="details" href="${escapeHtml(details)}" target="_blank" rel="noopener">${escapeHtml(t('details'))}</a></p></div>`,
  );
}

// The programme view: the `projects` tiles (one polygon per project, its estate's) coloured by
// status or % complete, outlined in red where the project failed the satisfaction gate, and
// filtered by the satisfaction shown; a click opens the project with its funding split and its
// estate's top wishes (from /collections/projects and /collections/wishes).

/** The fill colour of projects for the colouring chosen. */
function programmeFill() {
  if (state.programmeColour === 'complete') return ['interpolate', ['linear'], ['to-number', ['get', 'complete_pct'], 0], ...COMPLETE_RAMP.flat()];
  return ['match', ['get', 'status'], ...STATUS_COLOURS.flat(), '#888888'];
}

/** The map filter of the satisfaction chosen (the gate's verdict as the server computed it). */
function programmeFilter() {
  const gate = { below: 'failed', passed: 'passed', none: 'no_survey' }[state.satisfaction];
  return gate ? ['==', ['get', 'gate'], gate] : null;
}

/** The same as an items query, for the count of projects shown. */
function programmeQuery() {
  const gate = { below: 'failed', passed: 'passed', none: 'no_survey' }[state.satisfaction];
  return gate ? `&gate=${gate}` : '';
}

function addProgrammeLayers() {
  if (!state.config.programme) return;
  map.addSource('projects', { type: 'vector', url: `${origin}/tiles/projects.json` });
  const before = map.getStyle().layers.find((l) => l.id.startsWith('facilities'));
  const hidden = { visibility: 'none' };
  map.addLayer({ id: 'projects-fill', type: 'fill', source: 'projects', 'source-layer': 'projects', layout: hidden, paint: { 'fill-color': programmeFill(), 'fill-opacity': 1 } }, before && before.id);
  map.addLayer({
    id: 'projects-outline', type: 'line', source: 'projects', 'source-layer': 'projects', layout: hidden,
    paint: { 'line-color': ['case', ['==', ['get', 'gate'], 'failed'], '#d7191c', '#4d4d4d'], 'line-width': ['case', ['==', ['get', 'gate'], 'failed'], 2.5, 0.4] },
  }, before && before.id);
  map.on('click', 'projects-fill', (e) => {
    if (state.trialMode) return;
    const f = e.features && e.features[0];
    if (f && f.properties.id != null) showProject(String(f.properties.id), e.lngLat);
  });
  map.on('mouseenter', 'projects-fill', () => { map.getCanvas().style.cursor = 'pointer'; });
  map.on('mouseleave', 'projects-fill', () => { map.getCanvas().style.cursor = ''; });
}

/** Switches between the coverage view and the programme view. */
function setView(view) {
  if (view === 'programme' && !state.config.programme) return;
  state.view = view === 'programme' ? 'programme' : 'coverage';
  const on = state.view === 'programme';
  for (const id of ['projects-fill', 'projects-outline']) map.setLayoutProperty(id, 'visibility', on ? 'visible' : 'none');
  if (map.getLayer('estates-coverage')) map.setLayoutProperty('estates-coverage', 'visibility', on ? 'none' : 'visible');
  for (const input of document.querySelectorAll('input[name="view"]')) input.checked = input.value === state.view;
  $('programme-panel').hidden = !on;
  if (!on && state.projectPopup) state.projectPopup.popup.remove();
  renderProgramme();
  writeHash();
}

function setProgrammeColour(colour) {
  state.programmeColour = colour === 'complete' ? 'complete' : 'status';
  $('programme-colour').value = state.programmeColour;
  if (map.getLayer('projects-fill')) map.setPaintProperty('projects-fill', 'fill-color', programmeFill());
  renderProgramme();
  writeHash();
}

function setSatisfaction(value) {
  state.satisfaction = ['below', 'passed', 'none'].includes(value) ? value : 'all';
  $('satisfaction-filter').value = state.satisfaction;
  for (const id of ['projects-fill', 'projects-outline']) if (map.getLayer(id)) map.setFilter(id, programmeFilter());
  renderProgramme();
  writeHash();
}

let programmeCount = null;

/** The programme panel: legend and how many projects the filter shows. */
async function renderProgramme() {
  const prog = state.config && state.config.programme;
  if (!prog || !map) return;
  const items = [];
  if (state.programmeColour === 'complete') {
    for (let i = 0; i + 1 < COMPLETE_RAMP.length; i++) items.push({ color: COMPLETE_RAMP[i + 1][1], text: t('completeLegend', COMPLETE_RAMP[i][0], COMPLETE_RAMP[i + 1][0]) });
  } else {
    for (const [key, color] of STATUS_COLOURS) items.push({ color, text: t(`status_${key}`), key });
  }
  $('programme-legend').innerHTML = items
    .map((i) => `<li${i.key ? ` data-status="${i.key}"` : ''}><span class="swatch" style="background:${i.color}" data-color="${i.color}"></span>${escapeHtml(i.text)}</li>`)
    .concat(`<li><span class="swatch" style="background:#fff;border:2px solid #d7191c"></span>${escapeHtml(t('gateFailedLegend'))} · ${escapeHtml(t('gateLine', prog.gate_pct))}</li>`)
    .join('');
  const query = programmeQuery();
  if (programmeCount && programmeCount.query === query) {
    $('programme-summary').textContent = t('projectsMatch', programmeCount.n, prog.projects);
    $('programme-summary').dataset.matched = String(programmeCount.n);
    return;
  }
  try {
    const page = await getJson(`/collections/projects/items?limit=1${query}`);
    programmeCount = { query, n: page.numberMatched };
    if (programmeQuery() === query) renderProgramme();
  } catch (e) {
    $('programme-summary').textContent = t('failed') + e.message;
  }
}

/** Opens the popup of project `id`: the project, its funding split and its estate's top wishes. */
async function showProject(id, lngLat) {
  if (state.projectPopup && state.projectPopup.popup.isOpen()) state.projectPopup.popup.remove();
  const popup = new maplibregl.Popup({ maxWidth: '420px', className: 'project-popup' }).setLngLat(lngLat).setHTML(`<div class="popup">${escapeHtml(t('loading'))}</div>`).addTo(map);
  const entry = { id, popup, project: null, wishes: null };
  state.projectPopup = entry;
  popup.on('close', () => {
    if (state.projectPopup === entry) state.projectPopup = null;
  });
  try {
    const project = await getJson(`/collections/projects/items/${encodeURIComponent(id)}`);
    // An estate without wishes has no feature in `wishes` (404).
    const wishes = await getJson(`/collections/wishes/items/${encodeURIComponent(project.properties.estate_id)}`).catch(() => null);
    if (state.projectPopup !== entry) return;
    entry.project = project;
    entry.wishes = wishes;
    renderProjectPopup();
  } catch (e) {
    if (state.projectPopup === entry) popup.setHTML(`<div class="popup">${escapeHtml(t('failed') + e.message)}</div>`);
  }
  return entry;
}

/** Yuan as each language writes them: 万元 in Chinese. */
const yuan = (y) => (Number.isFinite(y) ? (state.lang === 'zh' ? `${(y / 1e4).toFixed(1)} 万元` : `${count(y)} yuan`) : '–');

/** An item's (renovation item's or facility kind's) name in the language shown. */
function itemLabel(key) {
  const kind = kindSpec(key);
  if (kind) return kindLabel(kind);
  const item = state.config.programme && state.config.programme.items[key];
  return item ? item[state.lang] : key;
}

function renderProjectPopup() {
  const entry = state.projectPopup;
  if (!entry || !entry.project || !entry.popup.isOpen()) return;
  const f = entry.project;
  const p = f.properties;
  const parse = (v) => (typeof v === 'string' ? JSON.parse(v) : v || {});
  const items = String(p.items || '').split(';').filter(Boolean).map((i) => {
    const [key, units] = i.split(':');
    return units ? `${itemLabel(key)} ×${units}` : itemLabel(key);
  });
  const gateText = `${t(`gate_${p.gate}`)}${p.satisfied_pct != null ? ` · ${Number(p.satisfied_pct).toFixed(1)} %` : ''}${p.survey_date ? ` (${p.survey_date})` : ''}`;
  const row = (k, v, attrs = '') => `<tr${attrs}><th>${escapeHtml(t(k))}</th><td>${escapeHtml(v)}</td></tr>`;
  const facts = [
    row('status', t(`status_${p.status}`), ` data-status="${escapeHtml(p.status)}"`),
    row('complete', `${Number(p.complete_pct).toFixed(0)} %`),
    row('category', t(`cat_${p.category}`)),
    row('items', items.join('、')),
    row('households', count(p.households)),
    row('floorArea', `${count(p.floor_area_m2)} m²`),
    row('investment', yuan(p.investment_total_yuan)),
    row('gate', gateText, ` data-gate="${escapeHtml(p.gate)}" class="${p.gate === 'failed' ? 'no' : p.gate === 'passed' ? 'yes' : ''}"`),
  ];
  const split = parse(p.funding);
  const funding = Object.entries(split)
    .sort((a, b) => b[1] - a[1])
    .map(([s, y]) => {
      const label = SOURCES[s] ? SOURCES[s][state.lang] : s;
      const recorded = p[`investment_${s}_yuan`];
      return `<tr data-source="${escapeHtml(s)}" data-yuan="${y}"><td>${escapeHtml(label)}</td><td class="num">${escapeHtml(yuan(y))}</td><td class="num">${escapeHtml(recorded == null ? '–' : yuan(recorded))}</td></tr>`;
    });
  if (p.funding_unassigned_yuan > 0) funding.push(`<tr data-source="unassigned"><td>${escapeHtml(t('unassigned'))}</td><td class="num">${escapeHtml(yuan(p.funding_unassigned_yuan))}</td><td></td></tr>`);
  const top = entry.wishes ? parse(entry.wishes.properties.top_wishes) : [];
  const wishes = top.length
    ? `<ol class="wishes">${top.map((w) => `<li data-item="${escapeHtml(w.item)}" data-count="${w.count}">${escapeHtml(itemLabel(w.item))} · ${escapeHtml(t('people', w.count))}</li>`).join('')}</ol>`
    : `<p class="wishes none">${escapeHtml(t('noWishes'))}</p>`;
  const name = p.estate_name ? `${escapeHtml(p.estate_name)} <small>#${escapeHtml(p.estate_id)}</small>` : `${escapeHtml(t('estate'))} #${escapeHtml(p.estate_id)}`;
  const meta = [`${t('project')} ${f.id}`, p.district, p.street, `${t('batch')} ${p.batch_year}`].filter(Boolean).map(escapeHtml).join(' · ');
  entry.popup.setHTML(
    `<div class="popup programme" data-project="${escapeHtml(f.id)}" lang="${state.lang}"><h3>${name}</h3><p>${meta}</p>` +
      `<table class="facts"><tbody>${facts.join('')}</tbody></table>` +
      `<h4>${escapeHtml(t('funding'))}</h4><table class="funding"><thead><tr><th>${escapeHtml(t('source'))}</th><th class="num">${escapeHtml(t('byRule'))}</th><th class="num">${escapeHtml(t('recorded'))}</th></tr></thead><tbody>${funding.join('')}</tbody></table>` +
      `<h4>${escapeHtml(t('wishes'))}</h4>${wishes}</div>`,
  );
}

const EMPTY = { type: 'FeatureCollection', features: [] };

/** Layers for the plan's sites, the estates a selected site covers and the trial facility. */
function addPlanLayers() {
  map.addSource('plan-sites', { type: 'geojson', data: EMPTY });
  map.addSource('trial', { type: 'geojson', data: EMPTY });
  const estatesIn = (ids) => ['in', ['to-string', ['get', 'id']], ['literal', ids]];
  map.addLayer({ id: 'plan-highlight', type: 'fill', source: 'estates', 'source-layer': 'estates', filter: estatesIn([]), paint: { 'fill-color': '#ffd400', 'fill-opacity': 0.75, 'fill-outline-color': '#7a5c00' } });
  map.addLayer({ id: 'trial-highlight', type: 'fill', source: 'estates', 'source-layer': 'estates', filter: estatesIn([]), paint: { 'fill-color': '#e7298a', 'fill-opacity': 0.7, 'fill-outline-color': '#6b0f3f' } });
  map.addLayer({
    id: 'plan-sites', type: 'circle', source: 'plan-sites',
    paint: { 'circle-radius': ['case', ['boolean', ['get', 'selected'], false], 11, 8], 'circle-color': '#111111', 'circle-stroke-color': '#ffd400', 'circle-stroke-width': 2.5 },
  });
  map.addLayer({
    id: 'plan-sites-rank', type: 'symbol', source: 'plan-sites',
    layout: { 'text-field': ['to-string', ['get', 'rank']], 'text-font': ['Noto Sans Regular'], 'text-size': 11, 'text-allow-overlap': true, 'text-ignore-placement': true },
    paint: { 'text-color': '#ffffff' },
  });
  map.addLayer({ id: 'trial', type: 'circle', source: 'trial', paint: { 'circle-radius': 8, 'circle-color': '#e7298a', 'circle-stroke-color': '#ffffff', 'circle-stroke-width': 2 } });
  map.on('click', 'plan-sites', (e) => {
    const f = e.features && e.features[0];
    if (f) selectSite(Number(f.properties.rank));
  });
  map.on('click', (e) => {
    if (state.trialMode) trialAt(e.lngLat);
  });
}

function setHighlight(layer, ids) {
  map.setFilter(layer, ['in', ['to-string', ['get', 'id']], ['literal', ids.map(String)]]);
}

/** Runs POST /plans with the panel's kind, K and radius (the year shown). */
async function runPlan() {
  const kind = $('plan-kind').value;
  const count = Number($('plan-count').value);
  const radius = $('plan-radius').value;
  const body = { kind, count };
  if (radius) body.radius_m = Number(radius);
  if (state.year != null) body.year = state.year;
  $('plan-summary').textContent = t('planning');
  $('plan-run').disabled = true;
  try {
    state.plan = await postJson('/plans', body);
    state.selectedSite = null;
    renderPlan();
    if (state.plan.features.length) selectSite(1);
  } catch (e) {
    state.plan = null;
    renderPlan();
    $('plan-summary').textContent = t('failed') + e.message;
  } finally {
    $('plan-run').disabled = false;
  }
  return state.plan;
}

function renderPlan() {
  const list = $('plan-sites');
  const plan = state.plan;
  if (!plan) {
    list.innerHTML = '';
    $('plan-summary').textContent = '';
    if (map && map.getSource('plan-sites')) map.getSource('plan-sites').setData(EMPTY);
    return;
  }
  const n = plan.features.length;
  $('plan-summary').textContent = t('planSummary', n, plan.objective_households, plan.objective_estates, plan.demand_households, plan.demand_estates, plan.solver);
  list.innerHTML = plan.features
    .map((f) => {
      const p = f.properties;
      const selected = p.rank === state.selectedSite ? ' class="selected"' : '';
      return `<li${selected} data-rank="${p.rank}" data-id="${escapeHtml(p.id)}" data-households-new="${p.households_new}" data-estates-new="${p.estates_new}" data-covers="${p.covers.length}">${escapeHtml(t('planSite', p.rank, p.id, p.households_new, p.estates_new))}</li>`;
    })
    .join('');
  for (const li of list.querySelectorAll('li')) li.addEventListener('click', () => selectSite(Number(li.dataset.rank), true));
  const data = { type: 'FeatureCollection', features: plan.features.map((f) => ({ ...f, properties: { ...f.properties, covers: undefined, selected: f.properties.rank === state.selectedSite } })) };
  if (map && map.getSource('plan-sites')) map.getSource('plan-sites').setData(data);
}

/** Selects a site of the plan: highlights it and the estates it covers (and flies there). */
function selectSite(rank, fly) {
  const site = state.plan && state.plan.features.find((f) => f.properties.rank === rank);
  if (!site) return;
  state.selectedSite = rank;
  renderPlan();
  setHighlight('plan-highlight', site.properties.covers);
  if (fly) map.easeTo({ center: site.geometry.coordinates, zoom: Math.max(map.getZoom(), 14) });
}

function setTrialMode(on) {
  state.trialMode = on;
  $('trial-mode').checked = on;
  $('map').classList.toggle('trial', on);
  if (!on) {
    state.trial = null;
    map.getSource('trial').setData(EMPTY);
    setHighlight('trial-highlight', []);
    renderTrial();
  }
}

/** Drops a trial facility of the kind shown at `lngLat` and shows what it would newly cover. */
async function trialAt(lngLat) {
  const kind = state.kind;
  map.getSource('trial').setData({ type: 'FeatureCollection', features: [{ type: 'Feature', geometry: { type: 'Point', coordinates: [lngLat.lng, lngLat.lat] }, properties: {} }] });
  const body = { kind, points: [{ lon: lngLat.lng, lat: lngLat.lat }] };
  if (state.year != null) body.year = state.year;
  try {
    const answer = await postJson('/what-if', body);
    state.trial = { lngLat: { lng: lngLat.lng, lat: lngLat.lat }, kind, answer };
    setHighlight('trial-highlight', answer.points[0].estates.map((e) => e.id));
  } catch (e) {
    state.trial = { lngLat, kind, error: e.message };
  }
  renderTrial();
  return state.trial;
}

function renderTrial() {
  const out = $('trial-result');
  const trial = state.trial;
  if (!trial) {
    out.textContent = '';
    delete out.dataset.estatesNew;
    return;
  }
  if (trial.error) {
    out.textContent = t('failed') + trial.error;
    return;
  }
  const p = trial.answer.points[0];
  const spec = kindSpec(trial.kind);
  out.dataset.estatesNew = String(p.estates_new);
  out.dataset.householdsNew = String(p.households_new);
  out.textContent = t('trialResult', p.estates_new, p.households_new, spec ? kindLabel(spec) : trial.kind);
}

async function main() {
  status(TEXT[state.lang].loading);
  state.config = await getJson('/map/config.json');
  // A shared view: #kind=…&year=…&distance=…&district=…&map=zoom/lat/lon.
  const params = new URLSearchParams(window.location.hash.slice(1));
  const wanted = kindSpec(params.get('kind'));
  const first = state.config.kinds.find(hasData) || state.config.kinds[0];
  state.kind = wanted && hasData(wanted) ? wanted.key : first.key;
  const names = ['coverage', 'facilities', 'service-areas'];
  const [coverage, facilities, areas] = await Promise.all(names.map((name) => getJson(`/styles/${name}.json?kind=${encodeURIComponent(state.kind)}`)));
  // The streets and the distance switch exist only when the data is measured by walking.
  const streets = state.config.network ? await getJson('/styles/streets.json') : null;
  state.distance = state.config.network ? (params.get('distance') === 'straight' ? 'straight' : 'network') : null;
  state.legend = coverage.metadata['gapmap:legend'] || [];
  state.districtLegend = coverage.metadata['gapmap:district-legend'] || [];
  const style = mergeStyles(coverage, facilities, areas, streets);

  const { min, max, configured } = state.config.years;
  const slider = $('year');
  slider.min = String(min);
  slider.max = String(max);
  slider.disabled = min === max;
  state.year = configured;
  slider.value = String(configured ?? max);
  const hashYear = Number(params.get('year'));
  const startYear = params.has('year') && Number.isInteger(hashYear) && hashYear >= min && hashYear <= max ? hashYear : null;
  const view = (params.get('map') || '').split('/').map(Number);
  const at = view.length === 3 && view.every(Number.isFinite) ? { zoom: view[0], center: [view[2], view[1]] } : null;
  const district = params.get('district') || '';

  map = new maplibregl.Map({
    container: 'map',
    style,
    ...(at ? { center: at.center, zoom: at.zoom } : { bounds: state.config.bounds, fitBoundsOptions: { padding: 20 } }),
    maxZoom: 19,
    hash: false,
    attributionControl: { compact: true },
    localIdeographFontFamily: "'Noto Sans CJK SC', 'Source Han Sans SC', 'PingFang SC', 'Microsoft YaHei', 'WenQuanYi Micro Hei', sans-serif",
    globalState: { kind: state.kind, radius_m: kindSpec(state.kind).radius_m, distance: state.distance || 'distance', district },
  });
  state.district = district;
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), 'top-left');
  map.addControl(new maplibregl.ScaleControl({ unit: 'metric' }), 'bottom-left');

  map.on('click', 'estates-coverage', (e) => {
    if (state.trialMode) return;
    const f = e.features && e.features[0];
    if (f && f.properties.id != null) showEstate(f.properties.id, e.lngLat);
  });
  map.on('mouseenter', 'estates-coverage', () => { map.getCanvas().style.cursor = 'pointer'; });
  map.on('mouseleave', 'estates-coverage', () => { map.getCanvas().style.cursor = ''; });
  map.on('error', (e) => status(t('failed') + (e.error && e.error.message ? e.error.message : 'map error')));
  map.on('moveend', writeHash);
  map.once('idle', () => status(''));

  await new Promise((done) => (map.loaded() ? done() : map.once('load', done)));
  $('kind').addEventListener('change', (e) => setKind(e.target.value));
  // Arrow keys on the slider fire input and change once per year passed: wait for it to rest.
  slider.addEventListener('input', (e) => yearSoon(Number(e.target.value)));
  slider.addEventListener('change', (e) => yearSoon(Number(e.target.value)));
  $('show-facilities').addEventListener('change', (e) => setVisible('facilities', e.target.checked));
  $('show-areas').addEventListener('change', (e) => setVisible('service-areas', e.target.checked));
  $('lang').addEventListener('click', () => setLang(state.lang === 'zh' ? 'en' : 'zh'));
  $('menu-toggle').addEventListener('click', () => {
    const open = $('toolbar').classList.toggle('open');
    $('menu-toggle').setAttribute('aria-expanded', String(open));
  });
  $('district-all').addEventListener('click', () => selectDistrict('', false));
  $('distance-switch').hidden = !state.config.network;
  for (const input of document.querySelectorAll('input[name="distance"]')) {
    input.checked = input.value === state.distance;
    input.addEventListener('change', (e) => setDistance(e.target.value));
  }

  addProgrammeLayers();
  addPlanLayers();
  $('view-switch').hidden = !state.config.programme;
  for (const input of document.querySelectorAll('input[name="view"]')) input.addEventListener('change', (e) => setView(e.target.value));
  $('programme-colour').addEventListener('change', (e) => setProgrammeColour(e.target.value));
  $('satisfaction-filter').addEventListener('change', (e) => setSatisfaction(e.target.value));
  $('plan-run').addEventListener('click', () => runPlan());
  $('plan-kind').addEventListener('change', (e) => {
    $('plan-radius').value = '';
    $('plan-radius').placeholder = String(kindSpec(e.target.value).radius_m);
  });
  $('trial-mode').addEventListener('change', (e) => setTrialMode(e.target.checked));
  $('plan-kind').value = state.kind;

  renderTexts();
  window.gapmap = { map, setKind, setYear, setLang, setDistance, selectDistrict, showEstate, runPlan, selectSite, trialAt, setTrialMode, setView, setProgrammeColour, setSatisfaction, showProject, state };
  if (state.config.programme && params.get('view') === 'programme') {
    setProgrammeColour(params.get('colour'));
    setSatisfaction(params.get('satisfaction'));
    setView('programme');
  }
  if (startYear != null && startYear !== (configured ?? max)) await setYear(startYear);
  else await loadDistricts();
  writeHash();
}

main().catch((e) => {
  status(TEXT[state.lang].failed + e.message);
  console.error(e);
});
