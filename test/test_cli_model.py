"""`deephar-ros` model commands on files the tests make, and the weights download against a local server."""

import hashlib
import re
import shutil
import sys
from http.server import BaseHTTPRequestHandler

import h5py
import numpy as np
import onnx
import pytest
import torch
from fidelity import assert_agrees
from local_http import serving

from deephar_ros.model.config import get_preset
from deephar_ros.model.downloads import DownloadError
from deephar_ros.model.keras_weights import fetch_released_weights, load_model
from deephar_ros.offline.cli import main


def test_convert_writes_a_checkpoint_that_loads(penn_model, penn_weights_file, tmp_path):
    out = tmp_path / "penn.pt"
    assert main(["convert", "--model", "penn_multitask", str(penn_weights_file), str(out)]) == 0
    loaded = load_model(out, "penn_multitask")
    for key, value in penn_model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_convert_refuses_the_other_presets_file(penn_weights_file, tmp_path, capsys):
    assert main(["convert", "--model", "ntu_multitask", str(penn_weights_file), str(tmp_path / "x.pt")]) == 1
    assert "dp1_pb1_heatmaps_conv1" in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists()


def test_infer_clip_writes_keras_named_outputs(ntu_reference_dir, ntu_reference, tmp_path):
    clip, out = tmp_path / "x.npy", tmp_path / "out.npz"
    np.save(clip, ntu_reference["x"])
    weights = str(ntu_reference_dir / "weights.h5")
    args = ["infer-clip", "--weights", weights, "--input", str(clip), "--output", str(out)]
    assert main([*args, "--cache-dir", str(tmp_path / "cache")]) == 0
    with np.load(out) as result:
        assert result.files == list(get_preset("ntu_multitask").output_names)
        for name in result.files:
            assert_agrees(result[name], ntu_reference[name], name)


@pytest.mark.parametrize(
    "array, message",
    [
        (np.zeros((1, 8, 256, 256, 3), np.uint8), "float pixels"),
        (np.full((1, 8, 256, 256, 3), 255.0, np.float32), r"scaled to \[-1, 1\]"),
        (np.zeros((1, 8, 3, 256, 256), np.float32), "expected an array"),
    ],
)
def test_infer_clip_rejects_bad_input(penn_weights_file, tmp_path, capsys, array, message):
    clip = tmp_path / "x.npy"
    np.save(clip, array)
    args = ["infer-clip", "--model", "penn_multitask", "--weights", str(penn_weights_file)]
    args += ["--input", str(clip), "--output", str(tmp_path / "o.npz"), "--cache-dir", str(tmp_path)]
    assert main(args) == 1
    assert re.search(message, capsys.readouterr().err)


@pytest.mark.filterwarnings("ignore")  # tracer notes on the shape checks, legacy-exporter notice
def test_export_onnx_of_the_pose_only_network(ntu_reference_dir, tmp_path):
    out = tmp_path / "pose.onnx"
    args = [
        "export-onnx",
        "--model",
        "ntu_multitask_pose",
        "--weights",
        str(ntu_reference_dir / "weights.h5"),
    ]
    assert main([*args, "--graph", "frames", "--output", str(out), "--cache-dir", str(tmp_path)]) == 0
    graph = onnx.load(str(out))
    assert [output.name for output in graph.graph.output] == ["pose", "features"]


def test_run_without_video_job_says_why(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "deephar_ros.offline.video_job", None)  # import now raises ImportError
    assert main(["run", "clip.mp4"]) == 2
    assert "cannot import deephar_ros.offline.video_job" in capsys.readouterr().err


OCTETS = "application/octet-stream"
NTU_FILE = "weights_3dp+ntu_ar_062.hdf5"
DRIVE_FORM = (  # Google Drive's "can't scan for viruses" page
    b'<form id="download-form" action="/usercontent" method="get">'
    b'<input type="hidden" name="id" value="abc"><input type="hidden" name="confirm" value="t">'
    b'<input type="hidden" name="uuid" value="u-1"></form>'
)


@pytest.fixture(scope="module")
def weights(ntu_reference_dir) -> bytes:
    """The NTU reference file: a valid ntu_multitask Keras file, served as the released one."""
    return (ntu_reference_dir / "weights.h5").read_bytes()


