"""Train from image files: export the digits as PNGs in class folders, load them
with ImageFolder (seeded stratified train/valid/test split), augment the training
split only, train a CNN, and look at a batch.

    python examples/image_folder.py [--epochs 10] [--root runs/digits-png]
"""
import argparse
import os
import sys

import nyang
from nyang import nn, optim
from nyang.data import ImageFolder, transforms

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_digits import export_digits  # noqa: E402


def main(epochs=10, root="runs/digits-png", size=16, workers=0, seed=0):
    if not os.path.isdir(root):
        export_digits(root, size=size)
    nyang.manual_seed(seed)
    # Separate pipelines: random augmentation for training, the plain conversion for evaluation.
    train_transform = transforms.Compose([
        transforms.ToTensor(),                                   # (H, W) uint8 -> (1, H, W) float32 in [0, 1]
        transforms.RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1)),
        transforms.RandomErasing(p=0.25, scale=(0.02, 0.1)),
        transforms.Normalize((0.5,), (0.5,)),
    ])
    eval_transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
    splits = ImageFolder.splits(root, transform=train_transform, eval_transform=eval_transform, seed=seed)
    print(f"{len(splits.train)} train / {len(splits.valid)} valid / {len(splits.test)} test images, "
          f"classes {splits.classes}")
    train, valid, test = splits.loaders(batch_size=64, num_workers=workers)

    images, labels = next(iter(train))
    nyang.viz.save_image_grid(images, labels, os.path.join(root, "..", "augmented_batch.png"),
                              class_names=splits.classes)

    model = nyang.models.small_cnn(in_channels=1, num_classes=len(splits.classes), input_size=size)
    optimizer = optim.Adam(model.parameters(), lr=2e-3)
    nyang.fit(model, optimizer, nn.CrossEntropyLoss(), train, valid, epochs=epochs, progress=False)
    scores = nyang.evaluate(model, test, metrics=("accuracy", "f1"), progress=False)
    print(f"test accuracy {scores['accuracy']:.4f}, macro F1 {scores['f1']:.4f}")
    return scores


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--root", default="runs/digits-png")
    parser.add_argument("--workers", type=int, default=0)
    args = parser.parse_args()
    main(args.epochs, args.root, workers=args.workers)
