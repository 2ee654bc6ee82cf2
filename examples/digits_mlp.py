"""A multi-layer perceptron on the digits, written out layer by layer.

    python examples/digits_mlp.py [--epochs 30]
"""
import argparse

import nyang
from nyang import nn, optim
from nyang.data import DataLoader, datasets


def main(epochs=30, seed=0):
    nyang.manual_seed(seed)
    digits = datasets.digits(seed=seed)
    train = DataLoader(digits.train, batch_size=32, shuffle=True)
    valid = DataLoader(digits.valid, batch_size=256)
    test = DataLoader(digits.test, batch_size=256)

    model = nn.Sequential(
        nn.Flatten(),                           # (N, 1, 8, 8) -> (N, 64)
        nn.Linear(64, 128, init="kaiming"), nn.ReLU(),
        nn.Linear(128, 64, init="kaiming"), nn.ReLU(),
        nn.Linear(64, 10),                      # logits; CrossEntropyLoss applies log-softmax
    )
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    nyang.fit(model, optimizer, nn.CrossEntropyLoss(), train, valid, epochs=epochs, progress=False)
    scores = nyang.evaluate(model, test, metrics=("accuracy", "f1"), progress=False)
    print(f"test accuracy {scores['accuracy']:.4f}, macro F1 {scores['f1']:.4f}")
    return scores


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    main(parser.parse_args().epochs)
