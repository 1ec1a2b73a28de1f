"""Images: loading, bad input, augmentation of the minority, keras_cnn and transfer members."""

import io
import logging

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.metrics import balanced_accuracy_score

from imbalance_flows import AugmentSpec, MemberSpec, VotingEnsemble
from imbalance_flows.tasks.data.images import (
    load_folder,
    load_table_images,
    parse_size,
    read_data,
)
from imbalance_flows.tasks.data.options import ImageOptions
from imbalance_flows.tasks.data.schema import coerce, infer_schema
from imbalance_flows.tasks.errors import InputError
from imbalance_flows.tasks.model.fitting import fit_member
from imbalance_flows.tasks.model.members import build_member
from imbalance_flows.tasks.sampling.image_augment import ImageAugmenter
from tests.keras.conftest import FEW_EPOCHS


def _png(path, size=(8, 8), mode="L", value=128):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, (size[1], size[0]), value if mode == "L" else (value, 0, 0)).save(path)


def test_class_folders_load_as_pixel_columns_with_their_shape(digits_folder):
    frame, info = load_folder(digits_folder, "digit")
    assert info.shape == (8, 8, 1)
    assert frame.shape == (len(list(digits_folder.rglob("*.png"))), 65)
    assert frame["digit"].value_counts()[["3", "8", "9"]].tolist() == [20, 20, 20]
    X = frame.drop(columns="digit")
    assert X.columns[0] == "px_0_0_0" and X.columns[-1] == "px_7_7_0"
    assert X.to_numpy().min() == 0 and X.to_numpy().max() == 255
    assert infer_schema(X, frame["digit"]).image.shape == (8, 8, 1)  # the schema recognises pixel columns


def test_a_parquet_column_of_image_bytes_gives_the_same_rows(digits_folder, tmp_path):
    folder, _ = load_folder(digits_folder, "digit")
    files = sorted(p for p in digits_folder.rglob("*.png"))
    table = pd.DataFrame({"image": [p.read_bytes() for p in files], "digit": [p.parent.name for p in files]})
    table.to_parquet(tmp_path / "digits.parquet")

    frame, info = read_data(str(tmp_path / "digits.parquet"), "digit")
    assert info.shape == (8, 8, 1)
    pd.testing.assert_frame_equal(frame, folder)
    resized, info = read_data(str(tmp_path / "digits.parquet"), "digit", ImageOptions(size=(12, 10), column="image"))
    assert info.shape == (12, 10, 1) and resized.shape[1] == 12 * 10 + 1


def test_sizes_and_channels_must_agree_unless_converted(tmp_path):
    _png(tmp_path / "a" / "1.png")
    _png(tmp_path / "a" / "2.png", size=(16, 16))
    _png(tmp_path / "b" / "1.png", mode="RGB")
    with pytest.raises(InputError, match=r"images must share one channels.*found 1 channel in 2 .*3 channels in 1"):
        load_folder(tmp_path, "y")
    with pytest.raises(InputError, match=r"images must share one size.*8×8 in 2 .*16×16 in 1 .*--image-size"):
        load_folder(tmp_path, "y", ImageOptions(channels=3))
    frame, info = load_folder(tmp_path, "y", ImageOptions(channels=3, size=(16, 16)))
    assert info.shape == (16, 16, 3) and len(frame) == 3


def test_empty_class_folders_and_other_files_are_skipped_and_logged(tmp_path, caplog):
    _png(tmp_path / "a" / "1.png")
    _png(tmp_path / "b" / "1.jpg")
    (tmp_path / "empty").mkdir()
    (tmp_path / "a" / "notes.txt").write_text("not an image")
    (tmp_path / "README.md").write_text("about")
    with caplog.at_level(logging.WARNING, logger="imbalance_flows.tasks.data.images"):
        frame, _ = load_folder(tmp_path, "y")
    assert sorted(frame["y"]) == ["a", "b"]
    assert "Skipped class folder 'empty'" in caplog.text
    assert "'a/notes.txt'" in caplog.text and "'README.md'" in caplog.text


@pytest.mark.parametrize("make, message", [
    (lambda root: (root / "a").mkdir(), "an image folder must hold class folders of .png or .jpg files"),
    (lambda root: ((root / "a").mkdir(), (root / "a" / "x.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")),
     r"every image file must decode as PNG or JPEG: 'a/x.png' does not"),
])
def test_unreadable_folders_are_refused(tmp_path, make, message):
    make(tmp_path)
    with pytest.raises(InputError, match=message):
        load_folder(tmp_path, "y")


