"""Compiled inference: the fitted pipeline converted to ONNX, proven equal, run by ONNX Runtime.

At registration `compile_model` converts the whole fitted pipeline (imputers, encoders,
scalers and the estimator) with skl2onnx; XGBoost and LightGBM estimators through the
converters onnxmltools registers with it. A neural network exports itself (its
``to_onnx``: torch's exporter for the PyTorch MLP), joined to the preprocessing skl2onnx
converts (`_convert_network`). Classifiers give plain label and probability tensors (no
ZipMap). The result is kept only if it passes the equivalence gate
(`gate`): on every held-out row, the schema's example and edge cases made from the
schema, labels equal exactly and probabilities or predicted values within `TOLERANCE`.
Float32 is tried first (ONNX Runtime has no double-precision imputer); float64 when
float32 moves an answer. When neither converts or passes, training registers the native
artifact alone and says why in one line (`Compilation.reason`): it never fails training.

`CompiledModel` serves the result behind the model interface (``MODEL_RUNTIME``): the
session is made when the model is loaded, which under uWSGI's ``lazy-apps`` is in each
worker after the fork, never shared across processes.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .base import InvalidInputError, Model, UnsafeModelFileError
from .schema import MISSING_STRING, InputSchema

Precision = Literal["float32", "float64"]
PRECISIONS: tuple[Precision, ...] = ("float32", "float64")
TOLERANCE = {"absolute": 1e-5, "relative": 1e-5}
"""How far a compiled probability or predicted value may be from the native one:
``|compiled - native| <= absolute + relative * |native|``. Measured differences in float32
are near 1e-7 (see the docs' compiled-inference page): this leaves two orders of margin,
and a split that moves in a tree (a difference of a whole leaf) still fails it."""
OPSETS = {"": 18, "ai.onnx.ml": 3}
"""ONNX operator sets: 18 for the standard domain; onnxmltools' tree converters need
version 3 of the ML domain."""
UNSEEN_CATEGORY = "(a category never seen in training)"
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_METADATA_KEY = "mlprod"


@dataclass(frozen=True)
class Compilation:
    """The outcome of `compile_model`: ONNX bytes that passed the gate, or why there are none."""

    onnx: bytes | None = None
    precision: Precision | None = None
    converter: str | None = None
    """The converters used, with their versions (e.g. ``skl2onnx 1.20.0``)."""
    rows_checked: int = 0
    max_difference: float = 0.0
    """The largest difference between a compiled and a native value the gate saw."""
    reason: str | None = None
    """One line: the step that failed and the converter's or the gate's message."""
    opset: dict[str, int] | None = None
    """The operator sets the ONNX file uses, by domain (``ai.onnx`` for the standard one)."""


def compile_model(
    pipeline: Any,
    schema: InputSchema,
    task: str,
    held_out: np.ndarray,
    training: np.ndarray,
) -> Compilation:
    """Convert ``pipeline`` (fitted) and check it against itself; never raises for a model.

    ``held_out`` are the evaluation rows; ``training`` gives the range edge cases take.
    """
    try:
        import onnxruntime  # noqa: F401  # the gate runs the model; without it there is none
        import skl2onnx
    except ImportError as exc:
        return Compilation(reason=f"convert: {exc.name} is not installed ({exc})")
    rows = np.concatenate([held_out, edge_cases(schema, training)])
    converter = f"skl2onnx {skl2onnx.__version__}"
    failures = []
    for precision in PRECISIONS:
        try:
            onnx_bytes = _convert(pipeline, schema, task, precision)
        except Exception as exc:  # any converter error means: not convertible, serve native
            failures.append(f"convert ({precision}): {_one_line(exc)}")
            continue
        try:
            compiled = CompiledModel.from_bytes(onnx_bytes)
            difference = gate(pipeline, compiled, rows, task)
        except GateError as exc:
            failures.append(f"gate ({precision}): {exc}")
            continue
        except Exception as exc:  # e.g. ONNX Runtime has no kernel for an operator
            failures.append(f"load in onnxruntime ({precision}): {_one_line(exc)}")
            continue
        return Compilation(
            onnx=onnx_bytes,
            precision=precision,
            converter=_converters(converter, pipeline),
            rows_checked=len(rows),
            max_difference=difference,
            opset=_opsets(onnx_bytes),
        )
    return Compilation(reason="; ".join(dict.fromkeys(failures)))


class GateError(Exception):
    """The compiled model answers differently from the native one."""


def gate(pipeline: Any, compiled: CompiledModel, rows: np.ndarray, task: str) -> float:
    """The largest difference of ``compiled`` from ``pipeline`` on ``rows``; `GateError` if
    a label differs or a value is out of `TOLERANCE`."""
    if task == "classification":
        native_labels, labels = pipeline.predict(rows), compiled.predict(rows)
        wrong = np.flatnonzero(native_labels != labels)
        if wrong.size:
            i = wrong[0]
            raise GateError(
                f"{wrong.size} of {len(rows)} labels differ (row {i}: "
                f"{labels[i]!r} instead of {native_labels[i]!r})"
            )
        if not hasattr(pipeline, "predict_proba"):
            return 0.0
        native, values = pipeline.predict_proba(rows), compiled.predict_proba(rows)
    else:
        native, values = pipeline.predict(rows), compiled.predict(rows)
    native, values = np.asarray(native, dtype=np.float64), np.asarray(values, dtype=np.float64)
    if native.shape != values.shape:
        raise GateError(f"outputs of shape {values.shape} instead of {native.shape}")
    difference = np.abs(values - native)
    bound = TOLERANCE["absolute"] + TOLERANCE["relative"] * np.abs(native)
    outside = (difference > bound).reshape(len(rows), -1).any(axis=1)
    if outside.any():
        raise GateError(
            f"{int(outside.sum())} of {len(rows)} rows differ by more than the tolerance "
            f"(largest difference {float(difference.max()):.3g})"
        )
    return float(difference.max()) if difference.size else 0.0


def edge_cases(schema: InputSchema, training: np.ndarray) -> np.ndarray:
    """Rows the gate checks besides the held-out ones: the example and, from it, each
    feature at its training range's ends, missing (when nullable) or an unseen category;
    then every nullable feature missing at once."""
    example = [_cell(feature.type, schema.example.get(feature.name)) for feature in schema.features]
    rows = [list(example)]
    everything_missing = list(example)
    for i, feature in enumerate(schema.features):
        values: list[Any] = []
        if feature.type == "string":
            values.append(UNSEEN_CATEGORY)
            missing: Any = MISSING_STRING
        else:
            column = training[:, i].astype(np.float64)
            column = column[np.isfinite(column)]
            if column.size:
                values += [float(column.min()), float(column.max())]
            missing = math.nan
        if feature.nullable:
            values.append(missing)
            everything_missing[i] = missing
        for value in values:
            row = list(example)
            row[i] = value
            rows.append(row)
    rows.append(everything_missing)
    return np.array(rows, dtype=schema.dtype)


def _cell(kind: str, value: Any) -> Any:
    """An example's JSON value as a feature-matrix cell (a missing one as the API makes it)."""
    if value is None:
        return MISSING_STRING if kind == "string" else math.nan
    return str(value) if kind == "string" else float(value)


class CompiledModel(Model):
    """An ONNX model run by ONNX Runtime, answering as the `Predictor` it was compiled from.

    It serves; it does not train: `fit` refuses (compile a fitted `Predictor` instead).
    What it needs to take the API's feature matrix (the features' names and types, the
    classes, whether missing numbers are imputed) is stored in the ONNX file's metadata,
    so the file, hash-checked against its manifest, is the whole model.
    """

    suffix = ".onnx"

    def __init__(self, session: Any, info: dict[str, Any]) -> None:
        self._session = session
        self._info = info
        self._types: list[str] = info["types"]
        self._inputs = [item.name for item in session.get_inputs()]
        self._outputs = [item.name for item in session.get_outputs()]
        self._dtype = np.dtype(info["precision"])
        self._classes = info["classes"]

    @classmethod
    def from_bytes(cls, onnx_bytes: bytes) -> CompiledModel:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        # One thread per session: uWSGI runs one single-threaded worker per core, so
        # ONNX Runtime's own pools (one thread per core each, by default) would only fight
        # the other workers for the cores; one row takes microseconds, too little to share.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Made in the process that calls: under uWSGI's lazy-apps, each worker after fork.
        session = onnxruntime.InferenceSession(
            onnx_bytes, sess_options=options, providers=["CPUExecutionProvider"]
        )
        raw = session.get_modelmeta().custom_metadata_map.get(_METADATA_KEY)
        if raw is None:
            raise UnsafeModelFileError("the ONNX file has no mlprod metadata")
        return cls(session, json.loads(raw))

    @property
    def framework(self) -> str:
        return "onnxruntime"

    @property
    def precision(self) -> str:
        return str(self._info["precision"])

    @property
    def classes(self) -> list[Any]:
        return list(self._classes)

    def fit(self, X: np.ndarray, y: np.ndarray) -> CompiledModel:
        raise TypeError("a compiled model is not trained: train a Predictor and compile it")

    def predict(self, X: np.ndarray) -> np.ndarray:
        label = self._run(X)[0]
        if self._classes:
            return label.ravel()
        return label.ravel().astype(np.float64)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        if not self._info.get("probabilities", bool(self._classes)) or len(self._outputs) < 2:
            raise InvalidInputError("this model does not give class probabilities")
        return self._run(X)[1].astype(np.float64)

    def _run(self, X: np.ndarray) -> list[np.ndarray]:
        types = self._types
        if X.ndim != 2 or X.shape[1] != len(types):
            raise InvalidInputError(
                f"expected rows of {len(types)} features, got an array of shape {X.shape}"
            )
        return self._session.run(None, self._feeds(X))  # type: ignore[no-any-return]

    def _feeds(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """The session's inputs: the matrix in one tensor, or one column per feature."""
        if len(self._inputs) == 1:
            return {self._inputs[0]: self._numbers(X)}
        feeds = {}
        for i, (name, kind) in enumerate(zip(self._inputs, self._types, strict=True)):
            column = X[:, i : i + 1]
            feeds[name] = column.astype(str) if kind == "string" else self._numbers(column)
        return feeds

    def _numbers(self, X: np.ndarray) -> np.ndarray:
        """``X`` as the model's float type, refused as the native model refuses it."""
        try:
            numbers = X.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"features must be numbers ({exc})") from None
        if np.isinf(numbers).any() or (not self._info["imputes"] and np.isnan(numbers).any()):
            gaps = "" if self._info["imputes"] else " (this model was trained without gaps)"
            raise InvalidInputError(f"features must be finite numbers{gaps}")
        # a gap (NaN) compares false: no np.nan_to_num, which cost more than the session's run
        if self._dtype == np.float32 and (np.abs(numbers) > _FLOAT32_MAX).any():
            raise InvalidInputError("feature values too large for the model (float32 overflow)")
        return numbers.astype(self._dtype)

    def dump(self, path: Path) -> None:
        raise TypeError("a compiled model is written at registration, from its ONNX bytes")

    @classmethod
    def load(cls, path: Path) -> CompiledModel:
        try:
            return cls.from_bytes(path.read_bytes())
        except UnsafeModelFileError as exc:
            raise UnsafeModelFileError(f"{path.name}: {exc}") from None
        except Exception as exc:  # ONNX Runtime's errors for a file that is not a model
            raise UnsafeModelFileError(
                f"{path.name} is not an ONNX model ONNX Runtime can run "
                f"({type(exc).__name__}: {_one_line(exc)}); refusing to load it"
            ) from None

    def params(self) -> dict[str, Any]:
        return {"precision": self.precision}


def _convert(pipeline: Any, schema: InputSchema, task: str, precision: Precision) -> bytes:
    from skl2onnx import convert_sklearn

    if _is_network(pipeline.steps[-1][1]):
        onnx_model = _convert_network(pipeline, schema, task, precision)
    else:
        _register_converters(pipeline)
        options = {id(pipeline.steps[-1][1]): {"zipmap": False}} if task == "classification" else {}
        onnx_model = convert_sklearn(
            pipeline,
            initial_types=_input_types(schema, precision),
            options=options,
            target_opset=dict(OPSETS),
        )
    classes = getattr(pipeline, "classes_", None)
    info = {
        "precision": precision,
        "types": [feature.type for feature in schema.features],
        "classes": [] if classes is None else classes.tolist(),
        "imputes": _imputes(pipeline),
        # as the native model: probabilities only from a classifier that gives them
        "probabilities": classes is not None and hasattr(pipeline, "predict_proba"),
    }
    entry = onnx_model.metadata_props.add()
    entry.key, entry.value = _METADATA_KEY, json.dumps(info)
    return bytes(onnx_model.SerializeToString())


def _input_types(schema: InputSchema, precision: Precision) -> list[tuple[str, Any]]:
    """The ONNX inputs: the feature matrix in one tensor, or one column per feature when
    some are strings."""
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType, StringTensorType

    number_type = FloatTensorType if precision == "float32" else DoubleTensorType
    if schema.categorical:
        return [
            (
                f"feature_{i}",
                StringTensorType([None, 1]) if f.type == "string" else number_type([None, 1]),
            )
            for i, f in enumerate(schema.features)
        ]
    return [("features", number_type([None, len(schema.features)]))]


def _is_network(estimator: Any) -> bool:
    """A neural network that exports itself (``to_onnx``, e.g. the PyTorch MLP)."""
    return callable(getattr(estimator, "to_onnx", None))


def _convert_network(pipeline: Any, schema: InputSchema, task: str, precision: Precision) -> Any:
    """The preprocessing converted by skl2onnx, joined to the network exported by its own
    framework (torch's exporter, through the estimator's ``to_onnx``) into one graph; for a
    classifier, class numbers become the labels in the graph itself."""
    import onnx
    from onnx import compose, helper, numpy_helper
    from skl2onnx import convert_sklearn
    from sklearn.pipeline import Pipeline

    if precision != "float32":
        raise TypeError("the network computes in float32 (torch's default)")
    final = pipeline.steps[-1][1]
    network = onnx.load_from_string(final.to_onnx(OPSETS[""]))
    network = compose.add_prefix(network, "network/")
    steps = pipeline.steps[:-1]
    if steps:
        prepare = convert_sklearn(
            Pipeline(steps),
            initial_types=_input_types(schema, precision),
            target_opset=dict(OPSETS),
        )
        ir_version = max(prepare.ir_version, network.ir_version)
        prepare.ir_version = network.ir_version = ir_version
        model = compose.merge_models(
            prepare,
            network,
            io_map=[(prepare.graph.output[0].name, "network/prepared")],
            producer_name="mlprod",
        )
    else:
        model = network
    if task == "classification":
        index, probabilities = (output.name for output in model.graph.output)
        labels = np.asarray(final.classes_)
        if labels.dtype.kind in "US":
            labels = labels.astype(object)
        table = numpy_helper.from_array(labels, "network/labels")
        model.graph.initializer.append(table)
        model.graph.node.append(helper.make_node("Gather", ["network/labels", index], ["label"]))
        label = helper.make_tensor_value_info("label", table.data_type, [None])
        kept = [output for output in model.graph.output if output.name == probabilities]
        del model.graph.output[:]
        model.graph.output.extend([label, *kept])
    onnx.checker.check_model(model)
    return model


def _opsets(onnx_bytes: bytes) -> dict[str, int]:
    import onnx

    imports = onnx.load_from_string(onnx_bytes).opset_import
    return {entry.domain or "ai.onnx": entry.version for entry in imports}


def _imputes(pipeline: Any) -> bool:
    from sklearn.impute import SimpleImputer

    params = pipeline.get_params(deep=True).values()
    return any(isinstance(value, SimpleImputer) for value in params)


def _register_converters(pipeline: Any) -> None:
    """Teach skl2onnx the estimators it does not know: XGBoost's and LightGBM's (with
    onnxmltools' converters, when those libraries are installed) and a wrapper that
    holds the real classifier in ``estimator_`` and maps its class numbers to labels."""
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )

    classifier_options = {"nocl": [True, False], "zipmap": [True, False, "columns"]}
    try:
        from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost
        from xgboost import XGBClassifier, XGBRegressor
    except ImportError:
        pass
    else:
        update_registered_converter(
            XGBClassifier,
            "XGBoostXGBClassifier",
            calculate_linear_classifier_output_shapes,
            convert_xgboost,
            options=classifier_options,
        )
        update_registered_converter(
            XGBRegressor,
            "XGBoostXGBRegressor",
            calculate_linear_regressor_output_shapes,
            convert_xgboost,
        )
    try:
        from lightgbm import LGBMClassifier, LGBMRegressor
        from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm
    except ImportError:
        pass
    else:
        update_registered_converter(
            LGBMClassifier,
            "LightGbmLGBMClassifier",
            calculate_linear_classifier_output_shapes,
            convert_lightgbm,
            options=classifier_options,
        )
        update_registered_converter(
            LGBMRegressor,
            "LightGbmLGBMRegressor",
            calculate_linear_regressor_output_shapes,
            convert_lightgbm,
            options={"split": None},
        )
    final = pipeline.steps[-1][1]
    if _is_label_wrapper(final):
        update_registered_converter(
            type(final),
            f"LabelWrapper{type(final).__name__}",
            calculate_linear_classifier_output_shapes,
            _convert_label_wrapper,
            options={"zipmap": [False], "nocl": [False]},
        )


