//! Messages framed for the wire (the 5-byte gRPC prefix, then the
//! message), on their way from a codec to a connection's driver.

use bytes::{Buf, Bytes, BytesMut};
use ferry_wire::grpc;

use crate::codec::EncodeBuf;
use crate::compression::{self, Encoding};
use crate::status::Status;

/// One framed message: usually one buffer; pieces, to be sent back to back,
/// when the codec handed large `Bytes` over by reference
/// ([`EncodeBuf::put_shared`]).
#[derive(Clone, Debug)]
pub(crate) enum Framed {
    One(Bytes),
    Pieces(Vec<Bytes>),
}

impl Framed {
    /// An empty body (a stream's end without a message).
    pub(crate) fn empty() -> Framed {
        Framed::One(Bytes::new())
    }

    /// The bytes in one buffer (the pieces copied together, if any), for a
    /// writer that needs them contiguous.
    pub(crate) fn into_bytes(self) -> Bytes {
        match self {
            Framed::One(bytes) => bytes,
            Framed::Pieces(pieces) => Bytes::from(pieces.concat()),
        }
    }
}

impl IntoIterator for Framed {
    type Item = Bytes;
    type IntoIter = Pieces;

    fn into_iter(self) -> Pieces {
        match self {
            Framed::One(bytes) => Pieces::One(Some(bytes)),
            Framed::Pieces(pieces) => Pieces::Many(pieces.into_iter()),
        }
    }
}

/// The buffers of a [`Framed`] message, in order.
#[derive(Debug)]
pub(crate) enum Pieces {
    One(Option<Bytes>),
    Many(std::vec::IntoIter<Bytes>),
}

impl Iterator for Pieces {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        match self {
            Pieces::One(bytes) => bytes.take(),
            Pieces::Many(pieces) => pieces.next(),
        }
    }
}

/// The buffers a sender reuses from message to message.
#[derive(Debug, Default)]
pub(crate) struct FrameBufs {
    buf: BytesMut,
    scratch: BytesMut,
    shared: Vec<(usize, Bytes)>,
    /// Bytes the previous message shared: a stream's messages tend to be
    /// alike, so that much of the next one's size hint is not reserved.
    last_shared: usize,
    /// No message follows: the buffer is handed over whole rather than
    /// split off for reuse (splitting a buffer costs an allocation the
    /// first time, repaid only by the messages after it).
    last: bool,
}

impl FrameBufs {
    /// Buffers for one message and no more.
    pub(crate) fn last() -> FrameBufs {
        FrameBufs {
            last: true,
            ..FrameBufs::default()
        }
    }

    /// The next message framed is the last.
    pub(crate) fn set_last(&mut self) {
        self.last = true;
    }
}

