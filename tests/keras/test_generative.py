"""`+gan`: conditional generative models of minority rows and images (small models, few steps)."""

import numpy as np
import pytest

from imbalance_flows.tasks.data.images import load_folder
from imbalance_flows.tasks.data.schema import infer_schema
from imbalance_flows.tasks.errors import InputError
from imbalance_flows.tasks.model.members import build_member
from imbalance_flows.tasks.model.spec import AugmentSpec, MemberSpec
from imbalance_flows.tasks.sampling.generative import (
    GenerativeAugmenter,
    TableCode,
    check_generated,
)


@pytest.fixture(scope="module")
def mixed():
    """300 rows: a two-mode number, a skewed number, a small whole number and a category code; 30 minority."""
    rng = np.random.default_rng(0)
    n = 300
    two_modes = np.where(rng.random(n) < 0.5, rng.normal(-5, 0.3, n), rng.normal(5, 0.3, n))
    X = np.column_stack([two_modes, rng.gamma(2, size=n), rng.integers(0, 4, n), rng.integers(0, 3, n)])
    y = np.repeat([0, 1], [270, 30])
    X[y == 1, 3] = np.where(rng.random(30) < 0.5, 0, 2)  # the minority never has category 1
    return X, y


def test_table_code_keeps_modes_and_categories(mixed):
    X, _ = mixed
    code = TableCode(X, categorical={3}, random_state=0)
    assert [span.kind for span in code.spans] == ["value", "choice", "value", "choice", "choice", "choice"]
    assert code.spans[1].width == 2  # the two modes of the first column were found
    back = code.decode(code.encode(X), np.random.RandomState(0))
    np.testing.assert_allclose(back[:, :2], X[:, :2], atol=1e-6 + 0.01 * np.abs(X[:, :2]).max())
    np.testing.assert_array_equal(back[:, 2:], X[:, 2:])  # choices come back exactly


@pytest.mark.parametrize("model", ["vae", "gan"])
def test_generated_rows_grow_the_minority_in_its_own_categories_and_ranges(mixed, model):
    X, y = mixed
    augmenter = GenerativeAugmenter(model=model, ratio=0.5, steps=300, categorical_features=[3], random_state=0)
    rows, labels = augmenter.fit_resample(X, y)

    assert np.bincount(labels).tolist() == [270, 135]
    np.testing.assert_array_equal(rows[:300], X)
    new = rows[300:]
    assert np.isfinite(new).all() and len(np.unique(new, axis=0)) > 90
    assert set(np.unique(new[:, 2])) <= set(np.unique(X[:, 2]))  # whole numbers stay whole, within range
    assert new[:, 0].min() >= X[:, 0].min() and new[:, 0].max() <= X[:, 0].max()
    assert len(augmenter.losses_) >= 6 and np.isfinite(augmenter.losses_).all()
    if model == "vae":  # the VAE learns the class's categories; the short GAN is only asked to be sane
        assert np.mean(new[:, 3] == 1) < 0.1
        assert abs(np.mean(np.abs(new[:, 0]) > 3) - 1) < 0.1  # near the modes, not between them
    again, _ = GenerativeAugmenter(model=model, ratio=0.5, steps=300, categorical_features=[3],
                                   random_state=0).fit_resample(X, y)
    np.testing.assert_array_equal(rows, again)  # same rows, same seed: same synthetic rows
    other, _ = GenerativeAugmenter(model=model, ratio=0.5, steps=300, categorical_features=[3],
                                   random_state=1).fit_resample(X, y)
    assert not np.array_equal(rows, other)


def test_a_collapsed_generator_fails_the_member_with_the_reason(mixed):
    X, y = mixed
    with pytest.raises(InputError, match=r"vary at least 0.1 × as much as the real ones: the gan's rows of class "
                                         r"'yes' vary 0.0\d\d × as much \(it collapsed\)"):
        GenerativeAugmenter(model="gan", learning_rate=1.0, steps=50, categorical_features=[3],
                            class_names=["no", "yes"], random_state=0).fit_resample(X, y)


