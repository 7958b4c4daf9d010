"""The ChatHub client in Python (grpcio), with the Rust chat-client's flags:

    python chat_client.py "Tell me about the river"
    python chat_client.py --stream --max-length 40 --addr 127.0.0.1:50051 "The ferry"

Prints the reply on stdout; with --stream, each piece as it arrives. A failed
call prints `error: CODE: message` on stderr and exits with 1.
--cancel-after N (with --stream) cancels the call after N pieces, as a user
closing the window would; the tests use it.
"""

import argparse
import logging
import sys

import grpc
from google.protobuf import wrappers_pb2

import chat_stubs

chat_pb2, chat_pb2_grpc = chat_stubs.load()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("prompt", help="what to say to the model")
    parser.add_argument("--history", action="append", default=[], help="an earlier turn, oldest first (repeatable)")
    parser.add_argument("--max-length", type=int, default=0, help="most tokens in the reply (0: server default)")
    parser.add_argument("--temperature", type=float, default=0.0, help="sampling temperature (0: server default)")
    parser.add_argument("--top-p", type=float, default=0.0, help="nucleus share in (0, 1] (0: server default)")
    parser.add_argument("--stream", action="store_true", help="print the reply piece by piece (StreamingChat)")
    parser.add_argument("--addr", default="127.0.0.1:50051", help="the server, host:port")
    parser.add_argument("--cancel-after", type=int, help="with --stream: cancel after this many pieces")
    args = parser.parse_args()
    logging.basicConfig()

    target = args.addr.split("://", 1)[-1]
    request = chat_pb2.ChatRequest(
        prompt=args.prompt,
        history=[wrappers_pb2.StringValue(value=h) for h in args.history],
        max_length=args.max_length,
        top_p=args.top_p,
        temperature=args.temperature,
    )
    with grpc.insecure_channel(target) as channel:
        stub = chat_pb2_grpc.ChatHubStub(channel)
        try:
            if args.stream:
                call = stub.StreamingChat(request)
                received = 0
                for reply in call:
                    sys.stdout.write(reply.response)
                    sys.stdout.flush()
                    received += 1
                    if args.cancel_after is not None and received >= args.cancel_after:
                        call.cancel()
                        print(flush=True)
                        print(f"cancelled after {received} pieces", file=sys.stderr, flush=True)
                        return 0
            else:
                reply = stub.Chat(request)
                sys.stdout.write(reply.response)
        except grpc.RpcError as e:
            print(f"error: {e.code().name}: {e.details()}", file=sys.stderr, flush=True)
            return 1
    print(flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
