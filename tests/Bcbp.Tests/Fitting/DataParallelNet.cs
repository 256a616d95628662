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
}
