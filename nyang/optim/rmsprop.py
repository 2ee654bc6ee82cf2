"""RMSprop: divide the gradient by a running root-mean-square of recent gradients."""
from nyang.optim.optimizer import Optimizer, check_nonnegative


class RMSprop(Optimizer):
    r"""RMSprop, step for step as ``torch.optim.RMSprop``.

    With learning rate :math:`\gamma`, smoothing :math:`\alpha`, weight decay :math:`\lambda`
    and momentum :math:`\mu`:

    .. math::
        g_t &\leftarrow g_t + \lambda \theta_{t-1} \\
        v_t &\leftarrow \alpha v_{t-1} + (1 - \alpha) g_t^2 \\
        \bar g_t &\leftarrow \alpha \bar g_{t-1} + (1 - \alpha) g_t, \quad
            a_t = \sqrt{v_t - \bar g_t^2} + \epsilon \ \text{(centered)}
            \quad\text{or}\quad a_t = \sqrt{v_t} + \epsilon \\
        b_t &\leftarrow \mu b_{t-1} + g_t / a_t, \quad \theta_t \leftarrow \theta_{t-1} - \gamma b_t
            \ \text{(momentum > 0)} \quad\text{or}\quad \theta_t \leftarrow \theta_{t-1} - \gamma g_t / a_t

    State per parameter: ``step`` (int), ``square_avg``, ``momentum_buffer`` (momentum > 0)
    and ``grad_avg`` (centered).
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered))

    def _validate(self, group):
        check_nonnegative(self, group, "lr", "alpha", "eps", "weight_decay", "momentum")

    def _init_state(self, p, group):
        xp = p.device.xp
        state = {"step": 0, "square_avg": xp.zeros_like(p.data)}
        if group["momentum"] > 0:
            state["momentum_buffer"] = xp.zeros_like(p.data)
        if group["centered"]:
            state["grad_avg"] = xp.zeros_like(p.data)
        return state

    def _update(self, p, grad, state, group):
        xp = p.device.xp
        alpha, momentum = group["alpha"], group["momentum"]
        state["step"] += 1
        if group["weight_decay"] != 0:
            grad = grad + group["weight_decay"] * p.data
        square_avg = state["square_avg"]
        square_avg *= alpha
        square_avg += (1 - alpha) * grad * grad
        if group["centered"]:
            grad_avg = state["grad_avg"]
            grad_avg += (1 - alpha) * (grad - grad_avg)
            avg = xp.sqrt(square_avg - grad_avg * grad_avg) + group["eps"]
        else:
            avg = xp.sqrt(square_avg) + group["eps"]
        if momentum > 0:
            buf = state["momentum_buffer"]
            buf *= momentum
            buf += grad / avg
            p.data -= group["lr"] * buf
        else:
            p.data -= group["lr"] * grad / avg
