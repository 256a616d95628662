using static TorchSharp.torch;

namespace Bcbp.Training.Data;

/// <summary>
/// A dataset small enough to live on the device as one uint8 tensor [N, C, H, W] (Fashion-MNIST: 47 MB, CIFAR: 150 MB).
/// Each batch is gathered by index, augmented with tensor ops (<see cref="Augment"/>) and normalized there, so the
/// GPU never waits for the host.
/// </summary>
public sealed class TensorBatchSource : IShardableSource, IDisposable
{
    readonly Tensor _images;
    readonly Tensor _labels;
    readonly double[] _mean, _std;
    readonly int _padding;
    readonly bool _flip;
    readonly long _seed;
    readonly DataShard _shard = DataShard.Whole;
    readonly ShardRemainder _remainder;
    readonly bool _ownsTensors = true;
    readonly (Tensor Scale, Tensor Shift) _normalize;

    /// <param name="images">uint8 [N, C, H, W]; copied to <paramref name="device"/>.</param>
    /// <param name="labels">int64 [N] in [0, <paramref name="numClasses"/>).</param>
    /// <param name="numClasses">Classes of the dataset.</param>
    /// <param name="mean">Per-channel normalization mean.</param>
    /// <param name="std">Per-channel normalization std.</param>
    /// <param name="padding">Random-crop padding in pixels (0: no crop).</param>
    /// <param name="flip">Whether augmentation flips horizontally.</param>
    /// <param name="seed">Seeds the shuffling and augmentation (with the epoch).</param>
    /// <param name="device">Where the images live and batches are made.</param>
    public TensorBatchSource(Tensor images, Tensor labels, int numClasses, double[] mean, double[] std, int padding,
                             bool flip, long seed, Device device)
    {
        if (images.dtype != ScalarType.Byte || images.dim() != 4)
            throw new ArgumentException($"images must be uint8 [N, C, H, W], got {images.dtype} [{string.Join(", ", images.shape)}]");
        if (labels.dim() != 1 || labels.shape[0] != images.shape[0])
            throw new ArgumentException($"labels must be [N] with N = {images.shape[0]}, got [{string.Join(", ", labels.shape)}]");
        // Own handles, outside any dispose scope of the caller: the source lives as long as the run.
        using (var scope = NewDisposeScope())
        {
            _images = images.to(device).alias();
            _labels = labels.to(ScalarType.Int64).to(device).alias();
            scope.Detach(_images, _labels);
        }
        NumClasses = numClasses;
        _mean = mean;
        _std = std;
        _padding = padding;
        _flip = flip;
        _seed = seed;
        _normalize = Augment.NormalizeConstants(mean, std, device);
    }

    /// <summary>A shard's view of <paramref name="whole"/> (same tensors, not copied; the whole source owns them).</summary>
    TensorBatchSource(TensorBatchSource whole, DataShard shard, ShardRemainder remainder)
    {
        _images = whole._images;
        _labels = whole._labels;
        NumClasses = whole.NumClasses;
        _mean = whole._mean;
        _std = whole._std;
        _padding = whole._padding;
        _flip = whole._flip;
        _seed = whole._seed;
        _shard = shard;
        _remainder = remainder;
        _ownsTensors = false;
        _normalize = whole._normalize;
    }

    /// <inheritdoc/>
    public IBatchSource Shard(DataShard shard, ShardRemainder remainder)
    {
        if (_shard.WorldSize != 1) throw new InvalidOperationException("a shard cannot be sharded again.");
        return shard.WorldSize == 1 ? this : new TensorBatchSource(this, shard, remainder);
    }

    public int Count => _shard.WorldSize == 1 ? (int)_images.shape[0] : DistributedSampler.CountOf((int)_images.shape[0], _shard, _remainder);
    public int NumClasses { get; }
    public int Channels => (int)_images.shape[1];
    public (int Height, int Width) ImageSize => ((int)_images.shape[2], (int)_images.shape[3]);
    /// <summary>The stored uint8 images (for inspection and tests).</summary>
    public Tensor Images => _images;
    public Tensor Labels => _labels;

