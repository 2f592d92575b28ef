#!/usr/bin/python3
"""Generic grpcio test server for the grpcwatch captures (no protoc codegen).

Messages are raw bytes (None (de)serializers). Services:
  demo.v1.Greeter   SayHello (unary), StreamGreetings (server streaming),
                    CollectGreetings (client streaming), Chat (bidi)
  demo.v1.Inventory GetItem (unary), ListItems (unary, large messages)

Usage: server.py PORT [--max-frame-size N] [--tls CERT KEY [--mtls CA]]
Prints "READY" on stdout once listening; exits on SIGTERM/SIGINT.
"""
import signal
import sys
import threading
from concurrent import futures

import grpc


def say_hello(request, context):
    md = dict(context.invocation_metadata())
    if "x-api-key" in md:
        # second call of python-unary-metadata: non-OK status with grpc-message
        context.abort(grpc.StatusCode.NOT_FOUND, "no such greeting")
    return b"hello, " + request


def stream_greetings(request, context):
    for i in range(11):
        yield b"greeting %02d for " % i + request


def collect_greetings(request_iterator, context):
    n = 0
    for _ in request_iterator:
        n += 1
    return b"collected %d greetings" % n


def chat(request_iterator, context):
    for req in request_iterator:
        yield b"re: " + req


def get_item(request, context):
    return b"item:" + request + b":qty=7"


def list_items(request, context):
    # request is b"SIZE:<n>" (optionally padded); answer with exactly n bytes
    head = request.split(b"|", 1)[0]
    n = int(head.split(b":", 1)[1])
    return (b"ITEMS" * (n // 5 + 1))[:n]


def raw_unary(fn):
    return grpc.unary_unary_rpc_method_handler(fn)


def main():
    port = int(sys.argv[1])
    args = sys.argv[2:]
    options = []
    if args and args[0] == "--max-frame-size":
        # advertise SETTINGS_MAX_FRAME_SIZE N (grpc-core's default is 4 MiB - 1,
        # which would let a 20 KB request travel in one DATA frame)
        # (BDP probing must be off: with it on, grpc-core's flow control
        # overrides the advertised frame size)
        options.append(("grpc.http2.max_frame_size", int(args[1])))
        options.append(("grpc.http2.bdp_probe", 0))
        args = args[2:]
    creds = None
    if args and args[0] == "--tls":
        cert = open(args[1], "rb").read()
        key = open(args[2], "rb").read()
        ca = None
        require = False
        if len(args) >= 5 and args[3] == "--mtls":
            ca = open(args[4], "rb").read()
            require = True
        creds = grpc.ssl_server_credentials([(key, cert)], root_certificates=ca,
                                            require_client_auth=require)

    greeter = grpc.method_handlers_generic_handler("demo.v1.Greeter", {
        "SayHello": grpc.unary_unary_rpc_method_handler(say_hello),
        "StreamGreetings": grpc.unary_stream_rpc_method_handler(stream_greetings),
        "CollectGreetings": grpc.stream_unary_rpc_method_handler(collect_greetings),
        "Chat": grpc.stream_stream_rpc_method_handler(chat),
    })
    inventory = grpc.method_handlers_generic_handler("demo.v1.Inventory", {
        "GetItem": grpc.unary_unary_rpc_method_handler(get_item),
        "ListItems": grpc.unary_unary_rpc_method_handler(list_items),
    })
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4),
                         handlers=[greeter, inventory], options=options)
    addr = "127.0.0.1:%d" % port
    if creds is None:
        bound = server.add_insecure_port(addr)
    else:
        bound = server.add_secure_port(addr, creds)
    if bound != port:
        sys.exit("could not bind %s" % addr)
    server.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    print("READY", flush=True)
    while not stop.wait(0.2):
        pass
    server.stop(0.5).wait()


if __name__ == "__main__":
    main()
