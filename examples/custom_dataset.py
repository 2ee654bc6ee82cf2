"""Your own data: a ``Dataset`` subclass (two interleaved spirals), a DataLoader,
training and prediction.

    python examples/custom_dataset.py [--epochs 40]
"""
import argparse
import math

import numpy as np

import nyang
from nyang import nn, optim
from nyang.data import DataLoader, Dataset, random_split


class Spirals(Dataset):
    """Points on two interleaved spirals; sample i is (features (2,), label 0 or 1)."""

    def __init__(self, n=1000, noise=0.15, seed=0):
        rng = np.random.default_rng(seed)
        t = np.sqrt(rng.uniform(0, 1, n)) * 3 * math.pi
        label = rng.integers(0, 2, n)
        sign = np.where(label == 0, 1.0, -1.0)
        xy = np.stack([sign * t * np.cos(t), sign * t * np.sin(t)], axis=1) / (3 * math.pi)
        self.x = (xy + rng.normal(0, noise / 3, xy.shape)).astype(np.float32)
        self.y = label.astype(np.int64)

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


def main(epochs=40, seed=0):
    nyang.manual_seed(seed)
    train_set, valid_set = random_split(Spirals(seed=seed), [0.8, 0.2], generator=nyang.Generator().manual_seed(seed))
    train = DataLoader(train_set, batch_size=32, shuffle=True)
    valid = DataLoader(valid_set, batch_size=256)
    model = nn.Sequential(nn.Linear(2, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 2))
    optimizer = optim.Adam(model.parameters(), lr=1e-2)
    history = nyang.fit(model, optimizer, nn.CrossEntropyLoss(), train, valid, epochs=epochs, progress=False,
                        verbose=False)
    probabilities, classes = nyang.predict(model, np.array([[0.0, 0.0], [0.5, -0.5]], dtype=np.float32))
    print(f"valid accuracy after {len(history)} epochs: {history['valid_accuracy'][-1]:.3f}")
    print(f"predictions for two points: classes {classes.tolist()}, probabilities {probabilities.round(3).tolist()}")
    return history


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    main(parser.parse_args().epochs)
