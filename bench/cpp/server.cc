// The gRPC C++ peer of Ferry's benchmarks: bench.Bench on the callback API,
// implemented as the other servers are. Built by bench/peers.sh against
// Debian's libgrpc++-dev, stubs from protoc's grpc_cpp_plugin.
#include <csignal>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "bench.grpc.pb.h"

namespace {

using bench::Payload;
using bench::StreamRequest;
using bench::Summary;

// Streams `count` copies of one payload (forever when count is 0).
class StreamWriter : public grpc::ServerWriteReactor<Payload> {
 public:
  explicit StreamWriter(const StreamRequest* request) : left_(request->count()), endless_(request->count() == 0) {
    payload_.set_body(std::string(request->size(), '\x5a'));
    Next();
  }
  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "write failed"));
      return;
    }
    Next();
  }
  void OnDone() override { delete this; }

 private:
  void Next() {
    if (!endless_ && left_ == 0) {
      Finish(grpc::Status::OK);
      return;
    }
    if (!endless_) --left_;
    StartWrite(&payload_);
  }
  Payload payload_;
  uint64_t left_;
  bool endless_;
};

// Counts what the client sends.
class StreamReader : public grpc::ServerReadReactor<Payload> {
 public:
  explicit StreamReader(Summary* summary) : summary_(summary) { StartRead(&payload_); }
  void OnReadDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status::OK);
      return;
    }
    summary_->set_messages(summary_->messages() + 1);
    summary_->set_bytes(summary_->bytes() + payload_.text().size() + payload_.body().size());
    StartRead(&payload_);
  }
  void OnDone() override { delete this; }

 private:
  Summary* summary_;
  Payload payload_;
};

// Echoes each message once its previous echo is written.
class Echo : public grpc::ServerBidiReactor<Payload, Payload> {
 public:
  Echo() { StartRead(&payload_); }
  void OnReadDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status::OK);
      return;
    }
    StartWrite(&payload_);
  }
  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "write failed"));
      return;
    }
    StartRead(&payload_);
  }
  void OnDone() override { delete this; }

 private:
  Payload payload_;
};

class BenchService final : public bench::Bench::CallbackService {
  grpc::ServerUnaryReactor* Unary(grpc::CallbackServerContext* context, const Payload* request,
                                  Payload* reply) override {
    *reply = *request;
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  grpc::ServerWriteReactor<Payload>* ServerStream(grpc::CallbackServerContext*,
                                                  const StreamRequest* request) override {
    return new StreamWriter(request);
  }
  grpc::ServerReadReactor<Payload>* ClientStream(grpc::CallbackServerContext*, Summary* summary) override {
    return new StreamReader(summary);
  }
  grpc::ServerBidiReactor<Payload, Payload>* PingPong(grpc::CallbackServerContext*) override {
    return new Echo();
  }
};

std::unique_ptr<grpc::Server> server;

void Stop(int) {
  // Shutdown from a helper thread: it waits for calls, which a signal handler must not.
  std::thread([] { server->Shutdown(); }).detach();
}

}  // namespace

int main(int argc, char** argv) {
  std::string addr = argc > 1 ? argv[1] : "127.0.0.1:50051";
  BenchService service;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(addr, grpc::InsecureServerCredentials());
  builder.RegisterService(&service);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, 1000);
  server = builder.BuildAndStart();
  if (!server) {
    std::fprintf(stderr, "cannot listen on %s\n", addr.c_str());
    return 1;
  }
  std::signal(SIGINT, Stop);
  std::signal(SIGTERM, Stop);
  std::fprintf(stderr, "grpc c++ bench server on %s\n", addr.c_str());
  server->Wait();
  return 0;
}
