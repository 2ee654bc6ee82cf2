"""The ``nyang`` command (also ``python -m nyang``).

``nyang train``    train a classifier on a built-in dataset or an image folder
``nyang eval``     score a saved model on a dataset split
``nyang predict``  classify image files with a saved model
``nyang summary``  print a model's layers, output shapes and parameter counts
``nyang info``     versions and devices
"""
import argparse
import os
import sys

DATASETS = ("digits", "iris", "wine", "breast_cancer")
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop", "adagrad", "adadelta")
SCHEDULERS = ("none", "step", "cosine", "onecycle", "plateau")


def _info(args):
    import array_api_compat
    import numpy

    import nyang

    print(f"nyang {nyang.__version__}")
    print(f"python {sys.version.split()[0]}, numpy {numpy.__version__}, array-api-compat {array_api_compat.__version__}")
    print(f"default device: {nyang.get_device()}")
    print(f"cuda available: {nyang.cuda.is_available()} ({nyang.cuda.device_count()} GPU(s))")
    return 0


# ---------------------------------------------------------------- data


def load_data(data, batch_size, workers, seed, device, image_size=None):
    """(train, valid, test loaders, classes, input shape) for a dataset name or an image folder."""
    import nyang
    from nyang.data import DataLoader, ImageFolder, datasets, transforms

    generator = nyang.Generator("cpu").manual_seed(seed)
    if data in DATASETS:
        # tabular features are standardised with statistics of the training split only
        options = {} if data == "digits" else {"scaler": "standard"}
        splits = getattr(datasets, data)(seed=seed, **options)
        parts, classes = (splits.train, splits.valid, splits.test), list(splits.classes)
    else:
        if not os.path.isdir(data):
            raise FileNotFoundError(f"--data: {data!r} is neither a built-in dataset {DATASETS} nor a folder")
        size = image_size or 32
        train_tf = transforms.Compose([transforms.ToTensor(), transforms.Resize((size, size)),
                                       transforms.RandomHorizontalFlip(), transforms.Normalize((0.5,), (0.5,))])
        eval_tf = transforms.Compose([transforms.ToTensor(), transforms.Resize((size, size)),
                                      transforms.Normalize((0.5,), (0.5,))])
        parts = tuple(ImageFolder(data, split=s, seed=seed, transform=train_tf if s == "train" else eval_tf)
                      for s in ("train", "valid", "test"))
        classes = list(parts[0].classes)
    train = DataLoader(parts[0], batch_size=batch_size, shuffle=True, num_workers=workers, generator=generator,
                       device=device)
    valid = DataLoader(parts[1], batch_size=256, device=device)
    test = DataLoader(parts[2], batch_size=256, device=device)
    x0 = parts[0][0][0]
    return train, valid, test, classes, tuple(getattr(x0, "shape", ()))


def _model_from_config(layers):
    """An ``nn.Sequential`` from ``[{type = "Linear", args = [64, 10], kwargs = {...}}, ...]``."""
    from nyang import nn

    modules = []
    for i, spec in enumerate(layers):
        cls = getattr(nn, spec.get("type", ""), None)
        if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
            raise ValueError(f"--config: layer {i} has unknown type {spec.get('type')!r}")
        modules.append(cls(*spec.get("args", []), **spec.get("kwargs", {})))
    return nn.Sequential(*modules)


def build_model(name, layers, input_shape, num_classes):
    from nyang import models

    return _model_from_config(layers) if layers else models.build(name, input_shape, num_classes)


def build_optimizer(name, params, lr, weight_decay=0.0):
    from nyang import optim

    table = {
        "sgd": lambda: optim.SGD(params, lr=lr, weight_decay=weight_decay),
        "momentum": lambda: optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay),
        "nesterov": lambda: optim.SGD(params, lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay),
        "adam": lambda: optim.Adam(params, lr=lr, weight_decay=weight_decay),
        "adamw": lambda: optim.AdamW(params, lr=lr, weight_decay=weight_decay or 0.01),
        "rmsprop": lambda: optim.RMSprop(params, lr=lr, weight_decay=weight_decay),
        "adagrad": lambda: optim.Adagrad(params, lr=lr, weight_decay=weight_decay),
        "adadelta": lambda: optim.Adadelta(params, lr=lr, weight_decay=weight_decay),
    }
    return table[name]()


