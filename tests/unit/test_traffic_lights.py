"""The simulated traffic lights: a street's class shares, the same images for the same seed, lamps that tell."""

import numpy as np
from PIL import Image

from imbalance_flows.tasks.bundled.make_traffic_lights import (
    counts_for,
    draw,
    main,
    make_traffic_lights,
)


def test_the_classes_follow_a_streets_shares():
    assert counts_for(3000) == {"red": 1680, "yellow": 90, "green": 1230}
    assert sum(counts_for(1234).values()) == 1234


def test_the_same_seed_writes_the_same_images(tmp_path):
    first = make_traffic_lights(tmp_path / "a", images=150, size=16, seed=3)
    make_traffic_lights(tmp_path / "b", images=150, size=16, seed=3)
    assert first == {"red": 85, "yellow": 4, "green": 61}
    for path in sorted((tmp_path / "a").rglob("*.png")):
        twin = tmp_path / "b" / path.relative_to(tmp_path / "a")
        assert np.array_equal(np.asarray(Image.open(path)), np.asarray(Image.open(twin)))
        assert Image.open(path).size == (16, 16) and Image.open(path).mode == "RGB"


def test_the_lit_lamp_sets_the_colour_of_the_brightest_pixels():
    rng = np.random.default_rng(0)
    for label, channel_order in (("red", (0, 1)), ("green", (1, 0))):
        brightest = []
        for _ in range(30):
            image = draw(label, rng).astype(float)
            top = image.sum(axis=2).reshape(-1).argsort()[-5:]
            brightest.append(image.reshape(-1, 3)[top].mean(axis=0))
        mean = np.mean(brightest, axis=0)
        assert mean[channel_order[0]] > mean[channel_order[1]]  # red lamps are redder than green, and back


def test_too_few_images_are_refused_with_the_rule(capsys):
    assert main(["/nonexistent", "--images", "10"]) == 2
    assert "need at least 100 images" in capsys.readouterr().err
