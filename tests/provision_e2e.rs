//! Provisioning (CONTRACT §10) through the real binary against fakepve: a
//! creation is one journaled transaction (create → config → start →
//! commit); a failure after the create rolls it back unsigned; nothing not
//! provably the agent's is ever destroyed; the config's bounds hold.
//!
//! Each test has its own fakepve (failures are injected node-wide and
//! requests are counted node-wide) and its own agents.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "support/agent.rs"]
mod agent;
#[path = "support/fakepve.rs"]
mod fakepve;
#[path = "support/sshkeys.rs"]
mod sshkeys;

use agent::{Agent, BlobSpec, decisions, deletes_of, mutating};
use fakepve::FakePve;
use felhom_agent::journal::{self, Record, TxnEndKind};
use serde_json::{Value, json};

const TEMPLATE: &str = "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst";
const GIB: u64 = 1 << 30;

fn lxc(name: &str) -> Value {
    json!({"kind": "lxc", "name": name, "ostemplate": TEMPLATE, "storage": "local-lvm",
           "disk_gib": 8, "unprivileged": true, "net0": "name=eth0,bridge=vmbr0,ip=dhcp"})
}

fn provisioned(pve: &FakePve, tag: &str) -> Agent {
    let mut a = Agent::new(pve, tag);
    a.provision(pve, json!({"storages": ["local-lvm"]}));
    a
}

/// POSTs that create a container on the node.
fn lxc_creates(pve: &FakePve) -> usize {
    pve.requests()
        .iter()
        .filter(|(m, p)| m == "POST" && p.ends_with(&format!("/nodes/{}/lxc", pve.node)))
        .count()
}

fn txn_ends(a: &Agent, vmid: u32) -> Vec<TxnEndKind> {
    a.records()
        .iter()
        .filter_map(|r| match r {
            Record::TxnEnd { vmid: v, end, .. } if *v == vmid => Some(*end),
            _ => None,
        })
        .collect()
}

fn by_op<'a>(acts: &'a [Value], vmid: u32, op: &str) -> &'a Value {
    acts.iter()
        .find(|x| x["vmid"] == json!(vmid) && x["op"] == json!(op))
        .unwrap_or_else(|| panic!("no {op} for {vmid}: {acts:?}"))
}

#[test]
fn lxc_creation_is_planned_then_converges_and_a_second_pass_writes_nothing() {
    let pve = &FakePve::start();
    let a = provisioned(pve, "pv-lxc");
    let v = pve.next_vmid();
    let create = lxc("shop");
    a.write_desired(
        1,
        json!([{"vmid": v, "state": "running", "cores": 2, "memory_bytes": GIB,
                "description": "shop", "create": create}]),
    );
    let before = pve.mutating_requests();
    let plan = a.run(&["--plan", "--json"]);
    assert_eq!(plan.code, 0, "{}\n{}", plan.stdout, plan.stderr);
    let acts = plan.actions();
    let ops: Vec<&str> = acts.iter().map(|x| x["op"].as_str().unwrap()).collect();
    assert_eq!(ops, ["create", "set_config", "start"], "{acts:?}");
    assert_eq!(acts[0]["params"], create, "params are the create object");
    for x in &acts {
        assert_eq!(x["class"], json!("benign"));
        assert_eq!(x["decision"], json!("allowed"));
        assert_eq!(x["outcome"], json!("planned"));
        assert_eq!(x["source"], json!("desired_state"));
    }
    assert_eq!(
        acts[1]["params"],
        json!({"cores": 2, "memory": 1024, "description": "shop"})
    );
    assert_eq!(plan.json()["missing"], json!([]));
    assert_eq!(pve.mutating_requests(), before, "--plan changes nothing");

    let run = a.pass();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    for x in run.actions() {
        assert_eq!(x["outcome"], json!("succeeded"), "{x}");
    }
    let g = pve.guest(v);
    assert_eq!(g["status"], json!("running"), "{g}");
    assert_eq!(g["config"]["hostname"], json!("shop"));
    assert_eq!(g["config"]["cores"], json!(2));
    assert_eq!(g["config"]["memory"], json!(1024));
    assert!(
        g["config"]["rootfs"]
            .as_str()
            .unwrap()
            .starts_with("local-lvm:")
    );
    assert_eq!(txn_ends(&a, v), [TxnEndKind::Committed]);
    let records = a.records();
    assert!(
        records
            .iter()
            .any(|r| matches!(r, Record::TxnCreated { .. }))
    );

    let writes = pve.mutating_requests_for(v);
    let again = a.pass();
    assert_eq!(again.code, 0, "{}", again.stdout);
    assert!(again.actions().is_empty(), "{}", again.stdout);
    assert_eq!(
        pve.mutating_requests_for(v),
        writes,
        "second pass writes nothing"
    );
    assert_eq!(a.run(&["--journal-verify"]).code, 0);
}

