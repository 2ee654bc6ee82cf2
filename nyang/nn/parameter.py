"""``Parameter``: a tensor that a Module registers as learnable."""
from nyang.tensor import Tensor


class Parameter(Tensor):
    """A leaf Tensor that requires grad by default; assigning one to a Module
    attribute registers it in ``parameters()`` and ``state_dict()``."""

    def __init__(self, data, requires_grad=True):
        if isinstance(data, Tensor):
            self.data, self._device = data.data, data._device
            self.grad, self._node, self.requires_grad = None, None, False
        else:
            super().__init__(data)
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()
