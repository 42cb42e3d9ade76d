// The field kit: pairing, the registration form with on-device checks, the queue and its status.

import { currentLanguage, problemText, setLanguage, t } from './i18n.js';
import { readNik } from './nik.js';
import { readPhone } from './phone.js';
import { monthsLeft, startMonths, todayInJakarta } from './coverage.js';
import * as store from './store.js';
import { Sender, STUCK_AFTER_FAILURES } from './sync.js';

const KEY_PATTERN = /^prt_[0-9a-f]{16}_[A-Za-z0-9_-]{20,}$/;
const REFERENCE_CACHE = 'kit-reference';
const FIELDS = ['nik', 'full_name', 'phone', 'category', 'category_description', 'regency_code', 'district_code',
  'village_code', 'start_month', 'months'];

// The key leaves the address before anything else runs: replaceState swaps the history entry, so neither the
// back button nor a reload brings the fragment back. Fragments never reach the server.
const pairingLink = (() => {
  const match = location.hash.match(/^#pair=(.*)$/);
  if (!match) return null;
  history.replaceState(null, '', location.pathname + location.search);
  let secret = '';
  try { secret = decodeURIComponent(match[1]); } catch { /* a mangled link is refused below */ }
  return KEY_PATTERN.test(secret) ? secret : false;
})();

const kit = { pairing: null, reference: null, sender: null, view: 'form', editing: null, found: null,
  persisted: null, deviceToday: todayInJakarta(), keyRefused: false };

const $ = (selector) => document.querySelector(selector);
const form = () => $('#form');
const field = (name) => form().elements.namedItem(name);

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? '' : value);
  }
  for (const child of children.flat()) if (child !== null && child !== undefined) node.append(child);
  return node;
}

function newId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const pad = (n) => String(n).padStart(2, '0');
const dateText = (d) => `${pad(d.day)}-${pad(d.month)}-${d.year}`;
function timeText(iso) {
  if (!iso) return t('never');
  const d = new Date(iso);
  const today = new Date();
  const clock = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  return d.toDateString() === today.toDateString() ? clock : `${pad(d.getDate())}-${pad(d.getMonth() + 1)} ${clock}`;
}
const masked = (nik) => `•••• •••• •••• ${String(nik).slice(12)}`;
const today = () => (kit.deviceToday = todayInJakarta());

function notice(text) {
  const box = $('#notice');
  box.textContent = text;
  box.hidden = !text;
}

// --- the service worker and storage -------------------------------------------------------------------------

async function serviceWorkerInControl() {
  if (!('serviceWorker' in navigator)) return;
  try {
    await navigator.serviceWorker.register('/kit/sw.js', { scope: '/kit/' });
  } catch { return; }
  await navigator.serviceWorker.ready;
  if (navigator.serviceWorker.controller) return;
  // The first visit: wait for the worker to claim the page, so it keeps the reference data that follows.
  await new Promise((resolve) => {
    navigator.serviceWorker.addEventListener('controllerchange', resolve, { once: true });
    setTimeout(resolve, 5000);
  });
}

async function askPersistence() {
  if (!navigator.storage || !navigator.storage.persist) { kit.persisted = false; return; }
  kit.persisted = (await navigator.storage.persisted()) || (await navigator.storage.persist());
}

// --- reference data -----------------------------------------------------------------------------------------

async function loadReference() {
  try {
    // Through the service worker: the service's answer when there is signal, the last one kept when there is not.
    const response = await fetch('/v1/reference', { headers: { Authorization: `Bearer ${kit.pairing.secret}` } });
    if (response.status === 401) kit.keyRefused = true;
    if (response.ok) kit.reference = await response.json();
  } catch { /* no signal and nothing kept yet */ }
}

function fillSelect(select, options, { blank = true, value } = {}) {
  const keep = value ?? select.value;
  select.replaceChildren(...(blank ? [el('option', { value: '' }, t('choose'))] : []),
    ...options.map(([code, label]) => el('option', { value: code }, label)));
  if ([...select.options].some((o) => o.value === keep)) select.value = keep;
}

