'use strict';
// cart.js: a @grpc/grpc-js (pure JS) client and server used by pcaps/gen/gen-node.sh.
//
// No protoc / proto-loader: messages are raw Buffers with identity
// (de)serializers; the server uses a hand-made service definition and the
// client uses grpc.Client.make*Request with explicit method paths.
//
//   node cart.js server PORT                  shop.v1.Cart server on 127.0.0.1:PORT
//   node cart.js client PORT unary            AddItem (OK, rich metadata), Checkout (UNAVAILABLE)
//   node cart.js client PORT streaming        WatchCart (1/5), BulkAdd (3/1, one 20000-byte request), Sync (4/4)
//   node cart.js client PORT billing          against the grpc-go server (pcaps/gen/go/grpcdemo):
//                                             Invoices/GetInvoice, Invoices/DeleteInvoice,
//                                             Ledger/WatchEntries (1/6), Ledger/UploadEntries (4/1),
//                                             Ledger/Reconcile (3/3)
// All client calls share one channel (one TCP connection) and run one after another.

const grpc = require('@grpc/grpc-js');

const id = (b) => b;

const BIG_LEN = 20000;   // > 16 KiB: spans several HTTP/2 DATA frames (max frame size 16384)

function method(name, requestStream, responseStream) {
  return {
    path: '/shop.v1.Cart/' + name,
    requestStream, responseStream,
    requestSerialize: id, requestDeserialize: id,
    responseSerialize: id, responseDeserialize: id,
  };
}

const cartService = {
  AddItem: method('AddItem', false, false),
  Checkout: method('Checkout', false, false),
  WatchCart: method('WatchCart', false, true),
  BulkAdd: method('BulkAdd', true, false),
  Sync: method('Sync', true, true),
};

function runServer(port) {
  const server = new grpc.Server();
  server.addService(cartService, {
    AddItem(call, cb) {
      cb(null, Buffer.from('cart:C-1001;items=1;total=1999'));
    },
    Checkout(call, cb) {
      cb({ code: grpc.status.UNAVAILABLE, details: 'payment backend unavailable: shard 3 draining' });
    },
    WatchCart(call) {
      for (let i = 1; i <= 5; i++) call.write(Buffer.from(`cart:C-1001;rev=${i}`));
      call.end();
    },
    BulkAdd(call, cb) {
      let n = 0, bytes = 0;
      call.on('data', (m) => { n++; bytes += m.length; });
      call.on('end', () => cb(null, Buffer.from(`added:${n};bytes=${bytes}`)));
    },
    Sync(call) {
      call.on('data', (m) => call.write(Buffer.concat([Buffer.from('synced:'), m])));
      call.on('end', () => call.end());
    },
  });
  server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => {
    if (err) { console.error(err); process.exit(1); }
    console.log(`grpc-js ${require('@grpc/grpc-js/package.json').version} server listening on 127.0.0.1:${p}`);
  });
  process.on('SIGTERM', () => server.tryShutdown(() => process.exit(0)));
}

// ------------------------------------------------------------------ client helpers

function unary(client, path, req, md) {
  return new Promise((resolve) => {
    client.makeUnaryRequest(path, id, id, req, md || new grpc.Metadata(), {}, (err, resp) => {
      console.log(`${path} -> ${err ? `status ${err.code} "${err.details}"` : `OK ${resp.length} bytes`}`);
      resolve(err);
    });
  });
}

function serverStream(client, path, req) {
  return new Promise((resolve, reject) => {
    const call = client.makeServerStreamRequest(path, id, id, req, new grpc.Metadata(), {});
    let n = 0;
    call.on('data', () => n++);
    call.on('error', reject);
    call.on('status', (s) => { console.log(`${path} -> ${n} messages, status ${s.code}`); resolve(n); });
  });
}

function clientStream(client, path, reqs) {
  return new Promise((resolve, reject) => {
    const call = client.makeClientStreamRequest(path, id, id, new grpc.Metadata(), {}, (err, resp) => {
      if (err) return reject(err);
      console.log(`${path} -> ${resp.toString()}`);
      resolve();
    });
    for (const r of reqs) call.write(r);
    call.end();
  });
}

