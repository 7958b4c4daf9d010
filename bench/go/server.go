// The grpc-go peer of Ferry's benchmarks: bench.Bench, implemented as the
// Ferry and tonic servers are. Built by bench/peers.sh in GOPATH mode
// against Debian's grpc-go, with stubs from Debian's protoc-gen-go.
package main

import (
	"context"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"

	"google.golang.org/grpc"

	pb "ferry.bench/benchpb"
)

type benchServer struct{}

func (benchServer) Unary(ctx context.Context, in *pb.Payload) (*pb.Payload, error) {
	return in, nil
}

func (benchServer) ServerStream(req *pb.StreamRequest, stream pb.Bench_ServerStreamServer) error {
	payload := &pb.Payload{Body: make([]byte, req.Size)}
	for i := range payload.Body {
		payload.Body[i] = 0x5a
	}
	for n := uint64(0); req.Count == 0 || n < req.Count; n++ {
		if err := stream.Send(payload); err != nil {
			return err
		}
	}
	return nil
}

func (benchServer) ClientStream(stream pb.Bench_ClientStreamServer) error {
	summary := &pb.Summary{}
	for {
		payload, err := stream.Recv()
		if err == io.EOF {
			return stream.SendAndClose(summary)
		}
		if err != nil {
			return err
		}
		summary.Messages++
		summary.Bytes += uint64(len(payload.Text) + len(payload.Body))
	}
}

func (benchServer) PingPong(stream pb.Bench_PingPongServer) error {
	for {
		payload, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := stream.Send(payload); err != nil {
			return err
		}
	}
}

func main() {
	addr := "127.0.0.1:50051"
	if len(os.Args) > 1 {
		addr = os.Args[1]
	}
	listener, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	server := grpc.NewServer(grpc.MaxConcurrentStreams(1000))
	pb.RegisterBenchServer(server, benchServer{})
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-signals
		server.Stop()
	}()
	log.Printf("grpc-go bench server on %s", addr)
	if err := server.Serve(listener); err != nil {
		log.Fatal(err)
	}
}