function fillPlaces(values = {}) {
  const ref = kit.reference;
  const en = currentLanguage() === 'en';
  fillSelect(field('category'), ref.categories.map((c) => [c.code, en ? c.name_en : c.name_id]),
    { value: values.category });
  fillSelect(field('regency_code'), ref.regencies.map((r) => [r.code, r.name]),
    { blank: ref.regencies.length !== 1, value: values.regency_code });
  const regency = field('regency_code').value;
  fillSelect(field('district_code'), ref.districts.filter((d) => d.code.startsWith(`${regency}.`))
    .map((d) => [d.code, d.name]), { value: values.district_code });
  const district = field('district_code').value;
  fillSelect(field('village_code'), district ? ref.villages.filter((v) => v.code.startsWith(`${district}.`))
    .map((v) => [v.code, v.name]) : [], { value: values.village_code });
  const starts = startMonths(today(), ref.rules);
  const current = `${kit.deviceToday.year}-${pad(kit.deviceToday.month)}`;
  fillSelect(field('start_month'), starts.map((m) => [m, m]), { blank: false, value: values.start_month || current });
  const left = monthsLeft(field('start_month').value);
  const months = Array.from({ length: left }, (_, i) => [String(i + 1), String(i + 1)]);
  fillSelect(field('months'), months, { blank: false, value: values.months ? String(values.months) : String(left) });
  $('#description-field').hidden = field('category').value !== 'other';
}

// --- the form -----------------------------------------------------------------------------------------------

function formValues() {
  return Object.fromEntries(FIELDS.map((name) => [name, field(name).value]));
}

function setFormValues(values) {
  for (const name of ['nik', 'full_name', 'phone', 'category_description']) field(name).value = values[name] || '';
  fillPlaces(values);
}

const draftName = () => (kit.editing ? `fix:${kit.editing}` : 'new');

function nikReading(text) {
  return readNik(text, { today: kit.deviceToday, districts: kit.reference.nik_districts, rules: kit.reference.rules });
}

async function showNik() {
  const text = field('nik').value;
  const readout = $('#nik-readout');
  const queued = $('#nik-queued');
  queued.hidden = true;
  if (text.replace(/\D/g, '').length < 16) { readout.hidden = true; return; }
  const nik = nikReading(text);
  readout.hidden = false;
  readout.classList.toggle('bad', nik.problems.length > 0);
  const parts = [];
  if (nik.sex) parts.push(nik.sex === 'P' ? t('female') : t('male'));
  if (nik.birth) parts.push(`${t('born')} ${dateText(nik.birth)} (${t('years', { n: nik.age })})`);
  if (nik.district) parts.push(nik.district);
  // What was read, also as attributes: the browser tests hold it against the service's own reading.
  readout.dataset.sex = nik.sex || '';
  readout.dataset.birth = nik.birth ? `${nik.birth.year}-${pad(nik.birth.month)}-${pad(nik.birth.day)}` : '';
  readout.dataset.district = nik.district ? nik.districtCode : '';
  readout.replaceChildren(el('div', {}, parts.join(' · ')),
    ...nik.problems.map((p) => el('div', { class: 'field-error', 'data-code': p.code }, problemText(p))),
    ...(nik.problems.length ? [] : [el('small', {}, t('check_ktp'))]));
  const twin = nik.digits && await queuedTwin(nik.digits);
  if (twin) {
    queued.hidden = false;
    queued.replaceChildren(t('queued_twice', { name: twin.payload.full_name.toUpperCase(), state: t(twin.state) }), ' ',
      el('button', { type: 'button', class: 'small', onclick: () => showItem(twin) }, t('open_it')));
  }
}

async function queuedTwin(digits) {
  return (await store.itemsWithNik(digits)).find((r) => r.registration_id !== kit.editing);
}

function showPhone() {
  const text = field('phone').value.trim();
  const readout = $('#phone-readout');
  const phone = text ? readPhone(text) : null;
  readout.hidden = !phone || !phone.e164;
  if (phone && phone.e164) readout.textContent = `${phone.national} → ${phone.e164}`;
}

function clearErrors() {
  for (const p of document.querySelectorAll('.field-error[data-for]')) p.textContent = '';
  for (const input of form().querySelectorAll('[aria-invalid]')) input.removeAttribute('aria-invalid');
}

// Problems by field, from the kit's checks or the service's answer: each under its field, the rest at the end.
function showErrors(problems, fromServer = false) {
  clearErrors();
  for (const p of problems) {
    const name = p.field || '*';
    const slot = document.querySelector(`.field-error[data-for="${CSS.escape(name)}"]`) ||
      document.querySelector('.field-error[data-for="*"]');
    const text = fromServer ? `${p.message} (${p.code})` : problemText(p);
    slot.textContent = slot.textContent ? `${slot.textContent} ${text}` : text;
    const input = field(name.replace('coverage.', ''));
    if (input instanceof Element) input.setAttribute('aria-invalid', 'true');
  }
}

