using TorchSharp.Modules;

namespace Bcbp.Models.Structure;

/// <summary>A conv and the BatchNorm2d that normalizes its output (conv1/bn1, features.0/features.1, downsample.0/.1).</summary>
public sealed record ConvNorm(string Conv, string Norm, BatchNorm2d Module);
