"""Write scikit-learn's 8×8 digits, made imbalanced, as a folder of class folders of PNG files.

    python tasks/bundled/make_digits.py data/digits            # digits 3, 8 and 9 rare (30 images each)
    python tasks/bundled/make_digits.py data/digits --rare 1 7 --keep 20

The digits (1,797 images, about 180 of each digit, from the UCI handwritten digits
data that ships inside scikit-learn: nothing is downloaded) are 8×8 grey levels 0–16;
they are written as 8-bit PNGs (0–255) to OUT/<digit>/<index>.png. The rare digits
keep `--keep` images drawn at random with a fixed seed; the rest keep all of theirs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def make_digits(out: str | Path, rare=(3, 8, 9), keep: int = 30, random_state: int = 0) -> dict[int, int]:
    """Write the imbalanced digits under `out`; return the images written per digit."""
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(random_state)
    written = {}
    for digit in range(10):
        rows = np.flatnonzero(digits.target == digit)
        if digit in rare:
            rows = np.sort(rng.choice(rows, size=min(keep, len(rows)), replace=False))
        folder = Path(out) / str(digit)
        folder.mkdir(parents=True, exist_ok=True)
        for row in rows:
            pixels = np.round(digits.images[row] * 255 / 16).astype(np.uint8)
            Image.fromarray(pixels, mode="L").save(folder / f"{row:04d}.png")
        written[digit] = len(rows)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="folder to write (class folders 0 … 9 are created in it)")
    parser.add_argument("--rare", type=int, nargs="+", default=[3, 8, 9], help="the digits to make rare")
    parser.add_argument("--keep", type=int, default=30, help="images kept of each rare digit")
    parser.add_argument("--random-state", type=int, default=0)
    args = parser.parse_args(argv)
    written = make_digits(args.out, tuple(args.rare), args.keep, args.random_state)
    print(f"Wrote {sum(written.values())} images to {args.out}: " + ", ".join(f"{d}: {n}" for d, n in written.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
