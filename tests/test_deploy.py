"""The deployment in deploy/ as far as it can be checked without Docker (the CI machine has no
Docker daemon): the compose file's services and every variable it uses are documented in
sample.env, the Caddyfile passes the real `caddy validate`, the Dockerfile copies files that exist
and are in the build context, runs as a user that is not root and installs the hashed runtime
lock, that lock is exactly the runtime dependencies at the versions requirements.lock pins, the
image's health check command works, and docs/deployment.md and docs/extending.md name only files
that exist."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).parents[1]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
CADDYFILE = DEPLOY / "Caddyfile"
DOCKERFILE = DEPLOY / "Dockerfile"
RUNTIME_LOCK = DEPLOY / "requirements.lock"
DEV_LOCK = ROOT / "requirements.lock"
SAMPLE_ENV = ROOT / "sample.env"
DOCKERIGNORE = ROOT / ".dockerignore"
PAGES = [ROOT / "docs" / "deployment.md", ROOT / "docs" / "extending.md"]
# Files a page tells the reader to create (deploy/.env holds the secrets: never committed).
CREATED = {"deploy/.env"}
CADDY = "/usr/bin/caddy"
CADDY_TIMEOUT_S = 30
HEALTHCHECK_TIMEOUT_S = 20

SERVICES = {"postgres", "redis", "shop-1", "shop-2", "caddy"}
# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error} and $VAR; `$$` is a
# literal dollar sign.
COMPOSE_VARIABLE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-?+][^}]*)?\}|([A-Za-z_]\w*))")
# Caddy's {$VAR} and {$VAR:default}, replaced as the Caddyfile is read.
CADDY_VARIABLE = re.compile(r"\{\$([A-Za-z_][A-Za-z0-9_]*)(?::[^}]*)?\}")
# A repository path in a page: under one of the repository's folders, or one of its files.
REPO_PATH = re.compile(
    r"(?<![\w./-])((?:bookshop|deploy|docs|tests|templates|static|tools|\.ci)/(?:[\w./-]*[\w/])?"
    r"|(?:sample\.env|requirements\.lock|pyproject\.toml|Makefile|README\.md|\.dockerignore)"
    r"(?![\w-]))"
)
MARKDOWN_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
SECTION = re.compile(r"^# --- (.+?) -+$", re.MULTILINE)
# The interpreter and platform the lock files are compiled for (`--python-version 3.11`), and the
# image runs: Linux, CPython.
TARGET: dict[str, str] = {
    **{key: str(value) for key, value in default_environment().items()},
    "python_version": "3.11",
    "python_full_version": "3.11.0",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
}


# --- Helpers ---------------------------------------------------------------------------------


def compose_variables(text: str) -> set[str]:
    """Every variable a compose file interpolates, in any of its forms."""
    text = text.replace("$$", "")
    return {braced or bare for braced, bare in COMPOSE_VARIABLE.findall(text)}


def documented(sample: str) -> dict[str, str]:
    """Each variable sample.env sets (a `NAME=` line), with the section it is in."""
    found: dict[str, str] = {}
    section = ""
    for line in sample.splitlines():
        heading = SECTION.match(line)
        if heading:
            section = heading.group(1)
        elif match := re.match(r"^([A-Z][A-Z0-9_]*)=", line):
            found[match.group(1)] = section
    return found


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (KEYWORD, arguments), continuation lines joined."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue  # a comment between continuation lines
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


def final_stage(instructions: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The instructions of the last stage: the image that runs."""
    starts = [index for index, (keyword, _) in enumerate(instructions) if keyword == "FROM"]
    return instructions[starts[-1] :]


def exec_form(arguments: str) -> list[str]:
    """A JSON-array (exec form) argument list; shell form is split like a shell would."""
    if arguments.startswith("["):
        parsed = json.loads(arguments)
        assert isinstance(parsed, list)
        return [str(item) for item in parsed]
    return shlex.split(arguments)


