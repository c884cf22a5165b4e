//! Strict standard base64 (RFC 4648 §4, with `=` padding) for untrusted input:
//! SSHSIG armor bodies and hub job blobs. Decoding rejects characters
//! outside the alphabet, bad padding and non-zero trailing bits, so one byte
//! string has exactly one accepted encoding. Encoding is used for fingerprints
//! and reports.

use std::fmt;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base64Error {
    /// Length is not a multiple of 4.
    Length,
    /// A byte outside the alphabet (at this offset).
    Character(usize),
    /// `=` somewhere other than the last one or two positions.
    Padding,
    /// The unused low bits of the last symbol are not zero.
    TrailingBits,
}

impl fmt::Display for Base64Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Base64Error::Length => write!(f, "base64 length is not a multiple of 4"),
            Base64Error::Character(at) => write!(f, "invalid base64 character at offset {at}"),
            Base64Error::Padding => write!(f, "misplaced base64 padding"),
            Base64Error::TrailingBits => write!(f, "non-canonical base64 (trailing bits set)"),
        }
    }
}

impl std::error::Error for Base64Error {}

fn value(c: u8) -> Option<u32> {
    let v = match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    };
    Some(u32::from(v))
}

/// Decodes padded standard base64.
pub fn decode(input: &[u8]) -> Result<Vec<u8>, Base64Error> {
    if !input.len().is_multiple_of(4) {
        return Err(Base64Error::Length);
    }
    let mut out = Vec::with_capacity(input.len() / 4 * 3);
    let chunks = input.len() / 4;
    for (i, chunk) in input.chunks_exact(4).enumerate() {
        let last = i + 1 == chunks;
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return Err(Base64Error::Padding);
        }
        let mut acc: u32 = 0;
        for (j, &c) in chunk.iter().enumerate() {
            let v = if j >= 4 - pad {
                0
            } else {
                value(c).ok_or(Base64Error::Character(i * 4 + j))?
            };
            acc = (acc << 6) | v;
        }
        let bytes = acc.to_be_bytes();
        let [_, b0, b1, b2] = bytes;
        match pad {
            0 => out.extend_from_slice(&[b0, b1, b2]),
            1 if b2 == 0 => out.extend_from_slice(&[b0, b1]),
            2 if b1 == 0 && b2 == 0 => out.push(b0),
            _ => return Err(Base64Error::TrailingBits),
        }
    }
    Ok(out)
}

/// Encodes as padded standard base64.
pub fn encode(input: &[u8]) -> String {
    encode_inner(input, true)
}

/// Encodes without padding (as `ssh-keygen -l` prints fingerprints).
pub fn encode_unpadded(input: &[u8]) -> String {
    encode_inner(input, false)
}

fn encode_inner(input: &[u8], pad: bool) -> String {
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let symbols = chunk.len() + 1;
        for k in 0..4 {
            if k < symbols {
                let idx = (n >> (18 - 6 * k)) & 63;
                out.push(char::from(
                    ALPHABET.get(idx as usize).copied().unwrap_or(b'A'),
                ));
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4648_vectors_round_trip() {
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, enc) in vectors {
            assert_eq!(encode(plain.as_bytes()), enc);
            assert_eq!(decode(enc.as_bytes()), Ok(plain.as_bytes().to_vec()));
        }
        assert_eq!(encode_unpadded(b"f"), "Zg");
    }

    #[test]
    fn rejects_non_canonical_and_garbage() {
        assert_eq!(decode(b"Zg="), Err(Base64Error::Length));
        assert_eq!(decode(b"Zh=="), Err(Base64Error::TrailingBits));
        assert_eq!(decode(b"Z==="), Err(Base64Error::Padding));
        assert_eq!(decode(b"Zg==Zm9v"), Err(Base64Error::Padding));
        assert_eq!(decode(b"Zm9*"), Err(Base64Error::Character(3)));
        assert_eq!(decode(b"Zm=v"), Err(Base64Error::Character(2)));
    }
}
