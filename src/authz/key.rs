//! Signer public keys and their signatures: `ssh-ed25519` and
//! `sk-ssh-ed25519@openssh.com` (PROTOCOL.u2f), nothing else.
//!
//! Owns: parsing key blobs, fingerprints, and verifying one signature blob
//! over given signed data. Trusts: nothing; verification only, no signing.
//!
//! Key blobs (SSH wire encoding):
//!
//! ```text
//! ssh-ed25519:                string "ssh-ed25519"  string pk[32]
//! sk-ssh-ed25519@openssh.com: string type           string pk[32]  string application
//! ```
//!
//! Signature blobs:
//!
//! ```text
//! ssh-ed25519:   string "ssh-ed25519"  string sig[64]
//! sk-ssh-ed25519: string type          string sig[64]  byte flags  uint32 counter
//! ```
//!
//! An sk signature is an Ed25519 signature over
//! `SHA256(application) || flags || counter || SHA256(signed data)`;
//! flag `0x01` is "user present". Ed25519 uses `verify_strict`: canonical S,
//! no small-order key or R (stricter than OpenSSH's ref10 for crafted
//! signatures; every signature a real signer makes passes both).

use super::wire::{Reader, WireError};
use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};
use std::fmt;

pub const ED25519: &str = "ssh-ed25519";
pub const SK_ED25519: &str = "sk-ssh-ed25519@openssh.com";
/// User-presence flag of an sk signature (PROTOCOL.u2f).
pub const FLAG_USER_PRESENT: u8 = 0x01;
/// Longest key-type name read before it is compared.
const MAX_TYPE_LEN: usize = 64;
/// Longest FIDO application string (OpenSSH uses `ssh:` plus a short name).
const MAX_APPLICATION_LEN: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    Wire(WireError),
    /// A key type other than the two supported ones.
    UnsupportedType(String),
    /// The Ed25519 public key is not 32 bytes.
    KeyLength,
    /// The sk application string is not printable ASCII.
    Application,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::Wire(e) => write!(f, "key blob: {e}"),
            KeyError::UnsupportedType(t) => write!(
                f,
                "key type {t:?} is not supported (only {ED25519} and {SK_ED25519})"
            ),
            KeyError::KeyLength => write!(f, "Ed25519 public key is not 32 bytes"),
            KeyError::Application => write!(f, "sk application is not printable ASCII"),
        }
    }
}

impl From<WireError> for KeyError {
    fn from(e: WireError) -> Self {
        KeyError::Wire(e)
    }
}

/// Why a signature blob did not verify (all are `bad_signature`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigError {
    Structure(WireError),
    /// The signature's type is not the key's type.
    TypeMismatch,
    Invalid,
    /// An sk signature without the user-presence flag, while required.
    NoUserPresence,
    /// The signature names the signer's Ed25519 point under another
    /// encoding (key type or sk application) than the signer line's.
    OtherEncoding,
}

impl fmt::Display for SigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SigError::Structure(e) => write!(f, "signature blob: {e}"),
            SigError::TypeMismatch => write!(f, "signature type differs from the key type"),
            SigError::Invalid => write!(f, "signature does not verify"),
            SigError::NoUserPresence => {
                write!(f, "security-key signature lacks the user-presence flag")
            }
            SigError::OtherEncoding => write!(
                f,
                "the signature's key is a signer's Ed25519 point under another key type or \
                 security-key application than its signer line"
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Ed25519,
    SkEd25519 { application: Vec<u8> },
}

/// A supported public key, with the exact blob it was parsed from.
///
/// Identity is the Ed25519 point ([`PublicKey::point`]): the same point as
/// `ssh-ed25519` or as `sk-ssh-ed25519@openssh.com` with any application is
/// the same key, for roles and lookups (CONTRACT §3). `==` compares the
/// whole encoding, which is what a signature must match to verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    kind: Kind,
    pk: [u8; 32],
    blob: Vec<u8>,
}

