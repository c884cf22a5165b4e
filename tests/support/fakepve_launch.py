"""Serve fakepve for the Rust tests, controlled over stdin/stdout.

    python3 fakepve_launch.py --dir DIR --node pve1 --qemu 2 --lxc 2 --time-scale 0.01

Startup:
  * a private CA (ca.pem) and a server certificate it signs (SAN 127.0.0.1,
    localhost), the layout of PVE's pve-root-ca.pem / pve-ssl.pem; plus an
    unrelated CA (other-ca.pem) that must never be trusted;
  * FakePve on 127.0.0.1, a port the system picks;
  * API tokens: `felhom@pve!agent` holding exactly the README's minimal
    privilege set (ACL on both the user and the token, as PVE requires for a
    privilege-separated token) on /vms, `felhom@pve!provision` holding that set
    plus the README's provisioning privileges (on /vms, /storage and /sdn/zones),
    and `limited@pve!audit` holding VM.Audit only;
  * real PVE's permission checks where fakepve 0.5.0 has none (RealPve below);
  * the sample guests: qemu vmids 100.., lxc vmids after them.

Then one JSON line on stdout: {"ready": true, "port", "ca", "other_ca",
"fingerprint" (hex SHA-256 of the leaf DER), "token", "provision_token", "limited_token", "node"}.

Commands: one JSON object per stdin line, one JSON reply per stdout line,
{"ok": true, "result": ...} or {"ok": false, "error": "..."}. Ops:
  add_qemu / add_lxc {vmid, name?, status?, config?, node?}
  set {vmid, attr, value}          attribute of a guest (shutdown_secs, start_error, ha_state, lock, ...)
  call {method, args?, kwargs?}    a FakePve method (fail, flaky_network, slow_network, set_node_offline,
                                   hold_config_lock, release_config_lock, backup, snapshot_lock, unlock, ...)
  add_snapshot {vmid, name}        a finished snapshot of the current config
  guest {vmid}                     {exists, status, lock, node, config, snapshots}
  add_template {vmid, name?, node?, config?}   a qemu template (its disks in config, e.g. scsi0)
  storage {name, set}              update a storage's fake state (avail, total, active, ...)
  task_secs {kind, secs}           PVE seconds container tasks take: kind create, destroy, ... (ct_secs)
  answer_delay {secs}              PVE seconds every answer waits after its request ran (a lost answer)
  requests {}                      [[method, path], ...] every request seen, oldest first
EOF on stdin stops the server.
"""

import argparse
import asyncio
import datetime
import hashlib
import inspect
import ipaddress
import json
import os
import secrets
import sys
import threading

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fakepve import FakePve
from fakepve.model import PveError

HOST = '127.0.0.1'
AGENT_TOKEN = 'felhom@pve!agent'
PROVISION_TOKEN = 'felhom@pve!provision'
LIMITED_TOKEN = 'limited@pve!audit'
# The README's minimal privilege set for the agent's role.
MINIMAL_PRIVS = ('VM.Audit', 'VM.PowerMgmt', 'VM.Config.CPU', 'VM.Config.Memory', 'VM.Config.Options',
                 'VM.Allocate', 'VM.Snapshot.Rollback')
# The README's extra privileges for provisioning (CONTRACT §10), by ACL path.
PROVISION_PRIVS = (('/vms', MINIMAL_PRIVS + ('VM.Clone', 'VM.Config.Disk', 'VM.Config.Network')),
                   ('/storage', ('Datastore.AllocateSpace', 'Datastore.Audit')),
                   ('/sdn/zones', ('SDN.Use',)))


