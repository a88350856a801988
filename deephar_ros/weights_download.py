"""Fetch the authors' released SPNet weight files into a cache folder (on request only, never at import).

The TPAMI 2020 multitask files are published on Google Drive (links in the authors' evaluation
scripts, exp/ntu/eval_ntu_multitask.py and exp/pennaction/eval_penn_multitask.py); see model/README.md.
Large Drive files first answer with a "can't scan for viruses" page whose form carries a confirm
token: it is followed once. Downloads go to a temp file renamed into place, so an interrupted
download never leaves a file that looks complete.
"""

from __future__ import annotations

import html
import http.client
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
CHUNK = 1 << 20


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


def download(url: str, destination: str | os.PathLike, timeout: float = 60.0) -> Path:
    """Download `url` to `destination` (temp file, then rename), following one Drive confirm page."""
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
    handle, temp = tempfile.mkstemp(dir=destination.parent, prefix=destination.name, suffix=".part")
    try:
        with response, os.fdopen(handle, "wb") as out:
            shutil.copyfileobj(response, out, CHUNK)
            expected = response.headers.get("Content-Length")
            if expected is not None and out.tell() != int(expected):
                raise DownloadError(f"{url}: got {out.tell()} of {expected} bytes (connection dropped?)")
        os.replace(temp, destination)
    except (OSError, ValueError, http.client.HTTPException) as error:
        raise DownloadError(f"{url}: download interrupted ({error})") from error
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
    return destination


def fetch_released_weights(
    preset: str, cache_dir: str | os.PathLike | None = None, force: bool = False, url: str | None = None
) -> Path:
    """Path of a released weights file in the cache, downloaded first if absent (or if `force`)."""
    if preset not in RELEASED_WEIGHTS:
        raise ValueError(f"no released weights for {preset!r}; choose one of {', '.join(RELEASED_WEIGHTS)}")
    released = RELEASED_WEIGHTS[preset]
    destination = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    destination = destination / released.filename
    if destination.is_file() and not force:
        return destination
    try:
        download(url or released.url, destination)
    except DownloadError as error:
        raise DownloadError(f"{error}\nDownload {released.filename} by hand from {released.page}") from error
    with open(destination, "rb") as file:
        if file.read(len(HDF5_SIGNATURE)) != HDF5_SIGNATURE:
            destination.unlink()
            raise DownloadError(f"{released.filename} from {url or released.url} is not an HDF5 file")
    return destination
