"""The learners a member can use: one registry entry each, like the samplers' `STRATEGIES`.

An entry says everything the rest of the code needs to know about a learner: how a
member encodes the features for it, whether it needs images or TensorFlow, how much a
fit roughly costs, its help text, and how to build it. Adding a learner is adding an
entry here (and its test); `build_member`, the command line and the fitting order read
the registry and need no change.

Nothing heavy is imported at module level (no scikit-learn, pandas, imbalanced-learn or
TensorFlow): the command line's help lists the learners without paying for them. The
builders import what they build.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable, Protocol, runtime_checkable

from imbalance_flows.tasks.errors import InputError, preview

# How a member encodes the prepared features (numbers imputed, categories as codes) for its learner:
#   codes             passed through: trees split category codes as they are
#   one_hot           LinearPrep: numbers standardised, categories one-hot (linear models)
#   one_hot_unscaled  numbers passed through, categories one-hot (a network that normalises its inputs)
#   images            passed through: pixel values, one column each
ENCODINGS = ("codes", "one_hot", "one_hot_unscaled", "images")


@dataclass(frozen=True)
class LearnerContext:
    """What a builder may need to know about the member and the rows it will be fitted on."""

    weights: dict | None = None  # class code -> weight, for the class_weight sampler; None otherwise
    random_state: int = 0
    threads: int = 1  # threads the learner may use beside the other members
    rows: int = 0  # training rows, before resampling
    fit_rows: int = 0  # about how many rows the learner itself is fitted on, after resampling
    n_classes: int = 2
    n_numeric: int = 0  # numeric features come first after preparation
    categorical_sizes: tuple[int, ...] = ()  # categories of each categorical feature, "(missing)" included

    @property
    def categorical(self) -> list[int]:
        """Positions of the categorical features after preparation (after the numeric ones)."""
        return list(range(self.n_numeric, self.n_numeric + len(self.categorical_sizes)))

    @property
    def width(self) -> int:
        """Columns after one-hot coding."""
        return self.n_numeric + sum(self.categorical_sizes)


@dataclass(frozen=True)
class Work:
    """What one fit of a learner roughly costs, from bench/results/member_work.md (30 float32 features): seconds
    with one thread, `fixed` plus `per_100k_rows` for each 100,000 rows, and the share of them that threads
    divide (Amdahl's law: two threads take 1 − `parallel` / 2 of one thread's time). It orders the members and
    plans how many fit at once (`imbalance_flows.tasks.model.fitting.plan_members`); no result depends on it.

    Forests use every core either way: their share is from bench/results/parallel.md (a forest alone on one
    thread and on every core). Keras members share TensorFlow's pools, sized once per process by the first
    (bench/results/keras_parallel.md): more threads for one member gain nothing, as measured; the image
    learners are costed as the dense network, per feature (pixels), not measured on their own."""

    fixed: float
    per_100k_rows: float
    parallel: float


@dataclass(frozen=True)
class Learner:
    """A named learner and all the rest of the code needs to know about it: how its features are encoded, how to
    build it unfitted, how it uses threads and rows, what it can give beyond a fit, how it is saved, what it needs
    installed. No code outside this registry tests a learner's name."""

    name: str
    summary: str  # one line of help, shown by `imbalance-flows strategies`
    work: Work  # what one fit roughly costs
    encoding: str  # one of ENCODINGS
    build: Callable[[dict, LearnerContext], object]  # (learner params, context) -> unfitted estimator
    estimator: str | None = None  # "module:Class" of the estimator whose parameters users may set
    reserved: tuple[str, ...] = ()  # parameters the member sets itself (class weights, seed, ...)
    images: bool = False  # needs image data (a table is refused)
    # The optional extra it needs (`pip install "imbalance-flows[EXTRA]"`) and the modules that extra installs;
    # a member asking for a learner whose modules are missing is refused naming the extra.
    extra: str | None = None
    modules: tuple[str, ...] = ()
    # Rows: it learns in batches and fits every row, even above the large-data size rule's threshold (no
    # class-capped sample); `holdout`: it stops early on rows held out before resampling, which its fit receives
    # as X_val, y_val.
    every_row: bool = False
    holdout: bool = False
    # Copies of a row may be fitted as one row weighing their count (`fitting.copies_as_weights`): its fit sums row
    # weights, takes sample_weight, X_val, y_val and sample_weight_val, and it has HistGradientBoosting's
    # early_stopping, validation_fraction, min_samples_leaf, max_bins and class_weight parameters.
    copies_as_weights: bool = False
    # Out-of-bag probabilities, for these learner parameters (scikit-learn's bagging: `oob_score=True` gives
    # `oob_decision_function_`): judged out of fold without cross-fitting. None: cross-fitted.
    out_of_bag: Callable[[dict], bool] | None = None
    # Threads: below this rows × √features its work is smaller than handing it to threads, and it fits with
    # n_jobs=1 (unless the user set n_jobs). None: it always takes the threads it is given.
    one_thread_below: float | None = None
    # Its fit uses every core whatever threads it is given (a forest's joblib threads, which sleep when idle, so
    # that it never runs alone on one core at the end of a run: bench/results/parallel.md).
    every_core: bool = False
    # The saved form: "module:Class" of the learner classes it builds, which a saved member may hold beyond
    # scikit-learn's own. A class with `save_native` / `load_native` (see `NativeModel`) keeps its fitted model
    # in a file of its own beside the member, checked when it loads.
    types: tuple[str, ...] = ()
    # Every class its fitted estimator holds inside it, as saved ("module:Class"): a saved member whose learner
    # holds any other is refused before it is built (`imbalance_flows.tasks.store.graph`).
    holds: tuple[str, ...] = ()

    def __post_init__(self):
        if self.encoding not in ENCODINGS:
            raise InputError(f"a learner's encoding must be one of {preview(ENCODINGS)}",
                             f"{self.name} has {self.encoding!r}", "See ENCODINGS in tasks/learners/registry.py.")

    def parameters(self) -> list[str]:
        """The names `learner_params` may set: the estimator's own, less those the member sets."""
        if self.estimator is None:
            return []
        import inspect

        estimator = load_estimator(self.estimator)
        # get_params() for scikit-learn's (and XGBoost's, whose __init__ takes **kwargs), the signature for
        # CatBoost's (whose get_params() lists only the parameters set)
        named = {name for name, parameter in inspect.signature(estimator.__init__).parameters.items()
                 if name != "self" and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)}
        return sorted((named | set(estimator().get_params())) - set(self.reserved))

    def check_params(self, params: dict) -> None:
        """Refuse unknown learner parameters by name, with the valid names closest to each."""
        if not params:
            return
        valid = self.parameters()
        unknown = sorted(set(params) - set(valid))
        if unknown:
            raise InputError(f"the learner parameters of {self.name} must be among {preview(valid, 40)}",
                             f"got {preview(unknown)}", close_names(unknown, valid)
                             + "Run `imbalance-flows strategies` to list the learners.")

    def missing(self) -> list[str]:
        """The modules of its extra that are not installed (found without importing them)."""
        import importlib.util

        return [module for module in self.modules if importlib.util.find_spec(module) is None]

    def require(self, member: str) -> None:
        """Refuse a member whose learner's extra is not installed, naming the extra."""
        missing = self.missing()
        if missing:
            raise InputError(f"the {self.name} learner needs the `{self.extra}` extra",
                             f"member {member} asks for it and {' and '.join(missing)} "
                             f"{'is' if len(missing) == 1 else 'are'} not installed",
                             f"Install it with pip install 'imbalance-flows[{self.extra}]', or choose another "
                             "learner.")


