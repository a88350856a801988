"""Downloading one released file into the cache, safely (on request only, never at import).

A download goes to a temp file beside its destination that the caller's `verify` checks before it is
renamed into place, so neither an interrupted download nor a wrong answer ever replaces a file; its
sha256 is recorded beside it (`<file>.sha256`), and a cached file that no longer matches is
downloaded again (`fetch_verified`). Large Google Drive files first answer with a "can't scan for
viruses" page whose form carries a confirm token: it is followed once. What was released, and where,
is in releases.py; keras_weights.py and yolox_detector.py verify their own kind of file.
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
from pathlib import Path

CHUNK = 1 << 20
# Largest download accepted: ~3x the largest released file (the Penn weights, ~82 MB; YOLOX-s ~35 MB).
# A server sending more (a wrong URL, a hostile mirror) would fill the disk at network speed.
MAX_DOWNLOAD_BYTES = 256 << 20
SHA256_SUFFIX = ".sha256"

logger = logging.getLogger(__name__)


class DownloadError(RuntimeError):
    """A download that could not be completed (offline, refused, or not the expected file)."""


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