async function judge(values) {
  const problems = [];
  const nik = nikReading(values.nik);
  problems.push(...nik.problems);
  const name = values.full_name.trim().split(/\s+/).join(' ');
  if (!name) problems.push({ field: 'full_name', code: 'missing' });
  else if (!/\p{L}/u.test(name) || /\d/.test(name)) problems.push({ field: 'full_name', code: 'invalid_name' });
  const phone = values.phone.trim() ? readPhone(values.phone) : null;
  if (phone && !phone.e164) problems.push({ field: 'phone', code: 'invalid_phone' });
  if (!values.category) problems.push({ field: 'category', code: 'missing' });
  if (values.category === 'other' && !values.category_description.trim()) {
    problems.push({ field: 'category_description', code: 'missing' });
  }
  if (!values.regency_code) problems.push({ field: 'regency_code', code: 'missing' });
  const left = monthsLeft(values.start_month);
  if (Number(values.months) > left) problems.push({ field: 'coverage.months', code: 'months_out_of_range',
    params: { n: left } });
  return { problems, nik, name, phone };
}

async function save(event) {
  event.preventDefault();
  const values = formValues();
  const { problems, nik, name, phone } = await judge(values);
  showErrors(problems);
  if (problems.length) return;
  if (await queuedTwin(nik.digits)) { await showNik(); return; }
  const officer = await store.setting('officer');
  const existing = kit.editing ? await store.item(kit.editing) : null;
  const payload = {
    registration_id: existing ? existing.registration_id : newId(),
    nik: nik.digits, full_name: name, category: values.category,
    regency_code: values.regency_code,
    coverage: { start_month: values.start_month, months: Number(values.months) },
    channel: 'field_kit', device_id: `kit-${kit.reference.key.key_id}`,
    captured_at: existing ? existing.payload.captured_at : new Date().toISOString(),
  };
  if (phone) payload.phone = phone.e164;
  if (values.category === 'other') payload.category_description = values.category_description.trim();
  if (values.district_code) payload.district_code = values.district_code;
  if (values.village_code) payload.village_code = values.village_code;
  if (officer) payload.officer_id = officer;
  const record = { ...(existing || {}), registration_id: payload.registration_id, payload, state: store.WAITING,
    errors: [], saved_at: existing ? existing.saved_at : new Date().toISOString(),
    corrected_at: existing ? new Date().toISOString() : undefined };
  await store.putItem(record);
  await store.dropDraft(draftName());
  notice(t('saved', { id: payload.registration_id }));
  await startNew({ keep: values });
  kit.sender.request();
  await renderStatus();
}

// A fresh form; the next person is often from the same place, so the places and coverage stay.
async function startNew({ keep } = {}) {
  kit.editing = null;
  $('#correcting').hidden = true;
  $('#save').textContent = t('save');
  clearErrors();
  const draft = keep ? null : await store.draft('new');
  setFormValues(draft || { regency_code: keep?.regency_code, district_code: keep?.district_code,
    village_code: keep?.village_code, category: keep?.category, start_month: keep?.start_month,
    months: keep?.months });
  await showNik();
  showPhone();
}

async function openItem(record) {
  kit.editing = record.registration_id;
  const draft = await store.draft(draftName());
  const values = draft || { ...record.payload, start_month: record.payload.coverage.start_month,
    months: record.payload.coverage.months, phone: record.payload.phone || '' };
  setFormValues(values);
  const box = $('#correcting');
  box.hidden = record.state !== store.TO_CORRECT;
  box.textContent = t('correcting', { name: record.payload.full_name.toUpperCase() });
  $('#save').textContent = t('save_correction');
  showView('form');
  if (record.state === store.TO_CORRECT) showErrors(record.errors, true);
  await showNik();
  showPhone();
}

// The queued twin of a NIK being typed: to correct it if the service sent it back, otherwise to see it in the
// queue (what was sent or is waiting is not edited: its registration_id already stands for that content).
async function showItem(record) {
  if (record.state === store.TO_CORRECT) { await openItem(record); return; }
  kit.found = record.registration_id;
  await showView('queue');
  const row = document.querySelector('#queue-list li.found');
  if (row) row.scrollIntoView({ block: 'center' });
}

