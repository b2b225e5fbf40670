"""The deployment material (docker-compose.yml, .env.example, deploy/Dockerfile, .dockerignore), parsed.

No Docker engine is needed: these checks read the files and compare them with the code they package
(settings, topics, roles, service packages), so a drift between the two fails here, not at deploy time.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import re
import tomllib
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from shared.contracts import topics
from shared.platform.db.ownership import SERVICE_NAMES, schema_of
from shared.platform.kafka.principals import PRINCIPALS
from shared.platform.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERIGNORE = ROOT / ".dockerignore"

BTS_SERVICES = SERVICE_NAMES  # api, ingest, engine, reporting: our long-running services
INFRA = ("kafka", "timescaledb")
ONE_SHOT = ("kafka-topics", "migrate")
LONG_RUNNING = (*INFRA, *BTS_SERVICES)
KAFKA_SECRETS = {principal.name: f"KAFKA_{principal.service.upper()}_PASSWORD" for principal in PRINCIPALS}
SECRETS = ("POSTGRES_PASSWORD", "BTS_DB_ROLE_PASSWORD", "KAFKA_ADMIN_PASSWORD", *KAFKA_SECRETS.values())
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
STATE_DIR = "/var/lib/bts"

# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}, ${NAME:+alt}, $NAME.
NAME = r"[A-Za-z_][A-Za-z0-9_]*"
VARIABLE = re.compile(rf"\$(?:\{{(?P<braced>{NAME})(?P<op>:?[-?+][^}}]*)?\}}|(?P<bare>{NAME}))")


# ---- helpers ------------------------------------------------------------------------------------------


@cache
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(loaded, dict), "docker-compose.yml is not a YAML mapping"
    return loaded


def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose()["services"]
    return found


def env_of(name: str) -> dict[str, Any]:
    environment = services()[name].get("environment") or {}
    assert isinstance(environment, dict), f"{name}: write environment as a mapping"
    return environment


def env_example() -> dict[str, str]:
    entries: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f".env.example: not KEY=value: {line!r}"
            entries[key.strip()] = value.strip()
    return entries


def interpolate(value: str) -> str:
    """Compose interpolation with every variable replaced by a marker naming it: ${X:?msg} -> <X>."""
    marked = VARIABLE.sub(lambda m: f"<{m['braced'] or m['bare']}>", value.replace("$$", "\0"))
    return marked.replace("\0", "$")


def database_url(name: str) -> Any:
    url = env_of(name).get("BTS_DATABASE_URL")
    assert isinstance(url, str), f"{name}: BTS_DATABASE_URL is not set"
    return urlsplit(interpolate(url))


def port_of(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None, f"no port in {url!r}"
    return port


def healthcheck_port(name: str) -> int:
    test = " ".join(str(part) for part in services()[name]["healthcheck"]["test"])
    found = re.search(r"https?://(?:127\.0\.0\.1|localhost):(\d+)/health\b", test)
    assert found, f"{name}: the healthcheck does not request /health: {test!r}"
    return int(found.group(1))


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs: continuation lines joined, comments and blank lines dropped."""
    logical: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    assert not pending, f"{path}: the last instruction ends with a line continuation"
    pairs = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        pairs.append((keyword.upper(), rest.strip()))
    return pairs


def built_dockerfiles() -> dict[str, Path]:
    """Service name -> Dockerfile of every service that is built from this repository."""
    found = {}
    for name, spec in services().items():
        build = spec.get("build")
        if build is None:
            continue
        if isinstance(build, str):
            build = {"context": build}
        found[name] = ROOT / build.get("context", ".") / build.get("dockerfile", "Dockerfile")
    return found


def dockerignore_patterns() -> list[str]:
    lines = [line.strip() for line in DOCKERIGNORE.read_text().splitlines()]
    return [line.rstrip("/") for line in lines if line and not line.startswith("#")]


def is_dockerignored(relative: str) -> bool:
    parts = relative.strip("/").split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(fnmatch.fnmatch(prefix, pattern) for pattern in dockerignore_patterns() for prefix in prefixes)


