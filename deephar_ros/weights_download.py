"""Fetch the authors' released SPNet weight files into a cache folder (on request only, never at import).

The TPAMI 2020 multitask files are published on Google Drive (links in the authors' evaluation
scripts, exp/ntu/eval_ntu_multitask.py and exp/pennaction/eval_penn_multitask.py); see model/README.md.
Large Drive files first answer with a "can't scan for viruses" page whose form carries a confirm
token: it is followed once. Downloads go to a temp file that must open with h5py and hold every
layer (at its shape, finite) of the preset before it is renamed into place, so neither an interrupted
download nor a wrong answer ever replaces a file; its sha256 is recorded beside it (`<file>.sha256`)
and a cached file that no longer matches is downloaded again.

The YOLOX person detectors (Apache-2.0, Megvii) are listed here too: their ONNX exports are assets of
the YOLOX 0.1.1rc0 GitHub release; deephar_ros.yolox_detector.fetch_yolox verifies them by loading them.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import http.client
import logging
import os
import re
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
CHUNK = 1 << 20
# Largest download accepted: ~3x the largest file listed here (the Penn weights, ~82 MB; YOLOX-s ~35 MB).
# A server sending more (a wrong URL, a hostile mirror) would fill the disk at network speed.
MAX_DOWNLOAD_BYTES = 256 << 20
SHA256_SUFFIX = ".sha256"

logger = logging.getLogger(__name__)


class DownloadError(RuntimeError):
    """A download that could not be completed (offline, refused, or not the expected file)."""


@dataclass(frozen=True)
class ReleasedWeights:
    preset: str
    filename: str
    google_drive_id: str

    @property
    def url(self) -> str:
        return f"https://drive.google.com/uc?export=download&id={self.google_drive_id}"

    @property
    def page(self) -> str:
        return f"https://drive.google.com/file/d/{self.google_drive_id}/view"


RELEASED_WEIGHTS: dict[str, ReleasedWeights] = {
    "ntu_multitask": ReleasedWeights(
        "ntu_multitask", "weights_3dp+ntu_ar_062.hdf5", "1I6GftXEkL5nohLA60Vi6faW0rvTZg6Kx"
    ),
    "penn_multitask": ReleasedWeights(
        "penn_multitask", "weights_mpii+penn_ar_028.hdf5", "106yIhqNN-TrI34SX81q2xbU-NczcQj6I"
    ),
}


YOLOX_RELEASE = "https://github.com/Megvii-BaseDetection/YOLOX/releases"


@dataclass(frozen=True)
class ReleasedDetector:
    """A YOLOX ONNX export of the authors' 0.1.1rc0 release (demo/ONNXRuntime/README.md lists them)."""

    name: str
    filename: str
    input_size: tuple[int, int]  # (height, width) the export was traced at

    @property
    def url(self) -> str:
        return f"{YOLOX_RELEASE}/download/0.1.1rc0/{self.filename}"

    @property
    def page(self) -> str:
        return f"{YOLOX_RELEASE}/tag/0.1.1rc0"


# The small models: a person detector shares the frame time with the pose network.
RELEASED_DETECTORS: dict[str, ReleasedDetector] = {
    "yolox-nano": ReleasedDetector("yolox-nano", "yolox_nano.onnx", (416, 416)),
    "yolox-tiny": ReleasedDetector("yolox-tiny", "yolox_tiny.onnx", (416, 416)),
    "yolox-s": ReleasedDetector("yolox-s", "yolox_s.onnx", (640, 640)),
}


def default_cache_dir() -> Path:
    """$DEEPHAR_ROS_CACHE, else ~/.cache/deephar_ros."""
    return Path(os.environ.get("DEEPHAR_ROS_CACHE", "~/.cache/deephar_ros")).expanduser()


def _drive_confirmation_url(page: str, base_url: str) -> str | None:
    """The URL behind Google Drive's virus-scan warning page (form with hidden fields, or a confirm link)."""
    form = re.search(r'<form[^>]*id="download-form"[^>]*action="([^"]+)"', page)
    if form:
        fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))
        action = urllib.parse.urljoin(base_url, html.unescape(form.group(1)))
        return f"{action}?{urllib.parse.urlencode(fields)}"
    link = re.search(r'href="([^"]*confirm=[^"]+)"', page)
    if link:
        return urllib.parse.urljoin(base_url, html.unescape(link.group(1)))
    return None


def _open(url: str, timeout: float) -> http.client.HTTPResponse:
    request = urllib.request.Request(url, headers={"User-Agent": "deephar-ros"})
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        raise DownloadError(f"{url}: the server answered HTTP {error.code} {error.reason}") from error
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise DownloadError(f"cannot reach {url} ({reason}): are you offline?") from error


def sha256_path(path: str | os.PathLike) -> Path:
    """The sidecar beside a downloaded file recording its sha256 (`sha256sum -c` reads it)."""
    path = Path(path)
    return path.with_name(path.name + SHA256_SUFFIX)


