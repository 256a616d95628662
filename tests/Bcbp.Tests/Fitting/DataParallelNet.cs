using Bcbp.Training.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Tests.Fitting;

/// <summary>A conv and a linear layer whose submodules run through <c>forward</c> (so no module hook fires), and no
/// BatchNorm: with it each rank normalizes by its own half batch, and the ranks' sum is another computation.</summary>
internal sealed class DataParallelNet : nn.Module<Tensor, Tensor>
{
    readonly nn.Module<Tensor, Tensor> conv, fc;

    public DataParallelNet() : base(nameof(DataParallelNet))
    {
        conv = nn.Conv2d(1, 4, 3, padding: 1);
        fc = nn.Linear(4 * 4 * 4, 4);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = nn.functional.avg_pool2d(nn.functional.relu(conv.forward(x)), 2).flatten(1);
        return fc.forward(h).MoveToOuterDisposeScope();
    }

    /// <summary>The 48 labelled 8x8 images (4 classes, pixel level by class) the data-parallel tests train it on.</summary>
    public static TensorBatchSource Data()
    {
        var gen = new Generator(11);
        var labels = randint(4, new long[] { 48 }, generator: gen, dtype: ScalarType.Int64);
        var images = (labels.view(-1, 1, 1, 1).to_type(ScalarType.Float32) * 50 + randint(0, 60, new long[] { 48, 1, 8, 8 }, generator: gen))
            .clamp(0, 255).to_type(ScalarType.Byte);
        return new TensorBatchSource(images, labels, 4, new[] { 0.5 }, new[] { 0.25 }, 0, false, 3, CPU);
    }
}
