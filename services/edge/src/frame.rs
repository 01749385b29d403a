//! gRPC length-prefixed framing: a 1-byte compression flag, a 4-byte
//! big-endian length, then the message.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use scout_common::{ApiError, ErrorCode};

/// Bytes of a frame header: the flag and the length.
pub const HEADER: usize = 5;

/// Frames one uncompressed message.
pub fn encode(message: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(message.len() + 5);
    out.put_u8(0);
    out.put_u32(message.len() as u32);
    out.put_slice(message);
    out.freeze()
}

/// Checks that `body` is exactly one complete frame no larger than `max`
/// and returns it unchanged. Compressed frames are passed through (the
/// owning service decides whether it accepts the encoding).
pub fn check_single(body: &Bytes, max: usize) -> Result<(), ApiError> {
    if body.len() < 5 {
        return Err(ApiError::new(
            ErrorCode::MalformedRequest,
            format!(
                "truncated gRPC frame: {} bytes, a frame header alone is 5",
                body.len()
            ),
        ));
    }
    let flag = body[0];
    if flag > 1 {
        return Err(ApiError::new(
            ErrorCode::MalformedRequest,
            format!("invalid gRPC frame flag {flag}"),
        ));
    }
    let declared = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
    if declared > max {
        return Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("request message of {declared} bytes exceeds the {max}-byte limit"),
        ));
    }
    let present = body.len() - 5;
    if present < declared {
        return Err(ApiError::new(
            ErrorCode::MalformedRequest,
            format!("truncated gRPC frame: header declares {declared} bytes, {present} present"),
        ));
    }
    if present > declared {
        return Err(ApiError::new(
            ErrorCode::MalformedRequest,
            format!(
                "unary call carries more than one message ({} extra bytes)",
                present - declared
            ),
        ));
    }
    Ok(())
}

/// Splits a byte stream into frames as bytes arrive.
#[derive(Default)]
pub struct Decoder {
    buf: BytesMut,
}

impl Decoder {
    /// Adds bytes; returns the messages completed by them.
    pub fn push(&mut self, data: &[u8]) -> Vec<Bytes> {
        self.buf.extend_from_slice(data);
        let mut out = Vec::new();
        while self.buf.len() >= 5 {
            let len =
                u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]) as usize;
            if self.buf.len() < 5 + len {
                break;
            }
            self.buf.advance(5);
            out.push(self.buf.split_to(len).freeze());
        }
        out
    }

    /// Bytes of an incomplete frame still held.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_across_chunk_boundaries() {
        let a = encode(b"hello");
        let b = encode(&[7u8; 300]);
        let all = [a.as_ref(), b.as_ref()].concat();
        let mut d = Decoder::default();
        let mut got = Vec::new();
        for chunk in all.chunks(7) {
            got.extend(d.push(chunk));
        }
        assert_eq!(
            got,
            vec![Bytes::from_static(b"hello"), Bytes::from(vec![7u8; 300])]
        );
        assert_eq!(d.pending(), 0);
    }

    #[test]
    fn single_frame_checks() {
        assert!(check_single(&encode(b"abc"), 10).is_ok());
        let truncated = encode(b"abcdef").slice(..7);
        let e = check_single(&truncated, 10).expect_err("truncated");
        assert!(
            e.message.contains("declares 6 bytes, 2 present"),
            "{}",
            e.message
        );
        assert_eq!(
            check_single(&encode(&[0; 20]), 10)
                .expect_err("too big")
                .code,
            ErrorCode::PayloadTooLarge
        );
        assert!(check_single(&Bytes::from_static(b"\0\0"), 10).is_err());
    }
}
