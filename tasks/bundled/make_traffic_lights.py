"""Simulate traffic-light crops, distributed like a real street: red 56 %, yellow 3 %, green 41 %.

    python tasks/bundled/make_traffic_lights.py data/lights                  # 3,000 crops, seed 0
    python tasks/bundled/make_traffic_lights.py data/lights --images 10000 --seed 1

Each crop is a small RGB image (24×24 by default) of a traffic light as a camera on a street
would catch it: a dark housing with three lamps (red at the top, yellow in the middle, green at
the bottom), one of them lit, drawn at a random position and scale over a random background
(sky, buildings or foliage), with varied brightness, a slight tilt of the lamps' hue, blur and
sensor noise. Lit lamps glow; unlit ones are dim. The class is the lit lamp's colour, and the
crops are written to OUT/<red|yellow|green>/<index>.png. Nothing is downloaded: the same seed
writes the same images.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

SHARES = {"red": 0.56, "yellow": 0.03, "green": 0.41}
LAMPS = {"red": (0, (235, 40, 30)), "yellow": (1, (245, 190, 25)), "green": (2, (40, 220, 90))}
BACKGROUNDS = ((120, 160, 215), (170, 170, 175), (70, 110, 60), (35, 40, 60))  # sky, concrete, foliage, dusk


def counts_for(images: int) -> dict[str, int]:
    """Images per class for `images` in all, in the street's shares (the largest class takes the rounding)."""
    counts = {label: int(round(share * images)) for label, share in SHARES.items()}
    counts["red"] += images - sum(counts.values())
    return counts


def draw(label: str, rng, size: int = 24):
    """One crop of a traffic light showing `label`, as an (size, size, 3) uint8 array."""
    import numpy as np

    # Background: a base colour with a vertical gradient and blotches.
    base = np.array(BACKGROUNDS[rng.integers(len(BACKGROUNDS))], dtype=float) * rng.uniform(0.6, 1.2)
    gradient = np.linspace(-25, 25, size)[:, None, None] * rng.uniform(-1, 1)
    image = np.broadcast_to(base, (size, size, 3)) + gradient + rng.normal(0, 12, (size, size, 3))
    # Housing: a dark rounded-ish box, 40–70 % of the crop's height, anywhere it fits.
    height = int(rng.uniform(0.4, 0.7) * size) // 3 * 3
    width = max(4, int(height / 3 * rng.uniform(0.95, 1.25)))
    top = rng.integers(0, size - height + 1)
    left = rng.integers(0, size - width + 1)
    image[top:top + height, left:left + width] = rng.uniform(15, 45)
    rows, columns = np.mgrid[0:size, 0:size]
    lit, colour = LAMPS[label]
    brightness = rng.uniform(0.65, 1.1)
    radius = height / 6 * rng.uniform(0.7, 0.9)
    centre_x = left + width / 2
    for slot, (_, lamp_colour) in enumerate(sorted(LAMPS.values())):
        centre_y = top + height / 6 * (2 * slot + 1)
        distance = np.hypot(rows - centre_y, columns - centre_x)
        hue = np.clip(np.array(lamp_colour) + rng.normal(0, 18, 3), 0, 255)
        if slot == lit:
            glow = np.clip(1.6 - distance / (radius * 1.6), 0, 1)[..., None]  # the lit lamp and its halo
            image = image * (1 - glow) + hue * brightness * glow
            core = (distance <= radius * 0.45)[..., None]
            image = np.where(core, np.clip(hue * brightness + 40, 0, 255), image)
        else:
            off = (distance <= radius)[..., None]
            image = np.where(off, hue * 0.18 + 15, image)
    # Camera: overall exposure, a box blur of random strength, sensor noise.
    image = image * rng.uniform(0.7, 1.15)
    for _ in range(rng.integers(0, 3)):
        padded = np.pad(image, ((1, 1), (1, 1), (0, 0)), mode="edge")
        image = sum(padded[i:i + size, j:j + size] for i in range(3) for j in range(3)) / 9
    image = image + rng.normal(0, rng.uniform(2, 10), image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def make_traffic_lights(out: str | Path, images: int = 3000, size: int = 24, seed: int = 0) -> dict[str, int]:
    """Write `images` crops under `out`/<class>/; return the images written per class."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    counts = counts_for(images)
    labels = np.repeat(list(counts), list(counts.values()))
    rng.shuffle(labels)
    for label in counts:
        (Path(out) / label).mkdir(parents=True, exist_ok=True)
    for index, label in enumerate(labels):
        Image.fromarray(draw(str(label), rng, size)).save(Path(out) / str(label) / f"{index:05d}.png")
    return counts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", help="folder to write class folders of PNG crops into")
    parser.add_argument("--images", type=int, default=3000, help="crops in all (default 3000)")
    parser.add_argument("--size", type=int, default=24, help="height and width of a crop in pixels (default 24)")
    parser.add_argument("--seed", type=int, default=0, help="the same seed writes the same images (default 0)")
    args = parser.parse_args(argv)
    if args.images < 100 or args.size < 12:
        print("error: traffic lights need at least 100 images (--images) of at least 12 pixels (--size): got "
              f"{args.images} of {args.size}. Use e.g. --images 3000 --size 24.", file=sys.stderr)
        return 2
    counts = make_traffic_lights(args.out, args.images, args.size, args.seed)
    print(f"Wrote {sum(counts.values())} traffic-light crops of {args.size}×{args.size} to {args.out}: "
          + ", ".join(f"{label} {n} ({n / sum(counts.values()):.0%})" for label, n in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
