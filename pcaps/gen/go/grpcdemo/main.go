// grpcdemo: a grpc-go (Debian golang-google-grpc-dev 1.33.3) client and server
// used by pcaps/gen/gen-go.sh to produce real gRPC captures.
//
// No protoc codegen: messages are raw []byte, carried by a pass-through codec
// (client: grpc.ForceCodec; server: grpc.CustomCodec) and a hand-written
// grpc.ServiceDesc per service. On the wire the content-type stays
// "application/grpc" (the codec does not set a content-subtype).
//
// Usage:
//
//	grpcdemo server -addr 127.0.0.1:50201
//	grpcdemo client -addr 127.0.0.1:50201 -scenario unary|streaming|mixed
//
// Scenarios (all calls on ONE connection, started strictly one after another):
//
//	unary:     /acme.billing.v1.Invoices/GetInvoice     md authorization + x-request-id -> OK
//	           /acme.billing.v1.Invoices/DeleteInvoice  md x-request-id -> PERMISSION_DENIED "caller lacks invoices.read"
//	           /acme.billing.v1.Invoices/ListInvoices   5 s deadline (grpc-timeout), no md -> OK
//	streaming: /acme.billing.v1.Ledger/WatchEntries     server streaming 1 req / 6 resp
//	           /acme.billing.v1.Ledger/UploadEntries    client streaming 4 req / 1 resp
//	           /acme.billing.v1.Ledger/Reconcile        bidi 3 req / 3 resp
//	mixed:     unary scenario followed by streaming scenario (used against a
//	           python grpcio server)
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// rawCodec passes []byte through unchanged.
type rawCodec struct{}

func (rawCodec) Marshal(v interface{}) ([]byte, error) {
	switch b := v.(type) {
	case []byte:
		return b, nil
	case *[]byte:
		return *b, nil
	}
	return nil, fmt.Errorf("rawCodec: cannot marshal %T", v)
}

func (rawCodec) Unmarshal(data []byte, v interface{}) error {
	p, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("rawCodec: cannot unmarshal into %T", v)
	}
	*p = append([]byte(nil), data...)
	return nil
}

func (rawCodec) Name() string   { return "raw" }
func (rawCodec) String() string { return "raw" }

// ---------------------------------------------------------------- server

type server struct{}

func unaryHandler(fn func(ctx context.Context, req []byte) ([]byte, error)) func(interface{}, context.Context, func(interface{}) error, grpc.UnaryServerInterceptor) (interface{}, error) {
	return func(_ interface{}, ctx context.Context, dec func(interface{}) error, _ grpc.UnaryServerInterceptor) (interface{}, error) {
		var req []byte
		if err := dec(&req); err != nil {
			return nil, err
		}
		resp, err := fn(ctx, req)
		if err != nil {
			return nil, err
		}
		return resp, nil
	}
}

var invoicesDesc = grpc.ServiceDesc{
	ServiceName: "acme.billing.v1.Invoices",
	HandlerType: (*interface{})(nil),
	Methods: []grpc.MethodDesc{
		{MethodName: "GetInvoice", Handler: unaryHandler(func(ctx context.Context, req []byte) ([]byte, error) {
			return []byte("invoice:INV-2024-0001;amount=4200;currency=EUR"), nil
		})},
		{MethodName: "DeleteInvoice", Handler: unaryHandler(func(ctx context.Context, req []byte) ([]byte, error) {
			return nil, status.Error(codes.PermissionDenied, "caller lacks invoices.read")
		})},
		{MethodName: "ListInvoices", Handler: unaryHandler(func(ctx context.Context, req []byte) ([]byte, error) {
			return []byte("invoices:INV-2024-0001,INV-2024-0002"), nil
		})},
	},
	Metadata: "acme/billing/v1/invoices.proto",
}

var ledgerDesc = grpc.ServiceDesc{
	ServiceName: "acme.billing.v1.Ledger",
	HandlerType: (*interface{})(nil),
	Streams: []grpc.StreamDesc{
		{StreamName: "WatchEntries", ServerStreams: true, Handler: func(_ interface{}, st grpc.ServerStream) error {
			var req []byte
			if err := st.RecvMsg(&req); err != nil {
				return err
			}
			for i := 1; i <= 6; i++ {
				if err := st.SendMsg([]byte(fmt.Sprintf("entry:%d;account=ACME-1;delta=+%d00", i, i))); err != nil {
					return err
				}
			}
			return nil
		}},
		{StreamName: "UploadEntries", ClientStreams: true, Handler: func(_ interface{}, st grpc.ServerStream) error {
			n := 0
			for {
				var req []byte
				err := st.RecvMsg(&req)
				if err == io.EOF {
					break
				}
				if err != nil {
					return err
				}
				n++
			}
			return st.SendMsg([]byte(fmt.Sprintf("accepted:%d", n)))
		}},
		{StreamName: "Reconcile", ServerStreams: true, ClientStreams: true, Handler: func(_ interface{}, st grpc.ServerStream) error {
			for {
				var req []byte
				err := st.RecvMsg(&req)
				if err == io.EOF {
					return nil
				}
				if err != nil {
					return err
				}
				if err := st.SendMsg(append([]byte("ack:"), req...)); err != nil {
					return err
				}
			}
		}},
	},
	Metadata: "acme/billing/v1/ledger.proto",
}

