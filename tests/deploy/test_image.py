"""The container image, read from the Dockerfile: no engine runs here, so check what can be checked without one."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import tomllib
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.deploy.manifests import ROOT, check_cli

DOCKERFILE = (ROOT / "Dockerfile").read_text()


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE)
    lines = [line.strip() for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def stages() -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for instruction in instructions():
        if instruction[0] == "FROM":
            found.append([])
        found[-1].append(instruction)
    return found


def test_multi_stage_slim_build_whose_last_stage_runs_as_non_root() -> None:
    built = stages()
    assert len(built) >= 2, "the build tools must stay in a stage of their own"
    for stage in built:
        assert stage[0][1].split()[0] == "python:3.11-slim"
    final = built[-1]
    users = [args for op, args in final if op == "USER"]
    assert users, "the runtime stage sets no USER, so it would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("0", "root")
    assert user.isdigit(), "a numeric USER lets Kubernetes check runAsNonRoot"
    assert any(op == "COPY" and "--from=" in args for op, args in final), "the runtime stage copies the built venv"
    assert not any(op == "RUN" and "pip install" in args for op, args in final), "no installs in the runtime stage"


def test_installs_the_pinned_lock_then_the_package() -> None:
    runs = [args for op, args in stages()[0] if op == "RUN"]
    install = next(args for args in runs if "pip install" in args)
    assert re.search(r"(--constraint|-c|-r|--requirement)\s+requirements\.lock", install)
    assert install.rstrip().split("&&")[0].strip().endswith(" ."), "the package itself is installed from the tree"


def test_every_runtime_dependency_is_pinned_in_the_lock() -> None:
    """The image installs with the lock as constraints, which pins only what the lock names: anything missing
    from it would float to whatever version the registry serves on the day of the build."""
    lock = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            lock[canonicalize_name(name)] = version
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pending = [Requirement(r) for r in project["dependencies"]]
    seen: set[str] = set()
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        assert name in lock, f"{requirement.name} (runtime dependency) is not pinned in requirements.lock"
        assert requirement.specifier.contains(lock[name], prereleases=True), \
            f"requirements.lock pins {name}=={lock[name]}, which does not satisfy {requirement}"
        extras = tuple(sorted(requirement.extras))
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        for dependency in metadata.requires(requirement.name) or []:
            nested = Requirement(dependency)
            wanted = [{"extra": extra} for extra in extras] or [{"extra": ""}]
            if nested.marker is None or any(nested.marker.evaluate(env) for env in wanted):
                pending.append(nested)
    assert "uvicorn" in {n for n, _ in seen} and len(seen) > 20, "the walk should reach the whole runtime tree"


def test_entrypoint_and_default_commands_exist_in_the_cli() -> None:
    final = stages()[-1]
    entrypoint = json.loads(next(args for op, args in final if op == "ENTRYPOINT"))
    command = json.loads(next(args for op, args in final if op == "CMD"))
    assert entrypoint == ["paritrana"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["paritrana"] == "paritrana.cli:main"
    assert command == ["--help"]
    for service in ("enrolment", "subsidy", "award"):
        assert check_cli(["serve", service]).name == "serve"
        assert check_cli(["migrate", service]).name == "migrate"
    assert check_cli(["migrate", "all"]).name == "migrate"


def test_runtime_environment_is_prod_mode_listening_on_every_interface() -> None:
    env_lines = " ".join(args for op, args in stages()[-1] if op == "ENV")
    env = dict(word.split("=", 1) for word in shlex.split(env_lines) if "=" in word)
    assert env["PARITRANA_MODE"] == "prod"
    assert env["PARITRANA_HOST"] == "0.0.0.0"
    assert env["PARITRANA_DATA_DIR"].startswith("/tmp"), "the only writable place under a read-only root"


def test_build_context_holds_what_the_dockerfile_copies_and_no_local_state() -> None:
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]

    def ignored(path: str) -> bool:
        verdict = False
        for pattern in patterns:
            negated = pattern.startswith("!")
            body = pattern.lstrip("!").rstrip("/").removeprefix("**/")
            if fnmatch.fnmatch(path, body) or fnmatch.fnmatch(path.split("/")[-1], body) \
                    or path.startswith(body + "/"):
                verdict = not negated
        return verdict

    sources = []
    for op, args in stages()[0]:
        if op == "COPY" and "--from=" not in args:
            sources += args.split()[:-1]
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: no such path"
        assert not ignored(source), f"COPY {source}, but .dockerignore leaves it out of the context"
    for local in ("var/enrolment.db", ".env", ".venv", ".git", "services/enrolment/x.db", "tests"):
        assert ignored(local), f"{local} would be sent to the build"


def test_package_data_ships_every_non_python_file_the_services_need() -> None:
    """`pip install .` in the image copies only packages and the package-data globs: a migration template, a
    static asset or a YAML file outside them would be missing in the container but present in the tree."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    globs = config["package-data"]["*"]
    roots = [pattern.rstrip("*") for pattern in config["packages"]["find"]["include"]]
    for top in roots:
        for path in (ROOT / top).rglob("*"):
            relative = path.relative_to(ROOT).as_posix()
            if path.is_dir() or "__pycache__" in relative or path.suffix in (".py", ".pyc"):
                continue
            assert any(fnmatch.fnmatch(path.name, glob) for glob in globs), \
                f"{relative} is not matched by [tool.setuptools.package-data], so the image would not have it"
