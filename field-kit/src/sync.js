// Sending the queue: batches to POST /v1/registrations/batch, one request in flight at a time (a Web Lock holds
// it across tabs too), capped backoff after a failure, and each item's answer applied to it. Resending is always
// safe: the service knows each registration_id, so a batch whose answer was lost comes back as duplicates.

import * as store from './store.js';

const BATCH_SIZE = 50;
const MAX_BACKOFF_SECONDS = 60;
const STATUS_CHECKS_PER_ROUND = 50;
// After this many failed attempts in a row while online, the kit says the sync is stuck.
export const STUCK_AFTER_FAILURES = 3;
const FINAL_LATER_STATUSES = new Set(['unfunded', 'ended']);

export class SyncFailure extends Error {
  constructor(code, detail, retryAfter) {
    super(code);
    this.code = code;
    this.detail = detail;
    this.retryAfter = retryAfter;
  }
}

// A request that hangs (a link that takes the upload and never answers) is given up, so the kit tries again and
// says so, rather than waiting for ever with the sync silently stuck.
const REQUEST_TIMEOUT_SECONDS = 60;

async function call(url, options) {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), REQUEST_TIMEOUT_SECONDS * 1000);
  try {
    return await fetch(url, { cache: 'no-store', signal: abort.signal, ...options });
  } catch (error) {
    throw new SyncFailure('network', abort.signal.aborted ? `no answer in ${REQUEST_TIMEOUT_SECONDS} s`
      : String(error && error.message || error));
  } finally {
    clearTimeout(timer);
  }
}

async function failureOf(response) {
  let detail = '';
  try {
    const body = await response.json();
    detail = (body.errors || []).map((e) => e.message).join(' ');
  } catch { /* an answer that is not ours, from a proxy or a captive portal */ }
  const code = response.status === 401 ? 'key_refused' : response.status === 429 || response.status >= 500
    ? 'server_busy' : 'server_refused';
  const retryAfter = Number(response.headers.get('Retry-After')) || undefined;
  return new SyncFailure(code, `HTTP ${response.status} ${detail}`.trim(), retryAfter);
}

function applied(record, result, now) {
  const done = { ...record, answered_at: now, outcome: result.status };
  if (result.status === 'accepted' || result.status === 'duplicate') {
    return { ...done, state: store.SENT, errors: [], sent_at: now };
  }
  if (result.status === 'conflict') {
    return { ...done, state: store.CONFLICT, errors: result.errors || [],
             existing_registration_id: result.existing_registration_id || null };
  }
  return { ...done, state: store.TO_CORRECT, errors: result.errors || [] };
}

export class Sender {
  constructor({ secret, mayRead, batchLimit, onChange }) {
    this.secret = secret;
    this.mayRead = mayRead;
    this.batchSize = Math.min(BATCH_SIZE, batchLimit || BATCH_SIZE);
    this.onChange = onChange;
    this.inFlight = false;
    this.sending = false;
    this.again = false;
    this.timer = null;
  }

  // Unpairing: no further round, nor a retry already timed.
  stop() {
    clearTimeout(this.timer);
    this.timer = null;
    this.request = () => {};
  }

  headers() {
    return { Authorization: `Bearer ${this.secret}`, 'Content-Type': 'application/json' };
  }

  // Ask for a sync now; a request while one is in flight runs once more after it, never beside it.
  request() {
    if (this.inFlight) { this.again = true; return; }
    clearTimeout(this.timer);
    this.timer = null;
    this.inFlight = true;
    const run = () => this.round();
    const locked = navigator.locks ? navigator.locks.request('paritrana-kit-sync', run) : run();
    locked.finally(() => {
      this.inFlight = false;
      if (this.again) { this.again = false; this.request(); }
    });
  }

  async round() {
    // Without signal there is nothing to try: the 'online' event starts the next round. A phone that thinks it
    // is online but reaches nothing (a captive portal, a dead cell) fails, and counts towards "stuck".
    if (!navigator.onLine) return;
    this.sending = true;
    this.onChange();
    const state = (await store.setting('sync')) || { failures: 0 };
    const now = () => new Date().toISOString();
    try {
      await this.sendWaiting(now);
      if (this.mayRead) await this.refreshLaterStatus(now);
      await store.putSetting('sync', { failures: 0, last_success_at: now(), last_attempt_at: now() });
    } catch (thrown) {
      // Whatever went wrong, the officer sees it and the kit tries again: a sync never stops in silence.
      const error = thrown instanceof SyncFailure ? thrown : new SyncFailure('kit_error', String(thrown));
      const failures = (state.failures || 0) + 1;
      const backoff = Math.min(MAX_BACKOFF_SECONDS, 2 ** (failures - 1));
      const seconds = error.retryAfter ?? backoff * (0.75 + Math.random() / 2);
      const next = new Date(Date.now() + seconds * 1000).toISOString();
      await store.putSetting('sync', { ...state, failures, last_attempt_at: now(), failing_since:
        state.failing_since || now(), last_error: error.code, last_error_detail: error.detail, next_attempt_at: next });
      // A refused key waits for the officer (re-pairing); everything else is tried again by itself.
      if (error.code !== 'key_refused') this.timer = setTimeout(() => this.request(), seconds * 1000);
    }
    this.sending = false;
    this.onChange();
  }

  async sendWaiting(now) {
    for (;;) {
      const waiting = (await store.itemsInState(store.WAITING))
        .sort((a, b) => (a.saved_at < b.saved_at ? -1 : 1)).slice(0, this.batchSize);
      if (waiting.length === 0) return;
      const response = await call('/v1/registrations/batch', {
        method: 'POST', headers: this.headers(), body: JSON.stringify({ items: waiting.map((r) => r.payload) }),
      });
      if (!response.ok) throw await failureOf(response);
      let body;
      try {
        body = await response.json();
      } catch (error) {
        throw new SyncFailure('network', 'the answer was cut off');
      }
      const answered = now();
      await store.putItems(body.results.map((result) => applied(waiting[result.index], result, answered)));
      this.onChange();
    }
  }

  // The later status (funded, waiting, refused) of what was sent, with the key's read scope.
  async refreshLaterStatus(now) {
    const sent = (await store.itemsInState(store.SENT))
      .filter((r) => !FINAL_LATER_STATUSES.has(r.later_status))
      .sort((a, b) => ((a.status_checked_at || '') < (b.status_checked_at || '') ? -1 : 1))
      .slice(0, STATUS_CHECKS_PER_ROUND);
    for (const record of sent) {
      const response = await call(`/v1/registrations/${record.registration_id}`, { headers: this.headers() });
      if (response.status === 401) throw await failureOf(response);
      if (!response.ok) continue;
      const body = await response.json();
      await store.putItem({ ...record, later_status: body.status, later_status_reason: body.status_reason,
                            status_checked_at: now() });
    }
  }
}