#[test]
fn qemu_full_and_linked_clones_of_a_template_converge() {
    let pve = &FakePve::start();
    let a = provisioned(pve, "pv-qemu");
    let t = pve.next_vmid();
    pve.add_template(
        t,
        &pve.node,
        json!({"scsi0": format!("local-lvm:base-{t}-disk-0,size=4G"), "cores": 1, "memory": 512}),
    );
    let (full, linked) = (pve.next_vmid(), pve.next_vmid());
    a.write_desired(
        1,
        json!([
            {"vmid": full, "state": "stopped", "description": "build",
             "create": {"kind": "qemu", "name": "build", "clone": t, "full": true, "storage": "local-lvm"}},
            {"vmid": linked, "state": "running", "cores": 2,
             "create": {"kind": "qemu", "name": "ci", "clone": t, "full": false, "storage": "local-lvm"}}
        ]),
    );
    let run = a.pass();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let (f, l) = (pve.guest(full), pve.guest(linked));
    assert_eq!(f["status"], json!("stopped"), "{f}");
    assert_eq!(f["config"]["description"], json!("build"));
    assert!(
        f["config"]["scsi0"]
            .as_str()
            .unwrap()
            .contains(&format!("vm-{full}-disk"))
    );
    assert_eq!(l["status"], json!("running"), "{l}");
    assert_eq!(l["config"]["cores"].to_string().trim_matches('"'), "2");
    assert!(
        l["config"]["scsi0"]
            .as_str()
            .unwrap()
            .starts_with("local-lvm:")
    );
    assert_eq!(txn_ends(&a, full), [TxnEndKind::Committed]);
    assert_eq!(txn_ends(&a, linked), [TxnEndKind::Committed]);
    let writes = pve.mutating_requests_for(full) + pve.mutating_requests_for(linked);
    let again = a.pass();
    assert_eq!(again.code, 0, "{}", again.stdout);
    assert!(again.actions().is_empty(), "{}", again.stdout);
    assert_eq!(
        pve.mutating_requests_for(full) + pve.mutating_requests_for(linked),
        writes
    );
}

#[test]
fn a_failure_after_the_create_rolls_back_unsigned_and_holds_the_vmid() {
    let pve = &FakePve::start();
    let a = provisioned(pve, "pv-rollback");
    let v = pve.next_vmid();
    pve.call(
        "fail",
        json!(["POST", format!("/nodes/{}/lxc/{v}/status/start", pve.node)]),
        json!({"status": 500, "message": "unable to start: no cgroup", "times": 1}),
    );
    let guest = json!([{"vmid": v, "state": "running", "create": lxc("flaky")}]);
    a.write_desired(1, guest.clone());
    let run = a.pass();
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let acts = run.actions();
    assert_eq!(by_op(&acts, v, "create")["outcome"], json!("succeeded"));
    assert_eq!(by_op(&acts, v, "start")["outcome"], json!("failed"));
    let undo = by_op(&acts, v, "guest_destroy");
    assert_eq!(undo["source"], json!("agent"), "{undo}");
    assert_eq!(undo["class"], json!("benign"));
    assert_eq!(undo["decision"], json!("allowed"));
    assert_eq!(undo["outcome"], json!("succeeded"));
    assert_eq!(undo["params"], json!({"purge": true}));
    assert!(
        undo["reason"]
            .as_str()
            .unwrap()
            .contains("compensating rollback"),
        "{undo}"
    );
    assert_eq!(pve.guest(v)["exists"], json!(false));
    assert_eq!(deletes_of(pve, v), 1);
    let records = a.records();
    assert!(
        !records
            .iter()
            .any(|r| matches!(r, Record::NonceConsumed { .. })),
        "no signature was involved"
    );
    let audit = decisions(&records)
        .into_iter()
        .find(|d| d.op == "guest_destroy")
        .unwrap();
    assert_eq!(
        (audit.class.as_str(), audit.source.as_str()),
        ("benign", "agent")
    );
    assert!(audit.signer.is_none() && audit.nonce.is_none());
    assert!(
        audit.reason.contains("compensating rollback"),
        "{}",
        audit.reason
    );
    assert_eq!(txn_ends(&a, v), [TxnEndKind::RolledBack]);

    // Held: the same generation does not try again.
    let creates = lxc_creates(pve);
    let held = a.pass();
    assert_eq!(held.code, 0, "{}", held.stdout);
    let row = by_op(&held.actions(), v, "create").clone();
    assert_eq!(
        (row["decision"].clone(), row["outcome"].clone()),
        (json!("refused"), json!("skipped"))
    );
    assert!(
        row["reason"]
            .as_str()
            .unwrap()
            .contains("compensating rollback"),
        "{row}"
    );
    assert_eq!(held.json()["missing"], json!([v]));
    assert_eq!(lxc_creates(pve), creates);
    // A new generation tries again (the start failure was a one-off).
    a.write_desired(2, guest);
    let retry = a.pass();
    assert_eq!(retry.code, 0, "{}\n{}", retry.stdout, retry.stderr);
    assert_eq!(pve.guest(v)["status"], json!("running"));
    assert_eq!(
        txn_ends(&a, v),
        [TxnEndKind::RolledBack, TxnEndKind::Committed]
    );
}

