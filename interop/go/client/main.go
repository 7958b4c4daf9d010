// Command client is a grpc.testing interop client on grpc-go (Debian's
// 1.33), for Ferry's interop matrix.
//
//	client --server_host=127.0.0.1 --server_port=PORT --test_case=CASE[,CASE..|all]
//	       [--use_tls --use_test_ca --ca_file=.. --server_host_override=..]
//
// It prints one line per case: RESULT <tab> case <tab> pass|fail|unsupported
// <tab> detail, and exits 1 if any case failed. Whether a response message
// was compressed is read from a stats handler (wire length against decoded
// length). grpc-go has no per-message compression switch for requests, so
// client_compressed_streaming is not supported. grpc-go 1.33 sends
// grpc-accept-encoding only with a compressed request, so the
// server_compressed_* cases list gzip (the compressor this client registers)
// in it themselves: a server that compresses only what a client lists would
// otherwise have to answer them uncompressed.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	pb "ferryinterop/testpb"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
)

var cases = []string{
	"empty_unary", "large_unary", "client_compressed_unary", "server_compressed_unary",
	"client_streaming", "client_compressed_streaming", "server_streaming",
	"server_compressed_streaming", "ping_pong", "empty_stream", "custom_metadata",
	"status_code_and_message", "special_status_message", "unimplemented_method",
	"unimplemented_service", "cancel_after_begin", "cancel_after_first_response",
	"timeout_on_sleeping_server", "concurrent_large_unary", "rpc_soak", "channel_soak",
}

const callTimeout = 30 * time.Second

var (
	serverHost     = flag.String("server_host", "127.0.0.1", "server host")
	serverPort     = flag.Int("server_port", 0, "server port")
	hostOverride   = flag.String("server_host_override", "", "TLS name and :authority")
	testCase       = flag.String("test_case", "all", "case, comma-separated cases, or all")
	useTLS         = flag.Bool("use_tls", false, "connect with TLS")
	useTestCA      = flag.Bool("use_test_ca", false, "trust --ca_file instead of the system roots")
	caFile         = flag.String("ca_file", "", "test CA (PEM)")
	soakIterations = flag.Int("soak_iterations", 10, "calls in rpc_soak and channel_soak")
)

// unsupported marks a case grpc-go cannot run.
type unsupported string

func (u unsupported) Error() string { return string(u) }

// recvLog records whether each response message of a call was compressed.
type recvLog struct {
	mu         sync.Mutex
	compressed []bool
}

type recvLogKey struct{}

type compressionStats struct{}

func (compressionStats) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (compressionStats) HandleRPC(ctx context.Context, s stats.RPCStats) {
	if in, ok := s.(*stats.InPayload); ok && in.Client {
		if l, ok := ctx.Value(recvLogKey{}).(*recvLog); ok {
			l.mu.Lock()
			l.compressed = append(l.compressed, in.WireLength-5 != in.Length)
			l.mu.Unlock()
		}
	}
}
func (compressionStats) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}
func (compressionStats) HandleConn(context.Context, stats.ConnStats) {}

func dial() (*grpc.ClientConn, error) {
	target := net.JoinHostPort(*serverHost, strconv.Itoa(*serverPort))
	opts := []grpc.DialOption{grpc.WithStatsHandler(compressionStats{}), grpc.WithBlock(),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(16 << 20))}
	if *useTLS {
		var creds credentials.TransportCredentials
		if *useTestCA {
			c, err := credentials.NewClientTLSFromFile(*caFile, *hostOverride)
			if err != nil {
				return nil, err
			}
			creds = c
		} else {
			creds = credentials.NewClientTLSFromCert(nil, *hostOverride)
		}
		opts = append(opts, grpc.WithTransportCredentials(creds))
	} else {
		opts = append(opts, grpc.WithInsecure())
		if *hostOverride != "" {
			opts = append(opts, grpc.WithAuthority(*hostOverride))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	return grpc.DialContext(ctx, target, opts...)
}

func ctxTimeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), callTimeout)
}

