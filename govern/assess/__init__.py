"""Evidence about a model: fairness, performance, explanations, drift, safe model loading.

Heavy libraries (numpy, pandas, scikit-learn, fairlearn, shap, skops, onnxruntime) are
imported inside the functions that need them, never at module level.
"""