impl PublicKey {
    /// Parses a key blob; trailing bytes are refused.
    pub fn from_blob(blob: &[u8]) -> Result<PublicKey, KeyError> {
        let mut r = Reader::new(blob);
        let type_name = r.string(MAX_TYPE_LEN)?;
        let pk: [u8; 32] = r.string(32)?.try_into().map_err(|_| KeyError::KeyLength)?;
        let kind = match type_name {
            t if t == ED25519.as_bytes() => Kind::Ed25519,
            t if t == SK_ED25519.as_bytes() => {
                let app = r.string(MAX_APPLICATION_LEN)?;
                if app.is_empty() || !app.iter().all(|c| c.is_ascii_graphic()) {
                    return Err(KeyError::Application);
                }
                Kind::SkEd25519 {
                    application: app.to_vec(),
                }
            }
            t => {
                return Err(KeyError::UnsupportedType(
                    String::from_utf8_lossy(t).into_owned(),
                ));
            }
        };
        r.finish()?;
        Ok(PublicKey {
            kind,
            pk,
            blob: blob.to_vec(),
        })
    }

    pub fn type_name(&self) -> &'static str {
        match self.kind {
            Kind::Ed25519 => ED25519,
            Kind::SkEd25519 { .. } => SK_ED25519,
        }
    }

    pub fn blob(&self) -> &[u8] {
        &self.blob
    }

    /// The Ed25519 point: the key's identity, whatever its encoding.
    pub fn point(&self) -> &[u8; 32] {
        &self.pk
    }

    /// Whether the public key is a valid Ed25519 point.
    pub fn point_is_valid(&self) -> bool {
        VerifyingKey::from_bytes(&self.pk).is_ok()
    }

    /// `SHA256:` + unpadded base64 of SHA-256(blob), as `ssh-keygen -l`.
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::digest(&self.blob);
        format!("SHA256:{}", crate::base64::encode_unpadded(&digest))
    }

    /// Verifies `sig_blob` over `signed_data` with this key.
    pub fn verify(
        &self,
        signed_data: &[u8],
        sig_blob: &[u8],
        require_user_presence: bool,
    ) -> Result<(), SigError> {
        let mut r = Reader::new(sig_blob);
        let sig_type = r.string(MAX_TYPE_LEN).map_err(SigError::Structure)?;
        if sig_type != self.type_name().as_bytes() {
            return Err(SigError::TypeMismatch);
        }
        let raw: [u8; 64] = r
            .string(64)
            .map_err(SigError::Structure)?
            .try_into()
            .map_err(|_| SigError::Structure(WireError::Truncated))?;
        let signature = Signature::from_bytes(&raw);
        let key = VerifyingKey::from_bytes(&self.pk).map_err(|_| SigError::Invalid)?;
        match &self.kind {
            Kind::Ed25519 => {
                r.finish().map_err(SigError::Structure)?;
                key.verify_strict(signed_data, &signature)
                    .map_err(|_| SigError::Invalid)
            }
            Kind::SkEd25519 { application } => {
                let flags = r.u8().map_err(SigError::Structure)?;
                let counter = r.u32().map_err(SigError::Structure)?;
                r.finish().map_err(SigError::Structure)?;
                let message = sk_message(application, flags, counter, signed_data);
                key.verify_strict(&message, &signature)
                    .map_err(|_| SigError::Invalid)?;
                if require_user_presence && flags & FLAG_USER_PRESENT == 0 {
                    return Err(SigError::NoUserPresence);
                }
                Ok(())
            }
        }
    }
}

/// The bytes a security key signs (PROTOCOL.u2f, "signature").
pub fn sk_message(application: &[u8], flags: u8, counter: u32, signed_data: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(69);
    m.extend_from_slice(&Sha256::digest(application));
    m.push(flags);
    m.extend_from_slice(&counter.to_be_bytes());
    m.extend_from_slice(&Sha256::digest(signed_data));
    m
}
