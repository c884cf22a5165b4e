//! Provisioning endpoints: create a container, clone a VM template, and the
//! reads that bound them (storage status, a template's disks).
//!
//! Exact requests (form-encoded; `{n}` is `/nodes/{node}` of this host):
//!
//! | call | request | answer |
//! |---|---|---|
//! | `create_lxc` | `POST {n}/lxc` `vmid ostemplate hostname rootfs=STORAGE:GIB unprivileged=0|1 [net0]` | UPID |
//! | `clone_qemu` | `POST {n}/qemu/{template}/clone` `newid name full=0|1 [storage]` (storage only for a full clone: PVE refuses it for a linked one) | UPID |
//! | `storage_status` | `GET {n}/storage/{storage}/status` | `{total, used, avail, active, enabled, ...}` |
//! | `template_disks` | `GET {n}/qemu/{template}/config` | the config; its disks are read |
//!
//! Privileges (pve-container `API2/LXC.pm` create_vm, qemu-server
//! `API2/Qemu.pm` clone_vm, pve-storage `API2/Storage/Status.pm`
//! read_status): `VM.Allocate` on the new vmid, `VM.Config.Disk` and
//! `VM.Config.Network` for the container's rootfs, hostname and network,
//! `VM.Clone` on the template, `Datastore.AllocateSpace` on the target
//! storage, `Datastore.Audit` (or AllocateSpace) on the template storage
//! and for the status read, `SDN.Use` on the bridge.
//!
//! Both creations are sent once and never retried (see `transport`): a lost
//! answer leaves the outcome unknown, which the caller must treat as such.
//! Every value that goes into a path is checked here (node, storage id,
//! vmid); the rest is form-encoded.

use serde_json::{Map, Value};

use super::Client;
use super::error::PveError;
use super::guests::{GuestRef, Kind};
use super::normalize::{pve_bool, u64_value};
use super::tasks::decode_upid;
use super::transport::Method;
use super::upid::{Upid, valid_node};
use crate::config::valid_storage_id;

/// A VM config has a few dozen keys; more is not a PVE answer.
const MAX_CONFIG_KEYS: usize = 512;
/// A drive value is one short property string.
const MAX_DRIVE_CHARS: usize = 1024;

/// `POST /nodes/{node}/lxc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LxcCreate {
    pub vmid: u32,
    pub hostname: String,
    pub ostemplate: String,
    pub storage: String,
    pub disk_gib: u64,
    pub unprivileged: bool,
    pub net0: Option<String>,
}

/// `POST /nodes/{node}/qemu/{template}/clone`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QemuClone {
    pub template: u32,
    pub newid: u32,
    pub name: String,
    pub full: bool,
    pub storage: String,
}

/// `GET /nodes/{node}/storage/{storage}/status`, reduced to what the bound
/// needs. `None` sizes: PVE did not report them (an inactive storage).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageStatus {
    pub active: bool,
    pub enabled: bool,
    pub total: Option<u64>,
    pub avail: Option<u64>,
}

/// One disk of a template: its storage (`None` for a path outside any
/// storage) and size in bytes (0 when PVE does not say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateDisk {
    pub key: String,
    pub storage: Option<String>,
    pub bytes: u64,
}

impl Client {
    fn node_path(&self) -> Result<String, PveError> {
        if !valid_node(self.node()) {
            return Err(PveError::InvalidRequest("node name is not a DNS label"));
        }
        Ok(format!("/nodes/{}", self.node()))
    }

    /// Starts creating a container on this node; the caller follows the task.
    pub fn create_lxc(&self, req: &LxcCreate) -> Result<Upid, PveError> {
        if !valid_storage_id(&req.storage) {
            return Err(PveError::InvalidRequest("storage is not a PVE storage id"));
        }
        let mut form = vec![
            ("vmid", req.vmid.to_string()),
            ("ostemplate", req.ostemplate.clone()),
            ("hostname", req.hostname.clone()),
            ("rootfs", format!("{}:{}", req.storage, req.disk_gib)),
            ("unprivileged", u8::from(req.unprivileged).to_string()),
        ];
        if let Some(net0) = &req.net0 {
            form.push(("net0", net0.clone()));
        }
        let path = format!("{}/lxc", self.node_path()?);
        decode_upid(&self.transport.mutate(Method::Post, &path, &form)?)
    }

