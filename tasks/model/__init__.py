"""The model: member specs, parameters, the fitting plan, members, fitting, the ensemble, calibration, costs."""