func payload(size int) *pb.Payload { return &pb.Payload{Body: make([]byte, size)} }

func checkBody(p *pb.Payload, size int) error {
	body := p.GetBody()
	if len(body) != size {
		return fmt.Errorf("payload: %d bytes, want %d", len(body), size)
	}
	if !bytes.Equal(body, make([]byte, size)) {
		return errors.New("payload: not all zeros")
	}
	return nil
}

func expectCode(err error, code codes.Code, message *string) error {
	if err == nil {
		return fmt.Errorf("call succeeded, want %v", code)
	}
	s := status.Convert(err)
	if s.Code() != code {
		return fmt.Errorf("status %v (%q), want %v", s.Code(), s.Message(), code)
	}
	if message != nil && s.Message() != *message {
		return fmt.Errorf("message %q, want %q", s.Message(), *message)
	}
	return nil
}

func largeRequest() *pb.SimpleRequest {
	return &pb.SimpleRequest{ResponseSize: 314159, Payload: payload(271828)}
}

type client struct {
	conn *grpc.ClientConn
	tc   pb.TestServiceClient
}

func (c *client) emptyUnary() error {
	ctx, cancel := ctxTimeout()
	defer cancel()
	r, err := c.tc.EmptyCall(ctx, &pb.Empty{})
	if err != nil {
		return err
	}
	if r == nil {
		return errors.New("nil reply")
	}
	return nil
}

func largeUnary(tc pb.TestServiceClient) error {
	ctx, cancel := ctxTimeout()
	defer cancel()
	r, err := tc.UnaryCall(ctx, largeRequest())
	if err != nil {
		return err
	}
	return checkBody(r.Payload, 314159)
}

func (c *client) clientCompressedUnary() error {
	ctx, cancel := ctxTimeout()
	defer cancel()
	req := largeRequest()
	req.ExpectCompressed = &pb.BoolValue{Value: true}
	if err := expectCode(func() error { _, err := c.tc.UnaryCall(ctx, req); return err }(), codes.InvalidArgument, nil); err != nil {
		return fmt.Errorf("probe: %v", err)
	}
	for _, compressed := range []bool{true, false} {
		req := largeRequest()
		req.ExpectCompressed = &pb.BoolValue{Value: compressed}
		var opts []grpc.CallOption
		if compressed {
			opts = append(opts, grpc.UseCompressor(gzip.Name))
		}
		r, err := c.tc.UnaryCall(ctx, req, opts...)
		if err != nil {
			return err
		}
		if err := checkBody(r.Payload, 314159); err != nil {
			return err
		}
	}
	return nil
}

func withRecvLog() (context.Context, context.CancelFunc, *recvLog) {
	l := &recvLog{}
	ctx, cancel := ctxTimeout()
	return context.WithValue(ctx, recvLogKey{}, l), cancel, l
}

// acceptGzip tells the server that this client decompresses gzip, which
// grpc-go 1.33 says only when its own request is compressed.
func acceptGzip(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "grpc-accept-encoding", "gzip")
}

func checkFlags(l *recvLog, want []bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.compressed) != len(want) {
		return fmt.Errorf("saw %d messages, want %d", len(l.compressed), len(want))
	}
	for i := range want {
		if l.compressed[i] != want[i] {
			return fmt.Errorf("response %d: compressed flag %v, want %v", i, l.compressed[i], want[i])
		}
	}
	return nil
}

func (c *client) serverCompressedUnary() error {
	for _, compressed := range []bool{true, false} {
		ctx, cancel, l := withRecvLog()
		req := largeRequest()
		req.ResponseCompressed = &pb.BoolValue{Value: compressed}
		r, err := c.tc.UnaryCall(acceptGzip(ctx), req)
		cancel()
		if err != nil {
			return err
		}
		if err := checkBody(r.Payload, 314159); err != nil {
			return err
		}
		if err := checkFlags(l, []bool{compressed}); err != nil {
			return err
		}
	}
	return nil
}

