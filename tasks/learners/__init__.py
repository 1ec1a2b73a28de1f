"""The learners: their registry, and the learners that are more than a scikit-learn estimator."""
