//! The benchmark service's messages, encoded once before the run.

use bytes::{BufMut, Bytes, BytesMut};
use prost::Message;

/// `bench.Payload`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Payload {
    #[prost(string, tag = "1")]
    pub(crate) text: String,
    #[prost(bytes = "bytes", tag = "2")]
    pub(crate) body: Bytes,
}

/// `bench.StreamRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct StreamRequest {
    #[prost(uint64, tag = "1")]
    pub(crate) count: u64,
    #[prost(uint32, tag = "2")]
    pub(crate) size: u32,
}

/// A `Payload` whose string is `size` bytes (unary and ping-pong requests).
pub(crate) fn text(size: usize) -> Bytes {
    let text: String = "ferry-bench-".chars().cycle().take(size).collect();
    Payload {
        text,
        body: Bytes::new(),
    }
    .encode_to_vec()
    .into()
}

/// A `Payload` whose body is `size` bytes (streamed messages).
pub(crate) fn body(size: usize) -> Bytes {
    Payload {
        text: String::new(),
        body: Bytes::from(vec![0x5a; size]),
    }
    .encode_to_vec()
    .into()
}

/// A request for an endless stream of `size`-byte messages.
pub(crate) fn stream_request(size: usize) -> Bytes {
    StreamRequest {
        count: 0,
        size: u32::try_from(size).unwrap_or(u32::MAX),
    }
    .encode_to_vec()
    .into()
}

/// A unary request as it travels in an HTTP/2 DATA frame: the gRPC 5-byte
/// prefix (not compressed, length) and the encoded message, for h2load's
/// `--data`.
pub(crate) fn h2load_body(size: usize) -> Vec<u8> {
    let message = text(size);
    let mut framed = BytesMut::with_capacity(5 + message.len());
    framed.put_u8(0);
    framed.put_u32(u32::try_from(message.len()).unwrap_or(u32::MAX));
    framed.put_slice(&message);
    framed.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_payload_decodes_to_the_asked_size() {
        let decoded = Payload::decode(text(100)).unwrap();
        assert_eq!(decoded.text.len(), 100);
        assert!(decoded.body.is_empty());
    }

    #[test]
    fn h2load_body_is_one_grpc_frame() {
        let framed = h2load_body(100);
        let len = u32::from_be_bytes(framed[1..5].try_into().unwrap()) as usize;
        assert_eq!(framed[0], 0);
        assert_eq!(len, framed.len() - 5);
        assert_eq!(Payload::decode(&framed[5..]).unwrap().text.len(), 100);
    }
}
