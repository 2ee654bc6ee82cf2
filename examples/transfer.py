"""Transfer learning: reuse trained feature layers, freeze them, fine-tune a new head.

A CNN learns digits 0-4; its convolutional features are then loaded into a new
model for digits 5-9, frozen, and only the new classifier head is trained. The
same ``load_state_dict`` takes PyTorch weights (``{k: v.numpy() ...}``) too.

    python examples/transfer.py [--epochs 10]
"""
import argparse
import os
import tempfile

import numpy as np

import nyang
from nyang import nn, optim
from nyang.data import DataLoader, Subset, datasets


def features():
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten())


def head():
    return nn.Sequential(nn.Linear(512, 64), nn.ReLU(), nn.Linear(64, 5))


def only(dataset, labels, shift):
    """The samples of ``dataset`` whose label is in ``labels``, relabelled to 0..4."""
    keep = [i for i in range(len(dataset)) if int(dataset[i][1]) in labels]
    return _Relabel(Subset(dataset, keep), shift)


class _Relabel(nyang.data.Dataset):
    def __init__(self, dataset, shift):
        self.dataset, self.shift = dataset, shift

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, i):
        x, y = self.dataset[i]
        return x, np.int64(int(y) - self.shift)


def main(epochs=10, seed=0):
    nyang.manual_seed(seed)
    digits = datasets.digits(seed=seed)
    low, high = range(0, 5), range(5, 10)

    base = nn.Sequential(features(), head())
    nyang.fit(base, optim.Adam(base.parameters(), lr=1e-3),
              nn.CrossEntropyLoss(), DataLoader(only(digits.train, low, 0), batch_size=32, shuffle=True),
              epochs=epochs, progress=False, verbose=False)
    path = os.path.join(tempfile.mkdtemp(), "features.npz")
    nyang.save(base[0].state_dict(), path)  # keep only the feature extractor

    model = nn.Sequential(features(), head())
    model[0].load_state_dict(nyang.load(path))
    model[0].requires_grad_(False)  # freeze: no gradients, the optimizer gets only the head
    optimizer = optim.Adam(model[1].parameters(), lr=1e-3)
    frozen_before = model[0][0].weight.numpy().copy()
    nyang.fit(model, optimizer, nn.CrossEntropyLoss(),
              DataLoader(only(digits.train, high, 5), batch_size=32, shuffle=True),
              epochs=epochs, progress=False, verbose=False)
    assert np.array_equal(frozen_before, model[0][0].weight.numpy()), "frozen layers changed"
    scores = nyang.evaluate(model, DataLoader(only(digits.test, high, 5), batch_size=256), progress=False)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    print(f"fine-tuned {trainable} of {total} parameters; digits 5-9 test accuracy {scores['accuracy']:.4f}")
    return scores


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    main(parser.parse_args().epochs)