def image_repo_and_tag(image: str) -> tuple[str, str | None]:
    name = image.split("@", 1)[0]
    repo, sep, tag = name.rpartition(":")
    if not sep or "/" in tag:  # no tag at all (a ':' belonged to a registry port)
        return name, None
    return repo, tag


def version_tuple(tag: str) -> tuple[int, ...]:
    found = re.match(r"(\d+(?:\.\d+)*)", tag)
    assert found, f"tag {tag!r} does not start with a version"
    return tuple(int(part) for part in found.group(1).split("."))


# ---- the compose file ---------------------------------------------------------------------------------


def test_compose_is_yaml_with_the_expected_services() -> None:
    assert "version" not in compose(), "the Compose spec has no version: key"
    assert set(services()) == {*LONG_RUNNING, *ONE_SHOT}
    for name, spec in services().items():
        assert "image" in spec or "build" in spec, f"{name}: neither image nor build"


def test_every_image_is_pinned_and_official() -> None:
    for name, spec in services().items():
        if "image" not in spec:
            continue
        image = spec["image"]
        _, tag = image_repo_and_tag(image)
        assert tag, f"{name}: image {image!r} has no tag"
        assert tag != "latest", f"{name}: image {image!r} is not pinned"
        assert not tag.startswith("latest-"), f"{name}: image {image!r} is not pinned"
        assert re.search(r"\d", tag), f"{name}: tag {tag!r} names no version"
    kafka_repo, kafka_tag = image_repo_and_tag(services()["kafka"]["image"])
    assert kafka_repo == "apache/kafka"
    assert kafka_tag
    assert version_tuple(kafka_tag) >= (3, 9), "Kafka 3.9+ (KRaft) is required"
    db_repo, db_tag = image_repo_and_tag(services()["timescaledb"]["image"])
    assert db_repo == "timescale/timescaledb"
    assert db_tag
    assert re.search(r"-pg\d+$", db_tag), f"pin the PostgreSQL major too: {db_tag!r}"


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_long_running_services_have_a_healthcheck_and_restart(name: str) -> None:
    spec = services()[name]
    assert spec.get("restart") in {"unless-stopped", "always"}, f"{name}: restart policy"
    healthcheck = spec.get("healthcheck") or {}
    assert not healthcheck.get("disable"), f"{name}: healthcheck disabled"
    test = healthcheck.get("test")
    assert isinstance(test, list), f"{name}: no healthcheck test"
    assert len(test) > 1, f"{name}: empty healthcheck"
    assert test[0] in {"CMD", "CMD-SHELL"}, f"{name}: healthcheck {test!r}"
    if test[:3] == ["CMD", "python", "-c"]:  # our images have no curl: a Python one-liner
        compile(test[3], f"{name} healthcheck", "exec")


@pytest.mark.parametrize("name", ONE_SHOT)
def test_one_shot_jobs_do_not_restart(name: str) -> None:
    spec = services()[name]
    # The string "no": an unquoted `no` is YAML's false, which Compose rejects.
    assert spec.get("restart") == "no", f'{name}: a one-shot job must have restart: "no"'
    assert "healthcheck" not in spec


def test_depends_on_names_services_with_valid_conditions() -> None:
    for name, spec in services().items():
        depends = spec.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on needs conditions (long syntax)"
        for target, options in depends.items():
            assert target in services(), f"{name} depends on unknown service {target!r}"
            condition = (options or {}).get("condition")
            assert condition in CONDITIONS, f"{name} -> {target}: condition {condition!r}"
            if condition == "service_healthy":
                assert "healthcheck" in services()[target], f"{name} waits for {target}: no healthcheck"
            if condition == "service_completed_successfully":
                assert target in ONE_SHOT, f"{name} waits for {target} to exit, but it runs forever"
    wanted = {
        "kafka": "service_healthy",
        "timescaledb": "service_healthy",
        "kafka-topics": "service_completed_successfully",
        "migrate": "service_completed_successfully",
    }
    for name in BTS_SERVICES:
        got = {target: options["condition"] for target, options in services()[name]["depends_on"].items()}
        assert got == wanted, f"{name} must start after broker, database, topics and migrations"
    assert services()["migrate"]["depends_on"]["timescaledb"]["condition"] == "service_healthy"
    assert services()["kafka-topics"]["depends_on"]["kafka"]["condition"] == "service_healthy"


