using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Models;

/// <summary>Creates a model by architecture name (torchvision's names, plus CIFAR ResNets and VGG).</summary>
public static class ModelFactory
{
    public static nn.Module<Tensor, Tensor> Create(string arch, int numClasses = 1000, int inChannels = 3)
        => throw new NotImplementedException("models land with the models work");
}
