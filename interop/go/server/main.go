// Command server is grpc.testing.TestService on grpc-go (Debian's 1.33), for
// Ferry's interop matrix.
//
//	server --port=PORT [--use_tls --cert_file=.. --key_file=..]
//
// grpc-go 1.33 compresses a response only when its request was compressed
// (there is no per-call choice), so response_compressed is not honoured:
// the server_compressed_* cases cannot run against this server. Whether a
// request message was compressed is read from a stats handler (wire length
// against decoded length), which the handler consults for expect_compressed.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"sync"
	"time"

	pb "ferryinterop/testpb"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	_ "google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
)

const (
	echoInitial  = "x-grpc-test-echo-initial"
	echoTrailing = "x-grpc-test-echo-trailing-bin"
)

// recvLog records, per call, whether each received message was compressed.
type recvLog struct {
	mu         sync.Mutex
	compressed []bool
}

type recvLogKey struct{}

func (l *recvLog) next() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.compressed) == 0 {
		return false
	}
	c := l.compressed[0]
	l.compressed = l.compressed[1:]
	return c
}

type compressionStats struct{}

func (compressionStats) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context {
	return context.WithValue(ctx, recvLogKey{}, &recvLog{})
}
func (compressionStats) HandleRPC(ctx context.Context, s stats.RPCStats) {
	if in, ok := s.(*stats.InPayload); ok {
		if l, ok := ctx.Value(recvLogKey{}).(*recvLog); ok {
			l.mu.Lock()
			// An uncompressed message travels as its bytes plus the 5-byte prefix.
			l.compressed = append(l.compressed, in.WireLength-5 != in.Length)
			l.mu.Unlock()
		}
	}
}
func (compressionStats) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}
func (compressionStats) HandleConn(context.Context, stats.ConnStats) {}

func lastCompressed(ctx context.Context) bool {
	if l, ok := ctx.Value(recvLogKey{}).(*recvLog); ok {
		return l.next()
	}
	return false
}

func payload(size int32) *pb.Payload {
	return &pb.Payload{Type: pb.PayloadType_COMPRESSABLE, Body: make([]byte, size)}
}

func echoStatus(s *pb.EchoStatus) error {
	if s != nil && s.Code != 0 {
		return status.Error(codes.Code(s.Code), s.Message)
	}
	return nil
}

// echoMetadata returns the initial and trailing metadata to echo.
func echoMetadata(ctx context.Context) (metadata.MD, metadata.MD) {
	in, _ := metadata.FromIncomingContext(ctx)
	header, trailer := metadata.MD{}, metadata.MD{}
	if v := in.Get(echoInitial); len(v) > 0 {
		header.Set(echoInitial, v...)
	}
	if v := in.Get(echoTrailing); len(v) > 0 {
		trailer.Set(echoTrailing, v...)
	}
	return header, trailer
}

type testServer struct {
	pb.UnimplementedTestServiceServer
}

func (*testServer) EmptyCall(ctx context.Context, _ *pb.Empty) (*pb.Empty, error) {
	return &pb.Empty{}, nil
}

func (*testServer) UnaryCall(ctx context.Context, req *pb.SimpleRequest) (*pb.SimpleResponse, error) {
	compressed := lastCompressed(ctx)
	header, trailer := echoMetadata(ctx)
	if len(header) > 0 {
		grpc.SetHeader(ctx, header)
	}
	if len(trailer) > 0 {
		grpc.SetTrailer(ctx, trailer)
	}
	if req.ResponseType != pb.PayloadType_COMPRESSABLE {
		return nil, status.Error(codes.InvalidArgument, "unsupported response_type")
	}
	if req.GetExpectCompressed().GetValue() && !compressed {
		return nil, status.Error(codes.InvalidArgument, "expected a compressed request")
	}
	if err := echoStatus(req.ResponseStatus); err != nil {
		return nil, err
	}
	return &pb.SimpleResponse{Payload: payload(req.ResponseSize)}, nil
}

type sender interface {
	Send(*pb.StreamingOutputCallResponse) error
}

func respond(s sender, params []*pb.ResponseParameters) error {
	for _, p := range params {
		if p.IntervalUs > 0 {
			time.Sleep(time.Duration(p.IntervalUs) * time.Microsecond)
		}
		if err := s.Send(&pb.StreamingOutputCallResponse{Payload: payload(p.Size)}); err != nil {
			return err
		}
	}
	return nil
}

func (*testServer) StreamingOutputCall(req *pb.StreamingOutputCallRequest, stream pb.TestService_StreamingOutputCallServer) error {
	header, trailer := echoMetadata(stream.Context())
	stream.SetHeader(header)
	stream.SetTrailer(trailer)
	if err := echoStatus(req.ResponseStatus); err != nil {
		return err
	}
	return respond(stream, req.ResponseParameters)
}

func (*testServer) StreamingInputCall(stream pb.TestService_StreamingInputCallServer) error {
	header, trailer := echoMetadata(stream.Context())
	stream.SetHeader(header)
	stream.SetTrailer(trailer)
	var total int32
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return stream.SendAndClose(&pb.StreamingInputCallResponse{AggregatedPayloadSize: total})
		}
		if err != nil {
			return err
		}
		compressed := lastCompressed(stream.Context())
		if req.GetExpectCompressed().GetValue() && !compressed {
			return status.Error(codes.InvalidArgument, "expected a compressed request")
		}
		total += int32(len(req.GetPayload().GetBody()))
	}
}

func (*testServer) FullDuplexCall(stream pb.TestService_FullDuplexCallServer) error {
	header, trailer := echoMetadata(stream.Context())
	stream.SetHeader(header)
	stream.SetTrailer(trailer)
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := echoStatus(req.ResponseStatus); err != nil {
			return err
		}
		if err := respond(stream, req.ResponseParameters); err != nil {
			return err
		}
	}
}

func (*testServer) HalfDuplexCall(stream pb.TestService_HalfDuplexCallServer) error {
	header, trailer := echoMetadata(stream.Context())
	stream.SetHeader(header)
	stream.SetTrailer(trailer)
	var reqs []*pb.StreamingOutputCallRequest
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		reqs = append(reqs, req)
	}
	for _, req := range reqs {
		if err := echoStatus(req.ResponseStatus); err != nil {
			return err
		}
		if err := respond(stream, req.ResponseParameters); err != nil {
			return err
		}
	}
	return nil
}

func main() {
	port := flag.Int("port", 0, "port to listen on")
	useTLS := flag.Bool("use_tls", false, "serve TLS")
	certFile := flag.String("cert_file", "", "server certificate (PEM)")
	keyFile := flag.String("key_file", "", "server key (PEM)")
	flag.Parse()
	opts := []grpc.ServerOption{grpc.StatsHandler(compressionStats{})}
	if *useTLS {
		creds, err := credentials.NewServerTLSFromFile(*certFile, *keyFile)
		if err != nil {
			log.Fatalf("tls: %v", err)
		}
		opts = append(opts, grpc.Creds(creds))
	}
	lis, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
	if err != nil {
		log.Fatalf("listen: %v", err)
	}
	s := grpc.NewServer(opts...)
	pb.RegisterTestServiceServer(s, &testServer{})
	fmt.Printf("listening on %s\n", lis.Addr())
	if err := s.Serve(lis); err != nil {
		log.Fatalf("serve: %v", err)
	}
}
