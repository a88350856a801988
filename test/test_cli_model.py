"""`deephar-ros` model commands on files the tests make, and the weights download against a local server."""

import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import onnx
import pytest
import torch
from fidelity import assert_agrees

from deephar_ros.cli import main
from deephar_ros.config import get_preset
from deephar_ros.keras_weights import load_model
from deephar_ros.weights_download import HDF5_SIGNATURE, DownloadError, fetch_released_weights

PAYLOAD = HDF5_SIGNATURE + bytes(range(256)) * 64


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
    monkeypatch.setitem(sys.modules, "deephar_ros.video_job", None)  # import now raises ImportError
    assert main(["run", "clip.mp4"]) == 2
    assert "cannot import deephar_ros.video_job" in capsys.readouterr().err


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def _send(self, body: bytes, content_type: str, length: int | None = None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/file":
            self._send(PAYLOAD, "application/octet-stream")
        elif self.path == "/drive":  # Google Drive's "can't scan for viruses" page
            form = (
                '<form id="download-form" action="/usercontent" method="get">'
                '<input type="hidden" name="id" value="abc"><input type="hidden" name="confirm" value="t">'
                '<input type="hidden" name="uuid" value="u-1"></form>'
            )
            self._send(form.encode(), "text/html; charset=utf-8")
        elif self.path == "/usercontent?id=abc&confirm=t&uuid=u-1":
            self._send(PAYLOAD, "application/octet-stream")
        elif self.path == "/cut":
            self._send(PAYLOAD[:100], "application/octet-stream", length=len(PAYLOAD))
        elif self.path == "/text":
            self._send(b"not weights", "application/octet-stream")
        else:
            self.send_error(404)


@pytest.fixture(scope="module")
def server_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("path", ["/file", "/drive"])
def test_download_into_the_cache(server_url, tmp_path, path):
    target = fetch_released_weights("penn_multitask", cache_dir=tmp_path, url=server_url + path)
    assert target == tmp_path / "weights_mpii+penn_ar_028.hdf5"
    assert target.read_bytes() == PAYLOAD
    assert list(tmp_path.iterdir()) == [target]


def test_download_command_uses_the_cache_variable(server_url, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DEEPHAR_ROS_CACHE", str(tmp_path))
    assert main(["download", "--model", "ntu_multitask", "--url", server_url + "/file"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "weights_3dp+ntu_ar_062.hdf5")
    # cached: no second download, even from a URL that would fail
    assert main(["download", "--model", "ntu_multitask", "--url", server_url + "/missing"]) == 0


@pytest.mark.parametrize(
    "path, message",
    [("/cut", "interrupted|connection dropped"), ("/text", "not an HDF5 file"), ("/missing", "HTTP 404")],
)
def test_failed_download_leaves_nothing(server_url, tmp_path, path, message):
    with pytest.raises(DownloadError, match=message):
        fetch_released_weights("penn_multitask", cache_dir=tmp_path, url=server_url + path)
    assert list(tmp_path.iterdir()) == []


def test_offline_download_says_so(tmp_path, capsys):
    args = ["download", "--cache-dir", str(tmp_path), "--url", "http://127.0.0.1:9/weights.hdf5"]
    assert main(args) == 1
    error = capsys.readouterr().err
    assert (
        "are you offline?" in error and "drive.google.com/file/d/1I6GftXEkL5nohLA60Vi6faW0rvTZg6Kx" in error
    )