@runtime_checkable
class NativeModel(Protocol):
    """A fitted learner whose model lives in a file of its own, in its library's format, beside the member's skops
    file (the skops file holds the learner without `model_`). `load_native` checks the file before anything
    reads it, and refuses (`InputError`) what it cannot vouch for."""

    suffix: str  # the file's suffix, e.g. ".keras"

    def save_native(self, path) -> None: ...

    def load_native(self, path) -> None: ...


def native_suffixes() -> tuple[str, ...]:
    """The suffixes of the native model files the registered learners write (see `NativeModel`)."""
    suffixes = []
    for learner in LEARNERS.values():
        for path in learner.types:
            suffix = getattr(load_estimator(path), "suffix", None)
            if suffix and suffix not in suffixes:
                suffixes.append(suffix)
    return tuple(suffixes)


def saved_forms() -> dict[str, tuple[Learner, set[str]]]:
    """For each class a saved member's last step may be ("module.Class", as skops names it): its registry entry and
    the classes its fitted estimator may hold (`Learner.holds`)."""
    forms = {}
    for learner in LEARNERS.values():
        if learner.missing():  # its library is not installed: nothing of it can load anyway
            continue
        for path in (*learner.types, *([learner.estimator] if learner.estimator and not learner.types else [])):
            forms[class_name(load_estimator(path))] = (learner, {class_name(load_estimator(held))
                                                                 for held in learner.holds})
    return forms


