#!/usr/bin/env python3
"""The felhom-agent demo: a Proxmox fake with sample guests, and the agent's main job.

Run it through `bash dist/demo.sh` (which builds the agent and installs fakepve).
Everything happens on 127.0.0.1 in a temporary directory that is removed at the end.

Steps shown:
  1. --plan            what the agent would do (nothing changes)
  2. --reconcile-now   converge: config writes and power changes run; the
                       desired-state `absent` is held as pending_signature (exit 4)
  3. --reconcile-now   again: converged, zero mutations; the destroy still waits
  4. --pending         the held destroy with its ready-to-sign blob
  5. sign it with the demo operator's SSH key, --submit, --reconcile-now: destroyed
  6. provisioning: a container created from a template (create, set_config, start in one
     journaled transaction), and a creation whose start fails: the agent destroys the guest it
     just created, unsigned, as a compensating rollback
  7. --reconcile-now again: the created container is converged; the rolled-back one is held
"""
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
AGENT = os.environ.get("FELHOM_AGENT_BIN", str(ROOT / "target" / "release" / "felhom-agent"))
LAUNCHER = ROOT / "tests" / "support" / "fakepve_launch.py"
NODE = "demo-felhom"


def banner(text):
    print(f"\n\033[1m== {text}\033[0m", flush=True)


def agent(config, *args, check_codes=(0,)):
    cmd = [AGENT, "--config", str(config), *args]
    print("$ felhom-agent " + " ".join(args), flush=True)
    env = dict(os.environ, FELHOM_AGENT_LOG=os.environ.get("FELHOM_AGENT_LOG", "warn"))
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    print(f"(exit {proc.returncode})", flush=True)
    if proc.returncode not in check_codes:
        raise SystemExit(f"demo: unexpected exit {proc.returncode} from {' '.join(args)}")
    return proc


def fake_cmd(fake, cmd):
    """One command to the fakepve launcher (see tests/support/fakepve_launch.py)."""
    fake.stdin.write(json.dumps(cmd) + "\n")
    fake.stdin.flush()
    reply = json.loads(fake.stdout.readline())
    if not reply.get("ok"):
        raise SystemExit(f"demo: fakepve command {cmd} failed: {reply.get('error')}")
    return reply["result"]


