// scenario.ts - a short integration session through the TypeScript client
// that @hey-api/openapi-ts generated from the served OpenAPI document
// (tests/integration/client_test.py generates it into gen/ beside a copy of
// this file, compiles both with tsc --strict and runs the result).  Each
// step prints "ok" or "FAIL" and what it got; never a secret.
//
// What it proves: a client written only from the document creates, reads,
// updates with If-Match, pages with a cursor and deletes, with the types the
// document gives (next always present, details required where the document
// says so), and sends the admin key only in Authorization.

import { client } from './gen/client.gen';
import {
	createClient, deleteClient, getClient, listClients, updateClient,
} from './gen/sdk.gen';

// Node's globals, without @types/node.
declare const process: {
	env: Record<string, string | undefined>;
	exitCode: number | undefined;
};

const base = process.env.CLIENTSD_BASE_URL ?? '';
const key = process.env.CLIENTSD_ADMIN_KEY ?? '';
const run = process.env.CLIENTSD_RUN_ID ?? 'ts';
let failed = 0;

function step(name: string, ok: boolean, detail: string): void {
	console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}: ${detail}`);
	if (!ok)
		failed++;
}

// Every request the client makes goes through here: the key must never be
// in the URL (the document lists no query key, so a generated client must
// not put one there).
const seen: string[] = [];
const fetchAndNote: typeof fetch = (input, init) => {
	const url = input instanceof Request ? input.url : String(input);
	seen.push(url);
	return fetch(input, init);
};

async function main(): Promise<void> {
	client.setConfig({ baseUrl: base, auth: () => key, fetch: fetchAndNote });
	const agency = `${run}-ts-agency`;
	const ids = [`${run}-ts-a`, `${run}-ts-b`, `${run}-ts-c`];

	for (const id of ids) {
		const r = await createClient({
			body: { id, name: `Client ${id}`, agency_id: agency },
		});
		step(`create ${id}`, r.response.status === 201 &&
		    r.data?.data.id === id &&
		    r.response.headers.get('location') === `/api/v1/clients/${id}` &&
		    /^pk_[0-9a-f]{32}$/.test(r.data?.data.publishable_key ?? ''),
		    `${r.response.status}, Location ${r.response.headers.get('location')}`);
	}

	const g = await getClient({ path: { id: ids[0] } });
	const etag = g.response.headers.get('etag') ?? '';
	step('read', g.response.status === 200 && g.data?.data.name === `Client ${ids[0]}` &&
	    g.data?.data.email === null && etag !== '',
	    `${g.response.status}, ETag ${etag}`);

	const p = await updateClient({
		path: { id: ids[0] },
		headers: { 'If-Match': etag },
		body: { email: 'ops@example.com', api_metadata: { plan: 'pro' } },
	});
	const etag2 = p.response.headers.get('etag') ?? '';
	step('PATCH with If-Match', p.response.status === 200 &&
	    p.data?.data.email === 'ops@example.com' &&
	    JSON.stringify(p.data?.data.api_metadata) === '{"plan":"pro"}' &&
	    etag2 !== '' && etag2 !== etag,
	    `${p.response.status}, ETag ${etag} -> ${etag2}`);

	const stale = await updateClient({
		path: { id: ids[0] },
		headers: { 'If-Match': etag },
		body: { name: 'Not written' },
	});
	step('PATCH with the old If-Match', stale.response.status === 412 &&
	    stale.error?.error === 'Precondition failed' &&
	    stale.response.headers.get('etag') === etag2,
	    `${stale.response.status} ${stale.error?.error}, current ETag ` +
	    `${stale.response.headers.get('etag')}`);

	const page1 = await listClients({ query: { agency_id: agency, limit: 2 } });
	const next = page1.data?.next ?? null;
	step('list, first page', page1.response.status === 200 &&
	    page1.data?.data.length === 2 && page1.data?.count === 3 && next !== null,
	    `${page1.response.status}, ${page1.data?.data.length} of ${page1.data?.count}, ` +
	    `next ${next === null ? 'null' : 'a cursor'}`);
	const page2 = await listClients({
		query: { agency_id: agency, limit: 2, after: next ?? undefined, count: false },
	});
	const listed = [...(page1.data?.data ?? []), ...(page2.data?.data ?? [])]
	    .map((c) => c.id);
	step('list, next page by cursor', page2.response.status === 200 &&
	    page2.data?.data.length === 1 && page2.data?.next === null &&
	    page2.data?.count === null &&
	    JSON.stringify(listed) === JSON.stringify(ids),
	    `${page2.response.status}, ${page2.data?.data.length} more, next ` +
	    `${page2.data?.next === null ? 'null' : 'a cursor'}, ${listed.length} distinct ` +
	    'in creation order');

	for (const id of ids) {
		const d = await deleteClient({ path: { id }, query: { hard: true } });
		step(`delete ${id}`, d.response.status === 200 && d.data?.deleted === true &&
		    d.data?.hard === true, `${d.response.status}, hard ${d.data?.hard}`);
	}
	const gone = await getClient({ path: { id: ids[0] } });
	step('read after delete', gone.response.status === 404 &&
	    gone.error?.error === 'Client not found',
	    `${gone.response.status} ${gone.error?.error}`);

	const leaked = seen.filter((u) => u.includes('admin_key') || u.includes(key));
	step('the key stays out of every URL', seen.length > 0 && leaked.length === 0,
	    `${seen.length} requests, ${leaked.length} with the key in the URL`);
}

main().then(() => {
	console.log(`scenario: ${failed === 0 ? 'passed' : `${failed} step(s) failed`}`);
	process.exitCode = failed === 0 ? 0 : 1;
}, (e: unknown) => {
	console.log(`FAIL scenario: ${String(e)}`);
	process.exitCode = 1;
});
