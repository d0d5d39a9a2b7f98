"""tg.jit: replays equal eager runs bit for bit, and what cannot replay correctly is refused or re-captured."""
from __future__ import annotations

import threading
import weakref

import pytest

import tinygrad_like as tg
import tinygrad_like.nn.functional as F
from tinygrad_like import nn


@pytest.fixture(params=[True, False], ids=["native", "methods"])
def native(request, backend):
    """Both replay paths where the backend has a native one (c); once elsewhere."""
    if not request.param and not hasattr(tg.backends.load(backend), "native_capture"):
        pytest.skip("this backend has one replay path")
    return request.param


def make_mlp(seed: int = 0, dropout: float = 0.0) -> nn.Module:
    tg.manual_seed(seed)
    return nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Dropout(dropout), nn.Linear(16, 5))


def batches(n: int, rows: int = 8, seed: int = 1) -> list:
    g = tg.Generator(seed)
    return [(tg.randn(rows, 12, generator=g), tg.randint(0, 5, (rows,), generator=g)) for _ in range(n)]


def train(step, data) -> list:
    return [step(x, y).tolist() for x, y in data]


def make_step(model, opt):
    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss
    return step


def params_of(model) -> list:
    return [p.detach().tolist() for p in model.parameters()]


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_replay_equals_eager_bit_for_bit(native, dropout):
    data = batches(9)
    results = []
    for jitted in (False, True):
        model = make_mlp(dropout=dropout)
        opt = tg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
        step = make_step(model, opt)
        if jitted:
            step = tg.jit(step, native=native)
        tg.manual_seed(7)  # dropout masks: the replay draws from the generator as eager does
        losses = train(step, data)
        results.append((losses, params_of(model), [p.grad.tolist() for p in model.parameters()],
                        tg.random.default_generator.get_state()))
        if jitted:
            assert step.captured_kernels(), "the jitted step never replayed"
    assert results[0] == results[1]


def test_a_dead_weak_proxy_in_the_process_does_not_break_the_capture(native):
    """The capture scans the process's objects for tensors; a weakref.proxy whose object is gone (numba
    leaves some behind) raises ReferenceError on isinstance, so the scan must not ask it."""
    class Owner:
        pass
    owner = Owner()
    proxies = [weakref.proxy(owner)]  # kept alive, its referent is not
    del owner
    f = tg.jit(lambda x: (x * 2).sum(), native=native)
    x = tg.arange(4.0)
    for _ in range(4):
        assert f(x).item() == 12.0
    assert f.captured_kernels() and len(proxies) == 1


def test_closure_tensors_are_read_at_replay_time(native):
    w = tg.ones(4)
    f = tg.jit(lambda x: (x * w).sum(), native=native)
    x = tg.arange(4.0)
    for _ in range(4):
        f(x)
    w.mul_(2)  # in place, between calls: the replay sees it
    assert f(x).item() == 12.0
    with tg.no_grad():
        w[0] = 100.0
    assert f(x).item() == 12.0 + 0.0 * 100  # x[0] is 0
    assert f(tg.tensor([1.0, 0.0, 0.0, 0.0])).item() == 100.0


def test_outputs_are_fresh_tensors_with_the_structure_returned(native):
    f = tg.jit(lambda x: {"sum": x.sum(), "pair": (x * 2, 3), "same": x}, native=native)
    outs = [f(tg.full((3,), float(i))) for i in range(6)]
    for i, out in enumerate(outs):  # earlier outputs are not overwritten by later replays
        assert out["sum"].item() == 3.0 * i
        assert out["pair"][0].tolist() == [2.0 * i] * 3 and out["pair"][1] == 3
        assert out["same"].tolist() == [float(i)] * 3


def test_new_shapes_capture_again_and_old_ones_still_replay(native):
    f = tg.jit(lambda x: (x * x).sum(1), native=native)
    for n in (2, 3, 2, 3, 2, 3, 2, 3, 4):
        x = tg.arange(float(n * 2)).reshape(2, n)
        assert f(x).tolist() == (x * x).sum(1).tolist()
    assert len(f.captured_kernels()) == 2


def test_noncontiguous_and_offset_inputs(native):
    f = tg.jit(lambda x: x.exp() + 1, native=native)
    base = tg.randn(6, 8)
    for i in range(5):
        x = base[1:5, 2:5].T if i % 2 else base[i:i + 3, :4]
        assert f(x).tolist() == (x.exp() + 1).tolist()


def test_item_inside_is_refused_with_the_place():
    f = tg.jit(lambda x: x.sum().item())
    f(tg.ones(3))
    with pytest.raises(tg.JitError, match=r"reads a tensor's values into Python .*test_jit.py"):
        f(tg.ones(3))


def test_data_dependent_python_branch_is_refused():
    def g(x):
        return x * 2 if bool((x > 0).all()) else x * 3
    f = tg.jit(g)
    f(tg.ones(2))
    with pytest.raises(tg.JitError, match="reads a tensor's values"):
        f(tg.ones(2))


def test_changing_python_number_is_refused_on_the_verify_call():
    state = {"k": 0}

    def g(x):
        state["k"] += 1
        return x * state["k"]
    f = tg.jit(g)
    f(tg.ones(2))
    f(tg.ones(2))
    with pytest.raises(tg.JitError, match="ran different kernels on two calls"):
        f(tg.ones(2))
    with pytest.raises(tg.JitError):  # and it stays refused
        f(tg.ones(2))