def file_sha256(path: str | os.PathLike) -> str:
    """The file's sha256, hex (the download records and the converted-checkpoint cache keys use it)."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while block := file.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _write_sha256(path: Path, digest: str) -> None:
    sha256_path(path).write_text(f"{digest}  {path.name}\n")


def download(
    url: str,
    destination: str | os.PathLike,
    timeout: float = 60.0,
    verify: Callable[[Path], None] | None = None,
    max_bytes: int = MAX_DOWNLOAD_BYTES,
) -> Path:
    """Download `url` to `destination`, following one Drive confirm page; record its sha256 beside it.

    The bytes go to a temp file in the same folder that `verify` (raising DownloadError) checks first:
    a file already at `destination` is replaced only by one that passed, never by a cut or wrong answer
    (a cut without Content-Length is only caught by `verify`). An answer over `max_bytes` (declared or
    sent) is refused as soon as it is known; the temp file goes whatever stops the download (Ctrl-C too).
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    response = _open(url, timeout)
    if response.headers.get_content_type() == "text/html":
        page = response.read().decode("utf-8", "replace")
        response.close()
        confirmed = _drive_confirmation_url(page, response.geturl())
        if confirmed is None:
            raise DownloadError(f"{url} returned a web page, not the file (moved, private or over quota?)")
        response = _open(confirmed, timeout)
        if response.headers.get_content_type() == "text/html":
            response.close()
            raise DownloadError(f"{url} still returned a web page after confirmation (over quota?)")
    declared = response.headers.get("Content-Length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        response.close()
        raise DownloadError(
            f"{url} sends {int(declared)} bytes, over the {max_bytes} accepted (not the file?)"
        )
    handle, temp = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.", suffix=".part")
    try:
        digest = hashlib.sha256()
        with response, os.fdopen(handle, "wb") as out:
            while block := response.read(CHUNK):
                if out.tell() + len(block) > max_bytes:
                    raise DownloadError(f"{url} sent over the {max_bytes} bytes accepted (not the file?)")
                digest.update(block)
                out.write(block)
            expected = response.headers.get("Content-Length")
            if expected is not None and out.tell() != int(expected):
                raise DownloadError(f"{url}: got {out.tell()} of {expected} bytes (connection dropped?)")
        if verify is not None:
            verify(Path(temp))
        sha256_path(destination).unlink(missing_ok=True)  # a crash before the new one: no stale record
        os.replace(temp, destination)
        _write_sha256(destination, digest.hexdigest())
    except (OSError, ValueError, http.client.HTTPException) as error:
        raise DownloadError(f"{url}: download interrupted ({error})") from error
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
    return destination


def verify_released_weights(path: str | os.PathLike, preset: str) -> None:
    """Refuse a file that is not HDF5 or lacks a layer, shape or finite value that `preset` needs."""
    with open(path, "rb") as file:
        if file.read(len(HDF5_SIGNATURE)) != HDF5_SIGNATURE:
            raise DownloadError("it is not an HDF5 file")
    # imported here: torch loads in seconds, and `deephar-ros --help` needs none of it
    from deephar_ros.config import get_preset
    from deephar_ros.keras_weights import WeightsFileError, check_keras_file

    try:
        check_keras_file(path, get_preset(preset))
    except WeightsFileError as error:
        raise DownloadError(f"it does not hold the {preset} weights: {error}") from error


def _untrusted(path: Path, verify: Callable[[Path], None]) -> str | None:
    """Why the cached file cannot be used, or None when it can.

    It must match the sha256 recorded when it was downloaded. A file without a record (put there by
    hand, or cached before records were kept) is checked by `verify` once, and then recorded.
    """
    record = sha256_path(path)
    if record.is_file():
        if record.read_text(errors="replace").split()[:1] == [file_sha256(path)]:
            return None
        return f"its sha256 differs from the one recorded in {record.name} (changed or corrupt since)"
    try:
        verify(path)
    except DownloadError as error:
        return str(error)
    with contextlib.suppress(OSError):  # a read-only cache: verified again next time
        _write_sha256(path, file_sha256(path))
    return None


def fetch_verified(
    url: str, destination: Path, verify: Callable[[Path], None], *, by_hand: str, force: bool = False
) -> Path:
    """`destination`, downloaded from `url` first if absent, untrusted (see _untrusted) or `force`.

    `verify` raises DownloadError for a file that is not the expected one; a download replaces the
    cached file only once it passed. `by_hand` ends the error message: where to get the file otherwise.
    """
    cached = ""
    if destination.is_file() and not force:
        problem = _untrusted(destination, verify)
        if problem is None:
            return destination
        logger.warning("not using %s (%s): downloading it again", destination, problem)
        cached = f"\nthe file cached at {destination} is not used: {problem}"
    elif destination.is_file():
        cached = f"\nthe file cached at {destination} was left as it was"

    def refuse(temp: Path) -> None:
        try:
            verify(temp)
        except DownloadError as error:
            raise DownloadError(f"{destination.name} from {url} is refused: {error}") from error

    try:
        download(url, destination, verify=refuse)
    except DownloadError as error:
        raise DownloadError(f"{error}{cached}\n{by_hand}") from error
    return destination


def fetch_released_weights(
    preset: str, cache_dir: str | os.PathLike | None = None, force: bool = False, url: str | None = None
) -> Path:
    """Path of a released weights file in the cache, downloaded first if absent, untrusted, or `force`.

    A download replaces the cached file only once verified (HDF5 holding every layer of `preset`).
    """
    if preset not in RELEASED_WEIGHTS:
        raise ValueError(f"no released weights for {preset!r}; choose one of {', '.join(RELEASED_WEIGHTS)}")
    released = RELEASED_WEIGHTS[preset]
    destination = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return fetch_verified(
        url or released.url,
        destination / released.filename,
        lambda path: verify_released_weights(path, preset),
        force=force,
        by_hand=(
            f"Download {released.filename} by hand from {released.page} and put it at "
            f"{destination / released.filename} (checked once, then used), or pass its path as --weights"
        ),
    )