function bidi(client, path, reqs) {
  return new Promise((resolve, reject) => {
    const call = client.makeBidiStreamRequest(path, id, id, new grpc.Metadata(), {});
    let i = 0, n = 0;
    call.on('data', () => {   // ping-pong: send the next message after each response
      n++;
      if (i < reqs.length) call.write(reqs[i++]); else call.end();
    });
    call.on('error', reject);
    call.on('status', (s) => { console.log(`${path} -> ${n} messages, status ${s.code}`); resolve(n); });
    call.write(reqs[i++]);
  });
}

function expect(cond, what) {
  if (!cond) { console.error('unexpected: ' + what); process.exit(1); }
}

async function scenarioUnary(client) {
  const md = new grpc.Metadata();
  md.add('authorization', 'Bearer shp_live_4f9a7c1e2b8d');
  md.add('cookie', 'sid=9c1e2b8d4f9a; theme=dark');
  md.add('x-session-token', 'st-00112233445566778899');
  md.add('session-bin', Buffer.from([0x0a, 0x08, 0xde, 0xad, 0xbe, 0xef, 0x00, 0x01, 0x02, 0x03]));
  let err = await unary(client, '/shop.v1.Cart/AddItem', Buffer.from('sku=SKU-42;qty=1'), md);
  expect(!err, 'AddItem failed');
  const md2 = new grpc.Metadata();
  md2.add('authorization', 'Bearer shp_live_4f9a7c1e2b8d');
  err = await unary(client, '/shop.v1.Cart/Checkout', Buffer.from('cart=C-1001'), md2);
  expect(err && err.code === grpc.status.UNAVAILABLE, 'Checkout should be UNAVAILABLE');
}

async function scenarioStreaming(client) {
  let n = await serverStream(client, '/shop.v1.Cart/WatchCart', Buffer.from('cart=C-1001'));
  expect(n === 5, 'WatchCart count');
  const big = Buffer.alloc(BIG_LEN, 'x');
  Buffer.from('sku=SKU-BULK;note=').copy(big);
  await clientStream(client, '/shop.v1.Cart/BulkAdd',
    [Buffer.from('sku=SKU-1;qty=2'), big, Buffer.from('sku=SKU-3;qty=1')]);
  n = await bidi(client, '/shop.v1.Cart/Sync', [1, 2, 3, 4].map((i) => Buffer.from(`rev=${i}`)));
  expect(n === 4, 'Sync count');
}

async function scenarioBilling(client) {
  const md = new grpc.Metadata();
  md.add('authorization', 'Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJub2RlLWNsaWVudCJ9.c2ln');
  md.add('x-request-id', 'req-node-0001');
  let err = await unary(client, '/acme.billing.v1.Invoices/GetInvoice', Buffer.from('id=INV-2024-0001'), md);
  expect(!err, 'GetInvoice failed');
  err = await unary(client, '/acme.billing.v1.Invoices/DeleteInvoice', Buffer.from('id=INV-2024-0001'));
  expect(err && err.code === grpc.status.PERMISSION_DENIED, 'DeleteInvoice should be PERMISSION_DENIED');
  let n = await serverStream(client, '/acme.billing.v1.Ledger/WatchEntries', Buffer.from('account=ACME-1'));
  expect(n === 6, 'WatchEntries count');
  await clientStream(client, '/acme.billing.v1.Ledger/UploadEntries',
    [1, 2, 3, 4].map((i) => Buffer.from(`entry:${i};account=ACME-2`)));
  n = await bidi(client, '/acme.billing.v1.Ledger/Reconcile', [1, 2, 3].map((i) => Buffer.from(`batch:${i}`)));
  expect(n === 3, 'Reconcile count');
}

async function runClient(port, scenario) {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const scenarios = { unary: scenarioUnary, streaming: scenarioStreaming, billing: scenarioBilling };
  expect(scenarios[scenario], 'unknown scenario ' + scenario);
  await scenarios[scenario](client);
  client.close();
}

const [mode, port, scenario] = process.argv.slice(2);
if (mode === 'server') runServer(Number(port));
else if (mode === 'client') runClient(Number(port), scenario).catch((e) => { console.error(e); process.exit(1); });
else { console.error('usage: node cart.js server PORT | client PORT unary|streaming|billing'); process.exit(2); }
