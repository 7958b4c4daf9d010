"""The ChatHub server in Python, in the quick-start's shape: a grpcio server
on a ThreadPoolExecutor, `Chat` returns the reply, `StreamingChat` yields it
piece by piece.

Its model is chat_model.py, a port of the Rust server's Markov model, so
with the same --seed both servers give the same replies. The flags are the
Rust server's:

    python chat_server.py --addr 127.0.0.1:50051 --seed 7 --token-delay-ms 30

Prints `chat-server listening on HOST:PORT` on stdout when it serves (port 0
picks a free one), and on stderr one line per generation:
`StreamingChat: generation finished after N tokens`, or `cancelled after N
tokens` when the client went away first and generation stopped. Ctrl-C or
SIGTERM stops it, letting calls in flight finish for up to 10 seconds.
"""

import argparse
import logging
import random
import signal
import sys
import threading
from concurrent import futures

import grpc

import chat_model
import chat_stubs

chat_pb2, chat_pb2_grpc = chat_stubs.load()


def log(line):
    print(line, file=sys.stderr, flush=True)


class ChatHub(chat_pb2_grpc.ChatHubServicer):
    def __init__(self, model, seed, token_delay):
        self.model = model
        self.seed = seed
        self.token_delay = token_delay

    def _pieces(self, request, context, method):
        """Yields the reply's pieces, one per token after the token delay,
        and stops as soon as the call is over (client cancelled, deadline,
        connection lost)."""
        try:
            length, temperature, top_p = chat_model.sampling(
                request.prompt, request.max_length, request.top_p, request.temperature
            )
        except chat_model.BadRequest as bad:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(bad))
        seed = self.seed if self.seed is not None else random.getrandbits(64)
        history = [turn.value for turn in request.history]
        ended = threading.Event()
        context.add_callback(ended.set)
        generation = self.model.generate(history, request.prompt, length, temperature, top_p, seed)
        tokens = 0
        finished = False
        try:
            while True:
                # Waiting on the event instead of sleeping notices a
                # cancelled call at once.
                if (self.token_delay > 0 and ended.wait(self.token_delay)) or not context.is_active():
                    break
                piece = next(generation, None)
                if piece is None:
                    finished = True
                    break
                tokens += 1
                yield piece
        finally:
            how = "finished" if finished else "cancelled"
            log(f"{method}: generation {how} after {tokens} tokens")

    def Chat(self, request, context):
        response = "".join(self._pieces(request, context, "Chat"))
        return chat_pb2.ChatReply(response=response)

    def StreamingChat(self, request, context):
        for piece in self._pieces(request, context, "StreamingChat"):
            yield chat_pb2.ChatReply(response=piece)


def serve(args):
    model = chat_model.load(args.corpus)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=10))
    chat_pb2_grpc.add_ChatHubServicer_to_server(ChatHub(model, args.seed, args.token_delay_ms / 1000), server)
    port = server.add_insecure_port(args.addr)
    if port == 0:
        raise SystemExit(f"could not listen on {args.addr}")
    # Handlers first, so a signal sent as soon as we say we listen is not missed.
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    server.start()
    host = args.addr.rsplit(":", 1)[0]
    print(f"chat-server listening on {host}:{port}", flush=True)
    stop.wait()
    server.stop(grace=10).wait()
    log("chat-server: shut down")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--addr", default="127.0.0.1:50051", help="address to listen on (port 0: a free port)")
    parser.add_argument("--seed", type=int, help="seed for every call's random numbers (default: fresh per call)")
    parser.add_argument("--corpus", help="text to train on (default: corpus/ferry-tales.txt)")
    parser.add_argument("--token-delay-ms", type=int, default=30, help="milliseconds to wait before each token")
    logging.basicConfig()
    serve(parser.parse_args())


if __name__ == "__main__":
    main()