func (c *client) clientStreaming() error {
	ctx, cancel := ctxTimeout()
	defer cancel()
	s, err := c.tc.StreamingInputCall(ctx)
	if err != nil {
		return err
	}
	for _, n := range []int{27182, 8, 1828, 45904} {
		if err := s.Send(&pb.StreamingInputCallRequest{Payload: payload(n)}); err != nil {
			return err
		}
	}
	r, err := s.CloseAndRecv()
	if err != nil {
		return err
	}
	if r.AggregatedPayloadSize != 74922 {
		return fmt.Errorf("aggregated %d, want 74922", r.AggregatedPayloadSize)
	}
	return nil
}

func (c *client) clientCompressedStreaming() error {
	return unsupported("grpc-go has no per-message compression switch for requests")
}

func (c *client) serverStreaming() error {
	sizes := []int{31415, 9, 2653, 58979}
	req := &pb.StreamingOutputCallRequest{}
	for _, n := range sizes {
		req.ResponseParameters = append(req.ResponseParameters, &pb.ResponseParameters{Size: int32(n)})
	}
	ctx, cancel := ctxTimeout()
	defer cancel()
	s, err := c.tc.StreamingOutputCall(ctx, req)
	if err != nil {
		return err
	}
	return recvSizes(s, sizes)
}

type receiver interface {
	Recv() (*pb.StreamingOutputCallResponse, error)
}

func recvSizes(s receiver, sizes []int) error {
	for i, n := range sizes {
		r, err := s.Recv()
		if err != nil {
			return fmt.Errorf("response %d: %v", i, err)
		}
		if err := checkBody(r.Payload, n); err != nil {
			return err
		}
	}
	if _, err := s.Recv(); err != io.EOF {
		return fmt.Errorf("after %d responses: %v, want the end", len(sizes), err)
	}
	return nil
}

func (c *client) serverCompressedStreaming() error {
	ctx, cancel, l := withRecvLog()
	defer cancel()
	req := &pb.StreamingOutputCallRequest{ResponseParameters: []*pb.ResponseParameters{
		{Size: 31415, Compressed: &pb.BoolValue{Value: true}},
		{Size: 92653, Compressed: &pb.BoolValue{Value: false}},
	}}
	s, err := c.tc.StreamingOutputCall(acceptGzip(ctx), req)
	if err != nil {
		return err
	}
	if err := recvSizes(s, []int{31415, 92653}); err != nil {
		return err
	}
	return checkFlags(l, []bool{true, false})
}

func (c *client) pingPong() error {
	ctx, cancel := ctxTimeout()
	defer cancel()
	s, err := c.tc.FullDuplexCall(ctx)
	if err != nil {
		return err
	}
	for _, p := range [][2]int{{31415, 27182}, {9, 8}, {2653, 1828}, {58979, 45904}} {
		req := &pb.StreamingOutputCallRequest{
			ResponseParameters: []*pb.ResponseParameters{{Size: int32(p[0])}},
			Payload:            payload(p[1]),
		}
		if err := s.Send(req); err != nil {
			return err
		}
		r, err := s.Recv()
		if err != nil {
			return err
		}
		if err := checkBody(r.Payload, p[0]); err != nil {
			return err
		}
	}
	s.CloseSend()
	if _, err := s.Recv(); err != io.EOF {
		return fmt.Errorf("after four responses: %v, want the end", err)
	}
	return nil
}

func (c *client) emptyStream() error {
	ctx, cancel := ctxTimeout()
	defer cancel()
	s, err := c.tc.FullDuplexCall(ctx)
	if err != nil {
		return err
	}
	s.CloseSend()
	if _, err := s.Recv(); err != io.EOF {
		return fmt.Errorf("%v, want the end", err)
	}
	return nil
}

