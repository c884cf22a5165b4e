//! The SSH wire encoding (RFC 4251 §5) subset SSHSIG and key blobs use:
//! `uint32` big-endian, `byte`, and `string` (uint32 length + bytes).
//!
//! Owns: bounds-checked reading of untrusted byte strings. Every read states
//! the largest length it accepts, so no length field can make the agent
//! allocate or scan more than its caller allows.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// The input ends inside a field.
    Truncated,
    /// A string longer than the field allows.
    TooLong,
    /// Bytes left after the last field.
    TrailingBytes,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Truncated => write!(f, "truncated"),
            WireError::TooLong => write!(f, "field longer than allowed"),
            WireError::TrailingBytes => write!(f, "unexpected trailing bytes"),
        }
    }
}

/// A cursor over untrusted bytes.
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { rest: bytes }
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if n > self.rest.len() {
            return Err(WireError::Truncated);
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    pub fn u8(&mut self) -> Result<u8, WireError> {
        let b = self.take(1)?;
        b.first().copied().ok_or(WireError::Truncated)
    }

    pub fn u32(&mut self) -> Result<u32, WireError> {
        let b = self.take(4)?;
        let arr: [u8; 4] = b.try_into().map_err(|_| WireError::Truncated)?;
        Ok(u32::from_be_bytes(arr))
    }

    /// A `string` of at most `max` bytes.
    pub fn string(&mut self, max: usize) -> Result<&'a [u8], WireError> {
        let len = usize::try_from(self.u32()?).map_err(|_| WireError::TooLong)?;
        if len > max {
            return Err(WireError::TooLong);
        }
        self.take(len)
    }

    /// Succeeds only when every byte has been read.
    pub fn finish(self) -> Result<(), WireError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(WireError::TrailingBytes)
        }
    }
}
