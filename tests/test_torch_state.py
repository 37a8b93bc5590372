"""atari-agents checkpoints: real files written by PyTorch, read and run without it.

PyTorch is a test-only dependency: it writes the checkpoints (the AtariNet below is
play.py's, so the state-dict keys are the real `_AtariNet__...` ones) and computes the
reference outputs; zoo-site reads and runs them with numpy alone.
"""

from __future__ import annotations

import collections
import gzip
import io
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from atari_agents_fixtures import AtariNet, make_net, write_checkpoint
from torch import nn

from zoo_site.errors import EntryError  # noqa: E402
from zoo_site.networks import safe_pickle, torch_state  # noqa: E402
from zoo_site.networks.base import Network, to_network_input  # noqa: E402
from zoo_site.networks.nature_cnn import (  # noqa: E402
    Conv,
    Dense,
    NatureCNN,
    NatureCNNWeights,
    from_oihw,
    same_padding,
)
from zoo_site.sources.base import ModelRef  # noqa: E402

#: Largest error allowed, relative to the largest magnitude in the layer.
TOL = 1e-4
ROOT = Path(__file__).resolve().parents[1]


def ref(path: Path, family: str = "DQN") -> ModelRef:
    return ModelRef(path, "torch_state", family)


def stacks(n_random: int = 8, seed: int = 3) -> np.ndarray:
    """uint8 (N, 4, 84, 84) stacks: random noise, and screens with structure (blank, full,
    ramps, bars, a moving box, a checkerboard, sparse dots)."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 255, 84, dtype=np.float32)
    frames = [
        np.zeros((84, 84)),
        np.full((84, 84), 255.0),
        np.broadcast_to(ramp, (84, 84)),
        np.broadcast_to(ramp[:, None], (84, 84)),
        np.where((np.arange(84) // 6) % 2 == 0, 200.0, 20.0)[None, :].repeat(84, 0),
        np.indices((84, 84)).sum(0) % 2 * 255.0,
    ]
    structured = [np.stack([f] * 4) for f in frames]
    box = np.zeros((4, 84, 84))
    for t in range(4):
        box[t, 30 + 3 * t : 40 + 3 * t, 10 + 5 * t : 18 + 5 * t] = 142
    dots = np.zeros((4, 84, 84))
    dots[:, rng.integers(0, 84, 40), rng.integers(0, 84, 40)] = 255
    structured += [box, dots]
    noise = rng.integers(0, 256, (n_random, 4, 84, 84))
    return np.concatenate([np.stack(structured), noise]).astype(np.uint8)


def canonical(x: np.ndarray) -> np.ndarray:
    """uint8 NCHW stacks -> zoo-site's canonical float32 (N, 84, 84, 4) in [0, 1]."""
    return np.transpose(x, (0, 2, 3, 1)).astype(np.float32) / np.float32(255)


def torch_layers(net: AtariNet, x: np.ndarray) -> dict[str, np.ndarray]:
    """PyTorch's own activations (ReLU outputs, via hooks), head logits and output."""
    seen: dict[str, np.ndarray] = {}
    modules = {
        "conv1": net._AtariNet__features[1],
        "conv2": net._AtariNet__features[3],
        "conv3": net._AtariNet__features[5],
        "fc": net._AtariNet__head[1],
        "logits": net._AtariNet__head[2],
    }

    def keep(name):
        return lambda module, inputs, output: seen.__setitem__(name, output.detach().clone())

    handles = [module.register_forward_hook(keep(name)) for name, module in modules.items()]
    try:
        with torch.no_grad():
            seen["output"] = net(torch.from_numpy(x))
    finally:
        for handle in handles:
            handle.remove()
    out = {k: v.numpy() for k, v in seen.items()}
    for name in ("conv1", "conv2", "conv3"):
        out[name] = np.transpose(out[name], (0, 2, 3, 1))  # NCHW -> NHWC
    return out


