#!/usr/bin/env python3
"""What deploy/validate.sh checks of deploy/kubernetes beyond kubernetes-validate's schemas.

  check_kubernetes.py DIR

- podmonitor.yaml: kubernetes-validate bundles only Kubernetes' own schemas, so the Prometheus
  Operator CRD is checked with cloudcoil's PodMonitor model, generated from the operator's CRD
  schema (types, enums, duration patterns), made strict here (the model accepts unknown keys,
  which would let a misspelt field pass silently); its selector must match the pod labels and
  its port name a container port.
- deployment.yaml: the pieces that must agree: both containers mount the shared emptyDir at
  their PROMETHEUS_MULTIPROC_DIR, the token file flag points into the Secret's mount, the app's
  token comes from the same Secret and key, and MULTIPROC_EXPORTER_URL names the exporter's port.
- web-config.yaml / scrape-auth.yaml / podmonitor.yaml (--web.config.file): the flag points to
  web-config.yml in a mounted projected volume that also holds the certificate and key files
  the web config names; probes use HTTPS; the PodMonitor scrapes https with basicAuth taken from
  the scrape-auth Secret, whose password matches the web config's bcrypt hash for that user
  (checked with htpasswd, Apache's bcrypt), and trusts the CA of the Secret the certificate
  comes from; the gunicorn hook's CA file is that Secret's ca.crt.
- kustomization.yaml lists every manifest of DIR, and only existing ones.
- auto-mark-dead/ (an overlay of base/), rendered by `kubectl kustomize` as `kubectl apply -k`
  would, gives a pod with shareProcessNamespace: true and an exporter running --auto-mark-dead
  with the base's other flags; `--render-overlay DIR OUT` writes that Deployment for
  kubernetes-validate.
"""
import os
import subprocess
import sys
import tempfile
import typing

import pydantic
import yaml
from cloudcoil.models.prometheus_operator.v1 import PodMonitor


def fail(message):
    print(f'FAIL: {message}', file=sys.stderr)
    sys.exit(1)


def models_in(annotation):
    """The pydantic model classes an annotation may hold (Optional, List, Dict... unwrapped)."""
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in models_in(arg)]


def unknown_keys(model, data, path):
    """Keys of `data` that `model` does not declare, recursively."""
    if isinstance(data, list):
        return [k for i, item in enumerate(data) for k in unknown_keys(model, item, f'{path}[{i}]')]
    if not isinstance(data, dict) or not model.model_fields:
        return []
    fields = {(f.alias or name): f for name, f in model.model_fields.items()}
    found = []
    for key, value in data.items():
        field = fields.get(key)
        if field is None:
            found.append(f'{path}.{key}')
            continue
        for sub in models_in(field.annotation):
            found += unknown_keys(sub, value, f'{path}.{key}')
    return found


def check_podmonitor(podmonitor_path, deployment_path):
    doc = yaml.safe_load(open(podmonitor_path))
    try:
        monitor = PodMonitor.model_validate(doc)
    except pydantic.ValidationError as error:
        fail(f'{podmonitor_path}: {error}')
    extra = unknown_keys(PodMonitor, doc, '')
    if extra:
        fail(f'{podmonitor_path}: fields the PodMonitor CRD does not have: {extra}')
    if doc.get('apiVersion') != 'monitoring.coreos.com/v1' or doc.get('kind') != 'PodMonitor':
        fail(f'{podmonitor_path}: apiVersion/kind must be monitoring.coreos.com/v1 PodMonitor')
    endpoints = monitor.spec.pod_metrics_endpoints or []
    if not endpoints:
        fail(f'{podmonitor_path}: no podMetricsEndpoints')

    deployment = yaml.safe_load(open(deployment_path))
    pod = deployment['spec']['template']
    labels = pod['metadata'].get('labels', {})
    wanted = doc['spec']['selector'].get('matchLabels', {})
    if not wanted or any(labels.get(k) != v for k, v in wanted.items()):
        fail(f'selector {wanted} does not match the pod labels {labels} of {deployment_path}')
    ports = {p.get('name') for c in pod['spec']['containers'] for p in c.get('ports', [])}
    for endpoint in endpoints:
        if endpoint.port not in ports:
            fail(f'podMetricsEndpoints port {endpoint.port!r} is not a container port name ({sorted(ports)})')
    print(f'    ok: {podmonitor_path} valid against the PodMonitor CRD model (strict), selects the '
          f'Deployment\'s pods, port {endpoints[0].port!r} exists')



def env_of(container):
    return {e['name']: e for e in container.get('env', [])}