def test_every_variable_is_in_env_example() -> None:
    text = COMPOSE_FILE.read_text().replace("$$", "")
    used = {m["braced"] or m["bare"] for m in VARIABLE.finditer(text)}
    assert set(SECRETS) <= used
    missing = used - set(env_example())
    assert not missing, f"variables used by docker-compose.yml but not in .env.example: {sorted(missing)}"
    # Every other '$' is an interpolation error for Compose ("$1" in a script must be written "$$1").
    stray = [m.start() for m in re.finditer(r"\$", VARIABLE.sub("", text))]
    assert not stray, f"invalid '$' in docker-compose.yml at offsets {stray}"


def test_secrets_are_required_and_not_shipped() -> None:
    text = COMPOSE_FILE.read_text()
    for secret in SECRETS:
        uses = re.findall(r"\$\{" + secret + r"(:?[-?+]?)", text)
        assert uses, f"{secret} is never used"
        assert set(uses) == {":?"}, f"write every use of {secret} as ${{{secret}:?message}}"
        assert env_example()[secret] == "", f".env.example must not ship a value for {secret}"


def test_environment_values_are_strings_or_numbers() -> None:
    for name in services():
        for key, value in env_of(name).items():
            # yes/no/on/off/true/false unquoted are YAML booleans; Compose rejects or mangles them.
            assert not isinstance(value, bool), f"{name}: quote {key}={value!r}"
            assert isinstance(value, str | int), f"{name}: {key}={value!r}"


@pytest.mark.parametrize("name", BTS_SERVICES)
def test_bts_services_get_their_settings(name: str) -> None:
    env = env_of(name)
    known = {"BTS_" + field.upper() for field in Settings.model_fields}
    unknown = {key for key in env if key.startswith("BTS_")} - known
    assert not unknown, f"{name}: not settings of shared/platform/settings.py: {sorted(unknown)}"
    assert env.get("BTS_KAFKA_BOOTSTRAP") == "kafka:9092"
    assert env.get("BTS_BIND_HOST") == "0.0.0.0", f"{name} must listen on every interface in a container"
    assert env.get("BTS_STATE_DIR") == STATE_DIR
    mounts = services()[name].get("volumes", [])
    assert any(str(m).endswith(f":{STATE_DIR}") for m in mounts), f"{name}: the state volume is not mounted"
    if name == "api":
        assert port_of(env["BTS_API_URL"]) == 8000
    else:
        assert int(env.get("BTS_SERVICE_PORT", 0)) == 8080
    if name == "ingest":
        for key in ("BTS_IB_HOST", "BTS_IB_PORT", "BTS_IB_CLIENT_ID"):
            assert key in env, f"ingest: {key} is not set"
        assert "host.docker.internal:host-gateway" in services()["ingest"].get("extra_hosts", [])


def test_the_state_volume_is_shared() -> None:
    """api writes uploads and serves reports; ingest reads the uploads; reporting writes the reports."""
    sources = set()
    for name in ("api", "ingest", "reporting"):
        mount = next(str(m) for m in services()[name]["volumes"] if str(m).endswith(f":{STATE_DIR}"))
        sources.add(mount.split(":", 1)[0])
    assert len(sources) == 1, f"api, ingest and reporting must mount the same state volume, not {sources}"


@pytest.mark.parametrize("name", BTS_SERVICES)
def test_each_service_logs_in_with_its_own_role(name: str) -> None:
    url = database_url(name)
    assert url.username == f"bts_{name}" == schema_of(name).role
    assert url.password == "<BTS_DB_ROLE_PASSWORD>"
    assert (url.hostname, url.port, url.path) == ("timescaledb", 5432, "/bts")


