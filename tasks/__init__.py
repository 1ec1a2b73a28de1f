"""The work of imbalance-flows as plain functions and classes, without Prefect, one room per concept:

- `data`: tables and schema: reading, checking and splitting the data, by reference;
- `model`: member specs, the parameters' rules, the fitting plan, members, fitting, the ensemble, calibration, costs;
- `learners`: the learner registry, and the learners that are more than a scikit-learn estimator (boosters, Keras);
- `sampling`: how members see the imbalance: resampling, augmentation, generative synthesis;
- `evaluation`: metrics that respect imbalance, reports, the examples a model gets wrong;
- `monitoring`: drift and prior shift;
- `store`: the model store and its safety (versions, champion, member files, integrity, locks, tree checks);
- `serving`: scoring new data with a saved model.

Below them all, the shared ground: `errors`, `storage`, `disk`, `cores`, `forms`. Imports point one way, serving
above the store above monitoring above the model and evaluation, above sampling, learners and data
(pyproject's import contracts; `python -m tests.layers` checks them). The Prefect tasks and flows that run this
work live in `imbalance_flows.flows`.
"""
