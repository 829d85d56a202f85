#!/usr/bin/env python3
"""Runs a kustomize overlay of deploy/kubernetes as a pod on this machine: `make kube-up`.

  kube_play.py up   OVERLAY [--app-port N] [--exporter-port N] [--state DIR]
  kube_play.py down [--state DIR]

`up` renders OVERLAY with `kubectl kustomize` (deploy/kubernetes/local or local-auto-mark-dead:
the manifests users apply, with the images of `make image`), creates the certificate Secret
that the README has users create (multiproc-exporter-tls: a throwaway CA and a certificate for
multiproc-exporter and 127.0.0.1, made with openssl), plays the Deployment with
`podman kube play`, waits until the containers' readiness and liveness probes, as the manifest
declares them, pass from the host, and prints

  app=http://HOST:PORT
  exporter=https://HOST:PORT

The hostPort of each is --app-port / --exporter-port (default 8000 and 8987; 0 or a busy port:
a free one). DIR (default .build/kube) keeps the rendered and played manifests, the
certificates and state.json (ports, pod and container names, scrape credentials, CA file)
for `down` and for the tests (deploy/check-kube.py).

podman 4.3 (Debian 12) runs Deployments but not every part of them; what it cannot run as
written is translated in the played copy, and only that:
  - a Secret is a podman secret holding the Secret's YAML, which secret volumes read (every key
    a file, data written as-is: so the copy holds decoded values, items' paths as keys);
  - env from secretKeyRef reads podman secrets of another format (JSON): the value is inlined;
  - projected volumes do not exist there: their secret sources become one secret volume;
  - secret volumes must say optional: false (4.3 dereferences it);
  - an emptyDir is an anonymous volume there, owned by the first container's user, so the
    other container cannot write it (Kubernetes makes it mode 0777): it becomes a hostPath
    folder made fresh with mode 0777, in /dev/shm (a tmpfs) for medium: Memory, else in DIR;
  - fsGroup is ignored there: it is added to supplementalGroups, the group it gives in a cluster;
  - Services and PodMonitors have no meaning for one pod on one host: they are left out.
"""
import argparse
import base64
import json
import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.request

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROBE_TIMEOUT = 120


def fail(message):
    print(f'kube_play: {message}', file=sys.stderr)
    sys.exit(1)


def run(*args, **kwargs):
    kwargs.setdefault('check', True)
    kwargs.setdefault('text', True)
    return subprocess.run(list(args), **kwargs)


def podman(*args, **kwargs):
    return run('podman', *args, **kwargs)


def port_is_free(port):
    with socket.socket() as s:
        try:
            s.bind(('0.0.0.0', port))
            return True
        except OSError:
            return False


def choose_port(wanted):
    """wanted if it is free, else a free port the kernel picks."""
    if wanted and port_is_free(wanted):
        return wanted
    with socket.socket() as s:
        s.bind(('0.0.0.0', 0))
        return s.getsockname()[1]


def make_certificates(directory):
    """A CA and a server certificate for multiproc-exporter and 127.0.0.1 (the names
    deploy/kubernetes/base/kustomization.yaml asks for), EC P-256, valid 30 days; those of an
    earlier run while they have a day left (a browser or Prometheus may trust that CA)."""
    os.makedirs(directory, exist_ok=True)
    path = lambda name: os.path.join(directory, name)  # noqa: E731
    quiet = {'stdout': subprocess.DEVNULL, 'stderr': subprocess.DEVNULL}
    fresh = os.path.exists(path('tls.key')) and run('openssl', 'x509', '-checkend', '86400', '-noout', '-in', path('tls.crt'),
                                                    check=False, **quiet).returncode == 0
    if not fresh:
        make_new_certificates(path, quiet)
    # The README's command for a cluster, client side only: the same Secret as YAML.
    out = run('kubectl', 'create', 'secret', 'generic', 'multiproc-exporter-tls', '--dry-run=client', '-o', 'yaml',
              f'--from-file={path("tls.crt")}', f'--from-file={path("tls.key")}', f'--from-file={path("ca.crt")}',
              capture_output=True).stdout
    return yaml.safe_load(out)


def make_new_certificates(path, quiet):
    run('openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
        '-keyout', path('ca.key'), '-out', path('ca.crt'), '-days', '30', '-subj', '/CN=multiproc-exporter local CA', **quiet)
    run('openssl', 'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
        '-keyout', path('tls.key'), '-out', path('tls.csr'), '-subj', '/CN=multiproc-exporter', **quiet)
    with open(path('san.ext'), 'w') as f:
        f.write('subjectAltName=DNS:multiproc-exporter,IP:127.0.0.1\n')
    run('openssl', 'x509', '-req', '-in', path('tls.csr'), '-CA', path('ca.crt'), '-CAkey', path('ca.key'),
        '-CAcreateserial', '-days', '30', '-out', path('tls.crt'), '-extfile', path('san.ext'), **quiet)


