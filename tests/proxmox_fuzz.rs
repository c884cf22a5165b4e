//! Mutation fuzzing of every PVE answer decoder: no input panics, every
//! input decodes or fails with a typed error.
//!
//! Seeds are real fakepve answers (PVE 9 shapes). Mutations: bit flips,
//! byte insert/delete/replace, truncation, splicing two seeds; and, on the
//! parsed JSON, replacing a random node with a value of another type.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use felhom_agent::proxmox::decode::*;
use felhom_agent::proxmox::{Kind, PveError};
use serde_json::{Value, json};
#[path = "support/rng.rs"]
mod rng;
use rng::Rng;

const SEEDS: &[&str] = &[
    r#"{"data": [{"id": "qemu/100", "type": "qemu", "node": "pve1", "name": "vm100", "vmid": 100, "status": "running", "template": 0, "cpu": 0.02, "mem": 67108864, "memhost": 67108864, "disk": 0, "diskread": 0, "diskwrite": 0, "netin": 0, "netout": 0, "maxdisk": 0, "maxmem": 536870912, "maxcpu": 1, "uptime": 1}, {"id": "lxc/102", "type": "lxc", "node": "pve1", "name": "ct102", "vmid": 102, "status": "running", "template": 0, "maxcpu": 1, "maxmem": 268435456, "maxdisk": 8589934592, "cpu": 0, "mem": 0, "disk": 0, "uptime": 1, "netin": 0, "netout": 0, "diskread": 0, "diskwrite": 0, "lock": "backup", "hastate": "started"}]}"#,
    r#"{"data": {"vmid": 100, "name": "vm100", "status": "running", "cpus": 1, "cpu": 0.02, "mem": 67108864, "maxdisk": 0, "maxmem": 536870912, "uptime": 1, "serial": 0, "qmpstatus": "running", "clipboard": null, "balloon": 536870912, "agent": 0, "ha": {"managed": 0}, "running-qemu": "10.0.2", "running-machine": "pc-i440fx-9.2+pve1", "pid": 1100}}"#,
    r#"{"data": {"vmid": 102, "type": "lxc", "name": "ct102", "status": "running", "cpus": 1, "maxmem": 268435456, "swap": 0, "uptime": 4, "pid": 2000, "pressurecpusome": "0.00", "lock": "backup", "ha": {"managed": 1, "state": "started"}}}"#,
    r#"{"data": {"cores": 1, "memory": "512", "description": "sample qemu", "name": "vm100", "sockets": 1, "protection": 0, "digest": "ca22d042005c5962a08e72557fd6d1db2b89b684"}}"#,
    r#"{"data": {"cores": 1, "memory": 256, "description": "sample lxc\n", "hostname": "ct102", "ostype": "debian", "arch": "amd64", "swap": 512, "rootfs": "local-lvm:vm-102-disk-0,size=8G", "unprivileged": 1, "digest": "ca22d042005c5962a08e72557fd6d1db2b89b684"}}"#,
    r#"{"data": [{"name": "before", "snaptime": 1700000000, "vmstate": 0, "description": "test snapshot"}, {"name": "current", "digest": "9e0f", "running": 0, "description": "You are here!", "parent": "before"}]}"#,
    r#"{"data": {"upid": "UPID:pve1:000003E8:00001B58:6B025D56:qmshutdown:100:felhom@pve!agent:", "node": "pve1", "pid": 1000, "pstart": 7000, "starttime": 1795316054, "type": "qmshutdown", "id": "100", "user": "felhom@pve!agent", "status": "stopped", "exitstatus": "WARNINGS: 2", "tokenid": "agent"}}"#,
    r#"{"data": [{"n": 1, "t": "starting"}, {"n": 2, "t": "TASK ERROR: VM is locked (backup)"}]}"#,
    r#"{"data": "UPID:pve1:000003E8:00001B58:6B025D56:qmshutdown:100:felhom@pve!agent:"}"#,
    r#"{"data": null, "message": "Parameter verification failed.\n", "errors": {"cores": "value must have a minimum value of 1"}}"#,
    r#"{"data": null, "message": "Permission check failed (/vms/1000, VM.PowerMgmt)\n"}"#,
    r#"{"data": {"type": "lvmthin", "content": "images,rootdir", "enabled": 1, "active": 1, "shared": 0, "total": 107374182400, "used": 8589934592, "avail": 98784247808}}"#,
    r#"{"data": {"name": "tpl", "template": 1, "scsi0": "local-lvm:base-9000-disk-0,iothread=1,size=8G", "efidisk0": "local-lvm:base-9000-disk-1,efitype=4m,size=4M", "ide2": "local:iso/debian.iso,media=cdrom", "net0": "virtio=BC:24:11:00:00:01,bridge=vmbr0", "digest": "9e0f"}}"#,
    r#"{"data": [{"key": "cores", "value": 1, "pending": 4}, {"key": "description", "value": "x", "delete": 2}, {"key": "tags", "delete": 1}, {"key": "memory", "value": "512"}, {"key": "balloon", "value": 256}]}"#,
    r#"{"data": [{"id": "100-0", "guest": 100, "target": "pve2", "type": "local", "jobnum": 0}]}"#,
    r#"{"data": [{"n": 1, "t": "starting"}], "total": 1500}"#,
    r#"{"data": null}"#,
];