async function keepDraft() {
  await store.putDraft(draftName(), formValues());
}

// --- the queue and the status -------------------------------------------------------------------------------

function laterStatus(record) {
  if (!record.later_status) return null;
  const reason = record.later_status_reason ? t(`reason_${record.later_status_reason}`) : '';
  return t(`later_${record.later_status}`, { reason });
}

async function renderQueue() {
  const all = (await store.items()).reverse();
  $('#queue-empty').hidden = all.length > 0;
  $('#queue-list').replaceChildren(...all.map((r) => el('li', { 'data-id': r.registration_id, 'data-state': r.state,
    class: r.registration_id === kit.found ? 'found' : null },
    el('div', { class: 'who' }, r.payload.full_name.toUpperCase()),
    el('div', { class: 'meta' }, `${masked(r.payload.nik)} · ${timeText(r.saved_at)}`),
    el('div', { class: 'state' }, t(r.state),
      r.outcome === 'duplicate' ? ` (${t('outcome_duplicate')})` : null,
      laterStatus(r) ? ` · ${laterStatus(r)}` : null),
    r.state === store.CONFLICT && r.existing_registration_id
      ? el('div', { class: 'existing' }, t('existing_id', { id: r.existing_registration_id })) : null,
    r.errors && r.errors.length && r.state !== store.SENT
      ? el('ul', { class: 'errors' }, r.errors.map((e) => el('li', {}, `${e.message} (${e.code})`))) : null,
    r.state === store.TO_CORRECT
      ? el('button', { type: 'button', class: 'correct', onclick: () => openItem(r) }, t('correct_it')) : null)));
}

async function renderStatus() {
  const all = await store.items();
  for (const state of [store.WAITING, store.SENT, store.TO_CORRECT, store.CONFLICT]) {
    $(`#count-${state}`).textContent = String(all.filter((r) => r.state === state).length);
  }
  $('#tab-queue-count').textContent = String(all.length);
  const sync = (await store.setting('sync')) || { failures: 0 };
  $('#last-sync').textContent = timeText(sync.last_success_at);
  const connection = $('#connection');
  connection.textContent = kit.sender && kit.sender.sending ? t('sending') : navigator.onLine ? t('online')
    : t('offline');
  connection.classList.toggle('offline', !navigator.onLine);
  const trouble = $('#sync-trouble');
  const failing = sync.failures > 0;
  trouble.hidden = !failing;
  trouble.classList.toggle('stuck', sync.failures >= STUCK_AFTER_FAILURES || sync.last_error === 'key_refused');
  if (sync.last_error === 'key_refused') trouble.textContent = t('key_refused');
  else if (failing) {
    trouble.textContent = t(sync.failures >= STUCK_AFTER_FAILURES ? 'stuck' : 'retrying', { n: sync.failures, since: timeText(sync.failing_since),
      error: `${t(`error_${sync.last_error}`)}${sync.last_error_detail ? `: ${sync.last_error_detail}` : ''}`,
      next: timeText(sync.next_attempt_at) });
  }
  if (kit.view === 'queue') await renderQueue();
}

function renderWarnings() {
  const warnings = [];
  if (kit.persisted === false) warnings.push(['storage-warning', t('storage_warning')]);
  if (kit.pairing && !kit.reference) warnings.push(['reference-warning', t('no_reference')]);
  if (kit.keyRefused) warnings.push(['key-warning', t('key_refused')]);
  const server = kit.reference && kit.reference.today;
  const device = `${kit.deviceToday.year}-${pad(kit.deviceToday.month)}-${pad(kit.deviceToday.day)}`;
  if (server && navigator.onLine && server !== device) {
    warnings.push(['clock-warning', t('clock_warning', { device, server })]);
  }
  $('#warnings').replaceChildren(...warnings.map(([id, text]) => el('div', { id, class: 'alert' }, text)));
}

function showView(view) {
  kit.view = view;
  for (const name of ['form', 'queue', 'device']) $(`#${name}`).hidden = name !== view;
  for (const tab of document.querySelectorAll('#tabs button')) {
    if (tab.dataset.view === view) tab.setAttribute('aria-current', 'page');
    else tab.removeAttribute('aria-current');
  }
  return view === 'queue' ? renderQueue() : undefined;
}

function translate() {
  for (const node of document.querySelectorAll('[data-t]')) node.textContent = t(node.dataset.t);
  $('#language').textContent = t('switch_language');
  $('#save').textContent = kit.editing ? t('save_correction') : t('save');
  document.title = t('title');
}

