"""The YOLOX person detector on ONNX files the tests build: decoding, letterbox, channel order, file checks,
execution providers, create_detector and the verified download (opener monkeypatched, nothing fetched)."""

import email.message
import hashlib
import io
import math
import subprocess
import sys
import urllib.response
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper, numpy_helper

from deephar_ros.choices import DETECTORS
from deephar_ros.model import downloads
from deephar_ros.model.downloads import DownloadError
from deephar_ros.offline.cli import main
from deephar_ros.perception.detection import create_detector, default_min_score
from deephar_ros.perception.results import Box
from deephar_ros.perception.yolox_detector import (
    DetectorWeightsError,
    YoloxPersonDetector,
    execution_providers,
    fetch_yolox,
)

# A model input that is not square (64 rows, 96 columns: 8x12, 4x6 and 2x3 cells), so a grid read in the
# wrong order or with height and width swapped puts boxes elsewhere.
INPUT = (64, 96)
ANCHORS = 8 * 12 + 4 * 6 + 2 * 3
# The image: 192 x 384, resized by 0.25 to 48 x 96, padded below to 64 x 96; boxes come back x 4.
IMAGE_SHAPE = (192, 384, 3)


def anchor(stride: int, column: int, row: int) -> int:
    """Index of a grid cell in the (1, N, 85) output: the 8, 16 then 32 grids, each row by row."""
    first = {8: 0, 16: 8 * 12, 32: 8 * 12 + 4 * 6}[stride]
    return first + row * (INPUT[1] // stride) + column


def raw_row(
    x: float, y: float, w: float, h: float, objectness: float, person: float, car: float = 0.0
) -> list:
    """One anchor's raw output: offsets in cells, sizes as log of cells, then COCO's person ... car ..."""
    classes = [0.0] * 80
    classes[0], classes[2] = person, car
    return [x, y, w, h, objectness, *classes]


def build_model(
    path: Path,
    rows: dict[int, list[float]] | None = None,
    probes: list[tuple[int, int, int, int]] = (),
    input_shape: list | None = None,
    output_shape: tuple[int, ...] = (1, ANCHORS, 85),
) -> Path:
    """An ONNX file whose output is the crafted `rows` plus, per probe (anchor, channel, y, x), the input
    pixel at (channel, y, x) / 255 added to that anchor's objectness: what the detector fed it shows."""
    input_shape = input_shape or [1, 3, *INPUT]
    base = np.zeros(output_shape, np.float32)
    for index, values in (rows or {}).items():
        base[0, index] = values
    initializers = [numpy_helper.from_array(base, "base")]
    nodes = []
    if probes:
        height, width = input_shape[2:]
        pixels = [c * height * width + y * width + x for _, c, y, x in probes]
        placement = np.zeros((len(probes), base.size), np.float32)
        for i, (index, *_) in enumerate(probes):
            placement[i, index * output_shape[2] + 4] = 1 / 255
        initializers += [
            numpy_helper.from_array(np.array([-1], np.int64), "flat"),
            numpy_helper.from_array(np.array(pixels, np.int64), "pixels"),
            numpy_helper.from_array(np.array([1, len(probes)], np.int64), "row"),
            numpy_helper.from_array(placement, "placement"),
            numpy_helper.from_array(np.array(output_shape, np.int64), "shape"),
        ]
        nodes += [
            helper.make_node("Reshape", ["images", "flat"], ["flat_images"]),
            helper.make_node("Gather", ["flat_images", "pixels"], ["picked"]),
            helper.make_node("Reshape", ["picked", "row"], ["picked_row"]),
            helper.make_node("MatMul", ["picked_row", "placement"], ["placed_flat"]),
            helper.make_node("Reshape", ["placed_flat", "shape"], ["placed"]),
            helper.make_node("Add", ["base", "placed"], ["output"]),
        ]
    else:
        nodes.append(helper.make_node("Identity", ["base"], ["output"]))
    graph = helper.make_graph(
        nodes,
        "crafted_yolox",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, input_shape)],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, list(output_shape))],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8  # what onnxruntime 1.x reads
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    return path


