// What the kit keeps on the phone, in IndexedDB (through idb): the pairing, settings, the draft being typed and
// the queue. A registration stays in the queue until the service has answered it, and after, with its answer.

import { openDB, deleteDB } from 'idb';

const NAME = 'paritrana-kit';

export const WAITING = 'waiting';
export const SENT = 'sent';
export const TO_CORRECT = 'to_correct';
export const CONFLICT = 'conflict';

let opened = null;

function database() {
  opened ??= openDB(NAME, 1, {
    upgrade(db) {
      db.createObjectStore('settings');
      db.createObjectStore('drafts');
      const queue = db.createObjectStore('queue', { keyPath: 'registration_id' });
      queue.createIndex('nik', 'payload.nik');
      queue.createIndex('state', 'state');
    },
  });
  return opened;
}

export async function setting(name) { return (await database()).get('settings', name); }
export async function putSetting(name, value) { return (await database()).put('settings', value, name); }

export async function draft(name) { return (await database()).get('drafts', name); }
export async function putDraft(name, value) { return (await database()).put('drafts', value, name); }
export async function dropDraft(name) { return (await database()).delete('drafts', name); }

export async function items() {
  const all = await (await database()).getAll('queue');
  return all.sort((a, b) => (a.saved_at < b.saved_at ? -1 : a.saved_at > b.saved_at ? 1 : 0));
}

export async function item(id) { return (await database()).get('queue', id); }
export async function itemsInState(state) { return (await database()).getAllFromIndex('queue', 'state', state); }
export async function itemsWithNik(nik) { return (await database()).getAllFromIndex('queue', 'nik', nik); }
export async function putItem(value) { return (await database()).put('queue', value); }

// Several answers at once, in one transaction: the queue never shows half a batch applied.
export async function putItems(values) {
  const tx = (await database()).transaction('queue', 'readwrite');
  await Promise.all([...values.map((v) => tx.store.put(v)), tx.done]);
}

// Unpairing: the key, the queue, drafts and settings all go.
export async function wipe() {
  if (opened) (await opened).close();
  opened = null;
  await deleteDB(NAME);
}
