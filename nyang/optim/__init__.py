"""``nyang.optim``: optimizers that follow ``torch.optim`` step for step, and ``lr_scheduler``.

Build an optimizer over a model's parameters, then per batch: ``zero_grad()``,
``loss.backward()``, ``step()``::

    optimizer = nyang.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
    scheduler = nyang.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=1e-2, total_steps=1000)
"""
from nyang.optim import lr_scheduler  # noqa: F401
from nyang.optim.adadelta import Adadelta
from nyang.optim.adagrad import Adagrad
from nyang.optim.adam import Adam
from nyang.optim.adamw import AdamW
from nyang.optim.optimizer import Optimizer
from nyang.optim.rmsprop import RMSprop
from nyang.optim.sgd import SGD

__all__ = ["Optimizer", "SGD", "Adagrad", "RMSprop", "Adadelta", "Adam", "AdamW", "lr_scheduler"]