def main():
    work = pathlib.Path(tempfile.mkdtemp(prefix="felhom-demo-"))
    fake = subprocess.Popen([sys.executable, str(LAUNCHER), "--dir", str(work), "--node", NODE,
                             "--qemu", "3", "--lxc", "2", "--time-scale", "0.01"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        ready = json.loads(fake.stdout.readline())
        run_demo(work, ready, fake)
    finally:
        fake.stdin.close()
        fake.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


def run_demo(work, ready, fake):
    token = work / "pve-token"
    # The token with the README's minimal role plus the provisioning privileges.
    token.write_text(ready["provision_token"] + "\n")
    token.chmod(0o600)
    keys = work / "keys"
    keys.mkdir()
    for name in ("operator", "recovery"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{name}@demo",
                        "-f", str(keys / name)], check=True)
    pub = lambda n: (keys / f"{n}.pub").read_text().split()[:2]
    (work / "operational.allowed_signers").write_text(
        'operator@demo namespaces="felhom-op-v1" ' + " ".join(pub("operator")) + "\n")
    (work / "recovery.allowed_signers").write_text(
        'recovery@demo namespaces="felhom-op-v1" ' + " ".join(pub("recovery")) + "\n")
    # Signer files must not be writable by group or others, whatever the umask.
    for name in ("operational.allowed_signers", "recovery.allowed_signers"):
        (work / name).chmod(0o600)
    desired = {"generation": 1, "desired_state": {"guests": [
        {"vmid": 100, "state": "running", "cores": 2, "memory_bytes": 2147483648, "description": "web"},
        {"vmid": 101, "state": "running"},
        {"vmid": 103, "state": "running", "description": "cache"},
        {"vmid": 104, "state": "absent", "purge": True},
        {"vmid": 900, "state": "running"},
    ]}}
    (work / "desired-state.json").write_text(json.dumps(desired, indent=1))
    config = {
        "host_id": NODE,
        "log_level": "info",
        "state_dir": str(work / "state"),
        "reconcile_interval_seconds": 60,
        "proxmox": {"endpoint": f"https://127.0.0.1:{ready['port']}", "node": NODE,
                    "token_file": str(token), "tls": {"ca_file": ready["ca"]},
                    "timeout_seconds": 30, "task_timeout_seconds": 60},
        "authz": {"operational_signers": str(work / "operational.allowed_signers"),
                  "recovery_signers": str(work / "recovery.allowed_signers"),
                  "clock_skew_seconds": 120, "max_validity_seconds": 86400,
                  "require_user_presence": True},
        "desired_state_file": str(work / "desired-state.json"),
        "hub": None,
        "provision": {"storages": ["local-lvm"], "max_creates_per_pass": 4, "min_free_percent": 10},
    }
    (work / "state").mkdir(mode=0o700)
    cfg = work / "agent.json"
    cfg.write_text(json.dumps(config, indent=2))

    banner("Sample host: qemu 100-102, lxc 103-104 (fakepve on 127.0.0.1)")
    print("desired state:", json.dumps(desired["desired_state"]["guests"], indent=1))
    print("guest 102 is not listed (unmanaged); 900 is listed but does not exist (missing)")

    banner("1. Plan: what would change (nothing is touched)")
    agent(cfg, "--plan", check_codes=(4,))

    banner("2. Reconcile: converge; the destroy of 104 needs a signature")
    agent(cfg, "--reconcile-now", check_codes=(4,))

    banner("3. Reconcile again: converged, zero mutations")
    agent(cfg, "--reconcile-now", "--json", check_codes=(4,))

    banner("4. Pending: the held destroy and the blob to sign")
    pending = json.loads(agent(cfg, "--pending", "--json").stdout)
    item = pending["pending"][0]
    print("sign command:", item["sign_command"])

    banner("5. The operator signs, submits, and the next pass destroys 104")
    blob = work / "op.json"
    blob.write_text(item["blob"])
    subprocess.run(["ssh-keygen", "-Y", "sign", "-q", "-f", str(keys / "operator"),
                    "-n", "felhom-op-v1", str(blob)], check=True)
    agent(cfg, "--check-op", str(blob), str(blob) + ".sig")
    agent(cfg, "--submit", str(blob), str(blob) + ".sig")
    agent(cfg, "--reconcile-now")
    banner("6. Provisioning: create 200 from a template; 201's start will fail")
    template = "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"
    lxc = lambda name: {"kind": "lxc", "name": name, "ostemplate": template, "storage": "local-lvm",
                        "disk_gib": 8, "net0": "name=eth0,bridge=vmbr0,ip=dhcp"}
    desired["generation"] = 2
    desired["desired_state"]["guests"] = [g for g in desired["desired_state"]["guests"] if g["vmid"] != 104] + [
        {"vmid": 200, "state": "running", "cores": 2, "memory_bytes": 1073741824, "description": "shop",
         "create": lxc("shop")},
        {"vmid": 201, "state": "running", "create": lxc("flaky")},
    ]
    (work / "desired-state.json").write_text(json.dumps(desired, indent=1))
    fake_cmd(fake, {"op": "call", "method": "fail",
                    "args": ["POST", f"/nodes/{NODE}/lxc/201/status/start"],
                    "kwargs": {"status": 500, "message": "unable to start CT 201: no cgroup", "times": 1}})
    print("desired state adds:", json.dumps(desired["desired_state"]["guests"][-2:], indent=1))
    agent(cfg, "--plan", check_codes=(0,))
    passed = json.loads(agent(cfg, "--reconcile-now", "--json", check_codes=(1,)).stdout)
    undo = [a for a in passed["actions"] if a["vmid"] == 201 and a["op"] == "guest_destroy"]
    print("the compensating rollback:", json.dumps(undo, indent=1))
    print("guest 200:", json.dumps(fake_cmd(fake, {"op": "guest", "vmid": 200})["status"]),
          "guest 201 exists:", fake_cmd(fake, {"op": "guest", "vmid": 201})["exists"])

    banner("7. Reconcile again: 200 is converged; 201 is held until the generation changes or an hour passes")
    agent(cfg, "--reconcile-now", check_codes=(0,))
    banner("Done: the journal is intact")
    agent(cfg, "--journal-verify")


if __name__ == "__main__":
    main()
