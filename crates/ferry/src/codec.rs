//! How messages become bytes: the [`Codec`] trait, with protobuf (prost) as
//! the default.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use bytes::buf::UninitSlice;
use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::Status;

/// Pieces at least this long are kept by reference by an [`EncodeBuf`]
/// that shares: below it, copying costs less than an extra piece.
pub(crate) const MIN_SHARED: usize = 8 * 1024;

/// Where a [`Codec`] writes a message: a growable buffer ([`BufMut`]), and
/// a way to hand over large [`Bytes`] without copying them.
///
/// On a stream whose messages go out uncompressed, a piece of at least
/// 8 KiB given to [`put_shared`](EncodeBuf::put_shared) or
/// [`BufMut::put`] is not copied: it is taken with
/// [`Buf::copy_to_bytes`], which for `Bytes` is a reference count, and
/// written to the socket from where it is (a vectored write). So a prost
/// message whose large `bytes` field is generated as `bytes::Bytes`
/// (`ferry_build`'s `bytes` option) is sent without copying that field.
/// Everything else, and everything when the message may be compressed or
/// is a unary request, is copied into one buffer.
pub struct EncodeBuf<'a> {
    buf: &'a mut BytesMut,
    /// Pieces kept by reference, each with the length `buf` had when it
    /// was put: it goes between `buf[..at]` and what follows. `None`: this
    /// buffer copies everything.
    shared: Option<&'a mut Vec<(usize, Bytes)>>,
    /// Bytes in `shared`.
    shared_len: usize,
}

impl<'a> EncodeBuf<'a> {
    /// A buffer that copies everything into `buf`.
    pub(crate) fn copying(buf: &'a mut BytesMut) -> EncodeBuf<'a> {
        EncodeBuf {
            buf,
            shared: None,
            shared_len: 0,
        }
    }

    /// A buffer that keeps large pieces by reference in `shared` (emptied
    /// first).
    pub(crate) fn sharing(buf: &'a mut BytesMut, shared: &'a mut Vec<(usize, Bytes)>) -> Self {
        shared.clear();
        EncodeBuf {
            buf,
            shared: Some(shared),
            shared_len: 0,
        }
    }

    /// Appends `bytes`: by reference when this buffer shares and they are
    /// large enough, else copied.
    pub fn put_shared(&mut self, bytes: Bytes) {
        match &mut self.shared {
            Some(shared) if bytes.len() >= MIN_SHARED => {
                self.shared_len += bytes.len();
                shared.push((self.buf.len(), bytes));
            }
            _ => self.buf.extend_from_slice(&bytes),
        }
    }

    /// Bytes kept by reference so far.
    pub(crate) fn shared_len(&self) -> usize {
        self.shared_len
    }

    /// Bytes written so far, copied or shared.
    pub fn len(&self) -> usize {
        self.buf.len() + self.shared_len
    }

    /// True when nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reserves room for `additional` more copied bytes.
    pub fn reserve(&mut self, additional: usize) {
        self.buf.reserve(additional);
    }
}

impl fmt::Debug for EncodeBuf<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncodeBuf")
            .field("copied", &self.buf.len())
            .field("shared", &self.shared_len)
            .finish()
    }
}

// SAFETY: every method forwards to `BytesMut`'s implementation, whose
// guarantees (`chunk_mut` is writable up to `remaining_mut`,
// `advance_mut` only over initialised bytes) carry over unchanged. `put`
// either forwards or keeps the piece aside without touching `buf`.
#[allow(unsafe_code)]
unsafe impl BufMut for EncodeBuf<'_> {
    fn remaining_mut(&self) -> usize {
        self.buf.remaining_mut()
    }

    unsafe fn advance_mut(&mut self, cnt: usize) {
        // SAFETY: the caller's promise (`cnt` bytes of `chunk_mut`, which
        // is `buf`'s, were initialised) is the one `BytesMut` needs.
        unsafe { self.buf.advance_mut(cnt) }
    }

    fn chunk_mut(&mut self) -> &mut UninitSlice {
        self.buf.chunk_mut()
    }

    fn put<T: Buf>(&mut self, mut src: T)
    where
        Self: Sized,
    {
        if self.shared.is_some() && src.remaining() >= MIN_SHARED {
            let bytes = src.copy_to_bytes(src.remaining());
            self.put_shared(bytes);
        } else {
            self.buf.put(src);
        }
    }

    fn put_slice(&mut self, src: &[u8]) {
        self.buf.extend_from_slice(src);
    }
}

/// Encodes requests and decodes responses (or the reverse on a server).
/// Implementations must be cheap to clone: one is made per call.
pub trait Codec: Clone + Send + Sync + 'static {
    /// The type this side sends.
    type Encode: Send + 'static;
    /// The type this side receives.
    type Decode: Send + 'static;

    /// Appends the encoding of `item` to `dst`.
    fn encode(&self, item: &Self::Encode, dst: &mut EncodeBuf<'_>) -> Result<(), Status>;

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

    fn encode(&self, item: &E, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
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

    fn encode(&self, item: &Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_shared(item.clone());
        Ok(())
    }

    fn decode(&self, src: Bytes) -> Result<Bytes, Status> {
        Ok(src)
    }

    fn encoded_len(&self, item: &Bytes) -> Option<usize> {
        Some(item.len())
    }
}