def secret_values(secret):
    """A Secret's keys -> bytes, from data (base64) and stringData."""
    values = {k: base64.b64decode(v) for k, v in (secret.get('data') or {}).items()}
    values.update({k: v.encode() for k, v in (secret.get('stringData') or {}).items()})
    return values


class Translation:
    """The played copy of a Deployment, and the podman secrets it needs (see the docstring)."""

    def __init__(self, deployment, secrets, ports, state):
        self.deployment = json.loads(json.dumps(deployment))
        self.secrets = secrets  # name -> {key: bytes}
        self.podman_secrets = {}  # podman secret name -> {file name: text}
        self.state = state
        self.empty_dirs = {}  # volume name -> host folder
        pod = self.deployment['spec']['template']['spec']
        context = pod.setdefault('securityContext', {})
        if 'fsGroup' in context:
            groups = context.setdefault('supplementalGroups', [])
            if context['fsGroup'] not in groups:
                groups.append(context['fsGroup'])
        for volume in pod.get('volumes', []):
            self.volume(volume)
        for container in pod['containers']:
            for env in container.get('env', []):
                ref = (env.get('valueFrom') or {}).get('secretKeyRef')
                if ref:
                    env.pop('valueFrom')
                    env['value'] = self.value(ref['name'], ref['key']).decode()
            for port in container.get('ports', []):
                if port.get('name') in ports:
                    port['hostPort'] = ports[port['name']]

    def value(self, name, key):
        if name not in self.secrets or key not in self.secrets[name]:
            fail(f'the manifests refer to Secret {name} key {key}, which they do not define')
        return self.secrets[name][key]

    def files(self, name, items):
        """{path: text} of Secret name's items (all keys when items is empty)."""
        items = items or [{'key': k, 'path': k} for k in sorted(self.secrets.get(name, {}))]
        return {item['path']: self.value(name, item['key']).decode() for item in items}

    def volume(self, volume):
        if 'emptyDir' in volume:
            memory = volume['emptyDir'].get('medium') == 'Memory'
            parent = '/dev/shm' if memory else os.path.abspath(self.state)
            folder = os.path.join(parent, f'multiproc-exporter-kube-{self.deployment["metadata"]["name"]}-{volume["name"]}')
            subprocess.run(['rm', '-rf', folder], check=True)
            os.makedirs(folder)
            os.chmod(folder, 0o777)
            self.empty_dirs[volume['name']] = folder
            volume.pop('emptyDir')
            volume['hostPath'] = {'path': folder, 'type': 'Directory'}
        elif 'secret' in volume:
            source = volume['secret']
            self.podman_secrets[source['secretName']] = self.files(source['secretName'], source.get('items'))
            source['optional'] = False
        elif 'projected' in volume:
            files = {}
            for source in volume['projected']['sources']:
                if set(source) != {'secret'}:
                    fail(f'projected volume {volume["name"]}: only secret sources can be played here')
                files.update(self.files(source['secret']['name'], source['secret'].get('items')))
            name = f'{self.deployment["metadata"]["name"]}-{volume["name"]}'
            self.podman_secrets[name] = files
            volume.pop('projected')
            volume['secret'] = {'secretName': name, 'optional': False}


def render(overlay):
    out = run('kubectl', 'kustomize', overlay, capture_output=True)
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def probe_passes(probe, host_port):
    """The kubelet's check of one probe, from the host through the hostPort."""
    if 'tcpSocket' in probe:
        try:
            socket.create_connection(('127.0.0.1', host_port), timeout=2).close()
            return True
        except OSError:
            return False
    if 'httpGet' in probe:
        get = probe['httpGet']
        scheme = get.get('scheme', 'HTTP').lower()
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # as the kubelet: HTTPS probes are not verified
        try:
            with urllib.request.urlopen(f'{scheme}://127.0.0.1:{host_port}{get.get("path", "/")}', timeout=2,
                                        context=context if scheme == 'https' else None) as reply:
                return 200 <= reply.status < 400
        except (OSError, ValueError):
            return False
    fail(f'probe kind not played here: {probe}')


def wait_for_probes(deployment, state, timeout):
    containers = deployment['spec']['template']['spec']['containers']
    deadline = time.monotonic() + timeout
    pending = []
    for container in containers:
        ports = {p.get('name'): p for p in container.get('ports', [])}
        for kind in ('readinessProbe', 'livenessProbe'):
            probe = container.get(kind)
            if not probe:
                continue
            handler = probe.get('tcpSocket') or probe.get('httpGet')
            target = handler['port'] if handler else None
            port = ports[target] if target in ports else next(p for p in ports.values() if p['containerPort'] == target)
            pending.append((container['name'], kind, probe, port['hostPort']))
    while pending:
        pending = [p for p in pending if not probe_passes(p[2], p[3])]
        if not pending:
            break
        if time.monotonic() > deadline:
            for name, kind, *_ in pending:
                print(f'kube_play: {name} {kind} still failing after {timeout}s; logs:', file=sys.stderr)
                podman('logs', '--tail', '30', f'{state["pod"]}-{name}', check=False)
            fail('probes did not pass')
        time.sleep(0.5)