def relative_error(ours: np.ndarray, theirs: np.ndarray) -> float:
    assert ours.shape == theirs.shape and ours.dtype == np.float32
    return float(np.abs(ours - theirs).max() / max(np.abs(theirs).max(), 1e-12))


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, tuple[Path, AtariNet]]:
    """One checkpoint per family, written by PyTorch."""
    folder = tmp_path_factory.mktemp("atari-agents")
    nets = {"DQN": make_net(6, seed=1), "MDQN": make_net(9, seed=2), "C51": make_net(4, True, 3)}
    return {
        family: (
            write_checkpoint(
                folder / f"{family}.gz",
                net.state_dict(),
                step=50_000_000,
                optim_state=torch.optim.Adam(net.parameters()).state_dict(),
            ),
            net,
        )
        for family, net in nets.items()
    }


@pytest.mark.parametrize("family", ["DQN", "MDQN", "C51"])
def test_every_layer_matches_pytorch(files, family):
    path, net = files[family]
    network = torch_state.load(ref(path, family), actions=net.action_no)
    x = stacks()
    theirs = torch_layers(net, x)
    ours = network.run(canonical(x))
    for name in ("conv1", "conv2", "conv3", "fc", "output"):
        assert relative_error(ours[name], theirs[name]) <= TOL, name
    if family == "C51":
        probs = torch.softmax(torch.from_numpy(theirs["logits"]).view(len(x), 4, 51), 2).numpy()
        assert relative_error(ours["distribution"], probs) <= TOL
        np.testing.assert_allclose(ours["distribution"].sum(axis=2), 1.0, rtol=1e-5)
        expected = (ours["distribution"] * np.linspace(-10, 10, 51)).sum(axis=2)
        np.testing.assert_allclose(ours["output"], expected, rtol=1e-5, atol=1e-6)
    else:
        assert relative_error(ours["output"], theirs["logits"]) <= TOL
    assert np.array_equal(ours["output"].argmax(1), theirs["output"].argmax(1))


def test_a_sharp_c51_distribution_matches_pytorch(tmp_path):
    # Default init gives near-uniform distributions; scaled head weights give peaked ones.
    net = make_net(5, True, seed=7)
    with torch.no_grad():
        net._AtariNet__head[2].weight.mul_(300.0)
    path = write_checkpoint(tmp_path / "sharp.gz", net.state_dict())
    network = torch_state.load(ref(path, "C51"), actions=5)
    x = stacks(4, seed=8)
    theirs = torch_layers(net, x)
    ours = network.run(canonical(x), ["output", "distribution"])
    assert ours["distribution"].max() > 0.5
    assert relative_error(ours["output"], theirs["output"]) <= TOL
    probs = torch.softmax(torch.from_numpy(theirs["logits"]).view(len(x), 5, 51), 2).numpy()
    assert relative_error(ours["distribution"], probs) <= TOL


def test_specs_follow_the_network_protocol(files):
    dqn = torch_state.load(ref(files["DQN"][0], "DQN"))
    mdqn = torch_state.load(ref(files["MDQN"][0], "MDQN"), actions=9)
    c51 = torch_state.load(ref(files["C51"][0], "C51"), actions=4)
    for network in (dqn, mdqn, c51):
        assert isinstance(network, Network)
        assert [s.name for s in network.layers] == ["conv1", "conv2", "conv3", "fc", "output"]
        assert [s.kind for s in network.layers] == ["conv"] * 3 + ["dense", "output"]
        assert network.layers[0].op == "_AtariNet__features.1"
        assert (network.obs.shape, network.obs.dtype, network.obs.layout, network.obs.scale) == (
            (4, 84, 84),
            "uint8",
            "NCHW",
            255.0,
        )
    assert (dqn.family, mdqn.family, c51.family) == ("DQN", "MDQN", "C51")
    assert (dqn.output.kind, dqn.output.actions, dqn.output.label) == ("q_values", 6, "Q-values")
    assert c51.output.kind == "distribution" and c51.output.actions == 4
    np.testing.assert_allclose(c51.output.support, np.linspace(-10, 10, 51), atol=1e-6)
    # The network's own input is exactly the uint8 stack AtariNet is fed.
    x = stacks(2)
    assert np.array_equal(to_network_input(canonical(x), dqn.obs), x)