    /// <inheritdoc/>
    public IEnumerable<(Tensor Input, Tensor Target)> Batches(int batchSize, bool shuffle, bool augment, int epoch)
    {
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), "batch size must be >= 1");
        int n = Count;
        long[]? order = shuffle ? DataRng.For(_seed, epoch, 0).Permutation((int)_images.shape[0]) : null;
        // A shard reads every W-th example of the epoch's order (the same permutation on every rank).
        if (_shard.WorldSize > 1)
            order = DistributedSampler.Indices(order ?? Enumerable.Range(0, (int)_images.shape[0]).Select(i => (long)i).ToArray(), _shard, _remainder);
        var augmentRng = DataRng.For(_seed, epoch, _shard.AugmentStream);
        using var orderTensor = order is null ? null : tensor(order, device: _images.device);
        // The epoch's crop offsets and flips are drawn up front (batch by batch, in the order a batch at a time would
        // draw them) and sent to the device once: a small host-to-device copy per batch would make every batch wait
        // for the previous step's kernels, so the host could never run ahead of the GPU.
        using var draws = augment ? EpochDraws(n, batchSize, shuffle, ref augmentRng) : null;
        Tensor? input = null, target = null;
        for (int start = 0; start < n; start += batchSize)
        {
            int size = Math.Min(batchSize, n - start);
            if (Batching.Drops(start, size, batchSize, shuffle)) break;
            input?.Dispose(); target?.Dispose();
            (input, target) = MakeBatch(orderTensor, start, size, draws);
            yield return (input, target);
        }
    }

    /// <summary>Crop offsets (y, x) and flips of every image of an epoch, on the device.</summary>
    sealed class Draws(Tensor? offsetY, Tensor? offsetX, Tensor? flips) : IDisposable
    {
        public Tensor? OffsetY { get; } = offsetY;
        public Tensor? OffsetX { get; } = offsetX;
        public Tensor? Flips { get; } = flips;
        public void Dispose() { OffsetY?.Dispose(); OffsetX?.Dispose(); Flips?.Dispose(); }
    }

    Draws EpochDraws(int n, int batchSize, bool shuffle, ref DataRng rng)
    {
        var oy = new long[n]; var ox = new long[n]; var f = new bool[n];
        for (int start = 0; start < n; start += batchSize)
        {
            int size = Math.Min(batchSize, n - start);
            if (Batching.Drops(start, size, batchSize, shuffle)) break;
            if (_padding > 0)
                for (int i = start; i < start + size; i++) { oy[i] = rng.NextInt(2 * _padding + 1); ox[i] = rng.NextInt(2 * _padding + 1); }
            if (_flip)
                for (int i = start; i < start + size; i++) f[i] = rng.NextDouble() < 0.5;
        }
        var device = _images.device;
        return new Draws(_padding > 0 ? tensor(oy, device: device) : null, _padding > 0 ? tensor(ox, device: device) : null,
                         _flip ? tensor(f, device: device) : null);
    }

    (Tensor, Tensor) MakeBatch(Tensor? order, int start, int size, Draws? draws)
    {
        using var scope = NewDisposeScope();
        Tensor x, y;
        if (order is null) { x = _images.narrow(0, start, size); y = _labels.narrow(0, start, size); }
        else
        {
            var idx = order.narrow(0, start, size);
            x = _images.index_select(0, idx);
            y = _labels.index_select(0, idx);
        }
        if (draws?.OffsetY is { } oy) x = Augment.RandomCrop(x, _padding, oy.narrow(0, start, size), draws.OffsetX!.narrow(0, start, size));
        if (draws?.Flips is { } flips) x = Augment.HorizontalFlip(x, flips.narrow(0, start, size));
        var input = Augment.Normalize(x, _normalize.Scale, _normalize.Shift);
        var target = y.alias();
        scope.MoveToOuter(input, target);    // the caller's scope frees the last batch; earlier ones are freed here
        return (input, target);
    }

    public void Dispose()
    {
        if (!_ownsTensors) return;
        _images.Dispose();
        _labels.Dispose();
        _normalize.Scale.Dispose();
        _normalize.Shift.Dispose();
    }
}