/// Encodes one message behind its 5-byte prefix. The message is encoded in
/// place; it is compressed with `encoding` only when `compress` allows it,
/// it is at least `min_size` bytes, and compressing makes it smaller;
/// otherwise it goes out as is, with the compressed flag 0 (allowed on any
/// call, whatever its `grpc-encoding`).
///
/// With `share`, a message that cannot be compressed keeps the large
/// `Bytes` its codec hands over by reference (see [`EncodeBuf`]) and comes
/// back in pieces; without it, always in one buffer.
pub(crate) fn frame_message(
    encoding: Encoding,
    compress: bool,
    min_size: usize,
    bufs: &mut FrameBufs,
    share: bool,
    size_hint: Option<usize>,
    encode: impl FnOnce(&mut EncodeBuf<'_>) -> Result<(), Status>,
) -> Result<Framed, Status> {
    const PREFIX: usize = grpc::MESSAGE_HEADER_LEN;
    let FrameBufs {
        buf,
        scratch,
        shared,
        last_shared,
        last,
    } = bufs;
    let hand_over = |buf: &mut BytesMut| {
        if *last {
            std::mem::take(buf).freeze()
        } else {
            buf.split().freeze()
        }
    };
    let may_compress =
        compress && !encoding.is_identity() && size_hint.is_none_or(|len| len >= min_size);
    let share = share && !may_compress;
    buf.clear();
    if let Some(len) = size_hint {
        let copied = if share {
            len.saturating_sub(*last_shared)
        } else {
            len
        };
        buf.reserve(PREFIX.saturating_add(copied));
    }
    buf.extend_from_slice(&[0; PREFIX]);
    let len = if share {
        let mut dst = EncodeBuf::sharing(buf, shared);
        encode(&mut dst)?;
        *last_shared = dst.shared_len();
        dst.len() - PREFIX
    } else {
        shared.clear();
        *last_shared = 0;
        encode(&mut EncodeBuf::copying(buf))?;
        buf.len() - PREFIX
    };
    if may_compress && len >= min_size {
        scratch.clear();
        scratch.extend_from_slice(&[0; PREFIX]);
        compression::compress(encoding, &buf[PREFIX..], scratch)
            .map_err(|e| Status::from(e.to_status()))?;
        let compressed = scratch.len() - PREFIX;
        if compressed < len {
            let header =
                grpc::message_header(true, compressed).map_err(|e| Status::from(e.to_status()))?;
            scratch[..PREFIX].copy_from_slice(&header);
            return Ok(Framed::One(hand_over(scratch)));
        }
    }
    let header = grpc::message_header(false, len).map_err(|e| Status::from(e.to_status()))?;
    buf[..PREFIX].copy_from_slice(&header);
    if shared.is_empty() {
        return Ok(Framed::One(hand_over(buf)));
    }
    // Copied runs and shared pieces, in the order they were written.
    let mut pieces = Vec::with_capacity(2 * shared.len() + 1);
    let mut copied = 0;
    for (at, bytes) in shared.drain(..) {
        if at > copied {
            pieces.push(buf.split_to(at - copied).freeze());
            copied = at;
        }
        pieces.push(bytes);
    }
    if !buf.is_empty() {
        pieces.push(buf.split().freeze());
    }
    Ok(Framed::Pieces(pieces))
}

/// `data` as one gRPC-framed message, when it is exactly one (with a valid
/// compressed flag); anything else goes through the call's decoder.
pub(crate) fn whole_message(data: &Bytes) -> Option<grpc::Message> {
    let compressed = whole_message_flag(data)?;
    Some(grpc::Message {
        compressed,
        data: data.slice(grpc::MESSAGE_HEADER_LEN..),
    })
}

/// [`whole_message`] of a buffer handed over: the message is the buffer
/// itself past its prefix, not a second reference to it (which, for a
/// buffer made from a `Vec`, would allocate).
pub(crate) fn into_whole_message(mut data: Bytes) -> Option<grpc::Message> {
    let compressed = whole_message_flag(&data)?;
    data.advance(grpc::MESSAGE_HEADER_LEN);
    Some(grpc::Message { compressed, data })
}

/// The compressed flag of `data`'s one whole message, if it is one.
fn whole_message_flag(data: &[u8]) -> Option<bool> {
    const PREFIX: usize = grpc::MESSAGE_HEADER_LEN;
    let [flag, a, b, c, d]: [u8; PREFIX] = data.get(..PREFIX)?.try_into().ok()?;
    let len = u32::from_be_bytes([a, b, c, d]);
    let whole = flag <= 1 && usize::try_from(len).ok()? == data.len() - PREFIX;
    whole.then_some(flag == 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{BytesCodec, Codec, MIN_SHARED, ProstCodec};

    #[derive(Clone, PartialEq, prost::Message)]
    struct Shared {
        #[prost(string, tag = "1")]
        name: String,
        #[prost(bytes = "bytes", tag = "2")]
        payload: Bytes,
        #[prost(uint32, tag = "3")]
        seq: u32,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    struct Owned {
        #[prost(bytes = "vec", tag = "1")]
        payload: Vec<u8>,
    }

    fn frame<C: Codec>(
        codec: &C,
        item: &C::Encode,
        encoding: Encoding,
        share: bool,
        bufs: &mut FrameBufs,
    ) -> Framed {
        frame_message(
            encoding,
            true,
            0,
            bufs,
            share,
            codec.encoded_len(item),
            |buf| codec.encode(item, buf),
        )
        .unwrap()
    }

    /// What a copying encoder produces: the prefix, then prost's bytes.
    fn copied<M: prost::Message>(message: &M) -> Vec<u8> {
        let body = message.encode_to_vec();
        let mut framed = grpc::message_header(false, body.len()).unwrap().to_vec();
        framed.extend_from_slice(&body);
        framed
    }

    fn pieces(framed: Framed) -> Vec<Bytes> {
        match framed {
            Framed::Pieces(pieces) => pieces,
            Framed::One(one) => panic!("one buffer of {} bytes, expected pieces", one.len()),
        }
    }

    #[test]
    fn a_large_bytes_field_is_sent_by_reference() {
        let message = Shared {
            name: "chunk".into(),
            payload: Bytes::from(vec![7u8; 100_000]),
            seq: 3,
        };
        let mut bufs = FrameBufs::default();
        for _ in 0..2 {
            let framed = frame(
                &ProstCodec::<Shared, Shared>::new(),
                &message,
                Encoding::Identity,
                true,
                &mut bufs,
            );
            let pieces = pieces(framed);
            // prefix + name + the field's key and length | payload | seq
            assert_eq!(pieces.len(), 3);
            assert_eq!(pieces[1].as_ptr(), message.payload.as_ptr());
            assert_eq!(pieces.concat(), copied(&message));
        }
    }

    #[test]
    fn small_compressed_or_unshared_messages_are_one_buffer() {
        let codec = ProstCodec::<Shared, Shared>::new();
        let small = Shared {
            payload: Bytes::from(vec![1u8; MIN_SHARED - 1]),
            ..Shared::default()
        };
        let large = Shared {
            payload: Bytes::from(vec![1u8; MIN_SHARED]),
            ..Shared::default()
        };
        let mut bufs = FrameBufs::default();
        let Framed::One(one) = frame(&codec, &small, Encoding::Identity, true, &mut bufs) else {
            panic!("a small field is copied");
        };
        assert_eq!(one, copied(&small));
        let Framed::One(one) = frame(&codec, &large, Encoding::Identity, false, &mut bufs) else {
            panic!("without share, one buffer");
        };
        assert_eq!(one, copied(&large));
        let Framed::One(one) = frame(&codec, &large, Encoding::Gzip, true, &mut bufs) else {
            panic!("a message that may be compressed is copied whole");
        };
        assert_eq!(one[0], 1, "compressed flag");
        assert!(one.len() < 1_000);
        assert_eq!(
            pieces(frame(&codec, &large, Encoding::Identity, true, &mut bufs)).len(),
            2
        );
    }

    #[test]
    fn other_large_buffers_are_taken_whole_and_raw_bytes_by_reference() {
        let owned = Owned {
            payload: (0..50_000u32).map(|i| i as u8).collect(),
        };
        let mut bufs = FrameBufs::default();
        let framed = frame(
            &ProstCodec::<Owned, Owned>::new(),
            &owned,
            Encoding::Identity,
            true,
            &mut bufs,
        );
        assert_eq!(pieces(framed).concat(), copied(&owned));

        let raw = Bytes::from(vec![9u8; 20_000]);
        let pieces = pieces(frame(
            &BytesCodec,
            &raw,
            Encoding::Identity,
            true,
            &mut bufs,
        ));
        assert_eq!(pieces.len(), 2);
        assert_eq!(
            pieces[0][..],
            grpc::message_header(false, raw.len()).unwrap()[..]
        );
        assert_eq!(pieces[1].as_ptr(), raw.as_ptr());
        assert_eq!(
            Framed::Pieces(pieces).into_bytes().len(),
            grpc::MESSAGE_HEADER_LEN + raw.len()
        );
    }

    #[test]
    fn only_exactly_one_framed_message_is_sliced_directly() {
        let one = Bytes::from_static(&[1, 0, 0, 0, 3, b'a', b'b', b'c']);
        assert_eq!(
            whole_message(&one),
            Some(grpc::Message {
                compressed: true,
                data: Bytes::from_static(b"abc"),
            })
        );
        let empty = Bytes::from_static(&[0, 0, 0, 0, 0]);
        assert_eq!(
            whole_message(&empty).map(|m| (m.compressed, m.data.len())),
            Some((false, 0))
        );
        // Short, longer than one message, a bad flag, not even a header.
        for data in [
            &[0, 0, 0, 0, 4, b'a', b'b', b'c'][..],
            &[0, 0, 0, 0, 2, b'a', b'b', b'c'][..],
            &[2, 0, 0, 0, 3, b'a', b'b', b'c'][..],
            &[0, 0, 0][..],
        ] {
            assert_eq!(
                whole_message(&Bytes::copy_from_slice(data)),
                None,
                "{data:?}"
            );
            assert_eq!(
                into_whole_message(Bytes::copy_from_slice(data)),
                None,
                "{data:?}"
            );
        }
        // Given away, the message is the same buffer past its prefix.
        let given = Bytes::from(vec![0, 0, 0, 0, 3, b'x', b'y', b'z']);
        let start = given.as_ptr();
        let message = into_whole_message(given).unwrap();
        assert!(!message.compressed);
        assert_eq!(message.data, Bytes::from_static(b"xyz"));
        assert_eq!(message.data.as_ptr(), start.wrapping_add(5));
        assert_eq!(into_whole_message(one.clone()), whole_message(&one));
    }
}
