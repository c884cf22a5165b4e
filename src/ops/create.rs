//! The `create` op's params (CONTRACT §10): how to provision a guest that
//! exists on no node of the cluster, and the formats its values must have.
//!
//! Owns: [`CreateSpec`] and its canonical JSON form (the `params` of a
//! `create` action), and the value formats a creation may send to PVE.
//! Only the desired state asks for a creation (its strict parser is
//! `reconcile::desired::create`); a signed `create` is `unsupported_op`
//! ([`super::ActionOp::parse`] never returns one).
//!
//! ```json
//! {"kind": "lxc", "name": "shop", "ostemplate": "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
//!  "storage": "local-lvm", "disk_gib": 8, "unprivileged": true, "net0": "name=eth0,bridge=vmbr0,ip=dhcp"}
//! {"kind": "qemu", "name": "build", "clone": 9000, "full": true, "storage": "local-lvm"}
//! ```
//!
//! Optional booleans (`unprivileged`, `full`) are kept as given, so the
//! canonical form is exactly the object the document held.

use serde_json::{Map, Value};

/// PVE storage ids are short; bounds what lands in URLs and logs.
pub const MAX_STORAGE_ID_LEN: usize = 64;
/// PVE limits `rootfs` sizes far below this; 64 TiB is a typo guard.
pub const MAX_DISK_GIB: u64 = 65_536;
/// Template file names are short; bounds the URL-encoded request.
const MAX_TEMPLATE_FILE: usize = 255;
/// A container network property string with every option fits easily.
const MAX_NET0: usize = 512;
/// One network option value (an IPv6 CIDR, a trunk list) fits easily.
const MAX_NET_VALUE: usize = 128;
/// PVE's container `net[n]` property keys (pve-container `LXC/Config.pm`).
const NET_KEYS: &[&str] = &[
    "name",
    "bridge",
    "hwaddr",
    "ip",
    "ip6",
    "gw",
    "gw6",
    "firewall",
    "link_down",
    "mtu",
    "rate",
    "tag",
    "trunks",
    "type",
    "host-managed",
];

/// A container from an OS template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LxcSpec {
    pub name: String,
    pub ostemplate: String,
    pub storage: String,
    pub disk_gib: u64,
    /// As given; `None` = the default (true).
    pub unprivileged: Option<bool>,
    pub net0: Option<String>,
}

/// A VM cloned from a template on this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QemuSpec {
    pub name: String,
    pub clone: u32,
    /// As given; `None` = the default (true: a full clone).
    pub full: Option<bool>,
    pub storage: String,
}

/// How to create a guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateSpec {
    Lxc(LxcSpec),
    Qemu(QemuSpec),
}

impl LxcSpec {
    pub fn unprivileged(&self) -> bool {
        self.unprivileged.unwrap_or(true)
    }
}

impl QemuSpec {
    pub fn full(&self) -> bool {
        self.full.unwrap_or(true)
    }
}

impl CreateSpec {
    /// `lxc` or `qemu`.
    pub fn kind(&self) -> &'static str {
        match self {
            CreateSpec::Lxc(_) => "lxc",
            CreateSpec::Qemu(_) => "qemu",
        }
    }

    pub fn name(&self) -> &str {
        match self {
            CreateSpec::Lxc(s) => &s.name,
            CreateSpec::Qemu(s) => &s.name,
        }
    }

    /// The storage the new guest's disks are allocated on.
    pub fn storage(&self) -> &str {
        match self {
            CreateSpec::Lxc(s) => &s.storage,
            CreateSpec::Qemu(s) => &s.storage,
        }
    }

    /// The canonical object: the keys the document gave, nothing added.
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("kind".into(), self.kind().into());
        m.insert("name".into(), self.name().into());
        match self {
            CreateSpec::Lxc(s) => {
                m.insert("ostemplate".into(), s.ostemplate.as_str().into());
                m.insert("storage".into(), s.storage.as_str().into());
                m.insert("disk_gib".into(), s.disk_gib.into());
                if let Some(u) = s.unprivileged {
                    m.insert("unprivileged".into(), u.into());
                }
                if let Some(n) = &s.net0 {
                    m.insert("net0".into(), n.as_str().into());
                }
            }
            CreateSpec::Qemu(s) => {
                m.insert("clone".into(), s.clone.into());
                if let Some(f) = s.full {
                    m.insert("full".into(), f.into());
                }
                m.insert("storage".into(), s.storage.as_str().into());
            }
        }
        Value::Object(m)
    }
}

/// PVE's `pve-storage-id` format: a letter, then letters, digits, `-`,
/// `_` or `.`, ending in a letter or digit (at least two characters).
pub fn valid_storage_id(id: &str) -> bool {
    let b = id.as_bytes();
    let inner = |c: &u8| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.');
    match (b.first(), b.last()) {
        (Some(first), Some(last)) => {
            b.len() >= 2
                && b.len() <= MAX_STORAGE_ID_LEN
                && first.is_ascii_alphabetic()
                && last.is_ascii_alphanumeric()
                && b.iter().all(inner)
        }
        _ => false,
    }
}

pub fn valid_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && b.first() != Some(&b'-')
        && b.last() != Some(&b'-')
}

/// `STORAGE:vztmpl/FILE`.
pub fn valid_ostemplate(s: &str) -> bool {
    let Some((storage, rest)) = s.split_once(':') else {
        return false;
    };
    let Some(file) = rest.strip_prefix("vztmpl/") else {
        return false;
    };
    let archive = [".tar", ".tar.gz", ".tar.xz", ".tar.zst", ".tar.bz2"]
        .iter()
        .any(|ext| file.len() > ext.len() && file.ends_with(ext));
    valid_storage_id(storage)
        && archive
        && file.len() <= MAX_TEMPLATE_FILE
        && !file.starts_with('.')
        && !file.contains("..")
        && file
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-' | b'+'))
}

/// `key=value[,key=value...]` with known, unique keys and plain values.
pub fn valid_net0(s: &str) -> bool {
    if s.is_empty() || s.len() > MAX_NET0 {
        return false;
    }
    let mut seen: Vec<&str> = Vec::new();
    for part in s.split(',') {
        let Some((key, value)) = part.split_once('=') else {
            return false;
        };
        let value_ok = !value.is_empty()
            && value.len() <= MAX_NET_VALUE
            && value.bytes().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, b'.' | b':' | b'/' | b'_' | b';' | b'-')
            });
        if !NET_KEYS.contains(&key) || seen.contains(&key) || !value_ok {
            return false;
        }
        seen.push(key);
    }
    true
}
