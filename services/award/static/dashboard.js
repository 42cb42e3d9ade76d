// The Paritrana Award ops dashboard: a national or province view fed by /v1/stream (Server-Sent Events).
// Every region's latest numbers live in `regions`; each update re-renders the figures in place, no reload.
"use strict";

const fmt = new Intl.NumberFormat("id-ID");
const pct = (v) => (v === null || v === undefined ? "–" : `${v.toFixed(1)}%`);
const rupiah = (v) => `Rp${fmt.format(v || 0)}`;
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
  el.title = `spent ${rupiah(c.spent_rupiah)} · committed ${rupiah(c.committed_rupiah)} · `
    + `allocation ${rupiah(c.allocation_rupiah)}`;
}

function renderStats() {
  const scope = state.regions.get(scopeCode());
  const c = scope ? scope.counts : {};
  setText("stat-active", fmt.format(c.active || 0));
  setText("stat-coverage", pct(scope ? scope.values.coverage_rate : null));
  setText("stat-target", c.target ? `target ${fmt.format(c.target)}` : "no target recorded");
  setText("stat-new7", fmt.format(c.new_7d || 0));
  setText("stat-new30", fmt.format(c.new_30d || 0));
  setText("stat-denied", fmt.format(c.denied || 0));
  setText("stat-ended", fmt.format(c.ended || 0));
  setText("stat-budget", `${rupiah(c.spent_rupiah)} · ${rupiah(c.committed_rupiah)} · ${rupiah(c.allocation_rupiah)}`);
  budgetBar(document.getElementById("stat-budget-bar"), c);
}

function categoryMix(c) {
  const cats = Object.entries(c).filter(([k]) => k.startsWith("cat:")).sort((a, b) => b[1] - a[1]);
  const total = cats.reduce((s, [, v]) => s + v, 0) || 1;
  const bar = cats.map(([, v], i) => `<span style="width:${(100 * v) / total}%;background:${PALETTE[i % 8]}"></span>`);
  const legend = cats.slice(0, 4).map(([k, v], i) =>
    `<span><i style="background:${PALETTE[i % 8]}"></i>${k.slice(4).replace(/_/g, " ")} ${fmt.format(v)}</span>`);
  return `<div class="mix" title="Category mix of active members">${bar.join("")}</div>`
    + `<div class="legend">${legend.join("") || "no active members"}</div>`;
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"]/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[ch]));
}

function renderRegions() {
  const rows = ranked();
  const body = document.querySelector("#ranking tbody");
  body.innerHTML = rows.map((r, i) => `<tr data-region="${r.region_code}"><td>${i + 1}</td>`
    + `<td>${escapeHtml(r.name || r.region_code)}</td><td class="num">${r.score.toFixed(1)}</td>`
    + `<td class="num">${pct(r.values.coverage_rate)}</td>`
    + `<td class="num hide-narrow">${pct(r.values.budget_utilisation)}</td>`
    + `<td class="num" data-field="active">${fmt.format(r.counts.active || 0)}</td></tr>`).join("")
    || `<tr><td colspan="6">No data yet for this view.</td></tr>`;
  const cards = document.getElementById("cards");
  cards.innerHTML = rows.map((r, i) => {
    const c = r.counts;
    const cover = Math.min(100, r.values.coverage_rate || 0);
    return `<article class="card" data-region="${r.region_code}">`
      + `<h3><span>${i + 1}. ${escapeHtml(r.name || r.region_code)}</span>`
      + `<span class="score">${r.score.toFixed(1)}</span></h3>`
      + `<div class="row"><span>Coverage <b data-field="active">${fmt.format(c.active || 0)}</b>`
      + ` of ${c.target ? fmt.format(c.target) : "no target"}</span><span>${pct(r.values.coverage_rate)}</span></div>`
      + `<div class="bar"><span class="cover" style="width:${cover}%"></span></div>`
      + `<div class="row"><span>Budget ${rupiah(c.committed_rupiah)} of ${rupiah(c.allocation_rupiah)}</span>`
      + `<span>${pct(r.values.budget_utilisation)}</span></div><div class="bar" data-budget></div>`
      + categoryMix(c) + `</article>`;
  }).join("");
  cards.querySelectorAll("[data-budget]").forEach((el, i) => budgetBar(el, rows[i].counts));
}

function render() {
  renderStats();
  renderRegions();
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
  state.chart = new uPlot({ width, height: 220, series: [{},
    { label: "Funded", stroke: "#0b6e4f", fill: "rgba(11,110,79,.35)", paths: uPlot.paths.bars({ size: [0.8, 40] }) },
    { label: "Registered", stroke: "#2f80c2", width: 2 }], axes: [{}, { size: 50 }] }, data, el);
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
  source.onopen = () => { live.textContent = "live"; live.className = "live on"; };
  source.onerror = () => { live.textContent = "reconnecting"; live.className = "live off"; };
  // Sent on every (re)connect: the whole state of the view, so nothing missed while away matters.
  source.addEventListener("snapshot", (e) => {
    const snap = JSON.parse(e.data);
    state.fiscalYear = snap.fiscal_year;
    state.asOf = snap.as_of;
    document.getElementById("fiscal-year").textContent = snap.fiscal_year;
    document.getElementById("as-of").textContent = snap.as_of;
    state.regions = new Map(snap.regions.map((r) => [r.region_code, r]));
    render();
    loadHistory();
  });
  source.addEventListener("indicators", (e) => {
    const update = JSON.parse(e.data);
    if (update.fiscal_year !== state.fiscalYear) return;
    const known = state.regions.get(update.region_code) || {};
    state.regions.set(update.region_code, { ...known, ...update, name: known.name || update.region_code,
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
  picker.innerHTML = `<option value="">Nasional</option>`
    + names.map(([code, name]) => `<option value="${code}">${escapeHtml(name)}</option>`).join("");
  picker.value = state.province || "";
}

function switchScope() {
  readHash();
  const picker = document.getElementById("scope-picker");
  const option = [...picker.options].find((o) => o.value === (state.province || ""));
  document.getElementById("scope-name").textContent = option ? option.textContent : state.province || "Nasional";
  document.getElementById("ranking-title").textContent = state.province ? "Ranking of regencies and cities"
    : "Ranking of provinces";
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

readHash();
loadPicker().then(switchScope);