@pytest.mark.parametrize("size", [3, 5000])
def test_rebound_state_is_refused(native, size):
    h = [tg.zeros(size)]

    def g(x):
        h[0] = h[0] * 0.5 + x  # the old h is freed here: its memory may serve the temporaries below
        return ((h[0] * 2).exp() + 1).sum()
    f = tg.jit(g, native=native)
    with pytest.raises(tg.JitError, match="ran different kernels|freed during the call"):
        for _ in range(3):
            f(tg.ones(size))


def test_replaced_storage_and_train_eval_switch_capture_again(native):
    model = make_mlp(dropout=0.5)
    f = tg.jit(lambda x: model(x), native=native)
    x = tg.randn(4, 12)
    for _ in range(4):
        f(x)
    model.eval()  # dropout off: a new capture, not a replay of the training kernels
    assert f(x).tolist() == model(x).tolist()
    w = model[0].weight
    w.data = tg.zeros(w.shape)  # new storage: captured again
    for _ in range(4):
        assert f(x).tolist() == model(x).tolist()


def test_zero_grad_outside_the_step_still_gets_grads(native):
    model = make_mlp()
    opt = tg.optim.SGD(model.parameters(), lr=0.05)

    def step(x, y):
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss
    f = tg.jit(step, native=native)
    for x, y in batches(6):
        opt.zero_grad()  # set_to_none: each replay must give the parameters their .grad back
        f(x, y)
        assert all(p.grad is not None for p in model.parameters())


def test_checked_values_are_checked_on_every_replay(native):
    emb = nn.Embedding(10, 4)
    f = tg.jit(lambda i: emb(i).sum(), native=native)
    for _ in range(4):
        f(tg.tensor([1, 2, 3]))
    with pytest.raises(IndexError, match="out of range for 10"):
        f(tg.tensor([1, 2, 10]))
    assert f(tg.tensor([4, 5, 6])).item() == emb(tg.tensor([4, 5, 6])).sum().item()


def test_a_branch_value_that_changes_is_refused(native):
    def g(logits, y):
        return F.cross_entropy(logits, y, ignore_index=-1)
    f = tg.jit(g, native=native)
    logits = tg.randn(4, 3)
    for _ in range(4):
        f(logits, tg.tensor([0, 1, 2, 0]))
    with pytest.raises(tg.JitError, match="ignore_index"):
        f(logits, tg.tensor([0, -1, 2, 0]))


def test_saved_tensor_checks_see_replayed_updates(native):
    w = tg.ones(3, requires_grad=True)

    def bump():
        with tg.no_grad():
            w.add_(1)
    f = tg.jit(bump, native=native)
    y = (w * w).sum()  # saves w
    bump()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward(retain_graph=True)  # eager: the saved w is stale
    y = (w * w).sum()
    for _ in range(4):
        f()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


def test_other_threads_are_not_recorded(native):
    f = tg.jit(lambda x: (x + 1).sum(), native=native)
    stop = threading.Event()

    def busy():
        a = tg.ones(16)
        while not stop.is_set():
            (a * 2).sum()
    t = threading.Thread(target=busy)
    t.start()
    try:
        outs = [f(tg.full((5,), float(i))).item() for i in range(8)]
    finally:
        stop.set()
        t.join()
    assert outs == [5.0 * (i + 1) for i in range(8)]


def test_unhashable_argument_is_a_clear_error():
    f = tg.jit(lambda x, opts: x)
    with pytest.raises(tg.JitError, match="neither a tensor nor hashable"):
        f(tg.ones(1), bytearray(b"options"))


def test_arguments_that_require_grad_are_refused():
    f = tg.jit(lambda x: (x * 2).sum())
    x = tg.ones(3, requires_grad=True)
    f(x)
    with pytest.raises(tg.JitError, match="requires grad"):
        f(x)


def test_a_jitted_function_inside_another_is_recorded_by_the_outer(native):
    inner = tg.jit(lambda x: x.exp() * 2, native=native)
    outer = tg.jit(lambda x: inner(x).sum() + 1, native=native)
    for i in range(6):
        x = tg.full((4,), float(i) / 10)
        assert outer(x).item() == (x.exp() * 2).sum().item() + 1


@pytest.mark.backend_independent
def test_straight_line_runs_plain_and_other_steps_in_order():
    """program.straight_line: PlainCall steps become lines with their constants, slot reads, result
    and frees; any other step is called with the slot list; the order is kept."""
    from tinygrad_like.jit.program import PlainCall as plain, straight_line
    log: list = []

    def other(S):
        log.append(("other", S[1]))
        S[2] = "from other"

    def f(tag, x, y):
        log.append((tag, x, y))
        return tag + "!"
    view = object()  # any constant object passes through by identity
    steps = [plain(f, ("a", view, None), {2: 0}, 1, (0,)), other,
             plain(f, ("b", None, None), {1: 2, 2: 1}, None, (1, 2)), plain(f, ("c", 1.5, 2), {}, 0, ())]
    S = [41, None, None]
    straight_line(steps)(S)
    assert log == [("a", view, 41), ("other", "a!"), ("b", "from other", "a!"), ("c", 1.5, 2)]
    assert S == ["c!", None, None]
    empty: list = []
    straight_line([])(empty)
    assert empty == []
