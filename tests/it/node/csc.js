// node-redis v5 client-side caching (`clientSideCache`, RESP3): a value
// cached in the client, changed straight at Redis, and the client's next read
// fresh. Run by tests/it/tools.rs: node csc.js <port> <redis port>.
const { createClient, BasicClientSideCache } = require('redis');
const [port, redisPort] = process.argv.slice(2).map(Number);

(async () => {
  const cache = new BasicClientSideCache({ ttl: 0, maxEntries: 0 });
  const client = createClient({ socket: { port }, RESP: 3, clientSideCache: cache });
  const direct = createClient({ socket: { port: redisPort } });
  await client.connect();
  await direct.connect();
  await direct.set('csc', 'v1');
  const out = [];
  out.push(await client.get('csc'));
  out.push(await client.get('csc'));
  out.push(`hits=${cache.stats().hitCount}`);
  await direct.set('csc', 'v2');
  // With no TTL the client serves v1 from its cache until the invalidation
  // arrives: wait for it (bounded), then the read is fresh.
  const deadline = Date.now() + 5000;
  let v = await client.get('csc');
  while (v !== 'v2' && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 5));
    v = await client.get('csc');
  }
  out.push(v);
  const misses = cache.stats().missCount;
  out.push(await client.get('csc'));
  out.push(cache.stats().missCount === misses ? 'cached-again' : 'not-cached');
  console.log(out.join(' '));
  await client.quit();
  await direct.quit();
})().catch((e) => {
  console.log('error', e.message);
  process.exit(1);
});
