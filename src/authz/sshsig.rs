//! The binary SSHSIG blob (OpenSSH PROTOCOL.sshsig) and its signed data.
//!
//! Owns: structure checks of stage 1 and the bytes stage 4 verifies.
//! Trusts: nothing.
//!
//! ```text
//! byte[6]  "SSHSIG"
//! uint32   version          must be 1
//! string   public key       key blob, compared byte for byte with signer keys
//! string   namespace
//! string   reserved         must be empty
//! string   hash_algorithm   "sha256" or "sha512"
//! string   signature        key-type specific (see `key`)
//!                           nothing may follow
//! ```
//!
//! Stricter than OpenSSH (which accepts these): version 0 and a non-empty
//! reserved field. Bytes after the signature are refused by both.

use super::wire::{Reader, WireError};
use ssh_key::HashAlg;
use std::fmt;

const MAGIC: &[u8] = b"SSHSIG";
const VERSION: u32 = 1;
/// Largest SSHSIG blob: an armored file is at most 16 KiB, so its body
/// decodes to less than 12 KiB.
pub const MAX_SSHSIG_LEN: usize = 12 * 1024;
/// Largest public key blob read (an sk key with its application is < 400).
const MAX_KEY_BLOB: usize = 1024;
/// Largest namespace read before comparing it with `felhom-op-v1`.
const MAX_NAMESPACE: usize = 256;
/// Largest hash-algorithm name read.
const MAX_HASH_NAME: usize = 16;
/// Largest signature blob read (Ed25519 / sk: under 128 bytes).
const MAX_SIGNATURE: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StructureError {
    TooLarge,
    Magic,
    Version(u32),
    Wire(WireError),
    ReservedNotEmpty,
    HashAlgorithm,
}

impl fmt::Display for StructureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StructureError::TooLarge => write!(f, "SSHSIG blob larger than {MAX_SSHSIG_LEN} bytes"),
            StructureError::Magic => write!(f, "not an SSHSIG blob (magic)"),
            StructureError::Version(v) => write!(f, "SSHSIG version {v}, expected 1"),
            StructureError::Wire(e) => write!(f, "SSHSIG blob: {e}"),
            StructureError::ReservedNotEmpty => write!(f, "SSHSIG reserved field is not empty"),
            StructureError::HashAlgorithm => {
                write!(f, "SSHSIG hash algorithm is not sha256 or sha512")
            }
        }
    }
}

impl From<WireError> for StructureError {
    fn from(e: WireError) -> Self {
        StructureError::Wire(e)
    }
}

/// A structurally valid SSHSIG blob. Nothing in it is verified yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshSig {
    pub public_key: Vec<u8>,
    pub namespace: Vec<u8>,
    pub hash_alg: HashAlg,
    pub signature: Vec<u8>,
}

pub fn parse(blob: &[u8]) -> Result<SshSig, StructureError> {
    if blob.len() > MAX_SSHSIG_LEN {
        return Err(StructureError::TooLarge);
    }
    let mut r = Reader::new(blob);
    if r.take(MAGIC.len()).ok() != Some(MAGIC) {
        return Err(StructureError::Magic);
    }
    let version = r.u32()?;
    if version != VERSION {
        return Err(StructureError::Version(version));
    }
    let public_key = r.string(MAX_KEY_BLOB)?.to_vec();
    let namespace = r.string(MAX_NAMESPACE)?.to_vec();
    if !r.string(MAX_SIGNATURE)?.is_empty() {
        return Err(StructureError::ReservedNotEmpty);
    }
    let hash_alg = match r.string(MAX_HASH_NAME)? {
        b"sha256" => HashAlg::Sha256,
        b"sha512" => HashAlg::Sha512,
        _ => return Err(StructureError::HashAlgorithm),
    };
    let signature = r.string(MAX_SIGNATURE)?.to_vec();
    r.finish()?;
    Ok(SshSig {
        public_key,
        namespace,
        hash_alg,
        signature,
    })
}

/// The bytes the signer's key signed: `SshSig::signed_data` of ssh-key
/// ("SSHSIG", namespace, empty reserved, hash name, H(message)).
pub fn signed_data(namespace: &str, hash_alg: HashAlg, message: &[u8]) -> Option<Vec<u8>> {
    ssh_key::SshSig::signed_data(namespace, hash_alg, message).ok()
}
