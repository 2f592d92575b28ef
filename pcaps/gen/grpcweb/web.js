'use strict';
// web.js: the three programs of pcaps/gen/gen-grpcweb.sh, all real implementations from npm.
//
//   node web.js server PORT                 shop.v1.Cart on @grpc/grpc-js, cleartext HTTP/2 on 127.0.0.1:PORT
//   node web.js proxy PORT BACKEND_PORT     gRPC-Web -> gRPC translator: @grpc-web/middleware mounted on
//                                           node's http (HTTP/1.1) server on 127.0.0.1:PORT; each call
//                                           opens its own HTTP/2 connection to 127.0.0.1:BACKEND_PORT
//   node web.js client PORT                 @protobuf-ts/grpcweb-transport over node's fetch (undici,
//                                           HTTP/1.1 keep-alive): the calls listed in CALLS below
//
// No protoc: messages are raw bytes. The client's MethodInfo uses an identity
// "message type" (toBinary/fromBinary pass bytes through); the server uses
// identity (de)serializers and a hand-made service definition, like
// pcaps/gen/node/cart.js.

const id = (b) => b;

// ------------------------------------------------------------------ server (grpc-js)

function runServer(port) {
  const grpc = require('@grpc/grpc-js');
  const method = (name, responseStream) => ({
    path: '/shop.v1.Cart/' + name, requestStream: false, responseStream,
    requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id,
  });
  const service = {
    AddItem: method('AddItem', false),
    Checkout: method('Checkout', false),
    WatchCart: method('WatchCart', true),
  };
  const server = new grpc.Server();
  server.addService(service, {
    AddItem(call, cb) { cb(null, Buffer.from('cart:C-2002;items=1;total=2499')); },
    Checkout(call, cb) {
      cb({ code: grpc.status.FAILED_PRECONDITION, details: 'cart C-2002 is empty: add an item first' });
    },
    WatchCart(call) {
      for (let i = 1; i <= 5; i++) call.write(Buffer.from(`cart:C-2002;rev=${i}`));
      call.end();
    },
  });
  server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => {
    if (err) { console.error(err); process.exit(1); }
    console.log(`grpc-js ${require('@grpc/grpc-js/package.json').version} server listening on 127.0.0.1:${p}`);
  });
  process.on('SIGTERM', () => server.tryShutdown(() => process.exit(0)));
}

// ------------------------------------------------------------------ proxy (@grpc-web/middleware)

function runProxy(port, backend) {
  const http = require('node:http');
  const grpcWeb = require('@grpc-web/middleware');
  const handler = grpcWeb(`http://127.0.0.1:${backend}`);
  const server = http.createServer((req, res) => handler(req, res, () => {
    res.statusCode = 404;
    res.end();
  }));
  server.listen(port, '127.0.0.1', () => {
    console.log(`@grpc-web/middleware ${require('@grpc-web/middleware/package.json').version} ` +
      `on node http listening on 127.0.0.1:${port} -> 127.0.0.1:${backend}`);
  });
  process.on('SIGTERM', () => { server.close(); server.closeAllConnections(); process.exit(0); });
}

// ------------------------------------------------------------------ client (@protobuf-ts/grpcweb-transport)

const CALLS = [
  // [format, method, streaming, metadata, expected status, expected response messages]
  ['binary', 'AddItem', false,
    { authorization: 'Bearer web_live_7d3e9a41c0b2', 'x-session-token': 'st-web-a1b2c3d4e5f6' }, 0, 1],
  ['binary', 'Checkout', false, { authorization: 'Bearer web_live_7d3e9a41c0b2' }, 9, 0],
  ['binary', 'WatchCart', true, {}, 0, 5],
  ['text', 'AddItem', false, { authorization: 'Bearer web_live_7d3e9a41c0b2' }, 0, 1],
  ['text', 'Checkout', false, {}, 9, 0],
  ['text', 'WatchCart', true, { 'x-request-id': 'req-web-0006' }, 0, 5],
];

const REQUEST = { AddItem: 'sku=SKU-77;qty=2', Checkout: 'cart=C-2002', WatchCart: 'cart=C-2002' };

async function runClient(port) {
  const { GrpcWebFetchTransport } = require('@protobuf-ts/grpcweb-transport');
  const { RpcError } = require('@protobuf-ts/runtime-rpc');
  const bytesType = { toBinary: (m) => m, fromBinary: (b) => Buffer.from(b) };
  const service = { typeName: 'shop.v1.Cart', methods: [], options: {} };
  const methodInfo = (name, streaming) => ({
    service, name, localName: name, I: bytesType, O: bytesType,
    serverStreaming: streaming, clientStreaming: false, options: {}, idempotency: undefined,
  });
  const transport = new GrpcWebFetchTransport({ baseUrl: `http://127.0.0.1:${port}` });
  for (const [format, name, streaming, meta, wantStatus, wantMsgs] of CALLS) {
    // fetch() hands the keep-alive socket back to its pool a moment after the body ends;
    // without a pause the next call may open a second connection (it did, nondeterministically).
    await new Promise((r) => setTimeout(r, 150));
    const m = methodInfo(name, streaming);
    const opts = transport.mergeOptions({ format, meta });
    const input = Buffer.from(REQUEST[name]);
    let n = 0, code;
    try {
      if (streaming) {
        const call = transport.serverStreaming(m, input, opts);
        for await (const msg of call.responses) { void msg; n++; }
        code = (await call.status).code;
      } else {
        const call = transport.unary(m, input, opts);
        await call.response;
        n = 1;
        code = (await call.status).code;
      }
    } catch (e) {
      if (!(e instanceof RpcError)) throw e;
      code = e.code;
      console.log(`  RpcError ${e.code}: ${e.message}`);
    }
    console.log(`${format} /shop.v1.Cart/${name} -> ${n} messages, status ${code}`);
    const want = wantStatus === 0 ? 'OK' : 'FAILED_PRECONDITION';
    if (code !== want || n !== wantMsgs) {
      console.error(`unexpected: want ${want} and ${wantMsgs} messages`);
      process.exit(1);
    }
  }
}

const [mode, a, b] = process.argv.slice(2);
if (mode === 'server') runServer(Number(a));
else if (mode === 'proxy') runProxy(Number(a), Number(b));
else if (mode === 'client') runClient(Number(a)).catch((e) => { console.error(e); process.exit(1); });
else { console.error('usage: node web.js server PORT | proxy PORT BACKEND_PORT | client PORT'); process.exit(2); }
