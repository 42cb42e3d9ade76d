// Builds the field kit into services/enrolment/static/kit/, the files the enrolment service serves at /kit/ and commits, so that
// `make run` and `make test` need no Node. Run `npm ci && npm run build` here after changing src/.
//
// The service worker uses Workbox's runtime modules, bundled by esbuild; its precache manifest (each shell file
// with a hash of its content) is computed here rather than by workbox-build, which would bring in a second
// bundler and Babel for this one list.

import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const out = (name = '') => fileURLToPath(new URL(`../services/enrolment/static/kit/${name}`, import.meta.url));
const src = (name) => fileURLToPath(new URL(`src/${name}`, import.meta.url));
const modules = (name) => fileURLToPath(new URL(`node_modules/${name}`, import.meta.url));

const common = {
  bundle: true, format: 'iife', target: 'es2020', charset: 'utf8', legalComments: 'eof', logLevel: 'warning',
  // Dead branches (Workbox's development logging) go; names and layout stay readable in the committed files.
  minifySyntax: true,
  define: { 'process.env.NODE_ENV': '"production"' },
};

mkdirSync(out(), { recursive: true });
await esbuild.build({ ...common, entryPoints: [src('app.js')], outfile: out('app.js') });
const copied = ['index.html', 'kit.css', 'manifest.webmanifest', 'icon.svg'];
for (const name of copied) copyFileSync(src(name), out(name));

const shell = ['index.html', 'app.js', 'kit.css', 'manifest.webmanifest', 'icon.svg'];
const manifest = shell.map((name) => ({
  url: `/kit/${name}`,
  revision: createHash('sha256').update(readFileSync(out(name))).digest('hex').slice(0, 16),
}));
await esbuild.build({
  ...common, entryPoints: [src('sw.js')], outfile: out('sw.js'),
  define: { ...common.define, 'self.__WB_MANIFEST': JSON.stringify(manifest) },
});

const licences = [['idb', 'idb/LICENSE'], ['workbox (core, precaching, routing, strategies)', 'workbox-core/LICENSE']];
writeFileSync(out('LICENSES.txt'), licences.map(([what, file]) =>
  `${what}, bundled into app.js and sw.js:\n\n${readFileSync(modules(file), 'utf8')}`).join('\n\n'));
console.log(`built ${[...shell, 'sw.js', 'LICENSES.txt'].join(', ')} into services/enrolment/static/kit/`);
