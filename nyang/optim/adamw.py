"""AdamW: Adam with decoupled weight decay."""
from nyang.optim.adam import Adam


class AdamW(Adam):
    r"""AdamW, step for step as ``torch.optim.AdamW``: Adam whose weight decay shrinks the
    weights directly instead of being added to the gradient.

    .. math::
        \theta_{t-1} &\leftarrow (1 - \gamma\lambda)\, \theta_{t-1} \\
        m_t &\leftarrow \beta_1 m_{t-1} + (1 - \beta_1) g_t, \quad
        v_t \leftarrow \beta_2 v_{t-1} + (1 - \beta_2) g_t^2 \\
        \theta_t &\leftarrow \theta_{t-1} - \frac{\gamma}{1 - \beta_1^t} \,
            \frac{m_t}{\sqrt{\hat v_t} / \sqrt{1 - \beta_2^t} + \epsilon}

    (:math:`\hat v_t = \max(\hat v_{t-1}, v_t)` with amsgrad.) Because the decay never
    passes through :math:`v_t`, every weight decays at the same rate
    :math:`\gamma\lambda` however large its gradients are. Default ``weight_decay=1e-2``.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, decoupled_weight_decay=True)
