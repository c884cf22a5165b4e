//! The `create` object of a desired-state guest (CONTRACT §10): how to
//! provision a guest that exists on no node of the cluster.
//!
//! Owns: the strict parse of the object into [`CreateSpec`] (whose type,
//! canonical form and value formats are `crate::ops::create`'s), so every
//! value that reaches a PVE create request was checked here first.
//! Trusts: nothing (the document comes from a file or the hub).
//!
//! ```json
//! {"kind": "lxc", "name": "shop", "ostemplate": "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
//!  "storage": "local-lvm", "disk_gib": 8, "unprivileged": true, "net0": "name=eth0,bridge=vmbr0,ip=dhcp"}
//! {"kind": "qemu", "name": "build", "clone": 9000, "full": true, "storage": "local-lvm"}
//! ```
//!
//! Rules (each a typed error naming the JSON path):
//! - `kind` selects the key set; a key of the other kind is unknown.
//! - `name`: a DNS label (1-63 letters, digits, `-`, not at either end).
//! - `storage`: a PVE storage id; `ostemplate`: `STORAGE:vztmpl/FILE`, FILE
//!   one path segment ending in `.tar` (optionally `.gz`, `.xz`, `.zst`,
//!   `.bz2`); `disk_gib`: 1..=65536; `clone`: a vmid.
//! - `net0`: `key=value` pairs of PVE's container network property string,
//!   each key known and given once, values from a conservative alphabet.
//! - Optional booleans (`unprivileged`, `full`) are remembered as given, so
//!   the canonical form is exactly the object the document held.
//!
//! Nothing in this object can claim provenance: a key such as `scratch`,
//! `provenance` or `transaction` is unknown and rejects the document.

use super::json::Obj;
use super::{DesiredError, MAX_VMID};
pub use crate::ops::create::{
    CreateSpec, LxcSpec, MAX_DISK_GIB, QemuSpec, valid_dns_label, valid_net0, valid_ostemplate,
    valid_storage_id,
};
use serde_json::Value;

/// Strict parse of the `create` object at `path` (the inverse of
/// [`CreateSpec::to_value`]).
pub fn parse_create(path: String, v: &Value) -> Result<CreateSpec, DesiredError> {
    let mut o = Obj::new(path, v)?;
    let kind = required_str(&mut o, "kind")?;
    let name = required_str(&mut o, "name")?;
    check(
        &o,
        "name",
        valid_dns_label(name),
        "a DNS label (1-63 letters, digits or '-')",
    )?;
    let storage = required_str(&mut o, "storage")?;
    check(&o, "storage", valid_storage_id(storage), "a PVE storage id")?;
    let spec = match kind {
        "lxc" => CreateSpec::Lxc(lxc(&mut o, name, storage)?),
        "qemu" => CreateSpec::Qemu(qemu(&mut o, name, storage)?),
        _ => {
            return Err(DesiredError::Invalid {
                path: o.path("kind"),
                expected: "\"lxc\" or \"qemu\"",
            });
        }
    };
    o.finish()?;
    Ok(spec)
}

/// The rules of [`parse_create`] for a value built in code.
pub fn validate_create(spec: &CreateSpec, path: &str) -> Result<(), DesiredError> {
    parse_create(path.to_string(), &spec.to_value()).map(|_| ())
}

fn lxc(o: &mut Obj<'_>, name: &str, storage: &str) -> Result<LxcSpec, DesiredError> {
    let ostemplate = required_str(o, "ostemplate")?;
    check(
        o,
        "ostemplate",
        valid_ostemplate(ostemplate),
        "STORAGE:vztmpl/FILE (FILE a template archive name)",
    )?;
    let disk_gib = o.u64("disk_gib")?;
    if !(1..=MAX_DISK_GIB).contains(&disk_gib) {
        return Err(DesiredError::OutOfRange {
            path: o.path("disk_gib"),
            allowed: "1..=65536",
        });
    }
    let unprivileged = o.opt_bool("unprivileged")?;
    let net0 = o.opt_str("net0")?;
    if let Some(n) = net0 {
        check(
            o,
            "net0",
            valid_net0(n),
            "a container network property string",
        )?;
    }
    Ok(LxcSpec {
        name: name.to_string(),
        ostemplate: ostemplate.to_string(),
        storage: storage.to_string(),
        disk_gib,
        unprivileged,
        net0: net0.map(str::to_string),
    })
}

fn qemu(o: &mut Obj<'_>, name: &str, storage: &str) -> Result<QemuSpec, DesiredError> {
    let clone = o.u64("clone")?;
    let clone = u32::try_from(clone)
        .ok()
        .filter(|c| *c >= 1 && u64::from(*c) <= MAX_VMID)
        .ok_or_else(|| DesiredError::OutOfRange {
            path: o.path("clone"),
            allowed: "1..=999999999",
        })?;
    Ok(QemuSpec {
        name: name.to_string(),
        clone,
        full: o.opt_bool("full")?,
        storage: storage.to_string(),
    })
}