func checkEcho(header, trailer metadata.MD) error {
	if v := header.Get("x-grpc-test-echo-initial"); len(v) != 1 || v[0] != "test_initial_metadata_value" {
		return fmt.Errorf("initial metadata %v", header)
	}
	if v := trailer.Get("x-grpc-test-echo-trailing-bin"); len(v) != 1 || v[0] != "\xab\xab\xab" {
		return fmt.Errorf("trailing metadata %v", trailer)
	}
	return nil
}

func (c *client) customMetadata() error {
	md := metadata.Pairs("x-grpc-test-echo-initial", "test_initial_metadata_value",
		"x-grpc-test-echo-trailing-bin", "\xab\xab\xab")
	ctx, cancel := ctxTimeout()
	defer cancel()
	ctx = metadata.NewOutgoingContext(ctx, md)
	var header, trailer metadata.MD
	r, err := c.tc.UnaryCall(ctx, largeRequest(), grpc.Header(&header), grpc.Trailer(&trailer))
	if err != nil {
		return err
	}
	if err := checkBody(r.Payload, 314159); err != nil {
		return err
	}
	if err := checkEcho(header, trailer); err != nil {
		return fmt.Errorf("unary: %v", err)
	}
	s, err := c.tc.FullDuplexCall(ctx)
	if err != nil {
		return err
	}
	req := &pb.StreamingOutputCallRequest{
		ResponseParameters: []*pb.ResponseParameters{{Size: 314159}},
		Payload:            payload(271828),
	}
	if err := s.Send(req); err != nil {
		return err
	}
	s.CloseSend()
	if err := recvSizes(s, []int{314159}); err != nil {
		return err
	}
	h, err := s.Header()
	if err != nil {
		return err
	}
	if err := checkEcho(h, s.Trailer()); err != nil {
		return fmt.Errorf("full duplex: %v", err)
	}
	return nil
}

func (c *client) statusCodeAndMessage(message string, duplex bool) error {
	ctx, cancel := ctxTimeout()
	defer cancel()
	echo := &pb.EchoStatus{Code: 2, Message: message}
	_, err := c.tc.UnaryCall(ctx, &pb.SimpleRequest{ResponseStatus: echo})
	if err := expectCode(err, codes.Unknown, &message); err != nil {
		return fmt.Errorf("unary: %v", err)
	}
	if !duplex {
		return nil
	}
	s, err := c.tc.FullDuplexCall(ctx)
	if err != nil {
		return err
	}
	if err := s.Send(&pb.StreamingOutputCallRequest{ResponseStatus: echo}); err != nil {
		return err
	}
	s.CloseSend()
	_, err = s.Recv()
	if err := expectCode(err, codes.Unknown, &message); err != nil {
		return fmt.Errorf("full duplex: %v", err)
	}
	return nil
}

func (c *client) unimplementedMethod() error {
	ctx, cancel := ctxTimeout()
	defer cancel()
	_, err := c.tc.UnimplementedCall(ctx, &pb.Empty{})
	return expectCode(err, codes.Unimplemented, nil)
}

func (c *client) unimplementedService() error {
	ctx, cancel := ctxTimeout()
	defer cancel()
	_, err := pb.NewUnimplementedServiceClient(c.conn).UnimplementedCall(ctx, &pb.Empty{})
	return expectCode(err, codes.Unimplemented, nil)
}

func (c *client) cancelAfterBegin() error {
	ctx, cancel := context.WithCancel(context.Background())
	s, err := c.tc.StreamingInputCall(ctx)
	if err != nil {
		cancel()
		return err
	}
	cancel()
	_, err = s.CloseAndRecv()
	return expectCode(err, codes.Canceled, nil)
}

func (c *client) cancelAfterFirstResponse() error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := c.tc.FullDuplexCall(ctx)
	if err != nil {
		return err
	}
	req := &pb.StreamingOutputCallRequest{
		ResponseParameters: []*pb.ResponseParameters{{Size: 31415}},
		Payload:            payload(27182),
	}
	if err := s.Send(req); err != nil {
		return err
	}
	r, err := s.Recv()
	if err != nil {
		return err
	}
	if err := checkBody(r.Payload, 31415); err != nil {
		return err
	}
	cancel()
	_, err = s.Recv()
	return expectCode(err, codes.Canceled, nil)
}