@pytest.fixture(scope="module")
def server_url(weights, ntu_reference_dir, tmp_path_factory):
    """A local server: path -> (body, content type, Content-Length or None to send none and close)."""
    nan_file = tmp_path_factory.mktemp("nan") / "weights.h5"
    shutil.copyfile(ntu_reference_dir / "weights.h5", nan_file)
    with h5py.File(nan_file, "r+") as file:
        file["res0_bn1/res0_bn1/gamma:0"][3] = np.nan
    routes = {
        "/file": (weights, OCTETS, len(weights)),
        "/drive": (DRIVE_FORM, "text/html; charset=utf-8", len(DRIVE_FORM)),
        "/usercontent?id=abc&confirm=t&uuid=u-1": (weights, OCTETS, len(weights)),
        "/cut": (weights[:100], OCTETS, len(weights)),
        "/cut-unsized": (weights[: len(weights) // 2], OCTETS, None),
        "/text": (b"not weights", OCTETS, None),
        "/nan": (nan_file.read_bytes(), OCTETS, None),
    }

    class Handler(BaseHTTPRequestHandler):  # HTTP/1.0: without Content-Length the close ends the body
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            if self.path not in routes:
                self.send_error(404)
                return
            body, content_type, length = routes[self.path]
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            if length is not None:
                self.send_header("Content-Length", str(length))
            self.end_headers()
            self.wfile.write(body)

    with serving(Handler) as url:
        yield url


def _download(cache, url: str, *options: str) -> int:
    return main(["download", "--model", "ntu_multitask", "--cache-dir", str(cache), "--url", url, *options])


@pytest.mark.parametrize("path", ["/file", "/drive"])
def test_download_into_the_cache_with_its_sha256(server_url, weights, tmp_path, path):
    target = fetch_released_weights("ntu_multitask", cache_dir=tmp_path, url=server_url + path)
    assert target == tmp_path / NTU_FILE
    assert target.read_bytes() == weights
    record = tmp_path / f"{NTU_FILE}.sha256"
    assert record.read_text() == f"{hashlib.sha256(weights).hexdigest()}  {NTU_FILE}\n"
    assert sorted(tmp_path.iterdir()) == [target, record]


def test_download_command_uses_the_cache_variable(server_url, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DEEPHAR_ROS_CACHE", str(tmp_path))
    assert main(["download", "--model", "ntu_multitask", "--url", server_url + "/file"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / NTU_FILE)
    # cached: no second download, even from a URL that would fail
    assert main(["download", "--model", "ntu_multitask", "--url", server_url + "/missing"]) == 0


@pytest.mark.parametrize(
    "preset, path, message",
    [
        ("ntu_multitask", "/cut", "connection dropped"),
        ("ntu_multitask", "/cut-unsized", "truncated or corrupt"),  # no Content-Length: only h5py can tell
        ("ntu_multitask", "/text", "not an HDF5 file"),
        ("ntu_multitask", "/nan", "layer 'res0_bn1' weight 'gamma:0' holds 1 NaN or infinite"),
        ("penn_multitask", "/file", "does not hold the penn_multitask weights.*dp1_pb1_heatmaps_conv1"),
        ("ntu_multitask", "/missing", "HTTP 404"),
    ],
)
def test_failed_download_leaves_nothing(server_url, tmp_path, preset, path, message):
    with pytest.raises(DownloadError, match=message):
        fetch_released_weights(preset, cache_dir=tmp_path, url=server_url + path)
    assert list(tmp_path.iterdir()) == []


def test_force_replaces_the_cached_file_only_with_a_verified_one(server_url, weights, tmp_path, capsys):
    assert _download(tmp_path, server_url + "/file") == 0
    target, record = tmp_path / NTU_FILE, tmp_path / f"{NTU_FILE}.sha256"
    recorded = record.read_text()
    for path in ("/cut-unsized", "/text", "/nan", "/missing"):
        capsys.readouterr()
        assert _download(tmp_path, server_url + path, "--force") == 1, path
        assert f"the file cached at {target} was left as it was" in capsys.readouterr().err
        assert target.read_bytes() == weights, path
        assert record.read_text() == recorded
        assert sorted(tmp_path.iterdir()) == [target, record]
    assert _download(tmp_path, server_url + "/drive", "--force") == 0
    assert target.read_bytes() == weights and record.read_text() == recorded


def _corrupt(path) -> None:
    """Flip one byte in the middle: still HDF5 at a glance, and h5py may not notice (a weight changed)."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_a_changed_cached_file_is_downloaded_again(server_url, weights, tmp_path, capsys):
    assert _download(tmp_path, server_url + "/file") == 0
    target = tmp_path / NTU_FILE
    _corrupt(target)
    capsys.readouterr()
    assert _download(tmp_path, "http://127.0.0.1:9/weights.hdf5") == 1  # offline: refused, not returned
    error = capsys.readouterr().err
    assert "are you offline?" in error and "sha256 differs from the one recorded" in error
    assert _download(tmp_path, server_url + "/file") == 0
    assert target.read_bytes() == weights


def test_a_cached_file_without_sha256_is_verified(server_url, weights, tmp_path):
    target, record = tmp_path / NTU_FILE, tmp_path / f"{NTU_FILE}.sha256"
    target.write_bytes(weights[: len(weights) // 2])  # cut short, by hand or by an older version
    assert fetch_released_weights("ntu_multitask", cache_dir=tmp_path, url=server_url + "/file") == target
    assert target.read_bytes() == weights
    record.unlink()
    # a good one put there by hand is used (no download) and recorded
    assert fetch_released_weights("ntu_multitask", cache_dir=tmp_path, url=server_url + "/missing") == target
    assert record.read_text().split()[0] == hashlib.sha256(weights).hexdigest()


def test_offline_download_says_so(tmp_path, capsys):
    args = ["download", "--cache-dir", str(tmp_path), "--url", "http://127.0.0.1:9/weights.hdf5"]
    assert main(args) == 1
    error = capsys.readouterr().err
    assert (
        "are you offline?" in error and "drive.google.com/file/d/1I6GftXEkL5nohLA60Vi6faW0rvTZg6Kx" in error
    )
