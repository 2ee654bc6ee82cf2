"""Ready-made classifiers, built from ``nn.Sequential`` so ``save_model`` can store
them: ``mlp``, ``small_cnn`` (the ``make demo`` CNN), ``lenet`` and ``vgg_small``."""
from nyang import nn


def mlp(in_features, num_classes, hidden=(128, 64), dropout=0.0):
    """Flatten -> [Linear -> ReLU (-> Dropout)] per hidden size -> Linear.
    Input (N, *) with prod(*) == in_features; output (N, num_classes) logits."""
    layers, width = [nn.Flatten()], in_features
    for size in hidden:
        layers += [nn.Linear(width, size, init="kaiming"), nn.ReLU()]
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = size
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


def small_cnn(in_channels=1, num_classes=10, input_size=8):
    """conv3x3(16) -> ReLU -> conv3x3(32) -> ReLU -> maxpool 2 -> Linear(., 64) -> ReLU -> Linear.
    Input (N, in_channels, input_size, input_size)."""
    features = 32 * (input_size // 2) ** 2
    return nn.Sequential(
        nn.Conv2d(in_channels, 16, 3, padding=1), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(features, 64), nn.ReLU(),
        nn.Linear(64, num_classes),
    )


def lenet(in_channels=1, num_classes=10, input_size=28):
    """LeNet-5 with ReLU and max-pooling: conv5x5(6, pad 2) -> pool -> conv5x5(16) ->
    pool -> 120 -> 84 -> classes. Inputs smaller than 28 pad the second conv too."""
    pad2 = 0 if input_size >= 28 else 2
    size = (input_size // 2 + 2 * pad2 - 4) // 2
    if size < 1:
        raise ValueError(f"lenet: input_size {input_size} is too small; expected at least 8")
    return nn.Sequential(
        nn.Conv2d(in_channels, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5, padding=pad2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * size * size, 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, num_classes),
    )


def vgg_small(in_channels=3, num_classes=10, input_size=32, dropout=0.5):
    """Two VGG blocks (conv3x3-BN-ReLU twice, then maxpool 2) of 32 and 64 channels,
    then Linear(64 * (input_size/4)^2, 256) -> ReLU -> Dropout -> Linear."""
    def block(c_in, c_out):
        return [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(),
                nn.Conv2d(c_out, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(),
                nn.MaxPool2d(2)]

    size = input_size // 4
    return nn.Sequential(
        *block(in_channels, 32), *block(32, 64),
        nn.Flatten(),
        nn.Linear(64 * size * size, 256), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(256, num_classes),
    )


BUILDERS = {"mlp": mlp, "cnn": small_cnn, "lenet": lenet, "vgg-small": vgg_small}


def build(name, input_shape, num_classes):
    """The model ``name`` (``mlp``, ``cnn``, ``lenet``, ``vgg-small``) for inputs of
    ``input_shape`` (C, H, W) or (F,) and ``num_classes`` outputs."""
    if name not in BUILDERS:
        raise ValueError(f"model: unknown model {name!r}; expected one of {sorted(BUILDERS)}")
    if name == "mlp":
        features = 1
        for s in input_shape:
            features *= s
        return mlp(features, num_classes)
    if len(input_shape) != 3:
        raise ValueError(f"model: {name} needs image inputs (C, H, W), got input shape {tuple(input_shape)}; "
                         f"use --model mlp for tabular data")
    c, h, w = input_shape
    if h != w:
        raise ValueError(f"model: {name} needs square images, got {h}x{w}")
    return BUILDERS[name](c, num_classes, h)
