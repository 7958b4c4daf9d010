//! Frame decoder fuzz target.
//!
//! The input is read as a stream of frames, the way a runtime reads a socket:
//! a 9-byte header, then `length` payload bytes (the last frame is cut short
//! to what is left, with its header's length corrected, so short inputs still
//! reach every payload decoder). Each frame is decoded; the decoder must never
//! panic, every error must map to an RFC code and scope, and every frame that
//! decodes must re-encode to bytes that decode to the very same frame.
//!
//! Run with `cargo +nightly fuzz run frame_decode` from the repository root.

#![no_main]

use bytes::{Bytes, BytesMut};
use ferry_wire::frame::{Frame, FrameHeader, HEADER_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut input = Bytes::copy_from_slice(data);
    while input.len() >= HEADER_LEN {
        let header = input.split_to(HEADER_LEN);
        let Ok(header) = <[u8; HEADER_LEN]>::try_from(&header[..]) else {
            return;
        };
        let mut head = FrameHeader::decode(&header);
        let len = (head.length as usize).min(input.len());
        head.length = len as u32;
        let payload = input.split_to(len);
        check(head, payload);
    }
});

fn check(head: FrameHeader, payload: Bytes) {
    let frame = match Frame::decode(head, payload) {
        Ok(frame) => frame,
        Err(e) => {
            // Every error has an RFC 9113 code, and a stream error names a
            // real stream.
            assert!(e.reason().name().is_some(), "{e:?}");
            if let Some(id) = e.stream_id() {
                assert!(!id.is_zero(), "{e:?}");
            }
            let _ = e.into_error();
            return;
        }
    };
    assert_eq!(frame.kind(), head.kind);
    assert_eq!(frame.stream_id(), head.stream_id);

    let mut dst = BytesMut::new();
    frame.encode(&mut dst);
    assert_eq!(dst.len(), frame.encoded_len());
    let mut wire = dst.freeze();
    let again_header = wire.split_to(HEADER_LEN);
    let Ok(again_header) = <[u8; HEADER_LEN]>::try_from(&again_header[..]) else {
        panic!("encoded frame shorter than a header: {frame:?}");
    };
    let again_head = FrameHeader::decode(&again_header);
    assert_eq!(again_head.length as usize, wire.len());
    // Encoders only set flags the frame type defines.
    if frame.kind() <= 9 {
        assert_eq!(again_head.flags & !head.flags, 0, "{frame:?}");
    }
    match Frame::decode(again_head, wire) {
        Ok(again) => assert_eq!(again, frame),
        Err(e) => panic!("re-encoded {frame:?} fails to decode: {e:?}"),
    }
}
