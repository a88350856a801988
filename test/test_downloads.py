"""Downloads have a size cap, and Ctrl-C of `deephar-ros download` ends with one line (issue 18)."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler

import pytest
from local_http import serving

from deephar_ros.choices import YOLOX_DETECTORS
from deephar_ros.model import downloads
from deephar_ros.model.downloads import DownloadError, download
from deephar_ros.model.keras_weights import fetch_released_weights
from deephar_ros.model.releases import RELEASED_DETECTORS, RELEASED_WEIGHTS
from deephar_ros.offline.cli import main

CAP = 1 << 20


@pytest.fixture(scope="module")
def endless_server():
    """/endless: bytes until the client hangs up, no Content-Length; /declared: 5 GB declared, 1 MB sent."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            if self.path == "/declared":
                self.send_header("Content-Length", str(5 << 30))
            self.end_headers()
            try:
                for _ in range(1 if self.path == "/declared" else 1 << 16):
                    self.wfile.write(bytes(1 << 16))
            except OSError:  # the client stopped reading: the point
                pass

    with serving(Handler) as url:
        yield url


@pytest.mark.parametrize(
    ("path", "message"), [("/endless", "sent over the"), ("/declared", "sends 5368709120 bytes")]
)
def test_a_download_over_the_cap_is_refused_and_leaves_nothing(endless_server, tmp_path, path, message):
    with pytest.raises(DownloadError, match=message):
        download(endless_server + path, tmp_path / "weights.h5", max_bytes=CAP)
    assert list(tmp_path.iterdir()) == []


def test_the_default_cap_holds_every_listed_file_with_room():
    assert downloads.MAX_DOWNLOAD_BYTES >= 2 * 100 << 20  # the largest, Penn's weights, is ~82 MB


def test_ctrl_c_during_a_download_ends_with_one_line_and_leaves_nothing(tmp_path, monkeypatch, capsys):
    class Interrupted:
        headers = downloads.http.client.HTTPMessage()

        def read(self, *args):
            raise KeyboardInterrupt

        def geturl(self):
            return "http://example.invalid/file"

        def close(self):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *args):
            return False

    monkeypatch.setattr(downloads, "_open", lambda url, timeout: Interrupted())
    argv = [
        "download",
        "--model",
        "ntu_multitask",
        "--cache-dir",
        str(tmp_path),
        "--url",
        "http://example.invalid",
    ]
    assert main(argv) == 130
    captured = capsys.readouterr()
    assert captured.err.strip().splitlines() == [
        "deephar-ros download: interrupted; the cache was left as it was"
    ]
    assert list(tmp_path.iterdir()) == []


def test_convert_on_a_directory_says_so_in_one_line(tmp_path, capsys):
    assert main(["convert", str(tmp_path), str(tmp_path / "out.pt")]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "is a directory, not a file" in line and "errno" not in line.lower()


def test_a_failed_download_says_where_a_file_fetched_by_hand_goes(tmp_path, monkeypatch):
    def offline(url, timeout):
        raise DownloadError(f"{url}: cannot connect (are you offline?)")

    monkeypatch.setattr(downloads, "_open", offline)
    with pytest.raises(DownloadError, match="by hand") as refused:
        fetch_released_weights("ntu_multitask", cache_dir=tmp_path)
    filename = RELEASED_WEIGHTS["ntu_multitask"].filename
    assert f"put it at {tmp_path / filename}" in str(refused.value)


def test_the_yolox_names_users_pick_are_the_released_files() -> None:
    """choices.py names the detectors (light, imports nothing); releases.py says where each one is."""
    assert tuple(RELEASED_DETECTORS) == YOLOX_DETECTORS
    assert all(entry.name == name for name, entry in RELEASED_DETECTORS.items())
