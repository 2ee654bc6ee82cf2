"""Train a small CNN on scikit-learn's 8x8 digits (bundled with nyang, no download),
with early stopping, then report test accuracy and macro F1. This is `make demo`.

    python examples/digits_cnn.py [--epochs 30] [--out runs/digits-cnn]
"""
import argparse

import nyang
from nyang import nn, optim
from nyang.data import DataLoader, datasets


def main(epochs=30, out="runs/digits-cnn", seed=0):
    nyang.manual_seed(seed)
    digits = datasets.digits(seed=seed)  # stratified 70/15/15 train/valid/test split
    train = DataLoader(digits.train, batch_size=32, shuffle=True)
    valid = DataLoader(digits.valid, batch_size=256)
    test = DataLoader(digits.test, batch_size=256)

    model = nyang.models.small_cnn(in_channels=1, num_classes=10, input_size=8)
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    history = nyang.fit(model, optimizer, nn.CrossEntropyLoss(), train, valid, epochs=epochs,
                        metrics=("accuracy", "f1"), patience=8, out_dir=out, classes=digits.classes)

    model.load_state_dict(nyang.load(f"{out}/best.npz")["model"])  # the best epoch by valid loss
    scores = nyang.evaluate(model, test, metrics=("accuracy", "f1"), progress=False)
    print(f"\nbest epoch {history.best_epoch}: test accuracy {scores['accuracy']:.4f}, "
          f"macro F1 {scores['f1']:.4f} (run files in {out}/)")
    return scores


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--out", default="runs/digits-cnn")
    args = parser.parse_args()
    main(args.epochs, args.out)
