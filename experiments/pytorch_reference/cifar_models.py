"""The CIFAR models of Bcbp.Models in PyTorch, one copy for every reference script (train_throughput.py,
ddp_throughput.py, experiments/bench/pytorch_baselines.py): He et al.'s CIFAR ResNets with option-A shortcuts
(Bcbp.Models.ResNet.CifarResNet) and the CIFAR VGG-16 (Bcbp.Models.Vgg, vgg16_cifar)."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class CifarBasicBlock(nn.Module):
    def __init__(self, in_planes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.stride = stride
        self.pad = planes - in_planes

    def shortcut(self, x):
        if self.stride == 1 and self.pad == 0:
            return x
        sub = x if self.stride == 1 else x[:, :, ::self.stride, ::self.stride]
        half = self.pad // 2
        return F.pad(sub, (0, 0, 0, 0, half, half))

    def forward(self, x):
        out = F.relu_(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu_(out.add_(self.shortcut(x)))


class CifarResNet(nn.Module):
    def __init__(self, depth, num_classes=10, in_channels=3):
        super().__init__()
        assert depth >= 8 and (depth - 2) % 6 == 0, "depth must be 6n+2"
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.layer1 = self._stage(16, 16, n, 1)
        self.layer2 = self._stage(16, 32, n, 2)
        self.layer3 = self._stage(32, 64, n, 2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, num_classes)

    @staticmethod
    def _stage(in_planes, planes, blocks, stride):
        return nn.Sequential(*[CifarBasicBlock(in_planes if i == 0 else planes, planes, stride if i == 0 else 1)
                               for i in range(blocks)])

    def forward(self, x):
        x = F.relu_(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class CifarVgg16(nn.Module):
    """Bcbp.Models' vgg16_cifar: VGG-16 (config D) with BatchNorm and ceil-mode pools, AdaptiveAvgPool2d(1) and a
    512 -> 512 -> 512 -> classes head."""

    def __init__(self, classes=10, in_channels=3):
        super().__init__()
        layers, cin = [], in_channels
        for w in (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"):
            if w == "M": layers.append(nn.MaxPool2d(2, 2, ceil_mode=True)); continue
            layers += [nn.Conv2d(cin, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]; cin = w
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Linear(512, 512), nn.ReLU(inplace=True), nn.Dropout(0.5),
                                        nn.Linear(512, 512), nn.ReLU(inplace=True), nn.Dropout(0.5), nn.Linear(512, classes))

    def forward(self, x):
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(self.features(x), 1), 1))
