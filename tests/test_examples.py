"""The examples run as a user would run them, and print what they promise."""
import importlib.util
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_example(name, *args):
    result = subprocess.run([sys.executable, os.path.join("examples", name), *args], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_hello_prints_the_sum():
    assert run_example("hello.py").strip() == "[4. 6.]"


def test_mlp_prints_its_ir_and_matches_numpy():
    out = run_example("mlp.py")
    assert "== compiled IR" in out
    assert "matmul(%x, %dense1/w)" in out
    assert "# examples/mlp.py:" in out
    # the example asserts agreement with a float64 numpy forward pass itself; check it reported it
    assert "max |graphc - numpy float64|" in out


def test_train_digits_reaches_97_percent(tmp_path):
    # needs scikit-learn (in the dev extra) for the bundled digits data set
    out = run_example("train_digits.py", "--out", str(tmp_path))
    accuracies = dict(re.findall(r"^(\S+) test accuracy: ([0-9.]+)", out, re.MULTILINE))
    assert set(accuracies) == {"MLP", "CNN", "TF1-style"}, out
    for name, accuracy in accuracies.items():
        assert float(accuracy) >= 0.97, (name, out)
    assert "Epoch 15/15" in out and "Total params:" in out
    # the MLP's callbacks: early stopping on the validation split, the best checkpoint reloaded, logs, a plot
    assert re.search(r"^Epoch \d+: early stopping$", out, re.MULTILINE), out
    assert float(re.search(r"best checkpoint \S+: test accuracy ([0-9.]+)", out).group(1)) >= 0.96
    assert (tmp_path / "mlp-best.gcmodel").is_file()
    if importlib.util.find_spec("tensorboard"):
        assert any((tmp_path / "tensorboard" / "train").iterdir())
    if importlib.util.find_spec("matplotlib"):
        assert (tmp_path / "mlp_history.png").stat().st_size > 10_000


def test_tf1_mnist_trains_and_restores_its_checkpoint(tmp_path):
    """The TF1 tutorials run unchanged; a short run of the deep one still learns, and the
    restored checkpoint gives the trained model's accuracy (the example checks equality)."""
    out = run_example("tf1_mnist.py", "--steps", "60", "--out", str(tmp_path))
    beginners = float(re.search(r"beginners: test accuracy ([0-9.]+)", out).group(1))
    deep, restored = map(float, re.search(r"deep: test accuracy ([0-9.]+), after restoring the checkpoint "
                                          r"([0-9.]+)", out).groups())
    assert beginners > 0.9 and deep > 0.8 and restored == deep
    assert os.path.exists(tmp_path / "model.ckpt-60.npz") and os.path.exists(tmp_path / "checkpoint")


def test_resnet_cifar_learns_and_fused_and_unfused_agree():
    """A short run learns (far above chance, 0.1), the two compilations give the same first
    loss, and the fused-against-unfused table is printed."""
    out = run_example("resnet_cifar.py", "--epochs", "4", "--repeats", "1")
    assert float(re.search(r"^test accuracy: ([0-9.]+)", out, re.MULTILINE).group(1)) > 0.5, out
    fused, unfused = map(float, re.search(r"first step's loss: fused ([0-9.]+), unfused ([0-9.]+)", out).groups())
    assert abs(fused - unfused) <= 1e-5 * abs(unfused), out
    assert re.search(r"^\| graphc fused \| [0-9.]+ \| \d+ \| [0-9.]+ \| [0-9.]+ \|$", out, re.MULTILINE), out
    assert re.search(r"^\| fused speedup \| \| \| [0-9.]+x \| [0-9.]+x \|$", out, re.MULTILINE), out


# train_digits.py, tf1_mnist.py and resnet_cifar.py run above (they take seconds; once is enough)
@pytest.mark.parametrize("name", sorted(f for f in os.listdir(os.path.join(ROOT, "examples"))
                                        if f.endswith(".py") and f not in ("train_digits.py", "tf1_mnist.py", "resnet_cifar.py")))
def test_every_example_runs(name):
    run_example(name)


def test_onnx_roundtrip_exports_loads_and_agrees_with_onnxruntime():
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    out = run_example("onnx_roundtrip.py")
    diffs = [float(d) for d in re.findall(r"max \|graphc - onnxruntime\| = ([0-9.e+-]+)", out)]
    assert len(diffs) == 2 and max(diffs) < 1e-4, out
    assert "optimized IR" in out and re.search(r"# ONNX node '[^']+' \(Conv, opset 17\)", out)