def build_scheduler(name, optimizer, lr, epochs, steps_per_epoch):
    """(scheduler or None, interval) for a scheduler name."""
    from nyang.optim import lr_scheduler as S

    if name == "none":
        return None, "epoch"
    if name == "step":
        return S.StepLR(optimizer, step_size=max(1, epochs // 3), gamma=0.1), "epoch"
    if name == "cosine":
        return S.CosineAnnealingLR(optimizer, T_max=epochs), "epoch"
    if name == "onecycle":
        return S.OneCycleLR(optimizer, max_lr=lr, epochs=epochs, steps_per_epoch=steps_per_epoch), "step"
    return S.ReduceLROnPlateau(optimizer, factor=0.5, patience=2), "epoch"


# ---------------------------------------------------------------- commands


def _train(args):
    import nyang
    from nyang import nn
    from nyang.training import fit

    nyang.set_device(args.device)
    nyang.manual_seed(args.seed)
    train, valid, test, classes, input_shape = load_data(args.data, args.batch_size, args.workers, args.seed,
                                                         args.device, args.image_size)
    model = build_model(args.model, args.layers, input_shape, len(classes)).to(args.device)
    optimizer = build_optimizer(args.optimizer, model.parameters(), args.lr, args.weight_decay)
    scheduler, interval = build_scheduler(args.scheduler, optimizer, args.lr, args.epochs, len(train))
    out = args.out or os.path.join("runs", f"{os.path.basename(os.path.normpath(args.data))}-{args.model}")
    history = fit(model, optimizer, nn.CrossEntropyLoss(label_smoothing=args.label_smoothing), train, valid,
                  epochs=args.epochs, scheduler=scheduler, scheduler_interval=interval, grad_clip=args.grad_clip,
                  metrics=("accuracy", "f1"), patience=args.patience, out_dir=out, resume=args.resume,
                  progress=not args.no_progress, classes=classes)
    if history.interrupted:
        return 130
    best = nyang.load(os.path.join(out, "best.npz"))
    model.load_state_dict(best["model"])
    nyang.save_model(model, os.path.join(out, "model.npz"), metadata={"classes": classes,
                                                                        "input_shape": list(input_shape)})
    _print_scores(model, test, classes, "test", os.path.join(out, "confusion_matrix.png"))
    print(f"\nbest epoch {history.best_epoch} ({history.monitor} {history.best_value:.4f}); run files in {out}/: "
          f"best.npz, last.npz, model.npz, history.csv, history.jsonl, curves.png, run.json, confusion_matrix.png")
    return 0


def _print_scores(model, loader, classes, split, png_path):
    import numpy as np

    from nyang import metrics, viz
    from nyang.inference import predict

    y_true = np.concatenate([y.numpy() for _, y in loader])
    y_pred = predict(model, loader).classes
    print(f"\n{split} accuracy {metrics.accuracy(y_true, y_pred):.4f}   "
          f"macro F1 {metrics.f1_score(y_true, y_pred, average='macro'):.4f}\n")
    names = [str(c) for c in classes]
    print(metrics.classification_report(y_true, y_pred, labels=list(range(len(names))), target_names=names,
                                        digits=4))
    cm = metrics.confusion_matrix(y_true, y_pred, num_classes=len(names))
    try:
        viz.save_confusion_matrix(cm, png_path, class_names=names)
        print(f"confusion matrix: {png_path}")
    except ImportError as exc:
        print(f"confusion matrix not drawn ({exc})")


def _load_model_file(path):
    import nyang

    if not os.path.exists(path):
        raise FileNotFoundError(f"--checkpoint: {path} does not exist")
    if os.path.basename(path) in ("best.npz", "last.npz") and os.path.exists(
            os.path.join(os.path.dirname(path), "model.npz")):
        model_path = os.path.join(os.path.dirname(path), "model.npz")
        model, metadata = nyang.load_model(model_path, with_metadata=True)
        weights = nyang.load(path)
        model.load_state_dict(weights["model"])
        return model, metadata
    return nyang.load_model(path, with_metadata=True)


def _eval(args):
    import nyang

    nyang.set_device(args.device)
    model, metadata = _load_model_file(args.checkpoint)
    model.to(args.device)
    _, valid, test, classes, _ = load_data(args.data, 256, 0, args.seed, args.device, args.image_size)
    out = args.out or os.path.dirname(os.path.abspath(args.checkpoint))
    _print_scores(model, test if args.split == "test" else valid, metadata.get("classes") or classes, args.split,
                  os.path.join(out, f"confusion_matrix_{args.split}.png"))
    return 0


def _predict(args):
    import numpy as np

    import nyang
    from nyang.data import transforms
    from nyang.data.image_folder import load_image
    from nyang.inference import predict

    model, metadata = _load_model_file(args.checkpoint)
    classes = metadata.get("classes")
    shape = metadata.get("input_shape")
    for path in args.images:
        if not os.path.exists(path):
            raise FileNotFoundError(f"predict: image {path} does not exist")
    images = []
    for path in args.images:
        x = transforms.ToTensor()(load_image(path))
        if shape is not None:
            c, h, w = shape
            if x.shape[0] != c:
                x = np.repeat(x.mean(axis=0, keepdims=True), c, axis=0)
            if x.shape[1:] != (h, w):
                x = transforms.Resize((h, w))(x)
        images.append(x)
    result = predict(model, nyang.tensor(np.stack(images).astype(np.float32)))
    for path, probs in zip(args.images, result.probabilities):
        top = np.argsort(-probs)[:args.top]
        ranked = ", ".join(f"{classes[i] if classes else i} {probs[i]:.3f}" for i in top)
        print(f"{path}: {ranked}")
    return 0


def _summary(args):
    import nyang

    model = build_model(args.model, args.layers, tuple(args.input_size), args.num_classes)
    nyang.summary(model, tuple(args.input_size), batch_size=args.batch_size)
    return 0


# ---------------------------------------------------------------- parser


def _load_config(path):
    import tomllib

    if not os.path.exists(path):
        raise FileNotFoundError(f"--config: {path} does not exist")
    with open(path, "rb") as f:
        config = tomllib.load(f)
    layers = config.pop("model", {}).get("layers") if isinstance(config.get("model"), dict) else None
    return {k.replace("-", "_"): v for k, v in config.items()}, layers


def build_parser():
    from nyang import __version__

    parser = argparse.ArgumentParser(prog="nyang", description="nyang: deep learning for classification, "
                                     "on NumPy or CuPy.")
    parser.add_argument("--version", action="version", version=f"nyang {__version__}")
    sub = parser.add_subparsers(dest="command")

    info = sub.add_parser("info", help="print versions and the devices nyang can use")
    info.set_defaults(run=_info)

    def data_options(p):
        p.add_argument("--data", default="digits", help=f"one of {', '.join(DATASETS)} or an image folder")
        p.add_argument("--seed", type=int, default=0, help="seed of the split, init and shuffling")
        p.add_argument("--device", default=os.environ.get("NYANG_DEVICE", "cpu"), help="cpu, cuda or cuda:N")
        p.add_argument("--image-size", type=int, default=None, help="resize image-folder images to this size")

    train = sub.add_parser("train", help="train a classifier")
    data_options(train)
    train.add_argument("--model", default="cnn", choices=["mlp", "cnn", "lenet", "vgg-small"])
    train.add_argument("--config", help="a TOML file with these options and an optional [model] layers list")
    train.add_argument("--epochs", type=int, default=30)
    train.add_argument("--batch-size", type=int, default=32)
    train.add_argument("--lr", type=float, default=1e-3)
    train.add_argument("--weight-decay", type=float, default=0.0)
    train.add_argument("--optimizer", default="adam", choices=OPTIMIZERS)
    train.add_argument("--scheduler", default="none", choices=SCHEDULERS)
    train.add_argument("--label-smoothing", type=float, default=0.0)
    train.add_argument("--grad-clip", type=float, default=None, help="max gradient norm")
    train.add_argument("--patience", type=int, default=None, help="early-stopping patience in epochs")
    train.add_argument("--workers", type=int, default=0, help="DataLoader workers")
    train.add_argument("--out", help="run folder (default runs/DATA-MODEL)")
    train.add_argument("--resume", help="continue the run saved in this folder")
    train.add_argument("--no-progress", action="store_true", help="no progress bars")
    train.set_defaults(run=_train, layers=None)

    ev = sub.add_parser("eval", help="score a saved model on a dataset split")
    data_options(ev)
    ev.add_argument("--checkpoint", required=True, help="model.npz, or best.npz next to a model.npz")
    ev.add_argument("--split", default="test", choices=["valid", "test"])
    ev.add_argument("--out", help="where to write the confusion matrix (default: the checkpoint's folder)")
    ev.set_defaults(run=_eval)

    pr = sub.add_parser("predict", help="classify image files")
    pr.add_argument("--checkpoint", required=True, help="model.npz (or best.npz next to one)")
    pr.add_argument("images", nargs="+", help="image files")
    pr.add_argument("--top", type=int, default=3, help="how many classes to show per image")
    pr.set_defaults(run=_predict)

    sm = sub.add_parser("summary", help="print a model's layers and parameter counts")
    sm.add_argument("--model", default="lenet", choices=["mlp", "cnn", "lenet", "vgg-small"])
    sm.add_argument("--input-size", type=int, nargs="+", default=[1, 28, 28], help="C H W (or F)")
    sm.add_argument("--num-classes", type=int, default=10)
    sm.add_argument("--batch-size", type=int, default=1)
    sm.set_defaults(run=_summary, layers=None)

    from nyang.compare import add_compare_parser
    add_compare_parser(sub)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 0
    if getattr(args, "config", None):
        config, layers = _load_config(args.config)
        given = {a.split("=")[0].lstrip("-").replace("-", "_") for a in (argv or sys.argv[1:]) if a.startswith("--")}
        for key, value in config.items():
            if not hasattr(args, key):
                parser.error(f"--config: unknown option {key!r} in {args.config}")
            if key not in given:
                setattr(args, key, value)
        args.layers = layers
    try:
        return args.run(args)
    except (FileNotFoundError, ValueError) as exc:
        parser.exit(2, f"nyang {args.command}: error: {exc}\n")