def test_a_bad_image_column_and_a_bad_size_are_refused(tmp_path):
    table = pd.DataFrame({"image": [b"\x89PNG broken", b"x"], "y": ["a", "b"]})
    with pytest.raises(InputError, match="every image file must decode as PNG or JPEG: 'row 0'"):
        read_data(_write(table, tmp_path), "y")
    with pytest.raises(InputError, match="the image column must exist: 'picture'"):
        read_data(_write(table, tmp_path), "y", ImageOptions(column="picture"))
    with pytest.raises(InputError, match="an image size is written HEIGHTxWIDTH: got '28by28'"):
        parse_size("28by28")
    assert parse_size("28x32") == (28, 32) and parse_size("16") == (16, 16)


def _write(frame, tmp_path):
    path = tmp_path / "table.parquet"
    frame.to_parquet(path)
    return str(path)


def test_image_augmentation_grows_the_minority_only_to_the_ratio():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(130, 8 * 8)).astype(float)
    y = np.repeat([0, 1, 2], [100, 20, 10])
    augmenter = ImageAugmenter(ratio=0.5, image_shape=(8, 8, 1), random_state=0)
    rows, labels = augmenter.fit_resample(X, y)

    assert np.bincount(labels).tolist() == [100, 50, 50]
    np.testing.assert_array_equal(rows[:130], X)  # originals kept as they are
    new = rows[130:]
    assert new.min() >= 0 and new.max() <= 255 and not np.isin(new.round(3), X.round(3)).all()
    again, _ = ImageAugmenter(ratio=0.5, image_shape=(8, 8, 1), random_state=0).fit_resample(X, y)
    np.testing.assert_array_equal(rows, again)


def test_augmentation_composes_with_under_sampling_and_refuses_tables(digits_folder, churn_600):
    frame, _ = load_folder(digits_folder, "digit")
    X, y = frame.drop(columns="digit"), frame["digit"]
    schema = infer_schema(X, y)
    spec = MemberSpec(sampler="random_under", sampling_strategy=0.5, learner="logreg",
                      augment=AugmentSpec(method="image", ratio=1.0))
    counts = y.map({c: i for i, c in enumerate(schema.classes)}).value_counts().to_dict()
    pipeline = build_member(spec, schema, counts)
    rows, labels = pipeline.named_steps["resample"].fit_resample(X.to_numpy(float), y.map(schema.classes.index))
    rows, labels = pipeline.named_steps["augment"].fit_resample(rows, labels)
    assert set(np.bincount(labels)) == {40}  # majority cut to 20 / 0.5, minority grown to match

    tabular = infer_schema(*churn_600)
    with pytest.raises(InputError, match="image augmentation needs image data: member smote\\+image:hgb"):
        build_member(MemberSpec.parse("smote+image:hgb"), tabular, {0: 500, 1: 100})
    with pytest.raises(InputError, match="keras_cnn needs image data"):
        build_member(MemberSpec.parse("none:keras_cnn"), tabular, {0: 500, 1: 100})


def test_cnn_with_augmentation_votes_with_a_forest_on_pixels(digits_folder):
    frame, _ = load_folder(digits_folder, "digit")
    X, y = frame.drop(columns="digit"), frame["digit"]
    members = [MemberSpec(sampler="random_under", sampling_strategy=0.5, learner="keras_cnn",
                          augment=AugmentSpec(method="image", ratio=1.0), learner_params={"epochs": 6}),
               MemberSpec(sampler="class_weight", learner="rf", learner_params={"n_estimators": 50})]
    model = VotingEnsemble(members=members, voting="soft", folds=2).fit(X, y)  # two folds, not five: fewer CNN fits

    cnn, forest = model.member_probas(X)
    assert cnn.shape == (len(X), 10)
    assert balanced_accuracy_score(y, model.classes_[cnn.argmax(1)]) > 0.3  # 6 epochs: well above chance (0.1)
    assert balanced_accuracy_score(y, model.predict(X)) > 0.8


def test_transfer_member_keeps_the_users_model_frozen(digits_folder, tmp_path):
    from imbalance_flows.tasks.learners.keras_members import keras_module

    keras = keras_module()
    inputs = keras.Input(shape=(8, 8, 1))
    hidden = keras.layers.Rescaling(1 / 255)(inputs)
    hidden = keras.layers.Conv2D(4, 3, activation="relu", name="user_conv")(hidden)
    base = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(hidden))
    base.save(tmp_path / "base.keras")
    before = base.get_layer("user_conv").get_weights()[0]

    frame, _ = load_folder(digits_folder, "digit")
    X, y = frame.drop(columns="digit"), frame["digit"]
    schema = infer_schema(X, y)
    spec = MemberSpec(learner="keras_transfer", sampler="class_weight",
                      learner_params={"base_model": str(tmp_path / "base.keras"), **FEW_EPOCHS})
    pipeline, _ = fit_member(spec, coerce(X, schema), y, schema)
    network = pipeline.named_steps["learn"].model_
    after = [layer for layer in network.layers if hasattr(layer, "get_layer")][0].get_layer("user_conv")
    np.testing.assert_array_equal(after.get_weights()[0], before)
    assert pipeline.predict_proba(coerce(X.head(5), schema)).shape == (5, 10)


