"""Pretrains torchvision's ResNet-18 (3 channels, ImageNet layout) briefly on another task, for the transfer demo.

The task, on Fashion-MNIST training images 30000.. (bcbp's fine-tuning runs use the first images only), shown as RGB
(the gray image in 3 channels with a random per-channel gain, so the filters see colour):
  --task coarse:   4 coarse classes (tops, bottoms and dresses, footwear, bags);
  --task rotation: which of 0/90/180/270 degrees the image was rotated by (a self-supervised pretext task).
Saved with torch.save(model.state_dict()) as a torchvision checkpoint (4-class fc).

usage: /usr/bin/python3 experiments/transfer/pretrain_resnet18.py OUT.pth [--task coarse|rotation] [--images 12000] [--epochs 1]
"""
import argparse, gzip, time
import numpy as np
import torch, torchvision

p = argparse.ArgumentParser()
p.add_argument("out")
p.add_argument("--root", default="/usr/share/datasets/fashion-mnist")
p.add_argument("--images", type=int, default=12000)
p.add_argument("--epochs", type=int, default=1)
p.add_argument("--task", choices=["coarse", "rotation"], default="coarse")
args = p.parse_args()
torch.manual_seed(0)
torch.set_num_threads(2)

def idx(name, offset):
    with gzip.open(f"{args.root}/{name}.gz") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)

images = idx("train-images-idx3-ubyte", 16).reshape(-1, 1, 28, 28)[30000:30000 + args.images]
labels = idx("train-labels-idx1-ubyte", 8)[30000:30000 + args.images]
# T-shirt, trouser, pullover, dress, coat, sandal, shirt, sneaker, bag, ankle boot -> top 0, bottom/dress 1, footwear 2, bag 3
target = torch.tensor(np.array([0, 1, 0, 1, 0, 2, 0, 2, 3, 2])[labels])
x = (torch.tensor(images, dtype=torch.float32) / 255 - 0.2860) / 0.3530
if args.task == "rotation":
    target = torch.arange(len(x)) % 4
    x = torch.stack([torch.rot90(img, int(k), dims=(1, 2)) for img, k in zip(x, target)])
model = torchvision.models.resnet18(num_classes=4)
opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
start = time.time()
for epoch in range(args.epochs):
    model.train()
    perm = torch.randperm(len(x))
    for i in range(0, len(x), 128):
        b = perm[i:i + 128]
        gain = 0.6 + 0.8 * torch.rand(len(b), 3, 1, 1)
        loss = torch.nn.functional.cross_entropy(model(x[b].repeat(1, 3, 1, 1) * gain), target[b])
        opt.zero_grad(); loss.backward(); opt.step()
    model.eval()
    with torch.no_grad():
        acc = (model(x[:2000].repeat(1, 3, 1, 1)).argmax(1) == target[:2000]).float().mean().item()
    print(f"epoch {epoch + 1}: loss {loss.item():.3f}, {args.task}-task train accuracy {100 * acc:.1f}% ({time.time() - start:.0f} s)")
torch.save(model.state_dict(), args.out)
print(f"saved {args.out}: torchvision resnet18, 3 input channels, fc {tuple(model.fc.weight.shape)}")
