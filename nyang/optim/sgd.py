"""Stochastic gradient descent, with momentum and Nesterov momentum (NAG)."""
from nyang.optim.optimizer import Optimizer, check_nonnegative


class SGD(Optimizer):
    r"""Stochastic gradient descent, step for step as ``torch.optim.SGD``.

    With gradient :math:`g_t`, learning rate :math:`\gamma`, weight decay :math:`\lambda`,
    momentum :math:`\mu` and dampening :math:`\tau`:

    .. math::
        g_t &\leftarrow g_t + \lambda \theta_{t-1} \\
        b_t &\leftarrow \begin{cases} g_t & t = 1 \\ \mu b_{t-1} + (1 - \tau) g_t & t > 1 \end{cases} \\
        g_t &\leftarrow g_t + \mu b_t \ \text{(nesterov)} \quad\text{or}\quad g_t \leftarrow b_t
              \ \text{(momentum)} \\
        \theta_t &\leftarrow \theta_{t-1} - \gamma g_t

    Without momentum (:math:`\mu = 0`) there is no buffer and the step is plain SGD.
    State per parameter: ``momentum_buffer`` (only with momentum).
    """

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))

    def _validate(self, group):
        check_nonnegative(self, group, "lr", "momentum", "weight_decay")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(f"SGD: nesterov=True needs momentum > 0 and dampening = 0, got "
                             f"momentum={group['momentum']}, dampening={group['dampening']}")

    def _update(self, p, grad, state, group):
        momentum, weight_decay, dampening = group["momentum"], group["weight_decay"], group["dampening"]
        if weight_decay != 0:
            grad = grad + weight_decay * p.data
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = p.device.xp.asarray(grad, copy=True)
            else:
                buf *= momentum
                buf += grad if dampening == 0 else (1 - dampening) * grad  # no temporary without dampening
            grad = grad + momentum * buf if group["nesterov"] else buf
        p.data -= group["lr"] * grad