def copy_sources(instructions: list[tuple[str, str]]) -> list[str]:
    """The build-context paths COPY and ADD take (not those copied from another stage)."""
    sources = []
    for keyword, arguments in instructions:
        if keyword not in ("COPY", "ADD"):
            continue
        words = exec_form(arguments)
        flags = [word for word in words if word.startswith("--")]
        if any(flag.startswith("--from") for flag in flags):
            continue
        paths = [word for word in words if not word.startswith("--")]
        sources += paths[:-1]
    return sources


def ignore_pattern(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go's filepath.Match, plus `**`) as a regular expression."""
    pattern = pattern.strip().strip("/")
    out = ""
    index = 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            out, index = out + "(?:.*/)?", index + 3
        elif pattern.startswith("**", index):
            out, index = out + ".*", index + 2
        elif pattern[index] == "*":
            out, index = out + "[^/]*", index + 1
        elif pattern[index] == "?":
            out, index = out + "[^/]", index + 1
        else:
            out, index = out + re.escape(pattern[index]), index + 1
    return re.compile(out + "$")


def ignored(path: str, dockerignore: str) -> bool:
    """Whether Docker leaves `path` (relative to the context) out of the build context: the last
    pattern matching it or one of its folders decides, `!` bringing it back."""
    parts = path.strip("/").split("/")
    candidates = ["/".join(parts[: end + 1]) for end in range(len(parts))]
    decision = False
    for line in dockerignore.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        regex = ignore_pattern(line[1:] if negated else line)
        if any(regex.match(candidate) for candidate in candidates):
            decision = not negated
    return decision


def pinned(lock: str) -> dict[str, tuple[str, int]]:
    """A hashed lock file's packages: canonical name -> (version, how many hashes)."""
    found: dict[str, tuple[str, int]] = {}
    name = ""
    for line in lock.splitlines():
        if match := re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", line):
            name = canonicalize_name(match.group(1))
            found[name] = (match.group(2), 0)
        elif name and line.strip().startswith("--hash=sha256:"):
            version, hashes = found[name]
            found[name] = (version, hashes + 1)
    return found


def runtime_closure(requirements: list[str]) -> set[str]:
    """The packages `requirements` need on the image's Python and platform, followed through
    the installed packages' own metadata (extras included)."""
    needed: set[str] = set()
    seen: set[tuple[str, frozenset[str]]] = set()
    queue = [each for each in map(Requirement, requirements) if applies(each, set())]
    while queue:
        requirement = queue.pop()
        key = (canonicalize_name(requirement.name), frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        needed.add(key[0])
        for text in metadata.requires(requirement.name) or []:
            child = Requirement(text)
            if applies(child, requirement.extras):
                child.marker = None
                queue.append(child)
    return needed


def applies(requirement: Requirement, extras: set[str]) -> bool:
    """Whether a requirement holds on the image's Python and platform, with these extras."""
    marker = requirement.marker
    return marker is None or any(
        marker.evaluate({**TARGET, "extra": extra}) for extra in ("", *extras)
    )


def mentioned_paths(text: str, folder: Path) -> set[str]:
    """The repository paths a page in `folder` names: in its text, and its relative links."""
    paths = {match.group(1) for match in REPO_PATH.finditer(text)}
    for target in MARKDOWN_LINK.findall(text):
        if "://" not in target:
            resolved = (folder / target).resolve()
            paths.add(str(resolved.relative_to(ROOT.resolve())))
    return paths


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    return dockerfile_instructions(DOCKERFILE.read_text())


# --- The compose file ------------------------------------------------------------------------


def test_the_compose_file_runs_postgresql_redis_two_shops_and_caddy(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    assert set(services) == SERVICES
    # Both shops are the same service (one anchor), built from the repository by the Dockerfile.
    assert services["shop-1"] == services["shop-2"]
    build = services["shop-1"]["build"]
    assert (COMPOSE.parent / build["context"]).resolve() == ROOT.resolve()
    assert (ROOT / build["dockerfile"]).resolve() == DOCKERFILE.resolve()
    for name in SERVICES:
        assert services[name].get("restart") == "unless-stopped", name


def test_only_caddy_is_published_and_the_data_stays_on_an_internal_network(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"caddy"}
    assert {str(port).split(":")[0] for port in services["caddy"]["ports"]} == {"80", "443"}
    assert compose["networks"]["backend"]["internal"] is True
    for name in ("postgres", "redis"):
        assert services[name]["networks"] == ["backend"], name
    assert services["caddy"]["networks"] == ["edge"]
    assert set(services["shop-1"]["networks"]) == {"edge", "backend"}


def test_the_shops_trust_only_the_network_caddy_shares_with_them(compose: dict[str, Any]) -> None:
    environment = compose["services"]["shop-1"]["environment"]
    subnets = [each["subnet"] for each in compose["networks"]["edge"]["ipam"]["config"]]
    assert subnets == [environment["SHOP_TRUSTED_PROXIES"]]
    assert environment["SHOP_ENV"] == "production"
    assert environment["SHOP_PUBLIC_URL"].startswith("https://${SHOP_DOMAIN")
    assert environment["SHOP_HOST"] == "0.0.0.0"
    assert environment["REDIS_URL"].startswith("redis://redis:")
    assert "@postgres:5432/" in environment["DATABASE_URL"]
    # Metrics on a port of their own, not the one Caddy proxies to.
    assert environment["SHOP_METRICS_BIND"].rpartition(":")[2] != environment["SHOP_PORT"]


def test_caddy_proxies_to_every_shop_service_and_no_other(compose: dict[str, Any]) -> None:
    port = compose["services"]["shop-1"]["environment"]["SHOP_PORT"]
    proxied = re.search(r"^\s*reverse_proxy\s+([^{\n]+)", CADDYFILE.read_text(), re.MULTILINE)
    assert proxied is not None
    shops = {name for name in compose["services"] if name.startswith("shop-")}
    assert set(proxied.group(1).split()) == {f"{name}:{port}" for name in shops}
    mounted = compose["services"]["caddy"]["volumes"]
    assert "./Caddyfile:/etc/caddy/Caddyfile:ro" in mounted
    assert any(volume.startswith("caddy-data:") for volume in mounted)


def test_the_variable_reader_finds_every_form_compose_interpolates() -> None:
    text = "a: ${PLAIN} b: ${DEFAULT:-x} c: ${UNSET-y} d: ${NEEDED:?why} e: $BARE f: $$LITERAL"
    assert compose_variables(text) == {"PLAIN", "DEFAULT", "UNSET", "NEEDED", "BARE"}


def test_every_variable_the_compose_file_uses_is_documented_in_sample_env(
    compose: dict[str, Any],
) -> None:
    variables = compose_variables(COMPOSE.read_text())
    assert {"SHOP_DOMAIN", "POSTGRES_PASSWORD", "STRIPE_SECRET_KEY"} <= variables
    known = documented(SAMPLE_ENV.read_text())
    assert variables - set(known) == set()
    shop_keys = set(compose["services"]["shop-1"]["environment"])
    assert shop_keys - set(known) == set()


def test_the_deployments_own_variables_are_in_the_last_section_of_sample_env() -> None:
    # A variable the shop never reads is the deployment's: sample.env's last section says so.
    config = (ROOT / "bookshop" / "config.py").read_text()
    known = documented(SAMPLE_ENV.read_text())
    own = {name for name in compose_variables(COMPOSE.read_text()) if f'"{name}"' not in config}
    assert own == {"SHOP_DOMAIN", "POSTGRES_PASSWORD", "SHOP_PROXY_SUBNET"}
    sections = SECTION.findall(SAMPLE_ENV.read_text())
    assert sections[-1] == "Deployment (deploy/compose.yaml)"
    assert {known[name] for name in own} == {sections[-1]}


def test_the_caddyfiles_variables_are_documented_and_given_to_caddy(
    compose: dict[str, Any],
) -> None:
    variables = set(CADDY_VARIABLE.findall(CADDYFILE.read_text()))
    assert variables == {"SHOP_DOMAIN"}
    assert variables <= set(documented(SAMPLE_ENV.read_text()))
    assert variables <= set(compose["services"]["caddy"]["environment"])


# --- The Caddyfile ---------------------------------------------------------------------------


def caddy_validate(config: Path, tmp_path: Path, environ: dict[str, str]) -> tuple[int, str]:
    """`caddy validate` on a Caddyfile, its data and configuration kept under tmp_path."""
    if not os.access(CADDY, os.X_OK):
        pytest.skip(f"{CADDY} not installed: `apt-get install caddy` (.ci/run installs it)")
    homes = {name: tmp_path / name for name in ("data", "config", "home")}
    for each in homes.values():
        each.mkdir(exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "XDG_DATA_HOME": str(homes["data"]),
        "XDG_CONFIG_HOME": str(homes["config"]),
        "HOME": str(homes["home"]),
        **environ,
    }
    done = subprocess.run(
        [CADDY, "validate", "--adapter", "caddyfile", "--config", str(config)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=CADDY_TIMEOUT_S,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def test_the_caddyfile_is_valid_for_caddy(tmp_path: Path) -> None:
    status, output = caddy_validate(CADDYFILE, tmp_path, {"SHOP_DOMAIN": "books.example"})
    assert status == 0, output
    assert "Valid configuration" in output


def test_caddy_validate_refuses_a_broken_copy_of_it(tmp_path: Path) -> None:
    # The check above means something only if caddy refuses a mistake in this file.
    broken = tmp_path / "Caddyfile"
    broken.write_text(CADDYFILE.read_text().replace("health_uri", "health_url"))
    status, output = caddy_validate(broken, tmp_path, {"SHOP_DOMAIN": "books.example"})
    assert status != 0
    assert "health_url" in output


# --- The image -------------------------------------------------------------------------------


def test_the_dockerfile_copies_only_files_that_exist_and_are_in_the_build_context(
    dockerfile: list[tuple[str, str]],
) -> None:
    sources = copy_sources(dockerfile)
    assert {"bookshop/", "templates/", "static/", "deploy/requirements.lock"} <= set(sources)
    assert "requirements.lock" not in sources  # the development lock, with the test tools
    dockerignore = DOCKERIGNORE.read_text()
    for source in sources:
        path = ROOT / source
        assert path.exists(), source
        files = [path] if path.is_file() else [each for each in path.rglob("*") if each.is_file()]
        for each in files:
            relative = str(each.relative_to(ROOT))
            if "__pycache__" not in each.parts:
                assert not ignored(relative, dockerignore), relative


def test_secrets_and_development_files_stay_out_of_the_build_context() -> None:
    dockerignore = DOCKERIGNORE.read_text()
    for path in (".env", "deploy/.env", ".venv/bin/python", "var/bookshop.sqlite3", ".git/HEAD"):
        assert ignored(path, dockerignore), path
    for path in ("tests/conftest.py", "requirements.lock", "bookshop/__pycache__/x.pyc"):
        assert ignored(path, dockerignore), path
    assert not ignored("bookshop/catalog/books.toml", dockerignore)


def test_the_ignore_reader_follows_dockers_rules() -> None:
    rules = "*\n!keep/\nkeep/**/*.pyc\n!keep/special.pyc\n"
    assert ignored("other.txt", rules)
    assert not ignored("keep/a/b.py", rules)
    assert ignored("keep/a/b.pyc", rules)
    assert not ignored("keep/special.pyc", rules)


def test_the_image_runs_the_shop_as_a_user_that_is_not_root(
    dockerfile: list[tuple[str, str]],
) -> None:
    final = final_stage(dockerfile)
    users = [arguments for keyword, arguments in final if keyword == "USER"]
    assert users, "the image must name its USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    # The shop is what the image runs, listening beyond the container's loopback.
    assert [exec_form(arguments) for keyword, arguments in final if keyword == "CMD"][-1] == [
        "python",
        "-m",
        "bookshop",
    ]
    environment = " ".join(arguments for keyword, arguments in final if keyword == "ENV")
    assert "SHOP_HOST=0.0.0.0" in environment


def test_the_image_installs_the_hashed_runtime_lock_on_the_python_it_is_compiled_for(
    dockerfile: list[tuple[str, str]],
) -> None:
    installs = [
        arguments
        for keyword, arguments in dockerfile
        if keyword == "RUN" and "pip install" in arguments
    ]
    assert len(installs) == 1
    assert "--require-hashes" in installs[0]
    assert re.search(r"-r \S*requirements\.lock", installs[0])
    bases = {arguments.split()[0] for keyword, arguments in dockerfile if keyword == "FROM"}
    header = re.search(r"--python-version (\S+)", RUNTIME_LOCK.read_text())
    assert header is not None
    assert bases == {f"python:{header.group(1)}-slim-bookworm"}


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[ThreadingHTTPServer]:
    """A loopback server answering /healthz with `_Health.status`, stopped after the test."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def run_healthcheck(dockerfile: list[tuple[str, str]], port: int) -> int:
    """The image's HEALTHCHECK command, run here against SHOP_PORT=port; its exit status."""
    checks = [arguments for keyword, arguments in dockerfile if keyword == "HEALTHCHECK"]
    assert len(checks) == 1
    command = exec_form(checks[0].split(" CMD ", 1)[1].strip())
    assert command[0] == "python"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "SHOP_PORT": str(port)}
    done = subprocess.run(
        [sys.executable, *command[1:]],
        env=env,
        capture_output=True,
        timeout=HEALTHCHECK_TIMEOUT_S,
        check=False,
    )
    return done.returncode


def test_the_images_health_check_passes_on_a_healthy_shop_and_fails_otherwise(
    dockerfile: list[tuple[str, str]],
    health_server: ThreadingHTTPServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = health_server.server_address[1]
    assert run_healthcheck(dockerfile, port) == 0
    monkeypatch.setattr(_Health, "status", 503)
    assert run_healthcheck(dockerfile, port) != 0
    health_server.shutdown()
    health_server.server_close()
    assert run_healthcheck(dockerfile, port) != 0


# --- The runtime lock ------------------------------------------------------------------------


def test_the_runtime_lock_pins_what_requirements_lock_pins() -> None:
    runtime, development = pinned(RUNTIME_LOCK.read_text()), pinned(DEV_LOCK.read_text())
    assert runtime
    differ = {
        name: (version, development.get(name, ("missing", 0))[0])
        for name, (version, _) in runtime.items()
        if development.get(name, ("", 0))[0] != version
    }
    assert differ == {}, "regenerate deploy/requirements.lock (its first lines say how)"
    unhashed = sorted(name for name, (_, hashes) in runtime.items() if hashes == 0)
    assert unhashed == []


def test_the_runtime_lock_is_exactly_the_runtime_dependencies_without_the_dev_tools() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    needed = runtime_closure(project["project"]["dependencies"])
    locked = set(pinned(RUNTIME_LOCK.read_text()))
    assert locked == needed, "regenerate deploy/requirements.lock (its first lines say how)"
    dev = {
        canonicalize_name(Requirement(text).name) for text in project["dependency-groups"]["dev"]
    }
    assert dev & locked == set()


# --- The pages -------------------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_file_a_page_names_exists(page: Path) -> None:
    paths = mentioned_paths(page.read_text(), page.parent)
    assert paths
    missing = sorted(path for path in paths - CREATED if not (ROOT / path).exists())
    assert missing == []


def test_the_path_reader_finds_paths_in_text_and_links() -> None:
    text = "`deploy/Caddyfile`, tests/test_deploy.py::test_x, sample.env. [README](../README.md), "
    text += "/etc/caddy/Caddyfile, [Stripe](https://stripe.com/docs)"
    assert mentioned_paths(text, ROOT / "docs") == {
        "deploy/Caddyfile",
        "tests/test_deploy.py",
        "sample.env",
        "README.md",
    }


def test_the_deployment_page_names_every_service_and_variable(compose: dict[str, Any]) -> None:
    page = (ROOT / "docs" / "deployment.md").read_text()
    for name in [*compose["services"], *compose_variables(COMPOSE.read_text())]:
        assert name in page, name