class RealPve(FakePve):
    """fakepve with real PVE's permission checks where fakepve 0.5.0 has none."""

    def allowed(self, user, path, priv):
        # pve-access-control src/PVE/RPCEnvironment.pm (permissions of a privilege-separated
        # token): the token holds what both its own ACL and its user's ACL grant. fakepve
        # 0.5.0 grants the union instead.
        if '!' not in user or self.acl is None or user.startswith('root@pam'):
            return super().allowed(user, path, priv)
        return self._holds(user, path, priv) and self._holds(user.split('!')[0], path, priv)

    def _holds(self, user_id, path, priv):
        """One ACL subject's own grants (fakepve's path rules: /vms/N also matches /vms and pools)."""
        paths = [path]
        if path.startswith('/vms/'):
            vmid = int(path.split('/')[2])
            paths += ['/vms'] + ['/pool/' + name for name, ids in self.pools.items() if vmid in ids]
        for granted, privs in self.acl.get(user_id, []):
            if priv in privs and (granted == '/' or any(p == granted or p.startswith(granted + '/') for p in paths)):
                return True
        return False

    # PVE seconds every answer waits *after* its request was executed (a lost
    # answer: fakepve's slow_network waits before, so a client that dies
    # meanwhile never has its request run). A test scenario, not PVE behaviour.
    answer_delay = 0

    async def _answer(self, request, handler, generic, path_node):
        response = await super()._answer(request, handler, generic, path_node)
        if self.answer_delay:
            await self.pause(self.answer_delay)
        return response

    async def _ns_status(self, v, user):
        # pve-storage src/PVE/API2/Storage/Status.pm read_status: 'Datastore.Audit' or
        # 'Datastore.AllocateSpace' on /storage/{storage}.
        path = '/storage/' + v['storage']
        if not (self.allowed(user, path, 'Datastore.Audit') or self.allowed(user, path, 'Datastore.AllocateSpace')):
            raise PveError(403, 'Permission check failed ({0}, Datastore.Audit|Datastore.AllocateSpace)'.format(path))
        return await super()._ns_status(v, user)

    async def _qm_clone(self, v, user):
        # qemu-server src/PVE/API2/Qemu.pm clone_vm: 'VM.Clone' on /vms/{vmid} (the source).
        self.require(user, '/vms/{0}'.format(v['vmid']), 'VM.Clone')
        return await super()._qm_clone(v, user)


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_ca(cn):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def make_leaf(ca_key, ca_cert):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    names = [x509.DNSName('localhost'), x509.IPAddress(ipaddress.ip_address(HOST))]
    cert = (x509.CertificateBuilder().subject_name(_name('fakepve')).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return key, cert


def write_pki(directory):
    ca_key, ca_cert = make_ca('fakepve test CA')
    _, other_cert = make_ca('unrelated CA')
    leaf_key, leaf_cert = make_leaf(ca_key, ca_cert)
    pem = serialization.Encoding.PEM
    paths = {}
    for name, cert in (('ca', ca_cert), ('other_ca', other_cert)):
        paths[name] = os.path.join(directory, name.replace('_', '-') + '.pem')
        with open(paths[name], 'wb') as out:
            out.write(cert.public_bytes(pem))
    chain = os.path.join(directory, 'server.pem')
    with open(chain, 'wb') as out:
        out.write(leaf_cert.public_bytes(pem))
    keyfile = os.path.join(directory, 'server.key')
    with os.fdopen(os.open(keyfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 'wb') as out:
        out.write(leaf_key.private_bytes(pem, serialization.PrivateFormat.TraditionalOpenSSL,
                                         serialization.NoEncryption()))
    fingerprint = hashlib.sha256(leaf_cert.public_bytes(serialization.Encoding.DER)).hexdigest()
    return paths, chain, keyfile, fingerprint


def seed(pve, node, qemu, lxc):
    for i in range(qemu):
        vmid = 100 + i
        pve.add_vm(vmid, 'vm{0}'.format(vmid), node=node, status='running' if i % 2 == 0 else 'stopped',
                   config={'cores': 1 + i % 4, 'memory': 512 * (1 + i % 4), 'description': 'sample qemu'})
    for i in range(lxc):
        vmid = 100 + qemu + i
        pve.add_ct(vmid, 'ct{0}'.format(vmid), node=node, status='running' if i % 2 == 0 else 'stopped',
                   config={'cores': 1 + i % 2, 'memory': 256 * (1 + i % 4), 'description': 'sample lxc\n'})


def guest_view(pve, vmid):
    g = pve.guest(vmid)
    if g is None:
        return {'exists': False}
    return {'exists': True, 'status': g.status, 'lock': g.lock, 'node': g.node, 'config': g.config,
            'snapshots': sorted(g.snapshots)}


def add_snapshot(pve, vmid, name):
    g = pve.guest(vmid)
    snap = dict((k, v) for k, v in g.config.items() if k not in ('lock', 'description', 'parent'))
    snap['snaptime'] = 1700000000
    snap['description'] = 'test snapshot'
    if g.config.get('parent'):
        snap['parent'] = g.config['parent']
    g.snapshots[name] = snap
    g.config['parent'] = name
    return None


async def run_op(pve, cmd):
    op = cmd['op']
    if op == 'add_qemu':
        pve.add_vm(cmd['vmid'], cmd.get('name') or 'vm{0}'.format(cmd['vmid']), node=cmd.get('node', 'pve1'),
                   status=cmd.get('status', 'stopped'), config=cmd.get('config') or {})
        return None
    if op == 'add_lxc':
        pve.add_ct(cmd['vmid'], cmd.get('name') or 'ct{0}'.format(cmd['vmid']), node=cmd.get('node', 'pve1'),
                   status=cmd.get('status', 'stopped'), config=cmd.get('config') or {})
        return None
    if op == 'set':
        setattr(pve.guest(cmd['vmid']), cmd['attr'], cmd['value'])
        return None
    if op == 'call':
        out = getattr(pve, cmd['method'])(*cmd.get('args', []), **cmd.get('kwargs', {}))
        if inspect.isawaitable(out):
            out = await out
        return out
    if op == 'add_snapshot':
        return add_snapshot(pve, cmd['vmid'], cmd['name'])
    if op == 'guest':
        return guest_view(pve, cmd['vmid'])
    if op == 'requests':
        return [[m, p] for m, p, _body in pve.requests]
    if op == 'add_template':
        pve.add_vm(cmd['vmid'], cmd.get('name') or 'tpl{0}'.format(cmd['vmid']), node=cmd.get('node', 'pve1'),
                   status='stopped', template=True, config=dict(cmd.get('config') or {}, template=1))
        return None
    if op == 'storage':
        pve.storages[cmd['name']].update(cmd['set'])
        return None
    if op == 'task_secs':
        pve.ct_secs[cmd['kind']] = cmd['secs']
        return None
    if op == 'answer_delay':
        pve.answer_delay = cmd['secs']
        return None
    raise ValueError('unknown op {0!r}'.format(op))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--dir', required=True)
    parser.add_argument('--node', default='pve1')
    parser.add_argument('--qemu', type=int, default=2)
    parser.add_argument('--lxc', type=int, default=2)
    parser.add_argument('--time-scale', type=float, default=0.01)
    args = parser.parse_args()

    paths, chain, keyfile, fingerprint = write_pki(args.dir)
    pve = RealPve(user='root@pam', password=secrets.token_hex(16), host=HOST, port=0)
    pve.time_scale = args.time_scale
    pve.nodes = {args.node: {'online': True}}
    tokens = {}
    grants = ((AGENT_TOKEN, (('/vms', MINIMAL_PRIVS),)), (PROVISION_TOKEN, PROVISION_PRIVS),
              (LIMITED_TOKEN, (('/vms', ('VM.Audit',)),)))
    for tokenid, acl in grants:
        secret = secrets.token_hex(16)
        pve.apitokens[tokenid] = secret
        tokens[tokenid] = '{0}={1}'.format(tokenid, secret)
        for path, privs in acl:
            pve.grant(tokenid, path, *privs)
    # A privilege-separated token holds what both its own and its user's ACLs
    # grant (RealPve.allowed); the user felhom@pve holds the provisioning set,
    # so the agent token is bounded by its own (minimal) ACL.
    for path, privs in PROVISION_PRIVS:
        pve.grant('felhom@pve', path, *privs)
    pve.grant('limited@pve', '/vms', 'VM.Audit')
    seed(pve, args.node, args.qemu, args.lxc)

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(pve.start(chain, keyfile), loop).result(30)
    os.unlink(keyfile)
    print(json.dumps({'ready': True, 'port': pve.port, 'ca': paths['ca'], 'other_ca': paths['other_ca'],
                      'fingerprint': fingerprint, 'token': tokens[AGENT_TOKEN],
                      'provision_token': tokens[PROVISION_TOKEN],
                      'limited_token': tokens[LIMITED_TOKEN], 'node': args.node}), flush=True)

    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            cmd = json.loads(line)
            result = asyncio.run_coroutine_threadsafe(run_op(pve, cmd), loop).result(60)
            reply = {'ok': True, 'result': result}
        except Exception as exc:  # noqa: BLE001 - reported to the harness, which panics with it
            reply = {'ok': False, 'error': '{0}: {1}'.format(type(exc).__name__, exc)}
        print(json.dumps(reply, default=str), flush=True)
    asyncio.run_coroutine_threadsafe(pve.stop(), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)


if __name__ == '__main__':
    main()
