"""govern: offline-first governance and audit for machine-learning models.

Importing this package is cheap: the heavy stack (SQLAlchemy, scikit-learn, SHAP, WeasyPrint,
pyHanko, Textual) loads only inside the functions that use it. The Python API lives in
:mod:`govern.services`.
"""

__version__ = "0.1.0"