#[test]
fn a_failing_create_destroys_nothing() {
    let pve = &FakePve::start();
    let a = provisioned(pve, "pv-create-fails");
    let refused = pve.next_vmid();
    // The create call itself refused.
    pve.call(
        "fail",
        json!(["POST", format!("/nodes/{}/lxc", pve.node)]),
        json!({"status": 500, "message": "unable to create CT: out of luck", "times": 1}),
    );
    a.write_desired(
        1,
        json!([{"vmid": refused, "state": "running", "create": lxc("nope")}]),
    );
    let run = a.pass();
    assert_eq!(run.code, 1, "{}", run.stdout);
    let acts = run.actions();
    assert_eq!(by_op(&acts, refused, "create")["outcome"], json!("failed"));
    assert_eq!(by_op(&acts, refused, "start")["outcome"], json!("skipped"));
    assert!(
        !acts.iter().any(|x| x["op"] == json!("guest_destroy")),
        "{acts:?}"
    );
    assert_eq!(deletes_of(pve, refused), 0);
    assert_eq!(txn_ends(&a, refused), [TxnEndKind::Failed]);

    // The create task failing (its template is missing) leaves no guest
    // either: PVE removes it, the agent deletes nothing.
    let b = provisioned(pve, "pv-task-fails");
    let v = pve.next_vmid();
    pve.store_template("debian-12-standard_12.7-1_amd64.tar.zst");
    let mut missing = lxc("gone");
    missing["ostemplate"] = json!("local:vztmpl/no-such-template.tar.zst");
    b.write_desired(1, json!([{"vmid": v, "create": missing}]));
    let run = b.pass();
    assert_eq!(run.code, 1, "{}", run.stdout);
    let create = by_op(&run.actions(), v, "create").clone();
    assert_eq!(create["outcome"], json!("failed"));
    assert!(
        create["reason"]
            .as_str()
            .unwrap()
            .contains("does not exist"),
        "{create}"
    );
    assert_eq!(pve.guest(v)["exists"], json!(false));
    assert_eq!(deletes_of(pve, v), 0);
    assert_eq!(txn_ends(&b, v), [TxnEndKind::Failed]);
}

#[test]
fn a_vmid_on_another_node_is_not_created_and_the_reason_names_the_node() {
    let pve = &FakePve::start();
    let a = provisioned(pve, "pv-elsewhere");
    let v = pve.add_lxc_on("pve2", "stopped", json!({}));
    a.write_desired(
        1,
        json!([{"vmid": v, "state": "running", "create": lxc("dup")}]),
    );
    let creates = lxc_creates(pve);
    let run = a.pass();
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.json()["missing"], json!([v]));
    let row = by_op(&run.actions(), v, "create").clone();
    assert_eq!(row["outcome"], json!("skipped"));
    assert!(row["reason"].as_str().unwrap().contains("pve2"), "{row}");
    assert_eq!(lxc_creates(pve), creates);
    assert_eq!(pve.mutating_requests_for(v), 0);
}

