#!/usr/bin/python3
"""bench/loader.py ROOT BATCHES SEED - a training input pipeline over ROOT:
torchvision ImageFolder + PIL decode + RandomResizedCrop(224) + ToTensor in a
DataLoader (batch 32, 2 workers, shuffled with SEED). Prints one JSON line:
images/s over the batches after the first (worker start-up excluded)."""
import json
import sys
import time

import torch
from PIL import ImageFile
from torchvision import datasets, transforms

ImageFile.LOAD_TRUNCATED_IMAGES = True  # the fixtures hold one truncated JPEG on purpose


def init(_):
    torch.set_num_threads(1)


def main():
    root, batches, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(1)
    tf = transforms.Compose([transforms.RandomResizedCrop(224), transforms.ToTensor()])
    ds = datasets.ImageFolder(root, transform=tf)
    g = torch.Generator()
    g.manual_seed(seed)
    dl = torch.utils.data.DataLoader(ds, batch_size=32, shuffle=True, num_workers=2,
                                     generator=g, worker_init_fn=init, persistent_workers=False)
    n = 0
    t_first = None
    for i, (x, _) in enumerate(dl):
        if i == 0:
            t_first = time.perf_counter()
        else:
            n += x.shape[0]
        if i + 1 >= batches:
            break
    dt = time.perf_counter() - t_first
    print(json.dumps({"images_per_s": n / dt, "images": n, "seconds": dt, "dataset": len(ds)}))


if __name__ == "__main__":
    main()
