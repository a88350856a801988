"""One antialiased crop per window size: the time `warp_crops` takes, from a 1080p box to a frame-filling
8000x8000 window, and the 2f5c218 full-resolution tent (`crops._tent_warp` at the whole scale) beside it.

Windows over crops.PRESHRINK_SCALE crops are block-averaged first, so a crop's cost follows the window's
area once (one pass of OpenCV's area resize), not its area times the scale.

    .venv/bin/python bench/bench_crops.py
    .venv/bin/python bench/bench_crops.py --sides 1080 8000 --repeats 5 --no-reference
"""

import argparse
import statistics
import time

import numpy as np
from machine import cpu_model

from deephar_ros.perception.crops import CROP_SIZE, CropWindow, _tent_warp, warp_crops


def median_ms(crop, image: np.ndarray, window: CropWindow, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        crop(image, window)
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


def full_resolution_tent(image: np.ndarray, window: CropWindow) -> np.ndarray:
    """The crop as 2f5c218 made it: the tent of the whole scale over the window at full resolution."""
    return _tent_warp(image, window, CROP_SIZE, window.size / CROP_SIZE)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sides", type=int, nargs="+", default=[1080, 2160, 4096, 8000])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-reference", action="store_true", help="skip the slow full-resolution tent")
    args = parser.parse_args()
    print(f"CPU: {cpu_model()}")
    print("| square image and window side | warp_crops median | full-resolution tent median |")
    print("|---|---|---|")
    rng = np.random.default_rng(0)
    for side in args.sides:
        image = rng.integers(0, 256, size=(side, side, 3), dtype=np.uint8)
        window = CropWindow(cx=side / 2, cy=side / 2, size=float(side))
        crop_ms = median_ms(lambda image, window: warp_crops(image, [window]), image, window, args.repeats)
        reference = "-"
        if not args.no_reference:
            reference = f"{median_ms(full_resolution_tent, image, window, 1):.1f} ms"
        print(f"| {side} | {crop_ms:.1f} ms | {reference} |")


if __name__ == "__main__":
    main()
