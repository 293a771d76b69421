"""The closed-form baselines (CCA, GMA, LCFS, JFSSL) as scikit-learn estimators.

The scikit-learn conventions: hyperparameters are the ``__init__`` keyword arguments and
nothing else (``__init__`` only stores them), ``get_params`` / ``set_params`` / ``clone``
work, validation happens in ``fit``, learned state ends in ``_``, and ``transform`` before
``fit`` raises ``NotFittedError``. The registry's defaults come from the signature. Where a
test checks that a hyperparameter takes effect, the reference is computed here by hand
(ridge regression, the LDA rank, a CCA of the whitened cross-covariance), not taken
from the code under test.
"""

from __future__ import annotations

import inspect
import pickle

import numpy as np
import pytest
import sklearn.utils.estimator_checks as sk_checks
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError

from xmr.methods import get
from xmr.methods.cca import CCA
from xmr.methods.gma import GMA
from xmr.methods.jfssl import JFSSL
from xmr.methods.lcfs import LCFS
from xmr.methods.registry import estimator_defaults

CLASSES = {"cca": CCA, "gma": GMA, "lcfs": LCFS, "jfssl": JFSSL}
NAMES = tuple(CLASSES)
#: a non-default value for every hyperparameter of each method
OTHER = {
    "cca": {"n_components": 3, "reg": 0.01, "solver": "sklearn"},
    "gma": {"n_components": 2, "alpha": 10.0, "mu": 1.0, "gamma": 2.0, "ridge": 1e-3, "cross": "pairs", "pca_dim": 5},
    "lcfs": {"lambda1": 0.5, "lambda2": 0.01, "n_iter": 2, "eps": 1e-5, "center": False},
    "jfssl": {"lambda1": 0.3, "lambda2": 0.1, "n_iter": 3, "eps": 1e-6, "k": 4, "intra_weight": "heat",
              "inter_weight": 0.5, "center": False},
}


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


