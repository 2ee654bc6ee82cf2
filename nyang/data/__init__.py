"""The data pipeline: datasets, splits, the DataLoader, transforms and augmentation.

Per-sample data and transforms live on the host as NumPy arrays; the DataLoader
collates samples into batches and hands them out as Tensors on its device.

>>> splits = nyang.data.datasets.digits()                  # seeded stratified 70/15/15
>>> train_loader, valid_loader, test_loader = splits.loaders(batch_size=32)
>>> for x, y in train_loader: ...                          # x (32, 1, 8, 8) float32, y (32,) int64
"""
from nyang.data import datasets, transforms  # noqa: F401
from nyang.data.collate import default_collate  # noqa: F401
from nyang.data.dataloader import DataLoader  # noqa: F401
from nyang.data.dataset import ConcatDataset, Dataset, Subset, TensorDataset, random_split  # noqa: F401
from nyang.data.image_folder import IMG_EXTENSIONS, ImageFolder, UnreadableImageError, load_image  # noqa: F401
from nyang.data.mixing import CutMix, Mixup  # noqa: F401
from nyang.data.sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler  # noqa: F401
from nyang.data.scalers import MinMaxScaler, StandardScaler  # noqa: F401
from nyang.data.seeding import sample_generator, sample_seed  # noqa: F401
from nyang.data.split import Splits, stratified_split  # noqa: F401
