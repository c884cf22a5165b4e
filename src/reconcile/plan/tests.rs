use super::*;
use crate::reconcile::desired::parse;

fn guest(vmid: u32, status: PowerState) -> ActualGuest {
    ActualGuest {
        vmid,
        kind: GuestKind::Qemu,
        name: format!("g{vmid}"),
        status,
        lock: None,
        cores: Some(1),
        memory_mib: Some(512),
        description: None,
        pve: PveFacts::default(),
    }
}

fn doc(text: &str) -> DesiredState {
    parse(text.as_bytes()).unwrap()
}

fn ops(p: &Plan) -> Vec<(u32, &'static str, String)> {
    p.actions
        .iter()
        .map(|a| (a.vmid, a.op.name(), a.op.params().to_string()))
        .collect()
}

#[test]
fn contract_example_plans_config_then_power_sorted_by_vmid() {
    let d = doc(r#"{"generation":12,"desired_state":{"guests":[
        {"vmid":9003,"state":"absent","purge":true},
        {"vmid":9001,"state":"running","cores":2,"memory_bytes":2147483648,"description":"web"},
        {"vmid":9002,"state":"stopped"}]}}"#);
    let actual = [
        guest(9002, PowerState::Running),
        guest(9001, PowerState::Stopped),
        guest(9003, PowerState::Running),
        guest(100, PowerState::Running),
    ];
    let p = plan(&d, &actual);
    assert_eq!(
        ops(&p),
        vec![
            (
                9001,
                "set_config",
                r#"{"cores":2,"description":"web","memory":2048}"#.into()
            ),
            (9001, "start", "{}".into()),
            (9002, "stop", "{}".into()),
            (9003, "guest_destroy", r#"{"purge":true}"#.into()),
        ]
    );
    assert!(p.actions.iter().all(|a| a.source == Source::DesiredState));
    assert_eq!(p.unmanaged, vec![100]);
    assert!(p.missing.is_empty());
}

#[test]
fn only_drifted_keys_are_written() {
    let d = doc(r#"{"generation":1,"desired_state":{"guests":[
        {"vmid":1,"cores":1,"memory_bytes":536870912,"description":"db"}]}}"#);
    let p = plan(&d, &[guest(1, PowerState::Running)]);
    assert_eq!(
        ops(&p),
        vec![(1, "set_config", r#"{"description":"db"}"#.into())]
    );
}

#[test]
fn converged_guest_read_back_with_pve_quirks_plans_nothing() {
    let d = doc(r#"{"generation":1,"desired_state":{"guests":[
        {"vmid":1,"state":"running","cores":2,"memory_bytes":1000000,"description":"web"}]}}"#);
    let mut g = guest(1, PowerState::Running);
    g.kind = GuestKind::Lxc;
    g.cores = Some(2);
    g.memory_mib = Some(1);
    g.description = Some("web\n".into());
    assert_eq!(plan(&d, &[g]), Plan::default());
}

#[test]
fn absent_and_not_on_host_is_converged_not_missing() {
    let d = doc(r#"{"generation":1,"desired_state":{"guests":[
        {"vmid":5,"state":"absent"},{"vmid":6,"state":"running"},{"vmid":7}]}}"#);
    let p = plan(&d, &[]);
    assert!(p.actions.is_empty());
    assert_eq!(p.missing, vec![6, 7]);
}

#[test]
fn locked_guest_is_skipped_whole_and_reported() {
    let d = doc(r#"{"generation":1,"desired_state":{"guests":[
        {"vmid":1,"state":"running","cores":4},{"vmid":2,"state":"absent"}]}}"#);
    let mut a = guest(1, PowerState::Stopped);
    a.lock = Some("backup".into());
    let mut b = guest(2, PowerState::Stopped);
    b.lock = Some("migrate".into());
    let p = plan(&d, &[a, b]);
    assert!(p.actions.is_empty());
    assert_eq!(
        p.skipped_locked,
        vec![(1, "backup".to_string()), (2, "migrate".to_string())]
    );
}

#[test]
fn a_locked_guest_is_reported_only_when_it_would_have_been_changed() {
    let d = doc(r#"{"generation":1,"desired_state":{"guests":[
        {"vmid":1,"state":"running","cores":1},{"vmid":2,"state":"stopped"},
        {"vmid":3,"cores":1,"memory_bytes":536870912}]}}"#);
    let locked = |vmid, status| {
        let mut g = guest(vmid, status);
        g.lock = Some("backup".into());
        g
    };
    let p = plan(
        &d,
        &[
            locked(1, PowerState::Running),
            locked(2, PowerState::Stopped),
            locked(3, PowerState::Stopped),
        ],
    );
    assert_eq!(p, Plan::default());
    let p = plan(
        &d,
        &[
            locked(1, PowerState::Stopped),
            locked(2, PowerState::Running),
        ],
    );
    assert!(p.actions.is_empty());
    assert_eq!(
        p.skipped_locked,
        vec![(1, "backup".to_string()), (2, "backup".to_string())]
    );
}

#[test]
fn unknown_power_state_gets_no_power_action_but_config_still_converges() {
    let d = doc(
        r#"{"generation":1,"desired_state":{"guests":[{"vmid":1,"state":"stopped","cores":3}]}}"#,
    );
    let p = plan(&d, &[guest(1, PowerState::Unknown)]);
    assert_eq!(ops(&p), vec![(1, "set_config", r#"{"cores":3}"#.into())]);
    assert_eq!(p.unknown_power, vec![1]);
}

#[test]
fn absent_guest_gets_only_a_destroy_whatever_else_is_listed() {
    let d = doc(
        r#"{"generation":1,"desired_state":{"guests":[{"vmid":1,"state":"absent","cores":9}]}}"#,
    );
    let p = plan(&d, &[guest(1, PowerState::Running)]);
    assert_eq!(
        ops(&p),
        vec![(1, "guest_destroy", r#"{"purge":false}"#.into())]
    );
}

#[test]
fn duplicate_actual_entries_use_the_first() {
    let d = doc(r#"{"generation":1,"desired_state":{"guests":[{"vmid":1,"state":"running"}]}}"#);
    let p = plan(
        &d,
        &[guest(1, PowerState::Running), guest(1, PowerState::Stopped)],
    );
    assert!(p.actions.is_empty());
}