#[test]
fn storages_per_pass_limit_and_privileges_bound_creations() {
    let pve = &FakePve::start();
    // Not a listed storage.
    let mut a = Agent::new(pve, "pv-storage");
    a.provision(pve, json!({"storages": ["local"]}));
    let v = pve.next_vmid();
    a.write_desired(1, json!([{"vmid": v, "create": lxc("x")}]));
    let run = a.pass();
    assert_eq!(run.code, 0, "{}", run.stdout);
    let reason = by_op(&run.actions(), v, "create")["reason"].clone();
    assert!(
        reason.as_str().unwrap().contains("provision.storages"),
        "{reason}"
    );
    assert_eq!(pve.guest(v)["exists"], json!(false));

    // No `provision` at all: missing, and nothing is attempted.
    let none = Agent::new(pve, "pv-off");
    none.write_desired(1, json!([{"vmid": v, "create": lxc("x")}]));
    let run = none.pass();
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.json()["missing"], json!([v]));
    assert!(run.actions().is_empty(), "{}", run.stdout);

    // One per pass: the lower vmid first, the other deferred to the next.
    let mut one = Agent::new(pve, "pv-limit");
    one.provision(
        pve,
        json!({"storages": ["local-lvm"], "max_creates_per_pass": 1}),
    );
    let (x, y) = (pve.next_vmid(), pve.next_vmid());
    one.write_desired(
        1,
        json!([{"vmid": y, "create": lxc("y")}, {"vmid": x, "create": lxc("x")}]),
    );
    let run = one.pass();
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(pve.guest(x)["exists"], json!(true));
    assert_eq!(pve.guest(y)["exists"], json!(false));
    let reason = by_op(&run.actions(), y, "create")["reason"].clone();
    assert!(
        reason.as_str().unwrap().contains("max_creates_per_pass"),
        "{reason}"
    );
    assert_eq!(one.pass().code, 0);
    assert_eq!(pve.guest(y)["exists"], json!(true));

    // The minimal token (no provisioning privileges): PVE refuses the
    // storage read, so nothing is attempted; the pass reports the error.
    let mut bare = Agent::new(pve, "pv-privs");
    bare.config["provision"] = json!({"storages": ["local-lvm"]});
    bare.write_config();
    let z = pve.next_vmid();
    bare.write_desired(1, json!([{"vmid": z, "create": lxc("z")}]));
    let run = bare.pass();
    assert_eq!(run.code, 1, "{}", run.stdout);
    let create = by_op(&run.actions(), z, "create").clone();
    assert!(
        create["reason"]
            .as_str()
            .unwrap()
            .contains("Datastore.Audit"),
        "the storage status read needs Datastore.Audit: {create}"
    );
    assert_eq!(pve.guest(z)["exists"], json!(false));
    assert_eq!(deletes_of(pve, z), 0);
}

#[test]
fn min_free_percent_keeps_the_storage_from_filling() {
    let own = FakePve::start();
    own.set_storage("local-lvm", json!({"total": 100 * GIB, "avail": 20 * GIB}));
    let mut a = Agent::new(&own, "pv-free");
    a.provision(
        &own,
        json!({"storages": ["local-lvm"], "min_free_percent": 10}),
    );
    let (x, y) = (own.next_vmid(), own.next_vmid());
    // 20 GiB free of 100: the first 8 GiB leave 12 % free, a second would leave 4 %.
    a.write_desired(
        1,
        json!([{"vmid": x, "create": lxc("x")}, {"vmid": y, "create": lxc("y")}]),
    );
    let run = a.pass();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(own.guest(x)["exists"], json!(true));
    assert_eq!(own.guest(y)["exists"], json!(false));
    let reason = by_op(&run.actions(), y, "create")["reason"].clone();
    assert!(
        reason.as_str().unwrap().contains("min_free_percent"),
        "{reason}"
    );
    assert_eq!(run.json()["missing"], json!([y]));
}

