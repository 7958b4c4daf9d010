//! The gRPC layer's decoders on hostile input.
//!
//! The first bytes of the input choose a small receive limit and the chunk
//! lengths; the rest is the byte stream, fed to `MessageDecoder` in those
//! chunks. However it is cut, the stream must give the same messages and the
//! same outcome as when it arrives in one piece, no message may exceed the
//! limit, and the decoder may never hold more than one incomplete message.
//!
//! The same bytes then go through the header-level decoders: `grpc-timeout`,
//! `grpc-message` percent-decoding, metadata, request and response header
//! blocks. None of them may panic.

#![no_main]

use bytes::Bytes;
use ferry_wire::HeaderField;
use ferry_wire::grpc::{
    Message, MessageDecoder, Metadata, RequestHead, ResponseStart, Trailers, decode_timeout,
    encode_timeout, percent_decode, percent_encode,
};
use libfuzzer_sys::fuzz_target;

const CONTROL_LEN: usize = 8;

/// Every message, then how the stream ended (`None`: cleanly).
fn decode_all(data: &Bytes, chunk_lens: &[u8], limit: usize) -> (Vec<Message>, Option<String>) {
    let mut decoder = MessageDecoder::with_max_message_size(limit);
    let mut messages = Vec::new();
    let mut rest = data.clone();
    let mut lens = chunk_lens.iter().cycle();
    loop {
        // A chunk length of 0 pushes an empty chunk; lengths cycle so a
        // stream of any size is covered.
        let n = lens
            .next()
            .map_or(rest.len(), |&n| usize::from(n))
            .min(rest.len());
        if n == 0 {
            // An empty chunk, then one byte so the loop always advances.
            decoder.push(Bytes::new());
            decoder.push(rest.split_to(1.min(rest.len())));
        } else {
            decoder.push(rest.split_to(n));
        }
        loop {
            match decoder.next_message() {
                Ok(Some(message)) => {
                    assert!(message.data.len() <= limit, "message over the limit");
                    messages.push(message);
                }
                Ok(None) => break,
                Err(e) => return (messages, Some(e.to_string())),
            }
        }
        // Never more buffered than one incomplete prefix or body.
        assert!(
            decoder.buffered_len() <= limit.max(4),
            "decoder holds too much"
        );
        if rest.is_empty() {
            break;
        }
    }
    (messages, decoder.finish().err().map(|e| e.to_string()))
}

/// Header fields cut from the input: `name\0value\n...`.
fn fields(data: &[u8]) -> Vec<HeaderField> {
    data.split(|&b| b == b'\n')
        .map(|line| {
            let mut parts = line.splitn(2, |&b| b == 0);
            let name = parts.next().unwrap_or_default();
            let value = parts.next().unwrap_or_default();
            HeaderField::new(Bytes::copy_from_slice(name), Bytes::copy_from_slice(value))
        })
        .collect()
}

fuzz_target!(|input: &[u8]| {
    let (control, data) = input.split_at(input.len().min(CONTROL_LEN));
    let limit = usize::from(control.first().copied().unwrap_or(0)) * 4;
    let chunk_lens = control.get(1..).unwrap_or_default();
    let data = Bytes::copy_from_slice(data);

    let whole = decode_all(&data, &[], limit);
    if !chunk_lens.is_empty() {
        let split = decode_all(&data, chunk_lens, limit);
        assert_eq!(split, whole, "the split changed the result");
    }

    // grpc-timeout: short slices, since real values are at most 9 bytes.
    for window in data.chunks(9) {
        if let Ok(timeout) = decode_timeout(window) {
            // What a server decodes, re-encoded, never comes back shorter.
            let again = decode_timeout(encode_timeout(timeout).as_bytes());
            assert!(
                again.is_ok_and(|t| t >= timeout),
                "timeout round trip shortened {window:?}"
            );
        }
    }

    // grpc-message: decoding never fails, and re-encoding what it gives
    // decodes to the same text.
    let message = percent_decode(&data);
    assert_eq!(percent_decode(percent_encode(&message).as_bytes()), message);

    let block = fields(&data);
    let _ = Metadata::decode(&block);
    let _ = RequestHead::decode(&block).map_err(|e| (e.encode_response(), e.reset_reason()));
    for end_stream in [false, true] {
        let _ = ResponseStart::decode(&block, end_stream);
    }
    let _ = Trailers::decode(&block).status().to_string();
});