PERSON_A = Box(144, 24, 208, 120, 0.9)  # stride 8: centre (44, 18), 16 x 24 letterboxed
PERSON_B = Box(256, 128, 320, 192, 0.72)  # stride 32: (64, 32)-(80, 64), cut at the image's bottom
PERSON_C = Box(224, 32, 288, 96, 0.6)  # stride 16: centre (64, 16), 16 x 16
PEOPLE_ROWS = {
    anchor(8, 5, 2): raw_row(0.5, 0.25, math.log(2), math.log(3), 0.9, 1.0),
    # nearly the same box (IoU 0.78) from the next cell, less sure: NMS keeps A only
    anchor(8, 6, 2): raw_row(-0.25, 0.25, math.log(2), math.log(3), 0.85, 1.0),
    anchor(32, 2, 1): raw_row(0.25, 0.5, math.log(0.5), 0.0, 0.8, 0.9),
    anchor(16, 4, 1): raw_row(0.0, 0.0, 0.0, 0.0, 0.6, 1.0),
    anchor(8, 1, 1): raw_row(0.5, 0.5, 0.0, 0.0, 0.95, 0.0, car=0.99),  # a sure car
    anchor(8, 9, 4): raw_row(0.5, 0.5, 0.0, 0.0, 0.9, 0.3),  # person 0.27 < 0.3
    anchor(8, 11, 7): raw_row(0.5, 0.5, 200.0, 0.0, 0.9, 1.0),  # exp overflows: dropped, not inf
}


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("yolox")
    build_model(folder / "people.onnx", PEOPLE_ROWS)
    build_model(folder / "empty.onnx")
    # letterbox and channel probes: the image is one colour, RGB (90, 160, 230), BGR in the input
    centred = [0.5, 0.5, math.log(2), math.log(2)]
    rows = {anchor(8, column, 0): [*centred, 0.0, 1.0] + [0.0] * 79 for column in (1, 4, 7, 10)}
    probes = [
        (anchor(8, 1, 0), 0, 47, 95),  # blue of the last resized pixel: 230
        (anchor(8, 4, 0), 2, 0, 0),  # red of the first: 90 (a centred letterbox would pad there)
        (anchor(8, 7, 0), 1, 48, 0),  # first padding row: 114
        (anchor(8, 10, 0), 1, 63, 95),  # last padding pixel: 114
    ]
    build_model(folder / "probes.onnx", rows, probes)
    return folder


def detector(models: Path, name: str = "people.onnx", **options) -> YoloxPersonDetector:
    return YoloxPersonDetector(models / name, **options)


def approx_boxes(boxes: list[Box]) -> list:
    return [pytest.approx([b.x0, b.y0, b.x1, b.y1, b.score], abs=1e-5) for b in boxes]


def as_lists(boxes: list[Box]) -> list[list[float]]:
    return [[b.x0, b.y0, b.x1, b.y1, b.score] for b in boxes]


def test_boxes_come_back_in_the_original_image_pixels(models):
    found = detector(models).detect(np.full(IMAGE_SHAPE, 100, np.uint8))
    # car, low score, overflowing box and the duplicate of A left out; best first
    assert as_lists(found) == approx_boxes([PERSON_A, PERSON_B, PERSON_C])


def test_score_threshold_and_max_people(models):
    image = np.full(IMAGE_SHAPE, 100, np.uint8)
    assert as_lists(detector(models, min_score=0.7).detect(image)) == approx_boxes([PERSON_A, PERSON_B])
    assert as_lists(detector(models, max_people=1).detect(image)) == approx_boxes([PERSON_A])
    # below 0.27 the weak person counts too
    assert len(detector(models, min_score=0.25).detect(image)) == 4


def test_nms_keeps_both_boxes_when_they_do_not_overlap_enough(models):
    found = detector(models, nms_iou=0.9).detect(np.full(IMAGE_SHAPE, 100, np.uint8))
    assert as_lists(found)[:2] == approx_boxes([PERSON_A, Box(152, 24, 216, 120, 0.85)])


