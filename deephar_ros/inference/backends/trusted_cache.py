"""Files this user's own processes wrote into a private folder, verified before use (HMAC manifest).

Caches whose files are loaded later (TensorRT engines, unpickled; ONNX exports, run as graphs;
precision verdicts, trusted as decisions) keep them here: a file planted or altered in the folder
is refused, with the reason logged, and the caller makes it again.
"""

import fcntl
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

logger = logging.getLogger(__name__)


def user_cache_dir(kind: str) -> Path:
    """The user's cache folder of one kind: $XDG_CACHE_HOME/deephar_ros/<kind> (~/.cache by default)."""
    cache_home = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache_home) / "deephar_ros" / kind


def weights_digest(model: nn.Module) -> str:
    """sha256 over every parameter and buffer, by name: changes whenever the weights change."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


class UntrustedCacheError(Exception):
    """A cache folder or file that cannot be shown to be this user's own, unaltered."""


class TrustedCache:
    """Files that this user's processes wrote into a private folder, and nothing else.

    The folder must be a real directory (not a symbolic link) owned by this user and writable by no
    one else; `store` creates it with mode 0700. A manifest there holds each file's sha256 and an
    HMAC-SHA256 of its name and digest, keyed by a 32-byte secret in a 0600 file beside it. A file is
    handed out only when its bytes hash to its manifest entry and that entry's HMAC verifies, so a
    planted file, an altered one, or a manifest edited by anyone without the key is refused. Files
    are opened relative to the folder's checked descriptor and never through a symbolic link, and
    the bytes checked are the bytes returned: nothing can change between the check and the use.
    """

    MANIFEST = "manifest.json"
    KEY = "hmac.key"
    KEY_BYTES = 32
    NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def verified_bytes(self, name: str) -> bytes | None:
        """The content of file `name` when it checks out; None, with the reason logged, otherwise."""
        self._check_name(name)
        try:
            with self._open_folder() as folder:
                data = _read_own_file(folder, name)
                digest = hashlib.sha256(data).hexdigest()
                entry = self._manifest(folder).get(name)
                if not isinstance(entry, dict):
                    raise UntrustedCacheError("it is not in the manifest: this cache did not write it")
                if not hmac.compare_digest(str(entry.get("sha256")), digest):
                    raise UntrustedCacheError("its sha256 differs from the manifest's: it was changed")
                expected = _mac(self._read_key(folder), name, digest)
                if not hmac.compare_digest(str(entry.get("hmac")), expected):
                    raise UntrustedCacheError("its manifest entry fails the HMAC check: it was edited")
        except FileNotFoundError:
            logger.info("cache %s: no %s yet", self.folder, name)
            return None
        except (UntrustedCacheError, OSError, ValueError) as error:
            logger.warning("cache %s: refusing %s: %s", self.folder, name, error)
            return None
        return data

    def store(self, name: str, data: bytes) -> bool:
        """Write `data` as file `name` and record it in the manifest; False, with the reason logged,
        when the folder cannot be made or is not private."""
        self._check_name(name)
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            with self._open_folder() as folder:
                fcntl.flock(folder, fcntl.LOCK_EX)  # one writer of the manifest at a time
                key = self._key(folder)
                try:
                    manifest = self._manifest(folder)
                except (UntrustedCacheError, ValueError) as error:  # nothing in it can be trusted
                    logger.warning("cache %s: starting a new manifest: %s", self.folder, error)
                    manifest = {}
                _write_atomically(folder, name, data)
                digest = hashlib.sha256(data).hexdigest()
                manifest[name] = {"sha256": digest, "hmac": _mac(key, name, digest)}
                _write_atomically(
                    folder, self.MANIFEST, json.dumps(manifest, indent=1, sort_keys=True).encode()
                )
        except (UntrustedCacheError, OSError) as error:
            logger.warning("cache %s: not storing %s: %s", self.folder, name, error)
            return False
        return True

    def _check_name(self, name: str) -> None:
        if not self.NAME.fullmatch(name) or name in (self.MANIFEST, self.KEY):
            raise ValueError(f"{name!r} is not a cache file name")

    @contextmanager
    def _open_folder(self) -> Iterator[int]:
        """A descriptor of the folder, checked private: every file is opened relative to it."""
        try:
            folder = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            raise
        except OSError as error:  # ELOOP: a symbolic link; ENOTDIR: not a folder
            raise UntrustedCacheError(
                f"the folder cannot be opened as a folder, not through a symbolic link ({error.strerror})"
            ) from None
        try:
            _check_own(os.fstat(folder), "the folder")
            yield folder
        finally:
            os.close(folder)

    def _manifest(self, folder: int) -> dict:
        """The manifest's entries by file name; none before the first store."""
        try:
            manifest = json.loads(_read_own_file(folder, self.MANIFEST))
        except FileNotFoundError:
            return {}
        if not isinstance(manifest, dict):
            raise ValueError("the manifest is not a JSON object")
        return manifest

    def _read_key(self, folder: int) -> bytes:
        try:
            key = _read_own_file(folder, self.KEY, secret=True)
        except FileNotFoundError:
            raise UntrustedCacheError(f"the key file {self.KEY} is missing") from None
        if len(key) != self.KEY_BYTES:
            raise UntrustedCacheError(f"the key file {self.KEY} is not {self.KEY_BYTES} bytes long")
        return key

    def _key(self, folder: int) -> bytes:
        """The folder's secret, made on first use (a new key orphans every entry signed with another)."""
        try:
            descriptor = os.open(
                self.KEY,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                0o600,
                dir_fd=folder,
            )
        except FileExistsError:  # made before, maybe by another process just now
            return self._read_key(folder)
        with os.fdopen(descriptor, "wb") as file:
            file.write(secrets.token_bytes(self.KEY_BYTES))
            file.flush()
            os.fsync(file.fileno())
        return self._read_key(folder)


