// The kit's service worker: the app shell precached (each file with its content hash, so a new build replaces
// it), and the reference data of GET /v1/reference kept from the last answer that came through, for when the
// phone has no signal. Registrations are never touched here: the queue lives in IndexedDB.

import { clientsClaim } from 'workbox-core';
import { cleanupOutdatedCaches, precacheAndRoute } from 'workbox-precaching';
import { registerRoute } from 'workbox-routing';
import { NetworkFirst } from 'workbox-strategies';

export const REFERENCE_CACHE = 'kit-reference';

self.skipWaiting();
clientsClaim();
cleanupOutdatedCaches();
precacheAndRoute(self.__WB_MANIFEST);
registerRoute(({ url }) => url.pathname === '/v1/reference',
  new NetworkFirst({ cacheName: REFERENCE_CACHE, networkTimeoutSeconds: 10 }));
