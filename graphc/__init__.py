"""graphc: a static-graph deep-learning compiler with define-then-run execution.

    import graphc as gc
    a = gc.constant([1., 2.]); b = gc.constant([3., 4.])
    with gc.Session() as sess:
        print(sess.run(a + b))   # [4. 6.]
"""
from . import dtypes, errors, ir, nn, passes
from . import random  # gc.random (after math_ops, which it builds on)
from . import layers
from .array_ops import (broadcast_to, concat, expand_dims, full_like, gather, one_hot, ones_like, pad, reshape,
                        split, squeeze, stack, take, tile, transpose, unstack, zeros_like)
from .builder import constant, name_scope
from .creation import arange, eye, full, linspace, ones, zeros
from .dtypes import bool_, float32, float64, int32, int64
from .errors import GraphcError
from .gradients import gradients
from .graph_file import GraphFile, load_graph, save_graph
from .ir import Graph, get_default_graph, reset_default_graph
from .math_ops import (abs, add, argmax, argmin, cast, ceil, clip, cos, divide, dot, equal, erf, exp, expm1,
                       floor, floor_divide, greater, greater_equal, isfinite, isnan, less, less_equal, log,
                       log1p, logical_and, logical_not, logical_or, logsumexp, matmul, max, maximum, mean, min,
                       minimum, mod, multiply, neg, negative, not_equal, power, prod, reciprocal, relu, round,
                       rsqrt, sigmoid, sign, sin, softplus, sqrt, square, stop_gradient, subtract, sum, tanh,
                       where)
from .placeholders import placeholder
from .runtime import Compiled, Session, TensorSpec
from .runtime import InteractiveSession
from .default_session import get_default_session
from .runtime.trace import RunMetadata, RunOptions
from .state import assign, assign_add, assign_sub, control_dependencies, global_variables, group, trainable_variables
from .tensor import Operation, Tensor, Variable
from . import onnx, testing, train   # gc.onnx loads the onnx package only when used
from . import summary   # gc.summary loads the tensorboard package only when used
from .variables import global_variables_initializer, variables_initializer
from .variable_scope import (AUTO_REUSE, VariableScope, get_regularization_loss, get_regularization_losses,
                             get_variable, get_variable_scope, inits as initializers, variable_scope)

bool = bool_  # noqa: A001  (gc.bool, as the API promises)

__version__ = "0.1.0"
