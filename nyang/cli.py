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
# the train options that define a run: `nyang train --resume DIR` takes them from DIR/run.json unless given
RUN_OPTIONS = ("data", "model", "layers", "seed", "image_size", "epochs", "batch_size", "lr", "weight_decay",
               "optimizer", "scheduler", "label_smoothing", "grad_clip", "patience")
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop", "adagrad", "adadelta")
SCHEDULERS = ("none", "step", "cosine", "onecycle", "plateau")


class UsageError(Exception):
    """A mistake in the command line, reported by ``main`` as argparse reports one:
    the command's usage, then one line."""


def _set_device(name):
    """Make ``name`` the default device; a device that cannot run is a usage error."""
    import nyang

    try:
        nyang.set_device(name)
    except (RuntimeError, ValueError) as exc:
        raise UsageError(f"--device {name}: {exc}") from None


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
    """(train, valid, test loaders, classes, input shape) for a dataset name or an image folder.

    Image-folder images are resized to ``image_size``: an int (square), an (H, W)
    pair, or None for 32x32."""
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
        size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size or (32, 32))
        train_tf = transforms.Compose([transforms.ToTensor(), transforms.Resize(size),
                                       transforms.RandomHorizontalFlip(), transforms.Normalize((0.5,), (0.5,))])
        eval_tf = transforms.Compose([transforms.ToTensor(), transforms.Resize(size),
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

    out = _run_folder(args)
    _set_device(args.device)
    nyang.manual_seed(args.seed)
    train, valid, test, classes, input_shape = load_data(args.data, args.batch_size, args.workers, args.seed,
                                                         args.device, args.image_size)
    model = build_model(args.model, args.layers, input_shape, len(classes)).to(args.device)
    optimizer = build_optimizer(args.optimizer, model.parameters(), args.lr, args.weight_decay)
    scheduler, interval = build_scheduler(args.scheduler, optimizer, args.lr, args.epochs, len(train))
    options = {k: v for k, v in vars(args).items() if k != "run"}  # the command line, for run.json
    if args.resume:
        print(f"resuming the run in {out}", flush=True)
    history = fit(model, optimizer, nn.CrossEntropyLoss(label_smoothing=args.label_smoothing), train, valid,
                  epochs=args.epochs, scheduler=scheduler, scheduler_interval=interval, grad_clip=args.grad_clip,
                  metrics=("accuracy", "f1"), patience=args.patience, out_dir=out, resume=args.resume,
                  progress=not args.no_progress, classes=classes, config=options)
    if history.interrupted:
        return 130
    best_path = os.path.join(out, "best.npz")
    if os.path.exists(best_path):
        model.load_state_dict(nyang.load(best_path)["model"])
    else:
        print(f"no epoch improved {history.monitor}, so there is no best.npz; keeping the last weights")
    metadata = {"classes": classes, "input_shape": list(input_shape)}
    if args.data not in DATASETS:  # image folders are normalised as load_data does; nyang predict repeats it
        metadata["normalize"] = {"mean": [0.5], "std": [0.5]}
    nyang.save_model(model, os.path.join(out, "model.npz"), metadata=metadata)
    _print_scores(model, test, classes, "test", os.path.join(out, "confusion_matrix.png"))
    best = "" if history.best_epoch is None else f"best epoch {history.best_epoch} ({history.monitor} " \
                                                 f"{history.best_value:.4f}); "
    print(f"\n{best}run files in {out}/: "
          f"best.npz, last.npz, model.npz, history.csv, history.jsonl, curves.png, run.json, confusion_matrix.png")
    return 0


def _run_folder(args):
    """The run's folder: ``--out``, else the resumed run's folder, else runs/DATA-MODEL.
    A resumed run continues in its own folder, so ``--out`` naming another one is refused."""
    default = os.path.join("runs", f"{os.path.basename(os.path.normpath(args.data))}-{args.model}")
    if not args.resume:
        return args.out or default
    folder = _resume_folder(args.resume)
    state = os.path.join(folder, "last.npz") if os.path.isdir(args.resume) else args.resume
    if not os.path.exists(state):
        raise UsageError(f"--resume {args.resume}: {state} does not exist; expected the folder of a run "
                         f"started by nyang train (or fit(out_dir=...)), which holds last.npz")
    if args.out and os.path.realpath(args.out) != os.path.realpath(folder):
        raise UsageError(f"--out {args.out} and --resume {args.resume} name different folders; a resumed run "
                         f"continues in its own folder ({folder}): drop --out or give --out {folder}")
    return folder


def _resume_folder(resume):
    """The run folder of ``--resume``: the folder itself, or the one holding the given file."""
    return resume if os.path.isdir(resume) else os.path.dirname(resume) or "."


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
    """(model, metadata) from a model file (model.npz, or best.npz written by fit or
    ``nyang train``), or from weights (best.npz, last.npz) next to a model.npz."""
    import nyang
    from nyang.checkpoint import NoArchitectureError

    if not os.path.exists(path):
        raise FileNotFoundError(f"--checkpoint: {path} does not exist")
    beside = os.path.join(os.path.dirname(path), "model.npz")
    has_beside = os.path.exists(beside) and os.path.realpath(beside) != os.path.realpath(path)
    try:
        model, metadata = nyang.load_model(path, with_metadata=True)
    except NoArchitectureError:
        pass
    else:
        if has_beside:  # what `nyang train` knows beyond fit (e.g. the normalisation) is in model.npz
            metadata = {**nyang.load_model(beside, with_metadata=True)[1], **metadata}
        return model, metadata
    weights = nyang.load(path)
    if not isinstance(weights, dict):
        raise UsageError(f"--checkpoint: {path} holds a {type(weights).__name__}, not a model or its weights")
    if has_beside:
        model, metadata = nyang.load_model(beside, with_metadata=True)
        try:
            model.load_state_dict(weights.get("model", weights))  # best.npz / last.npz, or a bare state dict
        except RuntimeError as exc:
            raise UsageError(f"--checkpoint: the weights in {path} do not fit the model in {beside} ({exc})") from None
        return model, metadata
    reason = weights.get("architecture_error")
    raise UsageError(f"--checkpoint: {path} holds weights but no model architecture"
                     f"{f' ({reason})' if reason else ''}, and there is no model.npz beside it; "
                     f"`nyang train` writes model.npz, and nyang.save_model(model, path) writes such a file "
                     f"from Python")


def _image_size(args, metadata):
    """The (H, W) the model was trained on (from its metadata), checked against --image-size."""
    shape = metadata.get("input_shape")
    if not shape or len(shape) != 3:
        return args.image_size
    size = (int(shape[1]), int(shape[2]))
    if args.image_size is not None and (args.image_size, args.image_size) != size:
        raise UsageError(f"--image-size {args.image_size}: the model in {args.checkpoint} takes "
                         f"{size[0]}x{size[1]} images; drop --image-size or give --image-size {size[0]}")
    return size


def _eval(args):
    _set_device(args.device)
    model, metadata = _load_model_file(args.checkpoint)
    model.to(args.device)
    image_size = _image_size(args, metadata) if os.path.isdir(args.data) else args.image_size
    _, valid, test, classes, _ = load_data(args.data, 256, 0, args.seed, args.device, image_size)
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
    if shape is not None and len(shape) != 3:
        raise UsageError(f"--checkpoint: the model in {args.checkpoint} takes inputs of shape {tuple(shape)}, "
                         f"not images (C, H, W)")
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
        if metadata.get("normalize"):
            x = transforms.Normalize(metadata["normalize"]["mean"], metadata["normalize"]["std"])(x)
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
    """(options, model layers or None) from a TOML file; option names may use - or _."""
    import tomllib

    if not os.path.exists(path):
        raise UsageError(f"--config: {path} does not exist")
    try:
        with open(path, "rb") as f:
            config = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"--config: {path} is not valid TOML ({exc})") from None
    layers = config.pop("model", {}).get("layers") if isinstance(config.get("model"), dict) else None
    return {k.replace("-", "_"): v for k, v in config.items()}, layers


def _resumed_options(folder):
    """The options of the run in ``folder`` (from its run.json), or {} when it has none."""
    import json

    try:
        with open(os.path.join(folder, "run.json")) as f:
            config = json.load(f).get("config") or {}
    except (OSError, ValueError, AttributeError):
        return {}
    return {k: v for k, v in config.items() if k in RUN_OPTIONS} if isinstance(config, dict) else {}


def _apply_options(command_parser, args, options, given, source):
    """Set each of ``options`` not given on the command line, converted and checked
    as the command line's own value would be."""
    actions = {a.dest: a for a in command_parser._actions}
    for key, value in options.items():
        action = actions.get(key)
        if action is None and key != "layers":
            raise UsageError(f"{source}: unknown option {key!r}; expected one of "
                             f"{sorted(k for k in actions if k != 'help')}")
        if key in given:
            continue
        if action is not None and value is not None and action.type is not None:
            try:
                value = action.type(value)
            except (TypeError, ValueError):
                raise UsageError(f"{source}: {key} = {value!r}; expected {action.type.__name__}") from None
        if action is not None and action.choices is not None and value not in action.choices:
            raise UsageError(f"{source}: {key} = {value!r}; expected one of {list(action.choices)}")
        setattr(args, key, value)


def recipe_options(p, model_help=None, patience_help="early-stopping patience in epochs"):
    """The training recipe's options (model, config, epochs, batch size, optimizer,
    scheduler, ...), shared by ``nyang train`` and ``nyang compare``."""
    p.add_argument("--model", default="cnn", choices=["mlp", "cnn", "lenet", "vgg-small"], help=model_help)
    p.add_argument("--config", help="a TOML file with these options and an optional [model] layers list")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--optimizer", default="adam", choices=OPTIMIZERS)
    p.add_argument("--scheduler", default="none", choices=SCHEDULERS)
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument("--grad-clip", type=float, default=None, help="max gradient norm")
    p.add_argument("--patience", type=int, default=None, help=patience_help)
    p.add_argument("--workers", type=int, default=0, help="DataLoader workers")


def build_parser():
    from nyang import __version__

    parser = argparse.ArgumentParser(prog="nyang", description="nyang: deep learning for classification, "
                                     "on NumPy or CuPy.")
    parser.add_argument("--version", action="version", version=f"nyang {__version__}")
    sub = parser.add_subparsers(dest="command")
    parser.commands = sub.choices  # name -> the command's parser, for its usage in errors

    info = sub.add_parser("info", help="print versions and the devices nyang can use")
    info.set_defaults(run=_info)

    def data_options(p):
        p.add_argument("--data", default="digits", help=f"one of {', '.join(DATASETS)} or an image folder")
        p.add_argument("--seed", type=int, default=0, help="seed of the split, init and shuffling")
        p.add_argument("--device", default=os.environ.get("NYANG_DEVICE", "cpu"), help="cpu, cuda or cuda:N")
        p.add_argument("--image-size", type=int, default=None, help="resize image-folder images to this size")

    train = sub.add_parser("train", help="train a classifier")
    data_options(train)
    recipe_options(train)
    train.add_argument("--out", help="run folder (default runs/DATA-MODEL)")
    train.add_argument("--resume", help="continue the run saved in this folder")
    train.add_argument("--no-progress", action="store_true", help="no progress bars")
    train.set_defaults(run=_train, layers=None)

    ev = sub.add_parser("eval", help="score a saved model on a dataset split")
    data_options(ev)
    ev.add_argument("--checkpoint", required=True, help="model.npz or best.npz (or last.npz next to a model.npz)")
    ev.add_argument("--split", default="test", choices=["valid", "test"])
    ev.add_argument("--out", help="where to write the confusion matrix (default: the checkpoint's folder)")
    ev.set_defaults(run=_eval)

    pr = sub.add_parser("predict", help="classify image files")
    pr.add_argument("--checkpoint", required=True, help="model.npz or best.npz (or last.npz next to a model.npz)")
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
    """Run the ``nyang`` command with ``argv`` (default: ``sys.argv[1:]``); returns the exit status.

    Mistakes in the arguments and the errors nyang reports about them (a missing
    file, a malformed config, an unreadable image, a NaN loss, a device that cannot
    run) print the command's usage and one line, and exit with status 2."""
    from nyang.checkpoint import CheckpointError
    from nyang.data.image_folder import UnreadableImageError
    from nyang.training import NonFiniteLossError

    parser = build_parser()
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 0
    command_parser = parser.commands[args.command]
    try:
        given = {a.split("=")[0].lstrip("-").replace("-", "_") for a in argv if a.startswith("--")}
        if getattr(args, "resume", None):
            options = _resumed_options(_resume_folder(args.resume))
            _apply_options(command_parser, args, options, given, f"--resume {args.resume} (its run.json)")
        if getattr(args, "config", None):
            config, layers = _load_config(args.config)
            _apply_options(command_parser, args, config, given, f"--config {args.config}")
            if layers is not None:
                args.layers = layers
        return args.run(args)
    except NonFiniteLossError as exc:
        has_flag = any(action.dest == "grad_clip" for action in command_parser._actions)
        command_parser.error(f"{exc.where}; try a smaller --lr or gradient clipping "
                             f"({'--grad-clip 1.0' if has_flag else 'grad_clip=1.0'})")
    except (UsageError, FileNotFoundError, PermissionError, UnreadableImageError, CheckpointError, ValueError,
            MemoryError) as exc:
        command_parser.error(str(exc))
    except BrokenPipeError:  # the output went to a pipe that closed early (`nyang eval ... | head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so exiting does not flush into it
        return 141
