using TorchSharp;
using static TorchSharp.torch;
using Bcbp.Training.Data;

namespace Bcbp.Tests.Fitting;

/// <summary>A conv + batch-norm + linear classifier small enough to train in milliseconds.</summary>
sealed class TinyNet : nn.Module<Tensor, Tensor>
{
    readonly nn.Module<Tensor, Tensor> conv1, bn1, fc;

    public TinyNet(int inChannels = 1, int numClasses = 4) : base(nameof(TinyNet))
    {
        conv1 = nn.Conv2d(inChannels, 4, 3, padding: 1, bias: false);
        bn1 = nn.BatchNorm2d(4);
        fc = nn.Linear(4 * 4 * 4, numClasses);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = nn.functional.relu(bn1.forward(conv1.forward(x)));
        h = nn.functional.avg_pool2d(h, 2).flatten(1);
        return fc.forward(h).MoveToOuterDisposeScope();
    }
}

/// <summary>A learnable in-memory dataset: the class decides the sign pattern of the image. Order is a function of
/// (seed, epoch), as the IBatchSource contract asks.</summary>
sealed class InMemorySource : IBatchSource
{
    readonly Tensor _x, _y;
    readonly int _seed;

    public InMemorySource(int count, int seed, int numClasses = 4)
    {
        var gen = new Generator((ulong)seed);
        _y = randint(numClasses, new long[] { count }, generator: gen, dtype: ScalarType.Int64);
        var pattern = randn(new long[] { numClasses, 1, 8, 8 }, generator: gen);
        _x = pattern.index_select(0, _y) + 0.5f * randn(new long[] { count, 1, 8, 8 }, generator: gen);
        _seed = seed;
        Count = count;
        NumClasses = numClasses;
    }

    public int Count { get; }
    public int NumClasses { get; }
    public int Channels => 1;
    public (int Height, int Width) ImageSize => (8, 8);

    public IEnumerable<(Tensor Input, Tensor Target)> Batches(int batchSize, bool shuffle, bool augment, int epoch)
    {
        var order = shuffle ? randperm(Count, generator: new Generator((ulong)(_seed * 1000 + epoch))) : arange(Count);
        for (int i = 0; i < Count; i += batchSize)
        {
            var idx = order.narrow(0, i, Math.Min(batchSize, Count - i));
            yield return (_x.index_select(0, idx), _y.index_select(0, idx));
        }
    }
}