/// Status lines as PVE 8.0-8.3 and pveproxy send them, the reason being
/// the only message.
const STATUS_LINES: &[&str] = &[
    "HTTP/1.1 500 VM is locked (backup)\r\n",
    "HTTP/1.1 500 can't lock file '/var/lock/qemu-server/lock-100.conf' - got timeout\r\n",
    "HTTP/1.1 403 Permission check failed (/vms/100, VM.PowerMgmt)\r\n",
    "HTTP/1.1 595 No route to host\r\n",
    "HTTP/1.1 596 Connection timed out\r\n",
];

/// Bytes that keep a mutation close to JSON.
const JSON_BYTES: &[u8] = b"{}[]\",:0-9.enul \\";

fn mutate_bytes(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut b = input.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(b.len() + 1);
        match rng.below(6) {
            0 if !b.is_empty() => {
                let i = at.min(b.len() - 1);
                b[i] ^= 1 << rng.below(8);
            }
            1 => b.insert(at, rng.next() as u8),
            2 if at < b.len() => {
                b.remove(at);
            }
            3 if at < b.len() => b[at] = JSON_BYTES[rng.below(JSON_BYTES.len())],
            4 => b.truncate(at),
            _ => {
                let other = SEEDS[rng.below(SEEDS.len())].as_bytes();
                let from = rng.below(other.len());
                b.truncate(at);
                b.extend_from_slice(&other[from..]);
            }
        }
    }
    b
}

fn random_value(rng: &mut Rng) -> Value {
    match rng.below(9) {
        0 => Value::Null,
        1 => json!(rng.below(2) == 1),
        2 => json!(rng.next()),
        3 => json!(-(rng.below(1000) as i64) - 1),
        4 => json!(rng.next() as f64 / 3.0),
        5 => json!("x".repeat(rng.below(70_000))),
        6 => json!(["current=4096", 1]),
        7 => json!({"managed": "yes", "t": 1}),
        _ => json!(format!("current={}", rng.next())),
    }
}

/// Replaces one random node of `v` with a random value.
fn mutate_value(rng: &mut Rng, v: &mut Value) {
    let children = match v {
        Value::Array(a) if !a.is_empty() => a.len(),
        Value::Object(o) if !o.is_empty() => o.len(),
        _ => 0,
    };
    if children == 0 || rng.below(4) == 0 {
        *v = random_value(rng);
        return;
    }
    let i = rng.below(children);
    match v {
        Value::Array(a) => mutate_value(rng, &mut a[i]),
        Value::Object(o) => {
            let key = o.keys().nth(i).unwrap().clone();
            mutate_value(rng, o.get_mut(&key).unwrap());
        }
        _ => {}
    }
}

/// Runs every decoder; each returns a value or a typed error.
fn decode_all(data: &Value) -> usize {
    let mut ok = 0;
    ok += usize::from(decode_resources(data).is_ok());
    ok += usize::from(decode_status(data).is_ok());
    ok += usize::from(decode_config(Kind::Qemu, data).is_ok());
    ok += usize::from(decode_config(Kind::Lxc, data).is_ok());
    ok += usize::from(decode_snapshots(data).is_ok());
    ok += usize::from(decode_task_status(data).is_ok());
    ok += usize::from(decode_task_log(data).is_ok());
    ok += usize::from(decode_upid(data).is_ok());
    ok += usize::from(decode_storage_status(data).is_ok());
    ok += usize::from(decode_template_disks(data).is_ok());
    ok += usize::from(decode_pending(Kind::Qemu, data).is_ok());
    ok += usize::from(decode_pending(Kind::Lxc, data).is_ok());
    ok += usize::from(decode_replication(data).is_ok());
    ok
}

