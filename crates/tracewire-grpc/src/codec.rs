//! [`InvalidArgumentCodec`]: tonic-prost's codec, except that a message that cannot be
//! decoded is `INVALID_ARGUMENT` (the caller sent bad input) instead of `INTERNAL`.
//!
//! Use it from `build.rs` with
//! `tonic_prost_build::configure().codec_path("tracewire_grpc::codec::InvalidArgumentCodec")`.
//! The generated client uses the same codec, so an undecodable *response* is reported
//! as `INVALID_ARGUMENT` too.

use std::fmt;
use std::marker::PhantomData;

use tonic::Status;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder};
use tonic_prost::{ProstCodec, ProstDecoder};

/// A prost codec whose decode failures are `INVALID_ARGUMENT` with the decode error
/// as the message.
pub struct InvalidArgumentCodec<T, U> {
    inner: ProstCodec<T, U>,
}

impl<T, U> Default for InvalidArgumentCodec<T, U> {
    fn default() -> Self {
        Self {
            inner: ProstCodec::default(),
        }
    }
}

impl<T, U> fmt::Debug for InvalidArgumentCodec<T, U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InvalidArgumentCodec")
    }
}

impl<T, U> Codec for InvalidArgumentCodec<T, U>
where
    T: prost::Message + Send + 'static,
    U: prost::Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = <ProstCodec<T, U> as Codec>::Encoder;
    type Decoder = InvalidArgumentDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        self.inner.encoder()
    }

    fn decoder(&mut self) -> Self::Decoder {
        InvalidArgumentDecoder {
            inner: self.inner.decoder(),
            _message: PhantomData,
        }
    }
}

/// The decoder of [`InvalidArgumentCodec`].
pub struct InvalidArgumentDecoder<U> {
    inner: ProstDecoder<U>,
    _message: PhantomData<fn() -> U>,
}

impl<U> fmt::Debug for InvalidArgumentDecoder<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InvalidArgumentDecoder")
    }
}

impl<U: prost::Message + Default> Decoder for InvalidArgumentDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        self.inner.decode(src).map_err(|status| {
            if status.code() == tonic::Code::Internal {
                Status::invalid_argument(format!("malformed message: {}", status.message()))
            } else {
                status
            }
        })
    }

    fn buffer_settings(&self) -> BufferSettings {
        self.inner.buffer_settings()
    }
}
