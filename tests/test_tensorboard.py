"""The TensorBoard callback: its event files read back with TensorBoard's own
EventAccumulator (scalars, histograms against numpy, the compiled training step's graph)."""
import numpy as np
import pytest

import graphc as gc
from graphc import layers as L

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402


def read(folder):
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "histograms": 0})
    acc.Reload()
    return acc


def scalars(acc, tag):
    return [(e.step, e.value) for e in acc.Scalars(tag)]


def trained(tmp_path, epochs=3, **kwargs):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 4)).astype(np.float32), rng.integers(0, 3, 64)
    model = L.Sequential([L.Dense(8, "relu"), L.Dropout(0.2), L.Dense(3)], seed=0)
    model.compile(gc.train.SGD(0.05), "sparse_categorical_crossentropy", metrics=["accuracy"])
    weights = []
    record = L.LambdaCallback(on_epoch_end=lambda e, logs: weights.append(model.get_weights()))
    board = L.TensorBoard(tmp_path / "logs", **kwargs)
    history = model.fit(x, y, epochs=epochs, batch_size=16, verbose=0, validation_split=0.25,
                        callbacks=[record, board])
    return model, history, weights


def test_epoch_scalars_train_and_validation(tmp_path):
    model, history, _ = trained(tmp_path)
    train, val = read(tmp_path / "logs" / "train"), read(tmp_path / "logs" / "validation")
    assert set(train.Tags()["scalars"]) == {"epoch_loss", "epoch_accuracy", "epoch_learning_rate"}
    assert set(val.Tags()["scalars"]) == {"epoch_loss", "epoch_accuracy"}
    for acc, prefix in ((train, ""), (val, "val_")):
        for name in ("loss", "accuracy"):
            steps, values = zip(*scalars(acc, f"epoch_{name}"))
            assert steps == (0, 1, 2)
            np.testing.assert_allclose(values, history.history[prefix + name], rtol=1e-6)   # (stored as float32)
    assert [v for _, v in scalars(train, "epoch_learning_rate")] == [np.float32(0.05)] * 3
    assert train.Tags()["histograms"] == []


def test_batch_scalars_and_histograms(tmp_path):
    model, history, weights = trained(tmp_path, histogram_freq=2, update_freq=2)
    train = read(tmp_path / "logs" / "train")
    # 48 training examples in batches of 16: 3 batches an epoch, 9 in all; every 2nd is logged
    assert [s for s, _ in scalars(train, "batch_loss")] == [2, 4, 6, 8]
    assert {"batch_loss", "batch_accuracy", "batch_learning_rate"} <= set(train.Tags()["scalars"])
    assert sorted(train.Tags()["histograms"]) == ["dense/bias", "dense/kernel", "dense_1/bias", "dense_1/kernel"]
    for epoch_index, event in zip((0, 2), train.Histograms("dense/kernel")):
        assert event.step == epoch_index
        h, kernel = event.histogram_value, weights[epoch_index][0].astype(np.float64)
        assert (h.min, h.max, h.num) == (pytest.approx(kernel.min()), pytest.approx(kernel.max()), kernel.size)
        assert h.sum == pytest.approx(kernel.sum(), abs=1e-6)
        assert h.sum_squares == pytest.approx((kernel ** 2).sum(), rel=1e-6)
        assert sum(h.bucket) == kernel.size


def test_graph_is_the_compiled_training_step_with_kernels_as_scopes(tmp_path):
    model, _, _ = trained(tmp_path, epochs=1)
    graph = read(tmp_path / "logs" / "train").Graph()
    nodes = {n.name: n for n in graph.node}
    assert len(nodes) == len(graph.node)
    for node in graph.node:   # every input names a node of the graph
        for name in node.input:
            assert name.lstrip("^").split(":")[0] in nodes, (node.name, name)
    program = model.train_program()
    fused = [k for k in program.kernels if len(k.nodes) > 1]
    assert fused
    scopes = {name.split("/")[0] for name in nodes}
    ops_in_scopes = {}
    for name, node in nodes.items():
        ops_in_scopes.setdefault(name.split("/")[0], []).append(node.op)
    for kernel in fused:   # each fused kernel is one scope holding its ops
        scope = [s for s in scopes if s.startswith("kernel_") and any(
            n == f"{s}/{kernel.name}" for n in nodes)]
        assert len(scope) == 1, kernel.name
        assert len([n for n in nodes if n.startswith(scope[0] + "/")]) >= len(kernel.nodes)
    assert {"train_x", "dense/kernel", "learning_rate"} <= set(nodes)
    assert nodes["train_x"].op == "placeholder"
    assert [d.size for d in nodes["train_x"].attr["_output_shapes"].list.shape[0].dim] == [16, 4]
    # every matmul the program runs is there: inside its kernel's scope, or as a node of its own
    fused_matmuls = sum(1 for k in fused for n in k.nodes if program.graph.node(k.name).attrs["body"].node(n).op
                        == "matmul")
    plain_matmuls = sum(1 for n in program.graph.nodes if n.op == "matmul")
    in_scopes = sum(1 for n in graph.node if n.op == "matmul" and n.name.startswith("kernel_"))
    assert in_scopes == fused_matmuls and sum(1 for n in graph.node if n.op == "matmul") == fused_matmuls + plain_matmuls


def test_without_graph_and_bad_arguments(tmp_path):
    trained(tmp_path, epochs=1, write_graph=False)
    assert not read(tmp_path / "logs" / "train").Tags()["graph"]
    with pytest.raises(ValueError, match="update_freq"):
        L.TensorBoard(tmp_path, update_freq="sometimes")