def test_c51_is_recognised_by_its_support(files):
    network = torch_state.load(ref(files["C51"][0], ""), actions=4)
    assert network.family == "C51" and network.output.kind == "distribution"


def test_only_the_asked_layers_are_computed(files, monkeypatch):
    network = torch_state.load(ref(files["C51"][0], "C51"))
    calls = []
    forward = network._cnn.forward
    monkeypatch.setattr(
        network._cnn, "forward", lambda x, upto: calls.append(upto) or forward(x, upto)
    )
    obs = canonical(stacks(1))
    assert set(network.run(obs, ["conv1"])) == {"conv1"}
    assert set(network.run(obs, ["fc", "conv2"])) == {"fc", "conv2"}
    assert set(network.run(obs, ["distribution"])) == {"distribution"}
    assert set(network.run(obs)) == {"conv1", "conv2", "conv3", "fc", "output", "distribution"}
    assert network.run(obs, []) == {}
    assert calls == ["conv1", "fc", "head", "head"]
    with pytest.raises(KeyError, match="no layer value"):
        network.run(obs, ["value"])
    dqn = torch_state.load(ref(files["DQN"][0], "DQN"))
    assert "distribution" not in dqn.run(obs)
    with pytest.raises(EntryError, match=r"observations must be \(N, 84, 84, 4\)"):
        dqn.run(obs[:, :80])


def test_a_batch_of_one_matches_a_batch_of_many(files):
    network = torch_state.load(ref(files["DQN"][0], "DQN"))
    obs = canonical(stacks(6))
    many = network.run(obs)["output"]
    for i in (0, 3, len(obs) - 1):
        np.testing.assert_allclose(
            network.run(obs[i : i + 1])["output"][0], many[i], rtol=1e-5, atol=1e-6
        )


def test_the_legacy_format_reads_like_the_zip_format(tmp_path, files):
    path, net = files["C51"]
    legacy = write_checkpoint(tmp_path / "legacy.gz", net.state_dict(), legacy=True, step=1)
    with gzip.open(legacy) as f:
        assert not f.read(4).startswith(b"PK")  # really the legacy format
    obs = canonical(stacks(3))
    new = torch_state.load(ref(path, "C51")).run(obs)
    old = torch_state.load(ref(legacy, "C51")).run(obs)
    for name in new:
        assert np.array_equal(new[name], old[name]), name


@pytest.mark.parametrize("legacy", [False, True])
def test_safe_pickle_reads_tensors_as_pytorch_does(legacy):
    dtypes = [
        torch.float32,
        torch.float64,
        torch.float16,
        torch.bfloat16,
        torch.int64,
        torch.int32,
        torch.int16,
        torch.int8,
        torch.uint8,
        torch.bool,
        torch.complex64,
    ]
    if not legacy:  # PyTorch itself cannot read these back from the legacy format
        dtypes += [torch.uint16, torch.uint32]
    base = torch.arange(12.0).reshape(3, 4)
    obj = {
        "dtypes": {str(d): (torch.arange(7) * 3 - 5).to(d) for d in dtypes},
        "views": [base, base[1:, ::2], base.T, base[:0], base[0].expand(3, 4), torch.tensor(2.5)],
        "param": nn.Parameter(torch.randn(2, 3)),
        "plain": (1, -2.5, "text", None, True, [3]),
        "state": nn.Linear(3, 2).state_dict(),
    }
    buffer = io.BytesIO()
    torch.save(obj, buffer, _use_new_zipfile_serialization=not legacy)
    ours = safe_pickle.loads(buffer.getvalue(), "obj.pt")
    theirs = torch.load(io.BytesIO(buffer.getvalue()), weights_only=True)
    assert_same(ours, theirs)
    assert type(ours["state"]) is collections.OrderedDict
    assert ours["state"]._metadata == theirs["state"]._metadata


