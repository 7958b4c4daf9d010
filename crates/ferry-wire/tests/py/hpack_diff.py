#!/usr/bin/env python3
"""Reference side of the differential HPACK test
(crates/ferry-wire/tests/wire/hpack_diff.rs), built on the hpack package.

Holds one hpack Encoder and one hpack Decoder (two independent compression
contexts). Reads one request per line on stdin and answers one line per
request on stdout, in order, until stdin closes. A field is written
`<name hex>:<value hex>:<flag>`; fields are separated by single spaces.

    RESET          fresh Encoder and Decoder                -> "OK"
    DMAX <n>       the Decoder's max_allowed_table_size = n  -> "OK"
                   (what the decoding side advertises)
    D <hex>        decode the header block                   -> "OK <table size> <fields...>"
                   flag: N = never indexed, I = indexable       or "ERR <what>"
    ESIZE <n>      the Encoder's header_table_size = n       -> "OK"
    E <h> <fields> encode the fields (flag 1 = sensitive),   -> "OK <table size> <hex> <flags>"
                   Huffman if h is 1
                   <flags>: one N or I per field, as a second hpack Decoder
                   that follows the Encoder reads the block (hpack sends a
                   sensitive field indexed if it is already in the table)

<table size> is the size of the dynamic table afterwards (RFC 7541 §4.1).
"""

import sys

from hpack import Decoder, Encoder, NeverIndexedHeaderTuple


def table_size(table):
    return sum(32 + len(n) + len(v) for n, v in table.dynamic_entries)


def new_decoder():
    d = Decoder()
    # The Rust side checks its own limits; here every list is accepted.
    d.max_header_list_size = 1 << 40
    return d


def new_shadow():
    d = new_decoder()
    d.max_allowed_table_size = 1 << 40
    return d


def main():
    encoder, decoder, shadow = Encoder(), new_decoder(), new_shadow()
    out = sys.stdout
    for line in sys.stdin:
        parts = line.rstrip("\n").split(" ")
        op = parts[0]
        try:
            if op == "RESET":
                encoder, decoder, shadow = Encoder(), new_decoder(), new_shadow()
                answer = "OK"
            elif op == "DMAX":
                decoder.max_allowed_table_size = int(parts[1])
                answer = "OK"
            elif op == "D":
                block = bytes.fromhex(parts[1] if len(parts) > 1 else "")
                fields = decoder.decode(block, raw=True)
                words = [
                    "%s:%s:%s" % (
                        bytes(n).hex(),
                        bytes(v).hex(),
                        "N" if isinstance(f, NeverIndexedHeaderTuple) else "I",
                    )
                    for f in fields
                    for n, v in [f]
                ]
                answer = " ".join(["OK", str(table_size(decoder.header_table))] + words)
            elif op == "ESIZE":
                encoder.header_table_size = int(parts[1])
                answer = "OK"
            elif op == "E":
                huffman = parts[1] == "1"
                headers = []
                for word in parts[2:]:
                    name, value, sensitive = word.split(":")
                    headers.append((bytes.fromhex(name), bytes.fromhex(value), sensitive == "1"))
                block = encoder.encode(headers, huffman=huffman)
                flags = "".join(
                    "N" if isinstance(f, NeverIndexedHeaderTuple) else "I"
                    for f in shadow.decode(block, raw=True)
                )
                answer = "OK %d %s %s" % (table_size(encoder.header_table), block.hex(), flags)
            else:
                answer = "ERR unknown request %r" % op
        except Exception as e:  # noqa: BLE001 - every failure is reported
            answer = "ERR %s: %s" % (type(e).__name__, str(e).replace("\n", " "))
        out.write(answer + "\n")
    out.flush()


if __name__ == "__main__":
    main()
