"""What the test, benchmark and golden scripts share.

Imports only the standard library at load time: `scripts/clients/writer.py` runs it under old
prometheus_client releases in their own virtualenvs, so the client is imported inside the
functions that need it, and only what every release since 0.4 has.

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
    import testkit
"""
import socket
import struct


def free_port(host='127.0.0.1'):
    """A TCP port free on `host` now (for servers that cannot be told port 0, e.g. Prometheus)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def python_exposition(directory, accept=None):
    """(content type, body bytes) exactly as prometheus_client's MultiProcessCollector over
    `directory` serves it for `accept` (None: the release's default, `generate_latest`)."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector
    try:
        registry = CollectorRegistry(support_collectors_without_names=True)
    except TypeError:  # releases before 0.20
        registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)
    if accept is None:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
        return CONTENT_TYPE_LATEST, generate_latest(registry)
    from prometheus_client.exposition import choose_encoder
    encoder, content_type = choose_encoder(accept)
    return content_type, encoder(registry)


OWN_PREFIXES = ('multiproc_exporter_', 'process_')


def samples(text, own=None):
    """{(sample name, sorted label pairs): value} of a text exposition. `own` True keeps only
    the exporter's own families (multiproc_exporter_*, process_*), False only the others, None
    everything."""
    from prometheus_client.parser import text_string_to_metric_families
    out = {}
    for family in text_string_to_metric_families(text):
        if own is not None and family.name.startswith(OWN_PREFIXES) != own:
            continue
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def python_samples(directory):
    """`samples` of what prometheus_client serves for `directory`."""
    return samples(python_exposition(directory)[1].decode())


def read_entries(data, value_bytes=16):
    """[(key bytes, value bytes, offset of the value)] of the well-formed multiprocess file
    content `data` (bytes), whose entries carry `value_bytes` of value (16 since 0.18: value
    and timestamp; 8 before). Raises on anything malformed: for files the scripts wrote."""
    used = struct.unpack_from('<i', data, 0)[0]
    entries, pos = [], 8
    while pos < used:
        n = struct.unpack_from('<i', data, pos)[0]
        if n <= 0 or pos + 4 + n > used:
            raise ValueError(f'entry at {pos}: key length {n} does not fit in used {used}')
        key = data[pos + 4:pos + 4 + n]
        value_pos = pos + 4 + n + (8 - (n + 4) % 8)
        entries.append((key, data[value_pos:value_pos + value_bytes], value_pos))
        pos = value_pos + value_bytes
    return entries