#[test]
fn real_answers_decode() {
    for seed in SEEDS {
        match decode_answer(200, seed.as_bytes()) {
            Ok(data) if data.is_null() => {}
            Ok(data) => assert!(decode_all(&data) >= 1, "no decoder accepts {seed}"),
            Err(e) => panic!("{seed}: {e}"),
        }
    }
    let e = decode_answer(403, SEEDS[10].as_bytes()).unwrap_err();
    assert!(matches!(
        e,
        PveError::PermissionDenied {
            privilege: Some(_),
            ..
        }
    ));
    let e = decode_answer(400, SEEDS[9].as_bytes()).unwrap_err();
    assert!(
        matches!(e, PveError::Http { status: 400, ref errors, .. } if errors.contains_key("cores"))
    );
}

#[test]
fn mutated_bytes_never_panic_any_decoder() {
    let mut rng = Rng(0x5EED_0001);
    let statuses = [200u16, 200, 200, 400, 401, 403, 500, 595, 302];
    for round in 0..40_000 {
        let seed = SEEDS[round % SEEDS.len()].as_bytes();
        let bytes = mutate_bytes(&mut rng, seed);
        let status = statuses[rng.below(statuses.len())];
        if let Ok(data) = decode_answer(status, &bytes) {
            decode_all(&data);
        }
        // The same body with a mutated status line's reason phrase.
        let line = mutate_bytes(
            &mut rng,
            STATUS_LINES[round % STATUS_LINES.len()].as_bytes(),
        );
        if let Some(Some(reason)) = reason_phrase(&line) {
            assert!(!reason.contains(['\r', '\n']), "{reason:?}");
            if let Err(e) = decode_answer_with_reason(status, Some(&reason), &bytes) {
                assert!(e.to_string().chars().count() < 4096);
            }
        }
    }
}

/// PVE 8.0-8.3 sends `{"data": null}`: the status line's reason is the
/// message, and it is classified like a body message.
#[test]
fn status_line_reasons_are_classified_like_body_messages() {
    let body = br#"{"data": null}"#;
    let reason = |line: &str| reason_phrase(line.as_bytes()).unwrap().unwrap();
    let e = decode_answer_with_reason(500, Some(&reason(STATUS_LINES[0])), body).unwrap_err();
    assert_eq!(e.lock(), Some("backup"));
    let e = decode_answer_with_reason(500, Some(&reason(STATUS_LINES[1])), body).unwrap_err();
    assert!(e.is_lock_timeout(), "{e:?}");
    let e = decode_answer_with_reason(403, Some(&reason(STATUS_LINES[2])), body).unwrap_err();
    assert!(
        matches!(
            e,
            PveError::PermissionDenied {
                privilege: Some(_),
                ..
            }
        ),
        "{e:?}"
    );
    let e = decode_answer_with_reason(595, Some(&reason(STATUS_LINES[3])), b"").unwrap_err();
    assert_eq!(
        e,
        PveError::NodeUnreachable {
            status: 595,
            message: "No route to host".into()
        }
    );
    // A body message wins over the status line (PVE >= 8.4 sends both).
    let e = decode_answer_with_reason(500, Some("Internal Server Error"), SEEDS[10].as_bytes());
    assert!(
        e.unwrap_err()
            .to_string()
            .contains("Permission check failed")
    );
}

#[test]
fn mutated_json_values_never_panic_any_decoder() {
    let mut rng = Rng(0x5EED_0002);
    let parsed: Vec<Value> = SEEDS
        .iter()
        .map(|s| serde_json::from_str::<Value>(s).unwrap()["data"].clone())
        .collect();
    for round in 0..20_000 {
        let mut v = parsed[round % parsed.len()].clone();
        for _ in 0..=rng.below(3) {
            mutate_value(&mut rng, &mut v);
        }
        decode_all(&v);
    }
}