def assert_same(ours, theirs, where="obj"):
    """numpy arrays where PyTorch has tensors (bfloat16 widened), the rest equal."""
    if isinstance(theirs, torch.Tensor):
        theirs = theirs.detach()
        expected = (theirs.float() if theirs.dtype == torch.bfloat16 else theirs).numpy()
        assert isinstance(ours, np.ndarray), where
        assert ours.dtype == expected.dtype and ours.shape == expected.shape, where
        assert np.array_equal(ours, expected) and ours.flags.writeable, where  # a copy
    elif isinstance(theirs, dict):
        assert type(ours) is type(theirs) and list(ours) == list(theirs), where
        for key in theirs:
            assert_same(ours[key], theirs[key], f"{where}[{key!r}]")
    elif isinstance(theirs, (list, tuple)):
        assert type(ours) is type(theirs) and len(ours) == len(theirs), where
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            assert_same(a, b, f"{where}[{i}]")
    else:
        assert ours == theirs and type(ours) is type(theirs), where


def test_zoo_site_never_imports_torch(files):
    path = files["C51"][0]
    code = (
        "import sys; sys.modules['torch'] = None\n"  # any `import torch` now fails
        "import numpy as np\n"
        "from zoo_site.networks import torch_state\n"
        "from zoo_site.sources.base import ModelRef\n"
        f"net = torch_state.load(ModelRef({str(path)!r}, 'torch_state', 'C51'), actions=4)\n"
        "out = net.run(np.zeros((2, 84, 84, 4), np.float32))\n"
        "print(sorted(out), out['distribution'].shape)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "(2, 4, 51)" in done.stdout


# -- Refusing what is not a plain checkpoint, without running anything -------------------


class Payload:
    """A pickle that runs a shell command when unpickled."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class Evaluator:
    def __reduce__(self):
        return eval, ("1 + 1",)


def torch_like_zip(pickled: bytes, records: dict[str, bytes] | None = None) -> bytes:
    """A zip laid out like torch.save's, holding `pickled` as its data.pkl."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", pickled)
        archive.writestr("archive/byteorder", "little")
        archive.writestr("archive/version", "3\n")
        for name, data in (records or {}).items():
            archive.writestr(f"archive/data/{name}", data)
    return buffer.getvalue()


@pytest.mark.parametrize("wrapper", ["zip", "raw pickle"])
def test_a_malicious_pickle_is_refused_and_nothing_runs(tmp_path, wrapper):
    marker = tmp_path / "pwned"
    pickled = pickle.dumps({"estimator_state": Payload(marker)}, protocol=2)
    live = tmp_path / "live"
    pickle.loads(pickle.dumps(Payload(live), protocol=2))  # the payload really works
    assert live.exists()
    data = torch_like_zip(pickled) if wrapper == "zip" else pickled
    path = tmp_path / "model_50000000.gz"
    path.write_bytes(gzip.compress(data))
    with pytest.raises(EntryError) as caught:
        torch_state.load(ref(path))
    assert caught.value.path == str(path) and str(path) in str(caught.value)
    assert f"{os.system.__module__}.system" in caught.value.message
    assert "refused" in caught.value.message
    assert not marker.exists()


def test_other_globals_are_refused(tmp_path):
    cases = {
        "eval": pickle.dumps({"estimator_state": Evaluator()}, protocol=2),
        "numpy": _torch_bytes(
            {"estimator_state": make_net(3).state_dict(), "rng": np.random.get_state()}
        ),
        "module": _torch_bytes({"estimator_state": make_net(3)}),
    }
    for name, data in cases.items():
        path = tmp_path / f"{name}.gz"
        path.write_bytes(gzip.compress(data if name != "eval" else torch_like_zip(data)))
        with pytest.raises(EntryError, match="refused to unpickle") as caught:
            torch_state.load(ref(path))
        assert str(path) in str(caught.value)
        expected = {"eval": "builtins.eval", "numpy": "numpy", "module": "AtariNet"}[name]
        assert expected in caught.value.message, caught.value.message


def _torch_bytes(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


class _StorageRef:
    pass


class _Tensor:
    """A tensor record with a chosen geometry over a 4-element storage."""

    def __init__(self, size, stride, offset=0):
        self.args = (_StorageRef(), offset, size, stride, False, collections.OrderedDict())

    def __reduce__(self):
        return torch._utils._rebuild_tensor_v2, self.args


class _TorchPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, _StorageRef):
            return ("storage", torch.FloatStorage, "0", "cpu", 4)
        return None


@pytest.mark.parametrize(
    "size, stride, offset",
    [
        ((1000,), (1,), 0),
        ((2, 2), (4, 1), 0),
        ((2,), (1,), 3),
        ((2,), (-1,), 1),
        ((2,), (1,), -1),
        ((10**9,), (0,), 0),  # in bounds, but 4 GB from 16 bytes
    ],
)
def test_a_tensor_outside_its_storage_is_refused(tmp_path, size, stride, offset):
    buffer = io.BytesIO()
    _TorchPickler(buffer, protocol=2).dump({"t": _Tensor(size, stride, offset)})
    data = torch_like_zip(buffer.getvalue(), {"0": np.arange(4, dtype="<f4").tobytes()})
    with pytest.raises(EntryError, match="not a readable torch.save file"):
        safe_pickle.loads(data, tmp_path / "x.pt")
    good = io.BytesIO()
    _TorchPickler(good, protocol=2).dump({"t": _Tensor((2, 2), (1, 2), 0)})
    loaded = safe_pickle.loads(
        torch_like_zip(good.getvalue(), {"0": np.arange(4, dtype="<f4").tobytes()}), "x.pt"
    )
    assert np.array_equal(loaded["t"], [[0, 2], [1, 3]])


BUILDS = {
    "storage type state": (
        b"\x80\x02ctorch\nFloatStorage\n}X\x04\x00\x00\x00nameX\x01\x00\x00\x00xsb."
    ),
    "storage type slots": (
        b"\x80\x02ctorch\nFloatStorage\nN}X\x04\x00\x00\x00nameX\x01\x00\x00\x00xs\x86b."
    ),
    "function defaults": (
        b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\nN}X\x0c\x00\x00\x00__defaults__)s\x86b."
    ),
    "container class": b"\x80\x02ccollections\nOrderedDict\nN}X\x04\x00\x00\x00keysNs\x86b.",
}


