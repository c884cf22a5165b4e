"""Serve fakepve for the Rust tests, controlled over stdin/stdout.

    python3 fakepve_launch.py --dir DIR --node pve1 --qemu 2 --lxc 2 --time-scale 0.01

Startup:
  * a private CA (ca.pem) and a server certificate it signs (SAN 127.0.0.1,
    localhost), the layout of PVE's pve-root-ca.pem / pve-ssl.pem; plus an
    unrelated CA (other-ca.pem) that must never be trusted;
  * RealPve (FakePve with the real PVE behaviours fakepve 0.5.0 lacks, each naming its PVE
    source) on 127.0.0.1, a port the system picks;
  * API tokens: `felhom@pve!agent` holding exactly the README's minimal
    privilege set (ACL on both the user and the token, as PVE requires for a
    privilege-separated token) on /vms, `felhom@pve!provision` holding that set
    plus the README's provisioning privileges (on /vms, /storage and /sdn/zones),
    and `limited@pve!audit` holding VM.Audit only;
  * real PVE's permission checks where fakepve 0.5.0 has none (in RealPve too);
  * the sample guests: qemu vmids 100.., lxc vmids after them.

Then one JSON line on stdout: {"ready": true, "port", "ca", "other_ca",
"fingerprint" (hex SHA-256 of the leaf DER), "token", "provision_token", "limited_token", "node"}.

Commands: one JSON object per stdin line, one JSON reply per stdout line,
{"ok": true, "result": ...} or {"ok": false, "error": "..."}. Ops:
  add_qemu / add_lxc {vmid, name?, status?, config?, node?}
  set {vmid, attr, value}          attribute of a guest (shutdown_secs, start_error, ha_state, lock, qmpstatus,
                                   acpi, forced_deletes, task_log_lines, ...)
  set_pve {attr, value}            attribute of the server (message_in_body, percent_bug, status_cache_secs,
                                   ha_delay, ...; see RealPve)
  add_replication {id, guest}      a replication job of a guest
  call {method, args?, kwargs?}    a FakePve method (fail, flaky_network, slow_network, set_node_offline,
                                   hold_config_lock, release_config_lock, backup, snapshot_lock, unlock, ...)
  add_snapshot {vmid, name}        a finished snapshot of the current config
  guest {vmid}                     {exists, status, lock, node, config, snapshots}
  add_template {vmid, name?, node?, config?}   a qemu template (its disks in config, e.g. scsi0)
  storage {name, set}              update a storage's fake state (avail, total, active, ...)
  task_secs {kind, secs}           PVE seconds container tasks take: kind create, destroy, ... (ct_secs)
  answer_delay {secs}              PVE seconds every answer waits after its request ran (a lost answer)
  requests {}                      [[method, path], ...] every request seen, oldest first
  count_requests {vmids}           mutating (non-GET) requests naming one of these guests
                                   (a path segment, or the new guest's id in a create or clone
                                   body), a cheap poll for the power-cut tests
  creates {vmid}                   create and clone requests whose body names this new guest
  hold_answers {vmids, from, secs} the from-th and later mutating requests naming one of these
                                   guests run, then their answers wait up to secs real seconds
                                   (a lost answer, for the power-cut tests)
  held_answers {}                  answers held so far
  release_answers {}               stop holding (held answers go out); returns how many were held
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
import time
import urllib.parse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from aiohttp import web

import fakepve.server as fakepve_server
from fakepve import FakePve
from fakepve.model import PveError, TaskError

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


# ---------------------------------------------------------------------------------------------
# Real PVE where fakepve 0.5.0 differs. Each override names the PVE source it reproduces; the
# switches (`set_pve`) select behaviour that depends on the PVE version.

SERVED = {}
ORIGINAL_ERROR = fakepve_server.error


def first_line(message):
    return (str(message).splitlines() or [''])[0][:200]


def pve_error(status, message, errors=None):
    """An error answer as pve-http-server writes it.

    595/596: pve-http-server AnyEvent.pm proxy_request forwards AnyEvent::HTTP's pseudo-statuses
    (595: the node could not be reached, 596: the connection broke while reading the answer)
    with their reason and an empty body, on every version.
    API handler errors: libpve-http-server-perl before 5.2.0 (PVE 8.0-8.3) writes the message
    only into the status line (AnyEvent.pm `response`: "$proto $code $msg", the message's first
    line); the JSON body is {"data": null} plus `errors` (Formatter/Standard.pm
    prepare_response_data before "fix #6503: return api handler errors in the json body").
    """
    reason = first_line(message)
    if status in (595, 596):
        return web.Response(status=status, reason=reason)
    pve = SERVED.get('pve')
    if pve is None or pve.message_in_body:
        return ORIGINAL_ERROR(status, message, errors)
    body = {'data': None}
    if errors:
        body['errors'] = errors
    return web.json_response(body, status=status, reason=reason)


fakepve_server.error = pve_error


def decode_text(text):
    """pve-common PVE/Tools.pm decode_text: uri_unescape of what the config file holds."""
    return urllib.parse.unquote(text)


def pending_delete(item, guest):
    """pve-guest-common PVE/GuestHelpers.pm config_with_pending_array: `delete` is 2 for a
    forced pending delete (`qm set --delete X --force` on a running VM), else 1."""
    if item.get('delete') and item['key'] in getattr(guest, 'forced_deletes', ()):
        item['delete'] = 2
    return item


class RealPve(FakePve):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # PVE >= 8.4 (libpve-http-server-perl >= 5.2.0) also puts the message in the body.
        self.message_in_body = True
        # PVE < 8.2.2 (libpve-common-perl < 8.2.2): encode_text did not escape '%' on write, while
        # decode_text unescapes every %XX on read (PVE/Tools.pm, "fix #5486").
        self.percent_bug = False
        # pvestatd refreshes the status /cluster/resources reports every 10 s, minutes when it
        # stalls (pve-manager PVE/Service/pvestatd.pm, PVE/API2/Cluster.pm resources reads its
        # cache). None: always live; a number: real seconds between refreshes.
        self.status_cache_secs = None
        self._status_cache = None
        self._status_cache_at = 0.0
        # (method, path suffix) -> {'status', 'reason', 'times'}: the request runs, then the
        # client gets this status with an empty body (a 596 after the node executed it).
        self.after_failures = {}
        # Replication jobs: [{'id': '100-0', 'guest': 100, 'target': 'pve2', ...}].
        self.replication_jobs = []
        # PVE seconds every answer waits *after* its request was executed (a lost answer:
        # fakepve's slow_network waits before, so a client that dies meanwhile never has its
        # request run). A test scenario, not PVE behaviour.
        self.answer_delay = 0
        # The power-cut tests' lost answer: {'vmids', 'from', 'secs', 'seen', 'held'} or None.
        # The from-th and later mutating requests naming one of vmids run, then their answer
        # waits up to secs real seconds (until released): the harness kills the client
        # meanwhile, so it never learns the outcome. A test scenario, not PVE behaviour.
        self.hold = None

    # ------------------------------------------------------------------ permissions

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

    # ------------------------------------------------------------------ errors, reasons

    async def _answer(self, request, handler, generic, path_node):
        response = await self._answer_or_fail_after(request, handler, generic, path_node)
        if self.answer_delay:
            await self.pause(self.answer_delay)
        hold = self.hold
        if hold is not None and request.method != 'GET':
            body = await request.read()
            if names_guest(request.method, request.path, body, hold['vmids']):
                hold['seen'] += 1
                if hold['seen'] >= hold['from']:
                    hold['held'] += 1
                    deadline = time.monotonic() + hold['secs']
                    while self.hold is hold and time.monotonic() < deadline:
                        await asyncio.sleep(0.01)
        return response

    async def _answer_or_fail_after(self, request, handler, generic, path_node):
        for key, rule in list(self.after_failures.items()):
            if request.method == key[0] and request.path.endswith(key[1]):
                if rule['times'] is not None:
                    rule['times'] -= 1
                    if rule['times'] <= 0:
                        del self.after_failures[key]
                await super()._answer(request, handler, generic, path_node)
                if rule.get('body') is not None:
                    # PVE ran the request; its answer arrives unreadable (cut
                    # short by a proxy or a dropped connection mid-body).
                    return web.Response(status=200, text=rule['body'],
                                        content_type='application/json')
                return web.Response(status=rule['status'], reason=rule['reason'])
        return await super()._answer(request, handler, generic, path_node)

    def fail_after(self, method, suffix, status=596, reason='Connection timed out', times=1,
                   body=None):
        self.after_failures[(method, suffix)] = {'status': status, 'reason': reason, 'times': times,
                                                 'body': body}

    # ------------------------------------------------------------------ cluster resources

    async def _resources(self, request):
        response = await super()._resources(request)
        if self.status_cache_secs is None:
            return response
        data = json.loads(response.text)['data']
        now = time.monotonic()
        if self._status_cache is None or now - self._status_cache_at >= self.status_cache_secs:
            self._status_cache = dict((g.vmid, g.status) for g in list(self.vms) + list(self.cts))
            self._status_cache_at = now
        for item in data:
            if item.get('type') in ('qemu', 'lxc') and item.get('vmid') in self._status_cache:
                item['status'] = self._status_cache[item['vmid']]
        return fakepve_server.ok(data)

    # ------------------------------------------------------------------ tasks

    def _get_task(self, request):
        """pve-manager PVE/API2/Tasks.pm: an unparsable UPID and a task the node has no file
        for are parameter errors (400) on `upid`, "unable to parse worker upid" / "no such task"."""
        upid = request.match_info['upid']
        task = self.tasks.get(upid)
        if task is None or task['node'] != request.match_info['node']:
            why = 'no such task' if upid.startswith('UPID:') and upid.count(':') >= 8 \
                else 'unable to parse worker upid'
            raise PveError(400, 'Parameter verification failed.', {'upid': why})
        return super()._get_task(request)

    async def _task_log(self, request):
        """Tasks.pm read_task_log: lines `start`..`start+limit` and the `total` line count as a
        result attribute beside `data` (Formatter/Standard.pm prepare_response_data)."""
        response = await super()._task_log(request)
        total = len(self._get_task(request)['log'])
        data = json.loads(response.text)['data']
        return web.json_response({'data': data, 'total': total})

    async def task(self, node, ttype, tid, user, body, vm=None, lock=True, log=()):
        """A guest with `task_log_lines` set writes that many progress lines into each task's log
        (a real qmstart or vzdump logs hundreds)."""
        guest = self.guest(int(tid)) if str(tid).isdigit() else None
        extra = getattr(guest, 'task_log_lines', 0) or 0
        log = list(log) + ['{0}: progress {1}'.format(ttype, i + 1) for i in range(extra)]
        return await super().task(node, ttype, tid, user, body, vm=vm, lock=lock, log=log)

    # ------------------------------------------------------------------ config reads

    def _read_back(self, cfg, guest):
        if self.percent_bug and isinstance(cfg.get('description'), str):
            cfg['description'] = decode_text(cfg['description'])
        return cfg

    async def _config_get(self, request):
        response = await super()._config_get(request)
        vm = self._vm(request)
        return fakepve_server.ok(self._read_back(json.loads(response.text)['data'], vm))

    async def _pending(self, request):
        response = await super()._pending(request)
        vm = self._vm(request)
        items = []
        for item in json.loads(response.text)['data']:
            if item['key'] == 'description' and self.percent_bug:
                for k in ('value', 'pending'):
                    if isinstance(item.get(k), str):
                        item[k] = decode_text(item[k])
            items.append(pending_delete(item, vm))
        return fakepve_server.ok(items)

    async def _lxc_config_get(self, user, v):
        ct = self._find_ct(v['node'], v['vmid'])
        return self._read_back(await super()._lxc_config_get(user, v), ct)

    async def _lxc_pending(self, user, v):
        ct = self._find_ct(v['node'], v['vmid'])
        items = []
        for item in await super()._lxc_pending(user, v):
            if item['key'] == 'description' and self.percent_bug:
                for k in ('value', 'pending'):
                    if isinstance(item.get(k), str):
                        item[k] = decode_text(item[k])
            items.append(pending_delete(item, ct))
        return items

    # ------------------------------------------------------------------ config writes

    async def _apply_config(self, vm, user, p):
        """qemu-server PVE/QemuServer.pm write_vm_config writes a description only `if ($descr)`:
        "0" is false in Perl, so it is not stored. PVE/API2/Qemu.pm update_vm_api refuses memory
        below the balloon target: "balloon value too large (must be smaller than assigned memory)"."""
        p = dict(p)
        if str(p.get('description', '')).rstrip('\n') == '0':
            del p['description']
            p['delete'] = ','.join([k for k in str(p.get('delete') or '').split(',') if k] + ['description'])
        if p.get('memory'):
            balloon = vm.pending.get('balloon') or vm.config.get('balloon')
            if balloon and int(balloon) > int(str(p['memory']).split('=')[-1]):
                raise PveError(500, 'balloon value too large (must be smaller than assigned memory)')
        return await super()._apply_config(vm, user, p)

    async def _update_config(self, ct, user, values, deletes, reverts):
        """pve-container PVE/LXC/Config.pm write_pct_config: `$conf->{description} || ''`, so a
        description of "0" is not stored either."""
        if str(values.get('description', '')).rstrip('\n') == '0':
            values = dict(values)
            del values['description']
            deletes = list(deletes) + ['description']
        return await super()._update_config(ct, user, values, deletes, reverts)

    # ------------------------------------------------------------------ power

    async def _do_shutdown(self, vm, user, p):
        """qemu-server PVE/API2/Qemu.pm vm_shutdown: a paused, prelaunch or suspended VM is refused
        before anything else (vm_is_paused($vmid, 1)); an HA-managed VM is handed to
        `ha-manager crm-command stop vm:N TIMEOUT`, and pve-ha-manager
        PVE/HA/Resources/PVEVM.pm shutdown runs vm_shutdown with forceStop => 1."""
        self._need_running(vm)
        if vm.qmpstatus in ('paused', 'prelaunch', 'suspended'):
            raise PveError(500, 'VM is paused - cannot shutdown')
        if vm.ha_managed:
            timeout = int(p.get('timeout') or 60)
            return await self._ha_shutdown(vm, user, timeout, force=True, kind='VM')
        return await super()._do_shutdown(vm, user, p)

    async def _powerdown(self, vm, p):
        """qemu-server PVE/QemuServer.pm vm_stop_nolock polls the guest once a second for
        `timeout` seconds, then dies "VM quit/powerdown failed - got timeout": the task ends a
        little after the timeout it was given, never before."""
        try:
            return await super()._powerdown(vm, p)
        except TaskError:
            await self.pause(0.5)
            raise

    async def _do_reboot(self, vm, user, p):
        """PVE/API2/Qemu.pm vm_reboot: "VM is paused - cannot shutdown" for a paused VM too."""
        self._need_running(vm)
        if vm.qmpstatus in ('paused', 'prelaunch', 'suspended'):
            raise PveError(500, 'VM is paused - cannot shutdown')
        return await super()._do_reboot(vm, user, p)

    async def _lxc_shutdown(self, user, v):
        """pve-container PVE/API2/LXC/Status.pm vm_shutdown hands an HA-managed CT to the HA
        stack; pve-ha-manager PVE/HA/Resources/PVECT.pm shutdown does not force it."""
        ct = self._here(v)
        if ct is not None and ct.status == 'running' and ct.ha_managed:
            timeout = v['timeout'] if v.get('timeout') is not None else 60
            return await self._ha_shutdown(ct, user, int(timeout), force=False, kind='CT')
        return await super()._lxc_shutdown(user, v)

    async def _ha_shutdown(self, guest, user, timeout, force, kind):
        async def body():
            async def later():
                await self.pause(self.ha_delay)
                clean = getattr(guest, 'acpi', True) and guest.shutdown_secs <= timeout
                await self.pause(guest.shutdown_secs if clean else timeout)
                if clean or force:
                    guest.status = 'stopped'
                    if hasattr(guest, 'qmpstatus'):
                        guest.qmpstatus = 'stopped'
                    if hasattr(guest, 'pid'):
                        guest.pid = None
                    guest.forced_off = not clean
                    guest.ha_state = 'stopped'
                else:
                    guest.ha_state = 'error'
            if self.time_scale:
                asyncio.ensure_future(later())
            else:
                await later()
        return await self.task(guest.node, 'hastop', guest.vmid, user, body, lock=False,
                               log=['Requesting HA stop for {0} {1}'.format(kind, guest.vmid)])

    # ------------------------------------------------------------------ replication

    def _routes_replication(self):
        return [('GET', '/cluster/replication', self._replication_list)]

    async def _replication_list(self, v, user):
        """pve-manager PVE/API2/ReplicationConfig.pm index: the jobs of guests the user may audit."""
        return [dict(job) for job in self.replication_jobs
                if self.allowed(user, '/vms/{0}'.format(job['guest']), 'VM.Audit')]

    def _replication_check(self, vmid, purge):
        """pve-guest-common PVE/ReplicationConfig.pm check_for_existing_jobs, called by both
        destroy APIs (qemu-server PVE/API2/Qemu.pm, pve-container PVE/API2/LXC.pm destroy_vm)
        when `purge` is not set; with `purge` the jobs are removed (remove_vmid_jobs)."""
        for job in self.replication_jobs:
            if job['guest'] == vmid and not purge:
                raise PveError(500, "There is a replication job '{0}' for guest '{1}' - Please remove "
                                    "that first.".format(job['id'], vmid))

    def _replication_purge(self, vmid, purge):
        if purge:
            self.replication_jobs = [j for j in self.replication_jobs if j['guest'] != vmid]

    async def _qm_destroy(self, v, user):
        """qemu-server PVE/QemuServer.pm destroy_vm checks the config lock only when it is not
        `suspended` ("fix #4358"): a hibernated VM is destroyed (fakepve 0.5.0 refuses it)."""
        self._replication_check(int(v['vmid']), v.get('purge'))
        vm = self.find(v['node'], v['vmid'])
        hibernated = vm.lock == 'suspended'
        if hibernated:
            vm.lock = None
            vm.config.pop('lock', None)
        try:
            upid = await super()._qm_destroy(v, user)
        except Exception:
            if hibernated:
                vm.lock = vm.config['lock'] = 'suspended'
            raise
        self._replication_purge(int(v['vmid']), v.get('purge'))
        return upid

    async def _lxc_destroy(self, user, v):
        self._replication_check(int(v['vmid']), v.get('purge'))
        upid = await super()._lxc_destroy(user, v)
        self._replication_purge(int(v['vmid']), v.get('purge'))
        return upid


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


def created_vmid(method, path, body):
    """The new guest a create (POST /nodes/N/lxc or /nodes/N/qemu, body `vmid`) or clone
    (POST .../qemu/T/clone or .../lxc/T/clone, body `newid`) request names, else None: its
    path names no guest of its own, so a count by path misses it."""
    if method != 'POST':
        return None
    parts = path.rstrip('/').split('/')
    if parts[-1] in ('lxc', 'qemu') and len(parts) >= 2 and parts[-3] == 'nodes':
        key = b'vmid'
    elif parts[-1] == 'clone':
        key = b'newid'
    else:
        return None
    try:
        value = urllib.parse.parse_qs(body or b'').get(key, [b''])[0]
        return int(value)
    except ValueError:
        return None


def names_guest(method, path, body, vmids):
    """Whether a mutating request names one of vmids: a path segment, or the new guest of a
    create or clone."""
    segs = ['/{0}'.format(v) for v in vmids]
    return method != 'GET' and (any(s + '/' in path or path.endswith(s) for s in segs)
                                or created_vmid(method, path, body) in vmids)


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
    if op == 'set_pve':
        setattr(pve, cmd['attr'], cmd['value'])
        if cmd['attr'] == 'status_cache_secs':
            pve._status_cache = None
        return None
    if op == 'add_replication':
        pve.replication_jobs.append({'id': cmd['id'], 'guest': cmd['guest'], 'target': cmd.get('target', 'pve2'),
                                     'type': 'local', 'jobnum': int(cmd['id'].split('-')[-1])})
        return None
    if op == 'add_snapshot':
        return add_snapshot(pve, cmd['vmid'], cmd['name'])
    if op == 'guest':
        return guest_view(pve, cmd['vmid'])
    if op == 'requests':
        return [[m, p] for m, p, _body in pve.requests]
    if op == 'count_requests':
        return sum(1 for m, p, body in pve.requests if names_guest(m, p, body, cmd['vmids']))
    if op == 'hold_answers':
        pve.hold = {'vmids': cmd['vmids'], 'from': cmd['from'], 'secs': cmd['secs'], 'seen': 0, 'held': 0}
        return None
    if op == 'release_answers':
        held = pve.hold['held'] if pve.hold else 0
        pve.hold = None
        return held
    if op == 'held_answers':
        return pve.hold['held'] if pve.hold else 0
    if op == 'creates':
        return sum(1 for m, p, body in pve.requests if created_vmid(m, p, body) == cmd['vmid'])
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
    SERVED['pve'] = pve
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