def test_migrate_runs_with_the_admin_url() -> None:
    db_env = env_of("timescaledb")
    url = database_url("migrate")
    assert url.username == db_env.get("POSTGRES_USER", "postgres")
    assert url.password == "<POSTGRES_PASSWORD>"
    assert (url.hostname, url.port, url.path) == ("timescaledb", 5432, f"/{db_env['POSTGRES_DB']}")
    assert interpolate(env_of("migrate")["BTS_DB_ROLE_PASSWORD"]) == "<BTS_DB_ROLE_PASSWORD>"
    assert services()["migrate"]["command"] == ["bts", "migrate"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert "bts" in scripts, "the migrate job runs the `bts` console script"


def test_only_the_api_publishes_a_port_and_engine_scales() -> None:
    for name, spec in services().items():
        assert "container_name" not in spec, f"{name}: container_name prevents --scale and parallel stacks"
        if name != "api":
            assert not spec.get("ports"), f"{name} must not publish a host port"
    engine = services()["engine"]
    assert "ports" not in engine
    assert "container_name" not in engine
    assert "hostname" not in engine
    published = [str(p) for p in services()["api"]["ports"]]
    assert published == ["8000:8000"]
    assert healthcheck_port("api") == 8000
    for name in BTS_SERVICES[1:]:
        assert healthcheck_port(name) == int(env_of(name)["BTS_SERVICE_PORT"])


def test_kafka_runs_kraft_with_a_single_combined_node() -> None:
    env = {key: str(value) for key, value in env_of("kafka").items()}
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{env['KAFKA_NODE_ID']}@kafka:9093"
    listeners = dict(item.split("://", 1) for item in env["KAFKA_LISTENERS"].split(","))
    assert set(listeners) == {"CLIENT", "CONTROLLER"}
    assert listeners["CONTROLLER"].endswith(":9093")
    assert listeners["CLIENT"].endswith(":9092")
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] == "CONTROLLER"
    protocol_map = dict(item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert set(listeners) <= set(protocol_map)
    assert env["KAFKA_ADVERTISED_LISTENERS"] == "CLIENT://kafka:9092"
    assert all(env_of(name)["BTS_KAFKA_BOOTSTRAP"] == "kafka:9092" for name in BTS_SERVICES)
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    # The image formats the storage with CLUSTER_ID: a base64url-encoded 16-byte UUID.
    assert len(base64.urlsafe_b64decode(env["CLUSTER_ID"] + "==")) == 16
    mounts = [str(m) for m in services()["kafka"]["volumes"]]
    assert any(m.endswith(":" + env["KAFKA_LOG_DIRS"]) for m in mounts), "Kafka's log dir is not on a volume"


def test_topic_job_creates_the_topics_of_shared_topics() -> None:
    job = services()["kafka-topics"]
    assert job["image"] == services()["kafka"]["image"]
    script = "\n".join([*job.get("entrypoint", []), *job["command"]])
    calls = re.findall(r"^\s*create\s+(\S+)\s+(\d+)\s*$", script, re.MULTILINE)
    created = {topic: int(n) for topic, n in calls}
    assert len(calls) == len(created), "a topic is created twice"
    expected = {topic: topics.PARTITIONS[topic] for topic in topics.ALL_TOPICS}
    expected |= {topics.dlq(topic): topics.DLQ_PARTITIONS for topic in topics.ALL_TOPICS}
    assert created == expected
    # The helper passes its arguments to the right options, idempotently, on the compose network.
    assert re.search(r'--topic\s+"\$\$1"\s+--partitions\s+"\$\$2"', script)
    assert "--if-not-exists" in script
    assert "--bootstrap-server kafka:9092" in script


def test_named_volumes_are_declared_and_used() -> None:
    declared = set(compose().get("volumes") or {})
    used = set()
    for spec in services().values():
        for mount in spec.get("volumes", []):
            source = mount.get("source") if isinstance(mount, dict) else str(mount).split(":", 1)[0]
            if source and not source.startswith(("/", ".", "~", "$")):
                used.add(source)
    assert used <= declared, f"undeclared volumes: {sorted(used - declared)}"
    assert declared <= used, f"declared but unused volumes: {sorted(declared - used)}"
    assert {"kafka", "timescaledb", *BTS_SERVICES} <= {
        name for name, spec in services().items() if any(":" in str(m) for m in spec.get("volumes", []))
    }


@pytest.mark.parametrize("name", BTS_SERVICES)
def test_service_commands_name_existing_packages(name: str) -> None:
    command = services()[name]["command"]
    assert command == ["python", "-m", f"services.{name}"], f"{name} runs {command!r}"
    package = ROOT / "services" / name
    assert package.is_dir(), f"no directory services/{name}/"
    assert (package / "__init__.py").is_file(), f"services/{name}/ is not a package"


# ---- Dockerfile and .dockerignore --------------------------------------------------------------------


def test_built_services_use_existing_dockerfiles() -> None:
    built = built_dockerfiles()
    assert set(built) == {*BTS_SERVICES, "migrate"}
    for name, path in built.items():
        assert path.is_file(), f"{name}: {path} does not exist"


@pytest.mark.parametrize("path", sorted(set(built_dockerfiles().values())), ids=lambda p: p.name)
def test_dockerfile_is_pinned_non_root_and_healthchecked(path: Path) -> None:
    instructions = dockerfile_instructions(path)
    stages: set[str] = set()
    final_stage: list[tuple[str, str]] = []
    for keyword, args in instructions:
        if keyword == "FROM":
            words = [w for w in args.split() if not w.startswith("--")]
            image = words[0]
            if image.lower() not in stages:
                repo, tag = image_repo_and_tag(image)
                assert "$" not in image, f"base image {image!r} must be literal to be checked"
                assert tag, f"untagged base image {image!r}"
                assert tag != "latest", f"unpinned base image {image!r}"
                if repo == "python":
                    assert tag.startswith("3.11."), f"Python 3.11.x with a patch version, not {tag!r}"
            if len(words) == 3 and words[1].lower() == "as":
                stages.add(words[2].lower())
            final_stage = []
        final_stage.append((keyword, args))
    users = [args for keyword, args in final_stage if keyword == "USER"]
    assert users, "the runtime stage has no USER"
    assert users[-1].split(":")[0] not in {"root", "0"}, "the runtime stage runs as root"
    healthchecks = [args for keyword, args in final_stage if keyword == "HEALTHCHECK"]
    assert healthchecks, "the runtime stage has no HEALTHCHECK"
    assert healthchecks[-1] != "NONE", "the runtime stage disables the HEALTHCHECK"
    command = healthchecks[-1].split(" CMD ", 1)[-1].strip()
    # Exec form that is not valid JSON silently turns into shell form: parse it, and compile the check.
    argv = json.loads(command)
    assert argv[:2] == ["python", "-c"]
    compile(argv[2], "HEALTHCHECK", "exec")
    exposed = {port for keyword, args in final_stage if keyword == "EXPOSE" for port in args.split()}
    assert {"8000", "8080"} <= exposed
    cmd = [args for keyword, args in final_stage if keyword == "CMD"]
    assert cmd, "the runtime stage has no CMD"
    default = json.loads(cmd[-1])
    assert default[:2] == ["python", "-m"]
    assert (ROOT / "services" / default[2].removeprefix("services.")).is_dir()


@pytest.mark.parametrize("path", sorted(set(built_dockerfiles().values())), ids=lambda p: p.name)
def test_dockerfile_copies_files_the_build_context_sends(path: Path) -> None:
    copied = []
    for keyword, args in dockerfile_instructions(path):
        if keyword in {"COPY", "ADD"} and "--from=" not in args:
            words = [w for w in args.split() if not w.startswith("--")]
            copied += words[:-1]
    assert {"pyproject.toml", "README.md", "shared", "services", "bts"} <= set(copied)
    for source in copied:
        assert (ROOT / source).exists(), f"COPY {source}: no such file"
        assert not is_dockerignored(source), f"COPY {source}: excluded by .dockerignore"


def test_dockerignore_keeps_the_image_lean() -> None:
    for path in (".venv", ".bts", ".git", "tests", "benchmarks", ".mypy_cache", "shared/__pycache__", ".env"):
        assert is_dockerignored(path), f".dockerignore does not exclude {path}"


# ---- Kafka authentication and ACLs --------------------------------------------------------------------


def test_every_kafka_listener_authenticates_and_acls_default_to_deny() -> None:
    env = {key: str(value) for key, value in env_of("kafka").items()}
    protocol_map = dict(item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert set(protocol_map.values()) == {"SASL_PLAINTEXT"}, "a listener without authentication"
    assert "SCRAM-SHA-512" in env["KAFKA_SASL_ENABLED_MECHANISMS"].split(",")
    assert env["KAFKA_AUTHORIZER_CLASS_NAME"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    assert env["KAFKA_SUPER_USERS"] == "User:admin"
    assert env["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"
    assert "ScramLoginModule" in env["KAFKA_LISTENER_NAME_CLIENT_SCRAM__SHA__512_SASL_JAAS_CONFIG"]
    for key in (
        "KAFKA_LISTENER_NAME_CLIENT_PLAIN_SASL_JAAS_CONFIG",
        "KAFKA_LISTENER_NAME_CONTROLLER_PLAIN_SASL_JAAS_CONFIG",
    ):
        jaas = interpolate(env[key])
        assert 'username="admin" password="<KAFKA_ADMIN_PASSWORD>" user_admin="<KAFKA_ADMIN_PASSWORD>";' in jaas


def _job_script() -> str:
    job = services()["kafka-topics"]
    return "\n".join([*job.get("entrypoint", []), *job["command"]])


def test_the_topic_job_creates_one_scram_user_per_principal_with_its_own_secret() -> None:
    users = dict(re.findall(r'^\s*user\s+(\S+)\s+"\$\{(\w+):\?[^}]*\}"\s*$', _job_script(), re.MULTILINE))
    assert users == KAFKA_SECRETS
    assert "SCRAM-SHA-512=[password=$$2]" in _job_script()


def test_the_topic_job_grants_exactly_the_acls_of_the_principals() -> None:
    granted = {
        (user, operation, kind, name.strip("'"))
        for user, operation, kind, name in re.findall(
            r"^\s*acl\s+(\S+)\s+(\w+)\s+(topic|group)\s+(\S+)\s*$", _job_script(), re.MULTILINE
        )
    }
    expected = {(p.name, *acl) for p in PRINCIPALS for acl in p.acls()}
    assert granted == expected
    # outside producers may write requests and nothing else; only the engine writes results
    assert {acl for acl in granted if acl[0] == "bts-producer"} == {
        ("bts-producer", "Write", "topic", topics.BACKTEST_REQUESTED)
    }
    writers = {
        user for user, operation, _, name in granted if operation == "Write" and name == topics.BACKTEST_COMPLETED
    }
    assert writers == {"bts-engine", "bts-api"}  # the api: the admin-only dead-letter replay


@pytest.mark.parametrize("name", BTS_SERVICES)
def test_each_service_authenticates_as_its_own_principal(name: str) -> None:
    env = {**compose()["x-bts-env"], **env_of(name)}
    assert env["BTS_KAFKA_SASL_USERNAME"] == f"bts-{name}"
    assert interpolate(env["BTS_KAFKA_SASL_PASSWORD"]) == f"<{KAFKA_SECRETS[f'bts-{name}']}>"
    settings = Settings(
        kafka_sasl_username=env["BTS_KAFKA_SASL_USERNAME"],
        kafka_sasl_password="x",
        kafka_sasl_mechanism=env["BTS_KAFKA_SASL_MECHANISM"],
        kafka_security_protocol=env["BTS_KAFKA_SECURITY_PROTOCOL"],
    )
    assert settings.kafka_sasl_mechanism == "SCRAM-SHA-512"


def test_the_gateway_principal_reads_what_its_read_models_consume() -> None:
    from services.api.handlers.read_models import READ_MODEL_TOPICS

    [api] = [p for p in PRINCIPALS if p.service == "api"]
    assert set(api.consumes) == set(READ_MODEL_TOPICS)