def class_name(cls: type) -> str:
    """A class as skops names it in a file: "module.Class", by the module that defines it."""
    return f"{cls.__module__}.{cls.__qualname__}"


def learner_types() -> list[type]:
    """The learner classes a saved member may hold beyond scikit-learn's (every entry's `types`)."""
    return [load_estimator(path) for learner in LEARNERS.values() for path in learner.types]


def close_names(unknown: list[str], valid) -> str:
    """A hint with the valid names closest to misspelt ones ("Did you mean 'n_estimators'? "), or nothing."""
    import difflib

    guesses = [match for name in unknown for match in difflib.get_close_matches(name, list(valid), n=1)]
    return f"Did you mean {', '.join(map(repr, guesses))}? " if guesses else ""


def load_estimator(path: str) -> type:
    """The class named by a "module:Class" path, e.g. "imbalance_flows.tasks.learners.keras_members:KerasMLP"."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


# Newton steps on the exact Hessian converge in a few iterations when there are many
# more rows than (one-hot) columns: about twice as fast as L-BFGS on the benchmark data,
# and to the same optimum. The Hessian has (columns × (classes - 1))² entries, so with
# wide data or many classes it costs more than it saves and L-BFGS is kept.
NEWTON_SIZE = 200


def newton_steps(width: int, n_classes: int, rows: int) -> bool:
    """Whether the linear member fits `rows` rows of `width` (one-hot) columns and `n_classes` classes by Newton
    steps (see NEWTON_SIZE) rather than L-BFGS."""
    return 0 < width * max(n_classes - 1, 1) <= NEWTON_SIZE and rows >= 10 * width


def _logreg(params: dict, context: LearnerContext):
    from sklearn.linear_model import LogisticRegression

    solver = "newton-cholesky" if newton_steps(context.width, context.n_classes, context.rows) else "lbfgs"
    return LogisticRegression(max_iter=params.pop("max_iter", 2000), solver=params.pop("solver", solver),
                              class_weight=context.weights, random_state=context.random_state, **params)


# How many rows each of a forest's trees grows on (a bootstrap sample: out-of-bag judging stays valid): all its
# fit rows up to MIN_TREE_ROWS, then half of them, at least MIN_TREE_ROWS and at most ROWS_PER_TREE. Each tree
# then costs about half of what it did from 60k rows, and its cost stops growing beyond 240k. On the 100k-row
# synthetic table (80k training rows), the default recipe's fit and predictions so took 28.1 s instead of 48.7 s,
# its balanced accuracy 0.7854 against 0.7860 (bench/results/recipe_size.md); on 10M rows the forest's fit and
# predictions took about 0.6 × the time (bench/results/forest_rule.md). Above ROWS_PER_TREE fit rows, leaves
# hold at least LARGE_FOREST_LEAF rows.
MIN_TREE_ROWS = 30_000
# Below this rows × √features a forest grows its trees in one thread (bench/results/parallel.md). A tree's work
# grows with the rows and the features tried at each split (√features, the forest's default).
SMALL_FOREST_WORK = 4_500
ROWS_PER_TREE = 120_000
LARGE_FOREST_LEAF = 5


def tree_rows(fit_rows: int) -> int:
    """Rows each tree of a forest fitted on `fit_rows` rows grows on (see MIN_TREE_ROWS)."""
    return int(min(fit_rows, max(MIN_TREE_ROWS, fit_rows // 2), ROWS_PER_TREE))


def _rf(params: dict, context: LearnerContext):
    from imbalance_flows.tasks.cores import available_cores
    from imbalance_flows.tasks.learners.forest import RandomForest

    large = context.fit_rows > ROWS_PER_TREE
    per_tree = tree_rows(context.fit_rows)
    # Without bootstrap samples every tree sees every row.
    sampled = per_tree < context.fit_rows and params.get("bootstrap", True)
    # A forest's trees are built by joblib threads that sleep when idle, unlike OpenMP's
    # spinning workers, so a forest may use every core beside other members: it then
    # never runs alone on one core at the end of a run (bench/results/parallel.md).
    return RandomForest(n_estimators=params.pop("n_estimators", 100),
                        max_samples=params.pop("max_samples", per_tree / context.fit_rows if sampled else None),
                        min_samples_leaf=params.pop("min_samples_leaf", LARGE_FOREST_LEAF if large else 1),
                        class_weight=context.weights, n_jobs=params.pop("n_jobs", available_cores()),
                        random_state=context.random_state, **params)


# Histogram boosting fitted on at least BIG_TREE_ROWS rows grows larger trees, each leaf holding more rows, for as
# many more iterations as early stopping allows: on 215,000 to 800,000 rows scikit-learn's 31 leaves underfit
# (balanced accuracy up by about 0.01 on flights and the 1M-row synthetic table, and at 10M rows); on 64,000 rows
# two splits of one table disagreed (bench/results/large_recipe.md).
BIG_TREE_ROWS = 150_000
BIG_TREES = {"max_leaf_nodes": 127, "min_samples_leaf": 50, "max_iter": 300}


def _hgb(params: dict, context: LearnerContext):
    from imbalance_flows.tasks.learners.histogram import HistGradientBoosting

    if params.get("scoring", "loss") not in ("loss", None):  # the fitted model would keep a scorer skops cannot save
        raise InputError("hgb's scoring must be 'loss' (its default) or None",
                         f"got {params['scoring']!r}, whose scorer the fitted member would keep and could not be saved",
                         "Leave scoring at its default: early stopping then watches the loss.")

    # Histogram boosting bins a categorical feature by its codes and allows at most 255
    # of them (max_bins); a feature with more categories is binned as ordered codes instead.
    native = [position for position, size in zip(context.categorical, context.categorical_sizes)
              if size <= params.get("max_bins", 255)]
    if context.fit_rows >= BIG_TREE_ROWS:
        params = {**BIG_TREES, **params}
    return HistGradientBoosting(class_weight=context.weights, random_state=context.random_state,
                                categorical_features=native or None, **params)


def _keras(estimator: str) -> Callable[[dict, LearnerContext], object]:
    """A builder that imports the Keras estimator only when a member uses it (TensorFlow is slow to import)."""
    def build(params: dict, context: LearnerContext):
        estimator_class = load_estimator(estimator)
        return estimator_class(**{"class_weight": context.weights, "random_state": context.random_state,
                      "threads": context.threads, **params})
    return build


def _keras_learner(name: str, estimator: str, **fields) -> Learner:
    """A Keras learner's entry: its builder comes from its estimator class, which keeps its network in a `.keras`
    file (loaded in safe mode); TensorFlow is the `keras` extra. It learns in batches on every row and stops
    early on rows held out before resampling."""
    return Learner(name=name, estimator=estimator, build=_keras(estimator), extra="keras",
                   modules=("tensorflow", "keras"), every_row=True, holdout=True, types=(estimator,), **fields)


def _booster(member: str) -> Callable[[dict, LearnerContext], object]:
    """A builder of a boosting library's member (`imbalance_flows.tasks.learners.boosters`); the library loads on fit."""
    def build(params: dict, context: LearnerContext):
        return load_estimator(member)(params=params, class_weight=context.weights, threads=context.threads,
                                      random_state=context.random_state,
                                      categorical_features=context.categorical)
    return build


