"""Math operators of NKI: element-wise functions, binary operators and reductions.

Each operator is one object usable both ways NKI uses it: as the ``op`` argument of an ISA
instruction (``nisa.tensor_tensor(..., op=nl.add)``) and, through ``nki.language``, as a
function on tiles (``nl.add(x, y)``). Numerics are float32 numpy; the result is rounded to the
destination type by the caller.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def _erf(values: np.ndarray) -> np.ndarray:
    """Error function (Abramowitz and Stegun 7.1.26, absolute error below 1.5e-7)."""
    sign = np.sign(values)
    magnitude = np.abs(values)
    t = 1.0 / (1.0 + 0.3275911 * magnitude)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (
        -1.453152027 + t * 1.061405429))))
    return (sign * (1.0 - poly * np.exp(-magnitude * magnitude))).astype(np.float32)


def _gelu(values: np.ndarray) -> np.ndarray:
    return (0.5 * values * (1.0 + _erf(values / np.float32(np.sqrt(2.0))))).astype(np.float32)


def _gelu_tanh(values: np.ndarray) -> np.ndarray:
    inner = np.float32(np.sqrt(2.0 / np.pi)) * (values + np.float32(0.044715) * values ** 3)
    return (0.5 * values * (1.0 + np.tanh(inner))).astype(np.float32)


def _sigmoid(values: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-values))).astype(np.float32)


class Operator:
    """A named math operator.

    Attributes
    ----------
    name : str
    arity : int
        1 for activation functions, 2 for binary operators.
    function : callable
        The numpy implementation on float32 arrays.
    reducer : callable or None
        For binary operators that can reduce: the numpy reduction (``np.sum`` for add).
    """

    def __init__(self, name: str, arity: int, function: Callable[..., np.ndarray],
                 reducer: Callable[..., np.ndarray] | None = None,
                 bitwise: bool = False) -> None:
        self.name = name
        self.arity = arity
        self.function = function
        self.reducer = reducer
        self.bitwise = bitwise

    def __repr__(self) -> str:
        return f"nl.{self.name}"

    def __call__(self, *args: object, **kwargs: object) -> object:
        from . import language
        return language.apply_operator(self, *args, **kwargs)


def _unary(name: str, function: Callable[[np.ndarray], np.ndarray]) -> Operator:
    return Operator(name, 1, function)


def _compare(function: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Callable:
    return lambda first, second: function(first, second).astype(np.float32)


UNARY = {operator.name: operator for operator in (
    _unary("exp", np.exp), _unary("log", np.log), _unary("sqrt", np.sqrt),
    _unary("rsqrt", lambda values: 1.0 / np.sqrt(values)),
    _unary("reciprocal", lambda values: 1.0 / values), _unary("tanh", np.tanh),
    _unary("sigmoid", _sigmoid), _unary("relu", lambda values: np.maximum(values, 0)),
    _unary("gelu", _gelu), _unary("gelu_apprx_tanh", _gelu_tanh),
    _unary("silu", lambda values: values * _sigmoid(values)),
    _unary("softplus", lambda values: np.logaddexp(0, values)),
    _unary("abs", np.abs), _unary("negative", np.negative), _unary("square", np.square),
    _unary("sin", np.sin), _unary("cos", np.cos), _unary("arctan", np.arctan),
    _unary("erf", _erf), _unary("sign", np.sign), _unary("ceil", np.ceil),
    _unary("floor", np.floor), _unary("copy", lambda values: values),
    _unary("identity", lambda values: values), _unary("bypass", lambda values: values),
)}

BINARY = {operator.name: operator for operator in (
    Operator("add", 2, np.add, np.sum), Operator("subtract", 2, np.subtract),
    Operator("multiply", 2, np.multiply, np.prod), Operator("divide", 2, np.divide),
    Operator("maximum", 2, np.maximum, np.max), Operator("minimum", 2, np.minimum, np.min),
    Operator("power", 2, np.power),
    Operator("equal", 2, _compare(np.equal)), Operator("not_equal", 2, _compare(np.not_equal)),
    Operator("greater", 2, _compare(np.greater)),
    Operator("greater_equal", 2, _compare(np.greater_equal)),
    Operator("less", 2, _compare(np.less)), Operator("less_equal", 2, _compare(np.less_equal)),
    Operator("logical_and", 2, _compare(np.logical_and)),
    Operator("logical_or", 2, _compare(np.logical_or)),
    Operator("bitwise_and", 2, np.bitwise_and, np.bitwise_and.reduce, bitwise=True),
    Operator("bitwise_or", 2, np.bitwise_or, np.bitwise_or.reduce, bitwise=True),
    Operator("bitwise_xor", 2, np.bitwise_xor, np.bitwise_xor.reduce, bitwise=True),
)}

_NUMPY_ALIASES = {np.exp: "exp", np.log: "log", np.sqrt: "sqrt", np.tanh: "tanh",
                  np.abs: "abs", np.negative: "negative", np.square: "square", np.sin: "sin",
                  np.cos: "cos", np.add: "add", np.subtract: "subtract",
                  np.multiply: "multiply", np.divide: "divide", np.maximum: "maximum",
                  np.minimum: "minimum", np.power: "power", np.max: "maximum",
                  np.min: "minimum", np.sum: "add"}


class Reduction:
    """A reduction function of ``nl`` (``nl.sum``, ``nl.max``) that also names its binary
    operator where an instruction takes one (``nisa.tensor_reduce(op=nl.max)``)."""

    def __init__(self, name: str, operator: Operator, average: bool = False) -> None:
        self.name = name
        self.operator = operator
        self.average = average

    def __repr__(self) -> str:
        return f"nl.{self.name}"

    def __call__(self, *args: object, **kwargs: object) -> object:
        from . import language
        return language.reduce(self, *args, **kwargs)


REDUCTIONS = {reduction.name: reduction for reduction in (
    Reduction("sum", BINARY["add"]), Reduction("max", BINARY["maximum"]),
    Reduction("min", BINARY["minimum"]), Reduction("prod", BINARY["multiply"]),
    Reduction("mean", BINARY["add"], average=True),
)}


def lookup(op: object) -> Operator | None:
    """The operator for an ``nl`` operator or a numpy function; ``None`` if unknown."""
    if isinstance(op, Operator):
        return op
    linked = getattr(op, "operator", None)  # nl.sum, nl.max, nl.copy name an operator
    if isinstance(linked, Operator):
        return linked
    name = _NUMPY_ALIASES.get(op)  # type: ignore[call-overload]
    if name is None:
        return None
    return UNARY.get(name) or BINARY.get(name)