#[test]
fn a_committed_guest_is_data_bearing_and_a_reused_vmid_starts_without_provenance() {
    let pve = &FakePve::start();
    let a = provisioned(pve, "pv-committed");
    let v = pve.next_vmid();
    a.write_desired(
        1,
        json!([{"vmid": v, "state": "stopped", "create": lxc("keep")}]),
    );
    assert_eq!(a.pass().code, 0);
    let first_txn = a
        .records()
        .iter()
        .find_map(|r| match r {
            Record::TxnBegin { txn, vmid, .. } if *vmid == v => Some(txn.clone()),
            _ => None,
        })
        .unwrap();
    let ix = journal::open_read_only(&a.state_dir).unwrap();
    assert!(
        !ix.created_in(v, &first_txn),
        "provenance ends with the commit"
    );
    assert!(ix.transactions.open.is_empty());

    // Destroying it now needs a signature.
    a.write_desired(2, json!([{"vmid": v, "state": "absent", "purge": true}]));
    let run = a.pass();
    assert_eq!(run.code, 4, "{}", run.stdout);
    let row = by_op(&run.actions(), v, "guest_destroy").clone();
    assert_eq!(row["decision"], json!("pending_signature"));
    assert_eq!(row["class"], json!("destructive"));
    assert_eq!(deletes_of(pve, v), 0);
    let spec = BlobSpec::new("guest_destroy", json!({"purge": true}), Some(v));
    assert_eq!(a.submit(&a.sign(&a.alice, &spec.build_now())).code, 0);
    let run = a.pass();
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(pve.guest(v)["exists"], json!(false));

    // The vmid again: a new transaction, and after its commit the guest is
    // as data-bearing as the first one was.
    a.write_desired(
        3,
        json!([{"vmid": v, "state": "stopped", "create": lxc("again")}]),
    );
    assert_eq!(a.pass().code, 0);
    assert_eq!(pve.guest(v)["config"]["hostname"], json!("again"));
    let ix = journal::open_read_only(&a.state_dir).unwrap();
    assert!(!ix.created_in(v, &first_txn) && ix.transactions.open.is_empty());
    a.write_desired(4, json!([{"vmid": v, "state": "absent", "purge": true}]));
    let run = a.pass();
    assert_eq!(run.code, 4, "{}", run.stdout);
    assert_eq!(deletes_of(pve, v), 1, "only the signed destroy");
}

#[test]
fn provenance_claims_in_a_document_reject_it_and_a_signed_create_is_unsupported() {
    let pve = &FakePve::start();
    let a = provisioned(pve, "pv-claims");
    let v = pve.next_vmid();
    for (generation, guest) in [
        (
            1,
            json!({"vmid": v, "create": lxc("c"), "provenance": "agent"}),
        ),
        (
            2,
            json!({"vmid": v, "create": lxc("c"), "transaction": "txn-1"}),
        ),
        (
            3,
            json!({"vmid": v, "create": {"kind": "lxc", "name": "c", "ostemplate": TEMPLATE,
                   "storage": "local-lvm", "disk_gib": 8, "created_by": "felhom-agent"}}),
        ),
        (
            4,
            json!({"vmid": v, "create": {"kind": "lxc", "name": "c", "ostemplate": TEMPLATE,
                   "storage": "local-lvm", "disk_gib": 8, "scratch": true}}),
        ),
    ] {
        a.write_desired(generation, json!([guest]));
        let run = a.pass();
        assert_eq!(run.code, 1, "{}", run.stdout);
        assert!(
            run.errors().contains("desired state rejected"),
            "{}",
            run.errors()
        );
        assert_eq!(pve.guest(v)["exists"], json!(false));
        // The hub's documents go through the same parser.
        let doc = json!({"generation": 10 + generation, "desired_state": {"guests": [guest]}});
        let hub = felhom_agent::reconcile::desired::ingest_hub_document(
            &a.state_dir,
            doc.to_string().as_bytes(),
            None,
        );
        assert!(hub.is_err(), "{guest}");
    }
    let spec = BlobSpec::new("create", lxc("c"), Some(v));
    let files = a.sign(&a.alice, &spec.build_now());
    for run in [a.check_op(&files), a.submit(&files)] {
        assert_eq!(run.code, 65, "{}", run.stdout);
        assert_eq!(run.json()["error"], json!("unsupported_op"));
    }
    assert!(
        mutating(&pve.requests())
            .iter()
            .all(|(_, p)| !agent::names_guest(p, v))
    );
}

