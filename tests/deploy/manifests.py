"""Reading the deployment files the way their tools would, without the tools: compose's variable interpolation,
a `kustomize build` of the strategic-merge subset deploy/ uses, the environment names Settings reads, and
whether a command line is one the `paritrana` CLI accepts."""

from __future__ import annotations

import copy
import json
import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
import yaml
from pydantic import AliasChoices

from paritrana.cli import main as cli
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DEPLOY = ROOT / "deploy"

# The kinds that live outside namespaces (kustomize's `namespace:` leaves them alone).
CLUSTER_KINDS = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "PersistentVolume",
                 "StorageClass", "PriorityClass"}


# --- settings ---

def settings_env_names() -> set[str]:
    """Every environment variable Settings reads, from its fields as they are now (services keep adding some)."""
    prefix = Settings.model_config.get("env_prefix", "")
    names = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names |= {choice.upper() for choice in alias.choices if isinstance(choice, str)}
        elif isinstance(alias, str):
            names.add(alias.upper())
        else:
            names.add(f"{prefix}{name}".upper())
    return names


def required_env(service: str) -> set[str]:
    """What a service's container must set explicitly in production (docs/operations.md, "Production settings")."""
    return {"PARITRANA_MODE", "PARITRANA_HOST", "PARITRANA_WORKER_REF_KEY", "KAFKA_BOOTSTRAP_SERVERS",
            "PARITRANA_KAFKA_IDEMPOTENCE", "PARITRANA_KAFKA_PARTITIONS", "PARITRANA_KAFKA_REPLICATION_FACTOR",
            "PARITRANA_ACCESS_DATABASE_URL", f"PARITRANA_{service.upper()}_DATABASE_URL"}


# --- compose ---

class MissingVariable(Exception):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name


