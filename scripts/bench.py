"""Benchmark spec loading, rule generation and YAML serialisation on synthetic specs.

`make bench` runs this script. It writes synthetic specs of 100, 1,000 and 10,000 services
into a temporary folder and measures each size in its own child process, so that peak
memory (ru_maxrss) belongs to one size alone. For the largest spec it also compares YAML
loaders and, on the largest generated file, YAML and JSON dumpers, including yaml-rs and
msgspec when pip can install them into a throwaway virtual environment. Results go to
stdout as Markdown tables and progress to stderr. Nothing is written into the repository:
specs, environments and intermediate files live in the temporary folder, which is removed
at exit.

    python scripts/bench.py [--sizes 100 1000] [--skip-third-party] [--timeout 600]

docs/benchmarks.md records the figures of one run.
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import json
import logging
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
import venv
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SIZES = (100, 1_000, 10_000)
CHILD_TIMEOUT_SECONDS = 600
PIP_TIMEOUT_SECONDS = 300
THIRD_PARTY = ("yaml-rs", "msgspec")
LOADER_REPEATS = 3
SAMPLE_ITEMS = 3
"""Items kept from every list when a dumper's output is loaded back to check it."""

# The call graph has six layers. A few entry services (the front doors) call the edge layer
# (gateways, backends for frontends), which calls the domain services, and so on down to the
# data stores, which call nothing because the loader rejects dependency cycles.
LAYERS = ("edge", "domain", "core", "platform", "store")
LAYER_SHARES = (0.08, 0.27, 0.30, 0.20, 0.15)
ENTRY_FAN_OUT = (8, 15)
SERVICE_FAN_OUT = (2, 5)
NEIGHBOURHOOD = 10
"""Callees are drawn within this many places of the caller's position in the next layer,
so that neighbouring services share dependencies as the services of one domain do."""
SKIP_LAYER_SHARE = 0.2
BACK_EDGE_SHARE = 0.01
CUSTOM_PROFILE_SHARE = 0.25
WITHOUT_RETRIES_SHARE = 0.3
OVERRIDE_SHARE = 0.05
RUNTIMES = ("go", "jvm-micrometer", "jvm-prometheus", "dotnet", "nodejs", "python")
SERVICES_PER_TEAM = 50
SERVICES_PER_SYNC_GROUP = 1_000
SYNC_GROUP_SIZE = 6
MIN_SIZE = 20
"""The smallest spec whose six layers all have a service."""

log = logging.getLogger("bench")


# Synthetic specs