def _booster_learner(name: str, extra: str, estimator: str, member: str, reserved: tuple, **fields) -> Learner:
    """A boosting library's entry: its own scikit-learn class's parameters, the library as an extra, the model
    saved in the library's text format and checked tree by tree on load (`imbalance_flows.tasks.learners.boosters`)."""
    return Learner(name=name, estimator=estimator, build=_booster(member), extra=extra, modules=(extra,),
                   encoding="codes", types=(member,), reserved=reserved, **fields)


LEARNERS: dict[str, Learner] = {learner.name: learner for learner in [
    Learner("logreg", "Logistic regression on standardised numeric and one-hot categorical features.",
            work=Work(0.0, 0.34, 0.0), encoding="one_hot", build=_logreg,
            estimator="sklearn.linear_model:LogisticRegression",
            reserved=("class_weight", "random_state")),
    # Trees split category codes as they are; one-hot columns would widen the data
    # (22 → 119 features on lending_club) and slow every split for no gain in the benchmark.
    Learner("rf", "Random forest (100 trees; above 30,000 rows each tree on a sample of half the rows, at least "
                  "30,000 and at most 120,000; above 120,000 rows leaves of 5 rows or more); categories as "
                  "ordinal codes.", work=Work(0.0, 53.0, 0.9), encoding="codes", build=_rf, every_core=True,
            estimator="sklearn.ensemble:RandomForestClassifier", reserved=("class_weight", "random_state"),
            out_of_bag=lambda params: params.get("bootstrap", True), one_thread_below=SMALL_FOREST_WORK,
            # Its trees grown with less work around each (see the class); members saved before hold scikit-learn's.
            types=("imbalance_flows.tasks.learners.forest:RandomForest", "sklearn.ensemble:RandomForestClassifier"),
            holds=("sklearn.tree:DecisionTreeClassifier", "sklearn.tree._tree:Tree")),
    Learner("hgb", "Histogram gradient boosting with native categorical support (fitted on 150,000 rows or more: "
                   "trees of up to 127 leaves of 50 rows or more, up to 300 iterations).",
            work=Work(0.34, 1.61, 0.52), encoding="codes",
            build=_hgb, estimator="sklearn.ensemble:HistGradientBoostingClassifier", copies_as_weights=True,
            reserved=("class_weight", "random_state", "categorical_features"),
            # Its bins found unweighted (see the class); members saved before hold scikit-learn's own class.
            types=("imbalance_flows.tasks.learners.histogram:HistGradientBoosting",
                   "sklearn.ensemble:HistGradientBoostingClassifier"),
            holds=("sklearn.ensemble._hist_gradient_boosting.predictor:TreePredictor",
                   "sklearn.ensemble._hist_gradient_boosting.binning:_BinMapper",
                   "sklearn._loss.loss:HalfBinomialLoss", "sklearn._loss.loss:HalfMultinomialLoss",
                   "sklearn._loss._loss:CyHalfBinomialLoss", "sklearn._loss._loss:CyHalfMultinomialLoss",
                   "sklearn._loss.link:Interval", "sklearn._loss.link:LogitLink", "sklearn._loss.link:MultinomialLogit",
                   # categorical features: a ColumnTransformer of OrdinalEncoder and passthrough
                   "sklearn.compose:ColumnTransformer", "sklearn.preprocessing:OrdinalEncoder",
                   "sklearn.preprocessing:FunctionTransformer", "sklearn.utils.validation:check_array",
                   "functools:partial", "sklearn.preprocessing:LabelEncoder", "numpy.random:Generator")),
    _booster_learner(
        "lgbm", "lightgbm", "lightgbm:LGBMClassifier", "imbalance_flows.tasks.learners.boosters:LightGBMMember",
        work=Work(0.6, 1.53, 0.72),
        reserved=("class_weight", "random_state", "n_jobs"),
        summary="LightGBM (the `lightgbm` extra) with its defaults (100 trees of 31 leaves), categories split "
                "natively; learner_params: those of LGBMClassifier."),
    _booster_learner(
        "xgb", "xgboost", "xgboost:XGBClassifier", "imbalance_flows.tasks.learners.boosters:XGBoostMember",
        work=Work(0.28, 2.11, 0.98),
        reserved=("random_state", "n_jobs", "objective", "num_class", "enable_categorical", "callbacks"),
        summary="XGBoost (the `xgboost` extra) with its defaults (100 trees of depth 6, histogram method); "
                "categories as ordinal codes; learner_params: those of XGBClassifier."),
    _booster_learner(
        "catboost", "catboost", "catboost:CatBoostClassifier", "imbalance_flows.tasks.learners.boosters:CatBoostMember",
        work=Work(6.8, 24.4, 0.8),
        reserved=("random_seed", "random_state", "thread_count", "class_weights", "auto_class_weights",
                  "cat_features", "allow_writing_files", "grow_policy", "loss_function"),
        summary="CatBoost (the `catboost` extra) with its defaults (1000 symmetric trees of depth 6); categories "
                "as ordinal codes; learner_params: those of CatBoostClassifier (iterations, depth, ...)."),
    # Categories one-hot; numbers as they are: the network normalises them with its training rows' statistics.
    _keras_learner(
        "keras_mlp", "imbalance_flows.tasks.learners.keras_members:KerasMLP", work=Work(7.2, 41.3, 0.0),
        encoding="one_hot_unscaled",
        summary="Keras dense network (64-32), normalised with training statistics, one-hot categories, early "
                "stopping; learner_params: loss (crossentropy | focal), focal_gamma, hidden_units, dropout, "
                "epochs, batch_size, learning_rate, validation_fraction, patience."),
    _keras_learner(
        "keras_cnn", "imbalance_flows.tasks.learners.keras_images:KerasCNN", work=Work(7.2, 41.3, 0.0),
        encoding="images", images=True,
        summary="Keras convolutional network for images (data loaded from class folders or image bytes); "
                "learner_params: filters, dropout, loss, epochs, batch_size, ...; pairs with +image augmentation."),
    _keras_learner(
        "keras_transfer", "imbalance_flows.tasks.learners.keras_images:KerasTransfer", work=Work(7.2, 41.3, 0.0),
        encoding="images",
        images=True,
        summary="A user's .keras model (learner_params: base_model=PATH) as a frozen feature extractor "
                "with a new trained head, then its top layers fine-tuned at a lower learning rate "
                "(fine_tune_layers=N; 0 keeps it frozen); loaded in safe mode, nothing downloaded."),
]}