def check_deployment(path, secret_path):
    pod = yaml.safe_load(open(path))['spec']['template']['spec']
    containers = {c['name']: c for c in pod['containers']}
    exporter = next(c for c in containers.values() if any('--web.admin-token-file' in a for a in c.get('args', [])))
    volumes = {v['name']: v for v in pod['volumes']}
    shared = [name for name, v in volumes.items() if 'emptyDir' in v]
    if len(shared) != 1 or volumes[shared[0]]['emptyDir'].get('medium') != 'Memory' \
            or 'sizeLimit' not in volumes[shared[0]]['emptyDir']:
        fail(f'{path}: want one emptyDir with medium: Memory and a sizeLimit, got {shared}')
    for container in containers.values():
        directory = env_of(container).get('PROMETHEUS_MULTIPROC_DIR', {}).get('value')
        mounts = {m['mountPath']: m for m in container.get('volumeMounts', []) if m['name'] == shared[0]}
        if directory not in mounts or mounts[directory].get('readOnly'):
            fail(f'{path}: container {container["name"]} must mount {shared[0]} read-write at its '
                 f'PROMETHEUS_MULTIPROC_DIR ({directory})')
        context = container.get('securityContext', {})
        if context.get('allowPrivilegeEscalation') is not False or not context.get('readOnlyRootFilesystem') \
                or context.get('capabilities', {}).get('drop') != ['ALL']:
            fail(f'{path}: container {container["name"]}: want allowPrivilegeEscalation false, '
                 f'readOnlyRootFilesystem, capabilities drop ALL')
    if not pod.get('securityContext', {}).get('runAsNonRoot'):
        fail(f'{path}: pod securityContext.runAsNonRoot must be true')

    secret = yaml.safe_load(open(secret_path))
    token_flag = next(a for a in exporter['args'] if a.startswith('--web.admin-token-file='))
    token_path = token_flag.split('=', 1)[1]
    secret_volumes = [m for m in exporter['volumeMounts']
                      if volumes[m['name']].get('secret', {}).get('secretName') == secret['metadata']['name']]
    volume = volumes[secret_volumes[0]['name']]['secret'] if secret_volumes else None
    if not volume or token_path not in {os.path.join(secret_volumes[0]['mountPath'], i['path'])
                                        for i in volume.get('items', [])}:
        fail(f'{path}: {token_flag} is not a file of the mounted Secret {secret["metadata"]["name"]}')
    port = next(p['containerPort'] for p in exporter['ports'] if p['name'] == 'metrics')
    for container in containers.values():
        env = env_of(container)
        if 'MULTIPROC_EXPORTER_TOKEN' in env:
            ref = env['MULTIPROC_EXPORTER_TOKEN']['valueFrom']['secretKeyRef']
            if ref['name'] != secret['metadata']['name'] or ref['key'] not in secret.get('stringData', {}):
                fail(f'{path}: {container["name"]} takes its token from {ref}, not from {secret_path}')
            url = env.get('MULTIPROC_EXPORTER_URL', {}).get('value', '')
            scheme = 'https' if any(a.startswith('--web.config.file=') for a in exporter['args']) else 'http'
            if url != f'{scheme}://127.0.0.1:{port}':
                fail(f'{path}: MULTIPROC_EXPORTER_URL {url!r} is not the exporter\'s port {port} on loopback')
    print(f'    ok: {path}: shared emptyDir at PROMETHEUS_MULTIPROC_DIR in both containers, token file '
          f'and env from one Secret, hook URL on the exporter port, security contexts')


