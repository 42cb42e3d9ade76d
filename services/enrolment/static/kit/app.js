(() => {
  // src/i18n.js
  var TEXT = {
    id: {
      title: "Kit Lapangan Paritrana",
      switch_language: "English",
      tab_form: "Formulir",
      tab_queue: "Antrean",
      tab_device: "Perangkat",
      waiting: "Menunggu",
      sent: "Terkirim",
      to_correct: "Perlu diperbaiki",
      conflict: "Konflik",
      last_sync: "Sinkron terakhir",
      never: "belum pernah",
      online: "Daring",
      offline: "Luring: data disimpan di ponsel",
      sending: "Mengirim…",
      send_now: "Kirim sekarang",
      stuck: "Pengiriman macet: {n} kali gagal sejak {since} ({error}). Dicoba lagi {next}.",
      retrying: "Pengiriman gagal ({error}). Dicoba lagi {next}.",
      key_refused: "Kunci perangkat ditolak server (dicabut?). Minta kunci baru ke Disnaker lalu pasangkan ulang.",
      error_network: "tidak ada koneksi ke server",
      error_server_busy: "server sibuk",
      error_server_refused: "server menolak kiriman",
      error_key_refused: "kunci ditolak",
      error_kit_error: "galat di kit",
      storage_warning: "Browser tidak menjamin data tersimpan permanen. Kirim antrean sebelum menghapus data browser.",
      clock_warning: "Tanggal ponsel ({device}) berbeda dengan server ({server}). Periksa jam ponsel.",
      no_reference: "Buka kit sekali saat ada sinyal untuk memuat data wilayah.",
      not_paired: "Ponsel ini belum dipasangkan.",
      pairing_help: "Minta petugas Disnaker membuat kunci kit lapangan, lalu buka tautan pemasangan atau pindai kode QR-nya dengan ponsel ini.",
      paired: 'Ponsel dipasangkan dengan kunci "{name}".',
      bad_pairing: "Tautan pemasangan tidak sah.",
      nik: "NIK",
      full_name: "Nama lengkap (sesuai KTP)",
      phone: "No. HP (boleh kosong)",
      category: "Kategori pekerjaan",
      category_description: "Keterangan pekerjaan",
      regency: "Kabupaten/kota",
      district: "Kecamatan",
      village: "Kelurahan/desa",
      start_month: "Mulai bulan",
      months: "Jumlah bulan",
      optional: "(boleh kosong)",
      choose: "— pilih —",
      male: "Laki-laki",
      female: "Perempuan",
      years: "{n} tahun",
      born: "lahir",
      check_ktp: "Cocokkan dengan KTP",
      save: "Simpan ke antrean",
      save_correction: "Simpan perbaikan",
      clear: "Kosongkan",
      cancel: "Batal",
      saved: "Tersimpan di antrean. ID: {id}",
      draft_kept: "Draf tersimpan otomatis.",
      correcting: "Memperbaiki pendaftaran {name}. Pesan server:",
      queued_twice: "NIK ini sudah ada di antrean ponsel ini ({name}, {state}).",
      open_it: "Buka",
      queue_empty: "Antrean kosong.",
      existing_id: "Sudah terdaftar dengan ID {id}",
      later_active: "Didanai",
      later_pending_funding: "Menunggu keputusan dana",
      later_unfunded: "Ditolak: {reason}",
      later_ended: "Berakhir",
      later_waiting_funding: "Menunggu tambahan anggaran",
      outcome_duplicate: "sudah diterima sebelumnya",
      reason_budget_exhausted: "anggaran habis",
      reason_no_allocation: "belum ada anggaran",
      correct_it: "Perbaiki",
      key_name: "Kunci",
      key_regions: "Wilayah",
      officer_id: "ID petugas (boleh kosong)",
      storage_persisted: "Penyimpanan permanen",
      yes: "ya",
      no: "tidak",
      unpair: "Lepas pasangan dan hapus semua data",
      unpair_confirm: "Hapus kunci dan semua data di ponsel ini? {n} pendaftaran belum terkirim akan hilang.",
      unpaired: "Kunci dan data sudah dihapus.",
      problem_nik_format: "NIK harus 16 digit angka.",
      problem_nik_unknown_district: "Enam digit pertama NIK bukan kecamatan yang dikenal.",
      problem_nik_birth_date: "Digit tanggal lahir NIK (7–12, tanggal +40 untuk perempuan) bukan tanggal yang sah.",
      problem_nik_serial: "Nomor urut NIK (digit 13–16) tidak boleh 0000.",
      problem_age_out_of_range: "Umur harus {min}–{max} tahun untuk program ini.",
      problem_invalid_phone: "Nomor HP tidak sah (0812…, +62812…).",
      problem_missing: "Wajib diisi.",
      problem_invalid_name: "Nama harus berisi huruf, tanpa angka.",
      problem_months_out_of_range: "Maksimal {n} bulan (sisa tahun anggaran)."
    },
    en: {
      title: "Paritrana Field Kit",
      switch_language: "Bahasa Indonesia",
      tab_form: "Form",
      tab_queue: "Queue",
      tab_device: "Device",
      waiting: "Waiting",
      sent: "Sent",
      to_correct: "To correct",
      conflict: "Conflict",
      last_sync: "Last sync",
      never: "never",
      online: "Online",
      offline: "Offline: data is kept on the phone",
      sending: "Sending…",
      send_now: "Send now",
      stuck: "Sync stuck: failed {n} times since {since} ({error}). Next try {next}.",
      retrying: "Sending failed ({error}). Next try {next}.",
      key_refused: "The server refused this device's key (revoked?). Ask Disnaker for a new key and pair again.",
      error_network: "no connection to the server",
      error_server_busy: "server busy",
      error_server_refused: "the server refused the upload",
      error_key_refused: "key refused",
      error_kit_error: "an error in the kit",
      storage_warning: "The browser does not promise to keep this data. Send the queue before clearing browser data.",
      clock_warning: "The phone's date ({device}) differs from the server's ({server}). Check the phone's clock.",
      no_reference: "Open the kit once with signal to load the place lists.",
      not_paired: "This phone is not paired yet.",
      pairing_help: "Ask Disnaker staff to issue a field-kit key, then open its pairing link or scan its QR code with this phone.",
      paired: 'Phone paired with key "{name}".',
      bad_pairing: "The pairing link is not valid.",
      nik: "NIK",
      full_name: "Full name (as on the KTP)",
      phone: "Phone (optional)",
      category: "Category of work",
      category_description: "Description of the work",
      regency: "Regency/city",
      district: "District",
      village: "Village",
      start_month: "Start month",
      months: "Months",
      optional: "(optional)",
      choose: "— choose —",
      male: "Male",
      female: "Female",
      years: "{n} years",
      born: "born",
      check_ktp: "Check against the KTP",
      save: "Save to queue",
      save_correction: "Save correction",
      clear: "Clear",
      cancel: "Cancel",
      saved: "Saved to the queue. ID: {id}",
      draft_kept: "Draft saved as you type.",
      correcting: "Correcting the registration of {name}. The server said:",
      queued_twice: "This NIK is already in this phone's queue ({name}, {state}).",
      open_it: "Open",
      queue_empty: "The queue is empty.",
      existing_id: "Already registered as {id}",
      later_active: "Funded",
      later_pending_funding: "Awaiting funding decision",
      later_unfunded: "Refused: {reason}",
      later_ended: "Ended",
      later_waiting_funding: "Waiting for more budget",
      outcome_duplicate: "already accepted before",
      reason_budget_exhausted: "budget exhausted",
      reason_no_allocation: "no budget allocated",
      correct_it: "Correct",
      key_name: "Key",
      key_regions: "Regions",
      officer_id: "Officer id (optional)",
      storage_persisted: "Persistent storage",
      yes: "yes",
      no: "no",
      unpair: "Unpair and wipe all data",
      unpair_confirm: "Delete the key and all data on this phone? {n} registrations not yet sent will be lost.",
      unpaired: "The key and the data were wiped.",
      problem_nik_format: "The NIK must be 16 digits.",
      problem_nik_unknown_district: "The NIK's first six digits are not a known district.",
      problem_nik_birth_date: "The NIK's birth-date digits (7-12, day plus 40 for women) are not a real date.",
      problem_nik_serial: "The NIK's serial number (digits 13-16) cannot be 0000.",
      problem_age_out_of_range: "The worker must be {min} to {max} years old for this programme.",
      problem_invalid_phone: "Not a valid Indonesian phone number (0812…, +62812…).",
      problem_missing: "Required.",
      problem_invalid_name: "The name must have letters and no digits.",
      problem_months_out_of_range: "At most {n} months (the rest of the fiscal year)."
    }
  }, language = "id";
  function setLanguage(code) {
    language = code === "en" ? "en" : "id", document.documentElement.lang = language;
  }
  function currentLanguage() {
    return language;
  }
  function t(key, params = {}) {
    return (TEXT[language][key] ?? TEXT.id[key] ?? key).replace(/\{(\w+)\}/g, (_, name) => String(params[name] ?? ""));
  }
  function problemText(problem) {
    return t(`problem_${problem.code}`, problem.params || {});
  }

  // src/nik.js
  var SEPARATORS = /[\s.\-]/g;
  function nikDigits(text) {
    let digits = String(text).replace(/^\s*'/, "").replace(SEPARATORS, "");
    return /^[0-9]{16}$/.test(digits) ? digits : null;
  }
  function realDate(year, month, day) {
    if (day < 1 || month < 1 || month > 12) return null;
    let d = new Date(Date.UTC(year, month - 1, day));
    return d.getUTCFullYear() === year && d.getUTCMonth() === month - 1 && d.getUTCDate() === day ? d : null;
  }
  function ageOn(birth, today2) {
    let before = today2.month < birth.month || today2.month === birth.month && today2.day < birth.day;
    return today2.year - birth.year - (before ? 1 : 0);
  }
  function readNik(text, { today: today2, districts, rules }) {
    let problems = [], digits = nikDigits(text);
    if (digits === null)
      return { digits: null, problems: [{ field: "nik", code: "nik_format" }] };
    let districtCode = `${digits.slice(0, 2)}.${digits.slice(2, 4)}.${digits.slice(4, 6)}`, district = districts[districtCode] ?? null;
    district === null && problems.push({ field: "nik", code: "nik_unknown_district" });
    let day = Number(digits.slice(6, 8)), month = Number(digits.slice(8, 10)), yy = Number(digits.slice(10, 12)), sex = day > 40 ? "P" : "L";
    day > 40 && (day -= 40);
    let year = yy <= today2.year % 100 ? 2e3 + yy : 1900 + yy, birth = realDate(year, month, day) ? { year, month, day } : null, future = birth && birth.year * 1e4 + birth.month * 100 + birth.day > today2.year * 1e4 + today2.month * 100 + today2.day;
    (birth === null || future) && problems.push({ field: "nik", code: "nik_birth_date" }), digits.slice(12) === "0000" && problems.push({ field: "nik", code: "nik_serial" });
    let age = null;
    return birth && !future && (age = ageOn(birth, today2), (age < rules.min_age || age > rules.max_age) && problems.push({ field: "nik", code: "age_out_of_range", params: { min: rules.min_age, max: rules.max_age } })), future && (birth = null), { digits, districtCode, district, sex: birth ? sex : null, birth, age, problems };
  }

  // src/phone.js
  var CLEAN = /[\s().\-]/g;
  function readPhone(text) {
    let clean = String(text).trim().replace(CLEAN, ""), rest;
    if (clean.startsWith("+62")) rest = clean.slice(3);
    else if (clean.startsWith("62") && clean.length >= 10) rest = clean.slice(2);
    else if (clean.startsWith("0")) rest = clean.slice(1);
    else if (clean.startsWith("8")) rest = clean;
    else return { e164: null, code: "invalid_phone" };
    if (rest = rest.replace(/^0+/, ""), !/^[0-9]+$/.test(rest)) return { e164: null, code: "invalid_phone" };
    if (rest.startsWith("8")) {
      if (rest.length < 9 || rest.length > 12) return { e164: null, code: "invalid_phone" };
      let national = `0${rest}`;
      return { e164: `+62${rest}`, national: `${national.slice(0, 4)}-${national.slice(4, 8)}-${national.slice(8)}` };
    }
    return "2345679".includes(rest[0]) ? rest.length < 7 || rest.length > 11 ? { e164: null, code: "invalid_phone" } : { e164: `+62${rest}`, national: `0${rest}` } : { e164: null, code: "invalid_phone" };
  }

  // src/coverage.js
  function monthIndex(year, month) {
    return year * 12 + month - 1;
  }
  function monthText(index) {
    return `${String(Math.floor(index / 12)).padStart(4, "0")}-${String(index % 12 + 1).padStart(2, "0")}`;
  }
  function startMonths(today2, rules) {
    let current = monthIndex(today2.year, today2.month), months = [];
    for (let i = current - rules.backdate_months; i <= current + rules.advance_months; i++) months.push(monthText(i));
    return months;
  }
  function monthsLeft(startMonth) {
    return 13 - Number(startMonth.slice(5, 7));
  }
  function todayInJakarta(now = /* @__PURE__ */ new Date()) {
    let shifted = new Date(now.getTime() + 252e5);
    return { year: shifted.getUTCFullYear(), month: shifted.getUTCMonth() + 1, day: shifted.getUTCDate() };
  }

  // node_modules/idb/build/index.js
  var instanceOfAny = (object, constructors) => constructors.some((c) => object instanceof c), idbProxyableTypes, cursorAdvanceMethods;
  function getIdbProxyableTypes() {
    return idbProxyableTypes || (idbProxyableTypes = [
      IDBIndex,
      IDBObjectStore,
      IDBCursor,
      IDBDatabase,
      IDBTransaction
    ]);
  }
  function getCursorAdvanceMethods() {
    return cursorAdvanceMethods || (cursorAdvanceMethods = ["advance", "continue", "continuePrimaryKey"].map((method) => IDBCursor.prototype[method]));
  }
  var transactionDoneMap = /* @__PURE__ */ new WeakMap(), transformCache = /* @__PURE__ */ new WeakMap(), reverseTransformCache = /* @__PURE__ */ new WeakMap();
  function promisifyRequest(request) {
    let promise = new Promise((resolve, reject) => {
      let unlisten = () => {
        request.removeEventListener("success", success), request.removeEventListener("error", error);
      }, success = () => {
        resolve(wrap(request.result)), unlisten();
      }, error = () => {
        reject(request.error), unlisten();
      };
      request.addEventListener("success", success), request.addEventListener("error", error);
    });
    return reverseTransformCache.set(promise, request), promise;
  }
  function cacheDonePromiseForTransaction(tx) {
    if (transactionDoneMap.has(tx))
      return;
    let done = new Promise((resolve, reject) => {
      let unlisten = () => {
        tx.removeEventListener("complete", complete), tx.removeEventListener("error", error), tx.removeEventListener("abort", error);
      }, complete = () => {
        resolve(), unlisten();
      }, error = () => {
        reject(tx.error || new DOMException("AbortError", "AbortError")), unlisten();
      };
      tx.addEventListener("complete", complete), tx.addEventListener("error", error), tx.addEventListener("abort", error);
    });
    transactionDoneMap.set(tx, done);
  }
  var idbProxyTraps = {
    get(target, prop, receiver) {
      if (target instanceof IDBTransaction) {
        if (prop === "done")
          return transactionDoneMap.get(target);
        if (prop === "store")
          return receiver.objectStoreNames[1] ? void 0 : receiver.objectStore(receiver.objectStoreNames[0]);
      }
      return wrap(target[prop]);
    },
    set(target, prop, value) {
      return target[prop] = value, !0;
    },
    has(target, prop) {
      return target instanceof IDBTransaction && (prop === "done" || prop === "store") ? !0 : prop in target;
    }
  };
  function replaceTraps(callback) {
    idbProxyTraps = callback(idbProxyTraps);
  }
  function wrapFunction(func) {
    return getCursorAdvanceMethods().includes(func) ? function(...args) {
      return func.apply(unwrap(this), args), wrap(this.request);
    } : function(...args) {
      return wrap(func.apply(unwrap(this), args));
    };
  }
  function transformCachableValue(value) {
    return typeof value == "function" ? wrapFunction(value) : (value instanceof IDBTransaction && cacheDonePromiseForTransaction(value), instanceOfAny(value, getIdbProxyableTypes()) ? new Proxy(value, idbProxyTraps) : value);
  }
  function wrap(value) {
    if (value instanceof IDBRequest)
      return promisifyRequest(value);
    if (transformCache.has(value))
      return transformCache.get(value);
    let newValue = transformCachableValue(value);
    return Object.is(newValue, value) || (transformCache.set(value, newValue), reverseTransformCache.set(newValue, value)), newValue;
  }
  var unwrap = (value) => reverseTransformCache.get(value);
  function openDB(name, version, { blocked, upgrade, blocking, terminated } = {}) {
    let request = indexedDB.open(name, version), openPromise = wrap(request);
    return upgrade && request.addEventListener("upgradeneeded", (event) => {
      upgrade(wrap(request.result), event.oldVersion, event.newVersion, wrap(request.transaction), event);
    }), blocked && request.addEventListener("blocked", (event) => blocked(
      // Casting due to https://github.com/microsoft/TypeScript-DOM-lib-generator/pull/1405
      event.oldVersion,
      event.newVersion,
      event
    )), openPromise.then((db) => {
      terminated && db.addEventListener("close", () => terminated()), blocking && db.addEventListener("versionchange", (event) => blocking(event.oldVersion, event.newVersion, event));
    }).catch(() => {
    }), openPromise;
  }
  function deleteDB(name, { blocked } = {}) {
    let request = indexedDB.deleteDatabase(name);
    return blocked && request.addEventListener("blocked", (event) => blocked(
      // Casting due to https://github.com/microsoft/TypeScript-DOM-lib-generator/pull/1405
      event.oldVersion,
      event
    )), wrap(request).then(() => {
    });
  }
  var readMethods = ["get", "getKey", "getAll", "getAllKeys", "count"], writeMethods = ["put", "add", "delete", "clear"], cachedMethods = {};
  function getMethod(target, prop) {
    if (!(target instanceof IDBDatabase && !(prop in target) && typeof prop == "string"))
      return;
    if (cachedMethods[prop])
      return cachedMethods[prop];
    let targetFuncName = prop.replace(/FromIndex$/, ""), useIndex = prop !== targetFuncName, isWrite = writeMethods.includes(targetFuncName);
    if (
      // Bail if the target doesn't exist on the target. Eg, getAll isn't in Edge.
      !(targetFuncName in (useIndex ? IDBIndex : IDBObjectStore).prototype) || !(isWrite || readMethods.includes(targetFuncName))
    )
      return;
    let method = async function(storeName, ...args) {
      let tx = this.transaction(storeName, isWrite ? "readwrite" : "readonly"), target2 = tx.store;
      return useIndex && (target2 = target2.index(args.shift())), (await Promise.all([
        target2[targetFuncName](...args),
        isWrite && tx.done
      ]))[0];
    };
    return cachedMethods[prop] = method;
  }
  replaceTraps((oldTraps) => ({
    ...oldTraps,
    get: (target, prop, receiver) => getMethod(target, prop) || oldTraps.get(target, prop, receiver),
    has: (target, prop) => !!getMethod(target, prop) || oldTraps.has(target, prop)
  }));
  var advanceMethodProps = ["advance", "continue", "continuePrimaryKey"], methodMap = {}, advanceResults = /* @__PURE__ */ new WeakMap(), ittrProxiedCursorToOriginalProxy = /* @__PURE__ */ new WeakMap(), cursorIteratorTraps = {
    get(target, prop) {
      if (!advanceMethodProps.includes(prop))
        return target[prop];
      let cachedFunc = methodMap[prop];
      return cachedFunc || (cachedFunc = methodMap[prop] = function(...args) {
        advanceResults.set(this, ittrProxiedCursorToOriginalProxy.get(this)[prop](...args));
      }), cachedFunc;
    }
  };
  async function* iterate(...args) {
    let cursor = this;
    if (cursor instanceof IDBCursor || (cursor = await cursor.openCursor(...args)), !cursor)
      return;
    cursor = cursor;
    let proxiedCursor = new Proxy(cursor, cursorIteratorTraps);
    for (ittrProxiedCursorToOriginalProxy.set(proxiedCursor, cursor), reverseTransformCache.set(proxiedCursor, unwrap(cursor)); cursor; )
      yield proxiedCursor, cursor = await (advanceResults.get(proxiedCursor) || cursor.continue()), advanceResults.delete(proxiedCursor);
  }
  function isIteratorProp(target, prop) {
    return prop === Symbol.asyncIterator && instanceOfAny(target, [IDBIndex, IDBObjectStore, IDBCursor]) || prop === "iterate" && instanceOfAny(target, [IDBIndex, IDBObjectStore]);
  }
  replaceTraps((oldTraps) => ({
    ...oldTraps,
    get(target, prop, receiver) {
      return isIteratorProp(target, prop) ? iterate : oldTraps.get(target, prop, receiver);
    },
    has(target, prop) {
      return isIteratorProp(target, prop) || oldTraps.has(target, prop);
    }
  }));

  // src/store.js
  var NAME = "paritrana-kit", WAITING = "waiting", SENT = "sent", TO_CORRECT = "to_correct", CONFLICT = "conflict", opened = null;
  function database() {
    return opened ?? (opened = openDB(NAME, 1, {
      upgrade(db) {
        db.createObjectStore("settings"), db.createObjectStore("drafts");
        let queue = db.createObjectStore("queue", { keyPath: "registration_id" });
        queue.createIndex("nik", "payload.nik"), queue.createIndex("state", "state");
      }
    })), opened;
  }
  async function setting(name) {
    return (await database()).get("settings", name);
  }
  async function putSetting(name, value) {
    return (await database()).put("settings", value, name);
  }
  async function draft(name) {
    return (await database()).get("drafts", name);
  }
  async function putDraft(name, value) {
    return (await database()).put("drafts", value, name);
  }
  async function dropDraft(name) {
    return (await database()).delete("drafts", name);
  }
  async function items() {
    return (await (await database()).getAll("queue")).sort((a, b) => a.saved_at < b.saved_at ? -1 : a.saved_at > b.saved_at ? 1 : 0);
  }
  async function item(id) {
    return (await database()).get("queue", id);
  }
  async function itemsInState(state) {
    return (await database()).getAllFromIndex("queue", "state", state);
  }
  async function itemsWithNik(nik) {
    return (await database()).getAllFromIndex("queue", "nik", nik);
  }
  async function putItem(value) {
    return (await database()).put("queue", value);
  }
  async function putItems(values) {
    let tx = (await database()).transaction("queue", "readwrite");
    await Promise.all([...values.map((v) => tx.store.put(v)), tx.done]);
  }
  async function wipe() {
    opened && (await opened).close(), opened = null, await deleteDB(NAME);
  }

  // src/sync.js
  var BATCH_SIZE = 50, MAX_BACKOFF_SECONDS = 60, STATUS_CHECKS_PER_ROUND = 50, STUCK_AFTER_FAILURES = 3, FINAL_LATER_STATUSES = /* @__PURE__ */ new Set(["unfunded", "ended"]), SyncFailure = class extends Error {
    constructor(code, detail, retryAfter) {
      super(code), this.code = code, this.detail = detail, this.retryAfter = retryAfter;
    }
  }, REQUEST_TIMEOUT_SECONDS = 60;
  async function call(url, options) {
    let abort = new AbortController(), timer = setTimeout(() => abort.abort(), REQUEST_TIMEOUT_SECONDS * 1e3);
    try {
      return await fetch(url, { cache: "no-store", signal: abort.signal, ...options });
    } catch (error) {
      throw new SyncFailure("network", abort.signal.aborted ? `no answer in ${REQUEST_TIMEOUT_SECONDS} s` : String(error && error.message || error));
    } finally {
      clearTimeout(timer);
    }
  }
  async function failureOf(response) {
    let detail = "";
    try {
      detail = ((await response.json()).errors || []).map((e) => e.message).join(" ");
    } catch {
    }
    let code = response.status === 401 ? "key_refused" : response.status === 429 || response.status >= 500 ? "server_busy" : "server_refused", retryAfter = Number(response.headers.get("Retry-After")) || void 0;
    return new SyncFailure(code, `HTTP ${response.status} ${detail}`.trim(), retryAfter);
  }
  function applied(record, result, now) {
    let done = { ...record, answered_at: now, outcome: result.status };
    return result.status === "accepted" || result.status === "duplicate" ? { ...done, state: SENT, errors: [], sent_at: now } : result.status === "conflict" ? {
      ...done,
      state: CONFLICT,
      errors: result.errors || [],
      existing_registration_id: result.existing_registration_id || null
    } : { ...done, state: TO_CORRECT, errors: result.errors || [] };
  }
  var Sender = class {
    constructor({ secret, mayRead, batchLimit, onChange }) {
      this.secret = secret, this.mayRead = mayRead, this.batchSize = Math.min(BATCH_SIZE, batchLimit || BATCH_SIZE), this.onChange = onChange, this.inFlight = !1, this.sending = !1, this.again = !1, this.timer = null;
    }
    // Unpairing: no further round, nor a retry already timed.
    stop() {
      clearTimeout(this.timer), this.timer = null, this.request = () => {
      };
    }
    headers() {
      return { Authorization: `Bearer ${this.secret}`, "Content-Type": "application/json" };
    }
    // Ask for a sync now; a request while one is in flight runs once more after it, never beside it.
    request() {
      if (this.inFlight) {
        this.again = !0;
        return;
      }
      clearTimeout(this.timer), this.timer = null, this.inFlight = !0;
      let run = () => this.round();
      (navigator.locks ? navigator.locks.request("paritrana-kit-sync", run) : run()).finally(() => {
        this.inFlight = !1, this.again && (this.again = !1, this.request());
      });
    }
    async round() {
      if (!navigator.onLine) return;
      this.sending = !0, this.onChange();
      let state = await setting("sync") || { failures: 0 }, now = () => (/* @__PURE__ */ new Date()).toISOString();
      try {
        await this.sendWaiting(now), this.mayRead && await this.refreshLaterStatus(now), await putSetting("sync", { failures: 0, last_success_at: now(), last_attempt_at: now() });
      } catch (thrown) {
        let error = thrown instanceof SyncFailure ? thrown : new SyncFailure("kit_error", String(thrown)), failures = (state.failures || 0) + 1, backoff = Math.min(MAX_BACKOFF_SECONDS, 2 ** (failures - 1)), seconds = error.retryAfter ?? backoff * (0.75 + Math.random() / 2), next = new Date(Date.now() + seconds * 1e3).toISOString();
        await putSetting("sync", { ...state, failures, last_attempt_at: now(), failing_since: state.failing_since || now(), last_error: error.code, last_error_detail: error.detail, next_attempt_at: next }), error.code !== "key_refused" && (this.timer = setTimeout(() => this.request(), seconds * 1e3));
      }
      this.sending = !1, this.onChange();
    }
    async sendWaiting(now) {
      for (; ; ) {
        let waiting = (await itemsInState(WAITING)).sort((a, b) => a.saved_at < b.saved_at ? -1 : 1).slice(0, this.batchSize);
        if (waiting.length === 0) return;
        let response = await call("/v1/registrations/batch", {
          method: "POST",
          headers: this.headers(),
          body: JSON.stringify({ items: waiting.map((r) => r.payload) })
        });
        if (!response.ok) throw await failureOf(response);
        let body;
        try {
          body = await response.json();
        } catch {
          throw new SyncFailure("network", "the answer was cut off");
        }
        let answered = now();
        await putItems(body.results.map((result) => applied(waiting[result.index], result, answered))), this.onChange();
      }
    }
    // The later status (funded, waiting, refused) of what was sent, with the key's read scope.
    async refreshLaterStatus(now) {
      let sent = (await itemsInState(SENT)).filter((r) => !FINAL_LATER_STATUSES.has(r.later_status)).sort((a, b) => (a.status_checked_at || "") < (b.status_checked_at || "") ? -1 : 1).slice(0, STATUS_CHECKS_PER_ROUND);
      for (let record of sent) {
        let response = await call(`/v1/registrations/${record.registration_id}`, { headers: this.headers() });
        if (response.status === 401) throw await failureOf(response);
        if (!response.ok) continue;
        let body = await response.json();
        await putItem({
          ...record,
          later_status: body.status,
          later_status_reason: body.status_reason,
          status_checked_at: now()
        });
      }
    }
  };

  // src/app.js
  var KEY_PATTERN = /^prt_[0-9a-f]{16}_[A-Za-z0-9_-]{20,}$/, REFERENCE_CACHE = "kit-reference", FIELDS = [
    "nik",
    "full_name",
    "phone",
    "category",
    "category_description",
    "regency_code",
    "district_code",
    "village_code",
    "start_month",
    "months"
  ], pairingLink = (() => {
    let match = location.hash.match(/^#pair=(.*)$/);
    if (!match) return null;
    history.replaceState(null, "", location.pathname + location.search);
    let secret = "";
    try {
      secret = decodeURIComponent(match[1]);
    } catch {
    }
    return KEY_PATTERN.test(secret) ? secret : !1;
  })(), kit = {
    pairing: null,
    reference: null,
    sender: null,
    view: "form",
    editing: null,
    found: null,
    persisted: null,
    deviceToday: todayInJakarta(),
    keyRefused: !1
  }, $ = (selector) => document.querySelector(selector), form = () => $("#form"), field = (name) => form().elements.namedItem(name);
  function el(tag, attributes = {}, ...children) {
    let node = document.createElement(tag);
    for (let [name, value] of Object.entries(attributes))
      value == null || value === !1 || (name.startsWith("on") ? node.addEventListener(name.slice(2), value) : node.setAttribute(name, value === !0 ? "" : value));
    for (let child of children.flat()) child != null && node.append(child);
    return node;
  }
  function newId() {
    if (crypto.randomUUID) return crypto.randomUUID();
    let b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = b[6] & 15 | 64, b[8] = b[8] & 63 | 128;
    let h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }
  var pad = (n) => String(n).padStart(2, "0"), dateText = (d) => `${pad(d.day)}-${pad(d.month)}-${d.year}`;
  function timeText(iso) {
    if (!iso) return t("never");
    let d = new Date(iso), today2 = /* @__PURE__ */ new Date(), clock = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
    return d.toDateString() === today2.toDateString() ? clock : `${pad(d.getDate())}-${pad(d.getMonth() + 1)} ${clock}`;
  }
  var masked = (nik) => `•••• •••• •••• ${String(nik).slice(12)}`, today = () => kit.deviceToday = todayInJakarta();
  function notice(text) {
    let box = $("#notice");
    box.textContent = text, box.hidden = !text;
  }
  async function serviceWorkerInControl() {
    if ("serviceWorker" in navigator) {
      try {
        await navigator.serviceWorker.register("/kit/sw.js", { scope: "/kit/" });
      } catch {
        return;
      }
      await navigator.serviceWorker.ready, !navigator.serviceWorker.controller && await new Promise((resolve) => {
        navigator.serviceWorker.addEventListener("controllerchange", resolve, { once: !0 }), setTimeout(resolve, 5e3);
      });
    }
  }
  async function askPersistence() {
    if (!navigator.storage || !navigator.storage.persist) {
      kit.persisted = !1;
      return;
    }
    kit.persisted = await navigator.storage.persisted() || await navigator.storage.persist();
  }
  async function loadReference() {
    try {
      let response = await fetch("/v1/reference", { headers: { Authorization: `Bearer ${kit.pairing.secret}` } });
      response.status === 401 && (kit.keyRefused = !0), response.ok && (kit.reference = await response.json());
    } catch {
    }
  }
  function fillSelect(select, options, { blank = !0, value } = {}) {
    let keep = value ?? select.value;
    select.replaceChildren(
      ...blank ? [el("option", { value: "" }, t("choose"))] : [],
      ...options.map(([code, label]) => el("option", { value: code }, label))
    ), [...select.options].some((o) => o.value === keep) && (select.value = keep);
  }
  function fillPlaces(values = {}) {
    let ref = kit.reference, en = currentLanguage() === "en";
    fillSelect(
      field("category"),
      ref.categories.map((c) => [c.code, en ? c.name_en : c.name_id]),
      { value: values.category }
    ), fillSelect(
      field("regency_code"),
      ref.regencies.map((r) => [r.code, r.name]),
      { blank: ref.regencies.length !== 1, value: values.regency_code }
    );
    let regency = field("regency_code").value;
    fillSelect(field("district_code"), ref.districts.filter((d) => d.code.startsWith(`${regency}.`)).map((d) => [d.code, d.name]), { value: values.district_code });
    let district = field("district_code").value;
    fillSelect(field("village_code"), district ? ref.villages.filter((v) => v.code.startsWith(`${district}.`)).map((v) => [v.code, v.name]) : [], { value: values.village_code });
    let starts = startMonths(today(), ref.rules), current = `${kit.deviceToday.year}-${pad(kit.deviceToday.month)}`;
    fillSelect(field("start_month"), starts.map((m) => [m, m]), { blank: !1, value: values.start_month || current });
    let left = monthsLeft(field("start_month").value), months = Array.from({ length: left }, (_, i) => [String(i + 1), String(i + 1)]);
    fillSelect(field("months"), months, { blank: !1, value: values.months ? String(values.months) : String(left) }), $("#description-field").hidden = field("category").value !== "other";
  }
  function formValues() {
    return Object.fromEntries(FIELDS.map((name) => [name, field(name).value]));
  }
  function setFormValues(values) {
    for (let name of ["nik", "full_name", "phone", "category_description"]) field(name).value = values[name] || "";
    fillPlaces(values);
  }
  var draftName = () => kit.editing ? `fix:${kit.editing}` : "new";
  function nikReading(text) {
    return readNik(text, { today: kit.deviceToday, districts: kit.reference.nik_districts, rules: kit.reference.rules });
  }
  async function showNik() {
    let text = field("nik").value, readout = $("#nik-readout"), queued = $("#nik-queued");
    if (queued.hidden = !0, text.replace(/\D/g, "").length < 16) {
      readout.hidden = !0;
      return;
    }
    let nik = nikReading(text);
    readout.hidden = !1, readout.classList.toggle("bad", nik.problems.length > 0);
    let parts = [];
    nik.sex && parts.push(nik.sex === "P" ? t("female") : t("male")), nik.birth && parts.push(`${t("born")} ${dateText(nik.birth)} (${t("years", { n: nik.age })})`), nik.district && parts.push(nik.district), readout.dataset.sex = nik.sex || "", readout.dataset.birth = nik.birth ? `${nik.birth.year}-${pad(nik.birth.month)}-${pad(nik.birth.day)}` : "", readout.dataset.district = nik.district ? nik.districtCode : "", readout.replaceChildren(
      el("div", {}, parts.join(" · ")),
      ...nik.problems.map((p) => el("div", { class: "field-error", "data-code": p.code }, problemText(p))),
      ...nik.problems.length ? [] : [el("small", {}, t("check_ktp"))]
    );
    let twin = nik.digits && await queuedTwin(nik.digits);
    twin && (queued.hidden = !1, queued.replaceChildren(
      t("queued_twice", { name: twin.payload.full_name.toUpperCase(), state: t(twin.state) }),
      " ",
      el("button", { type: "button", class: "small", onclick: () => showItem(twin) }, t("open_it"))
    ));
  }
  async function queuedTwin(digits) {
    return (await itemsWithNik(digits)).find((r) => r.registration_id !== kit.editing);
  }
  function showPhone() {
    let text = field("phone").value.trim(), readout = $("#phone-readout"), phone = text ? readPhone(text) : null;
    readout.hidden = !phone || !phone.e164, phone && phone.e164 && (readout.textContent = `${phone.national} → ${phone.e164}`);
  }
  function clearErrors() {
    for (let p of document.querySelectorAll(".field-error[data-for]")) p.textContent = "";
    for (let input of form().querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
  }
  function showErrors(problems, fromServer = !1) {
    clearErrors();
    for (let p of problems) {
      let name = p.field || "*", slot = document.querySelector(`.field-error[data-for="${CSS.escape(name)}"]`) || document.querySelector('.field-error[data-for="*"]'), text = fromServer ? `${p.message} (${p.code})` : problemText(p);
      slot.textContent = slot.textContent ? `${slot.textContent} ${text}` : text;
      let input = field(name.replace("coverage.", ""));
      input instanceof Element && input.setAttribute("aria-invalid", "true");
    }
  }
  async function judge(values) {
    let problems = [], nik = nikReading(values.nik);
    problems.push(...nik.problems);
    let name = values.full_name.trim().split(/\s+/).join(" ");
    name ? (!/\p{L}/u.test(name) || /\d/.test(name)) && problems.push({ field: "full_name", code: "invalid_name" }) : problems.push({ field: "full_name", code: "missing" });
    let phone = values.phone.trim() ? readPhone(values.phone) : null;
    phone && !phone.e164 && problems.push({ field: "phone", code: "invalid_phone" }), values.category || problems.push({ field: "category", code: "missing" }), values.category === "other" && !values.category_description.trim() && problems.push({ field: "category_description", code: "missing" }), values.regency_code || problems.push({ field: "regency_code", code: "missing" });
    let left = monthsLeft(values.start_month);
    return Number(values.months) > left && problems.push({
      field: "coverage.months",
      code: "months_out_of_range",
      params: { n: left }
    }), { problems, nik, name, phone };
  }
  async function save(event) {
    event.preventDefault();
    let values = formValues(), { problems, nik, name, phone } = await judge(values);
    if (showErrors(problems), problems.length) return;
    if (await queuedTwin(nik.digits)) {
      await showNik();
      return;
    }
    let officer = await setting("officer"), existing = kit.editing ? await item(kit.editing) : null, payload = {
      registration_id: existing ? existing.registration_id : newId(),
      nik: nik.digits,
      full_name: name,
      category: values.category,
      regency_code: values.regency_code,
      coverage: { start_month: values.start_month, months: Number(values.months) },
      channel: "field_kit",
      device_id: `kit-${kit.reference.key.key_id}`,
      captured_at: existing ? existing.payload.captured_at : (/* @__PURE__ */ new Date()).toISOString()
    };
    phone && (payload.phone = phone.e164), values.category === "other" && (payload.category_description = values.category_description.trim()), values.district_code && (payload.district_code = values.district_code), values.village_code && (payload.village_code = values.village_code), officer && (payload.officer_id = officer);
    let record = {
      ...existing || {},
      registration_id: payload.registration_id,
      payload,
      state: WAITING,
      errors: [],
      saved_at: existing ? existing.saved_at : (/* @__PURE__ */ new Date()).toISOString(),
      corrected_at: existing ? (/* @__PURE__ */ new Date()).toISOString() : void 0
    };
    await putItem(record), await dropDraft(draftName()), notice(t("saved", { id: payload.registration_id })), await startNew({ keep: values }), kit.sender.request(), await renderStatus();
  }
  async function startNew({ keep } = {}) {
    kit.editing = null, $("#correcting").hidden = !0, $("#save").textContent = t("save"), clearErrors();
    let draft2 = keep ? null : await draft("new");
    setFormValues(draft2 || {
      regency_code: keep?.regency_code,
      district_code: keep?.district_code,
      village_code: keep?.village_code,
      category: keep?.category,
      start_month: keep?.start_month,
      months: keep?.months
    }), await showNik(), showPhone();
  }
  async function openItem(record) {
    kit.editing = record.registration_id;
    let values = await draft(draftName()) || {
      ...record.payload,
      start_month: record.payload.coverage.start_month,
      months: record.payload.coverage.months,
      phone: record.payload.phone || ""
    };
    setFormValues(values);
    let box = $("#correcting");
    box.hidden = record.state !== TO_CORRECT, box.textContent = t("correcting", { name: record.payload.full_name.toUpperCase() }), $("#save").textContent = t("save_correction"), showView("form"), record.state === TO_CORRECT && showErrors(record.errors, !0), await showNik(), showPhone();
  }
  async function showItem(record) {
    if (record.state === TO_CORRECT) {
      await openItem(record);
      return;
    }
    kit.found = record.registration_id, await showView("queue");
    let row = document.querySelector("#queue-list li.found");
    row && row.scrollIntoView({ block: "center" });
  }
  async function keepDraft() {
    await putDraft(draftName(), formValues());
  }
  function laterStatus(record) {
    if (!record.later_status) return null;
    let reason = record.later_status_reason ? t(`reason_${record.later_status_reason}`) : "";
    return t(`later_${record.later_status}`, { reason });
  }
  async function renderQueue() {
    let all = (await items()).reverse();
    $("#queue-empty").hidden = all.length > 0, $("#queue-list").replaceChildren(...all.map((r) => el(
      "li",
      {
        "data-id": r.registration_id,
        "data-state": r.state,
        class: r.registration_id === kit.found ? "found" : null
      },
      el("div", { class: "who" }, r.payload.full_name.toUpperCase()),
      el("div", { class: "meta" }, `${masked(r.payload.nik)} · ${timeText(r.saved_at)}`),
      el(
        "div",
        { class: "state" },
        t(r.state),
        r.outcome === "duplicate" ? ` (${t("outcome_duplicate")})` : null,
        laterStatus(r) ? ` · ${laterStatus(r)}` : null
      ),
      r.state === CONFLICT && r.existing_registration_id ? el("div", { class: "existing" }, t("existing_id", { id: r.existing_registration_id })) : null,
      r.errors && r.errors.length && r.state !== SENT ? el("ul", { class: "errors" }, r.errors.map((e) => el("li", {}, `${e.message} (${e.code})`))) : null,
      r.state === TO_CORRECT ? el("button", { type: "button", class: "correct", onclick: () => openItem(r) }, t("correct_it")) : null
    )));
  }
  async function renderStatus() {
    let all = await items();
    for (let state of [WAITING, SENT, TO_CORRECT, CONFLICT])
      $(`#count-${state}`).textContent = String(all.filter((r) => r.state === state).length);
    $("#tab-queue-count").textContent = String(all.length);
    let sync = await setting("sync") || { failures: 0 };
    $("#last-sync").textContent = timeText(sync.last_success_at);
    let connection = $("#connection");
    connection.textContent = kit.sender && kit.sender.sending ? t("sending") : navigator.onLine ? t("online") : t("offline"), connection.classList.toggle("offline", !navigator.onLine);
    let trouble = $("#sync-trouble"), failing = sync.failures > 0;
    trouble.hidden = !failing, trouble.classList.toggle("stuck", sync.failures >= STUCK_AFTER_FAILURES || sync.last_error === "key_refused"), sync.last_error === "key_refused" ? trouble.textContent = t("key_refused") : failing && (trouble.textContent = t(sync.failures >= STUCK_AFTER_FAILURES ? "stuck" : "retrying", {
      n: sync.failures,
      since: timeText(sync.failing_since),
      error: `${t(`error_${sync.last_error}`)}${sync.last_error_detail ? `: ${sync.last_error_detail}` : ""}`,
      next: timeText(sync.next_attempt_at)
    })), kit.view === "queue" && await renderQueue();
  }
  function renderWarnings() {
    let warnings = [];
    kit.persisted === !1 && warnings.push(["storage-warning", t("storage_warning")]), kit.pairing && !kit.reference && warnings.push(["reference-warning", t("no_reference")]), kit.keyRefused && warnings.push(["key-warning", t("key_refused")]);
    let server = kit.reference && kit.reference.today, device = `${kit.deviceToday.year}-${pad(kit.deviceToday.month)}-${pad(kit.deviceToday.day)}`;
    server && navigator.onLine && server !== device && warnings.push(["clock-warning", t("clock_warning", { device, server })]), $("#warnings").replaceChildren(...warnings.map(([id, text]) => el("div", { id, class: "alert" }, text)));
  }
  function showView(view) {
    kit.view = view;
    for (let name of ["form", "queue", "device"]) $(`#${name}`).hidden = name !== view;
    for (let tab of document.querySelectorAll("#tabs button"))
      tab.dataset.view === view ? tab.setAttribute("aria-current", "page") : tab.removeAttribute("aria-current");
    return view === "queue" ? renderQueue() : void 0;
  }
  function translate() {
    for (let node of document.querySelectorAll("[data-t]")) node.textContent = t(node.dataset.t);
    $("#language").textContent = t("switch_language"), $("#save").textContent = kit.editing ? t("save_correction") : t("save"), document.title = t("title");
  }
  async function renderDevice() {
    let ref = kit.reference;
    $("#key-name").textContent = ref ? `${ref.key.name} (${ref.key.key_id})` : "", $("#key-regions").textContent = ref ? ref.key.regions.join(", ") : "", $("#persisted").textContent = kit.persisted ? t("yes") : t("no"), $("#f-officer").value = await setting("officer") || "";
  }
  async function renderAll() {
    translate();
    let ready = !!(kit.pairing && kit.reference);
    if ($("#pairing").hidden = !!kit.pairing, $("#status").hidden = !kit.pairing, $("#tabs").hidden = !ready, ready)
      fillPlaces(formValues()), showView(kit.view), await renderDevice();
    else
      for (let name of ["form", "queue", "device"]) $(`#${name}`).hidden = !0;
    renderWarnings(), kit.pairing && await renderStatus();
  }
  async function unpair() {
    let waiting = (await itemsInState(WAITING)).length;
    window.confirm(t("unpair_confirm", { n: waiting })) && (kit.sender && kit.sender.stop(), await wipe(), window.caches && await caches.delete(REFERENCE_CACHE), kit.pairing = null, kit.reference = null, kit.sender = null, notice(t("unpaired")), await renderAll());
  }
  async function boot() {
    setLanguage(await setting("language") || "id"), pairingLink && await putSetting("pairing", { secret: pairingLink, paired_at: (/* @__PURE__ */ new Date()).toISOString() }), kit.pairing = await setting("pairing"), await Promise.all([serviceWorkerInControl(), askPersistence()]), pairingLink === !1 && notice(t("bad_pairing")), kit.pairing && (await loadReference(), pairingLink && kit.reference && notice(t("paired", { name: kit.reference.key.name }))), wire(), await start(), document.body.dataset.ready = "true";
  }
  async function start() {
    await renderAll(), !(!kit.pairing || !kit.reference || kit.sender) && (kit.sender = new Sender({
      secret: kit.pairing.secret,
      mayRead: kit.reference.key.may_read,
      batchLimit: kit.reference.rules.batch_limit,
      onChange: () => renderStatus()
    }), await renderAll(), await startNew(), kit.sender.request());
  }
  function wire() {
    $("#language").addEventListener("click", async () => {
      setLanguage(currentLanguage() === "id" ? "en" : "id"), await putSetting("language", currentLanguage()), await renderAll(), kit.reference && await showNik();
    });
    for (let tab of document.querySelectorAll("#tabs button"))
      tab.addEventListener("click", () => showView(tab.dataset.view));
    form().addEventListener("submit", save), form().addEventListener("input", async (event) => {
      event.target.name === "nik" && await showNik(), event.target.name === "phone" && showPhone(), await keepDraft();
    }), form().addEventListener("change", async (event) => {
      ["regency_code", "district_code", "start_month", "category"].includes(event.target.name) && fillPlaces(formValues()), await keepDraft();
    }), $("#clear").addEventListener("click", async () => {
      await dropDraft(draftName()), notice(""), setFormValues({}), await startNew({ keep: null });
    }), $("#send-now").addEventListener("click", () => kit.sender && kit.sender.request()), $("#unpair").addEventListener("click", unpair), $("#f-officer").addEventListener("input", (event) => putSetting("officer", event.target.value.trim())), window.addEventListener("online", async () => {
      kit.sender && kit.sender.request(), kit.pairing && await loadReference(), await start();
    }), window.addEventListener("offline", () => renderAll()), setInterval(() => {
      kit.pairing && renderStatus();
    }, 15e3), setInterval(() => {
      kit.sender && navigator.onLine && kit.sender.request();
    }, 12e4);
  }
  boot();
})();