# 190 rows x 0.25 = 47.5, truncated like YOLOX's preproc: row 47 of the input is padding too
@pytest.mark.parametrize("height, last_row_blue", [(192, 230), (190, 114)])
def test_letterbox_at_the_top_left_filled_with_114_and_bgr_input(models, height, last_row_blue):
    image = np.empty((height, 384, 3), np.uint8)
    image[:] = (90, 160, 230)
    found = detector(models, "probes.onnx").detect(image)
    assert all((b.y0, b.y1, b.width) == pytest.approx((0, 48, 64)) for b in found)
    scores = {round(b.x0): b.score for b in found}
    assert scores == pytest.approx({16: last_row_blue / 255, 112: 90 / 255, 208: 114 / 255, 304: 114 / 255})


def test_an_empty_output_finds_nobody(models):
    assert detector(models, "empty.onnx").detect(np.full(IMAGE_SHAPE, 100, np.uint8)) == []


@pytest.mark.parametrize("shape", [(1, 1, 3), (3, 5000, 3), (5000, 3, 3), (0, 10, 3), (2000, 3000, 3)])
def test_images_of_any_size(models, shape):
    found = detector(models).detect(np.zeros(shape, np.uint8))
    for box in found:
        assert 0 <= box.x0 < box.x1 <= shape[1] and 0 <= box.y0 < box.y1 <= shape[0]


def test_a_non_contiguous_image_is_read_as_its_pixels(models):
    rng = np.random.default_rng(0)
    big = rng.integers(0, 255, (400, 800, 3), dtype=np.uint8)
    view = big[::2, ::-2]
    probes = detector(models, "probes.onnx")
    assert probes.detect(view) == probes.detect(np.ascontiguousarray(view))


@pytest.mark.parametrize(
    "image",
    [np.zeros((10, 10, 3), np.float32), np.zeros((10, 10), np.uint8), np.zeros((10, 10, 4), np.uint8)],
)
def test_bad_images_are_refused(models, image):
    with pytest.raises(ValueError, match=r"uint8 \(H, W, 3\) RGB"):
        detector(models).detect(image)


def test_missing_corrupt_and_truncated_files_are_refused(models, tmp_path):
    with pytest.raises(DetectorWeightsError, match=r"absent\.onnx: no such file"):
        YoloxPersonDetector(tmp_path / "absent.onnx")
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"<html>Not Found</html>")
    with pytest.raises(DetectorWeightsError, match=r"corrupt\.onnx: onnxruntime cannot load it"):
        YoloxPersonDetector(corrupt)
    truncated = tmp_path / "truncated.onnx"
    data = (models / "probes.onnx").read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(DetectorWeightsError, match=r"truncated\.onnx: onnxruntime cannot load it"):
        YoloxPersonDetector(truncated)


@pytest.mark.parametrize(
    "input_shape, output_shape, message",
    [
        ([1, 3, 60, 96], (1, ANCHORS, 85), r"input is tensor\(float\) \[1, 3, 60, 96\].*multiples of 32"),
        ([1, 1, 64, 96], (1, ANCHORS, 85), "not float"),
        ([2, 3, 64, 96], (1, ANCHORS, 85), "not float"),
        (["height", "width"], (1, ANCHORS, 85), "not float"),
        (
            [1, 3, 64, 96],
            (1, ANCHORS - 1, 85),
            rf"output is float32 \(1, {ANCHORS - 1}, 85\), not .*\(1, 126, 85\)",
        ),
        ([1, 3, 64, 96], (1, ANCHORS, 6), "not the float32"),
    ],
)
def test_models_of_other_shapes_are_refused(tmp_path, input_shape, output_shape, message):
    path = build_model(tmp_path / "odd.onnx", input_shape=input_shape, output_shape=output_shape)
    with pytest.raises(DetectorWeightsError, match=message) as error:
        YoloxPersonDetector(path)
    assert str(error.value).startswith(f"{path}: ")


