"""Adagrad: per-coordinate learning rates from the sum of squared gradients."""
from nyang.optim.optimizer import Optimizer, check_nonnegative


class Adagrad(Optimizer):
    r"""Adagrad, step for step as ``torch.optim.Adagrad``.

    With learning rate :math:`\gamma`, learning-rate decay :math:`\eta`, weight decay
    :math:`\lambda`, and :math:`s_0` = ``initial_accumulator_value``:

    .. math::
        g_t &\leftarrow g_t + \lambda \theta_{t-1} \\
        \tilde\gamma &= \gamma / (1 + (t - 1) \eta) \\
        s_t &\leftarrow s_{t-1} + g_t^2 \\
        \theta_t &\leftarrow \theta_{t-1} - \tilde\gamma \, g_t / (\sqrt{s_t} + \epsilon)

    State per parameter: ``step`` (int) and ``sum``. PyTorch creates the state of every
    parameter when the optimizer is built; here it is created at a parameter's first
    update, like the other optimizers, so a parameter that never gets a gradient has none.
    """

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
                 eps=1e-10):
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, eps=eps))

    def _validate(self, group):
        check_nonnegative(self, group, "lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps")

    def _init_state(self, p, group):
        return {"step": 0, "sum": p.device.xp.full_like(p.data, group["initial_accumulator_value"])}

    def _update(self, p, grad, state, group):
        xp = p.device.xp
        state["step"] += 1
        if group["weight_decay"] != 0:
            grad = grad + group["weight_decay"] * p.data
        lr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        state["sum"] += grad * grad
        p.data -= lr * grad / (xp.sqrt(state["sum"]) + group["eps"])