def test_the_check_refuses_constant_repeated_and_non_finite_rows():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(50, 3))
    check_generated(real, rng.normal(size=(40, 3)), "yes", "vae")  # a fair draw passes
    with pytest.raises(InputError, match="it collapsed"):
        check_generated(real, np.tile(real[0], (40, 1)) + 1e-4 * rng.normal(size=(40, 3)), "yes", "vae")
    with pytest.raises(InputError, match="of the vae's rows of class 'yes' differ"):
        check_generated(real, np.repeat(real[:2], 20, axis=0), "yes", "vae")
    with pytest.raises(InputError, match="non-finite values .* diverged.*Lower its learning_rate"):
        check_generated(real, np.full((40, 3), np.nan), "yes", "gan")


def test_a_minority_alone_is_left_as_it_is_when_nothing_is_short(mixed):
    X, y = mixed
    rows, labels = GenerativeAugmenter(ratio=0.1, steps=10).fit_resample(X, y)
    assert len(rows) == len(X) and np.array_equal(labels, y)


def test_images_are_generated_at_their_shape_by_a_convolutional_model(digits_folder):
    frame, _ = load_folder(digits_folder, "digit")
    X, y = frame.drop(columns="digit"), frame["digit"]
    schema = infer_schema(X, y)
    spec = MemberSpec(sampler="random_under", sampling_strategy=0.2, learner="keras_cnn",
                      augment=AugmentSpec(method="gan", ratio=1.0, steps=150), learner_params={"epochs": 2})
    codes = y.map(schema.classes.index).to_numpy()
    pipeline = build_member(spec, schema, dict(zip(*np.unique(codes, return_counts=True))))
    rows, labels = pipeline.named_steps["resample"].fit_resample(X.to_numpy(float), codes)
    augmenter = pipeline.named_steps["augment"]
    assert augmenter.image_shape == (8, 8, 1)
    grown, grown_labels = augmenter.fit_resample(rows, labels)
    assert set(np.bincount(grown_labels)) == {np.bincount(labels).max()}
    new = grown[len(rows):]
    assert new.shape[1] == 64 and new.min() >= 0 and new.max() <= 255 and new.std() > 10


def test_gan_is_written_and_checked_like_the_other_augmentations():
    spec = MemberSpec.parse("random_under+gan:keras_cnn")
    assert spec.augment.method == "gan" and spec.augment.model == "vae" and spec.name == "random_under+gan:keras_cnn"
    with pytest.raises(ValueError, match="model"):
        AugmentSpec(method="gan", model="diffusion")
    with pytest.raises(ValueError, match="steps"):
        AugmentSpec(method="gan", steps=0)


def test_a_huge_majority_is_sampled_for_the_model_and_kept_whole_in_the_rows(mixed, monkeypatch):
    from imbalance_flows.tasks.sampling import generative

    X, y = mixed
    monkeypatch.setattr(generative, "ROWS_PER_CLASS", 100)  # the model sees 100 of the 270 majority rows
    from imbalance_flows.tasks.sampling import keras_generative

    seen = []
    fit = keras_generative.ConditionalGenerator.fit

    def spy(self, rows, positions, *args, **kwargs):
        seen.append(np.bincount(positions).tolist())
        return fit(self, rows, positions, *args, **kwargs)

    monkeypatch.setattr(keras_generative.ConditionalGenerator, "fit", spy)
    rows, labels = GenerativeAugmenter(ratio=0.5, steps=50, categorical_features=[3], random_state=0).fit_resample(X, y)
    assert seen == [[100, 30]]  # the model learnt from the capped majority and the whole minority
    assert np.bincount(labels).tolist() == [270, 135]  # targets from all rows; every real row kept
    np.testing.assert_array_equal(rows[:300], X)