def up(args):
    os.makedirs(args.state, exist_ok=True)
    state_file = os.path.join(args.state, 'state.json')
    if os.path.exists(state_file):
        down(args)
    documents = render(args.overlay)
    documents.append(make_certificates(os.path.join(args.state, 'tls')))
    with open(os.path.join(args.state, 'rendered.yaml'), 'w') as f:
        yaml.safe_dump_all(documents, f, sort_keys=False)
    secrets = {d['metadata']['name']: secret_values(d) for d in documents if d['kind'] == 'Secret'}
    deployments = [d for d in documents if d['kind'] == 'Deployment']
    if len(deployments) != 1:
        fail(f'{args.overlay} renders {len(deployments)} Deployments; this plays exactly one')
    skipped = sorted({d['kind'] for d in documents} - {'Deployment', 'Secret'})
    for container in deployments[0]['spec']['template']['spec']['containers']:
        if podman('image', 'exists', container['image'], check=False).returncode != 0:
            fail(f'no image {container["image"]} here: run make image')
    ports = {'http': choose_port(args.app_port), 'metrics': choose_port(args.exporter_port)}
    played = Translation(deployments[0], secrets, ports, args.state)
    deployment = played.deployment
    name = deployment['metadata']['name']
    state = {'overlay': args.overlay, 'pod': f'{name}-pod-0', 'app_port': ports['http'], 'exporter_port': ports['metrics'],
             'containers': [c['name'] for c in deployment['spec']['template']['spec']['containers']],
             'podman_secrets': sorted(played.podman_secrets), 'empty_dirs': played.empty_dirs, 'played': os.path.join(args.state, 'played.yaml'),
             'ca_file': os.path.abspath(os.path.join(args.state, 'tls', 'ca.crt')),
             'scrape_username': secrets['multiproc-exporter-scrape-auth']['username'].decode(),
             'scrape_password': secrets['multiproc-exporter-scrape-auth']['password'].decode(),
             'admin_token': secrets['multiproc-exporter-admin']['token'].decode()}
    with open(state['played'], 'w') as f:
        yaml.safe_dump(deployment, f, sort_keys=False)
    with open(state_file, 'w') as f:
        json.dump(state, f, indent=2)
    for secret, files in played.podman_secrets.items():
        podman('secret', 'rm', secret, capture_output=True, check=False)
        podman('volume', 'rm', '--force', secret, capture_output=True, check=False)
        document = {'apiVersion': 'v1', 'kind': 'Secret', 'metadata': {'name': secret}, 'data': files}
        podman('secret', 'create', secret, '-', input=yaml.safe_dump(document), capture_output=True)
    print(f'kube_play: podman kube play {state["played"]} (from kubectl kustomize {args.overlay}; '
          f'not played: {", ".join(skipped) or "nothing"})', file=sys.stderr)
    result = podman('kube', 'play', '--replace', state['played'], capture_output=True, check=False)
    if result.returncode != 0:
        fail(f'podman kube play failed:\n{result.stdout}{result.stderr}')
    wait_for_probes(deployment, state, args.timeout)
    print(f'app=http://127.0.0.1:{ports["http"]}')
    print(f'exporter=https://127.0.0.1:{ports["metrics"]}')


def down(args):
    state_file = os.path.join(args.state, 'state.json')
    if not os.path.exists(state_file):
        print('kube_play: nothing to take down (no state.json)', file=sys.stderr)
        return
    with open(state_file) as f:
        state = json.load(f)
    podman('kube', 'down', state['played'], capture_output=True, check=False)
    podman('pod', 'rm', '--force', state['pod'], capture_output=True, check=False)
    for secret in state['podman_secrets']:
        podman('secret', 'rm', secret, capture_output=True, check=False)
        podman('volume', 'rm', '--force', secret, capture_output=True, check=False)
    for folder in state.get('empty_dirs', {}).values():
        subprocess.run(['rm', '-rf', folder], check=False)
    os.unlink(state_file)
    print(f'kube_play: removed pod {state["pod"]}', file=sys.stderr)


def use_project_podman_settings():
    """deploy/podman/containers.conf unless CONTAINERS_CONF or PODMAN_CONF (empty: podman's own
    settings) say otherwise, as deploy/image.sh does."""
    conf = os.environ.get('PODMAN_CONF', os.path.join(ROOT, 'deploy', 'podman', 'containers.conf'))
    if conf and 'CONTAINERS_CONF' not in os.environ:
        os.environ['CONTAINERS_CONF'] = conf


def main():
    use_project_podman_settings()
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('command', choices=['up', 'down'])
    parser.add_argument('overlay', nargs='?', default=os.path.join(ROOT, 'deploy/kubernetes/local'))
    parser.add_argument('--app-port', type=int, default=8000)
    parser.add_argument('--exporter-port', type=int, default=8987)
    parser.add_argument('--state', default=os.path.join(ROOT, '.build/kube'))
    parser.add_argument('--timeout', type=float, default=PROBE_TIMEOUT)
    args = parser.parse_args()
    up(args) if args.command == 'up' else down(args)


if __name__ == '__main__':
    main()
