//! SSHSIG armor (PROTOCOL.sshsig §"Armored format"), parsed the way
//! OpenSSH's `sshsig_dearmor` does.
//!
//! Owns: turning the bytes of a `.sig` file into the binary SSHSIG blob.
//! Trusts: nothing.
//!
//! Format:
//!
//! ```text
//! -----BEGIN SSH SIGNATURE-----\n      at offset 0, LF only (as OpenSSH)
//! base64 body                          any line width, LF or CRLF; ASCII
//!                                      whitespace anywhere is skipped
//! -----END SSH SIGNATURE-----          first occurrence; anything after it
//!                                      is ignored
//! ```
//!
//! The body, with whitespace removed, must be strict padded base64
//! ([`crate::base64::decode`]): no stray characters, canonical padding and
//! zero trailing bits. OpenSSH's `b64_pton` accepts the same set.

use std::fmt;

/// Largest `.sig` file read: an Ed25519 SSHSIG armors to about 300 bytes;
/// 16 KiB leaves room for any line width and trailing text.
pub const MAX_ARMORED_LEN: usize = 16 * 1024;

const BEGIN: &[u8] = b"-----BEGIN SSH SIGNATURE-----\n";
const END: &[u8] = b"-----END SSH SIGNATURE-----";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArmorError {
    TooLarge,
    MissingHeader,
    MissingFooter,
    Base64(crate::base64::Base64Error),
}

impl fmt::Display for ArmorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArmorError::TooLarge => {
                write!(f, "signature file larger than {MAX_ARMORED_LEN} bytes")
            }
            ArmorError::MissingHeader => write!(
                f,
                "signature does not start with \"-----BEGIN SSH SIGNATURE-----\" and a newline"
            ),
            ArmorError::MissingFooter => {
                write!(f, "signature has no \"-----END SSH SIGNATURE-----\" line")
            }
            ArmorError::Base64(e) => write!(f, "signature body: {e}"),
        }
    }
}

impl std::error::Error for ArmorError {}

/// C `isspace` in the "C" locale, the set `b64_pton` skips.
fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Returns the decoded SSHSIG blob inside the armor.
pub fn dearmor(armored: &[u8]) -> Result<Vec<u8>, ArmorError> {
    if armored.len() > MAX_ARMORED_LEN {
        return Err(ArmorError::TooLarge);
    }
    let rest = armored
        .strip_prefix(BEGIN)
        .ok_or(ArmorError::MissingHeader)?;
    let end = rest
        .windows(END.len())
        .position(|w| w == END)
        .ok_or(ArmorError::MissingFooter)?;
    let body: Vec<u8> = rest
        .get(..end)
        .unwrap_or_default()
        .iter()
        .copied()
        .filter(|&c| !is_c_space(c))
        .collect();
    crate::base64::decode(&body).map_err(ArmorError::Base64)
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;

    #[test]
    fn any_line_width_and_crlf_decode_alike() {
        let a = b"-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\nAAAAAQ==\n-----END SSH SIGNATURE-----\n";
        let b = b"-----BEGIN SSH SIGNATURE-----\nU1NI\r\nU0lHAAAA\r\nAQ==\r\n-----END SSH SIGNATURE-----\r\ntrailer";
        assert_eq!(dearmor(a).unwrap(), b"SSHSIG\0\0\0\x01");
        assert_eq!(dearmor(b).unwrap(), b"SSHSIG\0\0\0\x01");
    }

    #[test]
    fn header_must_be_first_and_lf_terminated() {
        let lead = b"\n-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----\n";
        let crlf = b"-----BEGIN SSH SIGNATURE-----\r\nAAAA\n-----END SSH SIGNATURE-----\n";
        assert_eq!(dearmor(lead), Err(ArmorError::MissingHeader));
        assert_eq!(dearmor(crlf), Err(ArmorError::MissingHeader));
    }

    #[test]
    fn missing_footer_bad_base64_and_oversize_are_typed_errors() {
        let nofoot = b"-----BEGIN SSH SIGNATURE-----\nAAAA\n";
        assert_eq!(dearmor(nofoot), Err(ArmorError::MissingFooter));
        let junk = b"-----BEGIN SSH SIGNATURE-----\nAA*A\n-----END SSH SIGNATURE-----\n";
        assert!(matches!(dearmor(junk), Err(ArmorError::Base64(_))));
        let big = vec![b' '; MAX_ARMORED_LEN + 1];
        assert_eq!(dearmor(&big), Err(ArmorError::TooLarge));
    }
}