def _is_label_wrapper(estimator: Any) -> bool:
    """A classifier fitted on class numbers 0..n-1 whose ``classes_`` maps them to labels."""
    inner = getattr(estimator, "estimator_", None)
    classes = getattr(estimator, "classes_", None)
    inner_classes = getattr(inner, "classes_", None)
    return (
        classes is not None
        and inner_classes is not None
        and np.array_equal(inner_classes, np.arange(len(classes)))
    )


def _convert_label_wrapper(scope: Any, operator: Any, container: Any) -> None:
    """The inner classifier's graph, then its class numbers gathered into the labels."""
    from skl2onnx.algebra.onnx_operator import OnnxSubEstimator
    from skl2onnx.algebra.onnx_ops import OnnxGather, OnnxIdentity

    version = container.target_opset
    wrapper = operator.raw_operator
    inner = OnnxSubEstimator(
        wrapper.estimator_, operator.inputs[0], op_version=version, options={"zipmap": False}
    )
    labels = np.asarray(wrapper.classes_)
    if labels.dtype.kind in "US":
        labels = labels.astype(object)
    label = OnnxGather(labels, inner[0], op_version=version, output_names=[operator.outputs[0]])
    probabilities = OnnxIdentity(inner[1], op_version=version, output_names=[operator.outputs[1]])
    label.add_to(scope, container)
    probabilities.add_to(scope, container)


