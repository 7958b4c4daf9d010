//! The native protocol's frame decoder and metadata parser on hostile input.
//!
//! The first byte of the input picks small limits, the next ones the chunk
//! lengths; the rest is the byte stream. However the stream is cut, the
//! decoder must give the same frames and the same error as in one piece,
//! never a frame over its limits, and never hold more than one frame's
//! worth of bytes. Every frame's metadata is parsed (no panic), and what
//! parses re-encodes to a section that parses to the same value.

#![no_main]

use bytes::BytesMut;
use ferry_wire::native::{Frame, FrameDecoder, Meta, NativeError};
use libfuzzer_sys::fuzz_target;

const CONTROL_LEN: usize = 6;

fn decode_all(decoder: &FrameDecoder, data: &[u8], chunks: &[u8]) -> (Vec<Frame>, Option<NativeError>) {
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut rest = data;
    let mut lens = chunks.iter().cycle();
    while !rest.is_empty() {
        let n = lens
            .next()
            .map_or(rest.len(), |&n| usize::from(n).max(1))
            .min(rest.len());
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => break,
                Err(e) => return (frames, Some(e)),
            }
        }
        assert!(buf.len() <= decoder.max_frame_len(), "decoder holds too much");
    }
    (frames, None)
}

fuzz_target!(|input: &[u8]| {
    let (control, data) = input.split_at(input.len().min(CONTROL_LEN));
    let scale = u32::from(control.first().copied().unwrap_or(0));
    let decoder = FrameDecoder::with_limits(scale * 8, scale * 64);
    let chunks = control.get(1..).unwrap_or_default();

    let whole = decode_all(&decoder, data, &[]);
    if !chunks.is_empty() {
        assert_eq!(decode_all(&decoder, data, chunks), whole, "the split changed the result");
    }
    for frame in &whole.0 {
        assert!(frame.meta.len() as u32 <= scale * 8 && frame.body.len() as u32 <= scale * 64);
        if let Ok(meta) = Meta::decode(&frame.meta) {
            assert_eq!(Meta::decode(&meta.to_bytes()), Ok(meta), "metadata round trip");
        }
        let mut again = BytesMut::new();
        frame.encode(&mut again);
        let back = FrameDecoder::with_limits(u32::MAX, u32::MAX).decode(&mut again);
        // A longer header's extra bytes are dropped; everything else survives.
        let back = back.ok().flatten().expect("an encoded frame decodes");
        assert_eq!((back.kind, back.flags, back.id, &back.meta, &back.body), (frame.kind, frame.flags, frame.id, &frame.meta, &frame.body));
    }
    let _ = Meta::decode(data);
});