def synthetic_spec(size: int) -> dict[str, Any]:
    """Return a valid spec of `size` services with a layered call graph, seeded by size."""
    rng = random.Random(size)
    layers = _layer_names(size)
    depends_on, excludes = _call_graph(layers, rng)
    teams = [f"team-{i}" for i in range(max(4, size // SERVICES_PER_TEAM))]
    services = []
    position = 0
    for depth, layer in enumerate(layers):
        for name in layer:
            service: dict[str, Any] = {"name": name}
            service["team"] = teams[position * len(teams) // size]
            if depth == len(layers) - 1:
                service.update(_store_settings(name, rng))
            else:
                service.update(_application_settings(name, depth, position, rng))
            service["depends_on"] = depends_on[name]
            if name in excludes:
                service["path_amplification_excludes"] = excludes[name]
            if rng.random() < OVERRIDE_SHARE:
                service["thresholds"] = {
                    "latency_ratio": {"warning": 8, "critical": 15}
                }
            if rng.random() < OVERRIDE_SHARE:
                service["alerts"] = {"retry_storm": {"for": "1m"}}
            services.append(service)
            position += 1
    domain = layers[2]
    groups = {
        f"group-{i}": domain[i * SYNC_GROUP_SIZE : (i + 1) * SYNC_GROUP_SIZE]
        for i in range(max(1, size // SERVICES_PER_SYNC_GROUP))
    }
    return {
        "apiVersion": "emergence-ops/v1",
        "name": f"synthetic-{size}",
        "teams": teams,
        "defaults": {"profile": "istio", "team": teams[0]},
        "synchronisation": {"groups": groups},
        "services": services,
    }


def _layer_names(size: int) -> list[list[str]]:
    entries = max(3, round(size**0.5 / 8))
    rest = size - entries
    counts = [round(rest * share) for share in LAYER_SHARES]
    counts[-1] = rest - sum(counts[:-1])
    layers = [[f"entry-{i}" for i in range(entries)]]
    for layer, count in zip(LAYERS, counts, strict=True):
        layers.append([f"{layer}-{i}" for i in range(count)])
    return layers


def _call_graph(
    layers: list[list[str]], rng: random.Random
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Return depends_on per service, and the back edges left out of path amplification."""
    depends_on: dict[str, list[str]] = {name: [] for layer in layers for name in layer}
    for depth in range(len(layers) - 1):
        callers, callees = layers[depth], layers[depth + 1]
        # Every callee gets at least one caller, so only the entry layer has no caller.
        for index, callee in enumerate(callees):
            depends_on[callers[index * len(callers) // len(callees)]].append(callee)
        low, high = ENTRY_FAN_OUT if depth == 0 else SERVICE_FAN_OUT
        for index, caller in enumerate(callers):
            fan_out = min(rng.randint(low, high), len(callees))
            centre = index * len(callees) // len(callers)
            while len(depends_on[caller]) < fan_out:
                offset = rng.randint(-NEIGHBOURHOOD, NEIGHBOURHOOD)
                callee = callees[(centre + offset) % len(callees)]
                if callee not in depends_on[caller]:
                    depends_on[caller].append(callee)
            if depth + 2 < len(layers) and rng.random() < SKIP_LAYER_SHARE:
                far = layers[depth + 2]
                offset = rng.randint(-NEIGHBOURHOOD, NEIGHBOURHOOD)
                callee = far[(index * len(far) // len(callers) + offset) % len(far)]
                if callee not in depends_on[caller]:
                    depends_on[caller].append(callee)
    # A few core services call back into the domain layer (webhooks, callbacks). Those edges
    # close cycles, so they are excluded from path amplification as a spec author must.
    excludes: dict[str, list[str]] = {}
    domain, core = layers[2], layers[3]
    for index, caller in enumerate(core):
        if rng.random() < BACK_EDGE_SHARE:
            callee = domain[index * len(domain) // len(core)]
            depends_on[caller].append(callee)
            excludes[caller] = [callee]
    return depends_on, excludes


def _store_settings(name: str, rng: random.Random) -> dict[str, Any]:
    # A data store exports no request metrics, so only its CPU share is watched, as for
    # redis-cart in specs/online-boutique.yaml.
    pods = f'container_cpu_usage_seconds_total{{container="db", pod=~"{name}-[0-9]+"}}'
    return {
        "profile": "custom",
        "capacity": {"cpu_limit_cores": rng.choice((0.5, 1, 2, 4))},
        "signals": {"cpu_usage": pods},
        "disable": [
            "latency_ratio",
            "retry_storm",
            "retry_amplification",
            "synchronisation",
        ],
    }


def _application_settings(
    name: str, depth: int, position: int, rng: random.Random
) -> dict[str, Any]:
    settings: dict[str, Any] = {"runtime": RUNTIMES[position % len(RUNTIMES)]}
    capacity: dict[str, Any] = {"cpu_limit_cores": rng.choice((0.25, 0.5, 1, 2))}
    if rng.random() < 0.4:
        capacity["requests_per_second"] = rng.choice((50, 200, 1000, 5000))
    settings["capacity"] = capacity
    if depth == 0 or rng.random() >= CUSTOM_PROFILE_SHARE:
        return settings
    # A service without the Istio sidecar, instrumented with its own client library.
    settings["profile"] = "custom"
    signals = {
        "requests": f'http_server_requests_seconds_count{{job="{name}"}}',
        "latency": f'http_server_requests_seconds_bucket{{job="{name}"}}',
        "cpu_usage": f'process_cpu_seconds_total{{job="{name}"}}',
    }
    if rng.random() < WITHOUT_RETRIES_SHARE:
        settings["disable"] = ["retry_storm", "retry_amplification"]
    else:
        signals["retries"] = f'http_client_retries_total{{destination="{name}"}}'
    settings["signals"] = signals
    return settings


def describe_spec(spec: dict[str, Any]) -> dict[str, int]:
    """Count what shapes the output: services, edges, entries, profiles, back edges."""
    services = spec["services"]
    called = {dep for service in services for dep in service["depends_on"]}
    return {
        "services": len(services),
        "edges": sum(len(service["depends_on"]) for service in services),
        "entries": sum(service["name"] not in called for service in services),
        "custom": sum(service.get("profile") == "custom" for service in services),
        "stores": sum(not service["depends_on"] for service in services),
        "back_edges": sum("path_amplification_excludes" in s for s in services),
    }


def write_spec(spec: dict[str, Any], folder: Path) -> Path:
    """Write the spec in block style with short lists inline, as people write specs."""
    import yaml

    path = folder / f"{spec['name']}.yaml"
    text = yaml.dump(
        spec,
        Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper),
        sort_keys=False,
        default_flow_style=None,
        width=100,
    )
    path.write_text(text, encoding="utf-8")
    return path


# Measurements, each run in a child process


def peak_rss_kib() -> int:
    """Return this process's peak resident set size, ru_maxrss, in KiB as Linux gives it."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def best_of(repeats: int, function: Callable[[], Any]) -> tuple[float, Any]:
    """Return the shortest of `repeats` wall-clock times of function(), and its result."""
    times, result = [], None
    for _ in range(repeats):
        # Free the previous result first: a second copy of a large tree on the heap makes
        # every full garbage collection during the next call slower.
        result = None
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return min(times), result


def digest(data: Any) -> str:
    """Return data as canonical JSON, to compare loaders without keeping two trees."""
    return json.dumps(data, sort_keys=True, ensure_ascii=False)


def sample(data: Any) -> Any:
    """Return data with every list cut to its first SAMPLE_ITEMS items."""
    if isinstance(data, dict):
        return {key: sample(value) for key, value in data.items()}
    if isinstance(data, list):
        return [sample(item) for item in data[:SAMPLE_ITEMS]]
    return data


class _CountingHandler(logging.Handler):
    """A logging handler that counts warnings instead of printing them on stderr."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def measure_generation(spec: Path, documents: Path | None) -> dict[str, Any]:
    """Load, build and render one spec as `emergence generate` does, without writing files.

    With `documents`, also compare dumpers on the largest file and save its data there.
    """
    from generator import targets
    from generator.bundle import build_bundles
    from generator.spec import load_specs

    warnings = _CountingHandler()
    logging.getLogger().addHandler(warnings)
    result: dict[str, Any] = {"rss_after_imports_kib": peak_rss_kib()}
    # Seconds per dump_yaml call, keyed by the identity of the text it returned, which
    # render_bundle stores unchanged. Every text stays alive in `files`, so no id is reused.
    dump_seconds: dict[int, float] = {}
    originals = _wrap_dumps(
        targets, lambda text, seconds: dump_seconds.__setitem__(id(text), seconds)
    )

    seconds, loaded = best_of(1, lambda: load_specs([spec]))
    result["load_seconds"] = seconds
    seconds, bundles = best_of(1, lambda: build_bundles(loaded))
    result["build_seconds"] = seconds
    files: dict[Any, str] = {}
    started = time.perf_counter()
    for bundle in bundles:
        files.update(targets.render_bundle(bundle))
    result["render_seconds"] = time.perf_counter() - started
    result["peak_rss_kib"] = peak_rss_kib()

    result["dump_seconds"] = sum(dump_seconds.values())
    result["files"] = len(files)
    result["output_bytes"] = sum(len(text.encode("utf-8")) for text in files.values())
    result.update(_count_rules(bundles))
    result["warnings"] = warnings.count
    if documents is not None:
        path = max(files, key=lambda name: len(files[name]))
        bundle = next(b for b in bundles if b.name == path.parts[0])
        data, header = _document_of(targets, originals, bundle, path)
        text = files[path]
        baseline = dump_seconds[id(text)]
        result["largest_file"] = _compare_dumpers(
            data, header, text, baseline, documents
        )
        result["largest_file"]["name"] = str(path)
    return result


def _wrap_dumps(targets: Any, record: Callable[[str, float], None]) -> dict[Any, Any]:
    """Time every dump_yaml call of the target modules, and return the original functions.

    The wrapper keeps no reference to the data, so that peak memory is the generator's own.
    """
    originals = {}
    for module in targets.TARGETS:
        original = getattr(module, "dump_yaml", None)
        if original is None:
            continue
        originals[module] = original

        def timed(data: Any, header: str = "", _dump: Any = original) -> str:
            started = time.perf_counter()
            text = _dump(data, header)
            record(text, time.perf_counter() - started)
            return text

        module.dump_yaml = timed
    return originals


def _document_of(
    targets: Any, originals: dict[Any, Any], bundle: Any, path: Any
) -> tuple[Any, str]:
    """Return the data and header that one file of a bundle was dumped from.

    Renders the bundle's targets again with a dump_yaml that stores its arguments and
    dumps nothing. Each dump_yaml call of a target's render writes one file, in call order.
    """
    from pathlib import PurePosixPath

    for module in originals:
        captured: list[tuple[Any, str]] = []

        def capture(data: Any, header: str = "", _calls: list = captured) -> str:
            _calls.append((data, header))
            return ""

        module.dump_yaml = capture
        names = [PurePosixPath(bundle.name) / name for name in module.render(bundle)]
        if path in names:
            return captured[names.index(path)]
    raise LookupError(f"no target renders {path}")


def _count_rules(bundles: list[Any]) -> dict[str, int]:
    rules = [
        rule
        for bundle in bundles
        for groups in bundle.rule_files.values()
        for group in groups
        for rule in group.rules
    ]
    return {
        "groups": sum(len(g) for b in bundles for g in b.rule_files.values()),
        "recording_rules": sum(rule.record is not None for rule in rules),
        "alerting_rules": sum(rule.alert is not None for rule in rules),
        "pairs": sum(len(bundle.plan.pairs) for bundle in bundles),
        "test_cases": sum(len(c) for b in bundles for c in b.tests.values()),
    }


def _compare_dumpers(
    data: Any, header: str, text: str, seconds: float, documents: Path
) -> dict[str, Any]:
    """Time the alternatives to dump_yaml on one file's data, and save it for the others.

    The CSafeDumper time is the one dump_yaml took for this file during generation.
    """
    import yaml

    from generator.output import _represent_str, dump_yaml

    class PureDumper(yaml.SafeDumper):
        pass

    # The same representer and options as generator.output.dump_yaml, on the pure-Python
    # dumper. The identical-bytes column checks that they still match.
    PureDumper.add_representer(str, _represent_str)

    def pure(value: Any) -> str:
        return yaml.dump(
            value,
            Dumper=PureDumper,
            sort_keys=False,
            default_flow_style=False,
            allow_unicode=True,
            width=1_000_000,
        )

    expected = text.removeprefix(header)
    rows = [
        {
            "dumper": "PyYAML CSafeDumper (generator.output.dump_yaml)",
            "seconds": seconds,
            "bytes": len(expected.encode("utf-8")),
            "identical": True,
            "round_trip": _round_trips(data, dump_yaml),
        },
        _time_dumper("PyYAML SafeDumper (pure Python)", pure, data, expected),
        _time_dumper(
            "json.dumps(indent=2)",
            lambda value: json.dumps(value, indent=2, ensure_ascii=False),
            data,
            expected,
        ),
        _time_dumper(
            "json.dumps (compact)",
            lambda value: json.dumps(value, ensure_ascii=False),
            data,
            expected,
        ),
    ]
    with (documents / "document.json").open("w", encoding="utf-8") as stream:
        json.dump(data, stream, ensure_ascii=False)
    (documents / "expected.yaml").write_text(expected, encoding="utf-8")
    return {"bytes": len(text.encode("utf-8")), "dumpers": rows}


def _time_dumper(
    name: str, dump: Callable[[Any], str | bytes], data: Any, expected: str
) -> dict[str, Any]:
    gc.collect()
    seconds, text = best_of(1, lambda: dump(data))
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    return {
        "dumper": name,
        "seconds": seconds,
        "bytes": len(text.encode("utf-8")),
        "identical": text == expected,
        "round_trip": _round_trips(data, dump),
    }


def _round_trips(data: Any, dump: Callable[[Any], str | bytes]) -> bool:
    """Return whether a sample of data, dumped and loaded back with PyYAML, is unchanged."""
    import yaml

    part = sample(data)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(dump(part), Loader=loader) == part


def measure_loading(spec: Path) -> dict[str, Any]:
    """Time the YAML loaders and the later loading steps on one spec file."""
    import yaml

    from generator.spec.checks import check_spec
    from generator.spec.models import Spec
    from generator.spec.yaml_nodes import parse_document

    text = spec.read_text(encoding="utf-8")
    expected = digest(yaml.load(text, Loader=yaml.CSafeLoader))
    rows = [
        _time_loader(
            "yaml.compose, CSafeLoader (generator.spec.yaml_nodes)",
            lambda value: yaml.compose(value, Loader=yaml.CSafeLoader),
            text,
            None,
        ),
        _time_loader(
            "yaml.compose, SafeLoader (pure Python)",
            lambda value: yaml.compose(value, Loader=yaml.SafeLoader),
            text,
            None,
        ),
        _time_loader(
            "parse_document: CSafeLoader compose + positions",
            lambda value: parse_document(value)[0].data,
            text,
            expected,
        ),
        _time_loader(
            "yaml.load, CSafeLoader (data only, no positions)",
            lambda value: yaml.load(value, Loader=yaml.CSafeLoader),
            text,
            expected,
        ),
        _time_loader(
            "yaml.load, SafeLoader (data only, no positions)",
            lambda value: yaml.load(value, Loader=yaml.SafeLoader),
            text,
            expected,
        ),
    ]
    data = yaml.load(text, Loader=yaml.CSafeLoader)
    gc.collect()
    seconds, model = best_of(LOADER_REPEATS, lambda: Spec.model_validate(data))
    rows.append({"loader": "Spec.model_validate (pydantic)", "seconds": seconds})
    seconds, _ = best_of(LOADER_REPEATS, lambda: check_spec(model))
    rows.append({"loader": "check_spec (references, cycles)", "seconds": seconds})
    return {"spec_bytes": len(text.encode("utf-8")), "loaders": rows}


def measure_third_party(spec: Path, documents: Path) -> dict[str, Any]:
    """Time yaml-rs and msgspec, where installed, inside the throwaway environment."""
    import yaml

    try:
        import yaml_rs
    except ImportError:
        yaml_rs = None
    try:
        import msgspec
        import msgspec.yaml
    except ImportError:
        msgspec = None

    text = spec.read_text(encoding="utf-8")
    expected = digest(yaml.load(text, Loader=yaml.CSafeLoader))
    versions, loaders, dumpers = {}, [], []
    if yaml_rs is not None:
        versions["yaml-rs"] = importlib.metadata.version("yaml-rs")
        loaders.append(_time_loader("yaml_rs.loads", yaml_rs.loads, text, expected))
    if msgspec is not None:
        versions["msgspec"] = importlib.metadata.version("msgspec")
        loaders.append(
            _time_loader(
                "msgspec.yaml.decode (PyYAML CSafeLoader inside)",
                msgspec.yaml.decode,
                text,
                expected,
            )
        )

    # The dumpers run after the loaders, so no large document is on the heap while the
    # loaders run.
    with (documents / "document.json").open(encoding="utf-8") as stream:
        data = json.load(stream)
    expected_yaml = (documents / "expected.yaml").read_text(encoding="utf-8")
    if yaml_rs is not None:
        dumpers.append(
            _time_dumper("yaml_rs.dumps", yaml_rs.dumps, data, expected_yaml)
        )
    if msgspec is not None:
        dumpers.append(
            _time_dumper(
                "msgspec.yaml.encode (PyYAML CSafeDumper inside)",
                msgspec.yaml.encode,
                data,
                expected_yaml,
            )
        )
        dumpers.append(
            _time_dumper(
                "msgspec.json.encode", msgspec.json.encode, data, expected_yaml
            )
        )
    return {"versions": versions, "loaders": loaders, "dumpers": dumpers}


def _time_loader(
    name: str, load: Callable[[str], Any], text: str, expected: str | None
) -> dict[str, Any]:
    """Time load(text), and compare its data with the expected digest when one is given."""
    gc.collect()
    seconds, data = best_of(LOADER_REPEATS, lambda: load(text))
    same = None if expected is None else digest(data) == expected
    return {"loader": name, "seconds": seconds, "same_data": same}


# The parent process


def run_child(
    python: Path | str, arguments: list[str], timeout: int
) -> dict[str, Any] | str:
    """Run this script in child mode and return its JSON result, or why it failed."""
    command = [str(python), str(Path(__file__).resolve()), *arguments]
    environment = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    try:
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=environment,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"timed out after {timeout} s"
    if result.returncode != 0:
        return f"failed with exit code {result.returncode}: {result.stderr.strip()[-2000:]}"
    return json.loads(result.stdout)


def make_third_party_venv(folder: Path) -> tuple[Path, dict[str, str]]:
    """Create a throwaway environment and pip install each third-party package into it.

    Returns its python and, for each package that did not install, pip's last error line.
    """
    import yaml

    venv.EnvBuilder(with_pip=True).create(folder)
    python = folder / "bin" / "python"
    failures = {}
    # PyYAML is installed at the project's version, because msgspec.yaml needs it and the
    # checks use it.
    for package in (f"pyyaml=={yaml.__version__}", *THIRD_PARTY):
        command = [str(python), "-m", "pip", "install", "--quiet", package]
        try:
            result = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=PIP_TIMEOUT_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired:
            failures[package] = f"pip timed out after {PIP_TIMEOUT_SECONDS} s"
            continue
        if result.returncode != 0:
            lines = [line for line in result.stderr.splitlines() if "ERROR" in line]
            failures[package] = (lines or ["pip failed"])[-1]
    return python, failures


def machine() -> dict[str, str]:
    """Describe where the figures come from: CPU, cores, Python, PyYAML and the commit."""
    import yaml

    model, memory = "", ""
    cpuinfo, meminfo = Path("/proc/cpuinfo"), Path("/proc/meminfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    if meminfo.exists():
        total_kib = int(meminfo.read_text().split()[1])
        memory = f"{total_kib / 1024**2:.1f} GiB"
    commit = subprocess.run(
        ["git", "-C", str(REPO), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "cpu": model or platform.processor() or "unknown",
        "nproc": str(len(os.sched_getaffinity(0))),
        "memory": memory or "unknown",
        "python": platform.python_version(),
        "pyyaml": f"{yaml.__version__}, libyaml {'yes' if yaml.__with_libyaml__ else 'no'}",
        "platform": platform.platform(),
        "commit": commit or "unknown",
    }


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    """Format rows as a Markdown table with right-aligned columns after the first."""
    widths = [
        max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))
    ]
    align = ["-" * widths[0]] + ["-" * (w - 1) + ":" for w in widths[1:]]

    def line(cells: list[str]) -> str:
        parts = [str(cells[0]).ljust(widths[0])]
        parts += [
            str(cell).rjust(width)
            for cell, width in zip(cells[1:], widths[1:], strict=True)
        ]
        return "| " + " | ".join(parts) + " |"

    return "\n".join([line(headers), line(align), *map(line, rows)])


def _mib(kib: int) -> str:
    return f"{kib / 1024:,.0f}"


def _yes_no(value: bool | None) -> str:
    return {True: "yes", False: "NO", None: "n/a"}[value]


def generation_table(results: dict[int, dict[str, Any] | str]) -> str:
    headers = [
        "services",
        "load s",
        "build s",
        "render s",
        "generation s",
        "YAML dump s",
        "YAML share",
        "output MB",
        "files",
        "rules (record + alert)",
        "pairs",
        "peak RSS MiB",
    ]
    rows = []
    for size, result in results.items():
        if isinstance(result, str):
            rows.append([f"{size:,}", result] + [""] * (len(headers) - 2))
            continue
        generation = result["build_seconds"] + result["render_seconds"]
        rules = result["recording_rules"] + result["alerting_rules"]
        rows.append(
            [
                f"{size:,}",
                f"{result['load_seconds']:.2f}",
                f"{result['build_seconds']:.2f}",
                f"{result['render_seconds']:.2f}",
                f"{generation:.2f}",
                f"{result['dump_seconds']:.2f}",
                f"{result['dump_seconds'] / generation:.0%}",
                f"{result['output_bytes'] / 1e6:,.1f}",
                str(result["files"]),
                f"{rules:,} ({result['recording_rules']:,} + {result['alerting_rules']:,})",
                f"{result['pairs']:,}",
                _mib(result["peak_rss_kib"]),
            ]
        )
    return markdown_table(headers, rows)


def _size(text: str) -> int:
    size = int(text)
    if size < MIN_SIZE:
        raise argparse.ArgumentTypeError(
            f"invalid size {size}: use at least {MIN_SIZE} services"
        )
    return size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        type=_size,
        nargs="+",
        default=list(SIZES),
        help="numbers of services of the synthetic specs; default %(default)s",
    )
    parser.add_argument(
        "--timeout",
        type=int,
        default=CHILD_TIMEOUT_SECONDS,
        help="seconds each measuring child process may run; default %(default)s",
    )
    parser.add_argument(
        "--skip-third-party",
        action="store_true",
        help="do not create a virtual environment for yaml-rs and msgspec",
    )

    # Options of the child processes, which this script starts itself.
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--spec", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--documents", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-sizes", type=int, nargs="+", help=argparse.SUPPRESS)
    arguments = parser.parse_args()

    if arguments.child:
        return _child(arguments)
    logging.basicConfig(level=logging.INFO, format="bench: %(message)s")
    with tempfile.TemporaryDirectory(prefix="emergence-bench-") as temporary:
        report(Path(temporary), arguments)
    return 0


def _child(arguments: argparse.Namespace) -> int:
    if arguments.child == "write-specs":
        result = {}
        for size in arguments.child_sizes:
            spec = synthetic_spec(size)
            path = write_spec(spec, arguments.folder)
            result[size] = {"path": str(path), "shape": describe_spec(spec)}
    elif arguments.child == "generate":
        result = measure_generation(arguments.spec, arguments.documents)
    elif arguments.child == "load":
        result = measure_loading(arguments.spec)
    elif arguments.child == "third-party":
        result = measure_third_party(arguments.spec, arguments.documents)
    else:
        raise SystemExit(
            f"invalid child mode {arguments.child!r}: "
            "use write-specs, generate, load or third-party"
        )
    json.dump(result, sys.stdout)
    return 0


def report(folder: Path, arguments: argparse.Namespace) -> None:
    """Run every measurement in child processes and print the tables."""
    started = time.perf_counter()
    # Taken first, so the commit is the one the children import.
    machine_facts = machine()
    sizes = sorted(arguments.sizes)
    largest = sizes[-1]
    documents = folder / "documents"
    documents.mkdir()

    # A child writes the specs. On Linux a child's ru_maxrss starts at the peak of the
    # process it was spawned from, so the parent stays small by never holding a spec.
    written = run_child(
        sys.executable,
        ["--child", "write-specs", "--folder", str(folder), "--child-sizes"]
        + [str(size) for size in sizes],
        arguments.timeout,
    )
    if isinstance(written, str):
        raise SystemExit(f"bench: the child writing the synthetic specs {written}")
    specs = {size: Path(written[str(size)]["path"]) for size in sizes}
    shapes = {size: written[str(size)]["shape"] for size in sizes}
    generation: dict[int, dict[str, Any] | str] = {}
    for size in sizes:
        log.info("generating %s services", f"{size:,}")
        child = ["--child", "generate", "--spec", str(specs[size])]
        if size == largest:
            child += ["--documents", str(documents)]
        generation[size] = run_child(sys.executable, child, arguments.timeout)
    log.info("loading the %s-service spec with each YAML loader", f"{largest:,}")
    loading = run_child(
        sys.executable,
        ["--child", "load", "--spec", str(specs[largest])],
        arguments.timeout,
    )

    third_party: dict[str, Any] | str = "skipped (--skip-third-party)"
    failures: dict[str, str] = {}
    have_documents = (documents / "document.json").exists()
    if not arguments.skip_third_party and have_documents:
        log.info("installing %s into a throwaway environment", ", ".join(THIRD_PARTY))
        python, failures = make_third_party_venv(folder / "venv")
        third_party = run_child(
            python,
            [
                "--child",
                "third-party",
                "--spec",
                str(specs[largest]),
                "--documents",
                str(documents),
            ],
            arguments.timeout,
        )

    print_report(
        machine_facts,
        sizes,
        shapes,
        specs,
        generation,
        loading,
        third_party,
        failures,
        started,
    )


def print_report(
    machine_facts: dict[str, str],
    sizes: list[int],
    shapes: dict[int, dict[str, int]],
    specs: dict[int, Path],
    generation: dict[int, dict[str, Any] | str],
    loading: dict[str, Any] | str,
    third_party: dict[str, Any] | str,
    failures: dict[str, str],
    started: float,
) -> None:
    largest = sizes[-1]
    print("## Machine\n")
    for key, value in machine_facts.items():
        print(f"- {key}: {value}")

    print("\n## Synthetic specs\n")
    rows = [
        [
            f"{size:,}",
            f"{specs[size].stat().st_size / 1e3:,.0f}",
            str(shapes[size]["entries"]),
            f"{shapes[size]['edges']:,}",
            f"{shapes[size]['custom']:,}",
            f"{shapes[size]['stores']:,}",
            str(shapes[size]["back_edges"]),
        ]
        for size in sizes
    ]
    headers = [
        "services",
        "spec kB",
        "entries",
        "edges",
        "custom profile",
        "stores (no depends_on)",
        "back edges",
    ]
    print(markdown_table(headers, rows))

    print("\n## Generation, one child process per size\n")
    print(generation_table(generation))
    baselines = [
        f"{size:,} services {_mib(result['rss_after_imports_kib'])} MiB"
        for size, result in generation.items()
        if isinstance(result, dict)
    ]
    print(f"\nPeak RSS after imports, before loading: {', '.join(baselines)}.")
    warnings = {
        size: result["warnings"]
        for size, result in generation.items()
        if isinstance(result, dict) and result["warnings"]
    }
    if warnings:
        print(f"\nWarnings logged while generating: {warnings}")

    print(f"\n## YAML loaders, {largest:,}-service spec, best of {LOADER_REPEATS}\n")
    if isinstance(loading, str):
        print(f"Not measured: the loading child {loading}.")
    else:
        rows = [
            [row["loader"], f"{row['seconds']:.3f}", _yes_no(row.get("same_data"))]
            for row in loading["loaders"]
        ]
        if isinstance(third_party, dict):
            rows += [
                [row["loader"], f"{row['seconds']:.3f}", _yes_no(row["same_data"])]
                for row in third_party["loaders"]
            ]
        print(markdown_table(["step", "seconds", "same data as yaml.load"], rows))

    result = generation.get(largest)
    print(f"\n## Dumpers, largest file of the {largest:,}-service output\n")
    if not isinstance(result, dict) or "largest_file" not in result:
        print("Not measured: the generation child for this size did not finish.")
    else:
        largest_file = result["largest_file"]
        print(
            f"{largest_file['name']}, {largest_file['bytes'] / 1e6:,.1f} MB as written. "
            "Round trip: a sample (first "
            f"{SAMPLE_ITEMS} items of every list) dumped and loaded back with PyYAML.\n"
        )
        dumpers = largest_file["dumpers"]
        if isinstance(third_party, dict):
            dumpers = dumpers + third_party["dumpers"]
        rows = [
            [
                row["dumper"],
                f"{row['seconds']:.2f}",
                f"{row['bytes'] / 1e6:,.1f}",
                _yes_no(row["identical"]),
                _yes_no(row["round_trip"]),
            ]
            for row in dumpers
        ]
        headers = ["dumper", "seconds", "MB", "same bytes", "round trip"]
        print(markdown_table(headers, rows))

    print("\n## Third-party packages\n")
    if isinstance(third_party, str):
        print(f"Not measured: {third_party}.")
    else:
        for package, version in third_party["versions"].items():
            print(f"- {package} {version}: installed")
    for package, reason in failures.items():
        print(f"- {package}: not installed: {reason}")
    print(f"\nTotal time {time.perf_counter() - started:,.0f} s.")


if __name__ == "__main__":
    sys.exit(main())