_VARIABLE = re.compile(r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
                       r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))")


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose's interpolation: $VAR, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}, $$."""
    def substitute(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["braced"] or match["bare"]
        op, arg = match["op"], match["arg"] or ""
        value = env.get(name)
        unset = value is None or (op is not None and op.startswith(":") and value == "")
        if op in ("?", ":?") and unset:
            raise MissingVariable(name, arg)
        if op in ("-", ":-") and unset:
            return arg
        if op in ("+", ":+"):
            return "" if unset else arg
        return value or ""

    return _VARIABLE.sub(substitute, text)


def _interpolate_all(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [_interpolate_all(item, env) for item in node]
    if isinstance(node, dict):
        return {key: _interpolate_all(value, env) for key, value in node.items()}
    return node


def compose_raw() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def compose(env: Mapping[str, str]) -> dict[str, Any]:
    """The compose file as `docker compose config` would see it with these variables set."""
    return _interpolate_all(compose_raw(), env)


def environment(service: Mapping[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def built_from_this_repo(service: Mapping[str, Any]) -> bool:
    return "build" in service


# --- the CLI ---

def image_entrypoint() -> list[str]:
    """The Dockerfile's last ENTRYPOINT (exec form): what runs when compose or Kubernetes give only arguments."""
    found = re.findall(r"^ENTRYPOINT\s+(\[.*\])\s*$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    return json.loads(found[-1])


def paritrana_invocations(command: list[str] | str, entrypoint: list[str] | None = None) -> list[list[str]]:
    """The `paritrana ...` argument lists a container runs: its entrypoint (the image's unless overridden) and
    command, or each `paritrana` command in an `sh -c` script."""
    if entrypoint is None:
        entrypoint = image_entrypoint()
    argv = [*entrypoint, *(shlex.split(command) if isinstance(command, str) else command)]
    if argv[:2] == ["sh", "-c"]:
        found = []
        for part in re.split(r"&&|;|\|\|", argv[2]):
            words = shlex.split(part)
            assert words and words[0] == "paritrana", f"not a paritrana command: {part!r}"
            found.append(words[1:])
        return found
    assert argv and argv[0] == "paritrana", f"not a paritrana command: {argv!r}"
    return [argv[1:]]


def check_cli(args: list[str], parse_arguments: bool = True) -> click.Command:
    """Resolve args through the click group as the CLI would, arguments and choices included; raise if refused.
    (The groups on the way take no options of their own, so only the final command parses any.) Without
    parse_arguments only the command path is resolved, for command lines whose arguments are elided."""
    command: click.Command = cli
    context = click.Context(cli, info_name="paritrana")
    remaining = list(args)
    while isinstance(command, click.Group):
        if not remaining:
            raise click.UsageError(f"{' '.join(args)!r} names a group, not a command")
        sub = command.get_command(context, remaining[0])
        if sub is None:
            raise click.UsageError(f"no command {remaining[0]!r} in {' '.join(args)!r}")
        context = click.Context(sub, info_name=remaining[0], parent=context)
        command, remaining = sub, remaining[1:]
    if parse_arguments:
        command.make_context(context.info_name, remaining, parent=context.parent)
    return command


# --- kustomize ---

def load_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _merge(base: Any, patch: Any) -> Any:
    """Strategic merge as kustomize applies it to the fields deploy/ patches: maps merge, lists of named items
    (containers, env, ports, volumes) merge by name, other lists are replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for key, value in patch.items():
            merged[key] = _merge(base[key], value) if key in base else copy.deepcopy(value)
        return merged
    if (isinstance(base, list) and isinstance(patch, list) and patch
            and all(isinstance(item, dict) and "name" in item for item in base + patch)):
        merged = [copy.deepcopy(item) for item in base]
        for item in patch:
            index = next((i for i, old in enumerate(merged) if old["name"] == item["name"]), None)
            if index is None:
                merged.append(copy.deepcopy(item))
            else:
                merged[index] = _merge(merged[index], item)
        return merged
    return copy.deepcopy(patch)


def resource_id(resource: Mapping[str, Any]) -> tuple[str, str, str]:
    group = resource["apiVersion"].rsplit("/", 1)[0] if "/" in resource["apiVersion"] else ""
    return group, resource["kind"], resource["metadata"]["name"]


def pod_spec(resource: Mapping[str, Any]) -> dict[str, Any] | None:
    if resource["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        return resource["spec"]["template"]["spec"]
    return None


def build(directory: Path) -> list[dict[str, Any]]:
    """What `kustomize build directory` prints, for the features deploy/ uses; raises where kustomize would
    (a missing file, a patch with no target, two resources with one id)."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(kustomization) - {"apiVersion", "kind", "resources", "images", "patches", "configMapGenerator",
                                    "namespace"}
    assert not unknown, f"{directory}: this check does not render {unknown}"
    resources: list[dict[str, Any]] = []
    for entry in kustomization.get("resources", []):
        path = directory / entry
        if path.is_dir():
            resources += build(path)
        else:
            assert path.is_file(), f"{directory / 'kustomization.yaml'} lists {entry}, which does not exist"
            resources += load_documents(path)
    for generator in kustomization.get("configMapGenerator", []):
        options = generator.get("options", {})
        assert options.get("disableNameSuffixHash"), "a hashed name would need reference rewriting"
        data = {}
        for entry in generator.get("files", []):
            key, _, source = entry.rpartition("=")
            path = directory / source
            assert path.is_file(), f"configMapGenerator file {source} does not exist"
            data[key or path.name] = path.read_text()
        for entry in generator.get("literals", []):
            key, value = entry.split("=", 1)
            data[key] = value
        resources.append({"apiVersion": "v1", "kind": "ConfigMap",
                          "metadata": {"name": generator["name"], "labels": dict(options.get("labels", {}))},
                          "data": data})
    ids = [resource_id(r) for r in resources]
    duplicates = {i for i in ids if ids.count(i) > 1}
    assert not duplicates, f"{directory}: resources defined twice: {duplicates}"
    for patch in kustomization.get("patches", []):
        assert "path" in patch, "only patches from files are used in deploy/"
        path = directory / patch["path"]
        assert path.is_file(), f"patch {patch['path']} does not exist"
        for document in load_documents(path):
            matches = [i for i, r in enumerate(resources) if resource_id(r) == resource_id(document)]
            assert len(matches) == 1, f"patch {patch['path']} targets {resource_id(document)}, which is not built"
            resources[matches[0]] = _merge(resources[matches[0]], document)
    for image in kustomization.get("images", []):
        for resource in resources:
            spec = pod_spec(resource)
            for container in (spec or {}).get("containers", []) + (spec or {}).get("initContainers", []):
                name = re.split(r"[:@]", container["image"], maxsplit=1)[0]
                if name == image["name"]:
                    container["image"] = f"{image.get('newName', name)}:{image['newTag']}"
    if "namespace" in kustomization:
        for resource in resources:
            if resource["kind"] not in CLUSTER_KINDS:
                resource["metadata"]["namespace"] = kustomization["namespace"]
    return resources


def kustomizations() -> list[Path]:
    return sorted(path.parent for path in DEPLOY.rglob("kustomization.yaml"))


def by_kind(resources: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}
