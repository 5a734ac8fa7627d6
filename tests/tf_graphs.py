"""What a traced TensorFlow function runs (tests on the tensorflow backend)."""


def _operations(function):
    for concrete in function._list_all_concrete_functions():
        yield from concrete.graph.get_operations()


def xla_calls(function):
    """How many calls in a traced `tf.function` XLA must compile."""
    count = 0
    for op in _operations(function):
        try:
            count += bool(op.get_attr("_XlaMustCompile"))
        except ValueError:  # An op without the attribute.
            pass
    return count


def xla_calls_in_branches(function):
    """`(then, else)` counts of such calls in each `tf.cond` of a traced
    `tf.function`, whose branches are functions of their own."""
    counts = []
    for concrete in function._list_all_concrete_functions():
        graph_def = concrete.graph.as_graph_def()
        library = {f.signature.name: f for f in graph_def.library.function}
        for node in graph_def.node:
            if node.op in ("If", "StatelessIf"):
                counts.append(tuple(
                    sum(n.attr["_XlaMustCompile"].b for n in
                        library[node.attr[branch].func.name].node_def)
                    for branch in ("then_branch", "else_branch")))
    return counts


def op_types(function):
    """The op types of a traced `tf.function`'s graphs."""
    return {op.type for op in _operations(function)}


def op_count(function, op_type):
    """How many ops of `op_type` a traced `tf.function`'s graphs hold."""
    return sum(op.type == op_type for op in _operations(function))


def _nodes_with_bodies(function):
    """The nodes of a traced `tf.function`'s graphs and of the functions
    they call (`tf.cond` branches, nested functions)."""
    for concrete in function._list_all_concrete_functions():
        graph_def = concrete.graph.as_graph_def()
        yield from graph_def.node
        for library_function in graph_def.library.function:
            yield from library_function.node_def


def op_types_with_bodies(function):
    """The op types of a traced `tf.function`'s graphs and of the
    functions they call."""
    return {node.op for node in _nodes_with_bodies(function)}


def products_for_float32_results(function):
    """The products in `function`'s graphs (its functions' bodies too) that
    ask for a float32 result of bfloat16 operands."""
    import tensorflow as tf

    return sum(
        node.op == "BatchMatMulV3"
        and node.attr["Ta"].type == tf.bfloat16.as_datatype_enum
        and node.attr["Tout"].type == tf.float32.as_datatype_enum
        for node in _nodes_with_bodies(function)
    )


def compiled_products(function, *arguments):
    """Operand dtypes of each product in the HLO XLA optimised `function`
    (a `tf.function(jit_compile=True)`) into."""
    import re

    text = function.experimental_get_compiler_ir(*arguments)(
        stage="optimized_hlo"
    )
    dtypes = dict(re.findall(r"(%[\w.-]+) = (\w+)\[", text))
    return [
        (dtypes[lhs], dtypes[rhs])
        for lhs, rhs in re.findall(r" dot\((%[\w.-]+), (%[\w.-]+)\)", text)
    ]