def check_web_config(directory):
    """--web.config.file: the file, the certificate files beside it, probes, PodMonitor, hook."""
    load = lambda name: yaml.safe_load(open(os.path.join(directory, name)))
    pod = load('deployment.yaml')['spec']['template']['spec']
    web_secret, auth_secret, monitor = load('web-config.yaml'), load('scrape-auth.yaml'), load('podmonitor.yaml')
    exporter = next(c for c in pod['containers'] if any(a.startswith('--web.config.file=') for a in c.get('args', [])))
    config_path = next(a for a in exporter['args'] if a.startswith('--web.config.file=')).split('=', 1)[1]
    volumes = {v['name']: v for v in pod['volumes']}
    mount = next((m for m in exporter['volumeMounts'] if os.path.dirname(config_path) == m['mountPath']), None)
    if not mount or 'projected' not in volumes[mount['name']]:
        fail(f'--web.config.file={config_path}: no projected volume mounted at {os.path.dirname(config_path)}')
    files = {}  # path in the volume -> (secret name, key)
    for source in volumes[mount['name']]['projected']['sources']:
        for item in source['secret'].get('items', []):
            files[item['path']] = (source['secret']['name'], item['key'])
    name = os.path.basename(config_path)
    if files.get(name) != (web_secret['metadata']['name'], name) or name not in web_secret.get('stringData', {}):
        fail(f'{config_path} is not the key {name} of the Secret {web_secret["metadata"]["name"]}')
    config = yaml.safe_load(web_secret['stringData'][name])
    tls = config.get('tls_server_config') or {}
    for key in ('cert_file', 'key_file'):
        if tls.get(key) not in files:
            fail(f'web config {key} {tls.get(key)!r} is not a file of the projected volume ({sorted(files)})')
    tls_secret = files[tls['cert_file']][0]
    for probe in ('livenessProbe', 'readinessProbe'):
        if exporter.get(probe, {}).get('httpGet', {}).get('scheme') != 'HTTPS':
            fail(f'{probe} of {exporter["name"]} must use scheme HTTPS: the exporter serves TLS')

    endpoint = monitor['spec']['podMetricsEndpoints'][0]
    if endpoint.get('scheme') != 'https':
        fail('podmonitor.yaml: scheme must be https')
    if endpoint.get('tlsConfig', {}).get('ca', {}).get('secret', {}).get('name') != tls_secret:
        fail(f'podmonitor.yaml: tlsConfig.ca must come from the Secret {tls_secret} of the certificate')
    auth = endpoint.get('basicAuth', {})
    refs = [auth.get('username', {}), auth.get('password', {})]
    if any(r.get('name') != auth_secret['metadata']['name'] or r.get('key') not in auth_secret['stringData'] for r in refs):
        fail(f'podmonitor.yaml: basicAuth must name keys of the Secret {auth_secret["metadata"]["name"]}')
    user = auth_secret['stringData'][refs[0]['key']]
    password = auth_secret['stringData'][refs[1]['key']]
    hashed = (config.get('basic_auth_users') or {}).get(user)
    if not hashed:
        fail(f'web config has no basic_auth_users entry for {user!r}, the PodMonitor\'s user')
    with tempfile.NamedTemporaryFile('w', suffix='.htpasswd') as htpasswd:
        htpasswd.write(f'{user}:{hashed}\n')
        htpasswd.flush()
        verify = subprocess.run(['htpasswd', '-vb', htpasswd.name, user, password], capture_output=True, text=True)
    if verify.returncode != 0:
        fail(f'the scrape password of {auth_secret["metadata"]["name"]} does not match the bcrypt hash of {user!r} '
             f'in the web config ({verify.stderr.strip()})')

    for container in pod['containers']:
        ca_file = next((e.get('value') for e in container.get('env', []) if e['name'] == 'MULTIPROC_EXPORTER_CA_FILE'), None)
        if ca_file is None:
            continue
        ca_mount = next((m for m in container['volumeMounts'] if os.path.dirname(ca_file) == m['mountPath']), None)
        volume = volumes.get(ca_mount['name'], {}).get('secret', {}) if ca_mount else {}
        items = {i['path']: i['key'] for i in volume.get('items', [])}
        if volume.get('secretName') != tls_secret or items.get(os.path.basename(ca_file)) != 'ca.crt':
            fail(f'{container["name"]}: MULTIPROC_EXPORTER_CA_FILE {ca_file} is not ca.crt of the Secret {tls_secret}')
    print(f'    ok: --web.config.file is {name} of {web_secret["metadata"]["name"]} with {tls["cert_file"]}/{tls["key_file"]} '
          f'of {tls_secret} beside it; HTTPS probes; PodMonitor https + basicAuth whose password matches the bcrypt '
          f'hash (htpasswd); the hook trusts {tls_secret}/ca.crt')


def check_kustomization(directory):
    listed = yaml.safe_load(open(os.path.join(directory, 'kustomization.yaml')))['resources']
    present = sorted(f for f in os.listdir(directory) if f.endswith('.yaml') and f != 'kustomization.yaml')
    if sorted(listed) != present:
        fail(f'kustomization.yaml lists {sorted(listed)}, the directory has {present}')
    print(f'    ok: kustomization.yaml lists exactly {", ".join(present)}')


def render_overlay(base_directory, overlay):
    """The overlay's Deployment as `kubectl kustomize` renders it (what `kubectl apply -k` applies),
    checked against the base's."""
    rendered = subprocess.run(['kubectl', 'kustomize', overlay], capture_output=True, text=True)
    if rendered.returncode != 0:
        fail(f'kubectl kustomize {overlay}: {rendered.stderr.strip()}')
    rendered = next(d for d in yaml.safe_load_all(rendered.stdout) if d and d['kind'] == 'Deployment')
    base = yaml.safe_load(open(os.path.join(base_directory, 'deployment.yaml')))
    pod = rendered['spec']['template']['spec']
    base_args = next(c for c in base['spec']['template']['spec']['containers'] if c['name'] == 'multiproc-exporter')['args']
    args = next(c for c in pod['containers'] if c['name'] == 'multiproc-exporter')['args']
    if pod.get('shareProcessNamespace') is not True or args[:len(base_args)] != base_args or '--auto-mark-dead' not in args:
        fail(f'{overlay}: want shareProcessNamespace: true and the exporter\'s flags plus --auto-mark-dead, got {args}')
    return rendered


if __name__ == '__main__':
    if sys.argv[1] == '--render-overlay':
        overlay = sys.argv[2]
        rendered = render_overlay(os.path.join(os.path.dirname(os.path.normpath(overlay)), 'base'), overlay)
        with open(sys.argv[3], 'w') as out:
            yaml.safe_dump(rendered, out)
        print(f'    ok: {overlay}: shareProcessNamespace: true, --auto-mark-dead added to the exporter\'s flags')
        sys.exit(0)
    d = sys.argv[1]
    check_podmonitor(os.path.join(d, 'podmonitor.yaml'), os.path.join(d, 'deployment.yaml'))
    check_deployment(os.path.join(d, 'deployment.yaml'), os.path.join(d, 'secret.yaml'))
    check_web_config(d)
    check_kustomization(d)
