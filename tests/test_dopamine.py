"""Dopamine's TF1 checkpoints: real files written by TensorFlow in graph mode, with the 2018
agents' variable names (slim's Online/Conv/weights, ...; and the Keras-era .../kernel), the
target network and the optimizer's slots beside the online network, saved by a Saver as
tf_ckpt-<N>. zoo-site reads them without the .meta graph, and every layer equals an
independent numpy forward pass written here and TensorFlow's own forward pass of the graph.
The layout is read in iteration order and told apart from the other layouts; each kind of
bad file is an EntryError naming it; a tiny Dopamine folder becomes a site end to end."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from building import LIGHT_ANALYSES
from typer.testing import CliRunner

from zoo_site.errors import EntryError
from zoo_site.networks import load_network, tf_checkpoint
from zoo_site.networks.base import Network, to_network_input
from zoo_site.rollouts.protocols import DOPAMINE
from zoo_site.site.manifest import read_manifest
from zoo_site.sources import detect, dopamine, read_catalog
from zoo_site.sources.base import ModelRef
from zoo_site.sources.dopamine import training_step

#: Largest error allowed, relative to the largest magnitude in the layer.
TOL = 1e-4
PONG, BREAKOUT = 6, 4  # minimal action sets
ATOMS = 51
NAMES = {"slim": ("weights", "biases"), "keras": ("kernel", "bias")}
#: (scope, kernel, in, out, stride) of Dopamine's three conv layers.
CONVS = (("Conv", 8, 4, 32, 4), ("Conv_1", 4, 32, 64, 2), ("Conv_2", 3, 64, 64, 1))
SHARD = ".data-00000-of-00001"


# --- the reference inputs ---------------------------------------------------------------


def stacks(n_random: int = 6, seed: int = 5) -> np.ndarray:
    """uint8 (N, 84, 84, 4) stacks, as state_ph is fed: blank, full, ramps, a moving box,
    sparse dots, and noise."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 255, 84)
    frames = [np.zeros((84, 84)), np.full((84, 84), 255.0), np.broadcast_to(ramp, (84, 84)),
              np.broadcast_to(ramp[:, None], (84, 84))]  # fmt: skip
    structured = [np.stack([f] * 4, axis=-1) for f in frames]
    box = np.zeros((84, 84, 4))
    for t in range(4):
        box[30 + 3 * t : 40 + 3 * t, 10 + 5 * t : 18 + 5 * t, t] = 142
    dots = np.zeros((84, 84, 4))
    dots[rng.integers(0, 84, 40), rng.integers(0, 84, 40)] = 255
    noise = rng.integers(0, 256, (n_random, 84, 84, 4))
    return np.concatenate([np.stack([*structured, box, dots]), noise]).astype(np.uint8)


STACKS = stacks()


def canonical(x: np.ndarray) -> np.ndarray:
    """uint8 NHWC stacks -> zoo-site's canonical float32 (N, 84, 84, 4) in [0, 1]."""
    return x.astype(np.float32) / np.float32(255)


# --- an independent numpy forward pass --------------------------------------------------