func runServer(addr string) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatalf("listen: %v", err)
	}
	s := grpc.NewServer(grpc.CustomCodec(rawCodec{}))
	s.RegisterService(&invoicesDesc, &server{})
	s.RegisterService(&ledgerDesc, &server{})
	log.Printf("grpc-go %s server listening on %s", grpc.Version, addr)
	if err := s.Serve(lis); err != nil {
		log.Fatalf("serve: %v", err)
	}
}

// ---------------------------------------------------------------- client

func must(err error, what string) {
	if err != nil {
		log.Fatalf("%s: %v", what, err)
	}
}

func unaryScenario(conn *grpc.ClientConn) {
	// 1. OK call with credentials + request id.
	ctx := metadata.AppendToOutgoingContext(context.Background(),
		"authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhY21lLWNsaWVudCJ9.c2lnbmF0dXJl",
		"x-request-id", "req-7f3a9c2e-0001")
	var resp []byte
	must(conn.Invoke(ctx, "/acme.billing.v1.Invoices/GetInvoice", []byte("id=INV-2024-0001"), &resp), "GetInvoice")
	log.Printf("GetInvoice -> %q", resp)

	// 2. PERMISSION_DENIED.
	ctx = metadata.AppendToOutgoingContext(context.Background(), "x-request-id", "req-7f3a9c2e-0002")
	err := conn.Invoke(ctx, "/acme.billing.v1.Invoices/DeleteInvoice", []byte("id=INV-2024-0001"), &resp)
	if status.Code(err) != codes.PermissionDenied {
		log.Fatalf("DeleteInvoice: want PermissionDenied, got %v", err)
	}
	log.Printf("DeleteInvoice -> %v", err)

	// 3. deadline -> grpc-timeout header.
	dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	must(conn.Invoke(dctx, "/acme.billing.v1.Invoices/ListInvoices", []byte("customer=ACME-1"), &resp), "ListInvoices")
	log.Printf("ListInvoices -> %q", resp)
}

func streamingScenario(conn *grpc.ClientConn) {
	ctx := context.Background()

	// server streaming: 1 req, 6 resp
	st, err := conn.NewStream(ctx, &grpc.StreamDesc{StreamName: "WatchEntries", ServerStreams: true}, "/acme.billing.v1.Ledger/WatchEntries")
	must(err, "WatchEntries")
	must(st.SendMsg([]byte("account=ACME-1")), "WatchEntries send")
	must(st.CloseSend(), "WatchEntries closesend")
	n := 0
	for {
		var m []byte
		err := st.RecvMsg(&m)
		if err == io.EOF {
			break
		}
		must(err, "WatchEntries recv")
		n++
	}
	log.Printf("WatchEntries -> %d messages", n)

	// client streaming: 4 req, 1 resp
	st, err = conn.NewStream(ctx, &grpc.StreamDesc{StreamName: "UploadEntries", ClientStreams: true}, "/acme.billing.v1.Ledger/UploadEntries")
	must(err, "UploadEntries")
	for i := 1; i <= 4; i++ {
		must(st.SendMsg([]byte(fmt.Sprintf("entry:%d;account=ACME-2;delta=-%d0", i, i))), "UploadEntries send")
	}
	must(st.CloseSend(), "UploadEntries closesend")
	var m []byte
	must(st.RecvMsg(&m), "UploadEntries recv")
	if err := st.RecvMsg(&m); err != io.EOF {
		log.Fatalf("UploadEntries: want EOF, got %v", err)
	}
	log.Printf("UploadEntries -> %q", m)

	// bidi: 3 req / 3 resp, ping-pong
	st, err = conn.NewStream(ctx, &grpc.StreamDesc{StreamName: "Reconcile", ServerStreams: true, ClientStreams: true}, "/acme.billing.v1.Ledger/Reconcile")
	must(err, "Reconcile")
	for i := 1; i <= 3; i++ {
		must(st.SendMsg([]byte(fmt.Sprintf("batch:%d", i))), "Reconcile send")
		var r []byte
		must(st.RecvMsg(&r), "Reconcile recv")
	}
	must(st.CloseSend(), "Reconcile closesend")
	if err := st.RecvMsg(&m); err != io.EOF {
		log.Fatalf("Reconcile: want EOF, got %v", err)
	}
	log.Printf("Reconcile -> done")
}

func runClient(addr, scenario string) {
	conn, err := grpc.Dial(addr, grpc.WithInsecure(), grpc.WithBlock(),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
	must(err, "dial")
	defer conn.Close()
	switch scenario {
	case "unary":
		unaryScenario(conn)
	case "streaming":
		streamingScenario(conn)
	case "mixed":
		unaryScenario(conn)
		streamingScenario(conn)
	default:
		log.Fatalf("unknown scenario %q", scenario)
	}
}

func main() {
	if len(os.Args) < 2 {
		log.Fatalf("usage: %s server|client [flags]", os.Args[0])
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:50201", "address")
	scenario := fs.String("scenario", "unary", "client scenario: unary|streaming|mixed")
	fs.Parse(os.Args[2:])
	switch os.Args[1] {
	case "server":
		runServer(*addr)
	case "client":
		runClient(*addr, *scenario)
	default:
		log.Fatalf("unknown mode %q", os.Args[1])
	}
}