func (c *client) timeoutOnSleepingServer() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	s, err := c.tc.FullDuplexCall(ctx)
	if err != nil {
		return expectCode(err, codes.DeadlineExceeded, nil)
	}
	// The send may already fail: the deadline is what the case is about.
	s.Send(&pb.StreamingOutputCallRequest{Payload: payload(27182)})
	_, err = s.Recv()
	return expectCode(err, codes.DeadlineExceeded, nil)
}

func (c *client) concurrentLargeUnary() error {
	errs := make(chan error, 1000)
	var wg sync.WaitGroup
	for i := 0; i < 1000; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
			defer cancel()
			r, err := c.tc.UnaryCall(ctx, largeRequest())
			if err == nil {
				err = checkBody(r.Payload, 314159)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func (c *client) rpcSoak() error {
	for i := 0; i < *soakIterations; i++ {
		if err := largeUnary(c.tc); err != nil {
			return fmt.Errorf("iteration %d: %v", i, err)
		}
	}
	return nil
}

func (c *client) channelSoak() error {
	for i := 0; i < *soakIterations; i++ {
		conn, err := dial()
		if err != nil {
			return fmt.Errorf("iteration %d: %v", i, err)
		}
		err = largeUnary(pb.NewTestServiceClient(conn))
		conn.Close()
		if err != nil {
			return fmt.Errorf("iteration %d: %v", i, err)
		}
	}
	return nil
}

func (c *client) run(name string) error {
	switch name {
	case "empty_unary":
		return c.emptyUnary()
	case "large_unary":
		return largeUnary(c.tc)
	case "client_compressed_unary":
		return c.clientCompressedUnary()
	case "server_compressed_unary":
		return c.serverCompressedUnary()
	case "client_streaming":
		return c.clientStreaming()
	case "client_compressed_streaming":
		return c.clientCompressedStreaming()
	case "server_streaming":
		return c.serverStreaming()
	case "server_compressed_streaming":
		return c.serverCompressedStreaming()
	case "ping_pong":
		return c.pingPong()
	case "empty_stream":
		return c.emptyStream()
	case "custom_metadata":
		return c.customMetadata()
	case "status_code_and_message":
		return c.statusCodeAndMessage("test status message", true)
	case "special_status_message":
		return c.statusCodeAndMessage("\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \U0001F608\t\n", false)
	case "unimplemented_method":
		return c.unimplementedMethod()
	case "unimplemented_service":
		return c.unimplementedService()
	case "cancel_after_begin":
		return c.cancelAfterBegin()
	case "cancel_after_first_response":
		return c.cancelAfterFirstResponse()
	case "timeout_on_sleeping_server":
		return c.timeoutOnSleepingServer()
	case "concurrent_large_unary":
		return c.concurrentLargeUnary()
	case "rpc_soak":
		return c.rpcSoak()
	case "channel_soak":
		return c.channelSoak()
	}
	return unsupported("unknown case")
}

func main() {
	flag.Parse()
	conn, err := dial()
	if err != nil {
		fmt.Fprintf(os.Stderr, "dial: %v\n", err)
		os.Exit(2)
	}
	c := &client{conn: conn, tc: pb.NewTestServiceClient(conn)}
	list := cases
	if *testCase != "all" {
		list = strings.Split(*testCase, ",")
	}
	failed := false
	for _, name := range list {
		err := c.run(name)
		var u unsupported
		switch {
		case err == nil:
			fmt.Printf("RESULT\t%s\tpass\t\n", name)
		case errors.As(err, &u):
			fmt.Printf("RESULT\t%s\tunsupported\t%s\n", name, u)
		default:
			failed = true
			fmt.Printf("RESULT\t%s\tfail\t%s\n", name, strings.ReplaceAll(err.Error(), "\n", " "))
		}
	}
	if failed {
		os.Exit(1)
	}
}
