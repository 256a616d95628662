using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Bcbp.Models.ResNet;

/// <summary>The bias-free convolutions torchvision's ResNets are built from (<c>conv3x3</c>, <c>conv1x1</c>).</summary>
public static class ResNetConvs
{
    /// <summary>3x3 convolution with padding 1 and no bias.</summary>
    public static Conv2d Conv3x3(long inPlanes, long outPlanes, long stride)
        => nn.Conv2d(inPlanes, outPlanes, kernel_size: 3, stride: stride, padding: 1, bias: false);

    /// <summary>1x1 convolution with no bias.</summary>
    public static Conv2d Conv1x1(long inPlanes, long outPlanes, long stride)
        => nn.Conv2d(inPlanes, outPlanes, kernel_size: 1, stride: stride, bias: false);
}
