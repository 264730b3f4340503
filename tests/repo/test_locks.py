"""Lock files: every environment and image installs from a current lock, and the images' locks agree
with the environments that test them (lock against lock, never against what is installed)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from tools import locks

REPO = Path(__file__).resolve().parents[2]
DOCKERFILES = {
    "runtime": REPO / "containers" / "worker" / "Dockerfile",
    "api": REPO / "containers" / "api" / "Dockerfile",
    "mxnet": REPO / "containers" / "segmentation" / "Dockerfile",
}
MAKE_FILES = [REPO / "Makefile", *sorted((REPO / "mk").glob("*.mk"))]


@pytest.fixture()
def repo_copy(tmp_path: Path) -> Path:
    """The requirements folder alone, in a scratch root, for tests that edit it."""
    shutil.copytree(REPO / "requirements", tmp_path / "requirements")
    return tmp_path


def test_every_lock_is_current_and_consistent() -> None:
    assert locks.problems(REPO) == []


def test_every_pin_has_a_hash_and_every_input_is_locked() -> None:
    for lock in locks.LOCKS:
        pins = locks.read_pins(REPO / lock.output)
        assert pins, lock.output
        assert all(pin.hashes for pin in pins.values()), lock.output
        for requirement in locks.direct_requirements(lock.source, REPO):
            assert canonicalize_name(requirement.name) in {canonicalize_name(name) for name in pins}, (
                lock.output,
                requirement,
            )


def test_an_edited_input_makes_its_lock_stale(repo_copy: Path) -> None:
    source = repo_copy / "requirements" / "checkov.in"
    source.write_text(source.read_text() + "# a comment is an edit too\n")
    assert locks.problems(repo_copy) == [
        "requirements/checkov.txt: stale, its inputs changed since it was compiled; run `make lock`"
    ]


def test_a_changed_pin_is_reported_even_with_a_matching_digest(repo_copy: Path) -> None:
    lock = repo_copy / "requirements" / "checkov.txt"
    lock.write_text(lock.read_text().replace("checkov==3.3.30", "checkov==3.3.29"))
    assert locks.problems(repo_copy) == [
        "requirements/checkov.txt: checkov==3.3.29 does not satisfy checkov==3.3.30"
    ]


def test_a_changed_constraint_lock_makes_the_constrained_lock_stale(repo_copy: Path) -> None:
    """api.txt is compiled under dev.txt: regenerating dev.txt alone leaves api.txt stale."""
    dev = repo_copy / "requirements" / "dev.txt"
    dev.write_text(dev.read_text() + "\n")
    stale = {p.split(":")[0] for p in locks.problems(repo_copy) if "stale" in p}
    assert stale == {"requirements/api.txt"}


def test_an_image_pin_that_its_test_environment_lacks_is_reported(repo_copy: Path) -> None:
    api = repo_copy / "requirements" / "api.txt"
    version = locks.read_pins(api)["fastapi"].version
    api.write_text(api.read_text().replace(f"fastapi=={version}", "fastapi==0.1.0"))
    found = locks.problems(repo_copy)
    assert f"requirements/api.txt: fastapi==0.1.0, but requirements/dev.txt has {version}" in found


@pytest.mark.parametrize(("image", "environment"), locks.SUBSETS)
def test_each_image_lock_is_a_subset_of_its_test_environment_lock(image: str, environment: str) -> None:
    tested = locks.read_pins(REPO / f"requirements/{environment}.txt")
    for name, pin in locks.read_pins(REPO / f"requirements/{image}.txt").items():
        assert name in tested, (image, name)
        assert tested[name].version == pin.version, (image, name)
        assert pin.hashes <= tested[name].hashes, (image, name)


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_each_image_installs_its_lock_with_hashes_and_nothing_else(name: str) -> None:
    text = DOCKERFILES[name].read_text()
    assert f"COPY requirements/{name}.txt " in text
    installs = re.findall(r"pip install ([^\n\\&]+)", text)
    locked = [i for i in installs if "--requirement" in i]
    assert len(locked) == 1 and "--require-hashes" in locked[0], installs
    # The MXNet image picks its variant's lock into ${lock}, mxnet.txt unless told otherwise.
    assert f"{name}.txt" in locked[0] or f"lock={name}.txt;" in text, installs
    assert all("--no-deps" in i for i in installs if i not in locked), installs


def test_worker_image_base_carries_the_locked_torch() -> None:
    torch = locks.read_pins(REPO / "requirements/runtime.txt")["torch"].version
    base = re.search(r"^ARG BASE_IMAGE=pytorch/pytorch:([\d.]+)-", DOCKERFILES["runtime"].read_text(), re.M)
    assert base and base.group(1) == torch


def test_base_images_are_pinned_to_a_patch_release() -> None:
    for dockerfile in DOCKERFILES.values():
        bases = re.findall(r"^(?:ARG BASE_IMAGE=|FROM )(\S+)", dockerfile.read_text(), re.M)
        named = [b for b in bases if not b.startswith("$")]
        assert named and all(re.search(r":\d+\.\d+\.\d+", b) for b in named), (dockerfile, named)


def test_every_environment_installs_from_a_lock_with_hashes() -> None:
    text = "\n".join(path.read_text() for path in MAKE_FILES)
    assert "PIP_LOCKED := pip install --quiet --require-hashes" in text
    for lock in ("dev", "api", "mxnet-dev", "checkov"):
        assert re.search(rf"\$\(PIP_LOCKED\).* -r \$\(LOCK_DIR\)/{lock}\.txt", text), lock
    installs = re.findall(r"pip install ([^\n]+)", text)
    unlocked = [i for i in installs if "--no-deps" not in i and "-e ." not in i]
    assert unlocked == ["--quiet --require-hashes"], unlocked
