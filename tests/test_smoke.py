import tinygrad_like as tg


def test_add_and_backward(backend):
    a = tg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    (a * a + 1).sum().backward()
    assert a.backend == backend
    assert a.grad.tolist() == [[2.0, 4.0], [6.0, 8.0]]