fn required_str<'a>(o: &mut Obj<'a>, key: &str) -> Result<&'a str, DesiredError> {
    o.opt_str(key)?
        .ok_or_else(|| DesiredError::MissingKey { path: o.path(key) })
}

fn check(o: &Obj<'_>, key: &str, ok: bool, expected: &'static str) -> Result<(), DesiredError> {
    if ok {
        Ok(())
    } else {
        Err(DesiredError::Invalid {
            path: o.path(key),
            expected,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<CreateSpec, DesiredError> {
        parse_create("c".into(), &v)
    }

    #[test]
    fn contract_examples_parse_and_round_trip_exactly() {
        let lxc = json!({"kind": "lxc", "name": "shop",
            "ostemplate": "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
            "storage": "local-lvm", "disk_gib": 8, "unprivileged": true,
            "net0": "name=eth0,bridge=vmbr0,ip=dhcp"});
        let qemu = json!({"kind": "qemu", "name": "build", "clone": 9000, "full": true,
            "storage": "local-lvm"});
        let minimal = json!({"kind": "qemu", "name": "b", "clone": 9000, "storage": "s1"});
        for v in [lxc, qemu, minimal] {
            let spec = parse(v.clone()).unwrap();
            assert_eq!(spec.to_value(), v);
        }
        let spec =
            parse(json!({"kind": "qemu", "name": "b", "clone": 9, "storage": "s1"})).unwrap();
        match spec {
            CreateSpec::Qemu(q) => assert!(q.full()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_rule_names_the_key() {
        let base = json!({"kind": "lxc", "name": "a", "ostemplate": "local:vztmpl/x.tar.gz",
            "storage": "local-lvm", "disk_gib": 1});
        let with = |k: &str, v: Value| {
            let mut o = base.clone();
            o[k] = v;
            o
        };
        let cases = [
            (with("kind", json!("vm")), "c.kind"),
            (with("name", json!("-a")), "c.name"),
            (with("name", json!("a.b")), "c.name"),
            (with("name", json!("x".repeat(64))), "c.name"),
            (with("storage", json!("../x")), "c.storage"),
            (
                with("ostemplate", json!("local:iso/x.tar.gz")),
                "c.ostemplate",
            ),
            (
                with("ostemplate", json!("local:vztmpl/../x.tar.gz")),
                "c.ostemplate",
            ),
            (
                with("ostemplate", json!("local:vztmpl/x.iso")),
                "c.ostemplate",
            ),
            (
                with("ostemplate", json!("local:vztmpl/a/b.tar")),
                "c.ostemplate",
            ),
            (with("disk_gib", json!(0)), "c.disk_gib"),
            (with("disk_gib", json!(65_537)), "c.disk_gib"),
            (with("net0", json!("name=eth0,name=eth1")), "c.net0"),
            (with("net0", json!("name=eth0,script=/x")), "c.net0"),
            (with("net0", json!("name=eth0 ,ip=dhcp")), "c.net0"),
            (with("clone", json!(9000)), "c.clone"),
            (with("provenance", json!("agent")), "c.provenance"),
            (with("scratch", json!(true)), "c.scratch"),
        ];
        for (v, path) in cases {
            let e = parse(v.clone()).unwrap_err();
            let shown = e.to_string();
            assert!(shown.contains(path), "{v}: {shown}");
        }
        let q = json!({"kind": "qemu", "name": "b", "clone": 0, "storage": "s1"});
        assert!(parse(q).unwrap_err().to_string().contains("c.clone"));
        let q = json!({"kind": "qemu", "name": "b", "clone": 1, "storage": "s1", "disk_gib": 1});
        assert!(parse(q).unwrap_err().to_string().contains("c.disk_gib"));
    }

    fn document(guest: Value) -> Result<super::super::DesiredState, DesiredError> {
        let doc = json!({"generation": 1, "desired_state": {"guests": [guest]}});
        super::super::parse(doc.to_string().as_bytes())
    }

    #[test]
    fn guest_level_contradictions_are_rejected_and_a_valid_entry_round_trips() {
        let q = json!({"kind": "qemu", "name": "b", "clone": 9000, "storage": "s1"});
        let e = document(json!({"vmid": 9100, "state": "absent", "create": q})).unwrap_err();
        assert!(
            matches!(e, DesiredError::CreateWithAbsent { ref path } if path == "desired_state.guests[0].create"),
            "{e}"
        );
        let e = document(json!({"vmid": 9000, "create": q})).unwrap_err();
        assert!(
            e.to_string()
                .contains("desired_state.guests[0].create.clone"),
            "{e}"
        );
        let doc = document(json!({"vmid": 9100, "state": "running", "create": q})).unwrap();
        let guest = doc.guest(9100).unwrap();
        assert_eq!(guest.create.as_ref().unwrap().to_value(), q);
        let again = super::super::parse(doc.to_document().to_string().as_bytes()).unwrap();
        assert_eq!(again, doc);
    }
}