@pytest.mark.parametrize("name", BUILDS)
def test_a_pickle_cannot_change_the_stand_ins(files, name):
    # BUILD sets attributes on the object before it: were the stand-ins mutable, one file
    # could change how every later file is read.
    before = repr(safe_pickle.SAFE_GLOBALS)
    with pytest.raises(EntryError, match="not a readable torch.save file"):
        safe_pickle.loads(BUILDS[name], "x.pt")
    assert repr(safe_pickle.SAFE_GLOBALS) == before
    assert safe_pickle.SAFE_GLOBALS["torch", "FloatStorage"].name == "FloatStorage"
    torch_state.load(ref(files["DQN"][0], "DQN"))


# -- Damaged and mismatched files ------------------------------------------------------


def _state(actions=6, distributional=False, **changes):
    state = make_net(actions, distributional).state_dict()
    for key, value in changes.items():
        if value is None:
            del state[key]
        else:
            state[key] = value
    return state


def _bad_files(folder: Path) -> dict[str, tuple[Path, str, int | None, str]]:
    """name -> (file, family, actions, what the message must say)."""
    good = write_checkpoint(folder / "good.gz", _state())
    whole = good.read_bytes()
    raw = _torch_bytes({"estimator_state": _state()})
    files = {
        "truncated": (whole[: len(whole) // 2], "DQN", None, "truncated"),
        "not gzip": (raw, "DQN", None, "not a gzip file"),
        "empty": (b"", "DQN", None, "not a gzip file"),
        "gzip of text": (
            gzip.compress(b"hello, world"),
            "DQN",
            None,
            "not a readable torch.save file",
        ),
        "no estimator_state": (
            gzip.compress(_torch_bytes({"model": _state()})),
            "DQN",
            None,
            "has no 'estimator_state'",
        ),
        "conv shape": (
            _state(**{"_AtariNet__features.0.weight": torch.zeros(16, 4, 8, 8)}),
            "DQN",
            None,
            "_AtariNet__features.0.weight has shape (16, 4, 8, 8), expected (32, 4, 8, 8)",
        ),
        "fc shape": (
            _state(**{"_AtariNet__head.0.weight": torch.zeros(512, 3000)}),
            "DQN",
            None,
            "expected (512, 3136)",
        ),
        "missing key": (
            _state(**{"_AtariNet__head.2.bias": None}),
            "DQN",
            None,
            "missing _AtariNet__head.2.bias",
        ),
        "extra key": (
            _state(**{"_AtariNet__value.weight": torch.zeros(1, 512)}),
            "DQN",
            None,
            "unexpected _AtariNet__value.weight",
        ),
        "int weights": (
            _state(**{"_AtariNet__head.0.bias": torch.zeros(512, dtype=torch.long)}),
            "DQN",
            None,
            "not a floating-point tensor",
        ),
        "dqn head": (_state(6), "DQN", 4, "has 6 outputs, but the game has 4 actions"),
        "c51 head": (
            _state(3, True),
            "C51",
            4,
            "has 153 outputs (3 x 51 atoms), but the game has 4 actions",
        ),
        "c51 without support": (_state(6), "C51", 6, "without _AtariNet__support"),
    }
    out = {}
    for name, (content, family, actions, message) in files.items():
        path = folder / f"{name.replace(' ', '_')}.gz"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            write_checkpoint(path, content)
        out[name] = (path, family, actions, message)
    out["missing file"] = (folder / "absent.gz", "DQN", None, "cannot read the model file")
    return out


def test_bad_files_give_entry_errors_naming_the_file(tmp_path):
    for name, (path, family, actions, message) in _bad_files(tmp_path).items():
        with pytest.raises(EntryError) as caught:
            torch_state.load(ref(path, family), actions=actions)
        assert caught.value.path == str(path), name
        assert message in caught.value.message, (name, caught.value.message)


# -- The shared Nature CNN: SAME padding, as Dopamine's TensorFlow checkpoints use ------


def test_same_padding_matches_an_explicitly_padded_pytorch_conv():
    torch.manual_seed(5)
    convs = [nn.Conv2d(4, 32, 8, 4), nn.Conv2d(32, 64, 4, 2), nn.Conv2d(64, 64, 3, 1)]
    fc, head = nn.Linear(11 * 11 * 64, 512), nn.Linear(512, 7)
    weights = NatureCNNWeights(
        tuple(
            Conv(from_oihw(c.weight.detach().numpy()), c.bias.detach().numpy(), c.stride[0])
            for c in convs
        ),
        Dense(fc.weight.detach().numpy().T, fc.bias.detach().numpy()),
        Dense(head.weight.detach().numpy().T, head.bias.detach().numpy()),
        padding="SAME",
    )
    network = NatureCNN(weights)
    assert network.shapes["conv1"] == (21, 21, 32) and network.shapes["conv3"] == (11, 11, 64)
    x = canonical(stacks(2))
    ours = network.forward(x)
    with torch.no_grad():
        t = torch.from_numpy(np.transpose(x, (0, 3, 1, 2)))
        for i, conv in enumerate(convs, 1):
            k, s = conv.kernel_size[0], conv.stride[0]
            (top, bottom), (left, right) = (
                same_padding(t.shape[2], k, s),
                same_padding(t.shape[3], k, s),
            )
            t = torch.relu(conv(nn.functional.pad(t, (left, right, top, bottom))))
            assert relative_error(ours[f"conv{i}"], t.permute(0, 2, 3, 1).numpy()) <= TOL
        flat = t.permute(0, 2, 3, 1).reshape(len(x), -1)  # TensorFlow flattens NHWC
        t = torch.relu(fc(flat))
        assert relative_error(ours["fc"], t.numpy()) <= TOL
        assert relative_error(ours["head"], head(t).numpy()) <= TOL
    assert same_padding(21, 4, 2) == (1, 2)  # the extra row goes after, as in TensorFlow
