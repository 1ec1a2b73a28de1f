"""Row-wise sums and maxima a column at a time give numpy's figures, bit for bit."""

import numpy as np
import pytest

from imbalance_flows.tasks.narrow import row_maxima, row_sums


@pytest.mark.parametrize("columns", [1, 2, 3, 7, 8, 10, 16])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_row_sums_and_maxima_equal_numpys_along_rows(columns, dtype):
    rng = np.random.default_rng(columns)
    values = rng.dirichlet(np.ones(columns), size=1000).astype(dtype) * rng.choice([1e-8, 1.0, 1e8], size=(1000, 1))
    values[3, 0], values[5, -1], values[7, 0] = np.nan, np.inf, -0.0

    for mine, numpys in ((row_sums(values), values.sum(axis=1)), (row_maxima(values), values.max(axis=1))):
        assert mine.dtype == numpys.dtype
        np.testing.assert_array_equal(mine, numpys)  # NaN where numpy's is NaN
    assert row_sums(values[:0]).shape == (0,)


def test_they_leave_the_array_as_it_was():
    values = np.array([[0.25, 0.75], [0.5, 0.5]])
    row_sums(values), row_maxima(values)
    np.testing.assert_array_equal(values, [[0.25, 0.75], [0.5, 0.5]])
