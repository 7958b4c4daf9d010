//! How messages become bytes: the [`Codec`] trait, with protobuf (prost) as
//! the default.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use crate::Status;

/// Encodes requests and decodes responses (or the reverse on a server).
/// Implementations must be cheap to clone: one is made per call.
pub trait Codec: Clone + Send + Sync + 'static {
    /// The type this side sends.
    type Encode: Send + 'static;
    /// The type this side receives.
    type Decode: Send + 'static;

    /// Appends the encoding of `item` to `dst`.
    fn encode(&self, item: &Self::Encode, dst: &mut BytesMut) -> Result<(), Status>;

    /// Decodes one whole message.
    fn decode(&self, src: Bytes) -> Result<Self::Decode, Status>;

    /// How many bytes `item` encodes to, when that is cheap to know: the
    /// message buffer is then sized once instead of growing while
    /// `encode` writes. `None` (the default) is always correct.
    fn encoded_len(&self, item: &Self::Encode) -> Option<usize> {
        let _ = item;
        None
    }
}

/// A codec's decoding as a shareable function, for the message streams
/// that outlive the call's codec value.
pub(crate) fn decoder<C: Codec>(
    codec: &C,
) -> Arc<dyn Fn(Bytes) -> Result<C::Decode, Status> + Send + Sync> {
    let codec = codec.clone();
    Arc::new(move |bytes| codec.decode(bytes))
}

/// Protobuf through prost: the default codec of generated code.
pub struct ProstCodec<E, D>(PhantomData<fn(E) -> D>);

impl<E, D> ProstCodec<E, D> {
    /// A codec sending `E` and receiving `D`.
    pub fn new() -> Self {
        ProstCodec(PhantomData)
    }
}

impl<E, D> Default for ProstCodec<E, D> {
    fn default() -> Self {
        ProstCodec::new()
    }
}

impl<E, D> Clone for ProstCodec<E, D> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E, D> Copy for ProstCodec<E, D> {}

impl<E, D> fmt::Debug for ProstCodec<E, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProstCodec")
    }
}

impl<E, D> Codec for ProstCodec<E, D>
where
    E: prost::Message + Send + 'static,
    D: prost::Message + Default + Send + 'static,
{
    type Encode = E;
    type Decode = D;

    fn encode(&self, item: &E, dst: &mut BytesMut) -> Result<(), Status> {
        item.encode(dst)
            .map_err(|e| Status::internal(format!("failed to encode message: {e}")).framework())
    }

    fn decode(&self, src: Bytes) -> Result<D, Status> {
        D::decode(src)
            .map_err(|e| Status::internal(format!("failed to decode message: {e}")).framework())
    }

    fn encoded_len(&self, item: &E) -> Option<usize> {
        Some(item.encoded_len())
    }
}

/// Raw bytes in and out, for proxies, tests and benchmarks.
#[derive(Clone, Copy, Debug, Default)]
pub struct BytesCodec;

impl Codec for BytesCodec {
    type Encode = Bytes;
    type Decode = Bytes;

    fn encode(&self, item: &Bytes, dst: &mut BytesMut) -> Result<(), Status> {
        dst.extend_from_slice(item);
        Ok(())
    }

    fn decode(&self, src: Bytes) -> Result<Bytes, Status> {
        Ok(src)
    }

    fn encoded_len(&self, item: &Bytes) -> Option<usize> {
        Some(item.len())
    }
}