def test_a_dynamic_batch_export_is_accepted(tmp_path):
    path = build_model(tmp_path / "dynamic.onnx", input_shape=["batch", 3, 64, 96])
    assert YoloxPersonDetector(path).input_size == INPUT


def test_execution_providers():
    cuda = "CUDAExecutionProvider"
    cpu = "CPUExecutionProvider"
    assert execution_providers("cuda:1", [cuda, cpu]) == [(cuda, {"device_id": 1}), cpu]
    assert execution_providers("auto", [cuda, cpu]) == [(cuda, {"device_id": 0}), cpu]
    assert execution_providers("cpu", [cuda, cpu]) == [cpu]
    assert execution_providers("cuda", [cpu]) == [cpu]
    with pytest.raises(ValueError, match="auto, cpu, cuda or cuda:N"):
        execution_providers("gpu", [cuda, cpu])


@pytest.mark.filterwarnings("ignore:Specified provider")  # onnxruntime's note that it has no CUDA
def test_cuda_asked_for_but_absent_runs_on_the_cpu(models, monkeypatch):
    assert detector(models, device="cuda").provider == "CPUExecutionProvider"
    # an onnxruntime that lists CUDA without being able to start it
    monkeypatch.setattr(
        onnxruntime, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"]
    )
    assert detector(models, device="cuda:0").provider == "CPUExecutionProvider"
    real = onnxruntime.InferenceSession

    def refusing_cuda(path, sess_options, providers):
        if any("CUDA" in str(p) for p in providers):
            raise RuntimeError("CUDA failure 35: driver version is insufficient")
        return real(path, sess_options=sess_options, providers=providers)

    monkeypatch.setattr(onnxruntime, "InferenceSession", refusing_cuda)
    found = detector(models, device="cuda").detect(np.full(IMAGE_SHAPE, 100, np.uint8))
    assert as_lists(found) == approx_boxes([PERSON_A, PERSON_B, PERSON_C])


def test_create_detector_names_and_default_scores(models, tmp_path, monkeypatch):
    assert {"yolox-nano", "yolox-tiny", "yolox-s"} <= set(DETECTORS)
    assert default_min_score("yolox-tiny") == 0.3 and default_min_score("hog") == 0.6
    made = create_detector("yolox-tiny", None, 4, weights=models / "people.onnx")
    assert isinstance(made, YoloxPersonDetector)
    assert (made.min_score, made.max_people, made.provider) == (0.3, 4, "CPUExecutionProvider")
    assert create_detector("yolox-s", 0.5, 2, device="auto", weights=models / "people.onnx").min_score == 0.5
    with pytest.raises(ValueError, match="takes no weights file"):
        create_detector("hog", None, 4, weights=models / "people.onnx")
    # weights None: the file `deephar-ros download --detector` caches
    monkeypatch.setenv("DEEPHAR_ROS_CACHE", str(tmp_path))
    with pytest.raises(
        DetectorWeightsError, match=r"yolox_nano\.onnx: .*deephar-ros download --detector yolox-nano"
    ):
        create_detector("yolox-nano", None, 4)
    (tmp_path / "yolox_nano.onnx").write_bytes((models / "people.onnx").read_bytes())
    assert create_detector("yolox-nano", None, 4).input_size == INPUT


def test_without_onnxruntime_the_error_says_how_to_install_it(models, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import now raises ImportError
    with pytest.raises(ImportError, match="pip install onnxruntime"):
        create_detector("yolox-tiny", None, 4, weights=models / "people.onnx")
    assert create_detector("hog", None, 4).min_score == 0.6


def test_detection_imports_without_onnxruntime():
    code = (
        "import sys; sys.modules['onnxruntime'] = None\n"
        "from deephar_ros.perception.detection import DETECTORS, create_detector\n"
        "create_detector('hog', None, 4); print(','.join(DETECTORS))"
    )
    repo = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=repo
    )
    assert "yolox-tiny" in result.stdout


# ---- download: the opener answers what the test says; nothing leaves this machine


TINY_URL = "https://github.com/Megvii-BaseDetection/YOLOX/releases/download/0.1.1rc0/yolox_tiny.onnx"