    /// Starts cloning the qemu template `req.template` on this node.
    pub fn clone_qemu(&self, req: &QemuClone) -> Result<Upid, PveError> {
        if !valid_storage_id(&req.storage) {
            return Err(PveError::InvalidRequest("storage is not a PVE storage id"));
        }
        let mut form = vec![
            ("newid", req.newid.to_string()),
            ("name", req.name.clone()),
            ("full", u8::from(req.full).to_string()),
        ];
        if req.full {
            form.push(("storage", req.storage.clone()));
        }
        let path = format!("{}/clone", self.template_ref(req.template).path()?);
        decode_upid(&self.transport.mutate(Method::Post, &path, &form)?)
    }

    /// The status of `storage` on this node.
    pub fn storage_status(&self, storage: &str) -> Result<StorageStatus, PveError> {
        if !valid_storage_id(storage) {
            return Err(PveError::InvalidRequest("storage is not a PVE storage id"));
        }
        let path = format!("{}/storage/{storage}/status", self.node_path()?);
        decode_storage_status(&self.transport.get(&path, &[])?)
    }

    /// The disks of the qemu template `template` on this node.
    pub fn template_disks(&self, template: u32) -> Result<Vec<TemplateDisk>, PveError> {
        let path = format!("{}/config", self.template_ref(template).path()?);
        decode_template_disks(&self.transport.get(&path, &[])?)
    }

    fn template_ref(&self, vmid: u32) -> GuestRef {
        GuestRef {
            vmid,
            node: self.node().to_string(),
            kind: Kind::Qemu,
        }
    }
}

fn decode_err(what: &str) -> PveError {
    PveError::Decode(what.to_string())
}

fn opt_flag(o: &Map<String, Value>, key: &str, default: bool) -> Result<bool, PveError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => pve_bool(v).ok_or_else(|| decode_err(&format!("{key} is not a boolean"))),
    }
}

fn opt_bytes(o: &Map<String, Value>, key: &str) -> Result<Option<u64>, PveError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => u64_value(v)
            .map(Some)
            .ok_or_else(|| decode_err(&format!("{key} is not a byte count"))),
    }
}

/// `GET .../storage/{storage}/status`. `enabled` defaults to true (older
/// PVE versions omit it); `active` to false (an unknown state is no space).
pub fn decode_storage_status(data: &Value) -> Result<StorageStatus, PveError> {
    let o = data
        .as_object()
        .ok_or_else(|| decode_err("storage status is not an object"))?;
    Ok(StorageStatus {
        active: opt_flag(o, "active", false)?,
        enabled: opt_flag(o, "enabled", true)?,
        total: opt_bytes(o, "total")?,
        avail: opt_bytes(o, "avail")?,
    })
}

