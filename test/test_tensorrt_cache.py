"""The TensorRT engine cache hands out only what this user's cache wrote; no GPU or TensorRT needed.

Loading a saved engine unpickles it, so a file planted or altered in the cache folder would run its
code in the node. Every way of getting one in (a changed file, a file of no manifest entry, a manifest
edited without the key, a folder others can write, a symbolic link) must be refused, so that the
back end compiles the engine again; only a file this cache stored comes back.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import io
import json
import logging
import os
import shutil
from pathlib import Path

import pytest
import torch

from deephar_ros.inference.backends import tensorrt
from deephar_ros.inference.backends.base import EngineUnavailableError
from deephar_ros.inference.backends.tensorrt import TrustedCache, load_engine

ENGINE = "spnet_frames_b1_0123456789abcdef0123.ep"
OTHER_ENGINE = "spnet_frames_b2_0123456789abcdef0123.ep"
CONTENT = b"engine bytes " * 1000
PLANTED = b"a pickle that runs code when loaded"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "cache" / "tensorrt"


@pytest.fixture
def stored(folder: Path) -> TrustedCache:
    """A cache holding ENGINE, as the back end leaves it after compiling."""
    cache = TrustedCache(folder)
    assert cache.store(ENGINE, CONTENT)
    return cache


def refused(cache: TrustedCache, name: str, caplog: pytest.LogCaptureFixture, reason: str) -> bool:
    """True when the cache hands nothing out for name and logs a warning holding reason."""
    caplog.clear()
    with caplog.at_level(logging.INFO, logger=tensorrt.__name__):
        data = cache.verified_bytes(name)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    return data is None and any(reason in message and name in message for message in warnings)


def manifest(folder: Path) -> dict:
    return json.loads((folder / TrustedCache.MANIFEST).read_text())


def test_a_stored_file_comes_back_from_a_private_folder(stored: TrustedCache, folder: Path) -> None:
    assert stored.store(OTHER_ENGINE, b"other")
    fresh = TrustedCache(folder)  # another process: nothing kept in memory
    assert fresh.verified_bytes(ENGINE) == CONTENT
    assert fresh.verified_bytes(OTHER_ENGINE) == b"other"
    assert folder.stat().st_mode & 0o777 == 0o700
    for name in (ENGINE, TrustedCache.MANIFEST, TrustedCache.KEY):
        assert (folder / name).stat().st_mode & 0o777 == 0o600, name
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [ENGINE, OTHER_ENGINE, TrustedCache.MANIFEST, TrustedCache.KEY]
    )  # no temporary file left


def test_nothing_cached_yet_is_a_quiet_miss(folder: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger=tensorrt.__name__):
        assert TrustedCache(folder).verified_bytes(ENGINE) is None
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_changed_file_is_refused(stored: TrustedCache, folder: Path, caplog) -> None:
    (folder / ENGINE).write_bytes(PLANTED)
    assert refused(stored, ENGINE, caplog, "sha256 differs")


def test_a_file_of_no_manifest_entry_is_refused(stored: TrustedCache, folder: Path, caplog) -> None:
    (folder / OTHER_ENGINE).write_bytes(PLANTED)
    (folder / OTHER_ENGINE).chmod(0o600)
    assert refused(stored, OTHER_ENGINE, caplog, "not in the manifest")


def test_a_file_in_a_folder_without_a_manifest_is_refused(folder: Path, caplog) -> None:
    """The layout before this cache: engines alone in the folder."""
    folder.mkdir(mode=0o700, parents=True)
    (folder / ENGINE).write_bytes(PLANTED)
    assert refused(TrustedCache(folder), ENGINE, caplog, "not in the manifest")


def test_a_manifest_edited_without_the_key_is_refused(stored: TrustedCache, folder: Path, caplog) -> None:
    (folder / ENGINE).write_bytes(PLANTED)
    entries = manifest(folder)
    entries[ENGINE]["sha256"] = hashlib.sha256(PLANTED).hexdigest()  # the digest matches the new file
    (folder / TrustedCache.MANIFEST).write_text(json.dumps(entries))
    assert refused(stored, ENGINE, caplog, "HMAC")
    guessed_key = bytes(TrustedCache.KEY_BYTES)
    digest = entries[ENGINE]["sha256"]
    entries[ENGINE]["hmac"] = hmac.new(guessed_key, f"{ENGINE}\n{digest}".encode(), "sha256").hexdigest()
    (folder / TrustedCache.MANIFEST).write_text(json.dumps(entries))
    assert refused(stored, ENGINE, caplog, "HMAC")


def test_an_entry_copied_to_another_name_is_refused(stored: TrustedCache, folder: Path, caplog) -> None:
    shutil.copyfile(folder / ENGINE, folder / OTHER_ENGINE)
    entries = manifest(folder)
    entries[OTHER_ENGINE] = entries[ENGINE]
    (folder / TrustedCache.MANIFEST).write_text(json.dumps(entries))
    assert refused(stored, OTHER_ENGINE, caplog, "HMAC")


def test_a_new_key_orphans_the_entries_of_the_old_one(stored: TrustedCache, folder: Path, caplog) -> None:
    (folder / TrustedCache.KEY).unlink()
    assert refused(stored, ENGINE, caplog, "key file hmac.key is missing")
    assert stored.store(OTHER_ENGINE, b"other")  # makes a new key
    assert refused(stored, ENGINE, caplog, "HMAC")
    assert stored.verified_bytes(OTHER_ENGINE) == b"other"


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o702])
def test_a_folder_others_can_write_is_neither_read_nor_written(
    stored: TrustedCache, folder: Path, caplog, mode: int
) -> None:
    folder.chmod(mode)
    assert refused(stored, ENGINE, caplog, "others can use it")
    assert not stored.store(OTHER_ENGINE, PLANTED)
    assert not (folder / OTHER_ENGINE).exists()


def test_a_key_others_can_read_is_refused(stored: TrustedCache, folder: Path, caplog) -> None:
    (folder / TrustedCache.KEY).chmod(0o644)
    assert refused(stored, ENGINE, caplog, "others can use it")


def test_a_folder_of_another_user_is_refused(
    stored: TrustedCache, caplog, monkeypatch: pytest.MonkeyPatch
) -> None:
    uid = os.geteuid()
    monkeypatch.setattr(os, "geteuid", lambda: uid + 1)  # the folder's owner is now someone else
    assert refused(stored, ENGINE, caplog, "not to this user")
    assert not stored.store(OTHER_ENGINE, PLANTED)


@pytest.mark.parametrize("name", [ENGINE, TrustedCache.MANIFEST, TrustedCache.KEY])
def test_a_symbolic_link_in_the_folder_is_not_followed(
    stored: TrustedCache, folder: Path, tmp_path: Path, caplog, name: str
) -> None:
    """Even to a copy of the genuine file: what it points at can change after the check."""
    elsewhere = tmp_path / "elsewhere"
    shutil.copy2(folder / name, elsewhere)
    (folder / name).unlink()
    (folder / name).symlink_to(elsewhere)
    assert refused(stored, ENGINE, caplog, "symbolic link")


def test_a_cache_folder_that_is_a_symbolic_link_is_refused(
    stored: TrustedCache, folder: Path, caplog
) -> None:
    link = folder.parent / "link"
    link.symlink_to(folder, target_is_directory=True)
    assert refused(TrustedCache(link), ENGINE, caplog, "symbolic link")
    assert not TrustedCache(link).store(OTHER_ENGINE, PLANTED)


@pytest.mark.parametrize(
    "name", ["../escape.ep", "sub/dir.ep", ".hidden.ep", "manifest.json", "hmac.key", ""]
)
def test_names_outside_the_cache_are_rejected(stored: TrustedCache, name: str) -> None:
    with pytest.raises(ValueError, match="not a cache file name"):
        stored.verified_bytes(name)
    with pytest.raises(ValueError, match="not a cache file name"):
        stored.store(name, PLANTED)


class Doubler(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2


def test_load_engine_loads_a_stored_exported_program(folder: Path) -> None:
    """The back end's loading path, with a CPU exported program in place of a TensorRT one."""
    example = torch.arange(4.0)
    saved = io.BytesIO()
    torch.export.save(torch.export.export(Doubler(), (example,)), saved)
    cache = TrustedCache(folder)
    assert cache.store(ENGINE, saved.getvalue())
    module = load_engine(cache, ENGINE)
    assert module is not None
    assert torch.equal(module(example), example * 2)


def test_load_engine_never_unpickles_a_refused_file(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The old back end ran torch.export.load on any file of the right name in the folder."""
    folder.mkdir(mode=0o700, parents=True)
    (folder / ENGINE).write_bytes(PLANTED)
    loads: list[object] = []
    monkeypatch.setattr(torch.export, "load", loads.append)
    assert load_engine(TrustedCache(folder), ENGINE) is None
    assert loads == []


def test_the_back_end_stays_unavailable_without_torch_tensorrt(monkeypatch: pytest.MonkeyPatch) -> None:
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "torch_tensorrt" else find_spec(name, *a),
    )
    with pytest.raises(EngineUnavailableError, match="torch_tensorrt"):
        tensorrt.TensorRTBackend(Doubler(), (1,), device="cuda")