@pytest.fixture(scope="module")
def tiny_export(tmp_path_factory) -> bytes:
    """A model shaped like the released yolox_tiny.onnx: 416 x 416 in, (1, 3549, 85) out."""
    path = tmp_path_factory.mktemp("tiny") / "yolox_tiny.onnx"
    return build_model(path, input_shape=[1, 3, 416, 416], output_shape=(1, 3549, 85)).read_bytes()


@pytest.fixture
def answers(monkeypatch) -> dict:
    """What the opener answers ({url: body}; a missing url: offline) and the urls asked for, in order."""
    served = {"asked": []}

    def opener(url: str, timeout: float) -> urllib.response.addinfourl:
        served["asked"].append(url)
        if url not in served:
            raise DownloadError(f"cannot reach {url} (offline): are you offline?")
        headers = email.message.Message()
        headers["Content-Type"] = "application/octet-stream"
        headers["Content-Length"] = str(len(served[url]))
        return urllib.response.addinfourl(io.BytesIO(served[url]), headers, url, 200)

    monkeypatch.setattr(downloads, "_open", opener)
    return served


def test_fetch_verifies_and_records_the_download(tmp_path, answers, tiny_export):
    answers[TINY_URL] = tiny_export
    target = fetch_yolox("yolox-tiny", cache_dir=tmp_path)
    assert target == tmp_path / "yolox_tiny.onnx" and target.read_bytes() == tiny_export
    record = tmp_path / "yolox_tiny.onnx.sha256"
    assert record.read_text() == f"{hashlib.sha256(tiny_export).hexdigest()}  yolox_tiny.onnx\n"
    del answers[TINY_URL]  # cached: no second download
    assert fetch_yolox("yolox-tiny", cache_dir=tmp_path) == target
    assert answers["asked"] == [TINY_URL]
    assert YoloxPersonDetector(target).input_size == (416, 416)


@pytest.mark.parametrize(
    "body, message",
    [
        (b"Not Found", "it is not the yolox-tiny ONNX export: onnxruntime cannot load it"),
        (
            None,
            "it is not the yolox-tiny ONNX export: its input is 64x96, not 416x416",
        ),  # a YOLOX export of another size
    ],
)
def test_a_wrong_answer_is_refused_and_leaves_nothing(tmp_path, answers, models, body, message):
    answers[TINY_URL] = (models / "people.onnx").read_bytes() if body is None else body
    with pytest.raises(DownloadError, match=f"yolox_tiny.onnx from {TINY_URL} is refused: {message}"):
        fetch_yolox("yolox-tiny", cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_download_command_keeps_a_good_file_over_a_bad_answer(tmp_path, answers, tiny_export, capsys):
    answers[TINY_URL] = tiny_export
    args = ["download", "--detector", "yolox-tiny", "--cache-dir", str(tmp_path)]
    assert main(args) == 0
    target = tmp_path / "yolox_tiny.onnx"
    assert capsys.readouterr().out.strip() == str(target)
    recorded = (tmp_path / "yolox_tiny.onnx.sha256").read_text()
    answers[TINY_URL] = b"\x08\x07garbage" * 100
    assert main([*args, "--force"]) == 1
    error = capsys.readouterr().err
    assert "is refused" in error and f"the file cached at {target} was left as it was" in error
    assert "releases/tag/0.1.1rc0" in error  # where to get it by hand
    assert target.read_bytes() == tiny_export
    assert (tmp_path / "yolox_tiny.onnx.sha256").read_text() == recorded
    assert sorted(p.name for p in tmp_path.iterdir()) == ["yolox_tiny.onnx", "yolox_tiny.onnx.sha256"]


def test_download_command_takes_a_model_or_a_detector(answers, capsys):
    with pytest.raises(SystemExit):
        main(["download", "--model", "ntu_multitask", "--detector", "yolox-s"])
    assert "not allowed with argument" in capsys.readouterr().err


def test_the_detector_session_does_not_spin_wait(models):
    """Its idle threads must not hold the cores the network and the tracker need between frames."""
    options = detector(models).session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