/// Whether `key` names a qemu disk (`ideN`, `sataN`, `scsiN`, `virtioN`,
/// `efidisk0`, `tpmstate0`).
fn is_drive_key(key: &str) -> bool {
    if key == "efidisk0" || key == "tpmstate0" {
        return true;
    }
    ["ide", "sata", "scsi", "virtio"].iter().any(|bus| {
        key.strip_prefix(bus)
            .is_some_and(|n| !n.is_empty() && n.len() <= 3 && n.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// A PVE disk size: digits with an optional `K`, `M`, `G` or `T` suffix.
fn size_bytes(text: &str) -> Option<u64> {
    let (digits, unit) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (text.get(..i)?, c.to_ascii_uppercase()),
        _ => (text, 'B'),
    };
    let shift = match unit {
        'B' => 0,
        'K' => 10,
        'M' => 20,
        'G' => 30,
        'T' => 40,
        _ => return None,
    };
    if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(1u64 << shift)
}

/// The disks in a qemu config: CD-ROM drives and `none` are skipped.
pub fn decode_template_disks(data: &Value) -> Result<Vec<TemplateDisk>, PveError> {
    let o = data
        .as_object()
        .ok_or_else(|| decode_err("config is not an object"))?;
    if o.len() > MAX_CONFIG_KEYS {
        return Err(decode_err("config has too many keys"));
    }
    let mut disks = Vec::new();
    for (key, value) in o {
        if !is_drive_key(key) {
            continue;
        }
        let text = value
            .as_str()
            .filter(|t| t.chars().count() <= MAX_DRIVE_CHARS)
            .ok_or_else(|| decode_err("a drive is not a short string"))?;
        let mut parts = text.split(',');
        let volume = parts.next().unwrap_or_default();
        let mut bytes = 0;
        let mut cdrom = false;
        for part in parts {
            match part.split_once('=') {
                Some(("media", "cdrom")) => cdrom = true,
                Some(("size", s)) => {
                    bytes = size_bytes(s).ok_or_else(|| decode_err("a drive size is malformed"))?
                }
                _ => {}
            }
        }
        if cdrom || volume == "none" || volume == "cdrom" {
            continue;
        }
        let storage = volume
            .split_once(':')
            .map(|(s, _)| s)
            .filter(|s| valid_storage_id(s))
            .map(str::to_string);
        disks.push(TemplateDisk {
            key: key.clone(),
            storage,
            bytes,
        });
    }
    Ok(disks)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn storage_status_shapes() {
        let s = decode_storage_status(&json!({"active": 1, "enabled": 1, "total": 100,
            "avail": "40", "used": 60, "type": "lvmthin"}))
        .unwrap();
        assert_eq!(
            s,
            StorageStatus {
                active: true,
                enabled: true,
                total: Some(100),
                avail: Some(40)
            }
        );
        let inactive = decode_storage_status(&json!({"active": 0, "type": "dir"})).unwrap();
        assert!(!inactive.active && inactive.enabled && inactive.total.is_none());
        assert!(decode_storage_status(&json!({"total": -1})).is_err());
        assert!(decode_storage_status(&json!({"active": "maybe"})).is_err());
        assert!(decode_storage_status(&json!([])).is_err());
    }

    #[test]
    fn template_disks_skip_cdroms_and_read_sizes() {
        let cfg = json!({"name": "tpl", "template": 1,
            "scsi0": "local-lvm:base-9000-disk-0,iothread=1,size=8G",
            "efidisk0": "local-lvm:base-9000-disk-1,efitype=4m,size=4M",
            "ide2": "local:iso/debian.iso,media=cdrom",
            "ide3": "none,media=cdrom",
            "virtio1": "/dev/sdb,size=512",
            "net0": "virtio=BC:24:11:00:00:01,bridge=vmbr0",
            "scsihw": "virtio-scsi-pci"});
        let mut disks = decode_template_disks(&cfg).unwrap();
        disks.sort_by(|a, b| a.key.cmp(&b.key));
        assert_eq!(disks.len(), 3, "{disks:?}");
        assert_eq!(disks[0].key, "efidisk0");
        assert_eq!(disks[0].bytes, 4 << 20);
        assert_eq!(disks[1].storage.as_deref(), Some("local-lvm"));
        assert_eq!(disks[1].bytes, 8 << 30);
        assert_eq!(disks[2].storage, None);
        assert_eq!(disks[2].bytes, 512);
        assert!(decode_template_disks(&json!({"scsi0": 5})).is_err());
        assert!(decode_template_disks(&json!({"scsi0": "s:v,size=8X"})).is_err());
        assert!(decode_template_disks(&json!({"scsi0": "s:v,size=99999999999999999T"})).is_err());
    }
}