def _converters(skl2onnx_version: str, pipeline: Any) -> str:
    """The converters used: skl2onnx, and onnxmltools' for an XGBoost or LightGBM step."""
    names = [skl2onnx_version]
    final = pipeline.steps[-1][1]
    if _is_network(final):  # the network's own exporter, e.g. torch.onnx (with onnxscript)
        distribution = getattr(final, "framework_distribution", "torch")
        names.append(f"{distribution} {metadata.version(distribution)} (torch.onnx)")
        names += [f"{name} {metadata.version(name)}" for name in ("onnxscript", "onnx")]
        return ", ".join(names)
    modules = {type(value).__module__.partition(".")[0] for value in _steps(pipeline)}
    if modules & {"xgboost", "lightgbm"}:
        names.append(f"onnxmltools {metadata.version('onnxmltools')}")
    return ", ".join(names)


def _steps(pipeline: Any) -> list[Any]:
    """Every estimator in ``pipeline``, through nesting and wrappers (``estimator_``)."""
    found = []
    for value in pipeline.get_params(deep=True).values():
        while hasattr(value, "fit"):
            found.append(value)
            value = getattr(value, "estimator_", None)
    return found


def _one_line(exc: BaseException) -> str:
    """An exception as one short line: its type and the first line of its message."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."