#[test]
fn a_hub_block_holds_every_creation() {
    let pve = &FakePve::start();
    let a = provisioned(pve, "pv-blocked");
    let v = pve.next_vmid();
    a.write_desired(
        1,
        json!([{"vmid": v, "state": "running", "create": lxc("held")}]),
    );
    std::fs::write(a.state_dir.join("hub-blocked"), b"").unwrap();
    let run = a.pass();
    let create = by_op(&run.actions(), v, "create").clone();
    assert_eq!(create["decision"], json!("refused"), "{create}");
    assert_eq!(create["outcome"], json!("skipped"));
    assert_eq!(lxc_creates(pve), 0);
    assert!(
        !a.records()
            .iter()
            .any(|r| matches!(r, Record::TxnBegin { .. }))
    );
    std::fs::remove_file(a.state_dir.join("hub-blocked")).unwrap();
    let run = a.pass();
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(pve.guest(v)["status"], json!("running"));
}

/// The hold after a compensating rollback lapses an hour after the
/// rollback, even when the generation stays the same (CONTRACT §10). The
/// clock is not the test's to move, so the rollback's own end record is
/// appended again with an older time, as the journal would say an hour on.
#[test]
fn the_retry_hold_after_a_rollback_lapses_after_an_hour_in_the_same_generation() {
    let pve = &FakePve::start();
    let a = provisioned(pve, "pv-hold-hour");
    let v = pve.next_vmid();
    pve.call(
        "fail",
        json!(["POST", format!("/nodes/{}/lxc/{v}/status/start", pve.node)]),
        json!({"status": 500, "message": "unable to start: no cgroup", "times": 1}),
    );
    a.write_desired(
        1,
        json!([{"vmid": v, "state": "running", "create": lxc("later")}]),
    );
    assert_eq!(a.pass().code, 1);
    let (txn, at, detail) = a
        .records()
        .iter()
        .find_map(|r| match r {
            Record::TxnEnd {
                txn,
                vmid,
                end: TxnEndKind::RolledBack,
                at,
                detail,
                ..
            } if *vmid == v => Some((txn.clone(), *at, detail.clone())),
            _ => None,
        })
        .unwrap();
    let rolled_back_ago = |secs: i64| {
        let j = journal::Journal::open(&a.state_dir, std::time::Duration::from_secs(5)).unwrap();
        j.append(Record::TxnEnd {
            txn: txn.clone(),
            vmid: v,
            end: TxnEndKind::RolledBack,
            generation: 1,
            at: at - secs,
            detail: detail.clone(),
        })
        .unwrap();
    };
    let creates = lxc_creates(pve);

    // Not yet an hour: still held.
    rolled_back_ago(journal::RETRY_HOLD_SECONDS - 120);
    let held = a.pass();
    let row = by_op(&held.actions(), v, "create").clone();
    assert_eq!(row["outcome"], json!("skipped"), "{row}");
    assert_eq!(lxc_creates(pve), creates);

    // An hour on, the same generation is tried again.
    rolled_back_ago(journal::RETRY_HOLD_SECONDS + 1);
    let retry = a.pass();
    assert_eq!(retry.code, 0, "{}\n{}", retry.stdout, retry.stderr);
    assert_eq!(lxc_creates(pve), creates + 1);
    assert_eq!(pve.guest(v)["status"], json!("running"));
    assert_eq!(
        txn_ends(&a, v).last(),
        Some(&TxnEndKind::Committed),
        "{:?}",
        txn_ends(&a, v)
    );
}

