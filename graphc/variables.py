"""Variables and their initializers."""
from . import builder
from .ir.graph import get_default_graph
from .errors import ShapeError
from .tensor import Tensor


def new_variable_node(initial_value, name, trainable, dtype):
    if initial_value is None:
        raise TypeError("Variable needs an initial_value")
    graph = initial_value.graph if isinstance(initial_value, Tensor) else get_default_graph()
    full_name = graph.unique_name(name or "Variable")
    loc = builder.user_location()
    if isinstance(initial_value, Tensor):
        init = initial_value.node if dtype is None else initial_value.astype(dtype).node
    else:
        init = graph.add_node("constant", (), {"value": builder.constant_array(initial_value, dtype)},
                              name=f"{full_name}/initial_value", loc=loc, exact_name=True)
    if any(d is None for d in init.shape):
        raise ShapeError(f"Variable '{full_name}' at {loc}: its initial value '{init.name}' "
                         f"must have a static shape, got {init.type}")
    attrs = {"dtype": init.dtype, "shape": init.shape, "trainable": bool(trainable),
             "initial_value": init.name}
    return graph.add_node("variable", (), attrs, name=full_name, loc=loc, exact_name=True)


def global_variables_initializer():
    """An op that resets every variable of the default graph to its initial value."""
    return variables_initializer([get_default_graph().tensor(n) for n in get_default_graph().variables()])


def variables_initializer(var_list, name="init"):
    """An op that resets the variables in ``var_list`` to their initial values."""
    var_list = list(var_list)
    graph = var_list[0].graph if var_list else get_default_graph()
    inits = [v.initial_value for v in var_list]
    node = graph.add_node("init_variables", [t.node for t in inits],
                          {"variables": tuple(v.name for v in var_list)}, name=name,
                          loc=builder.user_location())
    return graph.tensor(node)