async function renderDevice() {
  const ref = kit.reference;
  $('#key-name').textContent = ref ? `${ref.key.name} (${ref.key.key_id})` : '';
  $('#key-regions').textContent = ref ? ref.key.regions.join(', ') : '';
  $('#persisted').textContent = kit.persisted ? t('yes') : t('no');
  $('#f-officer').value = (await store.setting('officer')) || '';
}

async function renderAll() {
  translate();
  const ready = Boolean(kit.pairing && kit.reference);
  $('#pairing').hidden = Boolean(kit.pairing);
  $('#status').hidden = !kit.pairing;
  $('#tabs').hidden = !ready;
  if (ready) {
    fillPlaces(formValues());
    showView(kit.view);
    await renderDevice();
  } else {
    for (const name of ['form', 'queue', 'device']) $(`#${name}`).hidden = true;
  }
  renderWarnings();
  if (kit.pairing) await renderStatus();
}

async function unpair() {
  const waiting = (await store.itemsInState(store.WAITING)).length;
  if (!window.confirm(t('unpair_confirm', { n: waiting }))) return;
  if (kit.sender) kit.sender.stop();
  await store.wipe();
  if (window.caches) await caches.delete(REFERENCE_CACHE);
  kit.pairing = null;
  kit.reference = null;
  kit.sender = null;
  notice(t('unpaired'));
  await renderAll();
}

// --- start ----------------------------------------------------------------------------------------------------

async function boot() {
  setLanguage((await store.setting('language')) || 'id');
  if (pairingLink) {
    await store.putSetting('pairing', { secret: pairingLink, paired_at: new Date().toISOString() });
  }
  kit.pairing = await store.setting('pairing');
  await Promise.all([serviceWorkerInControl(), askPersistence()]);
  if (pairingLink === false) notice(t('bad_pairing'));
  if (kit.pairing) {
    await loadReference();
    if (pairingLink && kit.reference) notice(t('paired', { name: kit.reference.key.name }));
  }
  wire();
  await start();
  document.body.dataset.ready = 'true';
}

// The form and the sender, once the kit is paired and has its reference data (at once, or when the phone that
// was paired without signal first reaches the service).
async function start() {
  await renderAll();
  if (!kit.pairing || !kit.reference || kit.sender) return;
  kit.sender = new Sender({ secret: kit.pairing.secret, mayRead: kit.reference.key.may_read,
    batchLimit: kit.reference.rules.batch_limit, onChange: () => renderStatus() });
  await renderAll();
  await startNew();
  kit.sender.request();
}

function wire() {
  $('#language').addEventListener('click', async () => {
    setLanguage(currentLanguage() === 'id' ? 'en' : 'id');
    await store.putSetting('language', currentLanguage());
    await renderAll();
    if (kit.reference) { await showNik(); }
  });
  for (const tab of document.querySelectorAll('#tabs button')) {
    tab.addEventListener('click', () => showView(tab.dataset.view));
  }
  form().addEventListener('submit', save);
  form().addEventListener('input', async (event) => {
    if (event.target.name === 'nik') await showNik();
    if (event.target.name === 'phone') showPhone();
    await keepDraft();
  });
  form().addEventListener('change', async (event) => {
    if (['regency_code', 'district_code', 'start_month', 'category'].includes(event.target.name)) {
      fillPlaces(formValues());
    }
    await keepDraft();
  });
  $('#clear').addEventListener('click', async () => {
    await store.dropDraft(draftName());
    notice('');
    setFormValues({});
    await startNew({ keep: null });
  });
  $('#send-now').addEventListener('click', () => kit.sender && kit.sender.request());
  $('#unpair').addEventListener('click', unpair);
  $('#f-officer').addEventListener('input', (event) => store.putSetting('officer', event.target.value.trim()));
  window.addEventListener('online', async () => {
    if (kit.sender) kit.sender.request();
    // The service's rules may have changed while the kit was away: check with the fresh ones from now on.
    if (kit.pairing) await loadReference();
    await start();
  });
  window.addEventListener('offline', () => renderAll());
  // The status line's times age; a kit left open asks now and then for the later status of what it sent.
  setInterval(() => { if (kit.pairing) renderStatus(); }, 15000);
  setInterval(() => { if (kit.sender && navigator.onLine) kit.sender.request(); }, 120000);
}

boot();
