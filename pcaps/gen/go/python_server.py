#!/usr/bin/python3
"""grpcio (Debian python3-grpcio) server implementing the same raw-bytes
acme.billing.v1.Invoices / acme.billing.v1.Ledger services as grpcdemo/main.go.

Used by pcaps/gen/gen-go.sh for go-client-python-server.pcap (grpc-go client ->
python grpcio server).  Generic handlers, no codegen: (de)serializers are None,
so messages are plain bytes.

Usage: /usr/bin/python3 python_server.py 127.0.0.1:50203
"""
import sys
from concurrent import futures

import grpc


def get_invoice(request, context):
    return b"invoice:INV-2024-0001;amount=4200;currency=EUR"


def delete_invoice(request, context):
    context.abort(grpc.StatusCode.PERMISSION_DENIED, "caller lacks invoices.read")


def list_invoices(request, context):
    return b"invoices:INV-2024-0001,INV-2024-0002"


def watch_entries(request, context):
    for i in range(1, 7):
        yield b"entry:%d;account=ACME-1;delta=+%d00" % (i, i)


def upload_entries(request_iterator, context):
    n = sum(1 for _ in request_iterator)
    return b"accepted:%d" % n


def reconcile(request_iterator, context):
    for req in request_iterator:
        yield b"ack:" + req


def main():
    addr = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:50203"
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((
        grpc.method_handlers_generic_handler("acme.billing.v1.Invoices", {
            "GetInvoice": grpc.unary_unary_rpc_method_handler(get_invoice),
            "DeleteInvoice": grpc.unary_unary_rpc_method_handler(delete_invoice),
            "ListInvoices": grpc.unary_unary_rpc_method_handler(list_invoices),
        }),
        grpc.method_handlers_generic_handler("acme.billing.v1.Ledger", {
            "WatchEntries": grpc.unary_stream_rpc_method_handler(watch_entries),
            "UploadEntries": grpc.stream_unary_rpc_method_handler(upload_entries),
            "Reconcile": grpc.stream_stream_rpc_method_handler(reconcile),
        }),
    ))
    if server.add_insecure_port(addr) == 0:
        sys.exit("cannot bind " + addr)
    server.start()
    print("grpcio %s server listening on %s" % (grpc.__version__, addr), flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