def _check_own(status: os.stat_result, what: str, secret: bool = False) -> None:
    """Raise UntrustedCacheError unless this user owns it and no one else can write it (or read a secret)."""
    if status.st_uid != os.geteuid():
        raise UntrustedCacheError(
            f"{what} belongs to uid {status.st_uid}, not to this user (uid {os.geteuid()})"
        )
    shared = stat.S_IRWXG | stat.S_IRWXO if secret else stat.S_IWGRP | stat.S_IWOTH
    if status.st_mode & shared:
        fix = "chmod 600" if secret else "chmod go-w"
        raise UntrustedCacheError(
            f"{what} has mode {stat.filemode(status.st_mode)}: others can use it ({fix})"
        )


def _read_own_file(folder: int, name: str, secret: bool = False) -> bytes:
    """The bytes of a regular file of folder that this user owns; never through a symbolic link."""
    try:
        descriptor = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=folder)
    except FileNotFoundError:
        raise
    except OSError as error:  # ELOOP: a symbolic link
        raise UntrustedCacheError(
            f"{name} cannot be opened as a file, not through a symbolic link ({error.strerror})"
        ) from None
    with os.fdopen(descriptor, "rb") as file:
        status = os.fstat(file.fileno())
        if not stat.S_ISREG(status.st_mode):
            raise UntrustedCacheError(f"{name} is not a regular file")
        _check_own(status, name, secret)
        return file.read()


def _write_atomically(folder: int, name: str, data: bytes) -> None:
    """Write a private temporary file, then rename it over name: readers see the old or the new file."""
    temporary = f".{name}.{secrets.token_hex(8)}.tmp"
    descriptor = os.open(
        temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=folder
    )
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, name, src_dir_fd=folder, dst_dir_fd=folder)
    except BaseException:
        os.unlink(temporary, dir_fd=folder)
        raise


def _mac(key: bytes, name: str, digest: str) -> str:
    """The HMAC binding a file's name to its digest: an entry cannot be moved to another name."""
    return hmac.new(key, f"{name}\n{digest}".encode(), hashlib.sha256).hexdigest()