def conv_same(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, stride: int) -> np.ndarray:
    """TensorFlow's SAME convolution written out: output ceil(in / stride), the padding
    total (out - 1) * stride + k - in split with the odd pixel after; one kernel offset at
    a time, in float64."""
    n, h, w, c = x.shape
    kh, kw, _, out = kernel.shape
    oh, ow = -(-h // stride), -(-w // stride)
    pad_h, pad_w = max((oh - 1) * stride + kh - h, 0), max((ow - 1) * stride + kw - w, 0)
    padded = np.zeros((n, h + pad_h, w + pad_w, c))
    padded[:, pad_h // 2 : pad_h // 2 + h, pad_w // 2 : pad_w // 2 + w] = x
    y = np.zeros((n, oh, ow, out))
    for i in range(kh):
        for j in range(kw):
            rows = padded[:, i : i + stride * (oh - 1) + 1 : stride]
            y += rows[:, :, j : j + stride * (ow - 1) + 1 : stride] @ kernel[i, j]
    return y + bias


def numpy_forward(weights: dict, agent: str, x: np.ndarray) -> dict[str, np.ndarray]:
    """Dopamine's network from its Online/ variables: /255, 3 SAME convs, the NHWC flatten,
    512 units, the head; C51 and Rainbow: logits (A, 51), softmax, x linspace(-10, 10)."""

    def pair(scope):
        (w, b), *_ = (n for n in NAMES.values() if f"Online/{scope}/{n[0]}" in weights)
        return weights[f"Online/{scope}/{w}"], weights[f"Online/{scope}/{b}"]

    acts = {}
    h = x.astype(np.float64) / 255.0
    for i, (scope, *_, stride) in enumerate(CONVS):
        h = acts[f"conv{i + 1}"] = np.maximum(conv_same(h, *pair(scope), stride), 0)
    h = h.reshape(len(h), -1)
    kernel, bias = pair("fully_connected")
    h = acts["fc"] = np.maximum(h @ kernel + bias, 0)
    kernel, bias = pair("fully_connected_1")
    head = h @ kernel + bias
    if agent == "dqn":
        acts["output"] = head
        return acts
    logits = head.reshape(len(head), -1, ATOMS)
    p = np.exp(logits - logits.max(axis=2, keepdims=True))
    p /= p.sum(axis=2, keepdims=True)
    acts["distribution"] = p
    acts["output"] = (p * np.linspace(-10, 10, ATOMS)).sum(axis=2)
    return acts


def assert_close(ours: np.ndarray, theirs: np.ndarray, what: str) -> None:
    assert ours.shape == theirs.shape, what
    scale = max(float(np.abs(theirs).max()), 1e-6)
    err = float(np.abs(ours.astype(np.float64) - theirs).max())
    assert err <= TOL * scale, f"{what}: max error {err:.3g} vs largest {scale:.3g}"


# --- real checkpoints, written by TensorFlow -------------------------------------------


@pytest.fixture(scope="module")
def tf():
    from zoo_site.networks.tfload import tensorflow

    return tensorflow()


@dataclass
class Written:
    index: Path
    agent: str
    actions: int
    weights: dict[str, np.ndarray]
    """The Online/ variables' values, as the session held them when saving."""
    tf_layers: dict[str, np.ndarray]
    """TensorFlow's own forward pass of the online network on STACKS."""


def write_checkpoint(tf, run_dir: Path, n: int, agent: str = "dqn", actions: int = PONG, *,
                     naming: str = "slim", seed: int = 0, scopes=("Online", "Target"),
                     padding: str = "SAME", omit: tuple[str, ...] = (), iqn: bool = False,
                     slots: bool = True) -> Written:  # fmt: skip
    """Dopamine's graph, as its 2018 agents make it: `state_ph` (uint8, NHWC), the network
    under the variable scopes Online and Target, then the optimizer's minimize (RMSProp for
    DQN, Adam for C51 and Rainbow, as the release's agents), saved by tf.train.Saver as
    <run_dir>/tf_ckpt-<n>. `omit` leaves online variables out, `padding` "VALID" makes the
    wrong fc size, `iqn` IQN's variables."""
    tf1 = tf.compat.v1
    run_dir.mkdir(parents=True, exist_ok=True)
    graph = tf.Graph()
    with graph.as_default():
        tf1.set_random_seed(seed)
        state = tf1.placeholder(tf.uint8, (None, 84, 84, 4), name="state_ph")
        outputs = actions * (ATOMS if agent in ("c51", "rainbow") else 1)
        nets = {}
        for scope in scopes:
            with tf1.variable_scope(scope):
                if iqn:
                    nets[scope] = _iqn_variables(tf, actions, naming)
                else:
                    nets[scope] = _network(tf, state, agent, actions, outputs, naming, padding,
                                           omit if scope == "Online" else ())  # fmt: skip
        online = tf1.trainable_variables("Online")
        if slots and online and not iqn:
            loss = tf.reduce_mean(tf.square(nets["Online"]["output"]))
            if agent == "dqn":  # dqn_agent.py's optimizer
                opt = tf1.train.RMSPropOptimizer(0.00025, decay=0.95, momentum=0.0,
                                                 epsilon=0.00001, centered=True)  # fmt: skip
            else:  # rainbow_agent.py's
                opt = tf1.train.AdamOptimizer(0.00025, epsilon=0.0003125)
            opt.minimize(loss, var_list=online)
        saver = tf1.train.Saver()
        with tf1.Session(graph=graph) as sess:
            sess.run(tf1.global_variables_initializer())
            prefix = saver.save(sess, str(run_dir / "tf_ckpt"), global_step=n)
            weights = {v.op.name: sess.run(v) for v in online}
            tf_layers = {}
            if "Online" in nets and not iqn and not omit:
                tf_layers = sess.run(nets["Online"], {state: STACKS})
    return Written(Path(prefix + ".index"), agent, actions, weights, tf_layers)


def _network(tf, state, agent, actions, outputs, naming, padding, omit):
    tf1 = tf.compat.v1
    w_name, b_name = NAMES[naming]
    init = tf1.variance_scaling_initializer(1 / 3, mode="fan_in", distribution="uniform")
    bias_init = tf1.random_uniform_initializer(-0.1, 0.1)

    def var(scope, name, shape, initializer):
        with tf1.variable_scope(scope):
            if f"{scope}/{name}" in omit:
                return tf.constant(0.0, shape=shape)
            return tf1.get_variable(name, shape, initializer=initializer)

    layers = {}
    x = tf.cast(state, tf.float32) / 255.0
    for i, (scope, k, cin, cout, stride) in enumerate(CONVS):
        w = var(scope, w_name, [k, k, cin, cout], init)
        b = var(scope, b_name, [cout], bias_init)
        x = layers[f"conv{i + 1}"] = tf.nn.relu(
            tf.nn.conv2d(x, w, [1, stride, stride, 1], padding) + b
        )
    x = tf.reshape(x, [-1, int(np.prod(x.shape[1:]))])  # slim.flatten: NHWC order
    w = var("fully_connected", w_name, [int(x.shape[1]), 512], init)
    x = layers["fc"] = tf.nn.relu(x @ w + var("fully_connected", b_name, [512], bias_init))
    w = var("fully_connected_1", w_name, [512, outputs], init)
    head = x @ w + var("fully_connected_1", b_name, [outputs], bias_init)
    if agent == "dqn":
        layers["output"] = head
    else:  # rainbow_agent.py: reshape [-1, num_actions, num_atoms], softmax, sum x support
        probabilities = tf.nn.softmax(tf.reshape(head, [-1, actions, ATOMS]))
        layers["distribution"] = probabilities
        layers["output"] = tf.reduce_sum(tf.linspace(-10.0, 10.0, ATOMS) * probabilities, 2)
    return layers


def _iqn_variables(tf, actions, naming):
    """implicit_quantile_agent.py's online variables: the three convs, the quantile
    embedding fully_connected (64 -> 7744), fully_connected_1 (7744 -> 512) and the head
    fully_connected_2 (512 -> actions)."""
    tf1 = tf.compat.v1
    w_name, b_name = NAMES[naming]
    shapes = [(scope, [k, k, cin, cout]) for scope, k, cin, cout, _ in CONVS]
    shapes += [("fully_connected", [64, 7744]), ("fully_connected_1", [7744, 512]),
               ("fully_connected_2", [512, actions])]  # fmt: skip
    for scope, shape in shapes:
        with tf1.variable_scope(scope):
            tf1.get_variable(w_name, shape)
            tf1.get_variable(b_name, shape[-1:])
    return {}


def ref(written: Written, family: str | None = None) -> ModelRef:
    index = written.index
    shards = sorted(index.parent.glob(index.name.replace(".index", ".data-*")))
    agent = written.agent if family is None else family
    return ModelRef(index, "tf_checkpoint", agent, (index, *shards))


@pytest.fixture(scope="module")
def zoo(tf, tmp_path_factory):
    """One real checkpoint per agent and naming, in the release's layout."""
    root = tmp_path_factory.mktemp("dopamine")
    made = {
        ("dqn", "slim"): write_checkpoint(tf, root / "dqn/Pong/1", 199, "dqn", PONG, seed=1),
        ("c51", "slim"): write_checkpoint(tf, root / "c51/Breakout/1", 199, "c51", BREAKOUT,
                                          seed=2),  # fmt: skip
        ("rainbow", "slim"): write_checkpoint(tf, root / "rainbow/Pong/2", 50, "rainbow", PONG,
                                              seed=3),  # fmt: skip
        ("dqn", "keras"): write_checkpoint(tf, root / "keras/dqn/Pong/1", 7, "dqn", PONG,
                                           naming="keras", seed=4),  # fmt: skip
        ("rainbow", "keras"): write_checkpoint(tf, root / "keras/rainbow/Breakout/1", 7,
                                               "rainbow", BREAKOUT, naming="keras", seed=5),
    }  # fmt: skip
    return root, made


# --- networks ---------------------------------------------------------------------------


@pytest.mark.parametrize("key", [("dqn", "slim"), ("c51", "slim"), ("rainbow", "slim"),
                                 ("dqn", "keras"), ("rainbow", "keras")], ids="-".join)  # fmt: skip
def test_every_layer_equals_numpy_and_tensorflow(zoo, key):
    _, made = zoo
    written = made[key]
    agent = key[0]
    net = load_network(ref(written), actions=written.actions)
    assert isinstance(net, Network)
    assert [spec.name for spec in net.layers] == ["conv1", "conv2", "conv3", "fc", "output"]
    assert net.layers[0].op == "Online/Conv" and net.layers[-1].op == "Online/fully_connected_1"
    assert net.family == {"dqn": "DQN", "c51": "C51", "rainbow": "Rainbow"}[agent]
    ours = net.run(canonical(STACKS))
    theirs = numpy_forward(written.weights, agent, STACKS)
    names = ["conv1", "conv2", "conv3", "fc", "output"]
    if agent == "dqn":
        assert net.output.kind == "q_values" and net.output.support is None
        assert set(ours) == set(names)
    else:
        assert net.output.kind == "distribution"
        np.testing.assert_allclose(net.output.support, np.linspace(-10, 10, ATOMS), atol=1e-6)
        names.append("distribution")
        assert set(ours) == set(names)
        np.testing.assert_allclose(ours["distribution"].sum(axis=2), 1.0, atol=1e-5)
    assert net.output.actions == written.actions
    assert ours["conv1"].shape == (len(STACKS), 21, 21, 32)  # SAME: 84 -> 21 -> 11 -> 11
    assert ours["conv3"].shape == (len(STACKS), 11, 11, 64)
    assert ours["output"].shape == (len(STACKS), written.actions)
    for name in names:
        assert ours[name].dtype == np.float32, name
        assert_close(ours[name], theirs[name], f"{key} {name} vs numpy")
        assert_close(ours[name], written.tf_layers[name], f"{key} {name} vs TensorFlow")
    # The reference is not trivially zero: every layer has live units.
    for name in ("conv3", "fc"):
        assert (theirs[name] > 0).mean() > 0.05, name


def test_the_input_is_the_bytes_state_ph_was_fed(zoo):
    _, made = zoo
    net = load_network(ref(made["dqn", "slim"]), actions=PONG)
    assert net.obs.shape == (84, 84, 4) and net.obs.layout == "NHWC"
    assert net.obs.dtype == "uint8" and net.obs.scale == 255.0 and net.obs.input == "state_ph"
    np.testing.assert_array_equal(to_network_input(canonical(STACKS), net.obs), STACKS)


def test_run_computes_only_what_is_asked(zoo):
    _, made = zoo
    net = load_network(ref(made["rainbow", "slim"]), actions=PONG)
    assert set(net.run(canonical(STACKS[:2]), ["conv2"])) == {"conv2"}
    assert set(net.run(canonical(STACKS[:2]), ["distribution"])) == {"distribution"}
    with pytest.raises(KeyError, match="no layer value"):
        net.run(canonical(STACKS[:2]), ["value"])


def test_the_prefix_is_accepted_as_the_path(zoo):
    _, made = zoo
    written = made["dqn", "slim"]
    prefix = tf_checkpoint.prefix_of(written.index)
    assert prefix.name == "tf_ckpt-199"
    net = load_network(ModelRef(prefix, "tf_checkpoint", "dqn"), actions=PONG)
    assert_close(net.run(canonical(STACKS))["output"], written.tf_layers["output"], "prefix")


def test_the_support_is_tensorflows_linspace(tf):
    # rainbow_agent.py's tf.linspace(-vmax, vmax, num_atoms): the LinSpace op, to the bit.
    ours = tf_checkpoint.support()
    np.testing.assert_array_equal(ours, tf.raw_ops.LinSpace(start=-10.0, stop=10.0, num=51))
    np.testing.assert_array_equal(ours, tf.compat.v1.linspace(-10.0, 10.0, 51))


# --- bad files --------------------------------------------------------------------------


def copy_checkpoint(written: Written, run_dir: Path) -> Path:
    """The checkpoint's .index and data shard copied into `run_dir`; the new index."""
    run_dir.mkdir(parents=True)
    for path in written.index.parent.glob(written.index.name.replace(".index", ".*")):
        shutil.copy(path, run_dir / path.name)
    return run_dir / written.index.name


def load_error(index: Path, family: str = "dqn", actions: int | None = PONG) -> EntryError:
    shards = sorted(index.parent.glob(index.name.replace(".index", ".data-*")))
    with pytest.raises(EntryError) as info:
        load_network(ModelRef(index, "tf_checkpoint", family, (index, *shards)), actions=actions)
    return info.value


def test_an_index_without_data_names_the_missing_shard(zoo, tmp_path):
    _, made = zoo
    index = copy_checkpoint(made["dqn", "slim"], tmp_path / "run")
    shard = index.with_name("tf_ckpt-199" + SHARD)
    shard.unlink()
    err = load_error(index)
    assert err.path == str(shard) and "no data shard" in err.message


def test_a_missing_shard_of_several_is_named(zoo, tmp_path):
    _, made = zoo
    index = copy_checkpoint(made["dqn", "slim"], tmp_path / "run")
    index.with_name("tf_ckpt-199" + SHARD).rename(
        index.with_name("tf_ckpt-199.data-00000-of-00002")
    )
    err = load_error(index)
    assert err.path == str(index.with_name("tf_ckpt-199.data-00001-of-00002"))
    assert "shard 2 of the 2" in err.message


@pytest.mark.parametrize("damage", ["truncated", "flipped"])
def test_a_damaged_data_shard_is_named(zoo, tmp_path, damage):
    _, made = zoo
    index = copy_checkpoint(made["rainbow", "slim"], tmp_path / "run")
    shard = index.with_name("tf_ckpt-50" + SHARD)
    data = bytearray(shard.read_bytes())
    if damage == "truncated":
        del data[len(data) * 2 // 3 :]
    else:  # one byte of a variable: only the index's checksum can tell
        data[len(data) // 2] ^= 0x5A
    shard.write_bytes(bytes(data))
    err = load_error(index, "rainbow")
    assert err.path == str(shard)
    assert "truncated or damaged" in err.message


@pytest.mark.parametrize("content", [b"", b"<html>404 Not Found</html>" * 40])
def test_a_file_that_is_no_checkpoint_index_is_named(zoo, tmp_path, content):
    _, made = zoo
    index = copy_checkpoint(made["dqn", "slim"], tmp_path / "run")
    index.write_bytes(content)
    err = load_error(index)
    assert err.path == str(index) and "not a TensorFlow checkpoint index" in err.message


def test_a_missing_index_is_named(tmp_path):
    index = tmp_path / "tf_ckpt-3.index"
    err = load_error(index)
    assert err.path == str(index) and "no .index" in err.message


def test_variables_of_the_wrong_shape_are_named(tf, tmp_path):
    # VALID padding, as a PyTorch Nature CNN: fully_connected reads 7*7*64 = 3136 features.
    written = write_checkpoint(tf, tmp_path / "run", 1, padding="VALID", slots=False)
    err = load_error(written.index)
    assert err.path == str(written.index)
    assert "Online/fully_connected kernel has shape (3136, 512), expected (7744, 512)" in (
        err.message
    )


def test_missing_online_variables_are_named(tf, tmp_path):
    written = write_checkpoint(tf, tmp_path / "a", 1, omit=("fully_connected_1/biases",),
                               slots=False)  # fmt: skip
    err = load_error(written.index)
    assert err.path == str(written.index)
    assert "missing Online/fully_connected_1/biases" in err.message
    target_only = write_checkpoint(tf, tmp_path / "b", 1, scopes=("Target",), slots=False)
    err = load_error(target_only.index)
    assert err.path == str(target_only.index) and "no Online/ variables" in err.message
    assert "Target/Conv/weights" in err.message


@pytest.mark.parametrize("agent", ["dqn", "rainbow"])
def test_the_head_must_fit_the_game(zoo, agent):
    _, made = zoo
    written = made[agent, "slim"]
    err = load_error(written.index, agent, actions=BREAKOUT)
    assert err.path == str(written.index)
    size = "6 outputs" if agent == "dqn" else "306 outputs (6 x 51)"
    assert f"has {size}, but the game has 4 actions" in err.message


@pytest.mark.parametrize("family", ["iqn", ""])
def test_iqn_is_refused_cleanly(tf, tmp_path, family):
    written = write_checkpoint(tf, tmp_path / "iqn/Pong/1", 199, iqn=True)
    err = load_error(written.index, family)
    assert err.path == str(written.index)
    assert "IQN checkpoints are not supported yet" in err.message and "tau" in err.message


# --- the layout -------------------------------------------------------------------------


def touch(root: Path, rel: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def checkpoint_files(root: Path, run: str, n: int) -> None:
    for suffix in (".index", SHARD, ".meta"):
        touch(root, f"{run}/tf_ckpt-{n}{suffix}")


def release(root: Path) -> Path:
    """dqn/Pong/1 with four checkpoints and what a Runner leaves beside them; a Runner's
    base_dir for rainbow (checkpoints/ in the run); one IQN run."""
    for n in (199, 10, 9, 0):
        checkpoint_files(root, "dqn/Pong/1", n)
    for name in ("checkpoint", "ckpt.199", "sentinel_checkpoint_complete.199",
                 "$store$_action_ckpt.199.gz"):  # fmt: skip
        touch(root, f"dqn/Pong/1/{name}")
    checkpoint_files(root, "rainbow/SpaceInvaders/3/checkpoints", 4)
    touch(root, "rainbow/SpaceInvaders/3/logs/log_4")
    checkpoint_files(root, "iqn/Pong/2", 199)
    return root


def test_the_layout_is_detected_and_told_apart(tmp_path):
    zoo = release(tmp_path / "zoo")
    assert detect(zoo).name == "dopamine"
    checkpoint_files(tmp_path / "bucket/lucid", "c51/Pong/1", 199)  # a mirror of the bucket
    assert detect(tmp_path / "bucket").name == "dopamine"
    # The Atari Model Zoo has dqn and rainbow folders too, with frozen graphs.
    touch(tmp_path / "amz", "dqn/PongNoFrameskip-v4/model1_final.pb")
    touch(tmp_path / "amz", "rainbow/PongNoFrameskip-v4/model1_final_rollout.npz")
    assert detect(tmp_path / "amz").name == "atari-model-zoo"
    touch(tmp_path / "aa", "models/DQN_modern/Pong/0/model_50000000.gz")
    assert detect(tmp_path / "aa").name == "atari-agents"
    assert not dopamine.SOURCE.detect(tmp_path / "amz")
    assert not dopamine.SOURCE.detect(tmp_path / "aa")
    # Data shards and graphs without an index are no checkpoints to list.
    touch(tmp_path / "partial", "dqn/Pong/1/tf_ckpt-1" + SHARD)
    touch(tmp_path / "partial", "dqn/Pong/1/tf_ckpt-1.meta")
    assert detect(tmp_path / "partial").name != "dopamine"


def test_entries_are_checkpoints_in_iteration_order(tmp_path):
    zoo = release(tmp_path / "zoo")
    catalog = read_catalog(zoo)
    assert catalog.problems == []
    dqn = [e for e in catalog.entries if e.algo == "dqn"]
    assert [e.tag for e in dqn] == ["0", "9", "10", "199"]  # by N, not by name
    assert [e.tag_rank for e in dqn] == [0, 9, 10, 199]
    last = dqn[-1]
    assert last.id == "dqn/Pong/1/199" and last.source == "dopamine"
    assert last.protocol == DOPAMINE and last.rollout is None
    assert last.algo_label == "DQN (Dopamine)" and last.tag_label == "iteration 199"
    assert last.training_step == 50_000_000 == training_step(199)
    assert dqn[0].training_step == 250_000  # tf_ckpt-0 is written after iteration 0
    model = last.model
    assert model.format == "tf_checkpoint" and model.family == "dqn"
    assert last.relative(model.path) == "dqn/Pong/1/tf_ckpt-199.index"
    assert [last.relative(f) for f in model.files] == [
        "dqn/Pong/1/tf_ckpt-199.index", "dqn/Pong/1/tf_ckpt-199" + SHARD]  # fmt: skip
    by_id = {e.id: e for e in catalog.entries}
    rainbow = by_id["rainbow/SpaceInvaders/3/4"]
    assert rainbow.algo_label == "Rainbow (Dopamine)" and rainbow.training_step == 1_250_000
    assert rainbow.relative(rainbow.model.path) == (
        "rainbow/SpaceInvaders/3/checkpoints/tf_ckpt-4.index"
    )
    assert by_id["iqn/Pong/2/199"].algo_label == "IQN (Dopamine)"
    assert len(catalog.entries) == 6


def test_problems_name_their_files_and_the_rest_is_read(tmp_path):
    zoo = release(tmp_path / "zoo")
    checkpoint_files(zoo, "dqn/NotAGame/1", 1)
    checkpoint_files(zoo, "dqn/Pong/run-x", 1)
    touch(zoo, "dqn/Pong/1/tf_ckpt-300" + SHARD)  # its index never downloaded
    checkpoint_files(zoo, "implicit_quantile/Pong/1", 1)
    touch(zoo, "dqn/PongNoFrameskip-v4/model1_final.pb")  # an Atari Model Zoo beside it
    catalog = read_catalog(zoo)
    assert len(catalog.entries) == 6
    problems = {Path(p.path).name: p for p in catalog.problems}
    assert set(problems) == {"NotAGame", "run-x", "tf_ckpt-300" + SHARD, "implicit_quantile",
                             "PongNoFrameskip-v4"}  # fmt: skip
    assert "Atari Model Zoo" in problems["PongNoFrameskip-v4"].message
    assert "no ROM for the game 'NotAGame'" in problems["NotAGame"].message
    assert problems["NotAGame"].level == "error"
    orphan = problems["tf_ckpt-300" + SHARD]
    assert orphan.level == "warning" and "without its index" in orphan.message
    assert problems["run-x"].level == problems["implicit_quantile"].level == "warning"


def test_an_index_of_the_zoo_lists_what_is_read(tmp_path):
    # `zoo-site index` and a remote zoo's mirror take the index and data shards, no more.
    from zoo_site.sources.remote import is_zoo_file, write_zoo_index

    zoo = release(tmp_path / "zoo")
    listed = [f["path"] for f in json.loads(write_zoo_index(zoo).read_text())["files"]]
    dqn = [f"dqn/Pong/1/tf_ckpt-{n}{suffix}" for n in (0, 10, 199, 9) for suffix in
           (SHARD, ".index")]  # fmt: skip
    nested = [f"rainbow/SpaceInvaders/3/checkpoints/tf_ckpt-4{s}" for s in (SHARD, ".index")]
    iqn = [f"iqn/Pong/2/tf_ckpt-199{s}" for s in (SHARD, ".index")]
    assert listed == sorted(dqn + iqn + nested)
    assert is_zoo_file("lucid/c51/Pong/1/tf_ckpt-199.index")
    assert not is_zoo_file("dqn/Pong/1/logs/tf_ckpt-1.index")
    assert not is_zoo_file("dqn/Pong/1/tf_ckpt-1.meta")


# --- end to end -------------------------------------------------------------------------

STEPS = 30


@pytest.fixture(scope="module")
def built(tf, tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    zoo = root / "zoo"
    nets = {
        "dqn/Pong/1/0": write_checkpoint(tf, zoo / "dqn/Pong/1", 0, seed=11),
        "dqn/Pong/1/1": write_checkpoint(tf, zoo / "dqn/Pong/1", 1, seed=12),
        "rainbow/Breakout/1/199": write_checkpoint(
            tf, zoo / "rainbow/Breakout/1", 199, "rainbow", BREAKOUT, seed=13
        ),  # fmt: skip
    }
    broken = write_checkpoint(tf, zoo / "dqn/Pong/2", 5, seed=14, slots=False)
    shard = broken.index.with_name("tf_ckpt-5" + SHARD)
    shard.write_bytes(shard.read_bytes()[:1000])  # an interrupted download
    (zoo / "zoo-site.toml").write_text(f"title = 'Dopamine'\n[rollout]\nsteps = {STEPS}\n"
                                       + LIGHT_ANALYSES)  # fmt: skip
    out, cache = root / "site", root / "cache"
    args = ["build", "--zoo", str(zoo), "--out", str(out), "--cache-dir", str(cache), "-j", "2"]
    from zoo_site.cli import app

    result = CliRunner().invoke(app, args)
    return result, zoo, out, cache, nets


@pytest.mark.slow
def test_a_dopamine_folder_becomes_a_site(built):
    result, zoo, out, cache, _ = built
    text = " ".join(result.output.split())
    assert result.exit_code == 1, text
    assert "Built 3 entries" in text
    assert "dqn/Pong/2/tf_ckpt-5" + SHARD in text
    report = json.loads((cache / "build-report.json").read_text())
    rows = {e["id"]: e for e in report["entries"]}
    failed = [i for i, e in rows.items() if e["status"] == "failed"]
    assert failed == ["dqn/Pong/2/5"]
    assert rows["dqn/Pong/2/5"]["file"] == "dqn/Pong/2/tf_ckpt-5" + SHARD
    assert "truncated" in rows["dqn/Pong/2/5"]["reason"]
    manifest = read_manifest(out)
    assert [t["id"] for t in manifest["tags"]] == ["0", "1", "199"]
    assert [t["label"] for t in manifest["tags"]] == ["iteration 0", "iteration 1",
                                                      "iteration 199"]  # fmt: skip
    labels = {a["id"]: a["label"] for a in manifest["algos"]}
    assert labels == {"dqn": "DQN (Dopamine)", "rainbow": "Rainbow (Dopamine)"}
    for entry in manifest["entries"]:
        assert entry["source"] == "dopamine"
        assert entry["training_step"] == (int(entry["tag"]) + 1) * 250_000
        details = json.loads((out / entry["details"]).read_text())
        assert details["protocol"]["name"] == "dopamine"
        model = f"{entry['algo']}/{entry['game']}/{entry['run']}/tf_ckpt-{entry['tag']}.index"
        assert details["files"] == {"model": model, "rollout": None, "played": True}


@pytest.mark.slow
@pytest.mark.parametrize("entry_id", ["dqn/Pong/1/1", "rainbow/Breakout/1/199"])
def test_the_site_shows_the_networks_values_for_the_observations_played(built, entry_id):
    _, _, out, cache, nets = built
    report = {e["id"]: e for e in json.loads((cache / "build-report.json").read_text())["entries"]}
    with np.load(cache / report[entry_id]["rollout"]["cache_file"]) as npz:
        obs, actions = npz["observations"], npz["actions"]
    assert obs.shape == (STEPS, 84, 84, 4) and obs.dtype == np.float32
    frames = np.rint(obs * 255).astype(np.uint8)
    np.testing.assert_array_equal(frames / np.float32(255), obs)  # exactly the bytes fed
    written = nets[entry_id]
    theirs = numpy_forward(written.weights, written.agent, frames)
    details = json.loads((out / "a" / entry_id / "entry.json").read_text())
    outputs = details["activations"]["outputs"]
    ours = np.fromfile(out / outputs["url"], "<f4").reshape(outputs["shape"])
    assert_close(ours, theirs["output"], f"{entry_id} outputs.f32")
    agree = (actions == theirs["output"].argmax(axis=1)).mean()
    assert agree >= 0.9, agree  # the agent acted on these values (ε = 0.001)
    if written.agent == "rainbow":
        dist = details["activations"]["distribution"]
        assert dist["shape"] == [STEPS, BREAKOUT, ATOMS]
        p = np.fromfile(out / dist["url"], "<f4").reshape(dist["shape"])
        assert_close(p, theirs["distribution"], f"{entry_id} distribution.f32")