def views(n=60, d_a=8, d_b=6, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    xa = rng.normal(size=(n, d_a)) + np.eye(classes, d_a)[y] * 3.0 + 2.0
    xb = rng.normal(size=(n, d_b)) - np.eye(classes, d_b)[y] * 3.0 - 1.0
    return xa, xb, y.astype(np.int64)


# --- the hyperparameters: __init__, get_params, the registry --------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_is_a_sklearn_estimator_registered_as_closed_form(name):
    spec = get(name)
    assert spec.cls is CLASSES[name] and spec.kind == "closed_form"
    assert issubclass(spec.cls, BaseEstimator)
    assert "defaults" not in vars(spec.cls) and not hasattr(spec.cls, "defaults")


@pytest.mark.parametrize("name", NAMES)
def test_get_params_equals_the_registry_defaults_and_the_signature(name):
    spec = get(name)
    params = spec.cls().get_params()
    assert params == spec.defaults
    signature = inspect.signature(spec.cls.__init__).parameters
    assert list(spec.defaults) == [p for p in signature if p != "self"]  # signature order, nothing else
    assert {p: signature[p].default for p in spec.defaults} == spec.defaults
    for r in spec.cls.readings:  # the declared readings name hyperparameters, at their defaults
        assert r.option in params and r.default == params[r.option]


@pytest.mark.parametrize("name", NAMES)
def test_init_only_stores_its_arguments(name):
    cls = CLASSES[name]
    assert vars(cls()) == get(name).defaults
    assert vars(cls(**OTHER[name])) == OTHER[name]
    # no validation in __init__ (scikit-learn convention): a bad value is taken, and refused by fit
    cls(**{next(iter(OTHER[name])): "nonsense"})


@pytest.mark.parametrize("name", NAMES)
def test_unknown_hyperparameter_is_refused(name):
    cls = CLASSES[name]
    with pytest.raises(TypeError, match="not_a_parameter"):
        cls(not_a_parameter=1)
    with pytest.raises(ValueError, match="not_a_parameter"):
        cls().set_params(not_a_parameter=1)


@pytest.mark.parametrize("name", NAMES)
def test_metric_is_an_attribute_not_a_hyperparameter(name):
    est = CLASSES[name]()
    assert est.metric == "cosine" and "metric" not in est.get_params()


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("check", [
    "check_no_attributes_set_in_init",
    "check_parameters_default_constructible",
    "check_get_params_invariance",
    "check_set_params",
    "check_estimator_cloneable",
    "check_estimator_repr",
    "check_do_not_raise_errors_in_init_or_set_params",
])
def test_sklearn_estimator_checks_that_apply(name, check):
    """The checks of sklearn.utils.estimator_checks that do not call fit(X, y) / transform(X):
    ours take two views (and labels), so the others do not apply."""
    getattr(sk_checks, check)(CLASSES[name].__name__, CLASSES[name]())


def test_registry_derives_defaults_from_the_signature_and_refuses_a_defaults_dict():
    class Toy(BaseEstimator):
        def __init__(self, a=1, b="x", seed=0):
            self.a, self.b, self.seed = a, b, seed

    assert estimator_defaults(Toy) == {"a": 1, "b": "x"}  # seed is the engine's, per run

    class Stale(Toy):
        defaults = {"a": 1}

    with pytest.raises(TypeError, match="__init__"):
        estimator_defaults(Stale)

    class NoDefault(BaseEstimator):
        def __init__(self, a):
            self.a = a

    with pytest.raises(TypeError, match="no arguments"):
        estimator_defaults(NoDefault)


# --- clone, set_params ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_clone_keeps_the_params_and_drops_the_fit(name):
    xa, xb, y = views()
    est = CLASSES[name](**OTHER[name]).fit(xa, xb, y)
    copy = clone(est)
    assert type(copy) is type(est) and copy is not est
    assert copy.get_params() == OTHER[name] == est.get_params()
    assert not [k for k in vars(copy) if k.endswith("_")]  # unfitted
    with pytest.raises(NotFittedError):
        copy.transform(xa, xb)
    za, zb = copy.fit(xa, xb, y).transform(xa, xb)
    ra, rb = est.transform(xa, xb)
    assert np.allclose(za, ra) and np.allclose(zb, rb)  # same params, same data: the same fit


@pytest.mark.parametrize("cls", [LCFS, JFSSL])
@pytest.mark.parametrize("center", [False, True])
def test_set_params_takes_effect_regression_start_is_ridge(cls, center):
    """With n_iter=0 LCFS and JFSSL return their start, ridge regression onto the one-hot
    labels, ``(X^T X + lambda1 I)^(-1) X^T Y``: set_params(lambda1, center) must show in it."""
    xa, xb, y = views()
    est = cls(n_iter=0)
    est.set_params(lambda1=2.5, center=center)
    assert est.get_params()["lambda1"] == 2.5
    est.fit(xa, xb, y)
    yy = np.eye(3)[y]
    for x, w, mean in ((xa, est.W_image_, est.mean_image_), (xb, est.W_text_, est.mean_text_)):
        xc = x - x.mean(0) if center else x
        ridge = np.linalg.inv(xc.T @ xc + 2.5 * np.eye(x.shape[1])) @ xc.T @ yy
        assert np.allclose(w, ridge, rtol=1e-8, atol=1e-12)
        assert np.allclose(mean, x.mean(0) if center else 0.0)
    za, _ = est.transform(xa, xb)
    xc = xa - xa.mean(0) if center else xa
    assert np.allclose(za, xc @ est.W_image_)
    # and back: another lambda1 gives another (ridge) solution
    w_before = est.W_image_
    est.set_params(lambda1=0.01).fit(xa, xb, y)
    assert not np.allclose(est.W_image_, w_before)


def test_set_params_n_components_gma_and_cca():
    xa, xb, y = views(classes=4)
    gma = GMA(ridge=1e-3)
    assert gma.fit(xa, xb, y).transform(xa, xb)[0].shape[1] == 3  # None: C - 1, the LDA limit
    assert gma.set_params(n_components=2).fit(xa, xb, y).transform(xa, xb)[0].shape[1] == 2
    cca = CCA()
    assert cca.fit(xa, xb).transform(xa, xb)[1].shape[1] == 6  # 10, capped at the smaller view
    assert cca.set_params(n_components=2).fit(xa, xb).transform(xa, xb)[1].shape[1] == 2


def test_set_params_cca_reg_and_solver():
    """reg=0: the canonical correlations are the singular values of Cxx^(-1/2) Cxy Cyy^(-1/2)
    (computed here with scipy's matrix square root); reg > 0 shrinks them; solver switches
    to scikit-learn's NIPALS CCA and leaves no closed-form state behind."""
    from scipy.linalg import sqrtm

    xa, xb, _ = views(n=200)
    xc, yc = xa - xa.mean(0), xb - xb.mean(0)
    ref = np.linalg.svd(np.linalg.inv(sqrtm(xc.T @ xc)).real @ xc.T @ yc @ np.linalg.inv(sqrtm(yc.T @ yc)).real,
                        compute_uv=False)
    cca = CCA(n_components=3).set_params(reg=0.0).fit(xa, xb)
    assert np.allclose(cca.correlations_, ref[:3], atol=1e-8)
    shrunk = cca.set_params(reg=1.0).fit(xa, xb).correlations_
    assert np.all(shrunk < ref[:3] - 1e-3)
    cca.set_params(solver="sklearn").fit(xa, xb)
    assert hasattr(cca, "sk_cca_") and not hasattr(cca, "W_image_")
    za, zb = cca.transform(xa, xb)
    assert za.shape == (200, 3) and abs(np.corrcoef(za[:, 0], zb[:, 0])[0, 1] - ref[0]) < 1e-3


# --- fitted state, NotFittedError, validation in fit ------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_transform_before_fit_raises_not_fitted(name):
    xa, xb, _ = views()
    for est in (CLASSES[name](), CLASSES[name](**OTHER[name])):
        with pytest.raises(NotFittedError, match=rf"This {type(est).__name__} instance is not fitted yet.*fit\("):
            est.transform(xa, xb)


@pytest.mark.parametrize("name", NAMES)
def test_learned_state_has_trailing_underscores(name):
    xa, xb, y = views()
    est = CLASSES[name]()
    before = set(vars(est))
    est.fit(xa, xb, y)
    learned = set(vars(est)) - before
    assert {"W_image_", "W_text_", "mean_image_", "mean_text_"} <= learned
    assert all(k.endswith("_") for k in learned), learned
    assert est.W_image_.shape[0] == xa.shape[1] and est.W_text_.shape[0] == xb.shape[1]
    assert est.get_params() == get(name).defaults  # fit changes no hyperparameter


BAD = [
    ("cca", "n_components", 0), ("cca", "n_components", 2.5), ("cca", "reg", -1.0), ("cca", "solver", "nipals"),
    ("gma", "n_components", 0), ("gma", "alpha", -1.0), ("gma", "ridge", "big"), ("gma", "mu", 0.0),
    ("gma", "gamma", -2.0), ("gma", "cross", "everything"), ("gma", "pca_dim", 0),
    ("lcfs", "lambda1", -1.0), ("lcfs", "lambda2", float("nan")), ("lcfs", "n_iter", -1), ("lcfs", "n_iter", 1.5),
    ("lcfs", "eps", 0.0), ("lcfs", "center", "yes"),
    ("jfssl", "lambda1", -0.1), ("jfssl", "k", 0), ("jfssl", "k", True), ("jfssl", "intra_weight", "cosine"),
    ("jfssl", "inter_weight", -1.0), ("jfssl", "eps", -1e-7), ("jfssl", "n_iter", None), ("jfssl", "center", None),
]


@pytest.mark.parametrize("name,key,value", BAD, ids=[f"{n}-{k}-{v!r}" for n, k, v in BAD])
def test_fit_refuses_a_bad_hyperparameter_naming_it(name, key, value):
    xa, xb, y = views()
    est = CLASSES[name](**{key: value})  # taken by __init__ ...
    with pytest.raises(ValueError, match=rf"\b{key}\b.*{value!r}" if isinstance(value, str) else rf"\b{key}\b"):
        est.fit(xa, xb, y)  # ... refused by fit
    assert not hasattr(est, "W_image_")
    est.set_params(**{key: get(name).defaults[key]})  # fixed through set_params, it fits
    assert est.fit(xa, xb, y).transform(xa, xb)[0].shape[0] == len(y)


@pytest.mark.parametrize("name", NAMES)
def test_pickle_round_trip_and_fit_transform(name):
    xa, xb, y = views()
    est = CLASSES[name](**{k: v for k, v in OTHER[name].items() if k != "solver"})
    za, zb = est.fit_transform(xa, xb, y)
    again = pickle.loads(pickle.dumps(est))
    ra, rb = again.transform(xa, xb)
    assert np.array_equal(za, ra) and np.array_equal(zb, rb)
    assert again.get_params() == est.get_params()


def test_engine_contract():
    """What the engine uses: construct with spec.defaults, fit(image, text, labels), transform, metric."""
    from xmr.methods.registry import names

    closed = [n for n in names() if get(n).kind == "closed_form"]
    assert sorted(closed) == sorted(NAMES)
    xa, xb, y = views()
    for name in closed:
        spec = get(name)
        assert "seed" not in inspect.signature(spec.cls).parameters
        est = spec.cls(**spec.defaults)
        assert est.fit(xa, xb, y) is est
        za, zb = est.transform(xa[:7], xb[:5])
        assert za.shape[0] == 7 and zb.shape[0] == 5 and za.shape[1] == zb.shape[1]
        assert getattr(est, "metric", None) == "cosine"