/// `clone` names a qemu template on this node (CONTRACT §10). An ordinary
/// VM (a customer's data, which PVE would full-clone), a template on
/// another node, an lxc guest or a vmid nobody holds is never cloned: the
/// creation is held, naming why.
#[test]
fn a_clone_source_that_is_not_a_qemu_template_on_this_node_is_never_cloned() {
    let pve = &FakePve::start();
    let a = provisioned(pve, "pv-clone-source");
    let disk = |v: u32| json!({"scsi0": format!("local-lvm:vm-{v}-disk-0,size=4G"), "cores": 1, "memory": 512});
    let ordinary = pve.next_vmid();
    pve.command(
        json!({"op": "add_qemu", "vmid": ordinary, "status": "stopped",
                       "config": disk(ordinary), "node": pve.node}),
    );
    let elsewhere = pve.next_vmid();
    pve.add_template(elsewhere, "pve2", disk(elsewhere));
    let container = pve.add_lxc("stopped", json!({"cores": 1, "memory": 256}));
    let nobody = pve.next_vmid();
    let sources = [ordinary, elsewhere, container, nobody];
    let news: Vec<u32> = sources.iter().map(|_| pve.next_vmid()).collect();
    let entries: Vec<Value> = sources
        .iter()
        .zip(&news)
        .map(|(src, v)| {
            json!({"vmid": v, "state": "stopped",
                   "create": {"kind": "qemu", "name": "copy", "clone": src, "full": true,
                              "storage": "local-lvm"}})
        })
        .collect();
    a.write_desired(1, Value::Array(entries));
    let run = a.pass();
    let acts = run.actions();
    for (src, v) in sources.iter().zip(&news) {
        let row = by_op(&acts, *v, "create");
        assert_eq!(row["outcome"], json!("skipped"), "clone of {src}: {row}");
        assert!(
            row["reason"]
                .as_str()
                .unwrap()
                .contains("not a qemu template on this node"),
            "clone of {src}: {row}"
        );
        assert_eq!(pve.guest(*v)["exists"], json!(false), "clone of {src}");
        assert_eq!(pve.creates(*v), 0, "clone of {src} was asked of PVE");
    }
    assert_eq!(run.json()["missing"], json!(news));
}

/// A full clone takes its template's disks again on the target storage, so
/// `min_free_percent` counts them; a linked clone takes nothing new but must
/// stay on its template's storage (CONTRACT §10).
#[test]
fn a_full_clone_counts_its_templates_disks_against_min_free_percent() {
    let own = FakePve::start();
    own.set_storage("local-lvm", json!({"total": 100 * GIB, "avail": 35 * GIB}));
    let mut a = Agent::new(&own, "pv-clone-room");
    a.provision(
        &own,
        json!({"storages": ["local-lvm", "local"], "min_free_percent": 10}),
    );
    let t = own.next_vmid();
    own.add_template(
        t,
        &own.node,
        json!({"scsi0": format!("local-lvm:base-{t}-disk-0,size=30G"), "cores": 1, "memory": 512}),
    );
    let (full, linked, moved) = (own.next_vmid(), own.next_vmid(), own.next_vmid());
    let clone = |name: &str, full: bool, storage: &str| json!({"kind": "qemu", "name": name, "clone": t, "full": full, "storage": storage});
    // 35 GiB free of 100: 30 GiB more would leave 5 %.
    a.write_desired(
        1,
        json!([
            {"vmid": full, "state": "stopped", "create": clone("big", true, "local-lvm")},
            {"vmid": linked, "state": "stopped", "create": clone("thin", false, "local-lvm")},
            {"vmid": moved, "state": "stopped", "create": clone("away", false, "local")}
        ]),
    );
    let run = a.pass();
    let acts = run.actions();
    let row = by_op(&acts, full, "create");
    assert_eq!(row["outcome"], json!("skipped"), "{row}");
    assert!(
        row["reason"].as_str().unwrap().contains("min_free_percent"),
        "{row}"
    );
    assert_eq!(own.guest(full)["exists"], json!(false));
    let row = by_op(&acts, moved, "create");
    assert_eq!(row["outcome"], json!("skipped"), "{row}");
    assert!(
        row["reason"]
            .as_str()
            .unwrap()
            .contains("template's storage"),
        "{row}"
    );
    assert_eq!(own.guest(moved)["exists"], json!(false));
    assert_eq!(
        by_op(&acts, linked, "create")["outcome"],
        json!("succeeded")
    );
    assert_eq!(own.guest(linked)["exists"], json!(true));
}

/// `unprivileged` defaults to true (CONTRACT §10): an lxc entry that does
/// not say is created as an unprivileged container (a privileged one would
/// also need `Sys.Modify` on `/`: pve-container `PVE/API2/LXC.pm` create_vm).
#[test]
fn an_lxc_entry_without_unprivileged_creates_an_unprivileged_container() {
    let pve = &FakePve::start();
    let a = provisioned(pve, "pv-unprivileged");
    let v = pve.next_vmid();
    let mut create = lxc("plain");
    create.as_object_mut().unwrap().remove("unprivileged");
    a.write_desired(
        1,
        json!([{"vmid": v, "state": "stopped", "create": create}]),
    );
    let run = a.pass();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(pve.guest(v)["config"]["unprivileged"], json!(1));
}