@pytest.mark.parametrize("content, message", [
    (b"this is not a keras model", "a Keras model file must be a valid .keras archive that loads in safe mode"),
    (None, "a Keras member's network file must exist"),
])
def test_a_transfer_base_that_is_not_a_keras_model_is_refused(digits_folder, tmp_path, content, message):
    path = tmp_path / "base.keras"
    if content is not None:
        path.write_bytes(content)
    frame, _ = load_folder(digits_folder, "digit")
    X, y = frame.drop(columns="digit"), frame["digit"]
    schema = infer_schema(X, y)
    spec = MemberSpec(learner="keras_transfer", learner_params={"base_model": str(path), **FEW_EPOCHS})
    with pytest.raises(InputError, match=message):
        fit_member(spec, coerce(X, schema), y, schema)


def test_a_base_model_of_another_input_shape_is_refused(digits_folder, tmp_path):
    from imbalance_flows.tasks.learners.keras_members import keras_module

    keras = keras_module()
    inputs = keras.Input(shape=(28, 28, 1))
    keras.Model(inputs, keras.layers.Flatten()(inputs)).save(tmp_path / "big.keras")
    frame, _ = load_folder(digits_folder, "digit")
    X, y = frame.drop(columns="digit"), frame["digit"]
    schema = infer_schema(X, y)
    spec = MemberSpec(learner="keras_transfer", learner_params={"base_model": str(tmp_path / "big.keras")})
    with pytest.raises(InputError, match=r"a base model's input must match the images: .* takes \(28, 28, 1\)"):
        fit_member(spec, coerce(X, schema), y, schema)


def test_image_bytes_decode_to_their_pixels():
    buffer = io.BytesIO()
    Image.new("L", (3, 2), 7).save(buffer, format="PNG")
    frame, info = load_table_images(
        pd.DataFrame({"img": [buffer.getvalue()] * 2, "y": ["a", "b"]}), "y", "img")
    assert info.shape == (2, 3, 1) and (frame.drop(columns="y").to_numpy() == 7).all()


def test_transfer_member_fine_tunes_the_top_of_the_users_model_after_the_head(digits_folder, tmp_path):
    from imbalance_flows.tasks.learners.keras_members import keras_module, save_network

    keras = keras_module()
    inputs = keras.Input(shape=(8, 8, 1))
    hidden = keras.layers.Rescaling(1 / 255)(inputs)
    hidden = keras.layers.Conv2D(4, 3, activation="relu", name="low_conv")(hidden)
    hidden = keras.layers.Conv2D(4, 3, activation="relu", name="top_conv")(hidden)
    base = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(hidden))
    base.save(tmp_path / "base.keras")
    before = {name: base.get_layer(name).get_weights()[0] for name in ("low_conv", "top_conv")}

    frame, _ = load_folder(digits_folder, "digit")
    X, y = frame.drop(columns="digit"), frame["digit"]
    schema = infer_schema(X, y)
    spec = MemberSpec(learner="keras_transfer", sampler="class_weight",
                      learner_params={"base_model": str(tmp_path / "base.keras"), "fine_tune_layers": 1,
                                      "fine_tune_epochs": 2, **FEW_EPOCHS})
    pipeline, _ = fit_member(spec, coerce(X, schema), y, schema)
    learner = pipeline.named_steps["learn"]
    tuned = [layer for layer in learner.model_.layers if hasattr(layer, "get_layer")][0]

    np.testing.assert_array_equal(tuned.get_layer("low_conv").get_weights()[0], before["low_conv"])  # still frozen
    assert not np.allclose(tuned.get_layer("top_conv").get_weights()[0], before["top_conv"])  # fine-tuned
    assert 1 <= len(learner.fine_tune_history_["loss"]) <= 2
    assert learner.n_epochs_ == len(learner.history_["loss"]) + len(learner.fine_tune_history_["loss"])
    # Saved and loaded like any member: the fine-tuned weights travel in the member's own .keras file.
    save_network(learner, tmp_path / "member.keras")
    assert pipeline.predict_proba(coerce(X.head(3), schema)).shape == (3, 10)


def test_fine_tune_layers_must_be_a_whole_number(digits_folder, tmp_path):
    frame, _ = load_folder(digits_folder, "digit")
    X, y = frame.drop(columns="digit"), frame["digit"]
    schema = infer_schema(X, y)
    spec = MemberSpec(learner="keras_transfer", learner_params={"base_model": str(tmp_path / "b.keras"),
                                                                "fine_tune_layers": -1, **FEW_EPOCHS})
    with pytest.raises(InputError, match="`fine_tune_layers` must be a whole number ≥ 0: it is -1"):
        fit_member(spec, coerce(X, schema), y, schema)
